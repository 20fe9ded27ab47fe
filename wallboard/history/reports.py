"""The report catalogue (reports.md): one declarative definition per report, and the shell that runs it.

A definition holds its SQL (portable, `?` placeholders, `{slot}`s the runner fills with the
request's filters), its columns and a pure function that shapes the result sets into rows whose
every value is a string, as the original product returns them. Adding a report is adding a
definition to CATALOGUE.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from operator import itemgetter
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from wallboard.config import Settings
from wallboard.errors import WallboardError, forbidden, not_found
from wallboard.history import coverage
from wallboard.history.callmodel import TRANSFERRED_SQL, average, day_bounds, percent
from wallboard.history.registry import Registry
from wallboard.history.store import Store, data_columns
from wallboard.history.summary import (
    AGENT_KEY,
    AGENT_SUMS,
    ANSWERED_CALLS,
    ANSWERED_OUTCOMES,
    HOUR,
    QUEUE_KEY,
    QUEUE_SUMS,
    TRANSFER_TO,
    UNANSWERED_CALLS,
    UNANSWERED_OUTCOMES,
    VALUE_SUMMARIES,
    WAIT_STEPS,
    ValueSummary,
    agent_hours_sql,
    columns_used,
    queue_hours_sql,
    value_sql,
    wait_column,
)

DAY = 86_400
CALLFLOW = "/stats/rest/index.php?entity=call/"

# The call model (history/callmodel.py) as SQL conditions over queue_calls; STALE
# counts as answered when the call was connected, else as unanswered.
ANSWERED = ANSWERED_CALLS
UNANSWERED = UNANSWERED_CALLS
TRANSFERRED = TRANSFERRED_SQL


class Viewer(Protocol):
    """What the reports need of a user (wallboard.auth.User): its restrictions."""

    queues: frozenset[str]
    agents: frozenset[str]

    def sees_queue(self, queue: str) -> bool: ...

    def sees_agent(self, agent: str) -> bool: ...


ReportError = WallboardError  # what the reports raise (wallboard.errors): code, status, message


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


@dataclass(frozen=True)
class Context:
    """What shaping needs besides the result sets."""

    tz: tzinfo
    scope: Scope
    now: int
    queue_names: Mapping[str, str] = field(default_factory=dict)  # name -> display name
    agent_names: Mapping[str, str] = field(default_factory=dict)
    registry: Registry = field(default_factory=Registry)  # logged names -> agents

    def agent(self, name: str | None) -> str:
        """The agent (person) a logged name stands for; "" for none."""
        return self.registry.resolve(name) if name else ""

    def agent_name(self, name: str | None) -> str:
        """The display name of the agent a logged name stands for."""
        if not name:
            return ""
        agent = self.registry.resolve(name)
        return self.agent_names.get(agent) or self.registry.shown(name)


Shape = Callable[[list[list[tuple]], Context], list[dict[str, str]]]


@dataclass(frozen=True)
class Report:
    """One report: its SQL templates, columns and shaping.

    Paged reports have two queries, a count and the rows (ORDER BY included, LIMIT added by the
    runner); the others have any number, whose result sets `shape` turns into every row.
    """

    name: str
    columns: tuple[str, ...]
    queries: tuple[str, ...]
    shape: Shape
    paged: bool = False


# -- pure helpers --------------------------------------------------------------------------------


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


def local_sql(scope: Scope, column: str) -> tuple[str, list[Any]]:
    """SQL for the local wall-clock epoch of a UTC epoch column (column + its UTC offset)."""
    if len(scope.offsets) == 1:
        return f"({column} + ?)", [scope.offsets[0][1]]
    whens = " ".join(f"WHEN {column} < ? THEN ?" for _ in scope.offsets[1:])
    params: list[Any] = []
    for (_, offset), (upto, _) in zip(scope.offsets, scope.offsets[1:], strict=False):
        params += [upto, offset]
    params.append(scope.offsets[-1][1])
    return f"({column} + CASE {whens} ELSE ? END)", params


def _in(column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


def scope_sql(
    scope: Scope, time_column: str, queue_column: str = "queue", agent_column: str = "agent"
) -> tuple[str, list[Any]]:
    """The WHERE condition selecting rows of a scope by one time column."""
    parts = [f"{time_column} >= ?", f"{time_column} < ?"]
    params: list[Any] = [scope.start, scope.end]
    if scope.window is not None:
        local, local_params = local_sql(scope, time_column)
        of_day = f"({local} - ({local} / {DAY}) * {DAY})"
        low, high = scope.window
        joiner = "AND" if low <= high else "OR"
        parts.append(f"({of_day} >= ? {joiner} {of_day} < ?)")
        params += local_params * 2 + [low] + local_params * 2 + [high]
    for column, values in ((queue_column, scope.queues), (agent_column, scope.agents)):
        if values is not None:
            sql, more = _in(column, values)
            parts.append(sql)
            params += more
    return " AND ".join(parts), params


def overlap_sql(scope: Scope) -> tuple[str, list[Any]]:
    """Intervals (agent_intervals) overlapping the scope's range, of its queues and agents."""
    parts = ["start_time < ?", "(end_time IS NULL OR end_time > ?)"]
    params: list[Any] = [scope.end, scope.start]
    for column, values in (("queue", scope.queues), ("agent", scope.agents)):
        if values is not None:
            sql, more = _in(column, values)
            parts.append(sql)
            params += more
    return " AND ".join(parts), params


def threshold_sql(thresholds: Mapping[str, int], default: int) -> tuple[str, list[Any]]:
    """SQL for a queue's service-level threshold: per-queue values, else the default."""
    if not thresholds:
        return "?", [default]
    whens = " ".join("WHEN ? THEN ?" for _ in thresholds)
    params: list[Any] = [v for item in sorted(thresholds.items()) for v in item]
    return f"(CASE queue {whens} ELSE ? END)", params + [default]


_SLOT = re.compile(r"\{(\w+)\}")


def render(
    template: str, slots: Mapping[str, Callable[[], tuple[str, list[Any]]]]
) -> tuple[str, list[Any]]:
    """Fill a template's `{slot}`s in order, collecting their parameters in the same order."""
    params: list[Any] = []

    def fill(match: re.Match[str]) -> str:
        sql, more = slots[match.group(1)]()
        params.extend(more)
        return sql

    return _SLOT.sub(fill, template), params


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


# -- shapes ----------------------------------------------------------------------------------------


def _answered_detail(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    rows = []
    for connect, queue, agent, callerid, event, wait, ring, talk, callid, url, did in results[0]:
        rows.append({
            "datetime": local_time(connect, ctx.tz, "%d-%m-%Y %H:%M:%S"),
            "queue": queue,
            "agent": ctx.agent(agent),
            "callerid": callerid,
            "event": event or "",
            "waitTime": num(wait),
            "ringTime": num(ring),
            "callTime": num(talk),
            "agentName": ctx.agent_name(agent),
            "queueName": ctx.queue_names.get(queue, queue),
            "recording": "",
            "uniqueid": callid,
            "callflow": callflow(callid),
            "url": url,
            "did": did,
        })  # fmt: skip
    return rows


def _unanswered_detail(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    rows = []
    for when, queue, callerid, event, wait, position, origpos, callid, url, did, agent in results[0]:
        rows.append({
            "datetime": local_time(when, ctx.tz, "%d-%m-%Y %H:%M:%S"),
            "queue": queue,
            "callerid": callerid,
            "event": event or "",
            "waitTime": num(wait),
            "position": num(position),
            "origPosition": num(origpos),
            "uniqueid": callid,
            "callflow": callflow(callid),
            "url": url,
            "did": did,
            "queueName": ctx.queue_names.get(queue, queue),
            "agentName": ctx.agent_name(agent),
        })  # fmt: skip
    return rows


def _count_share(label: str, count_label: str, pct_label: str) -> Shape:
    """Rows (key, count) → {label, count_label, pct_label} with the share of the total."""

    def shape(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
        total = sum(count for _, count in results[0])
        return [
            {label: key or "", count_label: str(count), pct_label: percent(count, total)}
            for key, count in results[0]
        ]

    return shape


def fold(rows: Iterable[tuple], keys: int, ctx: Context) -> list[tuple]:
    """Rows keyed by (agent, ...) in their first `keys` columns, with each logged name resolved
    to its agent and the rows of one agent summed (the sums are additive), sorted by key."""
    folded: dict[tuple, list[int]] = {}
    for row in rows:
        key = (ctx.agent(row[0]), *row[1:keys])
        acc = folded.setdefault(key, [0] * (len(row) - keys))
        for n, value in enumerate(row[keys:]):
            acc[n] += value or 0
    return [(*key, *values) for key, values in sorted(folded.items())]


def _by_agent(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    rows = fold(results[0], 1, ctx)
    calls_total = sum(r[1] for r in rows)
    talk_total = sum(r[2] or 0 for r in rows)
    return [
        {
            "Agent": agent or "",
            "Calls": str(calls),
            "% Calls": percent(calls, calls_total),
            "Call Time": num(talk),
            "% Call Time": percent(talk or 0, talk_total),
            "Avg Call Time": average(talk or 0, talk_n),
            "Hold Time": num(wait),
            "Avg Hold Time": average(wait or 0, wait_n),
        }
        for agent, calls, talk, talk_n, wait, wait_n in rows
    ]


HOLDTIME_LIMITS = (15, 30, 45, 60, 75, 90)
_HOLDTIME_LABELS = tuple(f"{limit} secs" for limit in HOLDTIME_LIMITS) + (
    f"{HOLDTIME_LIMITS[-1] + 1}+ secs",
)
_BUCKET_SQL = (
    "CASE "
    + " ".join(
        f"WHEN COALESCE(wait, 0) <= {limit} THEN {n}" for n, limit in enumerate(HOLDTIME_LIMITS)
    )
    + f" ELSE {len(HOLDTIME_LIMITS)} END"
)


def _by_holdtime(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    counts = [0] * len(_HOLDTIME_LABELS)
    for bucket, count in results[0]:
        counts[bucket] += count
    total = sum(counts)
    if not total:
        return []
    rows, cumulative = [], 0
    for label, count in zip(_HOLDTIME_LABELS, counts, strict=True):
        cumulative += count
        rows.append({
            "Answer": label, "Count": str(cumulative), "Delta": str(count),
            "%": percent(cumulative, total),
        })  # fmt: skip
    return rows


def _unanswered_by_queue(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    rows = results[0]
    total = sum(r[1] for r in rows)
    return [
        {
            "Queue": queue,
            "Unanswered": str(count),
            "Abandoned": num(abandoned),
            "% Calls": percent(count, total),
            "Avg Wait": average(wait or 0, wait_n),
        }
        for queue, count, abandoned, wait, wait_n in rows
    ]


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _hours(ctx: Context) -> list[str]:
    return [f"{h:02d}" for h in range(24)]


def _days(ctx: Context) -> list[str]:
    first = local_time(ctx.scope.start, ctx.tz, "%Y-%m-%d")
    last = local_time(ctx.scope.end - 1, ctx.tz, "%Y-%m-%d")
    day, out = date.fromisoformat(first), []
    while day.isoformat() <= last:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def _months(ctx: Context) -> list[str]:
    return list(dict.fromkeys(day[:7] for day in _days(ctx)))


def _weekdays(ctx: Context) -> list[str]:
    return list(WEEKDAYS)


def _hour_key(hour_index: int) -> datetime:
    """The local wall-clock hour of a local epoch's hour index."""
    return datetime.fromtimestamp(hour_index * 3600, UTC)


PERIODS: Mapping[str, tuple[Callable[[Context], list[str]], Callable[[datetime], str]]] = {
    "hour": (_hours, lambda t: f"{t.hour:02d}"),
    "day": (_days, lambda t: t.strftime("%Y-%m-%d")),
    "weekday": (_weekdays, lambda t: WEEKDAYS[t.weekday()]),
    "month": (_months, lambda t: t.strftime("%Y-%m")),
}


def _distribution(period: str) -> Shape:
    periods, key_of = PERIODS[period]

    def shape(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
        calls, logins, logoffs = results
        if not calls and not logins and not logoffs:
            return []
        sums: dict[str, list[int]] = defaultdict(lambda: [0] * 9)
        for hour, *values in calls:
            acc = sums[key_of(_hour_key(hour))]
            for n, value in enumerate(values):
                acc[n] += value or 0
        for column, rows in ((7, logins), (8, logoffs)):
            for hour, count in rows:
                sums[key_of(_hour_key(hour))][column] += count
        answered_total = sum(acc[1] for acc in sums.values())
        unanswered_total = sum(acc[2] for acc in sums.values())
        rows = []
        for label in periods(ctx):
            received, answered, unanswered, talk, talk_n, wait, wait_n, logins_n, logoffs_n = (
                sums.get(label, [0] * 9)
            )
            rows.append({
                "Period": label,
                "Received": str(received),
                "Answered": str(answered),
                "% Answered": percent(answered, answered_total),
                "Unanswered": str(unanswered),
                "% Unanswered": percent(unanswered, unanswered_total),
                "Avg Call Time": average(talk, talk_n),
                "Avg Wait": average(wait, wait_n),
                "Logins": str(logins_n),
                "Logoffs": str(logoffs_n),
            })  # fmt: skip
        return rows

    return shape


def _distribution_by_queue(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    """One row per queue; shares of the column totals and averages as the other distributions
    have them, the service level as `service_level`'s SL answered %."""
    rows = [tuple(v or 0 for v in row[1:]) for row in results[0]]
    answered_total = sum(r[1] for r in rows)
    unanswered_total = sum(r[2] for r in rows)
    shaped = []
    for (queue, *_), row in zip(results[0], rows, strict=True):
        received, answered, unanswered, abandoned, talk, talk_n, wait, wait_n, within = row
        shaped.append({
            "Queue": queue,
            "Received": str(received),
            "Answered": str(answered),
            "% Answered": percent(answered, answered_total),
            "Unanswered": str(unanswered),
            "% Unanswered": percent(unanswered, unanswered_total),
            "Abandoned": str(abandoned),
            "Avg Wait": average(wait, wait_n),
            "Avg Call Time": average(talk, talk_n),
            "Service Level": percent(within, answered),
        })  # fmt: skip
    return shaped


def _service_level(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    rows = []
    for queue, threshold, answered, within, unanswered, over in results[0]:
        answered, within, unanswered, over = (v or 0 for v in (answered, within, unanswered, over))
        rows.append({
            "Queue": queue,
            "Threshold": str(threshold),
            "Answered": str(answered),
            "Answered Within": str(within),
            "SL answered %": percent(within, answered),
            "Unanswered": str(unanswered),
            "SL offered %": percent(within, answered + over),
        })  # fmt: skip
    return rows


def _agent_sessions(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    sessions, pauses, calls = results  # (name, start, end) rows in start order
    scope, now = ctx.scope, ctx.now
    logged: dict[str, list[tuple]] = defaultdict(list)
    paused: dict[str, list[tuple]] = defaultdict(list)
    for rows, by_agent in ((sessions, logged), (pauses, paused)):
        for row in rows:
            by_agent[ctx.agent(row[0])].append(row)
    for by_agent in (logged, paused):
        for agent_rows in by_agent.values():
            agent_rows.sort(key=_START)  # an agent's names merged: back in start order
    talk = {agent: (count, total) for agent, count, total in fold(calls, 1, ctx)}
    out = []
    for agent in sorted(set(logged) | set(paused) | set(talk)):
        logged_in = _union(logged.get(agent, ()), now, scope)
        pause_rows = paused.get(agent, ())
        pause_union = _union(pause_rows, now, scope)
        logged_s = measure(logged_in, scope)
        paused_s = measure(pause_union, scope)
        paused_in = measure(coverage.intersect(logged_in, pause_union), scope)
        pause_count = _count_starts(pause_rows, scope)
        count, talk_s = talk.get(agent, (0, 0))
        if not (logged_s or paused_s or pause_count or count):
            continue  # only met outside the time-of-day window
        static = not logged_s and ctx.registry.membership_of(agent) != "dynamic"
        out.append(_session_row(agent, logged_s, paused_s, paused_in, pause_count, count, talk_s,
                                static))  # fmt: skip
    return out


def _session_row(
    agent: str, logged: int, paused: int, paused_in: int, pauses: int, calls: int, talk: int,
    static: bool = False,
) -> dict[str, str]:
    """One agent_sessions row. A static member (queues.conf) logs no sessions, so its logged-in
    time and occupancy are not measured: they are left empty, and `Membership` says why."""
    occupancy = percent(talk, logged - paused_in) if logged > paused_in else "0.00"
    return {
        "Agent": agent,
        "Logged In (s)": "" if static else str(logged),
        "Paused (s)": str(paused),
        "Pauses": str(pauses),
        "Calls": str(calls),
        "Talk Time (s)": str(talk),
        "Occupancy %": "" if static else occupancy,
        "Membership": "static" if static else "dynamic",
    }


def _agent_sessions_by_day(
    store: Store, scope: Scope, ctx: Context, query: Callable[[str], list[tuple]]
) -> list[dict[str, str]] | None:
    """agent_sessions from agent_cover_days (history/coverage.py) for the whole UTC days of the
    range, and from the raw intervals for the hours around them and for the days since an
    agent's oldest interval still open; None when the scope has a window or queue filter (the
    day rows are of all queues)."""
    days = day_split(scope)
    if days is None or scope.queues is not None:
        return None
    first, last = days
    # agent_intervals holds logged names (scope.agents, expanded); agent_cover_days agents.
    agents, agent_params = ("1 = 1", []) if scope.agents is None else _in("agent", scope.agents)
    persons = None if scope.agents is None else sorted({ctx.agent(a) for a in scope.agents})
    covered, covered_params = ("1 = 1", []) if persons is None else _in("c.agent", persons)
    open_since: dict[str, int] = {}
    for name, start in store.query(
        "SELECT agent, MIN(start_time) FROM agent_intervals WHERE end_time IS NULL"
        f" AND start_time < ? AND {agents} GROUP BY agent", [scope.end, *agent_params],
    ):  # fmt: skip
        agent = ctx.agent(name)
        open_since[agent] = min(start, open_since.get(agent, start))
    cuts = {agent: min(last, max(first, start // DAY)) for agent, start in open_since.items()}
    sums = (
        f"SELECT c.agent, {_sum('logged')}, {_sum('paused')}, {_sum('paused_in')},"
        f" {_sum('pauses')} FROM agent_cover_days c"
    )
    params: list[Any] = []
    where = f"c.day >= ? AND c.day < ? AND {covered}"
    if cuts:
        values = ", ".join("(?, ?)" for _ in cuts)
        sums = f"WITH o(agent, cut) AS (VALUES {values}) {sums} LEFT JOIN o ON o.agent = c.agent"
        params = [v for item in sorted(cuts.items()) for v in item]
        where += " AND (o.cut IS NULL OR c.day < o.cut)"
    totals = {
        agent: list(figures)
        for agent, *figures in store.query(
            f"{sums} WHERE {where} GROUP BY c.agent", [*params, first, last, *covered_params]
        )
    }
    # The raw spans: the hours before and after the whole days, and each open agent's tail.
    spans = [(scope.start, first * DAY), (last * DAY, scope.end)]
    tail = min([last * DAY, *(cut * DAY for cut in cuts.values())])
    rows = []
    for low, high in ((spans[0][0], spans[0][1]), (tail, scope.end)):
        if low < high:
            rows += store.query(
                "SELECT agent, kind, start_time, end_time FROM agent_intervals"
                f" WHERE (end_time > ? OR end_time IS NULL) AND +start_time < ? AND {agents}",
                [low, high, *agent_params],
            )
    by_agent: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        by_agent[ctx.agent(row[0])].append(row)
    now = ctx.now
    for agent, mine in by_agent.items():
        mine = list(dict.fromkeys(mine))  # the two reads can overlap
        sessions = [(r[2], r[3] if r[3] is not None else max(now, r[2])) for r in mine
                    if r[1] == "session"]  # fmt: skip
        pauses = [(r[2], r[3] if r[3] is not None else max(now, r[2])) for r in mine
                  if r[1] == "pause"]  # fmt: skip
        agent_spans = spans + ([(cuts[agent] * DAY, last * DAY)] if agent in cuts else [])
        total = totals.setdefault(agent, [0, 0, 0, 0])
        for low, high in agent_spans:
            if low < high:
                for index, value in enumerate(coverage.cover(sessions, pauses, low, high)):
                    total[index] += value
    talk = {agent: (count, total) for agent, count, total in fold(query(_SESSION_CALLS), 1, ctx)}
    out = []
    for agent in sorted(set(totals) | set(talk)):
        logged_s, paused_s, paused_in, pause_count = totals.get(agent, (0, 0, 0, 0))
        count, talk_s = talk.get(agent, (0, 0))
        if not (logged_s or paused_s or pause_count or count):
            continue
        static = not logged_s and ctx.registry.membership_of(agent) != "dynamic"
        out.append(_session_row(agent, logged_s, paused_s, paused_in, pause_count, count, talk_s,
                                static))  # fmt: skip
    return out


_START = itemgetter(1)


def _union(rows: Iterable[tuple], now: int, scope: Scope) -> list[tuple[int, int]]:
    """The union, clipped to the scope's range, of (agent, start, end) rows in start order (an
    open interval ends now) as sorted disjoint intervals."""
    spans = ((start, end if end is not None else max(now, start)) for _, start, end in rows)
    return coverage.union(spans, scope.start, scope.end, in_order=True)


def _count_starts(rows: Iterable[tuple], scope: Scope) -> int:
    """How many distinct start times of (agent, start, end) rows fall inside the scope."""
    if scope.window is None:
        low, high = scope.start, scope.end
        return len({row[1] for row in rows if low <= row[1] < high})
    return len({row[1] for row in rows if in_window(row[1], scope)})


def _agent_pauses(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    return [
        {
            "Agent": ctx.agent(agent),
            "Queue": queue,
            "Start": local_time(start, ctx.tz),
            "End": local_time(end, ctx.tz),
            "Duration": str(max(0, (end if end is not None else ctx.now) - start)),
            "Reason": reason,
        }
        for agent, queue, start, end, reason in results[0]
    ]


def _transfers(results: list[list[tuple]], ctx: Context) -> list[dict[str, str]]:
    return [
        {"Agent": agent or "", "To": target, "Count": str(count)}
        for agent, target, count in fold(results[0], 2, ctx)
    ]


# -- the catalogue ---------------------------------------------------------------------------------

_CALLS = "FROM queue_calls WHERE {calls}"
# Where a transfer went: exten@context for blind ones; an attended transfer's bridge or channels
# are unique ids, so those count as "attended" (one by application keeps its APP|name). No `%`
# in report SQL: psycopg reads it as a placeholder.
_TRANSFER_TO = TRANSFER_TO
# The kind of an interval as an expression, so that the planner reads agent_intervals by its time
# index rather than by the (kind, agent, queue, start_time) unique index (half the table).
_KINDS = {"sessions": "COALESCE(kind, '') = 'session'", "pauses": "COALESCE(kind, '') = 'pause'"}
_DISTRIBUTION_SQL = (
    "SELECT {local_enter} / 3600, COUNT(*),"
    f" SUM(CASE WHEN {ANSWERED} THEN 1 ELSE 0 END),"
    f" SUM(CASE WHEN {UNANSWERED} THEN 1 ELSE 0 END),"
    f" SUM(CASE WHEN {ANSWERED} AND talk IS NOT NULL THEN talk ELSE 0 END),"
    f" SUM(CASE WHEN {ANSWERED} AND talk IS NOT NULL THEN 1 ELSE 0 END),"
    f" SUM(CASE WHEN {ANSWERED} AND wait IS NOT NULL THEN wait ELSE 0 END),"
    f" SUM(CASE WHEN {ANSWERED} AND wait IS NOT NULL THEN 1 ELSE 0 END)"
    f" {_CALLS} GROUP BY 1"
)
_LOGINS_SQL = (
    "SELECT {local_start} / 3600, COUNT(*) FROM agent_intervals"
    " WHERE {sessions} AND {logins} GROUP BY 1"
)
_LOGOFFS_SQL = (
    "SELECT {local_end} / 3600, COUNT(*) FROM agent_intervals"
    " WHERE {sessions} AND {logoffs} GROUP BY 1"
)


def _distribution_report(period: str) -> Report:
    return Report(
        f"distribution_by_{period}",
        (
            "Period",
            "Received",
            "Answered",
            "% Answered",
            "Unanswered",
            "% Unanswered",
            "Avg Call Time",
            "Avg Wait",
            "Logins",
            "Logoffs",
        ),  # fmt: skip
        (_DISTRIBUTION_SQL, _LOGINS_SQL, _LOGOFFS_SQL),
        _distribution(period),
    )


CATALOGUE: tuple[Report, ...] = (
    Report(
        "answered_calls_detail",
        (
            "datetime",
            "queue",
            "agent",
            "callerid",
            "event",
            "waitTime",
            "ringTime",
            "callTime",
            "agentName",
            "queueName",
            "recording",
            "uniqueid",
            "callflow",
            "url",
            "did",
        ),  # fmt: skip
        (
            f"SELECT COUNT(*) {_CALLS} AND {ANSWERED}",
            "SELECT connect_time, queue, agent, callerid, outcome, wait, ring, talk, callid, url,"
            f" did {_CALLS} AND {ANSWERED} ORDER BY enter_time, id",
        ),
        _answered_detail,
        paged=True,
    ),
    Report(
        "answered_calls_by_queue",
        ("Queue", "Received", "% Calls"),
        (f"SELECT queue, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY queue ORDER BY queue",),
        _count_share("Queue", "Received", "% Calls"),
    ),
    Report(
        "answered_calls_by_agent",
        (
            "Agent",
            "Calls",
            "% Calls",
            "Call Time",
            "% Call Time",
            "Avg Call Time",
            "Hold Time",
            "Avg Hold Time",
        ),  # fmt: skip
        (
            "SELECT agent, COUNT(*), SUM(talk), COUNT(talk), SUM(wait), COUNT(wait)"
            f" {_CALLS} AND {ANSWERED} GROUP BY agent ORDER BY agent",
        ),
        _by_agent,
    ),
    Report(
        "answered_calls_by_url",
        ("URL", "Calls", "% Calls"),
        (f"SELECT url, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY url ORDER BY url",),
        _count_share("URL", "Calls", "% Calls"),
    ),
    Report(
        "answered_calls_by_did",
        ("DID", "Calls", "% Calls"),
        (f"SELECT did, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY did ORDER BY did",),
        _count_share("DID", "Calls", "% Calls"),
    ),
    Report(
        "answered_calls_by_holdtime",
        ("Answer", "Count", "Delta", "%"),
        (f"SELECT {_BUCKET_SQL}, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY 1",),
        _by_holdtime,
    ),
    Report(
        "answered_calls_by_event",
        ("Cause", "Count", "%"),
        (f"SELECT outcome, COUNT(*) {_CALLS} AND {ANSWERED} GROUP BY outcome ORDER BY 2 DESC, 1",),
        _count_share("Cause", "Count", "%"),
    ),
    Report(
        "unanswered_calls_detail",
        (
            "datetime",
            "queue",
            "callerid",
            "event",
            "waitTime",
            "position",
            "origPosition",
            "uniqueid",
            "callflow",
            "url",
            "did",
            "queueName",
            "agentName",
        ),  # fmt: skip
        (
            f"SELECT COUNT(*) {_CALLS} AND {UNANSWERED}",
            "SELECT COALESCE(end_time, enter_time), queue, callerid, outcome, wait, position,"
            f" origpos, callid, url, did, agent {_CALLS} AND {UNANSWERED} ORDER BY enter_time, id",
        ),
        _unanswered_detail,
        paged=True,
    ),
    Report(
        "unanswered_calls_by_queue",
        ("Queue", "Unanswered", "Abandoned", "% Calls", "Avg Wait"),
        (
            "SELECT queue, COUNT(*), SUM(CASE WHEN outcome = 'ABANDON' THEN 1 ELSE 0 END),"
            f" SUM(wait), COUNT(wait) {_CALLS} AND {UNANSWERED} GROUP BY queue ORDER BY queue",
        ),
        _unanswered_by_queue,
    ),
    Report(
        "unanswered_calls_by_event",
        ("Cause", "Count", "%"),
        (
            f"SELECT outcome, COUNT(*) {_CALLS} AND {UNANSWERED} GROUP BY outcome ORDER BY 2 DESC, 1",
        ),
        _count_share("Cause", "Count", "%"),
    ),
    _distribution_report("hour"),
    _distribution_report("day"),
    _distribution_report("weekday"),
    _distribution_report("month"),
    Report(
        "distribution_by_queue",
        (
            "Queue",
            "Received",
            "Answered",
            "% Answered",
            "Unanswered",
            "% Unanswered",
            "Abandoned",
            "Avg Wait",
            "Avg Call Time",
            "Service Level",
        ),  # fmt: skip
        (
            "SELECT queue, COUNT(*),"
            f" SUM(CASE WHEN {ANSWERED} THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {UNANSWERED} THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN outcome = 'ABANDON' THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {ANSWERED} AND talk IS NOT NULL THEN talk ELSE 0 END),"
            f" SUM(CASE WHEN {ANSWERED} AND talk IS NOT NULL THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {ANSWERED} AND wait IS NOT NULL THEN wait ELSE 0 END),"
            f" SUM(CASE WHEN {ANSWERED} AND wait IS NOT NULL THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {ANSWERED} AND COALESCE(wait, 0) <= {{threshold}} THEN 1 ELSE 0 END)"
            f" {_CALLS} GROUP BY queue ORDER BY queue",
        ),
        _distribution_by_queue,
    ),
    Report(
        "service_level",
        (
            "Queue",
            "Threshold",
            "Answered",
            "Answered Within",
            "SL answered %",
            "Unanswered",
            "SL offered %",
        ),  # fmt: skip
        (
            "SELECT queue, {threshold},"
            f" SUM(CASE WHEN {ANSWERED} THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {ANSWERED} AND COALESCE(wait, 0) <= {{threshold}} THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {UNANSWERED} THEN 1 ELSE 0 END),"
            f" SUM(CASE WHEN {UNANSWERED} AND COALESCE(wait, 0) > {{threshold}} THEN 1 ELSE 0 END)"
            f" {_CALLS} GROUP BY queue ORDER BY queue",
        ),
        _service_level,
    ),
    Report(
        "agent_sessions",
        (
            "Agent",
            "Logged In (s)",
            "Paused (s)",
            "Pauses",
            "Calls",
            "Talk Time (s)",
            "Occupancy %",
            "Membership",
        ),  # fmt: skip
        (
            "SELECT agent, start_time, end_time FROM agent_intervals"
            " WHERE {sessions} AND {overlap} ORDER BY start_time",
            "SELECT agent, start_time, end_time FROM agent_intervals"
            " WHERE {pauses} AND {overlap} ORDER BY start_time",
            f"SELECT agent, COUNT(*), SUM(talk) {_CALLS} AND {ANSWERED} GROUP BY agent",
        ),
        _agent_sessions,
    ),
    Report(
        "agent_pauses",
        ("Agent", "Queue", "Start", "End", "Duration", "Reason"),
        (
            "SELECT COUNT(*) FROM agent_intervals WHERE {pauses} AND {logins}",
            "SELECT agent, queue, start_time, end_time, reason FROM agent_intervals"
            " WHERE {pauses} AND {logins} ORDER BY start_time, id",
        ),
        _agent_pauses,
        paged=True,
    ),
    Report(
        "transfers",
        ("Agent", "To", "Count"),
        (
            f"SELECT agent, {_TRANSFER_TO}, COUNT(*) {_CALLS} AND {TRANSFERRED}"
            " GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        _transfers,
    ),
)
REPORTS: Mapping[str, Report] = {report.name: report for report in CATALOGUE}


# -- the same reports through the hourly summaries (history/summary.py) ---------------------------


@dataclass(frozen=True)
class Summarised:
    """A report's queries over the summaries: None keeps the raw query at that place; `adapt`
    turns the result sets into those the raw queries give; `by_agent` reads agent_hours (which
    answers agent-restricted scopes), else queue_hours (which does not)."""

    queries: tuple[str | None, ...]
    adapt: Callable[[list[list[tuple]]], list[list[tuple]]] | None = None
    by_agent: bool = False
    thresholds: bool = False  # needs every service-level threshold among the stored wait steps
    # A report answered by its own reads (store, scope, context, run one of `queries`), or
    # None when it cannot answer this scope (then the queries above do).
    run: Callable[..., list[dict[str, str]] | None] | None = None


def _sum(expr: str) -> str:
    return f"CAST(SUM({expr}) AS BIGINT)"  # PostgreSQL's SUM(bigint) is numeric


_SESSION_CALLS = (
    f"SELECT agent, {_sum('calls')}, {_sum('talk_sum')} FROM {{agent_hours}} GROUP BY agent"
)


def _holdtime_buckets(results: list[list[tuple]]) -> list[list[tuple]]:
    """Cumulative counts (≤15 ... ≤90, all) → (bucket, count) rows as the raw query groups them."""
    (*cumulative, total), = results[0]
    if total is None:
        return [[]]
    rows, below = [], 0
    for bucket, count in enumerate([*cumulative, total]):
        if count - below:
            rows.append((bucket, count - below))
        below = count
    return [rows]


def _by_outcome(outcomes: tuple[str, ...]) -> Callable[[list[list[tuple]]], list[list[tuple]]]:
    """Per-outcome sums (one row) → (outcome, count) rows as the raw query groups and orders them."""

    def adapt(results: list[list[tuple]]) -> list[list[tuple]]:
        (counts,) = results[0]
        rows = [(o, n) for o, n in zip(outcomes, counts, strict=True) if n]
        return [sorted(rows, key=lambda row: (-row[1], row[0]))]

    return adapt


def _outcome_sums(side: str, outcomes: tuple[str, ...]) -> str:
    return "SELECT " + ", ".join(_sum(f"{side}_{o.lower()}") for o in outcomes) + " FROM {hours}"


_HOURS = "FROM {hours}"
SUMMARISED: Mapping[str, Summarised] = {
    "answered_calls_detail": Summarised((f"SELECT COALESCE({_sum('a_calls')}, 0) {_HOURS}", None)),
    "unanswered_calls_detail": Summarised(
        (f"SELECT COALESCE({_sum('u_calls')}, 0) {_HOURS}", None)
    ),
    "answered_calls_by_queue": Summarised(
        (
            f"SELECT queue, {_sum('a_calls')} {_HOURS} GROUP BY queue"
            " HAVING SUM(a_calls) > 0 ORDER BY queue",
        )
    ),
    "answered_calls_by_agent": Summarised(
        (
            f"SELECT agent, {_sum('calls')}, {_sum('talk_sum')}, {_sum('talk_n')},"
            f" {_sum('wait_sum')}, {_sum('wait_n')} FROM {{agent_hours}}"
            " GROUP BY agent ORDER BY agent",
        ),
        by_agent=True,
    ),
    "answered_calls_by_holdtime": Summarised(
        (
            "SELECT "
            + ", ".join(_sum(f"a_w{limit}") for limit in HOLDTIME_LIMITS)
            + f", {_sum('a_calls')} {_HOURS}",
        ),
        _holdtime_buckets,
    ),
    "answered_calls_by_event": Summarised(
        (_outcome_sums("a", ANSWERED_OUTCOMES),), _by_outcome(ANSWERED_OUTCOMES)
    ),
    "unanswered_calls_by_queue": Summarised(
        (
            f"SELECT queue, {_sum('u_calls')}, {_sum('u_abandon')}, {_sum('u_wait_sum')},"
            f" {_sum('u_wait_n')} {_HOURS} GROUP BY queue HAVING SUM(u_calls) > 0 ORDER BY queue",
        )
    ),
    "unanswered_calls_by_event": Summarised(
        (_outcome_sums("u", UNANSWERED_OUTCOMES),), _by_outcome(UNANSWERED_OUTCOMES)
    ),
    **{
        f"distribution_by_{period}": Summarised(
            (
                f"SELECT {{local_hour}} / 3600, {_sum('calls')}, {_sum('a_calls')},"
                f" {_sum('u_calls')}, {_sum('a_talk_sum')}, {_sum('a_talk_n')},"
                f" {_sum('a_wait_sum')}, {_sum('a_wait_n')} {_HOURS} GROUP BY 1",
                None,
                None,
            )
        )
        for period in PERIODS
    },
    "distribution_by_queue": Summarised(
        (
            f"SELECT queue, {_sum('calls')}, {_sum('a_calls')}, {_sum('u_calls')},"
            f" {_sum('u_abandon')}, {_sum('a_talk_sum')}, {_sum('a_talk_n')},"
            f" {_sum('a_wait_sum')}, {_sum('a_wait_n')}, {_sum('{within}')}"
            f" {_HOURS} GROUP BY queue ORDER BY queue",
        ),
        thresholds=True,
    ),
    "service_level": Summarised(
        (
            f"SELECT queue, {{threshold}}, {_sum('a_calls')}, {_sum('{within}')},"
            f" {_sum('u_calls')}, {_sum('u_calls - {unanswered_within}')}"
            f" {_HOURS} GROUP BY queue ORDER BY queue",
        ),
        thresholds=True,
    ),
    "agent_sessions": Summarised(
        (
            None,
            None,
            _SESSION_CALLS,
        ),
        by_agent=True,
        run=lambda *args: _agent_sessions_by_day(*args),
    ),
    **{
        f"answered_calls_by_{name}": Summarised(
            (f"SELECT {name}, {_sum('calls')} FROM {{{name}_hours}} GROUP BY 1 ORDER BY 1",)
        )
        for name in ("url", "did")
    },
    "transfers": Summarised(
        (
            f"SELECT agent, target, {_sum('calls')} FROM {{transfer_hours}}"
            " GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        by_agent=True,
    ),
}


def whole_hours(scope: Scope) -> bool:
    """Whether hourly rows answer the scope exactly: range, offset changes, offsets and window
    all on whole hours."""
    edges = [scope.start, scope.end, *(at for at, _ in scope.offsets[1:])]
    edges += [offset for _, offset in scope.offsets]
    edges += list(scope.window or ())
    return all(edge % HOUR == 0 for edge in edges)


def day_split(scope: Scope) -> tuple[int, int] | None:
    """The whole UTC days [first, last) inside a scope without a window, which agent_days
    answers (the hours around them stay with agent_hours), or None."""
    if scope.window is not None:
        return None
    first, last = -(-scope.start // DAY), scope.end // DAY
    return (first, last) if first < last else None


def hours_sql(
    scope: Scope, agents: bool, days: tuple[int, int] | None = None
) -> tuple[str, list[Any]]:
    """The WHERE condition selecting a scope's summary rows (agent too for agent_hours), but
    those of the `days` (UTC day numbers [first, last))."""
    parts = ["hour >= ?", "hour < ?"]
    params: list[Any] = [scope.start // HOUR, scope.end // HOUR]
    if days is not None:  # the two edges as two index ranges, not the whole range filtered
        parts = ["((hour >= ? AND hour < ?) OR (hour >= ? AND hour < ?))"]
        params = [params[0], days[0] * 24, days[1] * 24, params[1]]
    if scope.window is not None:
        local, local_params = local_sql(scope, "(hour * 3600)")
        of_day = f"({local} - ({local} / {DAY}) * {DAY})"
        low, high = scope.window
        joiner = "AND" if low <= high else "OR"
        parts.append(f"({of_day} >= ? {joiner} {of_day} < ?)")
        params += local_params * 2 + [low] + local_params * 2 + [high]
    return _and_names(parts, params, scope, agents)


def _and_names(
    parts: list[str], params: list[Any], scope: Scope, agents: bool
) -> tuple[str, list[Any]]:
    columns = (("queue", scope.queues), ("agent", scope.agents if agents else None))
    for column, values in columns:
        if values is not None:
            sql, more = _in(column, values)
            parts.append(sql)
            params += more
    return " AND ".join(parts), params


def source_sql(
    scope: Scope, agents: bool, used: tuple[str, ...] | None = None
) -> tuple[str, list[Any]]:
    """The summary rows of a scope plus its open calls, as one subquery (of the `used` columns)."""
    where_open, open_params = scope_sql(scope, "enter_time")
    days = day_split(scope) if agents else None
    where_hours, params = hours_sql(scope, agents, days)
    if days is None:
        build = agent_hours_sql if agents else queue_hours_sql
        return build(where_hours, where_open, used), params + open_params
    where_days, days_params = _and_names(["day >= ?", "day < ?"], list(days), scope, True)
    sql = agent_hours_sql(where_hours, where_open, used, where_days)
    return sql, params + days_params + open_params


def value_source_sql(scope: Scope, summary: ValueSummary) -> tuple[str, list[Any]]:
    """A value summary's rows of a scope (whole UTC days from its day table, the hours around
    them from its hour table) plus its open calls, as one subquery."""
    where_open, open_params = scope_sql(scope, "enter_time")
    agents = "agent" in summary.columns
    days = day_split(scope)
    where_hours, params = hours_sql(scope, agents, days)
    if days is None:
        return value_sql(summary, where_hours, where_open), params + open_params
    where_days, days_params = _and_names(["day >= ?", "day < ?"], list(days), scope, agents)
    sql = value_sql(summary, where_hours, where_open, where_days)
    return sql, params + days_params + open_params


_SOURCES = {"hours": False, "agent_hours": True}


def narrowed(
    template: str, slots: Mapping[str, Callable[[], tuple[str, list[Any]]]], scope: Scope
) -> dict[str, Callable[[], tuple[str, list[Any]]]]:
    """The slots with the summary subqueries carrying only the columns the template uses."""
    text = _SLOT.sub(lambda m: "" if m.group(1) in _SOURCES else slots[m.group(1)]()[0], template)
    columns = {False: QUEUE_KEY + QUEUE_SUMS, True: AGENT_KEY + AGENT_SUMS}
    return {
        **slots,
        **{
            name: (lambda a=agents: source_sql(scope, a, columns_used(text, columns[a])))
            for name, agents in _SOURCES.items()
        },
    }


def within_sql(
    thresholds: Mapping[str, int], default: int, side: str = "a"
) -> tuple[str, list[Any]]:
    """The cumulative wait column of each queue's service-level threshold (answered calls, or
    unanswered with `side` "u")."""
    default_column = wait_column(default, side)
    if not thresholds:
        return str(default_column), []
    whens = " ".join(f"WHEN ? THEN {wait_column(t, side)}" for _, t in sorted(thresholds.items()))
    return f"(CASE queue {whens} ELSE {default_column} END)", sorted(thresholds)


def summarised_for(
    name: str, scope: Scope, thresholds: Mapping[str, int], default_threshold: int
) -> Summarised | None:
    """The summary form of a report when it answers this scope exactly, else None."""
    plan = SUMMARISED.get(name)
    if plan is None or not whole_hours(scope):
        return None
    if scope.agents is not None and not plan.by_agent:
        return None
    if plan.thresholds and not {default_threshold, *thresholds.values()} <= set(WAIT_STEPS):
        return None
    return plan


# -- the shell ------------------------------------------------------------------------------------


def resolve_names(
    store: Store, table: str, tokens: Sequence[str], visible: Callable[[str], bool], what: str
) -> tuple[str, ...] | None:
    """Names for given names or ids (None = all); a name the viewer may not see → 403."""
    if not tokens or any(t.upper() == "ALL" or t == "-1" for t in tokens):
        return None
    known = dict(store.query(f"SELECT name, id FROM {table}"))
    by_id = {str(ident): name for name, ident in known.items()}
    names = []
    for token in tokens:
        name = token if token in known else by_id.get(token, token)
        if not visible(name):
            raise forbidden(f"forbidden_{what}", f"not allowed to see {what} {token[:80]!r}")
        names.append(name)
    return tuple(dict.fromkeys(names))


def agent_visibility(user: Viewer, names: Registry) -> Callable[[str | None], bool]:
    """Whether a user may see what a logged name did: restricted to an agent, every name the
    agent is logged under (its interface too) is theirs."""
    if not user.agents:
        return lambda name: True
    allowed = {names.resolve(agent) for agent in user.agents}
    return lambda name: name is not None and names.resolve(name) in allowed


def resolve_scope(
    store: Store, tz: tzinfo, params: ReportParams, user: Viewer, names: Registry | None = None
) -> Scope:
    """The scope of a request for a user: explicit queues/agents checked, restrictions applied;
    agents (given by name, alias or id) become every name they are logged under."""
    names = names or store.registry()
    queues = resolve_names(store, "queues", params.queues, user.sees_queue, "queue")
    agents = resolve_names(store, "agents", params.agents, agent_visibility(user, names), "agent")
    if queues is None and user.queues:
        queues = tuple(sorted(user.queues))
    if agents is not None:
        agents = names.expand(agents)
    elif user.agents:
        agents = names.expand(user.agents)
    return make_scope(params, tz, queues, agents)


def display_names(store: Store, table: str) -> dict[str, str]:
    return {
        name: display or name
        for name, display in store.query(f"SELECT name, display_name FROM {table}")
    }


def slots_for(
    scope: Scope, thresholds: Mapping[str, int], default_threshold: int
) -> dict[str, Callable[[], tuple[str, list[Any]]]]:
    """The SQL fragments report templates may use, for one scope."""
    return {
        "calls": lambda: scope_sql(scope, "enter_time"),
        "logins": lambda: scope_sql(scope, "start_time"),
        "logoffs": lambda: scope_sql(scope, "end_time"),
        "overlap": lambda: overlap_sql(scope),
        "local_enter": lambda: local_sql(scope, "enter_time"),
        "local_start": lambda: local_sql(scope, "start_time"),
        "local_end": lambda: local_sql(scope, "end_time"),
        "threshold": lambda: threshold_sql(thresholds, default_threshold),
        "hours": lambda: source_sql(scope, agents=False),
        "agent_hours": lambda: source_sql(scope, agents=True),
        **{
            f"{summary.name}_hours": (lambda s=summary: value_source_sql(scope, s))
            for summary in VALUE_SUMMARIES
        },
        "local_hour": lambda: local_sql(scope, "(hour * 3600)"),
        "within": lambda: within_sql(thresholds, default_threshold),
        "unanswered_within": lambda: within_sql(thresholds, default_threshold, "u"),
        **{name: (lambda sql=sql: (sql, [])) for name, sql in _KINDS.items()},
    }


def run_report(
    store: Store,
    settings: Settings,
    name: str,
    params: ReportParams,
    user: Viewer,
    summaries: bool = True,
) -> Page:
    """Run one report of the catalogue for a user: the requested page and the row count.

    Through the hourly summaries when they answer the request exactly (`summaries=False`
    forces the raw tables, the reference)."""
    report = REPORTS.get(name)
    if report is None:
        raise not_found("unknown_report", f"no report named {name[:80]!r}")
    tz = ZoneInfo(settings.timezone)
    names = store.registry()
    scope = resolve_scope(store, tz, params, user, names)
    slots = slots_for(scope, settings.service_levels, settings.service_level)
    queries, adapt = report.queries, None
    plan = summarised_for(name, scope, settings.service_levels, settings.service_level)
    if summaries and plan is not None:
        queries = tuple(s or raw for s, raw in zip(plan.queries, queries, strict=True))
        adapt = plan.adapt
    ctx = Context(tz, scope, params.now, registry=names)
    offset = (params.page - 1) * params.rows
    if report.paged:
        count_sql, rows_sql = (render(q, narrowed(q, slots, scope)) for q in queries)
        records = store.query_one(*count_sql)[0]
        rows: list[tuple] = []
        if offset < records:
            rows = store.query(
                rows_sql[0] + " LIMIT ? OFFSET ?", rows_sql[1] + [params.rows, offset]
            )
            ctx = Context(tz, scope, params.now, display_names(store, "queues"),
                          display_names(store, "agents"), names)  # fmt: skip
        return Page(records, report.shape([rows], ctx))
    if summaries and plan is not None and plan.run is not None:
        shaped_rows = plan.run(
            store, scope, ctx, lambda q: store.query(*render(q, narrowed(q, slots, scope)))
        )
        if shaped_rows is not None:
            return Page(len(shaped_rows), shaped_rows[offset : offset + params.rows])
    results = [store.query(*render(q, narrowed(q, slots, scope))) for q in queries]
    if adapt is not None:
        results = adapt(results)
    shaped = report.shape(results, ctx)
    return Page(len(shaped), shaped[offset : offset + params.rows])


# -- other entities: search, call, queues, agents ---------------------------------------------------


def _visible_sql(user: Viewer, names: Registry) -> tuple[str, list[Any]]:
    parts, params = ["1 = 1"], []
    agents = names.expand(user.agents) if user.agents else ()
    for column, values in (("queue", tuple(sorted(user.queues))), ("agent", agents)):
        if values:
            sql, more = _in(column, values)
            parts.append(sql)
            params += more
    return " AND ".join(parts), params


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_sql(scope: Scope, search: SearchParams) -> tuple[str, list[Any]]:
    """The condition a queue call must meet for its call to be found."""
    sql, params = scope_sql(scope, "enter_time")
    parts = [sql]
    if search.uniqueid is not None:
        parts.append("callid = ?")
        params.append(search.uniqueid)
    for column, value in (("callerid", search.clid), ("url", search.url)):
        if value is not None:
            parts.append(f"{column} LIKE ? ESCAPE '\\'")
            params.append(_like(value))
    if search.did is not None:
        parts.append("did = ?")
        params.append(search.did)
    if search.tag is not None:
        parts.append("1 = 0")  # calls carry no tags in this product
    for column, bounds in (("wait", search.waittime), ("talk", search.talktime)):
        if bounds is not None:
            low, high = bounds
            if low is not None:
                parts.append(f"COALESCE({column}, 0) >= ?")
                params.append(low)
            if high is not None:
                parts.append(f"COALESCE({column}, 0) <= ?")
                params.append(high)
    return " AND ".join(parts), params


def search_calls(
    store: Store, settings: Settings, params: ReportParams, search: SearchParams, user: Viewer
) -> Page:
    """One row per call (callid) with a matching queue call, built from the stays the user sees."""
    tz = ZoneInfo(settings.timezone)
    names = store.registry()
    scope = resolve_scope(store, tz, params, user, names)
    match, match_params = search_sql(scope, search)
    records = store.query_one(
        f"SELECT COUNT(DISTINCT callid) FROM queue_calls WHERE {match}", match_params
    )[0]
    offset = (params.page - 1) * params.rows
    if offset >= records:
        return Page(records, [])
    callids = _first_callids(store, match, match_params, offset, params.rows)
    visible, visible_params = _visible_sql(user, names)
    stays: dict[str, list[tuple]] = defaultdict(list)
    inside, in_params = _in("callid", callids)
    for row in store.query(
        "SELECT callid, queue, enter_time, end_time, outcome, agent, wait, talk, callerid, did"
        f" FROM queue_calls WHERE {inside} AND {visible} ORDER BY enter_time, id",
        in_params + visible_params,
    ):
        stays[row[0]].append(row)
    queue_names = display_names(store, "queues")
    ctx = Context(tz, scope, params.now, queue_names, display_names(store, "agents"), names)
    rows = [
        search_row(stays[callid], tz, params.now, queue_names, ctx)
        for callid in callids
        if stays.get(callid)
    ]
    return Page(records, rows)


def _first_callids(
    store: Store, match: str, params: list[Any], offset: int, count: int
) -> list[str]:
    """The callids `offset` .. `offset + count` in order of their first matching stay (then
    callid): the stays are read in that order in chunks (the enter_time index gives it) and
    stop once the page is full, instead of grouping every stay of the range first."""
    seen: set[str] = set()
    page: list[str] = []
    after: tuple[int, str] | None = None
    chunk = max(1000, 2 * count)
    while len(page) < count:
        keyset, keyset_params = ("", []) if after is None else (
            " AND (enter_time > ? OR (enter_time = ? AND callid > ?))",
            [after[0], after[0], after[1]],
        )  # fmt: skip
        rows = store.query(
            f"SELECT enter_time, callid FROM queue_calls WHERE {match}{keyset}"
            " ORDER BY enter_time, callid LIMIT ?",
            params + keyset_params + [chunk],
        )
        for _, callid in rows:
            if callid not in seen:
                seen.add(callid)
                if len(seen) > offset:
                    page.append(callid)
                    if len(page) == count:
                        break
        if len(rows) < chunk:
            break
        after = rows[-1]
    return page


def search_row(
    stays: list[tuple],
    tz: tzinfo,
    now: int,
    queue_names: Mapping[str, str],
    ctx: Context,
) -> dict[str, str]:
    """A search row from the stays (queue calls, in time order) of one callid."""
    first, last = stays[0], stays[-1]
    callid = first[0]
    agents = [s[5] for s in stays if s[5]]
    agent = ctx.agent(agents[-1]) if agents else "NONE"
    ends = [s[3] for s in stays if s[3] is not None]
    date_end = max(ends) if ends and all(s[3] is not None for s in stays) else None
    dids = [s[9] for s in stays if s[9]]
    date_start = local_time(first[2], tz)
    queue_name = queue_names.get(last[1], last[1])
    return {
        "firstEvent": "ENTERQUEUE",
        "overflow": str(len({s[1] for s in stays})),
        "uniqueid": callid,
        "callerid": first[8],
        "dateStart": date_start,
        "dateEnd": local_time(date_end, tz),
        "event": last[4] if last[4] is not None else "ENTERQUEUE",
        "agent": agent,
        "queue": last[1],
        "waitTime": num(last[6]),
        "talkTime": str(sum(s[7] or 0 for s in stays)),
        "combinedWaitTime": str(sum(s[6] or 0 for s in stays)),
        "totalDuration": str(max(0, (date_end if date_end is not None else now) - first[2])),
        "recordingFilename": "",
        "agent_name": ctx.agent_name(agent) if agents else "NONE",
        "queue_name": queue_name,
        "callflow": callflow(callid),
        # Keys real client scripts read beside the documented ones (reports.md).
        "clid": first[8],
        "did": dids[0] if dids else "",
        "datetime": date_start,
        "queuename": queue_name,
        "queuereal": last[1],
    }


def call_events(
    store: Store, settings: Settings, uniqueid: str, user: Viewer
) -> list[dict[str, str]]:
    """Every queue_log row of a call the user may see, in time order; 404 for others."""
    stays = store.query("SELECT queue, agent FROM queue_calls WHERE callid = ?", (uniqueid,))
    names = store.registry()
    sees_agent = agent_visibility(user, names)
    if not any(user.sees_queue(queue) and sees_agent(agent) for queue, agent in stays):
        raise not_found("call_not_found", f"no call {uniqueid[:80]!r}")
    tz = ZoneInfo(settings.timezone)
    queue_names = display_names(store, "queues")
    ctx = Context(tz, Scope(0, 0, ((0, 0),)), 0, queue_names, display_names(store, "agents"),
                  names)  # fmt: skip
    rows = []
    for ident, when, queue, agent, event, data in store.call_events(uniqueid):
        if not user.sees_queue(queue) or (agent != "NONE" and not sees_agent(agent)):
            continue
        info = data_columns(data)
        rows.append({
            "id": str(ident), "uniqueid": uniqueid, "datetime": local_time(when, tz),
            "queue": queue, "agent": agent, "event": event,
            "info1": info[0], "info2": info[1], "info3": info[2], "info4": info[3], "info5": info[4],
            "agentName": ctx.agent_name(agent) if agent != "NONE" else agent,
            "queueName": queue_names.get(queue, queue),
        })  # fmt: skip
    return rows


def list_queues(store: Store, user: Viewer, ident: str | None = None) -> list[dict[str, str]]:
    """The queues the user may see (with ALL = -1), sorted by name; or the one with `ident`."""
    rows = [("-1", "ALL", "ALL")] + [
        (str(i), name, display or name)
        for i, name, display in store.query("SELECT id, name, display_name FROM queues")
        if user.sees_queue(name)
    ]
    return _entries(rows, ident, ("queue_id", "queue", "queue_name"))


def list_agents(store: Store, user: Viewer, ident: str | None = None) -> list[dict[str, str]]:
    """One row per agent (person) the user may see, its aliases listed (with ALL = -1); a
    queue-restricted user sees the agents met in its queues (sessions, pauses, calls). An id or
    name of an alias finds its agent."""
    names = store.registry()
    sees_agent = agent_visibility(user, names)
    met = None
    if user.queues:
        inside, params = _in("queue", sorted(user.queues))
        met = {
            names.resolve(agent)
            for (agent,) in store.query(
                f"SELECT DISTINCT agent FROM agent_intervals WHERE {inside}"
                f" UNION SELECT DISTINCT agent FROM queue_calls WHERE {inside}"
                " AND agent IS NOT NULL",
                params * 2,
            )
        }
    ids = dict(store.query("SELECT name, id FROM agents"))
    aliases = names.aliases()
    if ident is not None and ident not in ids and ident != "-1":
        by_id = {str(i): name for name, i in ids.items()}
        ident = by_id.get(ident, ident)
    if ident is not None and ident in ids:
        ident = str(ids.get(names.resolve(ident), ids[ident]))
    rows = [("-1", "ALL", "ALL", "")] + [
        (str(i), name, names.shown(name), ",".join(aliases.get(name, ())))
        for name, i in ids.items()
        if names.resolve(name) == name and sees_agent(name) and (met is None or name in met)
    ]
    return _entries(rows, ident, ("agent_id", "agent", "agent_name", "aliases"))


def _entries(
    rows: list[tuple[str, ...]], ident: str | None, keys: tuple[str, ...]
) -> list[dict[str, str]]:
    if ident is not None:
        rows = [r for r in rows if r[0] == ident] or [r for r in rows if r[1] == ident][:1]
        if not rows:
            raise not_found(f"{keys[1]}_not_found", f"no {keys[1]} {ident[:80]!r}")
    return [dict(zip(keys, row, strict=True)) for row in sorted(rows, key=lambda r: r[1])]
