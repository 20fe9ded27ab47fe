"""The report pages: `/reports` (the period's summary), `/reports/<name>` (one report of the
catalogue: its table and chart), `/reports/call/<uniqueid>` (a call's flow as a timeline).

Server-rendered from the same runner as the REST API, with the same login, sessions and
restrictions; the filters are in the query string, so a page is a link to share. A bad filter
is a page that says what is wrong (status 400), never a 500. Exports are the API's own
(`format=csv|xlsx`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from wallboard.auth import AuthFailure, User
from wallboard.config import Settings
from wallboard.errors import WallboardError
from wallboard.history import reports
from wallboard.history.database import QueryTimeout
from wallboard.history.reports import ReportParams
from wallboard.history.store import Store
from wallboard.web.pages import base_of, login_url, message_page, render_page
from wallboard.web.reportviews import (
    PERIODS,
    Cell,
    Filters,
    cells,
    chart_data,
    day_of,
    parse_filters,
    timeline,
)

DETAIL_ROWS = 100  # rows per page of a detail report
DETAIL_REPORTS = ("answered_calls_detail", "unanswered_calls_detail")


def routes() -> list[BaseRoute]:
    return [
        Route("/reports", summary_page, methods=["GET"]),
        Route("/reports/call/{uniqueid:path}", call_page, methods=["GET"]),
        Route("/reports/{name}", report_page, methods=["GET"]),
    ]


# -- the shared part ------------------------------------------------------------------------------


async def _viewer(request: Request) -> User | Response:
    """The logged-in user, or the response to give instead (the login form, a refusal)."""
    try:
        user = await request.app.state.auth.check(request)
    except AuthFailure as failure:
        if failure.status == 429:
            return message_page(request, "Too many attempts", failure.message, 429)
        return RedirectResponse(login_url(request), status_code=303)
    if user.display is not None:
        return message_page(request, "Not for display links", "The reports need a login: a display"
                        " link shows the wallboard only.", 403)  # fmt: skip
    return user


def _query(request: Request) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    return query


def _params(filters: Filters, now: float, page: int = 1, rows: int = 10_000) -> ReportParams:
    low, high = filters.seconds
    return ReportParams(start=filters.start, end=filters.end, seconds_start=low, seconds_end=high,
                        queues=filters.queues, agents=filters.agents, page=page, rows=rows,
                        now=int(now))  # fmt: skip


def _pickers(store: Store, user: User) -> dict[str, list[dict[str, str]]]:
    """The queues and agents this user may pick (what they may see, nothing else)."""
    return {  # ("NONE" is queue_log's "no queue": QUEUESTART, PAUSEALL lines)
        "queues": [q for q in reports.list_queues(store, user)
                   if q["queue"] not in ("ALL", "NONE") and not q["queue"].endswith("/NONE")],
        "agents": [a for a in reports.list_agents(store, user) if a["agent"] != "ALL"],
    }


async def _run(request: Request, fn: Any, *args: Any) -> Any:
    """Run the page's queries on the report pool, under the API's time limit."""
    settings: Settings = request.app.state.settings
    store: Store = request.app.state.store
    return await store.read(fn, store, settings, *args, time_limit=settings.report_time_limit)


async def _answer(request: Request, build: Any) -> Response:
    """Log in, read the filters, build the page; errors as pages that say what is wrong."""
    user = await _viewer(request)
    if isinstance(user, Response):
        return user
    settings: Settings = request.app.state.settings
    now = request.app.state.clock()
    today = datetime.fromtimestamp(now, ZoneInfo(settings.timezone)).date()
    try:
        filters = parse_filters(_query(request), today)
        return await build(request, user, filters, now)
    except WallboardError as exc:
        return _problem(request, _TITLES.get(exc.status, "Cannot show this"), exc.message,
                        exc.status)  # fmt: skip
    except QueryTimeout:
        return _problem(request, "Too slow", "This report took too long and was stopped: ask"
                        " for a shorter range or fewer queues.", 503)  # fmt: skip


def _problem(request: Request, title: str, text: str, status: int) -> Response:
    """A page saying what is wrong, with the way back to today's summary."""
    context = {"title": title, "text": text, "back": base_of(request) + "/reports",
               "back_text": "Back to today's reports"}  # fmt: skip
    return render_page(request, "message.html", context, status)


_TITLES = {400: "Check the filters", 403: "Not allowed", 404: "Not found"}


def _context(request: Request, user: User, filters: Filters, picked: dict[str, Any],
             **extra: Any) -> dict[str, Any]:  # fmt: skip
    base = base_of(request)
    return {
        "title": extra.pop("title", "Reports"), "user": user, "filters": filters,
        "periods": PERIODS, "pickers": picked, "catalogue": [r.name for r in reports.CATALOGUE],
        "link": lambda path, **more: f"{base}{path}?{filters.page_query(**more)}",
        "api": lambda entity, **more: f"{base}/stats/rest/index.php?"
        + urlencode({"entity": entity, **filters.api_query(**more)}),
        **extra,
    }  # fmt: skip


# -- the pages ------------------------------------------------------------------------------------


async def summary_page(request: Request) -> Response:
    """The period's headline figures, the day-by-day trend and the queues."""

    async def build(request: Request, user: User, filters: Filters, now: float) -> Response:
        data = await _run(request, _summary_data, filters, user, now)
        trend = data["trend"]
        context = _context(
            request, user, filters, data["pickers"], title="Reports · summary", summary=True,
            headline=data["headline"], trend=trend, queues=data["queues"],
            chart=json.dumps(chart_data("distribution_by_day", trend)), day_of=day_of,
        )  # fmt: skip
        return render_page(request, "report_summary.html", context)

    return await _answer(request, build)


def _summary_data(store: Store, settings: Settings, filters: Filters, user: User,
                  now: float) -> dict[str, Any]:  # fmt: skip
    params = _params(filters, now)
    run = reports.run_report
    return {
        "headline": run(store, settings, "headline", params, user).rows[0],
        "trend": run(store, settings, "distribution_by_day", params, user).rows,
        "queues": run(store, settings, "distribution_by_queue", params, user).rows,
        "pickers": _pickers(store, user),
    }


async def report_page(request: Request) -> Response:
    """One report of the catalogue: its table (paged for the detail reports) and chart."""
    name = request.path_params["name"]

    async def build(request: Request, user: User, filters: Filters, now: float) -> Response:
        report = reports.REPORTS.get(name)
        if report is None:
            raise WallboardError("unknown_report", f"There is no report named {name[:80]!r}.",
                                 404)  # fmt: skip
        data = await _run(request, _report_data, name, filters, user, now)
        pages = -(-data["records"] // DETAIL_ROWS) if report.paged else 1
        context = _context(
            request, user, filters, data["pickers"], title=f"Reports · {name}", name=name,
            columns=report.columns, rows=data["rows"], records=data["records"],
            paged=report.paged, pages=pages, chart=json.dumps(chart_data(name, data["rows"])),
            cells=cells, drill=lambda cell: _drill(request, filters, cell),
        )  # fmt: skip
        return render_page(request, "report.html", context)

    return await _answer(request, build)


def _drill(request: Request, filters: Filters, cell: Cell) -> str:
    """A cell's link, with the page's filters (those the link sets win)."""
    path = quote(cell.path or "", safe="/")
    return f"{base_of(request)}/reports{path}?{filters.page_query(**dict(cell.query))}"


def _report_data(store: Store, settings: Settings, name: str, filters: Filters, user: User,
                 now: float) -> dict[str, Any]:  # fmt: skip
    report = reports.REPORTS[name]
    if report.paged:
        params = _params(filters, now, filters.page, DETAIL_ROWS)
    else:
        params = _params(filters, now)
    found = reports.run_report(store, settings, name, params, user)
    return {"rows": found.rows, "records": found.records, "pickers": _pickers(store, user)}


async def call_page(request: Request) -> Response:
    """A call's flow: every event of it, in words, in order."""
    uniqueid = request.path_params["uniqueid"]

    async def build(request: Request, user: User, filters: Filters, now: float) -> Response:
        if not uniqueid or len(uniqueid) > 256:
            raise WallboardError("call_not_found", "There is no such call.", 404)
        events = await _run(request, reports.call_events, uniqueid, user)
        context = _context(request, user, filters, {"queues": [], "agents": []},
                           title=f"Call {uniqueid}", uniqueid=uniqueid,
                           lines=timeline(events))  # fmt: skip
        return render_page(request, "report_call.html", context)

    return await _answer(request, build)
