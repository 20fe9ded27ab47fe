"""Composition root: builds the store, the live state, the AMI listener and the tailer, and the app.

Nothing else constructs long-lived objects; handlers reach them through `request.app.state`
(`settings`, `store`, `auth`, `live`, `metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from wallboard.config import Settings
from wallboard.history.store import Store, open_store
from wallboard.live.service import LiveService

log = logging.getLogger(__name__)

SESSION_SWEEP = 3600.0  # seconds between deletions of expired login sessions


def create_app(settings: Settings, store: Store | None = None, services: bool = True) -> Starlette:
    """The Starlette application; `services=False` leaves out the AMI listener and the tailer."""
    from wallboard.auth import Authenticator
    from wallboard.history.mailer import start_mailer
    from wallboard.notify import AlertNotifier, wants_notifier
    from wallboard.web import pages, reportpages, rest, ws
    from wallboard.web.assets import PackageStatic
    from wallboard.web.errors import RequestErrors
    from wallboard.web.metrics import Metrics, metrics_endpoint
    from wallboard.web.proxy import ProxyMiddleware

    store = store or open_store(settings.db)
    if settings.agents:  # the settings' [agents] names, before anything reads the registry
        store.learn_names(sorted(settings.agents.items()), "settings")
    if settings.queues:  # the settings' [queues] display names, as the reports show them
        store.name_queues(settings.queues)
    live = build_live(settings, store) if services else None
    routes: list[BaseRoute] = [
        Route("/stats/rest/index.php", rest.entry, methods=["GET", "HEAD"]),
        Route("/rest/index.php", rest.entry, methods=["GET", "HEAD"]),
        Route("/stats/rest/openapi.json", rest.openapi, methods=["GET"]),
        *pages.routes(),
        *reportpages.routes(),
        *ws.routes(),
        Mount("/static", PackageStatic(), name="static"),
    ]
    if settings.metrics and settings.metrics_port is None:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        notifier = None
        if live is not None and wants_notifier(settings.alert):  # webhooks and e-mails
            notifier = app.state.notifier = AlertNotifier(settings, store)
            await notifier.start()
            live.on_alerts = notifier.submit
        if live is not None:
            await live.start()
        sweeper = asyncio.create_task(_sweep_sessions(app), name="session sweeper")
        mailer = None
        if services:  # scheduled reports by e-mail, when smtp_host is set
            mailer = await start_mailer(settings, store, app.state.auth.users.get)
        gc.freeze()  # start-up objects live forever: keep them out of every collection
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            if mailer is not None:
                await mailer.stop()
            if live is not None:
                await live.stop()
            if notifier is not None:
                await notifier.stop()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
        middleware=[
            Middleware(
                ProxyMiddleware,
                base_path=settings.base_path,
                trusted_proxies=settings.trusted_proxies,
            ),
            Middleware(RequestErrors),
        ],
    )
    app.state.settings = settings
    app.state.store = store
    app.state.auth = Authenticator(store, settings)
    app.state.started = time.time()
    app.state.clock = time.time  # what "now" and "today" are for the API (tests fix it)
    app.state.metrics = Metrics(app.state)
    if live is not None:
        app.state.live = live
    return app


def build_live(
    settings: Settings, store: Store, clock: Callable[[], float] = time.time
) -> LiveService:
    """The live side: state, hub, and per PBX its AMI listener and its history source (the
    queue_log file, the realtime table, or AMI itself), wired into one LiveService."""
    from wallboard.history.ingest import ImportSummary, Ingester, QueueLogFollower, process_owner
    from wallboard.history.naming import Naming
    from wallboard.live.ami import AmiListener
    from wallboard.live.amihistory import AmiHistory
    from wallboard.live.hub import Hub
    from wallboard.live.state import CallCenterState

    pbxs = settings.pbxs
    state = CallCenterState(
        settings.timezone, settings.service_level_for,
        {p.name: (bool(p.ami_host), p.history) for p in pbxs} or None, settings.qualified,
        alert_rules=settings.alert, queue_names=settings.queues,
        wrapup_times=settings.wrapup_times,
    )  # fmt: skip
    # The hub looks for quiet views twice per heartbeat, so a ping is never late by a second.
    hub = Hub(state.snapshot, clock, heartbeat=settings.ws_heartbeat,
              tick=min(1.0, settings.ws_heartbeat / 2))  # fmt: skip
    live = LiveService(settings, store, state, hub, clock)
    ingester = None
    if pbxs:  # every history source feeds one call tracker (it holds the ingest lease)
        ingester = Ingester(store, settings.stale_call_timeout, keep_changes=True,
                            owner=process_owner("wallboard serve"))  # fmt: skip
    listeners: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for pbx in pbxs:
        assert ingester is not None
        naming = Naming(pbx.name, settings.qualified)
        history = None
        if pbx.history == "queue_log":
            sources[pbx.name] = QueueLogFollower(
                ingester, pbx.queue_log or "", settings.follow_interval, live.apply_changes,
                naming=naming,
            )
        elif pbx.history == "table":
            from wallboard.history.tablefollow import QueueLogTableFollower

            sources[pbx.name] = QueueLogTableFollower(
                ingester, pbx, naming, settings.timezone, settings.follow_interval,
                live.apply_changes, on_status=live.source_status(pbx.name),
            )  # fmt: skip
        elif pbx.history == "ami":
            history = sources[pbx.name] = AmiHistory(
                ingester, store, naming, ImportSummary(), live.apply_changes, clock=clock
            )
        if pbx.ami_host:
            listeners[pbx.name] = AmiListener.from_settings(
                settings, state, live.publish, clock, pbx=pbx, naming=naming, history=history
            )
    live.attach(listeners, sources)
    return live


def metrics_app(main: Starlette) -> Starlette:
    """The `/metrics` endpoint alone, for `metrics_port`: it reads the main app's state."""
    from wallboard.web.metrics import metrics_endpoint

    app = Starlette(routes=[Route("/metrics", metrics_endpoint, methods=["GET"])])
    app.state.metrics = main.state.metrics
    return app


async def _sweep_sessions(app: Starlette) -> None:
    """Delete expired login sessions now and then (they are refused anyway once expired)."""
    while True:
        try:
            auth = app.state.auth
            await asyncio.to_thread(
                auth.sessions.sweep, time.time(), auth.session_idle, auth.session_max_age
            )
        except Exception:
            log.exception("could not delete expired sessions")
        await asyncio.sleep(SESSION_SWEEP)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method): JSON on the API, a small page elsewhere."""
    from wallboard.errors import error_body
    from wallboard.web.errors import is_api_path

    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    if is_api_path(request.scope) or request.url.path.startswith("/stats/"):
        body = error_body(code, exc.detail, exc.status_code)
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    page = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
        f"{exc.status_code} · Wallboard</title></head><body><h1>{exc.status_code}</h1>"
        f"<p>{'No such page.' if exc.status_code == 404 else 'Not allowed here.'}</p>"
        "</body></html>"
    )
    return HTMLResponse(page, status_code=exc.status_code, headers=exc.headers)
