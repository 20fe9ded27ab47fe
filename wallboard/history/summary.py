"""Hourly summaries of closed queue calls (pure): what a closed call adds to them, and their SQL.

`queue_hours` holds, per UTC hour of enter time and queue, the counts, wait and talk sums,
cumulative wait counts and per-outcome counts of the answered and of the unanswered calls, so
queue-level reports read one row per hour and queue instead of every call. `agent_hours` holds the
answered calls per hour, queue and agent, `agent_days` the same per UTC day (for the whole days
inside a range; the hours around them come from agent_hours). A call is added once, when it closes; calls still
waiting or talking stay in queue_calls and the reports add them on top.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

from wallboard.history.callmodel import (
    ANSWERED_ENDS,
    ANSWERED_SQL,
    CLOSED_SQL,
    OPEN_SQL,
    TRANSFER_OUTCOMES,
    TRANSFER_TO_SQL,
    TRANSFERRED_SQL,
    UNANSWERED_ENDS,
    UNANSWERED_SQL,
    is_answered,
    is_open,
    is_unanswered,
    transfer_target,
)
from wallboard.history.calls import QueueCall

HOUR = 3600
WAIT_STEPS = tuple(range(5, 125, 5))  # the cumulative wait columns, in seconds
WAIT_COLUMNS = tuple(f"w{step}" for step in WAIT_STEPS)

# The call model over a queue_calls row (history/callmodel.py).
_ANSWERED_CALLS = ANSWERED_CALLS = ANSWERED_SQL
_UNANSWERED_CALLS = UNANSWERED_CALLS = UNANSWERED_SQL
_CLOSED_CALLS = CLOSED_SQL
OPEN_CALLS = OPEN_SQL

# queue_hours, one row per UTC hour of enter time and queue: `calls` received; a_* of the
# answered calls, u_* of the unanswered: count, wait and talk sums, cumulative waits (a_w5 =
# answered calls waiting ≤ 5 s ...), and per outcome. Each column is also an SQL expression of
# what one queue_calls row adds to it (the backfill sums it, the open calls are read through it).
ANSWERED_OUTCOMES = (*sorted(ANSWERED_ENDS), "STALE", "CONNECT")  # CONNECT: talking, never stored
UNANSWERED_OUTCOMES = (*sorted(UNANSWERED_ENDS), "STALE")


def _sides() -> dict[str, str]:
    columns = {"calls": "1"}
    for side, condition, outcomes in (
        ("a", _ANSWERED_CALLS, ANSWERED_OUTCOMES),
        ("u", _UNANSWERED_CALLS, UNANSWERED_OUTCOMES),
    ):
        columns[f"{side}_calls"] = f"CASE WHEN {condition} THEN 1 ELSE 0 END"
        for value in ("wait", "talk"):
            columns[f"{side}_{value}_sum"] = (
                f"CASE WHEN {condition} AND {value} IS NOT NULL THEN {value} ELSE 0 END"
            )
            columns[f"{side}_{value}_n"] = (
                f"CASE WHEN {condition} AND {value} IS NOT NULL THEN 1 ELSE 0 END"
            )
        for step in WAIT_STEPS:
            columns[f"{side}_w{step}"] = (
                f"CASE WHEN {condition} AND COALESCE(wait, 0) <= {step} THEN 1 ELSE 0 END"
            )
        for outcome in outcomes:
            columns[f"{side}_{outcome.lower()}"] = (
                f"CASE WHEN {condition} AND outcome = '{outcome}' THEN 1 ELSE 0 END"
            )
    return columns


QUEUE_COLUMNS: dict[str, str] = _sides()
QUEUE_KEY = ("hour", "queue")
QUEUE_SUMS = tuple(QUEUE_COLUMNS)
AGENT_KEY = ("hour", "queue", "agent")
AGENT_SUMS = ("calls", "wait_sum", "wait_n", "talk_sum", "talk_n")
DAY_KEY = ("day", "queue", "agent")  # agent_days: agent_hours summed per UTC day


def _table(name: str, key: tuple[str, ...], sums: tuple[str, ...]) -> str:
    types = {"hour": "{int}", "day": "{int}", "connected": "{int}"}
    columns = [f"{c} {types.get(c, 'TEXT')} NOT NULL" for c in key]
    columns += [f"{c} {{int}} NOT NULL DEFAULT 0" for c in sums]
    return f"CREATE TABLE {name} ({', '.join(columns)}, PRIMARY KEY ({', '.join(key)}))"


def _case(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


# Round 1's migration (schema version 3), kept as it ran: queue_hours per hour, queue, outcome
# and connected-or-not; the next migration replaces it.
_V3_KEY = ("hour", "queue", "outcome", "connected")
_V3_SUMS = ("calls", "wait_sum", "wait_n", "talk_sum", "talk_n", *WAIT_COLUMNS)
MIGRATION: list[str] = [
    _table("queue_hours", _V3_KEY, _V3_SUMS),
    _table("agent_hours", AGENT_KEY, AGENT_SUMS),
    f"CREATE INDEX queue_calls_open ON queue_calls (enter_time) WHERE {OPEN_CALLS}",
    f"INSERT INTO queue_hours ({', '.join(_V3_KEY + _V3_SUMS)})"
    " SELECT enter_time / 3600, queue, outcome,"
    " CASE WHEN connect_time IS NOT NULL THEN 1 ELSE 0 END,"
    " COUNT(*), COALESCE(SUM(wait), 0), COUNT(wait), COALESCE(SUM(talk), 0), COUNT(talk), "
    + ", ".join(_case(f"COALESCE(wait, 0) <= {step}") for step in WAIT_STEPS)
    + f" FROM queue_calls WHERE {_CLOSED_CALLS} GROUP BY 1, 2, 3, 4",
    f"INSERT INTO agent_hours ({', '.join(AGENT_KEY + AGENT_SUMS)})"
    " SELECT enter_time / 3600, queue, COALESCE(agent, ''),"
    " COUNT(*), COALESCE(SUM(wait), 0), COUNT(wait), COALESCE(SUM(talk), 0), COUNT(talk)"
    f" FROM queue_calls WHERE {_CLOSED_CALLS} AND {_ANSWERED_CALLS} GROUP BY 1, 2, 3",
    "ANALYZE queue_hours",
    "ANALYZE agent_hours",
]

QUEUE_BACKFILL = (
    f"INSERT INTO queue_hours ({', '.join(QUEUE_KEY + QUEUE_SUMS)})"
    " SELECT enter_time / 3600, queue, "
    + ", ".join(f"SUM({expr})" for expr in QUEUE_COLUMNS.values())
    + f" FROM queue_calls WHERE {_CLOSED_CALLS} GROUP BY 1, 2"
)
AGENT_BACKFILL = MIGRATION[4]

DAY_BACKFILL = (
    f"INSERT INTO agent_days ({', '.join(DAY_KEY + AGENT_SUMS)}) SELECT hour / 24, queue, agent, "
    + ", ".join(f"SUM({c})" for c in AGENT_SUMS)
    + " FROM agent_hours GROUP BY 1, 2, 3"
)

# Schema version 4: queue_hours one row per hour and queue (outcomes as columns, 3.5x fewer
# rows), rebuilt from queue_calls; agent_days (9x fewer rows than agent_hours); and the
# interval-end and callid indexes, which databases created before they joined the first
# migration lack.
WIDE_MIGRATION: list[str] = [
    "DROP TABLE queue_hours",
    _table("queue_hours", QUEUE_KEY, QUEUE_SUMS),
    QUEUE_BACKFILL,
    # Covers the counts (detail reports' totals, by queue) without reading the wide rows.
    "CREATE INDEX queue_hours_counts ON queue_hours (hour, queue, calls, a_calls, u_calls)",
    _table("agent_days", DAY_KEY, AGENT_SUMS),
    DAY_BACKFILL,
    "ANALYZE agent_days",
    "CREATE INDEX IF NOT EXISTS agent_intervals_end ON agent_intervals (end_time)",
    "CREATE INDEX IF NOT EXISTS queue_calls_callid ON queue_calls (callid)",
    "ANALYZE queue_hours",
    "ANALYZE agent_intervals",
]


def _upsert(table: str, key: tuple[str, ...], sums: tuple[str, ...]) -> str:
    columns = key + sums
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    )


UPSERT_QUEUE_HOURS = _upsert("queue_hours", QUEUE_KEY, QUEUE_SUMS)
UPSERT_AGENT_HOURS = _upsert("agent_hours", AGENT_KEY, AGENT_SUMS)
UPSERT_AGENT_DAYS = _upsert("agent_days", DAY_KEY, AGENT_SUMS)


_AT = {name: index for index, name in enumerate(QUEUE_SUMS)}
_STEPS = len(WAIT_STEPS)


def _side_at(side: str) -> tuple[int, int, int, int, int, dict[str | None, int]]:
    """Where a side's columns sit in a queue_hours row: calls, wait sum/n, talk sum/n, and
    per outcome (the tracker closes calls with the known outcomes only)."""
    outcomes: dict[str | None, int] = {
        o: _AT[f"{side}_{o.lower()}"] for o in QUEUE_SUMS_OUTCOMES[side]
    }
    return (
        _AT[f"{side}_calls"], _AT[f"{side}_wait_sum"], _AT[f"{side}_wait_n"],
        _AT[f"{side}_talk_sum"], _AT[f"{side}_talk_n"], outcomes,
    )  # fmt: skip


QUEUE_SUMS_OUTCOMES = {"a": ANSWERED_OUTCOMES, "u": UNANSWERED_OUTCOMES}
_SIDES = {"a": _side_at("a"), "u": _side_at("u")}
_FIRST_WAIT = {side: _AT[f"{side}_w{WAIT_STEPS[0]}"] for side in _SIDES}


def summary_rows(calls: Iterable[QueueCall]) -> tuple[list[tuple], list[tuple]]:
    """The (queue_hours, agent_hours) rows the closed calls among `calls` add, in column order."""
    queue_sums: dict[tuple, tuple[list[int], list[int], list[int]]] = {}
    agent_sums: dict[tuple, list[int]] = {}
    width, waits = len(QUEUE_SUMS), _STEPS + 1
    a_at, u_at = _SIDES["a"], _SIDES["u"]
    for call in calls:
        outcome = call.outcome
        if is_open(outcome):
            continue  # open: not summarised until it closes
        key = (call.enter_time // HOUR, call.queue)
        entry = queue_sums.get(key)
        if entry is None:
            entry = queue_sums[key] = ([0] * width, [0] * waits, [0] * waits)
        sums = entry[0]
        sums[0] += 1
        wait, talk = call.wait, call.talk
        if is_answered(call.connect_time, outcome):
            at, buckets = a_at, entry[1]
            agent_key = (*key, call.agent or "")
            agent = agent_sums.get(agent_key)
            if agent is None:
                agent = agent_sums[agent_key] = [0, 0, 0, 0, 0]
            agent[0] += 1
            if wait is not None:
                agent[1] += wait
                agent[2] += 1
            if talk is not None:
                agent[3] += talk
                agent[4] += 1
        elif is_unanswered(call.connect_time, outcome):
            at, buckets = u_at, entry[2]
        else:
            continue
        sums[at[0]] += 1
        if wait is not None:
            sums[at[1]] += wait
            sums[at[2]] += 1
        if talk is not None:
            sums[at[3]] += talk
            sums[at[4]] += 1
        column = at[5].get(outcome)
        if column is not None:
            sums[column] += 1
        buckets[bisect_left(WAIT_STEPS, wait or 0)] += 1  # its 5-second bucket
    queue_rows = []
    for key, (sums, answered_waits, unanswered_waits) in queue_sums.items():
        for side, buckets in (("a", answered_waits), ("u", unanswered_waits)):
            first = _FIRST_WAIT[side]
            sums[first : first + _STEPS] = accumulate(buckets[:-1])  # waits up to each step
        queue_rows.append(key + tuple(sums))
    agent_rows = [key + tuple(sums) for key, sums in agent_sums.items()]
    return queue_rows, agent_rows


def day_rows(agent_rows: Iterable[tuple]) -> list[tuple]:
    """The agent_days rows that agent_hours rows (as summary_rows gives them) add."""
    days: dict[tuple, list[int]] = {}
    for hour, queue, agent, *sums in agent_rows:
        key = (hour // 24, queue, agent)
        total = days.get(key)
        if total is None:
            days[key] = sums
        else:
            days[key] = [a + b for a, b in zip(total, sums, strict=True)]
    return [key + tuple(sums) for key, sums in days.items()]


# -- per-value summaries: answered calls per url and per did, transfers per agent and target ----

_TRANSFERRED = TRANSFERRED_SQL
TRANSFER_TO = TRANSFER_TO_SQL  # where a transfer went, as the transfers report groups it


@dataclass(frozen=True)
class ValueSummary:
    """Closed calls counted per (hour, queue, value) in `{name}_hours` and per (day, queue,
    value) in `{name}_days`: which calls (`condition`) and their value columns (`columns`, as
    SQL expressions over queue_calls `exprs`; value_rows is the same in Python)."""

    name: str
    columns: tuple[str, ...]
    exprs: tuple[str, ...]
    condition: str

    @property
    def hour_key(self) -> tuple[str, ...]:
        return ("hour", "queue", *self.columns)

    @property
    def day_key(self) -> tuple[str, ...]:
        return ("day", "queue", *self.columns)


VALUE_SUMMARIES: tuple[ValueSummary, ...] = (
    ValueSummary("url", ("url",), ("url",), _ANSWERED_CALLS),
    ValueSummary("did", ("did",), ("did",), _ANSWERED_CALLS),
    ValueSummary(
        "transfer", ("agent", "target"), ("COALESCE(agent, '')", TRANSFER_TO), _TRANSFERRED
    ),
)


def value_hours_backfill(summary: ValueSummary) -> str:
    key = summary.hour_key
    return (
        f"INSERT INTO {summary.name}_hours ({', '.join(key)}, calls)"
        f" SELECT enter_time / 3600, queue, {', '.join(summary.exprs)}, COUNT(*)"
        f" FROM queue_calls WHERE {_CLOSED_CALLS} AND {summary.condition}"
        f" GROUP BY {', '.join(str(i + 1) for i in range(len(key)))}"
    )


def value_days_backfill(summary: ValueSummary) -> str:
    rest = ", ".join(summary.hour_key[1:])
    return (
        f"INSERT INTO {summary.name}_days ({', '.join(summary.day_key)}, calls)"
        f" SELECT hour / 24, {rest}, SUM(calls) FROM {summary.name}_hours"
        f" GROUP BY hour / 24, {rest}"
    )


# Schema version 5: the per-value summaries, backfilled.
VALUE_MIGRATION: list[str] = [
    statement
    for summary in VALUE_SUMMARIES
    for statement in (
        _table(f"{summary.name}_hours", summary.hour_key, ("calls",)),
        _table(f"{summary.name}_days", summary.day_key, ("calls",)),
        value_hours_backfill(summary),
        value_days_backfill(summary),
        f"ANALYZE {summary.name}_hours",
        f"ANALYZE {summary.name}_days",
    )
]
# Schema version 6: partial indexes for the reports' raw reads. Unanswered calls (a few % of
# all) in enter order, for the unanswered detail's page (its ORDER BY, so no sort); sessions
# and pauses in start order, covering agent_sessions' interval reads and the pauses detail's
# count. The conditions are the report queries' own terms, so the planner matches them.
PAGE_INDEX_MIGRATION: list[str] = [
    "CREATE INDEX IF NOT EXISTS queue_calls_unanswered"
    f" ON queue_calls (enter_time) WHERE {_UNANSWERED_CALLS}",
    *(
        f"CREATE INDEX IF NOT EXISTS agent_intervals_{kind}s ON agent_intervals"
        f" (start_time, end_time, agent, queue, kind) WHERE COALESCE(kind, '') = '{kind}'"
        for kind in ("session", "pause")
    ),
    "ANALYZE queue_calls",
    "ANALYZE agent_intervals",
]
# Schema version 7: the unanswered index with its term spelled as equalities (see above).
UNANSWERED_INDEX_MIGRATION: list[str] = [
    "DROP INDEX IF EXISTS queue_calls_unanswered",
    f"CREATE INDEX queue_calls_unanswered ON queue_calls (enter_time) WHERE {_UNANSWERED_CALLS}",
    "ANALYZE queue_calls",
]
UPSERT_VALUES: dict[str, tuple[str, str]] = {
    s.name: (
        _upsert(f"{s.name}_hours", s.hour_key, ("calls",)),
        _upsert(f"{s.name}_days", s.day_key, ("calls",)),
    )
    for s in VALUE_SUMMARIES
}


def value_rows(calls: Iterable[QueueCall]) -> dict[str, tuple[list[tuple], list[tuple]]]:
    """Per value summary, the (hours, days) rows the closed calls among `calls` add."""
    urls: dict[tuple, int] = {}
    dids: dict[tuple, int] = {}
    transfers: dict[tuple, int] = {}
    for call in calls:
        outcome = call.outcome
        if is_open(outcome):
            continue
        if is_answered(call.connect_time, outcome):
            hour = call.enter_time // HOUR
            key = (hour, call.queue, call.url or "")
            urls[key] = urls.get(key, 0) + 1
            key = (hour, call.queue, call.did or "")
            dids[key] = dids.get(key, 0) + 1
        if outcome in TRANSFER_OUTCOMES:
            target = transfer_target(outcome, call.target)
            moved = (call.enter_time // HOUR, call.queue, call.agent or "", target)
            transfers[moved] = transfers.get(moved, 0) + 1
    rows = {}
    for name, counts in (("url", urls), ("did", dids), ("transfer", transfers)):
        days: dict[tuple, int] = {}
        for (hour, *rest), n in counts.items():
            key = (hour // 24, *rest)
            days[key] = days.get(key, 0) + n
        rows[name] = (
            [(*key, n) for key, n in counts.items()],
            [(*key, n) for key, n in days.items()],
        )
    return rows


def value_sql(
    summary: ValueSummary, where_hours: str, where_open: str, where_days: str | None = None
) -> str:
    """A subquery (queue, value columns, calls) of a value summary's hour rows (`where_hours`),
    day rows (`where_days`, if any) and open calls in queue_calls (`where_open`), one row each."""
    names = ", ".join(("queue", *summary.columns, "calls"))
    days = ""
    if where_days is not None:
        days = f" UNION ALL SELECT {names} FROM {summary.name}_days WHERE {where_days}"
    open_values = ", ".join(
        f"{e} AS {c}" for e, c in zip(summary.exprs, summary.columns, strict=True)
    )
    return (
        f"(SELECT {names} FROM {summary.name}_hours WHERE {where_hours}{days}"
        f" UNION ALL SELECT queue, {open_values}, 1 AS calls FROM queue_calls"
        f" WHERE {OPEN_CALLS} AND {summary.condition} AND {where_open}) AS s"
    )


def columns_used(sql: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    """Those of `columns` that `sql` names (the summary subqueries carry only these: SQLite
    cannot flatten a UNION ALL under an aggregate, so every column carried costs per row)."""
    words = set(re.findall(r"\w+", sql))
    return tuple(c for c in columns if c in words) or columns[:1]


def queue_hours_sql(where_hours: str, where_open: str, used: tuple[str, ...] | None = None) -> str:
    """A subquery of queue_hours rows (filtered by `where_hours`) and of the open calls in
    queue_calls (filtered by `where_open`) in the same columns (`used`, default all), each open
    call one row."""
    names = [c for c in QUEUE_SUMS if used is None or c in used]
    open_columns = ["enter_time / 3600 AS hour", "queue"]
    open_columns += [f"{QUEUE_COLUMNS[c]} AS {c}" for c in names]
    columns = ", ".join((*QUEUE_KEY, *names))
    return (
        f"(SELECT {columns} FROM queue_hours WHERE {where_hours}"
        f" UNION ALL SELECT {', '.join(open_columns)} FROM queue_calls"
        f" WHERE {OPEN_CALLS} AND {where_open}) AS s"
    )


def agent_hours_sql(
    where_hours: str,
    where_open: str,
    used: tuple[str, ...] | None = None,
    where_days: str | None = None,
) -> str:
    """As queue_hours_sql for agent_hours: answered calls per hour, queue and agent; with
    `where_days`, also the agent_days rows it selects (their hour: the day's first)."""
    open_columns = [
        "enter_time / 3600 AS hour",
        "queue",
        "COALESCE(agent, '') AS agent",
        "1 AS calls",
        "COALESCE(wait, 0) AS wait_sum",
        "CASE WHEN wait IS NOT NULL THEN 1 ELSE 0 END AS wait_n",
        "COALESCE(talk, 0) AS talk_sum",
        "CASE WHEN talk IS NOT NULL THEN 1 ELSE 0 END AS talk_n",
    ]
    names = AGENT_KEY + AGENT_SUMS
    keep = [i for i, c in enumerate(names) if used is None or c in used]
    days = ""
    if where_days is not None:
        day_columns = ["day * 24 AS hour", *names[1:]]
        days = (
            f" UNION ALL SELECT {', '.join(day_columns[i] for i in keep)} FROM agent_days"
            f" WHERE {where_days}"
        )
    return (
        f"(SELECT {', '.join(names[i] for i in keep)} FROM agent_hours WHERE {where_hours}{days}"
        f" UNION ALL SELECT {', '.join(open_columns[i] for i in keep)} FROM queue_calls"
        f" WHERE {OPEN_CALLS} AND {_ANSWERED_CALLS} AND {where_open}) AS s"
    )


def wait_column(threshold: int, side: str = "a") -> str | None:
    """The cumulative wait column counting the answered (`side` "a") or unanswered ("u") calls
    with a wait ≤ threshold, or None when none is stored."""
    return f"{side}_w{threshold}" if threshold in WAIT_STEPS else None


__all__ = [
    "ANSWERED_CALLS",
    "ANSWERED_OUTCOMES",
    "MIGRATION",
    "PAGE_INDEX_MIGRATION",
    "UNANSWERED_CALLS",
    "UNANSWERED_INDEX_MIGRATION",
    "UNANSWERED_OUTCOMES",
    "UPSERT_AGENT_DAYS",
    "UPSERT_AGENT_HOURS",
    "UPSERT_QUEUE_HOURS",
    "UPSERT_VALUES",
    "VALUE_MIGRATION",
    "VALUE_SUMMARIES",
    "WIDE_MIGRATION",
    "agent_hours_sql",
    "columns_used",
    "day_rows",
    "queue_hours_sql",
    "summary_rows",
    "value_rows",
    "value_sql",
    "wait_column",
]
