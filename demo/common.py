"""Helpers shared by the demo builders: the seeded random source and history timestamps."""

from __future__ import annotations

import base64
import datetime as dt
import random
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from django.apps import apps

T = TypeVar("T")


class DemoRandom(random.Random):
    """The one random source of a seeding run; every id, token and choice comes from it."""

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.getrandbits(128), version=4)

    def token(self, nbytes: int = 32) -> str:
        """A URL-safe token like ``secrets.token_urlsafe``, but reproducible."""
        raw = self.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def code(self, length: int, alphabet: str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789") -> str:
        return "".join(self.choice(alphabet) for _ in range(length))

    def digits(self, length: int) -> str:
        return "".join(self.choice("0123456789") for _ in range(length))

    def chance(self, p: float) -> bool:
        return self.random() < p

    def hours(self, low: float, high: float) -> dt.timedelta:
        """A duration between ``low`` and ``high`` hours, to the minute."""
        return dt.timedelta(minutes=round(self.uniform(low, high) * 60))

    def minutes(self, low: int, high: int) -> dt.timedelta:
        return dt.timedelta(minutes=self.randint(low, high))

    def weighted(self, weights: dict[T, float]) -> T:
        keys = list(weights)
        return self.choices(keys, weights=[weights[k] for k in keys])[0]

    def spread(self, weights: dict[T, float], n: int) -> list[T]:
        """``n`` labels drawn by weight, each label at least once when ``n`` allows it.

        Small demo sizes still show every state; larger ones follow the weights.
        """
        keys = list(weights)
        chosen = keys[:n]
        rest = n - len(chosen)
        if rest > 0:
            chosen += self.choices(keys, weights=[weights[k] for k in keys], k=rest)
        self.shuffle(chosen)
        return chosen

    def sample_upto(self, items: Sequence[T], k: int) -> list[T]:
        return self.sample(list(items), min(k, len(items)))


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


# Models whose timestamps the demo writes itself (auto_now / auto_now_add would stamp "now").
_STAMPED_FIELDS = ("created_at", "updated_at", "received_at")
_DEMO_APPS = {"customers", "shipments", "tickets", "compensation", "notifications"}


@contextmanager
def history_timestamps() -> Iterator[None]:
    """Let the seeder write ``created_at``/``updated_at``/``received_at`` as given.

    Demo tickets must look weeks old, and bulk_create would otherwise overwrite every
    auto_now/auto_now_add field with the current time. The flags are restored on exit; the
    command runs in its own process and tests run one at a time, so nothing else sees them.
    """
    patched: list[tuple[object, bool, bool]] = []
    for model in apps.get_models():
        if model._meta.app_label not in _DEMO_APPS:
            continue
        for field in model._meta.concrete_fields:
            if field.name in _STAMPED_FIELDS and (
                getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            ):
                patched.append((field, field.auto_now, field.auto_now_add))
                field.auto_now = False
                field.auto_now_add = False
    try:
        yield
    finally:
        for field, auto_now, auto_now_add in patched:
            field.auto_now = auto_now
            field.auto_now_add = auto_now_add


def stamps(created: dt.datetime, updated: dt.datetime | None = None) -> dict[str, dt.datetime]:
    return {"created_at": created, "updated_at": updated or created}


def offer_incident(ticket):
    """The incident a demo offer counts against (compensation.budgets.incident_of, on objects
    that are not saved yet): the ticket's, else its shipment's."""
    if ticket.incident is not None:
        return ticket.incident
    return ticket.shipment.incident if ticket.shipment is not None else None
