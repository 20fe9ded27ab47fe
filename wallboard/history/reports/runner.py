"""Running a report: the request resolved against the store and the user (names, ids, the
agent registry, restrictions), its SQL filled and run, through the summaries when they answer
it exactly, and shaped into the API's rows. The I/O of the reports lives here.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from wallboard.config import Settings
from wallboard.errors import forbidden, not_found
from wallboard.history import coverage
from wallboard.history.callmodel import day_bounds
from wallboard.history.naming import pbx_of
from wallboard.history.registry import Registry
from wallboard.history.reports.catalogue import (
    HEADLINE,
    REPORTS,
    SESSION_CALLS,
    Report,
    Summarised,
)
from wallboard.history.reports.scope import DAY, Page, ReportParams, Scope, Viewer, make_scope
from wallboard.history.reports.shapes import Context, Row, fold, is_static, session_row
from wallboard.history.reports.sql import (
    day_split,
    in_sql,
    narrowed,
    render,
    slots_for,
    sum_sql,
    whole_hours,
)
from wallboard.history.store import Store
from wallboard.history.summary import WAIT_STEPS

EXPORT_CHUNK = 5000  # rows per chunk of an export


def summarised_for(
    name: str, scope: Scope, thresholds: Mapping[str, int], default_threshold: int
) -> Summarised | None:
    """The summary form of a report when it answers this scope exactly, else None."""
    report = REPORTS.get(name)
    plan = report.summarised if report is not None else None
    if plan is None or not whole_hours(scope):
        return None
    if scope.agents is not None and not plan.by_agent:
        return None
    if plan.thresholds and not {default_threshold, *thresholds.values()} <= set(WAIT_STEPS):
        return None
    return plan


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
    if queues is not None:  # a PBX's name stands for its queues
        queues = store.expand_queues(queues)
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


def run_report(
    store: Store,
    settings: Settings,
    name: str,
    params: ReportParams,
    user: Viewer,
    summaries: bool = True,
) -> Page:
    """Run one report of the catalogue (or the pages' HEADLINE) for a user: the requested
    page and the row count.

    Through the hourly summaries when they answer the request exactly (`summaries=False`
    forces the raw tables, the reference)."""
    report = HEADLINE if name == HEADLINE.name else REPORTS.get(name)
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
        return Page(records, _named(report, report.shape([rows], ctx)))
    if summaries and plan is not None and plan.by_day:
        shaped_rows = agent_sessions_by_day(
            store, scope, ctx, lambda q: store.query(*render(q, narrowed(q, slots, scope)))
        )
        if shaped_rows is not None:
            return Page(len(shaped_rows), _named(report, shaped_rows[offset : offset + params.rows]))
    results = [store.query(*render(q, narrowed(q, slots, scope))) for q in queries]
    if adapt is not None:
        results = adapt(results)
    shaped = report.shape(results, ctx)
    return Page(len(shaped), _named(report, shaped[offset : offset + params.rows]))


def report_chunks(
    store: Store, settings: Settings, name: str, params: ReportParams, user: Viewer,
    size: int = EXPORT_CHUNK,
) -> tuple[tuple[str, ...], Iterator[list[dict[str, str]]]]:  # fmt: skip
    """Every row of a report for an export, ignoring paging: (columns, chunks of rows). A
    detail report's rows are read from a cursor as they are consumed, so a year of them is
    never in memory at once; the others are small and come in one chunk."""
    report = REPORTS.get(name)
    if report is None:
        raise not_found("unknown_report", f"no report named {name[:80]!r}")
    everything = dataclasses.replace(params, page=1, rows=2**31)
    if not report.paged:
        return report.columns, iter([run_report(store, settings, name, everything, user).rows])
    tz = ZoneInfo(settings.timezone)
    names = store.registry()
    scope = resolve_scope(store, tz, everything, user, names)
    slots = slots_for(scope, settings.service_levels, settings.service_level)
    rows_sql = render(report.queries[1], narrowed(report.queries[1], slots, scope))
    ctx = Context(tz, scope, params.now, display_names(store, "queues"),
                  display_names(store, "agents"), names)  # fmt: skip

    def chunks() -> Iterator[list[dict[str, str]]]:
        for rows in store.iterate(*rows_sql, size=size):
            yield _named(report, report.shape([rows], ctx))

    return report.columns, chunks()


def _named(report: Report, rows: list[Row]) -> list[dict[str, str]]:
    """Rows of values as the API gives them: objects keyed by the report's columns."""
    columns = report.columns
    return [dict(zip(columns, row, strict=True)) for row in rows]




def agent_sessions_by_day(
    store: Store, scope: Scope, ctx: Context, query: Callable[[str], list[tuple]]
) -> list[Row] | None:
    """agent_sessions from agent_cover_days (history/coverage.py) for the whole UTC days of the
    range, and from the raw intervals for the hours around them and for the days since an
    agent's oldest interval still open; None when the scope has a window or queue filter (the
    day rows are of all queues)."""
    days = day_split(scope)
    if days is None or scope.queues is not None:
        return None
    first, last = days
    # agent_intervals holds logged names (scope.agents, expanded); agent_cover_days agents.
    agents, agent_params = ("1 = 1", []) if scope.agents is None else in_sql("agent", scope.agents)
    persons = None if scope.agents is None else sorted({ctx.agent(a) for a in scope.agents})
    covered, covered_params = ("1 = 1", []) if persons is None else in_sql("c.agent", persons)
    open_since: dict[str, int] = {}
    for name, start in store.query(
        "SELECT agent, MIN(start_time) FROM agent_intervals WHERE end_time IS NULL"
        f" AND start_time < ? AND {agents} GROUP BY agent", [scope.end, *agent_params],
    ):  # fmt: skip
        agent = ctx.agent(name)
        open_since[agent] = min(start, open_since.get(agent, start))
    cuts = {agent: min(last, max(first, start // DAY)) for agent, start in open_since.items()}
    sums = (
        f"SELECT c.agent, {sum_sql('logged')}, {sum_sql('paused')}, {sum_sql('paused_in')},"
        f" {sum_sql('pauses')} FROM agent_cover_days c"
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
    talk = {agent: (count, total) for agent, count, total in fold(query(SESSION_CALLS), 1, ctx)}
    out = []
    for agent in sorted(set(totals) | set(talk)):
        logged_s, paused_s, paused_in, pause_count = totals.get(agent, (0, 0, 0, 0))
        count, talk_s = talk.get(agent, (0, 0))
        if not (logged_s or paused_s or pause_count or count):
            continue
        out.append(session_row(agent, logged_s, paused_s, paused_in, pause_count, count, talk_s,
                               is_static(agent, logged_s, ctx)))  # fmt: skip
    return out


def history_gaps(
    store: Store, settings: Settings, params: ReportParams, user: Viewer
) -> list[dict[str, str]]:
    """The outages of AMI-derived history within a request's days, for the PBXs of the queues
    it covers: the figures of those stretches are missing, not zero."""
    tz = ZoneInfo(settings.timezone)
    start, end = day_bounds(params.start, params.end, tz)
    pbxs = None
    if settings.qualified and (params.queues or user.queues):
        wanted = params.queues or tuple(user.queues)
        pbxs = sorted({pbx_of(q) for q in store.expand_queues(wanted)} - {""})
    return [
        {"pbx": pbx, "start": _local(begin, tz), "end": _local(finish, tz) if finish else "",
         "reason": reason}
        for pbx, begin, finish, reason in store.gaps_between(start, end, pbxs)
    ]  # fmt: skip


def _local(epoch: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S")
