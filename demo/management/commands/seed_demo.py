"""``manage.py seed_demo``: fill the database with realistic, deterministic demo data."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from tqdm import tqdm

from demo.builder import (
    DEFAULT_SHIPMENTS,
    MIN_SHIPMENTS,
    delete_demo_data,
    demo_data_exists,
    seed_demo_data,
)
from demo.reference import DEMO_PASSWORD, DEMO_USERNAMES
from demo.showcase import Showcase, mint_showcase
from shipments.models import DelayLevel, Shipment
from supervisor import rollup

ALREADY_SEEDED = (
    "Demo data already exists in this database. Run `manage.py seed_demo --reset` to delete "
    "it and seed again, or `--if-empty` to leave it as it is."
)
ALREADY_SEEDED_NOTICE = "Demo data already present; nothing to do (use --reset to rebuild it)."


class _ProgressStream:
    """tqdm redraws one line with carriage returns; OutputWrapper would add a newline to each."""

    def __init__(self, wrapper):
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, style_func=lambda message: message, ending="")

    def flush(self) -> None:
        self.wrapper.flush()

    def isatty(self) -> bool:
        return self.wrapper.isatty()


class Command(BaseCommand):
    help = (
        "Seed demo data: logins, teams, carriers, lanes, customers, shipments with tracking "
        "events and delays, incidents, tickets, compensation, surveys and notifications. "
        "The same --seed gives the same data. Prints progress links to a few customers' "
        "pages (their tokens are new on each run)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--shipments",
            type=int,
            default=DEFAULT_SHIPMENTS,
            help=f"Number of shipments (default {DEFAULT_SHIPMENTS}, at least {MIN_SHIPMENTS}).",
        )
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument(
            "--reset", action="store_true", help="Delete previous demo data first."
        )
        existing.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when demo data is already there (for `make run`).",
        )

    def handle(
        self,
        *args,
        seed: int,
        shipments: int,
        reset: bool,
        if_empty: bool,
        verbosity: int,
        **options,
    ) -> None:
        if shipments < MIN_SHIPMENTS:
            raise CommandError(f"--shipments must be at least {MIN_SHIPMENTS}.")
        started = time.monotonic()
        stream = _ProgressStream(self.stderr)

        def progress(iterable=None, **kwargs):
            return tqdm(
                iterable,
                file=stream,
                disable=verbosity == 0,
                leave=False,
                dynamic_ncols=True,
                **kwargs,
            )

        with transaction.atomic():
            if demo_data_exists():
                if if_empty:
                    self.stdout.write(ALREADY_SEEDED_NOTICE)
                    if verbosity:
                        # Links are shown once (only their hashes are kept): fresh ones on
                        # every start, so `make run` always prints pages to open.
                        self._print_showcase(mint_showcase(now=timezone.now()))
                    return
                if not reset:
                    raise CommandError(ALREADY_SEEDED)
                deleted = delete_demo_data()
                if verbosity:
                    total = sum(deleted.values())
                    self.stdout.write(f"Deleted {total} rows of previous demo data.")
            result = seed_demo_data(seed=seed, shipments=shipments, progress=progress)
            # The dashboard's rolled-up figures at once, not after beat's first refresh.
            rollup.rollup_refresh(now=timezone.now(), full=True)
            if verbosity == 0:
                return  # links nobody reads are not made
            showcase = mint_showcase(now=timezone.now())

        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded demo data (seed {result.seed}, anchored at "
                f"{result.now:%Y-%m-%d %H:%M} UTC) in {elapsed:.1f} s:"
            )
        )
        width = max(len(label) for label in result.counts)
        for label, count in result.counts.items():
            self.stdout.write(f"  {label:<{width}}  {count:>6}")
        levels = ", ".join(f"{level} {count}" for level, count in result.delay_levels.items())
        self.stdout.write(f"  active delayed shipments by level: {levels}")
        self.stdout.write(f"  compensation waiting for approval: {result.pending_approvals}")
        self._print_forecasts()
        self.stdout.write(f"Demo logins: {', '.join(DEMO_USERNAMES)} (password: {DEMO_PASSWORD})")
        self._print_showcase(showcase)

    def _print_forecasts(self) -> None:
        """A few parcels the late-delivery model warns about ("will be late": no ticket, so
        the agent's way in is the console's shipment page, with the forecast's reasons)."""
        warned = (
            Shipment.objects.active()
            .filter(delay_level=DelayLevel.WILL_BE_LATE)
            .order_by("promised_at", "pk")
            .values_list("order_number", "public_id")[:3]
        )
        for order_number, public_id in warned:
            url = reverse("shipments:shipment_detail", args=[public_id])
            self.stdout.write(f"  warned early (will be late): order {order_number}  {url}")

    def _print_showcase(self, showcase: Showcase) -> None:
        """The customer's side: progress links (shown once: only their hashes are stored) and
        what the lookup form takes."""
        if showcase.links:
            self.stdout.write("Customer progress pages (open in a private window):")
            width = max(len(link.order_number) for link in showcase.links)
            for link in showcase.links:
                self.stdout.write(
                    f"  order {link.order_number:<{width}}  {link.language:<7}  {link.url}"
                    f"  ({link.what})"
                )
        if showcase.lookup is not None:
            lookup = showcase.lookup
            self.stdout.write(
                f"Or find a case with the form at {lookup.url}: order {lookup.order_number}, "
                f"email {lookup.email}"
            )
