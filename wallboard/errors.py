"""One error vocabulary: what cannot be done, as a code, a status and a message.

Every layer raises `WallboardError` (through the helpers below, which name the kind of failure
rather than spell an HTTP number); the web layer renders it with `error_body`, the one JSON
error shape of REST, pages and websocket alike: `{"error": code, "message": ..., "status": N}`.
"""

from __future__ import annotations

from collections.abc import Mapping

BAD_REQUEST = 400
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND = 404
URI_TOO_LONG = 414
TOO_MANY_REQUESTS = 429
INTERNAL = 500
UNAVAILABLE = 503


class WallboardError(Exception):
    """A request or command that cannot be done (the message says why to the person asking)."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = BAD_REQUEST,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = dict(headers or {})

    def body(self, **extra: str) -> dict[str, object]:
        return error_body(self.code, self.message, self.status, **extra)


def error_body(code: str, message: str, status: int, **extra: str) -> dict[str, object]:
    """The one JSON error shape of the product."""
    return {"error": code, "message": message, "status": status, **extra}


def bad_request(code: str, message: str) -> WallboardError:
    return WallboardError(code, message, BAD_REQUEST)


def forbidden(code: str, message: str) -> WallboardError:
    return WallboardError(code, message, FORBIDDEN)


def not_found(code: str, message: str) -> WallboardError:
    return WallboardError(code, message, NOT_FOUND)


def unavailable(code: str, message: str) -> WallboardError:
    return WallboardError(code, message, UNAVAILABLE)
