"""Composition root: builds the store, the live state, the AMI listener and the tailer, and the app.

Nothing else constructs long-lived objects; handlers reach them through `request.app.state`
(`settings`, `store`, `auth`, `live`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wallboard.config import Settings
from wallboard.history.store import Store, open_store

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = ROOT / "static"
TEMPLATES_DIR = ROOT / "templates"


def create_app(settings: Settings, store: Store | None = None, services: bool = True) -> Starlette:
    """The Starlette application; `services=False` leaves out the AMI listener and the tailer."""
    from wallboard.auth import Authenticator
    from wallboard.live.service import LiveService
    from wallboard.web import pages, rest, ws

    store = store or open_store(settings.db)
    live = LiveService(settings, store) if services else None
    routes = [
        Route("/stats/rest/index.php", rest.entry, methods=["GET", "HEAD"]),
        Route("/rest/index.php", rest.entry, methods=["GET", "HEAD"]),
        Route("/stats/rest/openapi.json", rest.openapi, methods=["GET"]),
        *pages.routes(),
        *ws.routes(),
    ]
    if STATIC_DIR.is_dir():
        routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if live is not None:
            await live.start()
        gc.freeze()  # start-up objects live forever: keep them out of every collection
        try:
            yield
        finally:
            if live is not None:
                await live.stop()

    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    app.state.settings = settings
    app.state.store = store
    app.state.auth = Authenticator(store, settings)
    if live is not None:
        app.state.live = live
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (unknown path, wrong method): JSON on the API, plain text elsewhere."""
    assert isinstance(exc, HTTPException)
    if request.url.path.endswith("/rest/index.php") or request.url.path.startswith("/stats/"):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": code, "message": exc.detail, "status": exc.status_code}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


def run_server(settings: Settings) -> int:
    """`wallboard serve`: run the app on uvicorn until interrupted."""
    import uvicorn

    store = open_store(settings.db)
    from wallboard.auth import UserStore

    if not UserStore(store).list():
        print(
            "wallboard: no users yet, so nothing will be served. Add one with:\n"
            f"  wallboard users add NAME --admin --db {settings.db}"
        )
    app = create_app(settings, store)
    uvicorn.run(app, **uvicorn_options(settings))
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How the product runs on uvicorn: no access log (display links carry their token in the
    URL), websocket frames capped before they are buffered, and no per-client compression (a
    patch is encoded once per view and the same bytes go to every client)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "ws_max_size": 65536,
        "ws_per_message_deflate": False,
        "proxy_headers": False,
    }
