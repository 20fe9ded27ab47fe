"""HTML pages: the wallboard, the login form and logout, under a strict Content-Security-Policy.

The wallboard page is a shell: its script connects to `/ws` and builds everything from the
live state (no data is rendered server-side). Thresholds and the heartbeat period are handed
to the script as a JSON data attribute. Login and logout are same-origin POSTs (Origin checked).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from wallboard.auth import SESSION_COOKIE, AuthFailure, session_cookie_kwargs
from wallboard.web.assets import asset_version, templates_dir
from wallboard.web.ws import origin_allowed

log = logging.getLogger(__name__)

VIEWS = ("all", "queues", "agents", "tv")
ROTATE_SECONDS = (2, 3600)  # ?rotate=: the shortest and longest page of a rotating TV
NAME_MAX = 64
PASSWORD_MAX = 1024
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")

templates = Jinja2Templates(directory=str(templates_dir()))


def routes() -> list[BaseRoute]:
    """The page routes to mount: `/`, `/wallboard`, `/login`, `/logout`."""
    return [
        Route("/", home, methods=["GET"]),
        Route("/wallboard", wallboard, methods=["GET"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["GET", "POST"]),
    ]


# ----------------------------------------------------------------------------- helpers


def base_of(request: Request) -> str:
    """The path prefix the pages live under ("" or "/wallboard"): every link starts with it."""
    return str(request.scope.get("root_path", ""))


def safe_next(value: str | None, base: str = "") -> str:
    """A local path under `base` to go to after logging in (anything else: the wallboard)."""
    if (
        not value
        or not value.startswith(base + "/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
        or len(value) > 2048
    ):
        return base + "/wallboard"
    return value


def security_headers(request: Request) -> dict[str, str]:
    """CSP (own scripts and styles only, websocket to this host) and friends."""
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{sockets}; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _same_origin_post(request: Request) -> bool:
    """CSRF check of a form POST: its Origin (or else Referer) must be this server's."""
    allowed = request.app.state.settings.allowed_origins
    host = request.headers.get("host")
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return False
        match = re.match(r"^([a-zA-Z]+://[^/?#]+)", referer)
        origin = match.group(1) if match else "null"
    return origin_allowed(origin, host, allowed)


def render_page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    context = {"asset_version": asset_version(), "base": base_of(request), **context}
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=security_headers(request)
    )


def message_page(request: Request, title: str, text: str, status_code: int) -> Response:
    return render_page(request, "message.html", {"title": title, "text": text}, status_code)


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return base_of(request) + "/login?next=" + quote(target, safe="")


def _page_config(request: Request, user: Any) -> dict[str, Any]:
    settings = request.app.state.settings
    live = getattr(request.app.state, "live", None)
    hub = getattr(live, "hub", None)
    return {
        "thresholds": {
            "warn_wait": settings.warn_wait,
            "alert_wait": settings.alert_wait,
            "warn_sl": settings.warn_sl,
            "alert_sl": settings.alert_sl,
            "warn_abandon": settings.warn_abandon,
            "alert_abandon": settings.alert_abandon,
        },
        "heartbeat": hub.heartbeat if hub is not None else 15.0,
        "live": hub is not None,
        "ws": base_of(request) + "/ws",
        "display": user.display is not None,
    }


# ----------------------------------------------------------------------------- handlers


async def home(request: Request) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(base_of(request) + "/wallboard" + query, status_code=302)


async def wallboard(request: Request) -> Response:
    """The live board: for a logged-in user, a display link, or HTTP Basic."""
    try:
        user = await request.app.state.auth.check(request)
    except AuthFailure as failure:
        if failure.status == 429:
            return message_page(request, "Too many attempts", failure.message, 429)
        if request.query_params.get("display"):
            return message_page(
                request,
                "Display link revoked",
                "This display link is unknown or has been revoked. Ask an administrator for"
                " a new one (wallboard displays add).",
                401,
            )
        return RedirectResponse(login_url(request), status_code=303)
    query = request.query_params
    view = query.get("view", "all")
    if view not in VIEWS:
        view = "all"
    # ?rotate=SECONDS: a TV turns its pages (0: one page); ?hide=loggedoff: no logged-off
    # agents. A `hide` in the URL beats the screen's remembered choice, so it is passed on as
    # given (None: not in the URL).
    rotate = query.get("rotate", "")
    seconds = int(rotate) if rotate.isdigit() and len(rotate) <= 6 else 0
    low, high = ROTATE_SECONDS
    hide = query.get("hide")
    config = {
        **_page_config(request, user),
        "view": view,
        "rotate": min(max(seconds, low), high) if seconds else 0,
        "hide": None if hide is None else ("loggedoff" if "loggedoff" in hide.split(",") else ""),
    }
    title = "Wallboard" if user.display is None else f"Wallboard · {user.display}"
    context = {
        "title": title,
        "view": view,
        "user": user,
        "config_json": json.dumps(config, separators=(",", ":")),
    }
    return render_page(request, "wallboard.html", context)


async def login(request: Request) -> Response:
    """GET: the form. POST: check the name and password, start a session, go to `next`."""
    auth = request.app.state.auth
    if request.method == "GET":
        next_path = safe_next(request.query_params.get("next"), base_of(request))
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id and await auth.session_user_async(session_id) is not None:
            return RedirectResponse(next_path, status_code=303)
        return render_page(request, "login.html", {"next": next_path, "name": "", "error": ""})
    if not _same_origin_post(request):
        log.warning("login POST from a foreign origin refused")
        return message_page(request, "Forbidden", "This form must be sent from this site.", 403)
    try:
        form = await request.form(max_files=0, max_fields=8, max_part_size=8192)
    except Exception:
        return message_page(request, "Bad request", "The form could not be read.", 400)
    name = str(form.get("name", ""))[: NAME_MAX + 1]
    password = str(form.get("password", ""))
    next_path = safe_next(str(form.get("next", "")), base_of(request))
    context = {"next": next_path, "name": name[:NAME_MAX], "error": ""}
    if not name or not password or len(name) > NAME_MAX or len(password) > PASSWORD_MAX:
        context["error"] = "Enter your user name and password."
        return render_page(request, "login.html", context, 400)
    client = request.client.host if request.client else "unknown"
    try:
        user = await auth.login(client, name, password)
    except AuthFailure as failure:
        context["error"] = (
            failure.message if failure.status == 429 else ("Wrong user name or password.")
        )
        return render_page(request, "login.html", context, failure.status)
    session_id = await asyncio.to_thread(auth.create_session, user)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(**_cookie(request, session_id))
    for name_, value in security_headers(request).items():
        response.headers[name_] = value
    return response


async def logout(request: Request) -> Response:
    """GET: a confirmation button (logging out is a POST). POST: end the session."""
    if request.method == "GET":
        return render_page(request, "logout.html", {})
    if not _same_origin_post(request):
        return message_page(request, "Forbidden", "This form must be sent from this site.", 403)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await asyncio.to_thread(request.app.state.auth.end_session, session_id)
    response = RedirectResponse(base_of(request) + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=base_of(request) or "/", httponly=True,
                           samesite="lax", secure=request.url.scheme == "https")  # fmt: skip
    return response


def _cookie(request: Request, session_id: str) -> dict[str, Any]:
    """The session cookie: scoped to the base path, `Secure` when the public scheme is https."""
    settings = request.app.state.settings
    return session_cookie_kwargs(
        session_id, secure=request.url.scheme == "https", max_age=settings.session_max_age,
        path=base_of(request) or "/",
    )  # fmt: skip
