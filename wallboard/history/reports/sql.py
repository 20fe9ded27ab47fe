"""The SQL of reports: `{slot}` templates filled with a scope's conditions, the summary
subqueries that answer whole hours and days, and the fragments a template may use. Pure: it
builds SQL text and parameters, it runs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from wallboard.history.reports.scope import DAY, Scope
from wallboard.history.summary import (
    AGENT_KEY,
    AGENT_SUMS,
    HOUR,
    QUEUE_KEY,
    QUEUE_SUMS,
    VALUE_SUMMARIES,
    ValueSummary,
    agent_hours_sql,
    columns_used,
    queue_hours_sql,
    value_sql,
    wait_column,
)

Slots = Mapping[str, Callable[[], tuple[str, list[Any]]]]


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


def in_sql(column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
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
            sql, more = in_sql(column, values)
            parts.append(sql)
            params += more
    return " AND ".join(parts), params


def overlap_sql(scope: Scope) -> tuple[str, list[Any]]:
    """Intervals (agent_intervals) overlapping the scope's range, of its queues and agents."""
    parts = ["start_time < ?", "(end_time IS NULL OR end_time > ?)"]
    params: list[Any] = [scope.end, scope.start]
    for column, values in (("queue", scope.queues), ("agent", scope.agents)):
        if values is not None:
            sql, more = in_sql(column, values)
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


def sum_sql(expr: str) -> str:
    return f"CAST(SUM({expr}) AS BIGINT)"  # PostgreSQL's SUM(bigint) is numeric


# The kind of an interval as an expression, so that the planner reads agent_intervals by its time
# index rather than by the (kind, agent, queue, start_time) unique index (half the table).
KINDS = {"sessions": "COALESCE(kind, '') = 'session'", "pauses": "COALESCE(kind, '') = 'pause'"}


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
            sql, more = in_sql(column, values)
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
            name: partial(source_sql, scope, agents, columns_used(text, columns[agents]))
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


def _constant(sql: str) -> tuple[str, list[Any]]:
    return sql, []


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
            f"{summary.name}_hours": partial(value_source_sql, scope, summary)
            for summary in VALUE_SUMMARIES
        },
        "local_hour": lambda: local_sql(scope, "(hour * 3600)"),
        "within": lambda: within_sql(thresholds, default_threshold),
        "unanswered_within": lambda: within_sql(thresholds, default_threshold, "u"),
        **{name: partial(_constant, sql) for name, sql in KINDS.items()},
    }
