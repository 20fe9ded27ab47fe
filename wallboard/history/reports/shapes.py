"""Result sets -> report rows (pure): each shape turns a report's result sets into rows of
strings, as the original product returns them, in the order of the report's columns (which the
catalogue names once: a shape gives values, the runner pairs them with the names).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from operator import itemgetter

from wallboard.history import coverage
from wallboard.history.callmodel import average, percent
from wallboard.history.registry import Registry
from wallboard.history.reports.scope import Scope, callflow, in_window, local_time, measure, num

Row = tuple[str, ...]


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


Shape = Callable[[list[list[tuple]], Context], list[Row]]


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


# -- detail reports ---------------------------------------------------------------------------------


def answered_detail(results: list[list[tuple]], ctx: Context) -> list[Row]:
    return [
        (
            local_time(connect, ctx.tz, "%d-%m-%Y %H:%M:%S"), queue, ctx.agent(agent), callerid,
            event or "", num(wait), num(ring), num(talk), ctx.agent_name(agent),
            ctx.queue_names.get(queue, queue), "", callid, callflow(callid), url, did,
        )  # fmt: skip
        for connect, queue, agent, callerid, event, wait, ring, talk, callid, url, did in results[0]
    ]


def unanswered_detail(results: list[list[tuple]], ctx: Context) -> list[Row]:
    return [
        (
            local_time(when, ctx.tz, "%d-%m-%Y %H:%M:%S"), queue, callerid, event or "",
            num(wait), num(position), num(origpos), callid, callflow(callid), url, did,
            ctx.queue_names.get(queue, queue), ctx.agent_name(agent),
        )  # fmt: skip
        for when, queue, callerid, event, wait, position, origpos, callid, url, did, agent
        in results[0]
    ]


def agent_pauses(results: list[list[tuple]], ctx: Context) -> list[Row]:
    return [
        (
            ctx.agent(agent), queue, local_time(start, ctx.tz), local_time(end, ctx.tz),
            str(max(0, (end if end is not None else ctx.now) - start)), reason,
        )  # fmt: skip
        for agent, queue, start, end, reason in results[0]
    ]


# -- grouped reports --------------------------------------------------------------------------------


def count_share(results: list[list[tuple]], ctx: Context) -> list[Row]:
    """Rows (key, count) -> (key, count, share of the total)."""
    total = sum(count for _, count in results[0])
    return [(key or "", str(count), percent(count, total)) for key, count in results[0]]


def by_agent(results: list[list[tuple]], ctx: Context) -> list[Row]:
    rows = fold(results[0], 1, ctx)
    calls_total = sum(r[1] for r in rows)
    talk_total = sum(r[2] or 0 for r in rows)
    return [
        (
            agent or "", str(calls), percent(calls, calls_total), num(talk),
            percent(talk or 0, talk_total), average(talk or 0, talk_n), num(wait),
            average(wait or 0, wait_n),
        )  # fmt: skip
        for agent, calls, talk, talk_n, wait, wait_n in rows
    ]


HOLDTIME_LIMITS = (15, 30, 45, 60, 75, 90)
HOLDTIME_LABELS = tuple(f"{limit} secs" for limit in HOLDTIME_LIMITS) + (
    f"{HOLDTIME_LIMITS[-1] + 1}+ secs",
)


def by_holdtime(results: list[list[tuple]], ctx: Context) -> list[Row]:
    counts = [0] * len(HOLDTIME_LABELS)
    for bucket, count in results[0]:
        counts[bucket] += count
    total = sum(counts)
    if not total:
        return []
    rows: list[Row] = []
    cumulative = 0
    for label, count in zip(HOLDTIME_LABELS, counts, strict=True):
        cumulative += count
        rows.append((label, str(cumulative), str(count), percent(cumulative, total)))
    return rows


def unanswered_by_queue(results: list[list[tuple]], ctx: Context) -> list[Row]:
    rows = results[0]
    total = sum(r[1] for r in rows)
    return [
        (queue, str(count), num(abandoned), percent(count, total), average(wait or 0, wait_n),
         num(unknown))
        for queue, count, abandoned, wait, wait_n, unknown in rows
    ]  # fmt: skip


def service_level(results: list[list[tuple]], ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for queue, threshold, answered, within, unanswered, over in results[0]:
        answered, within, unanswered, over = (v or 0 for v in (answered, within, unanswered, over))
        rows.append((
            queue, str(threshold), str(answered), str(within), percent(within, answered),
            str(unanswered), percent(within, answered + over),
        ))  # fmt: skip
    return rows


def transfers(results: list[list[tuple]], ctx: Context) -> list[Row]:
    return [(agent or "", target, str(count)) for agent, target, count in fold(results[0], 2, ctx)]


def distribution_by_queue(results: list[list[tuple]], ctx: Context) -> list[Row]:
    """One row per queue; shares of the column totals and averages as the other distributions
    have them, the service level as `service_level`'s SL answered %."""
    rows = [tuple(v or 0 for v in row[1:]) for row in results[0]]
    answered_total = sum(r[1] for r in rows)
    unanswered_total = sum(r[2] for r in rows)
    shaped: list[Row] = []
    for (queue, *_), row in zip(results[0], rows, strict=True):
        received, answered, unanswered, abandoned, talk, talk_n, wait, wait_n, within, unknown = row
        shaped.append((
            queue, str(received), str(answered), percent(answered, answered_total),
            str(unanswered), percent(unanswered, unanswered_total), str(abandoned),
            average(wait, wait_n), average(talk, talk_n), percent(within, answered), str(unknown),
        ))  # fmt: skip
    return shaped


def headline(results: list[list[tuple]], ctx: Context) -> list[Row]:
    """The period's figures: SL answered %, ASA (average wait of the answered), AHT (average
    talk of the answered that ended), the longest wait of any call."""
    received, answered, unanswered, abandoned, unknown, talk, talk_n, wait, wait_n, within, longest = (
        v or 0 for v in results[0][0]
    )
    return [(
        str(received), str(answered), str(unanswered), str(abandoned), str(unknown),
        percent(within, answered), average(wait, wait_n), average(talk, talk_n), str(longest),
        str(within),
    )]  # fmt: skip


# -- distributions over periods ---------------------------------------------------------------

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


def distribution(period: str) -> Shape:
    periods, key_of = PERIODS[period]

    def shape(results: list[list[tuple]], ctx: Context) -> list[Row]:
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
            rows.append((
                label, str(received), str(answered), percent(answered, answered_total),
                str(unanswered), percent(unanswered, unanswered_total), average(talk, talk_n),
                average(wait, wait_n), str(logins_n), str(logoffs_n),
            ))  # fmt: skip
        return rows

    return shape


# -- agent time -------------------------------------------------------------------------------

START = itemgetter(1)


def union(rows: Iterable[tuple], now: int, scope: Scope) -> list[tuple[int, int]]:
    """The union, clipped to the scope's range, of (agent, start, end) rows in start order (an
    open interval ends now) as sorted disjoint intervals."""
    spans = ((start, end if end is not None else max(now, start)) for _, start, end in rows)
    return coverage.union(spans, scope.start, scope.end, in_order=True)


def count_starts(rows: Iterable[tuple], scope: Scope) -> int:
    """How many distinct start times of (agent, start, end) rows fall inside the scope."""
    if scope.window is None:
        low, high = scope.start, scope.end
        return len({row[1] for row in rows if low <= row[1] < high})
    return len({row[1] for row in rows if in_window(row[1], scope)})


def session_row(
    agent: str, logged: int, paused: int, paused_in: int, pauses: int, calls: int, talk: int,
    static: bool = False,
) -> Row:  # fmt: skip
    """One agent_sessions row. A static member (queues.conf) logs no sessions, so its logged-in
    time and occupancy are not measured: they are left empty, and `Membership` says why."""
    occupancy = percent(talk, logged - paused_in) if logged > paused_in else "0.00"
    return (
        agent, "" if static else str(logged), str(paused), str(pauses), str(calls), str(talk),
        "" if static else occupancy, "static" if static else "dynamic",
    )  # fmt: skip


def is_static(agent: str, logged: int, ctx: Context) -> bool:
    """No logged-in time measured, and not known to log sessions: a static member."""
    return not logged and ctx.registry.membership_of(agent) != "dynamic"


def agent_sessions(results: list[list[tuple]], ctx: Context) -> list[Row]:
    sessions, pauses, calls = results  # (name, start, end) rows in start order
    scope, now = ctx.scope, ctx.now
    logged: dict[str, list[tuple]] = defaultdict(list)
    paused: dict[str, list[tuple]] = defaultdict(list)
    for rows, by_name in ((sessions, logged), (pauses, paused)):
        for row in rows:
            by_name[ctx.agent(row[0])].append(row)
    for by_name in (logged, paused):
        for agent_rows in by_name.values():
            agent_rows.sort(key=START)  # an agent's names merged: back in start order
    talk = {agent: (count, total) for agent, count, total in fold(calls, 1, ctx)}
    out = []
    for agent in sorted(set(logged) | set(paused) | set(talk)):
        logged_in = union(logged.get(agent, ()), now, scope)
        pause_rows = paused.get(agent, ())
        pause_union = union(pause_rows, now, scope)
        logged_s = measure(logged_in, scope)
        paused_s = measure(pause_union, scope)
        paused_in = measure(coverage.intersect(logged_in, pause_union), scope)
        pause_count = count_starts(pause_rows, scope)
        count, talk_s = talk.get(agent, (0, 0))
        if not (logged_s or paused_s or pause_count or count):
            continue  # only met outside the time-of-day window
        out.append(session_row(agent, logged_s, paused_s, paused_in, pause_count, count, talk_s,
                               is_static(agent, logged_s, ctx)))  # fmt: skip
    return out
