"""Reports e-mailed on a schedule: the `schedules` table and the time rules (the days a period
covers, when a schedule falls due), shared by `wallboard schedules` and the mailer.

A `yesterday` schedule is due every day at `at` (local wall time), `last_week` every Monday,
`last_month` on the 1st. `last_due` is the due time a sender last claimed: one claim per due
time, so a report goes out once even across restarts and with several processes.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from wallboard.errors import WallboardError
from wallboard.history.database import Transaction
from wallboard.history.reports import REPORTS
from wallboard.history.reports.export import FORMATS as EXPORT_FORMATS
from wallboard.history.store import Store

PERIODS = ("yesterday", "last_week", "last_month")
FORMATS = tuple(EXPORT_FORMATS)  # csv, xlsx
DEFAULT_FORMAT = "xlsx"
DEFAULT_AT = "07:00"
NAME_MAX = 64
_AT = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_COLUMNS = ("name, report, period, recipients, format, at, user_name, created, last_due,"
            " last_sent, last_error")  # fmt: skip


class ScheduleError(WallboardError):
    """A schedule cannot be added as asked (the message says why)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_schedule", message)


@dataclass(frozen=True)
class Schedule:
    """One row of the table: which report, for whom, to whom, when; and how it last went."""

    name: str
    report: str
    period: str
    recipients: tuple[str, ...]
    format: str
    at: str
    user_name: str
    created: int
    last_due: int | None = None
    last_sent: int | None = None
    last_error: str | None = None


# -- checks -----------------------------------------------------------------------------------


def report_names() -> tuple[str, ...]:
    """What a schedule may send: every report of the catalogue, and `search` (every call)."""
    return (*REPORTS, "search")


def check_name(name: str) -> str:
    if not 1 <= len(name) <= NAME_MAX or any(unicodedata.category(c) in ("Cc", "Zl", "Zp")
                                             for c in name):  # fmt: skip
        raise ScheduleError(f"a schedule name must be 1 to {NAME_MAX} characters, no control"
                            " characters")  # fmt: skip
    return name


def check_report(report: str) -> str:
    if report not in report_names():
        raise ScheduleError(f"unknown report {report[:80]!r} (reports: {', '.join(report_names())})")
    return report


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ScheduleError(f"unknown period {period[:80]!r} (periods: {', '.join(PERIODS)})")
    return period


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ScheduleError(f"unknown format {fmt[:80]!r} (formats: {', '.join(FORMATS)})")
    return fmt


def parse_at(at: str) -> tuple[int, int]:
    """(hour, minute) of "HH:MM" (00:00 to 23:59), or ScheduleError."""
    match = _AT.fullmatch(at.strip())
    if match is None:
        raise ScheduleError(f"the time {at[:80]!r} is not HH:MM (00:00 to 23:59)")
    return int(match.group(1)), int(match.group(2))


def parse_recipients(value: str) -> tuple[str, ...]:
    """The addresses of "a@b.example,c@d.example" (at least one), or ScheduleError."""
    addresses = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if not addresses:
        raise ScheduleError("give at least one address to send to")
    for address in addresses:
        if len(address) > 254 or not _ADDRESS.fullmatch(address):
            raise ScheduleError(f"{address[:80]!r} is not an e-mail address (name@example.com)")
    return addresses


# -- the table ----------------------------------------------------------------------------------


def add(
    store: Store,
    name: str,
    report: str,
    period: str,
    recipients: str,
    fmt: str = DEFAULT_FORMAT,
    at: str = DEFAULT_AT,
    user: str | None = None,
    now: float | None = None,
) -> Schedule:
    """Add a schedule (ScheduleError on a bad value, an unknown user or a name in use). Without
    `user`, the first admin's restrictions apply (none)."""
    hour, minute = parse_at(at)
    schedule = Schedule(
        check_name(name), check_report(report), check_period(period),
        parse_recipients(recipients), check_format(fmt), f"{hour:02d}:{minute:02d}",
        _user_name(store, user), int(time.time() if now is None else now),
    )  # fmt: skip

    def insert(tx: Transaction) -> int:
        return tx.execute(
            "INSERT INTO schedules (name, report, period, recipients, format, at, user_name,"
            " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (schedule.name, schedule.report, schedule.period, ",".join(schedule.recipients),
             schedule.format, schedule.at, schedule.user_name, schedule.created),
        )  # fmt: skip

    if not store.write(insert):
        raise ScheduleError(f"schedule {name!r} already exists (remove it first)")
    return schedule


def _user_name(store: Store, user: str | None) -> str:
    if user is None:
        row = store.query_one("SELECT name FROM users WHERE admin <> 0 ORDER BY id LIMIT 1")
        if row is None:
            raise ScheduleError("no admin user to send as: give --user (wallboard users add)")
        return str(row[0])
    if store.query_one("SELECT 1 FROM users WHERE name = ?", (user,)) is None:
        raise ScheduleError(f"no user {user[:80]!r} (wallboard users list)")
    return user


def list_schedules(store: Store) -> list[Schedule]:
    """Every schedule, by name."""
    rows = store.query(f"SELECT {_COLUMNS} FROM schedules ORDER BY name")
    return [_schedule(row) for row in rows]


def get(store: Store, name: str) -> Schedule | None:
    row = store.query_one(f"SELECT {_COLUMNS} FROM schedules WHERE name = ?", (name,))
    return _schedule(row) if row else None


def count(store: Store) -> int:
    row = store.query_one("SELECT count(*) FROM schedules")
    return int(row[0]) if row else 0


def remove(store: Store, name: str) -> bool:
    """Delete a schedule; whether there was one."""
    return bool(store.execute("DELETE FROM schedules WHERE name = ?", (name,)))


def claim(store: Store, name: str, due: int) -> bool:
    """Take the due time `due` of a schedule for this sender, in one statement: True for the one
    caller (of any process) that moved `last_due` up to it, False for every other."""
    return bool(store.execute(
        "UPDATE schedules SET last_due = ? WHERE name = ? AND (last_due IS NULL OR last_due < ?)",
        (due, name, due),
    ))  # fmt: skip


def record_sent(store: Store, name: str, when: float) -> None:
    store.execute("UPDATE schedules SET last_sent = ?, last_error = NULL WHERE name = ?",
                  (int(when), name))  # fmt: skip


def record_error(store: Store, name: str, error: str) -> None:
    store.execute("UPDATE schedules SET last_error = ? WHERE name = ?", (error[:500], name))


def _schedule(row: tuple) -> Schedule:
    name, report, period, recipients, fmt, at, user, created, due, sent, error = row
    return Schedule(name, report, period, tuple(r for r in recipients.split(",") if r), fmt, at,
                    user, int(created), due, sent, error)  # fmt: skip


# -- time ---------------------------------------------------------------------------------------


def period_days(period: str, now: float, tz: tzinfo) -> tuple[date, date]:
    """The first and last day (inclusive) a period covers at `now`: yesterday; Monday to
    Sunday of the week before this one; the month before this one."""
    today = datetime.fromtimestamp(now, tz).date()
    if period == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if period == "last_week":
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if period == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise ScheduleError(f"unknown period {period!r}")


def due_at(at: str, day: date, tz: tzinfo) -> int:
    """The epoch of wall time `at` on `day` in `tz`. A time the clocks skip (spring forward)
    moves forward by the gap; a time they repeat (fall back) is its first occurrence."""
    hour, minute = parse_at(at)
    # fold=0: a skipped time takes the offset before the change (so lands after the gap), a
    # repeated one its first offset.
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp())


def _due_on(period: str, day: date) -> bool:
    if period == "last_week":
        return day.weekday() == 0
    if period == "last_month":
        return day.day == 1
    return True


def latest_due(schedule: Schedule, now: float, tz: tzinfo) -> int:
    """The schedule's most recent due time at or before `now`."""
    day = datetime.fromtimestamp(now, tz).date()
    for _ in range(64):  # a month and a day covers every period
        if _due_on(schedule.period, day):
            due = due_at(schedule.at, day, tz)
            if due <= now:
                return due
        day -= timedelta(days=1)
    raise ScheduleError(f"schedule {schedule.name!r}: no due time found")  # pragma: no cover


def next_due(schedule: Schedule, now: float, tz: tzinfo) -> int:
    """The schedule's first due time after `now`."""
    day = datetime.fromtimestamp(now, tz).date()
    for _ in range(64):
        if _due_on(schedule.period, day):
            due = due_at(schedule.at, day, tz)
            if due > now:
                return due
        day += timedelta(days=1)
    raise ScheduleError(f"schedule {schedule.name!r}: no due time found")  # pragma: no cover


def pending(schedule: Schedule, now: float, tz: tzinfo) -> int | None:
    """The due time to send now, if any: the latest one, when no sender has claimed it and it
    is not older than the schedule (a new schedule waits for its first due time)."""
    due = latest_due(schedule, now, tz)
    if due < schedule.created:
        return None
    if schedule.last_due is not None and schedule.last_due >= due:
        return None
    return due
