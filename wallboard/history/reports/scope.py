"""What a report request asks for and where it falls: parameters, the resolved scope (UTC
range, UTC offsets, time-of-day window, queues, agents), and pure time helpers. No I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Protocol
from urllib.parse import quote

from wallboard.history.callmodel import day_bounds

DAY = 86_400
CALLFLOW = "/stats/rest/index.php?entity=call/"


class Viewer(Protocol):
    """What the reports need of a user (wallboard.auth.User): its restrictions."""

    queues: frozenset[str]
    agents: frozenset[str]

    def sees_queue(self, queue: str) -> bool: ...

    def sees_agent(self, agent: str) -> bool: ...


# -- what a request asks for -------------------------------------------------------------------


@dataclass(frozen=True)
class ReportParams:
    """A request's filters, parsed but not yet resolved against the store and the user."""

    start: date
    end: date  # inclusive
    seconds_start: int = 0
    seconds_end: int = DAY
    queues: tuple[str, ...] = ()  # names or ids as given; () or ALL/-1 = every allowed queue
    agents: tuple[str, ...] = ()
    page: int = 1
    rows: int = 1000
    now: int = 0  # epoch seconds: open intervals end now


@dataclass(frozen=True)
class SearchParams:
    """The `search` entity's own filters, on top of ReportParams."""

    uniqueid: str | None = None
    clid: str | None = None
    url: str | None = None
    did: str | None = None
    tag: str | None = None
    waittime: tuple[int | None, int | None] | None = None  # inclusive bounds, None = open
    talktime: tuple[int | None, int | None] | None = None


@dataclass(frozen=True)
class Scope:
    """A request resolved: UTC range [start, end), UTC offsets over it, window, queues, agents.

    `offsets` are (from_epoch, offset) segments of constant UTC offset covering the range;
    `window` is a local time-of-day window in seconds (start > end wraps over midnight);
    `queues`/`agents` None = no restriction, () = nothing.
    """

    start: int
    end: int
    offsets: tuple[tuple[int, int], ...]
    window: tuple[int, int] | None = None
    queues: tuple[str, ...] | None = None
    agents: tuple[str, ...] | None = None

    def offset_at(self, when: int) -> int:
        index = bisect.bisect_right(self.offsets, (when, 1 << 62)) - 1
        return self.offsets[max(index, 0)][1]


@dataclass
class Page:
    """One page of a row list and the number of rows of the whole list."""

    records: int
    rows: list[dict[str, str]]


def _utc_offset(when: int, tz: tzinfo) -> int:
    delta = datetime.fromtimestamp(when, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def offset_segments(start: int, end: int, tz: tzinfo) -> tuple[tuple[int, int], ...]:
    """Segments (from, utc_offset) of constant offset covering [start, end); changes are
    found by probing every day and bisecting to the second (zones change at most a few times
    a year)."""
    current = _utc_offset(start, tz)
    segments = [(start, current)]
    probe = start
    while probe < end - 1:
        step = min(probe + DAY, end - 1)
        offset = _utc_offset(step, tz)
        if offset != current:
            low, high = probe, step  # offset(low) == current, offset(high) != current
            while high - low > 1:
                mid = (low + high) // 2
                if _utc_offset(mid, tz) == current:
                    low = mid
                else:
                    high = mid
            segments.append((high, offset))
            current = offset
        probe = step
    return tuple(segments)


def make_scope(
    params: ReportParams,
    tz: tzinfo,
    queues: tuple[str, ...] | None,
    agents: tuple[str, ...] | None,
) -> Scope:
    """The Scope of resolved parameters (queue and agent names already checked)."""
    start, end = day_bounds(params.start, params.end, tz)
    window = None
    if (params.seconds_start, params.seconds_end) != (0, DAY):
        window = (params.seconds_start, params.seconds_end)
    return Scope(start, end, offset_segments(start, end, tz), window, queues, agents)


def local_time(epoch: int | None, tz: tzinfo, form: str = "%Y-%m-%d %H:%M:%S") -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, tz).strftime(form)


def num(value: int | None) -> str:
    return str(value if value is not None else 0)


def callflow(uniqueid: str) -> str:
    return CALLFLOW + quote(uniqueid, safe="")


def measure(intervals: Iterable[tuple[int, int]], scope: Scope) -> int:
    """Seconds of disjoint UTC intervals inside the scope's range and time-of-day window."""
    if scope.window is None:
        low, high = scope.start, scope.end
        return sum(max(0, min(end, high) - max(start, low)) for start, end in intervals)
    total = 0
    for start, end in intervals:
        start, end = max(start, scope.start), min(end, scope.end)
        if end <= start:
            continue
        if scope.window is None:
            total += end - start
            continue
        low, high = scope.window
        pieces = [(low, high)] if low <= high else [(0, high), (low, DAY)]
        local_start = start + scope.offset_at(start)
        local_end = max(end + scope.offset_at(end), local_start)
        for day in range(local_start // DAY, (local_end - 1) // DAY + 1):
            base = day * DAY
            for a, b in pieces:
                total += max(0, min(local_end, base + b) - max(local_start, base + a))
    return total


def in_window(epoch: int, scope: Scope) -> bool:
    if not scope.start <= epoch < scope.end:
        return False
    if scope.window is None:
        return True
    low, high = scope.window
    of_day = (epoch + scope.offset_at(epoch)) % DAY
    return low <= of_day < high if low <= high else (of_day >= low or of_day < high)
