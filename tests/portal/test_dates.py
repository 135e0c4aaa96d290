"""The page writes each row's moment through portal.selectors.Stamped (cached day and clock
pieces, for speed): the same text as Django's date filters, in every language and zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.template.defaultfilters import date as date_filter
from django.utils import timezone, translation
from django.utils.timezone import template_localtime

from portal.selectors import Scan

MOMENTS = [
    dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=dt.UTC),  # Europe's spring change
    dt.datetime(2026, 3, 29, 1, 0, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 10, 25, 0, 30, 0, tzinfo=dt.UTC),  # and its autumn change
    dt.datetime(2026, 11, 1, 6, 30, 0, tzinfo=dt.UTC),  # New York's
    dt.datetime(2026, 12, 31, 23, 59, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 1, 1, 12, 0, 0, tzinfo=dt.UTC),
]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Shanghai", "America/New_York"])
def test_a_rows_moment_reads_as_the_date_filters_would_write_it(language, zone):
    with translation.override(language), timezone.override(zoneinfo.ZoneInfo(zone)):
        for moment in MOMENTS:
            row = Scan(at=moment, status="", location="", description="")
            local = template_localtime(moment)
            assert row.at_text == date_filter(local, "SHORT_DATETIME_FORMAT")
            assert row.at_iso == date_filter(local, "c")
