"""No silent errors: every request gets an id, and an unhandled exception is logged once, with
its traceback and that id, and answered with the id: the JSON error shape on the API, a small
self-contained HTML page elsewhere (it must not need the templates: they may be what failed).
"""

from __future__ import annotations

import html
import json
import logging
import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wallboard.errors import error_body
from wallboard.web.proxy import TRUSTED_KEY

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
_INCOMING_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def is_api_path(scope: Scope) -> bool:
    """Whether a request is for the JSON API (errors in JSON) rather than a page."""
    path = scope.get("path", "")
    return "/rest/" in path or path.endswith(("/openapi.json", "/metrics"))


def request_id(scope: Scope) -> str:
    """The id of the request being served ("" outside a request)."""
    return str(scope.get("state", {}).get("request_id", ""))


def _new_id(scope: Scope) -> str:
    """A fresh id, or the one a trusted proxy sent (nginx's `$request_id`), to follow a request
    across both logs."""
    if scope.get(TRUSTED_KEY):
        for key, value in scope.get("headers", ()):
            if key == REQUEST_ID_HEADER:
                text = value.decode("latin-1")
                if _INCOMING_ID.fullmatch(text):
                    return text
    return secrets.token_hex(8)


def _error_page(rid: str) -> bytes:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Server error · Wallboard</title></head><body style=\"font-family:sans-serif;"
        "background:#10141a;color:#e6e9ef;padding:3em\"><h1>Something went wrong</h1>"
        "<p>The server failed to answer this request. It has been logged; give this id to your"
        f" administrator: <code>{html.escape(rid)}</code></p></body></html>"
    ).encode()


class RequestErrors:
    """Assigns request ids (`X-Request-ID` on every response) and catches what escapes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = _new_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def tagged(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER, rid.encode()))
                message = {**message, "headers": headers}
            elif message["type"] in ("websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        except Exception:
            log.exception(
                "request %s: unhandled error on %s %s",
                rid, scope.get("method", "WEBSOCKET"), scope.get("path", ""),
            )  # fmt: skip
            if started:
                return
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011})
                return
            if is_api_path(scope):
                body = json.dumps(error_body(
                    "internal_error", "the server failed to answer this request", 500,
                    request_id=rid,
                )).encode()  # fmt: skip
                kind = b"application/json"
            else:
                body, kind = _error_page(rid), b"text/html; charset=utf-8"
            await send({
                "type": "http.response.start", "status": 500,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (REQUEST_ID_HEADER, rid.encode())],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": body})
