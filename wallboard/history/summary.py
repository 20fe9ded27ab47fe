"""Hourly summaries of closed queue calls (pure): what a closed call adds to them, and their SQL.

`queue_hours` holds, per UTC hour of enter time, queue, outcome and connected-or-not, counts,
wait and talk sums and cumulative wait counts (`w5` = calls with a wait ≤ 5 s, ... `w120`), so
queue-level reports read a few rows per hour instead of every call. `agent_hours` holds the
answered calls per hour, queue and agent. A call is added once, when it closes; calls still
waiting or talking stay in queue_calls and the reports add them on top.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

from wallboard.history.calls import QueueCall
from wallboard.history.queuelog import UNANSWERED_ENDS

HOUR = 3600
WAIT_STEPS = tuple(range(5, 125, 5))  # the cumulative wait columns, in seconds
WAIT_COLUMNS = tuple(f"w{step}" for step in WAIT_STEPS)

QUEUE_KEY = ("hour", "queue", "outcome", "connected")
QUEUE_SUMS = ("calls", "wait_sum", "wait_n", "talk_sum", "talk_n", *WAIT_COLUMNS)
AGENT_KEY = ("hour", "queue", "agent")
AGENT_SUMS = ("calls", "wait_sum", "wait_n", "talk_sum", "talk_n")

# The call model over summary columns (reports.py holds the same over queue_calls).
_ENDS = "(" + ", ".join(f"'{e}'" for e in sorted(UNANSWERED_ENDS)) + ")"
ANSWERED = f"(connected = 1 AND outcome NOT IN {_ENDS})"
UNANSWERED = f"(outcome IN {_ENDS} OR (outcome = 'STALE' AND connected = 0))"
OPEN_CALLS = "(outcome IS NULL OR outcome = 'CONNECT')"


def _table(name: str, key: tuple[str, ...], sums: tuple[str, ...]) -> str:
    types = {"hour": "{int}", "connected": "{int}"}
    columns = [f"{c} {types.get(c, 'TEXT')} NOT NULL" for c in key]
    columns += [f"{c} {{int}} NOT NULL DEFAULT 0" for c in sums]
    return f"CREATE TABLE {name} ({', '.join(columns)}, PRIMARY KEY ({', '.join(key)}))"


def _case(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


_ANSWERED_CALLS = f"(connect_time IS NOT NULL AND outcome NOT IN {_ENDS})"
_CLOSED_CALLS = "(outcome IS NOT NULL AND outcome <> 'CONNECT')"

# The migration: tables, the open-calls index, and the backfill from existing calls.
MIGRATION: list[str] = [
    _table("queue_hours", QUEUE_KEY, QUEUE_SUMS),
    _table("agent_hours", AGENT_KEY, AGENT_SUMS),
    f"CREATE INDEX queue_calls_open ON queue_calls (enter_time) WHERE {OPEN_CALLS}",
    f"INSERT INTO queue_hours ({', '.join(QUEUE_KEY + QUEUE_SUMS)})"
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


def _upsert(table: str, key: tuple[str, ...], sums: tuple[str, ...]) -> str:
    columns = key + sums
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    )


UPSERT_QUEUE_HOURS = _upsert("queue_hours", QUEUE_KEY, QUEUE_SUMS)
UPSERT_AGENT_HOURS = _upsert("agent_hours", AGENT_KEY, AGENT_SUMS)


@dataclass(slots=True)
class _Sums:
    calls: int = 0
    wait_sum: int = 0
    wait_n: int = 0
    talk_sum: int = 0
    talk_n: int = 0

    def add(self, call: QueueCall) -> None:
        self.calls += 1
        if call.wait is not None:
            self.wait_sum += call.wait
            self.wait_n += 1
        if call.talk is not None:
            self.talk_sum += call.talk
            self.talk_n += 1

    def row(self) -> tuple[int, int, int, int, int]:
        return (self.calls, self.wait_sum, self.wait_n, self.talk_sum, self.talk_n)


def is_closed(call: QueueCall) -> bool:
    """Whether a call has its final outcome (and so belongs in the summaries)."""
    return call.outcome is not None and call.outcome != "CONNECT"


def is_answered(call: QueueCall) -> bool:
    """The call model's answered, as ANSWERED in SQL."""
    return (
        call.connect_time is not None
        and call.outcome is not None
        and call.outcome not in UNANSWERED_ENDS
    )


def summary_rows(calls: Iterable[QueueCall]) -> tuple[list[tuple], list[tuple]]:
    """The (queue_hours, agent_hours) rows the closed calls among `calls` add, in column order."""
    queue_sums: dict[tuple, tuple[_Sums, list[int]]] = {}
    agent_sums: dict[tuple, _Sums] = {}
    for call in calls:
        if not is_closed(call):
            continue
        hour = call.enter_time // HOUR
        key = (hour, call.queue, call.outcome, 1 if call.connect_time is not None else 0)
        entry = queue_sums.get(key)
        if entry is None:
            entry = queue_sums[key] = (_Sums(), [0] * (len(WAIT_STEPS) + 1))
        entry[0].add(call)
        entry[1][bisect_left(WAIT_STEPS, call.wait or 0)] += 1  # its 5-second bucket
        if is_answered(call):
            agent_key = (hour, call.queue, call.agent or "")
            sums = agent_sums.get(agent_key)
            if sums is None:
                sums = agent_sums[agent_key] = _Sums()
            sums.add(call)
    queue_rows = [
        key + sums.row() + tuple(accumulate(buckets[:-1]))  # w5..w120: waits up to each step
        for key, (sums, buckets) in queue_sums.items()
    ]
    agent_rows = [key + sums.row() for key, sums in agent_sums.items()]
    return queue_rows, agent_rows


def queue_hours_sql(where_hours: str, where_open: str) -> str:
    """A subquery of queue_hours rows (filtered by `where_hours`) and of the open calls in
    queue_calls (filtered by `where_open`) in the same columns, each open call one row."""
    open_columns = [
        "enter_time / 3600 AS hour",
        "queue",
        "outcome",
        "CASE WHEN connect_time IS NOT NULL THEN 1 ELSE 0 END AS connected",
        "1 AS calls",
        "COALESCE(wait, 0) AS wait_sum",
        "CASE WHEN wait IS NOT NULL THEN 1 ELSE 0 END AS wait_n",
        "COALESCE(talk, 0) AS talk_sum",
        "CASE WHEN talk IS NOT NULL THEN 1 ELSE 0 END AS talk_n",
    ] + [
        f"CASE WHEN COALESCE(wait, 0) <= {step} THEN 1 ELSE 0 END AS {column}"
        for step, column in zip(WAIT_STEPS, WAIT_COLUMNS, strict=True)
    ]
    columns = ", ".join(QUEUE_KEY + QUEUE_SUMS)
    return (
        f"(SELECT {columns} FROM queue_hours WHERE {where_hours}"
        f" UNION ALL SELECT {', '.join(open_columns)} FROM queue_calls"
        f" WHERE {OPEN_CALLS} AND {where_open}) AS s"
    )


def agent_hours_sql(where_hours: str, where_open: str) -> str:
    """As queue_hours_sql for agent_hours: answered calls per hour, queue and agent."""
    columns = ", ".join(AGENT_KEY + AGENT_SUMS)
    return (
        f"(SELECT {columns} FROM agent_hours WHERE {where_hours}"
        " UNION ALL SELECT enter_time / 3600 AS hour, queue, COALESCE(agent, '') AS agent,"
        " 1 AS calls, COALESCE(wait, 0) AS wait_sum,"
        " CASE WHEN wait IS NOT NULL THEN 1 ELSE 0 END AS wait_n, COALESCE(talk, 0) AS talk_sum,"
        " CASE WHEN talk IS NOT NULL THEN 1 ELSE 0 END AS talk_n FROM queue_calls"
        f" WHERE {OPEN_CALLS} AND {_ANSWERED_CALLS} AND {where_open}) AS s"
    )


def wait_column(threshold: int) -> str | None:
    """The cumulative wait column counting waits ≤ threshold, or None when none is stored."""
    return f"w{threshold}" if threshold in WAIT_STEPS else None


__all__ = [
    "ANSWERED",
    "MIGRATION",
    "UNANSWERED",
    "UPSERT_AGENT_HOURS",
    "UPSERT_QUEUE_HOURS",
    "agent_hours_sql",
    "queue_hours_sql",
    "summary_rows",
    "wait_column",
]
