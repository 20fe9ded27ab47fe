"""The Asternic-compatible REST API: `/stats/rest/index.php?entity=...` (reports.md).

Checks the query string, lets the user in, parses the parameters, runs the entity's query in a
worker thread and answers JSON. Every error has one shape, `{"error", "message", "status"}`,
with the matching HTTP status; nothing escapes as a bare 500.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wallboard.auth import User
from wallboard.config import Settings
from wallboard.errors import (
    URI_TOO_LONG,
    WallboardError,
    bad_request,
    error_body,
    forbidden,
    not_found,
    unavailable,
)
from wallboard.history import reports
from wallboard.history.database import QueryTimeout
from wallboard.history.reports import DAY, Page, ReportParams, SearchParams
from wallboard.history.reports.export import FORMATS
from wallboard.history.store import Store
from wallboard.live.realtime import realtime_view
from wallboard.live.views import make_view
from wallboard.web import download
from wallboard.web.dates import parse_date
from wallboard.web.download import Export, make_export
from wallboard.web.errors import request_id
from wallboard.web.metrics import entity_label
from wallboard.web.openapi import document

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 8192
EXPORT_TIME_FACTOR = 10  # an export (every row of the range) may take this many report limits
MAX_ROWS = 10_000
DEFAULT_ROWS = 1000
MAX_DAYS = 3660
MAX_PAGE = 1_000_000_000
MAX_SECONDS = 1_000_000_000  # waittime / talktime bounds
MAX_UNIQUEID = 256
_DIGITS = re.compile(r"[0-9]{1,12}")


_bad = bad_request


# -- parameters -----------------------------------------------------------------------------------


def parse_int(value: str | None, name: str, default: int, low: int, high: int, code: str) -> int:
    if value is None or value == "":
        return default
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise _bad(code, f"{name} must be a whole number from {low} to {high}")
    return int(value)


def parse_list(value: str | None) -> tuple[str, ...]:
    """A comma-separated list; blanks dropped."""
    if not value:
        return ()
    return tuple(item.strip() for item in value.split(",") if item.strip())


def parse_bounds(value: str | None, name: str) -> tuple[int | None, int | None] | None:
    """`a,b` (either side may be empty) → inclusive bounds."""
    if value is None or value == "":
        return None
    low, comma, high = value.partition(",")
    if not comma or not all(not v.strip() or _DIGITS.fullmatch(v.strip()) for v in (low, high)):
        raise _bad("invalid_parameter", f"{name} must be two seconds values: min,max")
    bounds = tuple(int(v) if v.strip() else None for v in (low, high))
    if any(v is not None and v > MAX_SECONDS for v in bounds):
        raise _bad("invalid_parameter", f"{name} values must be at most {MAX_SECONDS}")
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise _bad("invalid_parameter", f"{name}: min must not exceed max")
    return bounds  # type: ignore[return-value]


def report_params(query: Mapping[str, str], tz: ZoneInfo, now: float) -> ReportParams:
    """The filters and paging of a request (400 on a malformed value)."""
    today = datetime.fromtimestamp(now, tz).date()
    start = parse_date(query.get("start"), "start")
    end = parse_date(query.get("end"), "end")
    if start is None:
        start = min(today, end) if end is not None else today
    if end is None:
        end = max(today, start)
    if end < start:
        raise _bad("invalid_range", "end must not be before start")
    if (end - start).days + 1 > MAX_DAYS:
        raise _bad("range_too_large", f"a range covers at most {MAX_DAYS} days")
    seconds_start = query.get("secondsstart", query.get("secondstart"))
    return ReportParams(
        start=start,
        end=end,
        seconds_start=parse_int(seconds_start, "secondsstart", 0, 0, DAY, "invalid_seconds"),
        seconds_end=parse_int(
            query.get("secondsend"), "secondsend", DAY, 0, DAY, "invalid_seconds"
        ),
        queues=parse_list(query.get("queue")),
        agents=parse_list(query.get("agent")),
        page=parse_int(query.get("page"), "page", 1, 1, MAX_PAGE, "invalid_paging"),
        rows=parse_int(query.get("rows"), "rows", DEFAULT_ROWS, 1, MAX_ROWS, "invalid_paging"),
        now=int(now),
    )


def search_params(query: Mapping[str, str]) -> SearchParams:
    def text(name: str) -> str | None:
        return query.get(name) or None

    return SearchParams(
        uniqueid=text("uniqueid"),
        clid=text("clid"),
        url=text("url"),
        did=text("did"),
        tag=text("tag"),
        waittime=parse_bounds(query.get("waittime"), "waittime"),
        talktime=parse_bounds(query.get("talktime"), "talktime"),
    )


# -- responses ------------------------------------------------------------------------------------


def paged(page: Page, params: ReportParams) -> dict[str, Any]:
    """The original's paged shape; every number a string."""
    return {
        "page": str(params.page),
        "total": str(math.ceil(page.records / params.rows)),
        "records": str(page.records),
        "rows": page.rows,
    }


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **extra: str
) -> Response:
    return JSONResponse(
        error_body(code, message, status, **extra), status_code=status, headers=headers
    )


# -- entities -------------------------------------------------------------------------------------


Handler = Callable[[Store, Settings, str, Mapping[str, str], User, float], Any]


def export_format(query: Mapping[str, str]) -> str | None:
    """`format=csv|xlsx` (None: the JSON answer); 400 for anything else."""
    fmt = query.get("format")
    if fmt is None or fmt == "" or fmt == "json":
        return None
    if fmt not in FORMATS:
        raise _bad("invalid_format", "format must be json, csv or xlsx")
    return fmt


def _reports(
    store: Store, settings: Settings, arg: str, query: Mapping[str, str], user: User, now: float
) -> Any:
    if not arg:
        return {"data": [{"report": report.name} for report in reports.CATALOGUE]}
    if arg not in reports.REPORTS:
        raise not_found("unknown_report", f"no report named {arg[:80]!r}")
    fmt = export_format(query)
    params = report_params(query, ZoneInfo(settings.timezone), now)
    if fmt is not None:
        columns, chunks = reports.report_chunks(store, settings, arg, params, user)
        return make_export(fmt, arg, params, columns, chunks)
    body = paged(reports.run_report(store, settings, arg, params, user), params)
    body["gaps"] = reports.history_gaps(store, settings, params, user)
    return body


def _queues(
    store: Store, settings: Settings, arg: str, query: Mapping[str, str], user: User, now: float
) -> Any:
    return {"data": reports.list_queues(store, user, arg or None, _default_pbx(settings))}


def _agents(
    store: Store, settings: Settings, arg: str, query: Mapping[str, str], user: User, now: float
) -> Any:
    return {"data": reports.list_agents(store, user, arg or None, _default_pbx(settings))}


def _default_pbx(settings: Settings) -> str:
    """The PBX of names that carry none: the one PBX (names are qualified with several)."""
    return settings.pbxs[0].name if settings.pbxs and not settings.qualified else ""


def _call(
    store: Store, settings: Settings, arg: str, query: Mapping[str, str], user: User, now: float
) -> Any:
    if not arg or len(arg) > MAX_UNIQUEID:
        raise not_found("call_not_found", "no such call")
    page = parse_int(query.get("page"), "page", 1, 1, MAX_PAGE, "invalid_paging")
    rows = parse_int(query.get("rows"), "rows", DEFAULT_ROWS, 1, MAX_ROWS, "invalid_paging")
    events = reports.call_events(store, settings, arg, user)
    return {
        "totalpages": str(math.ceil(len(events) / rows)),
        "currpage": str(page),
        "totalrecords": str(len(events)),
        "data": events[(page - 1) * rows : page * rows],
    }


def _search(
    store: Store, settings: Settings, arg: str, query: Mapping[str, str], user: User, now: float
) -> Any:
    if arg:
        raise not_found("unknown_entity", "search takes no path")
    fmt = export_format(query)
    params = report_params(query, ZoneInfo(settings.timezone), now)
    if fmt is not None:
        columns, chunks = reports.search_chunks(store, settings, params, search_params(query), user)
        return make_export(fmt, "search", params, columns, chunks)
    found = reports.search_calls(store, settings, params, search_params(query), user)
    body = paged(found, params)
    body["gaps"] = reports.history_gaps(store, settings, params, user)
    return body


ENTITIES: Mapping[str, Handler] = {
    "reports": _reports,
    "queues": _queues,
    "agents": _agents,
    "call": _call,
    "search": _search,
}


def _realtime(request: Request, arg: str, user: User, now: float) -> Any:
    live = getattr(request.app.state, "live", None)
    if arg:
        raise not_found("unknown_entity", "realtime takes no path")
    if live is None:
        raise unavailable("live_unavailable", "live state not available")
    wanted = parse_list(request.query_params.get("queues")) or None
    for name in wanted or ():
        if not user.sees_queue(name):
            raise forbidden("forbidden_queue", f"not allowed to see queue {name[:80]!r}")
    names = getattr(live, "registry", None)
    agents = frozenset(user.agents)
    if agents and names is not None:  # every name the user's agents are logged under
        agents = frozenset(names.expand(agents))
    view = make_view(user.queues, agents, list(wanted) if wanted else None)
    return realtime_view(
        live.state.snapshot(), view, now,
        resolve=names.resolve if names is not None else str,
        day_start=getattr(live.state, "day_start", None),
    )  # fmt: skip


def _count(request: Request, code: str) -> None:
    counters = getattr(request.app.state, "rest_errors", None)
    if counters is None:
        counters = request.app.state.rest_errors = Counter()
    counters[code] += 1


async def entry(request: Request) -> Response:
    """`GET /stats/rest/index.php?entity=...`: dispatch to the entity, JSON in every case."""
    started = time.perf_counter()
    response = await _answer(request)
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        entity = request.query_params.get("entity") if response.status_code != 414 else None
        metrics.observe_rest(
            entity_label(entity), response.status_code, time.perf_counter() - started
        )
    return response


async def _answer(request: Request) -> Response:
    try:
        if len(request.scope.get("query_string", b"")) > MAX_QUERY_BYTES:
            raise WallboardError(
                "uri_too_long", f"the query string exceeds {MAX_QUERY_BYTES} bytes", URI_TOO_LONG
            )
        user = await request.app.state.auth.check(request)
        query = request.query_params
        entity = query.get("entity")
        if not entity:
            raise _bad("missing_entity", "the entity parameter is required")
        kind, _, arg = entity.rstrip("/").partition("/")
        now = request.app.state.clock()
        if kind == "realtime":
            return JSONResponse(_realtime(request, arg, user, now))
        handler = ENTITIES.get(kind)
        if handler is None:
            raise not_found("unknown_entity", f"no entity {kind[:80]!r}")
        settings, store = request.app.state.settings, request.app.state.store
        limit = settings.report_time_limit * (EXPORT_TIME_FACTOR if query.get("format") else 1)
        try:
            body = await store.read(handler, store, settings, arg, query, user, now,
                                    time_limit=limit)  # fmt: skip
            if isinstance(body, Export):
                return await download.send(store, body, limit)
        except QueryTimeout:
            raise unavailable(
                "report_timeout",
                f"the request took over {limit:g} s and was stopped;"
                " ask for a shorter range or a narrower filter",
            ) from None
        return JSONResponse(body)
    except WallboardError as exc:
        _count(request, exc.code)
        if exc.status >= 500 or exc.code != "unauthorized":
            log.info("rest: %d %s (%s)", exc.status, exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.message, exc.headers or None)
    except Exception:
        _count(request, "internal_error")
        rid = request_id(request.scope)
        log.exception("request %s: internal error for %s", rid, request.url.path)
        return error_response(
            500, "internal_error", "the server failed to answer this request", request_id=rid
        )


async def openapi(request: Request) -> Response:
    """The OpenAPI 3 document of this API."""
    return JSONResponse(document())
