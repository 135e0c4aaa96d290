"""The demo data set behind ``manage.py seed_demo``: realistic, bilingual and deterministic."""

from core.demo.builder import (
    DEFAULT_SHIPMENTS,
    MIN_SHIPMENTS,
    SeedResult,
    delete_demo_data,
    demo_data_exists,
    seed_demo_data,
)
from core.demo.reference import DEMO_PASSWORD, DEMO_USERNAMES

__all__ = [
    "DEFAULT_SHIPMENTS",
    "DEMO_PASSWORD",
    "DEMO_USERNAMES",
    "MIN_SHIPMENTS",
    "SeedResult",
    "delete_demo_data",
    "demo_data_exists",
    "seed_demo_data",
]
