"""Agent time per UTC day (pure): logged in, paused, paused while logged in, pause starts.

Sessions and pauses overlap across queues (an agent logs in to several, PAUSEALL pauses them
all), so an agent's time is a union, not a sum, and cannot be added up interval by interval.
It can be added up day by day: `agent_cover_days` holds, per (UTC day, agent), the union's
seconds inside that day. The ingest recomputes the (day, agent) rows that a written interval
touches from every stored interval of that agent that day; a day with an interval still open
has no row (its time depends on "now"), and the report reads such days raw.

Rows are keyed by the agent (the person, history/registry.py): an agent's intervals logged
under several names (interface and member name) form one union. `resolve` maps a logged name
to its agent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from wallboard.history.calls import Interval

DAY = 86_400

# Schema version 8: the table, then BACKFILL: a marker the store runs as `backfill_rows`.
BACKFILL = "-- backfill agent_cover_days from agent_intervals"
MIGRATION: list[str] = [
    """CREATE TABLE agent_cover_days (
        day {int} NOT NULL, agent TEXT NOT NULL, logged {int} NOT NULL, paused {int} NOT NULL,
        paused_in {int} NOT NULL, pauses {int} NOT NULL, PRIMARY KEY (day, agent))""",
    BACKFILL,
]
UPSERT = (
    "INSERT INTO agent_cover_days (day, agent, logged, paused, paused_in, pauses)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, agent) DO UPDATE SET"
    " logged = excluded.logged, paused = excluded.paused,"
    " paused_in = excluded.paused_in, pauses = excluded.pauses"
)
DELETE = "DELETE FROM agent_cover_days WHERE day = ? AND agent = ?"
# Every interval overlapping [?, ?): the rows `day_rows` recomputes touched days from. The
# unary + keeps the planner off the start_time index, which would read all history before ?.
INTERVALS_BETWEEN = (
    "SELECT agent, kind, start_time, end_time FROM agent_intervals"
    " WHERE (end_time > ? OR end_time IS NULL) AND +start_time < ?"
)

Span = tuple[int, int]
Resolve = Callable[[str], str]


def _same(name: str) -> str:
    return name


def union(intervals: Iterable[Span], low: int, high: int, in_order: bool = False) -> list[Span]:
    """The union of half-open intervals clipped to [low, high), as sorted disjoint intervals
    (`in_order`: they come sorted by start already, as an indexed read gives them)."""
    merged: list[Span] = []
    first = last = 0
    for start, end in intervals if in_order else sorted(intervals):
        start, end = max(start, low), min(end, high)
        if end <= start:
            continue
        if merged and start <= last:
            if end > last:
                last = end
                merged[-1] = (first, last)
        else:
            first, last = start, end
            merged.append((first, last))
    return merged


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    """The intersection of two sorted lists of disjoint intervals."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def length(intervals: Iterable[Span]) -> int:
    return sum(end - start for start, end in intervals)


def cover(sessions: Iterable[Span], pauses: list[Span], low: int, high: int) -> tuple[int, ...]:
    """(logged, paused, paused while logged, distinct pause starts) of one agent in [low, high)."""
    logged = union(sessions, low, high)
    paused = union(pauses, low, high)
    starts = len({start for start, _ in pauses if low <= start < high})
    return length(logged), length(paused), length(intersect(logged, paused)), starts


def touched_days(intervals: Iterable[Interval], resolve: Resolve = _same) -> dict[str, set[int]]:
    """Per agent, the UTC days whose row written intervals change (an open one: its first)."""
    days: dict[str, set[int]] = defaultdict(set)
    for interval in intervals:
        first = interval.start // DAY
        last = first if interval.end is None else max(first, (interval.end - 1) // DAY)
        days[resolve(interval.agent)].update(range(first, last + 1))
    return days


def day_rows(
    touched: dict[str, set[int]], rows: Iterable[tuple], resolve: Resolve = _same
) -> tuple[list[tuple], list[tuple]]:
    """(upserts, deletes) of agent_cover_days for the touched (agent, day)s, from every stored
    (name, kind, start, end) interval overlapping them; a day with an open interval is deleted."""
    buckets: dict[tuple[int, str], list[tuple]] = defaultdict(list)
    for row in rows:
        name, kind, start, end = row
        agent = resolve(name)
        row = (agent, kind, start, end)
        days = touched.get(agent)
        if days is None:
            continue
        first = start // DAY
        if end is None:  # open: overlaps every day from its first on
            for day in days:
                if day >= first:
                    buckets[(day, agent)].append(row)
            continue
        for day in range(first, max(first, (end - 1) // DAY) + 1):
            if day in days:
                buckets[(day, agent)].append(row)
    upserts, deletes = [], []
    for agent, days in touched.items():
        for day in sorted(days):
            here = buckets.get((day, agent), ())
            if not here or any(r[3] is None for r in here):
                deletes.append((day, agent))
                continue
            low, high = day * DAY, (day + 1) * DAY
            sessions = [(r[2], r[3]) for r in here if r[1] == "session"]
            pauses = [(r[2], r[3]) for r in here if r[1] == "pause"]
            figures = cover(sessions, pauses, low, high)
            if any(figures):
                upserts.append((day, agent, *figures))
            else:
                deletes.append((day, agent))
    return upserts, deletes


def backfill_rows(rows: Iterable[tuple], resolve: Resolve = _same) -> list[tuple]:
    """Every agent_cover_days row of the stored (name, kind, start, end) intervals."""
    rows = list(rows)
    touched: dict[str, set[int]] = defaultdict(set)
    for name, _, start, end in rows:
        first = start // DAY
        last = first if end is None else max(first, (end - 1) // DAY)
        touched[resolve(name)].update(range(first, last + 1))
    return day_rows(touched, rows, resolve)[0]
