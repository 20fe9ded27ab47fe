"""A day in a query string (`start`, `end`: YYYY-MM-DD), read one way by the API and the pages."""

from __future__ import annotations

import re
from datetime import date

from wallboard.errors import bad_request

FIRST_YEAR, LAST_YEAR = 1970, 9998
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # the shape of a day, YYYY-MM-DD


def parse_date(value: str | None, name: str) -> date | None:
    """The day, None when not given; a 400 `invalid_date` saying what is wrong."""
    if value is None or value == "":
        return None
    if not DATE.fullmatch(value):
        raise bad_request("invalid_date", f"{name} must be a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise bad_request("invalid_date", f"{name} is not a valid date: {value[:20]}") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise bad_request("invalid_date", f"{name} must be between {FIRST_YEAR} and {LAST_YEAR}")
    return day
