"""`manage.py dispatch_notifications [--limit N] [--batch-size N]`: one outbox dispatcher pass."""

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from tqdm import tqdm

from notifications.dispatch import dispatch_pass
from notifications.models import Notification, NotificationStatus


class Command(BaseCommand):
    help = (
        "Send every due notice in the outbox once: noise control, rendering, channel backends, "
        "retries with backoff, fallback channels. Prints what was sent, suppressed (with the "
        "reasons), deferred, retried and failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="Stop after N notices.")
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Rows claimed at a time (default 200)."
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, limit=None, batch_size=None, no_progress=False, **options) -> None:
        if limit is not None and limit < 1:
            from django.core.management.base import CommandError

            raise CommandError("--limit must be at least 1.")
        # Only what this pass can claim: a row waiting for its retry or for quiet hours to end
        # is not due yet (the count reads the outbox's due index).
        due = Notification.objects.filter(
            status=NotificationStatus.PENDING, next_attempt_at__lte=timezone.now()
        ).count()
        total = min(due, limit) if limit else due
        bar = tqdm(
            total=total,
            unit="notice",
            disable=no_progress or total == 0,
            file=self.stderr._out,
        )
        with bar:
            result = dispatch_pass(limit=limit, batch_size=batch_size, progress=bar.update)
        self.stdout.write(
            f"Outbox pass: {result.claimed} claimed, {result.sent} sent, "
            f"{result.suppressed} suppressed, {result.deferred} deferred (quiet hours), "
            f"{result.retried} to retry, {result.failed} failed, {result.fallbacks} fallbacks, "
            f"{result.recovered} recovered from stopped workers."
        )
        for reason, count in sorted(result.reasons.items(), key=lambda item: -item[1]):
            self.stdout.write(f"  suppressed: {reason}: {count}")
