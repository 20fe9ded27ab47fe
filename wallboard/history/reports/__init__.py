"""The reports (reports.md) and the entities beside them, as a package:

- `scope`: what a request asks for and the UTC range, offsets and window it resolves to;
- `sql`: templates filled with a scope's conditions, and the summary subqueries;
- `shapes`: result sets -> rows of strings (pure);
- `catalogue`: one definition per report: columns, SQL, shape, summarised form (no I/O);
- `runner`: a report run for a user (the I/O); `entities`: search, call, queues, agents.

What callers use is re-exported here.
"""

from wallboard.errors import WallboardError as ReportError
from wallboard.history.reports.catalogue import CATALOGUE, REPORTS, SUMMARISED, Report, Summarised
from wallboard.history.reports.entities import (
    call_events,
    list_agents,
    list_queues,
    search_calls,
    search_chunks,
    search_row,
    search_sql,
)
from wallboard.history.reports.runner import (
    agent_sessions_by_day,
    agent_visibility,
    history_gaps,
    report_chunks,
    resolve_scope,
    run_report,
    summarised_for,
)
from wallboard.history.reports.scope import (
    DAY,
    Page,
    ReportParams,
    Scope,
    SearchParams,
    Viewer,
    make_scope,
    offset_segments,
)
from wallboard.history.reports.shapes import Context
from wallboard.history.reports.sql import narrowed, render, slots_for, whole_hours

__all__ = [
    "CATALOGUE", "DAY", "REPORTS", "SUMMARISED", "Context", "Page", "Report", "ReportError",
    "ReportParams", "Scope", "SearchParams", "Summarised", "Viewer", "agent_sessions_by_day",
    "agent_visibility", "call_events", "history_gaps", "list_agents", "list_queues", "make_scope", "narrowed",
    "offset_segments", "render", "report_chunks", "resolve_scope", "run_report", "search_calls",
    "search_chunks", "search_row",
    "search_sql", "slots_for", "summarised_for", "whole_hours",
]  # fmt: skip
