"""What the report pages show, apart from the HTTP: the period picker's periods, the filters a
page's query string gives, the chart of each report, and a call's events as a timeline. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from wallboard.errors import bad_request
from wallboard.web.dates import DATE, parse_date

PERIODS = {
    "today": "Today", "yesterday": "Yesterday", "this_week": "This week",
    "last_week": "Last week", "this_month": "This month", "last_month": "Last month",
    "custom": "Custom range",
}  # fmt: skip
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
MAX_DAYS = 3660


def period_days(period: str, today: date) -> tuple[date, date]:
    """The first and last day of a named period containing or before `today`."""
    if period == "today":
        return today, today
    if period == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    monday = today - timedelta(days=today.weekday())
    if period == "this_week":
        return monday, today
    if period == "last_week":
        return monday - timedelta(days=7), monday - timedelta(days=1)
    first = today.replace(day=1)
    if period == "this_month":
        return first, today
    if period == "last_month":
        last = first - timedelta(days=1)
        return last.replace(day=1), last
    raise bad_request("invalid_period", f"unknown period {period[:40]!r}")


@dataclass(frozen=True)
class Filters:
    """A report page's filters, checked: its days, time-of-day window and queue/agent choice."""

    period: str
    start: date
    end: date
    window: tuple[str, str] = ("", "")  # "HH:MM" from, to ("" = the whole day)
    queues: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    page: int = 1
    extra: dict[str, str] = field(default_factory=dict)  # the API's own names, for export links

    @property
    def seconds(self) -> tuple[int, int]:
        """The window as the API's secondsstart/secondsend."""
        return _seconds(self.window[0], 0), _seconds(self.window[1], 86400)

    def api_query(self, **more: str) -> dict[str, str]:
        """The same filters in the REST API's parameter names."""
        query = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        low, high = self.seconds
        if (low, high) != (0, 86400):
            query.update(secondsstart=str(low), secondsend=str(high))
        if self.queues:
            query["queue"] = ",".join(self.queues)
        if self.agents:
            query["agent"] = ",".join(self.agents)
        return {**query, **more}

    def page_query(self, **more: str) -> str:
        """The query string of a page with these filters (and `more` changed)."""
        query = {"period": self.period, "start": self.start.isoformat(),
                 "end": self.end.isoformat()}  # fmt: skip
        if self.window != ("", ""):
            query.update({"from": self.window[0], "to": self.window[1]})
        if self.queues:
            query["queues"] = ",".join(self.queues)
        if self.agents:
            query["agents"] = ",".join(self.agents)
        query.update(more)
        return urlencode({k: v for k, v in query.items() if v != ""})


def _seconds(clock: str, default: int) -> int:
    if not clock:
        return default
    hours, minutes = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _listed(values: Sequence[str]) -> tuple[str, ...]:
    """`queues=a,b` or `queues=a&queues=b`, blanks and ALL dropped."""
    out: list[str] = []
    for value in values:
        out += [v.strip() for v in value.split(",") if v.strip() and v.strip().upper() != "ALL"]
    return tuple(dict.fromkeys(out))


def parse_filters(query: Mapping[str, Sequence[str]], today: date) -> Filters:
    """A page's filters from its query string (every value a list); 400 with the reason."""

    def one(name: str) -> str:
        values = query.get(name) or [""]
        return values[-1].strip()

    period = one("period") or ("custom" if one("start") or one("end") else "today")
    if period not in PERIODS:
        raise bad_request("invalid_period", f"unknown period {period[:40]!r}")
    if period == "custom":
        start = parse_date(one("start"), "start") or parse_date(one("end"), "end") or today
        end = parse_date(one("end"), "end") or max(start, today)
    else:
        start, end = period_days(period, today)
    if end < start:
        raise bad_request("invalid_range", "the end day is before the start day")
    if (end - start).days + 1 > MAX_DAYS:
        raise bad_request("range_too_large", f"a range covers at most {MAX_DAYS} days")
    window = (one("from"), one("to"))
    for clock in window:
        if clock and not _CLOCK.fullmatch(clock):
            raise bad_request("invalid_time", f"a time of day is HH:MM, not {clock[:20]!r}")
    page = one("page") or "1"
    if not page.isdigit() or not 1 <= int(page) <= 1_000_000:
        raise bad_request("invalid_paging", "page must be a whole number from 1")
    return Filters(period, start, end, window, _listed(query.get("queues", [])),
                   _listed(query.get("agents", [])), int(page))  # fmt: skip





# -- charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """How a report is drawn: a bar/line chart of some columns against its label column."""

    kind: str  # "bar", "line" or "hbar"
    label: str
    series: tuple[tuple[str, str], ...]  # (column, legend)
    stacked: bool = False


_TRAFFIC = (("Answered", "Answered"), ("Unanswered", "Unanswered"))
CHARTS: Mapping[str, Chart] = {
    "answered_calls_by_queue": Chart("bar", "Queue", (("Received", "Answered calls"),)),
    "answered_calls_by_agent": Chart("hbar", "Agent", (("Calls", "Calls"),)),
    "answered_calls_by_url": Chart("bar", "URL", (("Calls", "Calls"),)),
    "answered_calls_by_did": Chart("bar", "DID", (("Calls", "Calls"),)),
    "answered_calls_by_holdtime": Chart("bar", "Answer", (("Delta", "Calls"),)),
    "answered_calls_by_event": Chart("bar", "Cause", (("Count", "Calls"),)),
    "unanswered_calls_by_queue": Chart("bar", "Queue", (("Abandoned", "Abandoned"),
                                                        ("Unanswered", "Unanswered")), False),
    "unanswered_calls_by_event": Chart("bar", "Cause", (("Count", "Calls"),)),
    "distribution_by_hour": Chart("bar", "Period", _TRAFFIC, True),
    "distribution_by_day": Chart("line", "Period", _TRAFFIC),
    "distribution_by_weekday": Chart("bar", "Period", _TRAFFIC, True),
    "distribution_by_month": Chart("bar", "Period", _TRAFFIC, True),
    "distribution_by_queue": Chart("bar", "Queue", _TRAFFIC, True),
    "service_level": Chart("bar", "Queue", (("SL answered %", "SL answered %"),
                                            ("SL offered %", "SL offered %"))),
    "agent_sessions": Chart("hbar", "Agent", (("Talk Time (s)", "Talking"), ("Paused (s)", "Paused"),
                                              ("Logged In (s)", "Logged in"))),
    "transfers": Chart("hbar", "Agent", (("Count", "Transfers"),)),
}  # fmt: skip


def chart_data(name: str, rows: Sequence[Mapping[str, str]]) -> dict[str, object] | None:
    """What the page's script draws (labels and numbers), or None for a report without chart."""
    spec = CHARTS.get(name)
    if spec is None or not rows:
        return None
    return {
        "kind": spec.kind,
        "stacked": spec.stacked,
        "labels": [row.get(spec.label, "") for row in rows],
        "series": [
            {"label": legend, "data": [_number(row.get(column, "")) for row in rows]}
            for column, legend in spec.series
        ],
    }


def _number(text: str) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


# -- a call as a timeline --------------------------------------------------------------------------


def _secs(text: str) -> str:
    """Seconds as "12 s" or "2:05"."""
    if not text.strip().lstrip("-").isdigit():
        return text
    seconds = int(text)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60}:{seconds % 60:02d}"


def _who(event: Mapping[str, str]) -> str:
    return event.get("agentName") or event.get("agent") or "an agent"


def describe(event: Mapping[str, str]) -> str:
    """One queue_log event of a call in words."""
    kind, info = event.get("event", ""), [event.get(f"info{n}", "") for n in range(1, 6)]
    queue = event.get("queueName") or event.get("queue", "")
    if kind == "ENTERQUEUE":
        caller = f" from {info[1]}" if info[1] else ""
        return f"Entered queue {queue}{caller}" + (f" at position {info[2]}" if info[2] else "")
    if kind == "RINGNOANSWER":
        ring = f" for {_secs(str(int(info[0]) // 1000))}" if info[0].isdigit() else ""
        return f"Rang {_who(event)}{ring}, no answer"
    if kind == "RINGCANCELED":
        return f"Rang {_who(event)}, stopped when the caller left"
    if kind == "CONNECT":
        return f"Answered by {_who(event)} after {_secs(info[0])} waiting"
    if kind in ("COMPLETECALLER", "COMPLETEAGENT"):
        by = "the caller" if kind == "COMPLETECALLER" else _who(event)
        return f"Hung up by {by} after {_secs(info[1])} of talk"
    if kind in ("TRANSFER", "BLINDTRANSFER"):
        target = "@".join(part for part in info[:2] if part) or "another number"
        return f"Transferred by {_who(event)} to {target} after {_secs(info[3])} of talk"
    if kind == "ATTENDEDTRANSFER":
        return f"Transferred by {_who(event)} (attended)"
    exits = {
        "ABANDON": "The caller hung up while waiting",
        "EXITWITHTIMEOUT": "Left the queue: no answer within its time limit",
        "EXITEMPTY": "Left the queue: no agent could answer",
        "EXITUNKNOWN": "Left the queue unanswered (hung up or timed out: not known)",
    }
    if kind in exits:
        return f"{exits[kind]}, after {_secs(info[2])}" if info[2] else exits[kind]
    if kind == "EXITWITHKEY":
        return "Left the queue by pressing a key" + (f" ({info[0]})" if info[0] else "")
    if kind == "DID":
        return f"Came in on {info[0]}"
    details = " ".join(part for part in info if part)
    return f"{kind} {details}".strip()


def timeline(events: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """The call's events as (time, queue, what happened) lines, in order."""
    return [
        {"time": event.get("datetime", "")[-8:], "date": event.get("datetime", "")[:10],
         "queue": event.get("queueName") or event.get("queue", ""), "text": describe(event),
         "event": event.get("event", "")}
        for event in events
    ]  # fmt: skip


def day_of(label: str) -> str | None:
    """A distribution's Period label as a day (`YYYY-MM-DD`) to drill into, when it is one."""
    return label if DATE.fullmatch(label) else None


# -- a report's table ----------------------------------------------------------------------------

_NUMERIC = re.compile(r"-?[0-9]+(\.[0-9]+)?")
DETAILS = {"answered": "answered_calls_detail", "unanswered": "unanswered_calls_detail"}


@dataclass(frozen=True)
class Cell:
    text: str
    path: str | None = None  # a page to drill into (None: none), below /reports
    query: tuple[tuple[str, str], ...] = ()  # what it sets of the page's filters
    numeric: bool = False


def cells(name: str, columns: Sequence[str], row: Mapping[str, str]) -> list[Cell]:
    """One table row: each value, whether it is a number (right-aligned, sorted as one) and
    the page of the calls behind it: a call's timeline, a queue's calls, a day's summary."""
    out = []
    detail = DETAILS["unanswered" if name.startswith("unanswered") else "answered"]
    for column in columns:
        value = row.get(column, "")
        path: str | None = None
        query: tuple[tuple[str, str], ...] = ()
        if column == "uniqueid" and value:
            path = f"/call/{value}"
        elif column == "callflow" and row.get("uniqueid"):
            value, path = "timeline", f"/call/{row['uniqueid']}"
        elif column in ("Queue", "queue") and value and name not in DETAILS.values():
            path, query = f"/{detail}", (("queues", value),)
        elif column == "Period" and day_of(value):
            path, query = "", (("period", "custom"), ("start", value), ("end", value))
        out.append(Cell(value, path, query, bool(_NUMERIC.fullmatch(value))))
    return out
