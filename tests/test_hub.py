"""The hub: per-view filtering, one encoding per view, bounded queues, heartbeats, resets.

No sockets: clients are coroutines appending to lists; the event loop is the real one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.browser_support import ModelFeed, Replica
from wallboard.live.hub import Hub
from wallboard.live.patch import merge_patch
from wallboard.live.state import CallCenterState
from wallboard.live.views import View, filter_patch, filter_state, make_view
from wallboard.simulator.model import CallCenterModel, default_config

T0 = 1_795_904_000.0


class FakeSocket:
    """A client socket: `send` can be held at a gate (a reader that stopped reading)."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.gate = gate

    async def send(self, text: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.sent.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def replica(self) -> Replica:
        replica = Replica()
        for raw in self.sent:
            replica.feed(raw)
        return replica


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def state_with(*queues: str) -> dict[str, Any]:
    member = {"name": "Alice", "status_text": "available", "paused": False, "since": 1.0}
    return {
        "day": "2026-11-28",
        "connection": {"connected": True, "since": 1.0, "error": ""},
        "queues": {
            q: {
                "params": {"strategy": "ringall"},
                "members": {"SIP/a": dict(member), "SIP/b": {**member, "name": "Bob"}},
                "callers": {},
                "counters": {"answered": 0},
            }
            for q in queues
        },
    }


class Source:
    """A live state to publish patches of, as CallCenterState would."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def snapshot(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.state))

    def change(self, hub: Hub, patch: dict[str, Any]) -> None:
        self.state = merge_patch(self.state, patch)
        hub.publish(patch)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def subscribe(hub: Hub, view: View, gate: asyncio.Event | None = None) -> tuple[Any, FakeSocket]:
    sock = FakeSocket(gate)
    return hub.subscribe(view, sock.send, sock.close), sock


# ------------------------------------------------------------------------------ views


def test_make_view_combines_restrictions_and_choice() -> None:
    assert make_view() == View(None, None)
    assert make_view(["a", "b"], chosen=["b", "c"]) == View(frozenset({"b"}), None)
    assert make_view(chosen=["c"]) == View(frozenset({"c"}), None)
    assert make_view([], ["Alice"]) == View(None, frozenset({"Alice"}))
    assert make_view(["a"], chosen=["z"]).queues == frozenset()  # asked for nothing visible


def test_filter_state_drops_hidden_queues_and_agents() -> None:
    state = state_with("a", "b")
    assert filter_state(state, View()) is state
    only_a = filter_state(state, View(frozenset({"a"})))
    assert list(only_a["queues"]) == ["a"] and only_a["connection"] == state["connection"]
    alice = filter_state(state, View(None, frozenset({"Alice"})))
    assert {q: list(v["members"]) for q, v in alice["queues"].items()} == {
        "a": ["SIP/a"],
        "b": ["SIP/a"],
    }


def test_filter_patch_members_entering_and_leaving_a_view() -> None:
    view = View(frozenset({"a"}), frozenset({"Alice"}))
    before = state_with("a", "b")
    # Bob renamed Alice: he enters the view whole; Alice renamed Carol: she leaves it.
    patch = {"queues": {"a": {"members": {"SIP/b": {"name": "Alice"}, "SIP/a": {"name": "Carol"}}},
                        "b": {"counters": {"answered": 1}}}}  # fmt: skip
    after = merge_patch(before, patch)
    out = filter_patch(patch, before, after, view)
    assert out == {"queues": {"a": {"members": {"SIP/b": after["queues"]["a"]["members"]["SIP/b"],
                                                "SIP/a": None}}}}  # fmt: skip
    # An invisible member's change and a hidden queue's change filter to nothing.
    patch = {"queues": {"a": {"members": {"SIP/b": {"paused": True}}}, "b": {"callers": {}}}}
    after = merge_patch(before, patch)
    assert filter_patch(patch, before, after, view) == {}
    # A new queue arrives filtered; a deleted one is deleted.
    patch = {"queues": {"c": state_with("c")["queues"]["c"], "a": None}}
    after = merge_patch(before, patch)
    wide = View(None, frozenset({"Bob"}))
    assert filter_patch(patch, before, after, wide) == {
        "queues": {"c": filter_state(after, wide)["queues"]["c"], "a": None}
    }
    # Top-level keys pass.
    assert filter_patch({"day": "x"}, before, before, view) == {"day": "x"}


# ------------------------------------------------------------------------------ publishing


async def test_same_bytes_for_every_client_of_a_view() -> None:
    source = Source(state_with("a", "b"))
    hub = Hub(source.snapshot, Clock())
    everyone = [subscribe(hub, View()) for _ in range(3)]
    only_b = [subscribe(hub, View(frozenset({"b"}))) for _ in range(2)]
    await settle()
    source.change(hub, {"queues": {"a": {"counters": {"answered": 1}}}})
    await settle()
    source.change(hub, {"queues": {"b": {"counters": {"answered": 2}}}})
    await settle()
    first = [sock.sent[1] for _, sock in everyone]
    assert all(text is first[0] for text in first)
    b_texts = [sock.sent for _, sock in only_b]
    assert all(len(sent) == 2 for sent in b_texts)  # the change to "a" was not theirs
    assert b_texts[0][1] is b_texts[1][1]
    assert json.loads(b_texts[0][1])["seq"] == 1  # seq counts the view's own patches
    assert hub.stats["views"] == 2 and hub.stats["clients"] == 5
    assert hub.counters["patches"] == 3  # 2 for everyone's view, 1 for b's


async def test_a_burst_of_patches_goes_out_as_one_message_per_view() -> None:
    source = Source(state_with("a", "b"))
    hub = Hub(source.snapshot, Clock())
    _, everyone = subscribe(hub, View())
    _, only_b = subscribe(hub, View(frozenset({"b"})))
    await settle()
    source.change(hub, {"queues": {"a": {"counters": {"answered": 1}}}})
    source.change(hub, {"queues": {"a": {"callers": {"c1": {"since": 5.0}}}}})
    source.change(hub, {"queues": {"a": {"callers": {"c1": None}, "counters": {"answered": 2}}}})
    source.change(hub, {"connection": {"connected": False}})
    await settle()
    assert json.loads(everyone.sent[1])["patch"] == {
        "connection": {"connected": False},
        "queues": {"a": {"counters": {"answered": 2}}},
    }
    assert json.loads(only_b.sent[1])["patch"] == {"connection": {"connected": False}}
    assert len(everyone.sent) == len(only_b.sent) == 2
    for sock in (everyone, only_b):
        assert sock.replica().seq == 1
    assert everyone.replica().state == source.state
    assert hub.counters["published"] == 4 and hub.counters["patches"] == 2


async def test_patches_reproduce_the_filtered_state_of_a_simulated_day() -> None:
    model = CallCenterModel(default_config(seed=7), T0)
    state = CallCenterState("UTC", lambda q: 20)
    hub = Hub(state.snapshot, lambda: model.now)
    feed = ModelFeed(model, state, hub)
    feed.bootstrap()
    views = [
        make_view(),
        make_view(["2000"]),
        make_view([], ["Alice", "Carol", "Judy"], chosen=["2000", "2002"]),
        make_view(["2001", "2002"], ["Dave", "Ivan", "Judy"]),
    ]
    socks = [subscribe(hub, view)[1] for view in views for _ in range(2)]
    for _ in range(90):
        feed.advance(20)
        await settle()
        if _ == 45:
            feed.bootstrap()  # an AMI resync mid-way: new epoch, snapshots
    await settle()
    assert feed.events > 500
    truth = state.snapshot()
    for index, sock in enumerate(socks):
        view = views[index // 2]
        replica = sock.replica()
        assert replica.state == filter_state(truth, view)
        assert replica.kinds.count("snapshot") == 2
        assert len(replica.patches) > 10
        for _, _, raw in replica.patches:
            visible = json.loads(raw)["patch"].get("queues", {})
            assert view.queues is None or set(visible) <= view.queues
            for queue in visible.values():
                for member in ((queue or {}).get("members") or {}).values():
                    assert (
                        member is None
                        or view.agents is None
                        or "name" not in member
                        or (member["name"] in view.agents)
                    )
    assert socks[0].sent == socks[1].sent  # two clients of a view: the very same messages


async def test_no_clients_no_work_then_snapshot_from_the_state() -> None:
    source = Source(state_with("a"))
    calls = []

    def snapshot() -> dict[str, Any]:
        calls.append(1)
        return source.snapshot()

    hub = Hub(snapshot, Clock())
    for n in range(5):
        source.change(hub, {"queues": {"a": {"counters": {"answered": n}}}})
    assert calls == [] and hub.counters["published"] == 5
    _, sock = subscribe(hub, View())
    await settle()
    assert sock.replica().state == source.state and len(calls) == 1


# ------------------------------------------------------------------------------ slow clients


async def test_overflow_replaces_the_backlog_with_one_snapshot() -> None:
    source = Source(state_with("a"))
    hub = Hub(source.snapshot, Clock(), queue_size=4)
    gate = asyncio.Event()
    slow, slow_sock = subscribe(hub, View(), gate)
    _, fast_sock = subscribe(hub, View())
    await settle()  # the slow writer now hangs on its snapshot
    for n in range(1, 6):  # 4 fit, the 5th overflows
        source.change(hub, {"queues": {"a": {"counters": {"answered": n}}}})
        await settle()
    assert hub.counters["overflows"] == 1 and hub.counters["dropped"] == 4
    assert list(map(lambda t: json.loads(t)["type"], slow.queue)) == ["snapshot"]
    gate.set()
    await settle()
    assert slow.behind is False  # drained: the next overflow gets a snapshot again
    source.change(hub, {"queues": {"a": {"counters": {"answered": 6}}}})
    await settle()
    for sock in (slow_sock, fast_sock):
        assert sock.replica().state == source.state
    assert [json.loads(t)["type"] for t in slow_sock.sent] == ["snapshot", "snapshot", "patch"]
    assert len(fast_sock.sent) == 7 and slow_sock.closed is None


async def test_falling_behind_twice_closes_with_1013() -> None:
    source = Source(state_with("a"))
    hub = Hub(source.snapshot, Clock(), queue_size=2)
    slow, slow_sock = subscribe(hub, View(), asyncio.Event())
    _, fast_sock = subscribe(hub, View())
    await settle()
    for n in range(1, 8):
        source.change(hub, {"queues": {"a": {"counters": {"answered": n}}}})
        await settle()
    assert slow_sock.closed == (1013, "too slow: fell behind twice")
    assert slow.done.done() and hub.stats["clients"] == 1
    assert hub.counters["closed_slow"] == 1
    assert fast_sock.replica().state == source.state


async def test_a_send_blocked_too_long_closes_with_1013() -> None:
    source = Source(state_with("a"))
    mono = Clock()
    hub = Hub(source.snapshot, Clock(), send_timeout=5, monotonic=mono)
    stuck, stuck_sock = subscribe(hub, View(), asyncio.Event())
    await settle()
    mono.now += 4
    hub.maintain()
    assert stuck_sock.closed is None
    mono.now += 2
    hub.maintain()
    await settle()
    assert stuck_sock.closed == (1013, "too slow: a send timed out")
    assert stuck.done.done() and hub.stats["clients"] == 0


# ------------------------------------------------------------------------------ heartbeats etc.


async def test_heartbeat_only_for_quiet_views_and_idle_clients_reaped() -> None:
    source = Source(state_with("a", "b"))
    mono = Clock()
    hub = Hub(source.snapshot, Clock(), heartbeat=15, idle_timeout=100, monotonic=mono)
    quiet, quiet_sock = subscribe(hub, View(frozenset({"b"})))
    busy, busy_sock = subscribe(hub, View(frozenset({"a"})))
    await settle()
    mono.now += 10
    source.change(hub, {"queues": {"a": {"counters": {"answered": 1}}}})
    await settle()
    mono.now += 6
    hub.maintain()
    await settle()
    assert [json.loads(t)["type"] for t in quiet_sock.sent] == ["snapshot", "ping"]
    assert [json.loads(t)["type"] for t in busy_sock.sent] == ["snapshot", "patch"]
    ping = json.loads(quiet_sock.sent[1])
    assert (ping["epoch"], ping["seq"], ping["now"]) == (hub.epoch, 0, 1000.0)
    hub.touch(busy)
    mono.now += 90
    hub.maintain()
    await settle()
    assert quiet_sock.closed == (1001, "idle") and busy_sock.closed is None
    assert quiet_sock.replica().kinds == ["snapshot", "ping"]  # then closed, nothing queued


async def test_reset_starts_a_new_epoch_with_snapshots() -> None:
    source = Source(state_with("a"))
    hub = Hub(source.snapshot, Clock())
    _, sock = subscribe(hub, View())
    await settle()
    source.change(hub, {"queues": {"a": {"counters": {"answered": 1}}}})
    await settle()
    first_epoch = hub.epoch
    source.state = state_with("a", "z")  # rebuilt behind the hub's back, as after a resync
    hub.reset()
    source.change(hub, {"queues": {"z": {"counters": {"answered": 3}}}})
    await settle()
    replica = sock.replica()
    assert hub.epoch > first_epoch and replica.epoch == hub.epoch and replica.seq == 1
    assert replica.kinds == ["snapshot", "patch", "snapshot", "patch"]
    assert replica.state == source.state


async def test_resync_pong_error_and_move() -> None:
    source = Source(state_with("a", "b"))
    hub = Hub(source.snapshot, Clock())
    client, sock = subscribe(hub, View())
    await settle()
    hub.resync(client)
    hub.pong(client)
    hub.error(client, "bad_json", "not valid JSON")
    await settle()
    hub.move(client, View(frozenset({"b"})))
    await settle()
    kinds = [json.loads(t)["type"] for t in sock.sent]
    assert kinds == ["snapshot", "snapshot", "pong", "error", "snapshot"]
    assert list(json.loads(sock.sent[-1])["state"]["queues"]) == ["b"]
    assert hub.stats["views"] == 1
    hub.unsubscribe(client)
    assert hub.stats["clients"] == 0 and hub.stats["views"] == 0


async def test_a_vanished_socket_is_dropped() -> None:
    source = Source(state_with("a"))
    hub = Hub(source.snapshot, Clock())

    async def broken(text: str) -> None:
        raise ConnectionResetError

    client = hub.subscribe(View(), broken, FakeSocket().close)
    await settle()
    assert client.done.done() and hub.stats["clients"] == 0
    assert hub.counters["send_errors"] == 1


async def test_start_and_stop_run_the_heartbeat_loop() -> None:
    source = Source(state_with("a"))
    hub = Hub(source.snapshot, Clock(), heartbeat=0.0, tick=0.01)
    _, sock = subscribe(hub, View())
    await hub.start()
    try:
        async with asyncio.timeout(10):
            while len(sock.sent) < 3:
                await asyncio.sleep(0.01)
    finally:
        await hub.stop()
    assert json.loads(sock.sent[-1])["type"] == "ping" and hub.stats["clients"] == 0


@pytest.mark.parametrize("size", [1, 3])
async def test_queue_bound_holds(size: int) -> None:
    source = Source(state_with("a"))
    hub = Hub(source.snapshot, Clock(), queue_size=size)
    client, _ = subscribe(hub, View(), asyncio.Event())
    await settle()
    for n in range(size):
        source.change(hub, {"queues": {"a": {"counters": {"answered": n + 1}}}})
        assert len(client.queue) <= size
