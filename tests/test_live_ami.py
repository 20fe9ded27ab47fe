"""The AMI shell over real TCP sockets against the replay server (tests/amireplay.py)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from tests.amireplay import AmiReplayServer, Capture, headers, load_capture, status_response
from wallboard.config import Settings
from wallboard.live.ami import AmiListener
from wallboard.live.events import Malformed, parse_event
from wallboard.live.framing import AmiFramer
from wallboard.live.patch import merge_patch
from wallboard.live.state import CallCenterState

COMPARED_MEMBER_FIELDS = (
    "name",
    "status",
    "status_text",
    "paused",
    "pause_reason",
    "penalty",
    "in_call",
)


@pytest.fixture(scope="module")
def capture() -> Capture:
    return load_capture()


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for a condition; the timeout only guards against hangs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached before the hang guard")
        await asyncio.sleep(0.005)


def truth(status_block: list[bytes]) -> dict[str, Any]:
    """The queues a QueueStatus response describes, via a fresh state (the reference)."""
    reference = CallCenterState("UTC", lambda q: 20)
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    items = [parse_event(m) for m in framer.feed(b"".join(m + b"\r\n\r\n" for m in status_block))]
    reference.reset([e for e in items if e is not None], 0.0)
    return reference.snapshot()["queues"]


def assert_matches(queues: dict[str, Any], expected: dict[str, Any]) -> None:
    """Same queues, same members with the same statuses/paused flags, same waiting callers."""
    assert sorted(queues) == sorted(expected)
    for name, q in expected.items():
        got = queues[name]
        assert sorted(got["members"]) == sorted(q["members"]), name
        for interface, member in q["members"].items():
            mine = got["members"][interface]
            assert {k: mine[k] for k in COMPARED_MEMBER_FIELDS} == {
                k: member[k] for k in COMPARED_MEMBER_FIELDS
            }, (name, interface)
        assert {u: c["position"] for u, c in got["callers"].items()} == {
            u: c["position"] for u, c in q["callers"].items()
        }, name
        assert {u: c["callerid_num"] for u, c in got["callers"].items()} == {
            u: c["callerid_num"] for u, c in q["callers"].items()
        }, name


class Recorder:
    """Collects the patches the listener emits."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    def __call__(self, patch: dict[str, Any]) -> None:
        json.dumps(patch)  # every patch must be JSON-serialisable
        self.patches.append(patch)


def listener_for(
    server: AmiReplayServer, state: CallCenterState, on_patch, **kw: Any
) -> AmiListener:
    params: dict[str, Any] = dict(
        host="127.0.0.1",
        port=server.port,
        user="wallboard",
        secret="secret",
        state=state,
        on_patch=on_patch,
        ping_interval=5.0,
        ping_timeout=5.0,
        backoff_initial=0.02,
        backoff_max=0.2,
    )
    params.update(kw)
    return AmiListener(**params)


async def test_capture_replay_ends_in_the_closing_queue_status(capture: Capture) -> None:
    server = AmiReplayServer(status=capture.status_blocks[0], stream=capture.events)
    await server.start()
    state = CallCenterState("UTC", lambda q: 20)
    first = state.snapshot()
    recorder = Recorder()
    listener = listener_for(server, state, recorder)
    await listener.start()
    try:
        await until(lambda: listener.synced.is_set())
        # + 1: the FullyBooted that follows the login
        await until(lambda: listener.stats["events"] >= len(capture.events) + 1)
        snap = state.snapshot()
        assert_matches(snap["queues"], truth(capture.status_blocks[-1]))
        stats = listener.stats
        assert stats["connects"] == 1 and stats["resyncs"] == 1
        assert stats["malformed"] == stats["handler_errors"] == stats["oversized"] == 0
        assert snap["connection"]["connected"] is True
        # The patches rebuild the state exactly, with no list and no null inside.
        doc = first
        for patch in recorder.patches:
            doc = merge_patch(doc, patch)
        assert doc == snap
        # Every waiting caller of the run was seen and gone by the end.
        joined = sum(headers(m).get("event") == "QueueCallerJoin" for m in capture.events)
        assert joined == 83
        assert all(not q["callers"] for q in snap["queues"].values())
    finally:
        await listener.stop()
        await server.stop()
    assert state.snapshot()["connection"]["connected"] is False


def changed_truth(capture: Capture) -> list[bytes]:
    """The closing QueueStatus, altered: one member gone, one paused, one caller waiting."""
    items = capture.status_blocks[-1][1:-1]
    kept: list[bytes] = []
    for item in items:
        h = headers(item)
        if h.get("event") == "QueueMember" and h.get("location") == "Local/agent2@agents":
            continue  # Bob left while we were away
        if h.get("event") == "QueueMember" and h.get("location") == "Local/agent4@agents":
            item = item.replace(b"Paused: 0", b"Paused: 1").replace(
                b"PausedReason: ", b"PausedReason: Lunch"
            )
        kept.append(item)
    kept.append(
        b"Event: QueueEntry\r\nQueue: 2000\r\nPosition: 1\r\nChannel: PJSIP/x-1\r\n"
        b"Uniqueid: 1800000000.1\r\nCallerIDNum: 5550100\r\nCallerIDName: Jos\xc3\xa9\r\n"
        b"ConnectedLineNum: unknown\r\nConnectedLineName: unknown\r\nWait: 12\r\nPriority: 0"
    )
    return status_response(kept)


async def test_reconnect_resyncs_to_the_new_truth_and_patches_the_old_view(
    capture: Capture,
) -> None:
    half = len(capture.events) // 2
    server = AmiReplayServer(status=capture.status_blocks[0], stream=capture.events[:half])
    await server.start()
    state = CallCenterState("UTC", lambda q: 20)
    recorder = Recorder()
    listener = listener_for(server, state, recorder)
    await listener.start()
    try:
        await until(lambda: listener.stats["events"] >= half + 1)
        old = state.snapshot()
        assert any(q["callers"] for q in old["queues"].values()), "mid-run: callers are waiting"
        seen = len(recorder.patches)
        new_status = changed_truth(capture)
        server.status, server.stream = new_status, b""
        await server.cut()
        await until(lambda: listener.stats["resyncs"] == 2)
        new = state.snapshot()
        expected = truth(new_status)
        assert_matches(new["queues"], expected)
        assert "Local/agent2@agents" not in new["queues"]["2000"]["members"]
        assert new["queues"]["2000"]["members"]["Local/agent4@agents"]["pause_reason"] == "Lunch"
        assert new["queues"]["2000"]["callers"]["1800000000.1"]["callerid_name"] == "José"
        assert new["connection"]["connected"] is True
        # What browsers hold (old) + the emitted patches = the new state.
        doc = old
        for patch in recorder.patches[seen:]:
            doc = merge_patch(doc, patch)
        assert doc == new
        ghost_deletions = [
            uid
            for patch in recorder.patches[seen:]
            for q in patch.get("queues", {}).values()
            if isinstance(q, dict)
            for uid, v in q.get("callers", {}).items()
            if v is None
        ]
        assert ghost_deletions, "callers that left while disconnected are deleted"
        went_down = [p["connection"] for p in recorder.patches[seen:] if "connection" in p]
        assert went_down[0]["connected"] is False and went_down[0]["error"]
        assert server.connections == 2 and server.logins == 2
    finally:
        await listener.stop()
        await server.stop()


async def test_wrong_secret_is_reported_and_retried_slowly() -> None:
    server = AmiReplayServer(secret="right")
    await server.start()
    state = CallCenterState("UTC", lambda q: 20)
    listener = listener_for(server, state, Recorder(), secret="wrong")
    await listener.start()
    try:
        await until(lambda: listener.retry_delay > 0)
        connection = state.snapshot()["connection"]
        assert connection["connected"] is False
        assert "authentication failed" in connection["error"].lower()
        assert listener.retry_delay >= 30
        assert listener.stats["auth_failures"] == 1
        await asyncio.sleep(0.3)
        assert server.login_attempts == 1
    finally:
        await listener.stop()
        await server.stop()


async def test_unanswered_ping_drops_the_link_and_reconnects(capture: Capture) -> None:
    server = AmiReplayServer(status=capture.status_blocks[0], answer_pings=False)
    await server.start()
    state = CallCenterState("UTC", lambda q: 20)
    recorder = Recorder()
    listener = listener_for(server, state, recorder, ping_interval=0.05, ping_timeout=0.1)
    await listener.start()
    try:
        await until(lambda: server.connections >= 2 and listener.stats["resyncs"] >= 2)
        errors = [p["connection"].get("error", "") for p in recorder.patches if "connection" in p]
        assert any("Ping" in e for e in errors)
    finally:
        await listener.stop()
        await server.stop()


async def test_shutdown_event_and_legacy_banner() -> None:
    shutdown = (
        b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n"
    )
    server = AmiReplayServer(banner=b"Asterisk Call Manager/1.1", stream=shutdown)
    await server.start()
    state = CallCenterState("UTC", lambda q: 20)
    recorder = Recorder()
    listener = listener_for(server, state, recorder)
    await listener.start()
    try:
        await until(lambda: server.connections >= 2 and listener.stats["resyncs"] >= 2)
        errors = [p["connection"].get("error", "") for p in recorder.patches if "connection" in p]
        assert "Asterisk shut down" in errors
        assert server.login_events[0] == "agent,system,call"  # 1.8/11 send Join/Leave as `call`
    finally:
        await listener.stop()
        await server.stop()


def fuzzed_stream(seed: int) -> tuple[bytes, list[bytes], int]:
    """Good queue events mixed with hostile messages. Returns (bytes, good messages, #malformed)."""
    rng = random.Random(seed)
    good: list[bytes] = []
    for n in range(60):
        uid = f"1800000000.{n}"
        good.append(
            f"Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: PJSIP/c-{n}\r\n"
            f"CallerIDNum: 555{n:04d}\r\nCallerIDName: Caller \u00e9\u00e8 {n}\r\nUniqueid: {uid}\r\n"
            f"Queue: q{n % 3}\r\nPosition: {n // 3 + 1}\r\nCount: {n // 3 + 1}".encode()
        )
    for n in range(6):
        good.append(
            f"Event: QueueMemberStatus\r\nQueue: q{n % 3}\r\nMemberName: Agent {n}\r\n"
            f"Interface: PJSIP/{100 + n}\r\nStateInterface: PJSIP/{100 + n}\r\nMembership: dynamic\r\n"
            f"Penalty: 0\r\nCallsTaken: {n}\r\nLastCall: 0\r\nLastPause: 0\r\nLoginTime: 0\r\n"
            f"InCall: 0\r\nStatus: {1 + n % 3}\r\nPaused: {n % 2}\r\nPausedReason: \r\n".encode()
        )
    for n in range(0, 60, 7):
        good.append(
            f"Event: QueueCallerLeave\r\nQueue: q{n % 3}\r\nUniqueid: 1800000000.{n}\r\n"
            f"Position: 1\r\nCount: 3".encode()
        )
    bad_malformed = [
        b"Event: QueueCallerJoin\r\nUniqueid: 1.1\r\nPosition: 1",  # no Queue
        b"Event: QueueCallerJoin\r\nQueue: q0\r\nUniqueid: 1.2\r\nPosition: first",
        b"Event: QueueMemberStatus\r\nQueue: q1\r\nInterface: PJSIP/100\r\nStatus: \xff\xfe",
        b"Event: QueueMemberStatus\r\nQueue: q1\r\nInterf",  # truncated frame
        b"Event: QueueMemberPause\r\nQueue: q1\r\nInterface: PJSIP/101\r\nPaused: maybe",
        b"Event: AgentConnect\r\nQueue: q2\r\nMemberName: x",  # no interface
        b"Event: QueueCallerLeave\r\nQueue: q0\r\nUniqueid: 1800000000.1\r\nPosition: 1e999",
    ]
    bad_ignored = [
        b"Event: NoSuchEvent\r\nQueue: q0\r\nUniqueid: \xc3\x28\xa0\xa1",
        b"Event: VarSet\r\nVariable: x\r\nValue: " + bytes(range(32, 256)),
        b"Response: Success\r\nActionID: nobody-asked\r\nMessage: stray",
        b"just a line without colon\r\nand another",
        b"Event: QueueCallerJoin\r\nQueue: q0\r\nUniqueid: 9.9\r\nX: " + b"A" * 70_000,  # oversized
        b"Event: QueueCallerJoin\r\nQueue: q0\r\nUniqueid: 9.8\r\n"
        + b"\r\n".join(b"H%d: v" % i for i in range(200)),  # too many headers
        bytes(rng.randrange(256) for _ in range(300)).replace(b"\n", b" "),
    ]
    pieces = [(m, "good") for m in good] + [(m, "bad") for m in bad_malformed + bad_ignored]
    order = list(range(len(pieces)))
    rng.shuffle(order)
    # keep the good events in their own order so the reference state is well defined
    goods = iter(good)
    stream: list[bytes] = []
    for index in order:
        message, kind = pieces[index]
        stream.append(next(goods) if kind == "good" else message)
    data = b"".join(m + b"\r\n\r\n" for m in stream)
    return data, good, len(bad_malformed)


async def test_fuzzed_stream_never_crashes_nor_corrupts_the_state() -> None:
    data, good, malformed = fuzzed_stream(seed=7)
    server = AmiReplayServer(stream=data, max_chunk=200)
    await server.start()
    state = CallCenterState("UTC", lambda q: 20)
    calls = 0

    def flaky_callback(patch: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls % 5 == 0:
            raise RuntimeError("a broken subscriber")

    listener = listener_for(server, state, flaky_callback)
    await listener.start()
    try:
        await until(server.streamed.is_set)
        await until(
            lambda: listener.stats["malformed"] + listener.stats["ignored"] >= malformed + 2
        )
        # good + malformed + 2 unknown events + the FullyBooted that follows the login
        await until(lambda: listener.stats["events"] >= len(good) + malformed + 2 + 1)
        stats = listener.stats
        assert stats["connects"] == 1, "the link survived the garbage"
        assert stats["malformed"] == malformed
        assert stats["oversized"] == 1 and stats["too_many_headers"] == 1
        assert stats["handler_errors"] == 0 and stats["callback_errors"] > 0
        # The state equals the good events alone, applied in order.
        reference = CallCenterState("UTC", lambda q: 20)
        reference.reset([], 0.0)
        framer = AmiFramer()
        for message in framer.feed(b"".join(m + b"\r\n\r\n" for m in good)):
            event = parse_event(message)
            assert event is not None and not isinstance(event, Malformed)
            reference.apply(event, 1.0)
        got, want = state.snapshot()["queues"], reference.snapshot()["queues"]
        assert sorted(got) == sorted(want)
        for name in want:
            assert got[name]["members"].keys() == want[name]["members"].keys()
            for interface, member in want[name]["members"].items():
                assert {k: got[name]["members"][interface][k] for k in COMPARED_MEMBER_FIELDS} == {
                    k: member[k] for k in COMPARED_MEMBER_FIELDS
                }
            assert {
                u: (c["position"], c["callerid_name"]) for u, c in got[name]["callers"].items()
            } == {u: (c["position"], c["callerid_name"]) for u, c in want[name]["callers"].items()}
    finally:
        await listener.stop()
        await server.stop()


async def test_nothing_listening_is_a_recorded_error_and_backs_off() -> None:
    server = AmiReplayServer()
    port = await server.start()
    await server.stop()  # the port is now closed
    state = CallCenterState("UTC", lambda q: 20)
    now = [1_795_903_000.0]  # 2026-11-28 in UTC
    recorder = Recorder()
    listener = AmiListener(
        host="127.0.0.1",
        port=port,
        user="u",
        secret="s",
        state=state,
        on_patch=recorder,
        clock=lambda: now[0],
        backoff_initial=0.01,
        backoff_max=0.04,
    )
    await listener.start()
    try:
        await until(lambda: listener.retry_delay >= 0.04)
        error = state.snapshot()["connection"]["error"]
        assert "cannot connect" in error
        assert listener.retry_delay == 0.04  # capped
    finally:
        await listener.stop()


async def test_the_live_service_ticks_the_day_over_with_or_without_ami(tmp_path) -> None:
    """The listener has no ticker of its own: the live service rolls the day at midnight."""
    from wallboard.app import build_live
    from wallboard.history.store import open_store

    now = [1_795_903_000.0]  # 2026-11-28 in UTC
    settings = Settings(db=str(tmp_path / "w.db"), timezone="UTC")
    live = build_live(settings, open_store(settings.db), clock=lambda: now[0])
    recorder = Recorder()
    live.subscribe(recorder)
    await live.start()
    try:
        now[0] += 86_400
        await until(lambda: any(p.get("day") == "2026-11-29" for p in recorder.patches))
    finally:
        await live.stop()


def test_from_settings() -> None:
    settings = Settings(
        ami_host="pbx.example", ami_port=5039, ami_user="u", ami_secret="s", ami_ping_timeout=2.5
    )
    state = CallCenterState("UTC", settings.service_level_for)
    listener = AmiListener.from_settings(settings, state, Recorder())
    assert (listener.host, listener.port, listener.user, listener.secret) == (
        "pbx.example",
        5039,
        "u",
        "s",
    )
    assert (listener.ping_interval, listener.ping_timeout) == (10.0, 2.5)
