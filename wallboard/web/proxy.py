"""The request as the user sent it: behind a reverse proxy, under a path prefix, odd slashes.

- `X-Forwarded-Proto`, `-For` and `-Host` are believed only from `trusted_proxies`; then the
  scheme, the client address and the Host header become the public ones, so the Origin check,
  redirects and the cookie's `Secure` flag follow what the browser sees.
- With a `base_path` ("/wallboard") everything is served under it: the prefix becomes the ASGI
  `root_path`, which Starlette's routing strips and every link the pages build starts with.
- Repeated slashes collapse (`//stats/rest/index.php`, as the original's PHP demos send).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from wallboard.errors import NOT_FOUND, error_body

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_KEY = "wallboard.trusted_proxy"  # scope key: the request came through a trusted proxy
_SLASHES = re.compile(r"/{2,}")


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The trusted_proxies setting as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def is_trusted(address: str | None, trusted: Sequence[Network]) -> bool:
    if not address or not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def forwarded_client(header: str, peer: str, trusted: Sequence[Network]) -> str:
    """The client's address from `X-Forwarded-For`: the nearest hop that is not a trusted
    proxy (each proxy appends the address it saw), or the peer when the header is empty."""
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def collapse_slashes(path: str) -> str:
    return _SLASHES.sub("/", path) if "//" in path else path


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class ProxyMiddleware:
    """Rewrites each request's scope to the public view (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, base_path: str = "", trusted_proxies: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.base_path = base_path
        self.trusted = networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        path = collapse_slashes(scope["path"])
        if path != scope["path"]:
            scope["path"] = path
            scope["raw_path"] = path.encode("utf-8")
        peer = scope.get("client")
        if peer and is_trusted(peer[0], self.trusted):
            self._forwarded(scope, peer)
        if self.base_path:
            base = self.base_path
            if path == base or path.startswith(base + "/"):
                scope["root_path"] = scope.get("root_path", "") + base
            else:
                await self._outside(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope, peer: tuple[str, int]) -> None:
        scope[TRUSTED_KEY] = True
        proto = _header(scope, b"x-forwarded-proto")
        if proto:
            public = proto.split(",")[0].strip().lower()
            if public in ("http", "https"):
                secure = public == "https"
                if scope["type"] == "websocket":
                    scope["scheme"] = "wss" if secure else "ws"
                else:
                    scope["scheme"] = public
        forwarded_for = _header(scope, b"x-forwarded-for")
        if forwarded_for:
            scope["client"] = (forwarded_client(forwarded_for, peer[0], self.trusted), 0)
        host = _header(scope, b"x-forwarded-host")
        if host:
            public_host = host.split(",")[0].strip()
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope["headers"] = [(b"host", public_host.encode("latin-1")), *headers]

    async def _outside(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request outside `base_path`: the root redirects into it, the rest is a 404."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["path"] == "/":
            headers = [(b"location", (self.base_path + "/").encode()), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 302, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps(error_body(
            "not_found", f"this server serves everything under {self.base_path}/", NOT_FOUND
        )).encode()  # fmt: skip
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})
