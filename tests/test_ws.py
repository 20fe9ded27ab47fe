"""/ws on a real uvicorn (127.0.0.1, ephemeral port) with real websocket clients.

The live state is driven straight from a seeded simulator model (no AMI) so every run is the
same; the server, the sockets, the hub's queues and the auth checks are the real ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.browser_support import Live, ModelFeed, Replica, Served, build_app, session_cookie
from wallboard.auth import User
from wallboard.config import Settings
from wallboard.history.store import open_store
from wallboard.live.events import CallerJoin, CallerLeave
from wallboard.live.hub import Hub
from wallboard.live.state import CallCenterState
from wallboard.live.views import View, filter_state, make_view
from wallboard.simulator.model import CallCenterModel, default_config
from wallboard.web.ws import SocketPolicy, TokenBucket, interpret, origin_allowed, parse_queues

T0 = 1_795_904_000.0
TIMEOUT = 30  # generous: only there to turn a hang into a failure


@dataclass
class Site:
    served: Served
    app: Any
    hub: Hub
    state: CallCenterState
    feed: ModelFeed
    users: dict[str, User]

    @property
    def url(self) -> str:
        return f"ws://{self.served.base}/ws"

    def cookie(self, name: str) -> dict[str, str]:
        return {"Cookie": session_cookie(self.app, self.users[name])}

    async def open(
        self, user: str | None = "admin", query: str = "", **kwargs: Any
    ) -> ClientConnection:
        headers = self.cookie(user) if user else {}
        headers.update(kwargs.pop("headers", {}))
        return await connect(self.url + query, additional_headers=headers, open_timeout=TIMEOUT,
                             max_size=None, **kwargs)  # fmt: skip

    def truth(self, view: View) -> dict[str, Any]:
        return filter_state(self.state.snapshot(), view)


@pytest.fixture
async def make_site(tmp_path) -> AsyncIterator[Callable[..., Any]]:
    sites: list[Site] = []

    async def make(policy: SocketPolicy | None = None, **hub_options: Any) -> Site:
        settings = Settings(db=str(tmp_path / f"wb{len(sites)}.db"), timezone="UTC",
                            allowed_origins=("http://tv.example",))  # fmt: skip
        store = open_store(settings.db)
        model = CallCenterModel(default_config(seed=11), T0)
        state = CallCenterState("UTC", settings.service_level_for)
        hub = Hub(state.snapshot, **{"tick": 0.1, **hub_options})
        feed = ModelFeed(model, state, hub)
        feed.bootstrap()
        app = build_app(settings, store, Live(state, hub), policy or SocketPolicy(recheck=0.2))
        auth = app.state.auth
        users = {
            "admin": auth.users.add("admin", "pw", admin=True),
            "sales": auth.users.add("sales", "pw", queues="2000"),
            "team": auth.users.add("team", "pw", agents="Alice,Carol,Judy"),
        }
        served = await Served(app).start()
        await hub.start()
        site = Site(served, app, hub, state, feed, users)
        sites.append(site)
        return site

    yield make
    for site in sites:
        await site.hub.stop()
        await site.served.stop()


class _quiet:
    """Ends a reader quietly when its connection closes."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, ConnectionClosed)


async def follow(conn: ClientConnection, replica: Replica) -> None:
    with _quiet():
        async for raw in conn:
            replica.feed(raw)


async def until(predicate: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(TIMEOUT):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def next_message(conn: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        return json.loads(await conn.recv())


async def closed_with(conn: ClientConnection) -> tuple[int | None, str]:
    async with asyncio.timeout(TIMEOUT):
        with _quiet():
            async for _ in conn:
                pass
    return conn.close_code, conn.close_reason or ""


# ------------------------------------------------------------------------------ pure parts


def test_origin_rules() -> None:
    assert origin_allowed(None, "h:1")  # not a browser
    assert origin_allowed("http://h:1", "h:1")
    assert origin_allowed("HTTPS://H", "h:443")
    assert origin_allowed("http://h", "h:80")
    assert not origin_allowed("http://evil:1", "h:1")
    assert not origin_allowed("null", "h:1")
    assert not origin_allowed("ftp://h:1", "h:1")
    assert origin_allowed("http://tv.example/", "h:1", ["http://tv.example"])


def test_client_messages_and_rate_limit() -> None:
    assert interpret({"text": '{"type":"resync"}'}) == ("resync", "")
    assert interpret({"text": '{"type":"ping","x":1}'}) == ("ping", "")
    assert interpret({"text": "nope"}) == ("error", "bad_json")
    assert interpret({"text": "[1]"}) == ("error", "bad_message")
    assert interpret({"text": '{"type":"hello"}'}) == ("error", "unknown_type")
    assert interpret({"bytes": b"{}"}) == ("error", "text_only")
    assert parse_queues(" a, ,b ") == ["a", "b"] and parse_queues("") is None
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)


# ------------------------------------------------------------------------------ fan-out


async def test_200_clients_in_three_views_get_exactly_their_patches(make_site) -> None:
    site = await make_site()
    plans = [("admin", "", make_view()), ("sales", "", make_view(["2000"])),
             ("team", "?queues=2000,2002", make_view([], ["Alice", "Carol", "Judy"], ["2000", "2002"]))]  # fmt: skip
    clients = []
    for index in range(200):
        user, query, view = plans[index % 3]
        clients.append((view, await site.open(user, query), Replica()))
    readers = [asyncio.create_task(follow(conn, replica)) for _, conn, replica in clients]
    await until(lambda: all(r.state is not None for _, _, r in clients), "every snapshot")
    assert site.hub.stats["views"] == 3 and site.hub.stats["clients"] == 200
    for _ in range(100):
        site.feed.advance(3)  # one burst of patches: one message per view
        await asyncio.sleep(0.005)
    await until(
        lambda: all(r.state == site.truth(view) for view, _, r in clients), "every replica in step"
    )
    by_view: dict[View, list[Replica]] = {}
    for view, _, replica in clients:
        by_view.setdefault(view, []).append(replica)
    for view, replicas in by_view.items():
        first = replicas[0].patches
        assert len(first) >= 5
        assert all(r.patches == first for r in replicas)  # the same patches, in the same order
        for _, _, raw in first:
            queues = json.loads(raw)["patch"].get("queues", {})
            assert view.queues is None or set(queues) <= view.queues
    assert len(by_view[plans[0][2]][0].patches) > len(by_view[plans[1][2]][0].patches)
    for _, conn, _ in clients:
        await conn.close()
    await asyncio.gather(*readers)
    await until(lambda: site.hub.stats["clients"] == 0, "every client gone")


async def test_a_client_that_never_reads_delays_no_one(make_site) -> None:
    site = await make_site(queue_size=16, send_timeout=1.0, close_timeout=0.5)
    view = make_view()
    fast = await site.open()
    fast_replica = Replica()
    fast_reader = asyncio.create_task(follow(fast, fast_replica))
    # The stalled client: a tiny receive buffer, and a library that stops reading at once.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", site.served.port))
    slow = await site.open(sock=sock, max_queue=1)
    name = "x" * 16000  # the server's kernel send buffer grows to a few MB: fill it
    for n in range(2000):
        patch = site.state.apply(CallerJoin("2000", f"big{n}", None, None, "1", name), T0)
        site.hub.publish(patch)
        if n >= 5:
            site.hub.publish(site.state.apply(CallerLeave("2000", f"big{n - 5}"), T0))
        await asyncio.sleep(0.002)
        if site.hub.counters["closed_slow"]:
            break
    await until(lambda: fast_replica.state == site.truth(view), "the reading client in step")
    assert site.hub.counters["overflows"] + site.hub.counters["closed_slow"] >= 1
    # Now the stalled client reads what it was sent.
    slow_replica = Replica()
    code = None
    try:
        async with asyncio.timeout(TIMEOUT):
            while slow_replica.state != site.truth(view):
                slow_replica.feed(await slow.recv())
    except ConnectionClosed:
        code = slow.close_code
    if site.hub.counters["closed_slow"]:
        assert code in (1013, 1006)  # 1006: the close frame could not get through the jam
    else:
        assert slow_replica.kinds.count("snapshot") >= 2  # its backlog was replaced
    await fast.close()
    await fast_reader


# ------------------------------------------------------------------------------ protocol


async def test_malformed_messages_get_errors_and_the_socket_stays(make_site) -> None:
    site = await make_site()
    conn = await site.open()
    assert (await next_message(conn))["type"] == "snapshot"
    for bad, code in [("not json", "bad_json"), ("[1,2]", "bad_message"),
                      ('{"type":"subscribe"}', "unknown_type"), (b"\x00\x01", "text_only")]:  # fmt: skip
        await conn.send(bad)
        answer = await next_message(conn)
        assert (answer["type"], answer["code"]) == ("error", code) and answer["message"]
    await conn.send('{"type":"ping"}')
    pong = await next_message(conn)
    assert pong["type"] == "pong" and pong["epoch"] == site.hub.epoch
    await conn.send('{"type":"resync"}')
    assert (await next_message(conn))["type"] == "snapshot"
    assert site.hub.counters["malformed"] == 4
    await conn.close()


async def test_huge_frames_and_floods_close_with_1008(make_site) -> None:
    site = await make_site(policy=SocketPolicy(rate=5, burst=10))
    big = await site.open()
    await big.send('{"type":"ping","pad":"' + "x" * 5000 + '"}')
    assert await closed_with(big) == (1008, "message too big")
    flood = await site.open()
    for _ in range(40):
        await flood.send('{"type":"ping"}')
    assert await closed_with(flood) == (1008, "too many messages")
    assert site.hub.counters["oversized"] == 1 and site.hub.counters["floods"] == 1


async def test_origin_and_credentials_are_checked_before_the_handshake(make_site) -> None:
    site = await make_site()
    refusals = [
        dict(user="admin", origin="http://evil.example"),
        dict(user=None),
        dict(
            user=None, headers={"Authorization": "Basic " + base64.b64encode(b"admin:no").decode()}
        ),
        dict(user=None, query="?display=forged-token"),
    ]
    for options in refusals:
        with pytest.raises(InvalidStatus) as refused:
            await site.open(**options)
        assert refused.value.response.status_code == 403
    for options in [
        dict(origin="http://tv.example"),
        dict(origin=f"http://{site.served.base}"),
        dict(
            user=None, headers={"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
        ),
    ]:
        conn = await site.open(**{"user": "admin", **options})
        assert (await next_message(conn))["type"] == "snapshot"
        await conn.close()
    assert site.hub.counters["refused_origin"] == 1 and site.hub.counters["refused_auth"] == 3


async def test_a_revoked_display_link_closes_the_screen(make_site) -> None:
    site = await make_site()
    displays = site.app.state.auth.displays
    token = displays.add("lobby", "sales")
    narrow = displays.add("tv-2001", "admin", queues="2001")
    conn = await site.open(None, f"?display={token}")
    snapshot = await next_message(conn)
    assert list(snapshot["state"]["queues"]) == ["2000"]
    other = await site.open(None, f"?display={narrow}&queues=2000,2001")
    assert list((await next_message(other))["state"]["queues"]) == ["2001"]
    assert displays.revoke("lobby")
    assert await closed_with(conn) == (1008, "display link revoked")
    assert site.hub.counters["revoked"] == 1
    await other.send('{"type":"ping"}')
    assert (await next_message(other))["type"] == "pong"  # the other screen stays
    await other.close()
