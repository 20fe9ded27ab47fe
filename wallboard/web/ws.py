"""The `/ws` endpoint: check the Origin and the credentials, subscribe to the hub, police input.

A browser's Origin must be the server's own (its Host header) or one of `allowed_origins`;
clients without an Origin are not browsers and need only credentials. Refusals happen before
the handshake completes (HTTP 403). Client messages: `{"type":"resync"}` gets a snapshot,
`{"type":"ping"}` a pong; anything else malformed gets an error and the socket stays open.
Oversized messages and floods close the socket with 1008. Session and display-link
credentials are re-checked every few seconds, so a revoked link stops a screen quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from wallboard.auth import AuthFailure, User
from wallboard.live.hub import CLOSE_POLICY, Client, Hub
from wallboard.live.views import View, make_view

log = logging.getLogger(__name__)

_LOG_FIRST = 20  # bad-input messages logged before only every 1000th is


@dataclass(frozen=True)
class SocketPolicy:
    """Limits of the endpoint (tests shorten them)."""

    max_message: int = 4096  # characters (text) or bytes (binary) of one client message
    rate: float = 5.0  # client messages per second, sustained...
    burst: int = 20  # ...and at most this many at once
    recheck: float = 5.0  # seconds between re-checks of a session or display credential


class TokenBucket:
    """`rate` events per second on average, `burst` at once (pure: the caller gives the time)."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = now

    def take(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def routes(policy: SocketPolicy | None = None) -> list[BaseRoute]:
    """The websocket route to mount (`/ws`)."""
    return [WebSocketRoute("/ws", SocketEndpoint(policy or SocketPolicy()).serve, name="ws")]


# ----------------------------------------------------------------------------- pure helpers


def _strip_default_port(netloc: str, scheme: str) -> str:
    default = {"http": ":80", "https": ":443", "ws": ":80", "wss": ":443"}.get(scheme)
    if default and netloc.endswith(default):
        return netloc[: -len(default)]
    return netloc


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str] = ()) -> bool:
    """Whether a request's Origin is the server itself (same Host) or a configured origin.

    No Origin at all is allowed: browsers always send one on websockets and POSTs, so its
    absence means a script, which cross-site request forgery cannot drive."""
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    listed = {item.strip().lower().rstrip("/") for item in allowed}
    if origin in listed:
        return True
    scheme, separator, netloc = origin.partition("://")
    if not separator or scheme not in ("http", "https") or not host:
        return False
    own = host.strip().lower()
    return _strip_default_port(netloc, scheme) in (own, _strip_default_port(own, scheme))


def parse_queues(value: str | None) -> list[str] | None:
    """The `?queues=a,b` choice; None when absent or blank (= every visible queue)."""
    if not value:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    return names or None


def interpret(message: dict[str, Any]) -> tuple[str, str]:
    """What a client message asks: ("resync"|"ping", "") or ("error", code) with a reason."""
    text = message.get("text")
    if text is None:
        return "error", "text_only"
    try:
        data = json.loads(text)
    except ValueError:
        return "error", "bad_json"
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return "error", "bad_message"
    kind = data["type"]
    if kind in ("resync", "ping"):
        return kind, ""
    return "error", "unknown_type"


_ERRORS = {
    "text_only": "send JSON text messages",
    "bad_json": "not valid JSON",
    "bad_message": 'expected an object with a "type"',
    "unknown_type": 'unknown type: expected "resync" or "ping"',
}


# ----------------------------------------------------------------------------- the endpoint


def _note(hub: Hub, key: str, message: str, *args: Any) -> None:
    """Count a bad input; log the first few and then every 1000th."""
    hub.counters[key] += 1
    count = hub.counters[key]
    if count <= _LOG_FIRST or count % 1000 == 0:
        log.info(message + " (%d so far)", *args, count)


def _hub_of(websocket: WebSocket) -> Hub | None:
    live = getattr(websocket.app.state, "live", None)
    return getattr(live, "hub", None)


def _agents_of(websocket: WebSocket, agents: frozenset[str]) -> frozenset[str]:
    """Every name an agent restriction's agents are logged under (interfaces too)."""
    live = getattr(websocket.app.state, "live", None)
    expand = getattr(live, "agents_of", None)
    return expand(agents) if agents and expand is not None else agents


def _client_host(websocket: WebSocket) -> str:
    return websocket.client.host if websocket.client else "unknown"


@dataclass(eq=False)
class _Watched:
    """A socket whose credential is re-checked: what it authenticated as, and when next."""

    websocket: WebSocket
    hub: Hub
    user: User
    chosen: list[str] | None
    due: float


class SocketEndpoint:
    """The `/ws` endpoint: its limits, and one loop re-checking every socket's credential
    (one task for all sockets rather than one per socket keeps a thousand screens cheap)."""

    def __init__(self, policy: SocketPolicy) -> None:
        self.policy = policy
        self._watched: dict[Client, _Watched] = {}
        self._rechecker: asyncio.Task[None] | None = None

    async def serve(self, websocket: WebSocket) -> None:
        """One websocket from handshake to close."""
        state = websocket.app.state
        hub = _hub_of(websocket)
        if hub is None:
            log.warning("websocket refused: the live side is not running")
            await websocket.close(code=1011)
            return
        origin = websocket.headers.get("origin")
        if not origin_allowed(
            origin, websocket.headers.get("host"), state.settings.allowed_origins
        ):
            _note(hub, "refused_origin", "websocket from foreign origin %r refused", origin)
            await websocket.close(code=CLOSE_POLICY)
            return
        try:
            user = await state.auth.check(websocket)
        except AuthFailure as failure:
            _note(hub, "refused_auth", "websocket from %s refused: %s", _client_host(websocket),
                  failure.message)  # fmt: skip
            await websocket.close(code=CLOSE_POLICY)
            return
        chosen = parse_queues(websocket.query_params.get("queues"))
        await websocket.accept()

        async def close_socket(code: int, reason: str) -> None:
            await websocket.close(code=code, reason=reason)

        view = make_view(user.queues, _agents_of(websocket, user.agents), chosen)
        client = hub.subscribe(view, websocket.send_text, close_socket)
        basic = websocket.headers.get("authorization", "").lower().startswith("basic ")
        if not basic:  # sessions and display links are cheap to re-check; passwords are not
            self._watch(client, _Watched(websocket, hub, user, chosen, 0.0))
        reader = asyncio.create_task(self._read(websocket, hub, client))
        try:
            await asyncio.wait((reader, client.done), return_when=asyncio.FIRST_COMPLETED)
            if client.closing:  # let the close frame go out (bounded by the hub's close timeout)
                await client.wait_closed()
        finally:
            self._watched.pop(client, None)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            hub.unsubscribe(client)

    async def _read(self, websocket: WebSocket, hub: Hub, client: Client) -> None:
        policy = self.policy
        loop = asyncio.get_running_loop()
        bucket = TokenBucket(policy.rate, policy.burst, loop.time())
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            hub.touch(client)
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            if len(data) > policy.max_message:
                _note(hub, "oversized", "websocket message of %d characters from %s",
                      len(data), _client_host(websocket))  # fmt: skip
                hub.close(client, CLOSE_POLICY, "message too big")
                return
            if not bucket.take(loop.time()):
                _note(hub, "floods", "websocket flood from %s", _client_host(websocket))
                hub.close(client, CLOSE_POLICY, "too many messages")
                return
            kind, code = interpret(message)
            if kind == "resync":
                hub.resync(client)
            elif kind == "ping":
                hub.pong(client)
            else:
                _note(hub, "malformed", "malformed websocket message (%s) from %s",
                      code, _client_host(websocket))  # fmt: skip
                hub.error(client, code, _ERRORS[code])

    # ---------------------------------------------------------------------------- re-checks

    def _watch(self, client: Client, watched: _Watched) -> None:
        loop = asyncio.get_running_loop()
        watched.due = loop.time() + self.policy.recheck
        self._watched[client] = watched
        if self._rechecker is None or self._rechecker.done():
            self._rechecker = loop.create_task(self._recheck_all())

    async def _recheck_all(self) -> None:
        """Until no socket is left: re-check each one every `policy.recheck` seconds."""
        loop = asyncio.get_running_loop()
        step = max(0.05, self.policy.recheck / 5)
        while self._watched:
            await asyncio.sleep(step)
            checked = 0
            for client, watched in list(self._watched.items()):
                if watched.due > loop.time() or client not in self._watched:
                    continue
                watched.due = loop.time() + self.policy.recheck
                await self._recheck(client, watched)
                checked += 1
                if checked % 64 == 0:
                    await asyncio.sleep(0)  # a thousand sockets: let the fan-out run in between

    async def _recheck(self, client: Client, watched: _Watched) -> None:
        """Close with 1008 once the credential is revoked; follow permission changes."""
        try:
            again = await watched.websocket.app.state.auth.check(watched.websocket)
        except AuthFailure:
            reason = "display link revoked" if watched.user.display is not None else "session ended"
            _note(watched.hub, "revoked", "closing a websocket: %s", reason)
            self._watched.pop(client, None)
            watched.hub.close(client, CLOSE_POLICY, reason)
            return
        except Exception:  # a database hiccup must not blank a screen
            log.exception("could not re-check a websocket's credentials")
            return
        view: View = make_view(
            again.queues, _agents_of(watched.websocket, again.agents), watched.chosen
        )
        if view != client.view:
            watched.hub.move(client, view)
