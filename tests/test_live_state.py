"""The pure live core: CallCenterState, merge patches, and the realtime view."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from wallboard.history.calls import CallChange, CallTracker, QueueCall
from wallboard.history.queuelog import Rejected, parse_line
from wallboard.live.events import (
    AgentComplete,
    AgentConnect,
    CallerJoin,
    CallerLeave,
    Connection,
    MemberAdded,
    MemberPause,
    MemberPenalty,
    MemberRemoved,
    MemberStatus,
    QueueEntry,
    QueueMember,
    QueueParams,
)
from wallboard.live.patch import diff, merge_patch
from wallboard.live.realtime import average, percent, realtime_view
from wallboard.live.state import ADDITIVE_COUNTERS, CallCenterState
from wallboard.live.views import make_view

T0 = 1_795_904_000.0  # 2026-11-28 in the lab recording
_CALL_IDS = itertools.count(1)


def queue_call(callid: str, queue: str, enter_time: int, **fields: Any) -> QueueCall:
    """A QueueCall by keyword (with a row id when the model has one)."""
    if "id" in {f.name for f in dataclasses.fields(QueueCall)}:
        fields.setdefault("id", next(_CALL_IDS))
    return QueueCall(callid=callid, queue=queue, enter_time=enter_time, **fields)


def new_state(tz: str = "UTC", threshold: int = 20) -> CallCenterState:
    return CallCenterState(tz, lambda queue: threshold)


def member(queue: str, interface: str, kind: type = MemberStatus, **fields: Any) -> Any:
    return kind(queue=queue, interface=interface, **fields)


def assert_clean(doc: Any, nulls: bool = False) -> None:
    """No list and (unless a patch: `nulls`) no None anywhere; JSON-serialisable."""
    json.dumps(doc)
    stack = [doc]
    while stack:
        node = stack.pop()
        assert not isinstance(node, list)
        assert nulls or node is not None
        if isinstance(node, dict):
            stack.extend(node.values())


# ------------------------------------------------------------------------------- callers


def test_callers_join_and_leave_with_positions() -> None:
    s = new_state()
    p = s.apply(CallerJoin("q", "a", 1, 1, "100", "Ann"), T0)
    assert p["queues"]["q"]["callers"]["a"] == {
        "callerid_num": "100",
        "callerid_name": "Ann",
        "position": 1,
        "since": T0,
    }
    assert p["day"] == "2026-11-28"
    s.apply(CallerJoin("q", "b", 2, 2, "200", "Bob"), T0 + 1)
    s.apply(CallerJoin("q", "c", 3, 3, "300", "Cid"), T0 + 2)
    p = s.apply(CallerLeave("q", "b", 2, 2), T0 + 3)
    assert p == {"queues": {"q": {"callers": {"b": None, "c": {"position": 2}}}}}
    # a priority caller inserted at the front pushes the others back
    p = s.apply(CallerJoin("q", "vip", 1, 3, "999", "VIP"), T0 + 4)
    assert p["queues"]["q"]["callers"]["a"] == {"position": 2}
    assert p["queues"]["q"]["callers"]["c"] == {"position": 3}
    callers = s.snapshot()["queues"]["q"]["callers"]
    assert {u: c["position"] for u, c in callers.items()} == {"a": 2, "c": 3, "vip": 1}
    assert s.apply(CallerLeave("other", "zzz", 1, 0), T0 + 5) == {}


def test_connect_removes_a_caller_whose_leave_was_missed() -> None:
    s = new_state()
    s.apply(member("q", "PJSIP/1", MemberAdded, name="Ann", status=1), T0)
    s.apply(CallerJoin("q", "a", 1, 1, "100", "X"), T0)
    s.apply(CallerJoin("q", "b", 2, 2, "200", "Y"), T0)
    p = s.apply(AgentConnect("q", "PJSIP/1", "Ann", "a", 3, 1, "100", "X"), T0 + 3)
    q = p["queues"]["q"]
    assert q["callers"] == {"a": None, "b": {"position": 1}}
    assert q["members"]["PJSIP/1"] == {
        "in_call": True,
        "callerid": "100",
        "callerid_name": "X",
        "call_uniqueid": "a",
        "since": T0 + 3,
        "call_since": int(T0 + 3),
    }


# ------------------------------------------------------------------------------- members


def test_member_lifecycle() -> None:
    s = new_state()
    p = s.apply(
        member(
            "q",
            "PJSIP/1",
            MemberAdded,
            name="Ann",
            state_interface="PJSIP/1",
            membership="dynamic",
            penalty=1,
            status=1,
            paused=False,
            login_time=100,
        ),
        T0,
    )
    assert p["queues"]["q"]["members"]["PJSIP/1"] == {
        "name": "Ann",
        "state_interface": "PJSIP/1",
        "membership": "dynamic",
        "penalty": 1,
        "status": 1,
        "status_text": "available",
        "paused": False,
        "pause_reason": "",
        "in_call": False,
        "calls_taken": 0,
        "last_call": 0,
        "last_pause": 0,
        "login_time": 100,
        "since": T0,
        "paused_since": 0,
    }
    assert s.apply(member("q", "PJSIP/1", status=1), T0 + 1) == {}
    p = s.apply(member("q", "PJSIP/1", status=6), T0 + 2)
    assert p == {
        "queues": {
            "q": {"members": {"PJSIP/1": {"status": 6, "status_text": "ringing", "since": T0 + 2}}}
        }
    }
    p = s.apply(
        member("q", "PJSIP/1", MemberPause, paused=True, paused_reason="Lunch", last_pause=500),
        T0 + 3,
    )
    assert p["queues"]["q"]["members"]["PJSIP/1"] == {
        "paused": True,
        "pause_reason": "Lunch",
        "last_pause": 500,
        "since": T0 + 3,
        "paused_since": int(T0 + 3),  # a LastPause days old is not this pause's start
    }
    # unpause (18.21+ repeats the reason on unpause): the reason goes with the pause
    p = s.apply(member("q", "PJSIP/1", MemberPause, paused=False, paused_reason="Lunch"), T0 + 4)
    assert p["queues"]["q"]["members"]["PJSIP/1"] == {
        "paused": False,
        "pause_reason": "",
        "since": T0 + 4,
        "paused_since": 0,
    }
    p = s.apply(member("q", "PJSIP/1", MemberPenalty, penalty=3), T0 + 5)
    assert p == {"queues": {"q": {"members": {"PJSIP/1": {"penalty": 3}}}}}
    p = s.apply(member("q", "PJSIP/1", MemberRemoved, name="Ann"), T0 + 6)
    assert p == {"queues": {"q": {"members": {"PJSIP/1": None}}}}
    assert s.apply(member("q", "PJSIP/1", MemberRemoved), T0 + 7) == {}


def test_agent_complete_is_matched_by_queue_and_interface() -> None:
    s = new_state()
    s.apply(member("q", "PJSIP/1", MemberAdded, status=2), T0)
    s.apply(AgentConnect("q", "PJSIP/1", "Ann", "call-1", 3, 1, "100", "X"), T0 + 1)
    # a late complete of an older call does not end the current one
    assert s.apply(AgentComplete("q", "PJSIP/1", "Ann", "call-0", 1, 5, "agent"), T0 + 2) == {}
    # without channel fields (no Uniqueid): matched by queue + interface
    p = s.apply(AgentComplete("q", "PJSIP/1", "Ann", "", 3, 9, "caller"), T0 + 10)
    assert p == {
        "queues": {
            "q": {
                "members": {
                    "PJSIP/1": {
                        "in_call": False,
                        "callerid": None,
                        "callerid_name": None,
                        "call_uniqueid": None,
                        "call_since": None,
                        "since": T0 + 10,
                    }
                }
            }
        }
    }
    assert s.apply(AgentComplete("q", "PJSIP/9", "Nobody", "x"), T0) == {}
    assert s.apply(AgentConnect("nowhere", "PJSIP/1", "Ann", "x"), T0) == {}


def test_connection_changes() -> None:
    s = new_state()
    p = s.apply(Connection(False, "cannot connect"), T0)
    assert p["connection"] == {"since": T0, "error": "cannot connect"}
    p = s.apply(Connection(False, "still down"), T0 + 5)
    assert p == {"connection": {"error": "still down"},
                 "pbxs": {"default": {"error": "still down"}}}  # fmt: skip
    p = s.apply(Connection(True), T0 + 9)
    assert p["connection"] == {"connected": True, "since": T0 + 9, "error": ""}
    assert p["pbxs"] == {"default": {"connected": True, "since": T0 + 9, "error": ""}}
    assert s.apply(Connection(True), T0 + 10) == {}


# ------------------------------------------------------------------------------- reset


def status_items() -> list[Any]:
    return [
        QueueParams("q", "ringall", 0, 1, 0, 0, 0, 0, 30, 0),
        QueueMember("q", "PJSIP/1", name="Ann", status=1, paused=False, in_call=False),
        QueueMember(
            "q", "PJSIP/2", name="Bob", status=2, paused=True, paused_reason="Lunch", last_pause=900
        ),
        QueueEntry("q", "c1", 1, 12, "100", "X"),
    ]


def test_reset_rebuilds_and_deletes_ghosts() -> None:
    s = new_state()
    s.apply(member("q", "PJSIP/1", MemberAdded, name="Ann", status=1), T0)
    s.apply(member("q", "PJSIP/ghost", MemberAdded, name="Ghost", status=1), T0)
    s.apply(CallerJoin("q", "gone", 1, 1, "1", "G"), T0)
    s.apply(CallerJoin("old", "gone2", 1, 1, "1", "G"), T0)
    before = s.snapshot()
    p = s.reset(status_items(), T0 + 100)
    after = s.snapshot()
    assert merge_patch(before, p) == after
    q = after["queues"]["q"]
    assert sorted(q["members"]) == ["PJSIP/1", "PJSIP/2"]
    assert q["members"]["PJSIP/1"]["since"] == T0  # unchanged activity keeps its start
    assert q["members"]["PJSIP/2"]["since"] == 900  # paused: since the last pause
    assert q["members"]["PJSIP/2"]["pause_reason"] == "Lunch"
    assert q["callers"] == {
        "c1": {"callerid_num": "100", "callerid_name": "X", "position": 1, "since": T0 + 88}
    }
    assert q["params"] == {"strategy": "ringall", "servicelevel": 30, "max": 0, "weight": 0}
    assert "old" not in after["queues"]  # no calls today: the ghost queue goes
    assert p["queues"]["old"] is None
    assert p["queues"]["q"]["members"]["PJSIP/ghost"] is None
    assert p["queues"]["q"]["callers"]["gone"] is None
    # the same truth again changes nothing
    assert s.reset(status_items(), T0 + 200) == {}


def test_reset_keeps_todays_counters_and_queues_with_calls() -> None:
    s = new_state()
    s.reset(status_items(), T0)
    s.apply(CallChange(None, answered_call("q", "c1", T0 - 60, wait=10, talk=30)), T0)
    s.apply(CallChange(None, abandoned_call("logonly", "c2", T0 - 30, wait=25)), T0)
    p = s.reset([QueueParams("q", "ringall")], T0 + 1)
    snap = s.snapshot()
    assert snap["queues"]["q"]["counters"]["answered"] == 1
    assert snap["queues"]["logonly"] == {
        "pbx": "default",
        "params": {},
        "members": {},
        "callers": {},
        "counters": snap["queues"]["logonly"]["counters"],
    }
    assert snap["queues"]["logonly"]["counters"]["abandoned"] == 1
    assert "logonly" not in p.get("queues", {})


# ------------------------------------------------------------------------------- counters


def answered_call(queue: str, callid: str, enter: float, wait: int, talk: int | None) -> QueueCall:
    call = queue_call(callid, queue, int(enter), connect_time=int(enter) + wait, wait=wait)
    if talk is None:
        call.outcome = "CONNECT"
    else:
        call.outcome, call.talk, call.end_time = "COMPLETECALLER", talk, int(enter) + wait + talk
    return call


def abandoned_call(
    queue: str, callid: str, enter: float, wait: int, outcome: str = "ABANDON"
) -> QueueCall:
    return queue_call(
        callid, queue, int(enter), end_time=int(enter) + wait, outcome=outcome, wait=wait
    )


def test_counters_follow_call_changes() -> None:
    s = new_state(threshold=20)
    waiting = queue_call("c1", "q", int(T0))
    assert s.apply(CallChange(None, waiting), T0) == {"day": "2026-11-28"}
    talking = answered_call("q", "c1", T0, wait=15, talk=None)
    p = s.apply(CallChange(waiting, talking), T0 + 15)
    counters = p["queues"]["q"]["counters"]  # the queue is known from queue_log only
    assert counters == {
        "received": 1,
        "answered": 1,
        "unanswered": 0,
        "abandoned": 0,
        "timeouts": 0,
        "wait_answered_sum": 15,
        "wait_unanswered_sum": 0,
        "talk_sum": 0,
        "completed": 0,
        "max_wait": 15,
        "sl_within": 1,
        "sl_unanswered_over": 0,
        "abandon_unknown": 0,
        "service_level": 20,
    }
    done = answered_call("q", "c1", T0, wait=15, talk=42)
    p = s.apply(CallChange(talking, done), T0 + 57)
    assert p == {"queues": {"q": {"counters": {"talk_sum": 42, "completed": 1}}}}
    s.apply(CallChange(None, abandoned_call("q", "c2", T0, wait=30)), T0 + 60)
    s.apply(CallChange(None, abandoned_call("q", "c3", T0, wait=5, outcome="EXITWITHTIMEOUT")), T0)
    s.apply(CallChange(None, abandoned_call("q", "c4", T0, wait=50, outcome="EXITWITHKEY")), T0)
    s.apply(CallChange(None, answered_call("q", "c5", T0, wait=21, talk=10)), T0)
    # yesterday's call changes nothing today
    assert s.apply(CallChange(None, answered_call("q", "old", T0 - 86400, 99, 1)), T0) == {}
    c = s.snapshot()["queues"]["q"]["counters"]
    assert (c["received"], c["answered"], c["unanswered"]) == (5, 2, 3)
    assert (c["abandoned"], c["timeouts"]) == (1, 1)
    assert (c["wait_answered_sum"], c["wait_unanswered_sum"]) == (36, 85)
    assert (c["talk_sum"], c["completed"], c["max_wait"]) == (52, 2, 50)
    assert (c["sl_within"], c["sl_unanswered_over"]) == (1, 2)
    # a correction lowers the maximum exactly
    p = s.apply(
        CallChange(
            abandoned_call("q", "c4", T0, wait=50, outcome="EXITWITHKEY"),
            abandoned_call("q", "c4", T0, wait=3, outcome="EXITWITHKEY"),
        ),
        T0,
    )
    assert p["queues"]["q"]["counters"]["max_wait"] == 30


def test_seed_equals_incremental_on_the_lab_queue_log() -> None:
    """The real queue_log through the history tracker: changes applied one by one = seeding."""
    lines = (Path(__file__).parent / "fixtures" / "lab_queue_log").read_text().splitlines()
    tracker = CallTracker(keep_before=True)
    live = new_state()
    calls: dict[tuple[str, str], QueueCall] = {}
    now = T0
    for line in lines:
        record = parse_line(line)
        if isinstance(record, Rejected):
            continue
        now = float(record.time)
        tracker.apply(record)
        _, changes, _ = tracker.take()
        for change in changes:
            live.apply(change, now)
            calls[(change.after.callid, change.after.queue)] = change.after
    seeded = new_state()
    first = seeded.snapshot()
    patch = seeded.seed(calls.values(), now)
    assert merge_patch(first, patch) == seeded.snapshot()
    got = {q: v["counters"] for q, v in live.snapshot()["queues"].items()}
    want = {q: v["counters"] for q, v in seeded.snapshot()["queues"].items()}
    assert got == want
    total = {k: sum(c[k] for c in got.values()) for k in ADDITIVE_COUNTERS}
    # the lab README: 83 calls, 58 answered, 21 ABANDON, 4 EXITWITHTIMEOUT
    assert (total["received"], total["answered"], total["completed"]) == (83, 58, 58)
    assert (total["abandoned"], total["timeouts"], total["unanswered"]) == (21, 4, 25)


def test_midnight_rollover_in_the_configured_timezone() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 2026-03-29 is a 23-hour day in Paris (DST starts)
    morning = datetime(2026, 3, 29, 10, 0, tzinfo=paris).timestamp()
    last_second = datetime(2026, 3, 29, 23, 59, 59, tzinfo=paris).timestamp()
    midnight = datetime(2026, 3, 30, 0, 0, tzinfo=paris).timestamp()
    s = new_state("Europe/Paris")
    s.seed([answered_call("q", "c1", morning, 5, 60)], morning)
    assert s.snapshot()["day"] == "2026-03-29"
    assert s.tick(last_second) == {}
    p = s.tick(midnight)
    assert p["day"] == "2026-03-30"
    assert p["queues"]["q"]["counters"]["received"] == 0
    assert all(
        v == 0 for k, v in s.snapshot()["queues"]["q"]["counters"].items() if k != "service_level"
    )
    # a change of yesterday's call is not today's
    assert s.apply(CallChange(None, abandoned_call("q", "c2", last_second - 5, 9)), midnight) == {}


def test_seed_replaces_the_counters() -> None:
    s = new_state()
    s.reset([QueueParams("q", "ringall")], T0)
    s.apply(CallChange(None, answered_call("q", "c1", T0, 5, 5)), T0)
    p = s.seed([abandoned_call("q", "c9", T0, 40), abandoned_call("new", "c8", T0, 2)], T0 + 1)
    snap = s.snapshot()
    assert snap["queues"]["q"]["counters"]["answered"] == 0
    assert snap["queues"]["q"]["counters"]["abandoned"] == 1
    assert p["queues"]["new"]["counters"]["abandoned"] == 1


# ------------------------------------------------------------------------------- properties

QUEUES = st.sampled_from(["q0", "q1", "q2"])
UIDS = st.sampled_from([f"u{i}" for i in range(6)])
IFACES = st.sampled_from([f"PJSIP/{i}" for i in range(4)])
POSITIONS = st.none() | st.integers(min_value=1, max_value=6)
SMALL = st.none() | st.integers(min_value=0, max_value=9)
FLAG = st.none() | st.booleans()
TEXT = st.text(max_size=6)
MEMBER_KINDS = st.sampled_from([MemberStatus, MemberAdded, MemberPause, MemberPenalty, QueueMember])


@st.composite
def member_events(draw: Any) -> Any:
    kind = draw(MEMBER_KINDS)
    return kind(
        queue=draw(QUEUES),
        interface=draw(IFACES),
        name=draw(st.none() | TEXT),
        penalty=draw(SMALL),
        calls_taken=draw(SMALL),
        in_call=draw(FLAG),
        status=draw(st.none() | st.integers(min_value=0, max_value=9)),
        paused=draw(FLAG),
        paused_reason=draw(st.none() | TEXT),
    )


STATUS_ITEMS = st.lists(
    st.one_of(
        st.builds(
            QueueParams, queue=QUEUES, strategy=st.sampled_from(["ringall", "linear"]), max=SMALL
        ),
        member_events().map(
            lambda e: QueueMember(
                queue=e.queue,
                interface=e.interface,
                status=e.status,
                paused=e.paused,
                in_call=e.in_call,
            )
        ),
        st.builds(QueueEntry, queue=QUEUES, uniqueid=UIDS, position=POSITIONS, wait=SMALL),
    ),
    max_size=8,
)

OPS = st.one_of(
    st.tuples(st.just("event"), st.builds(CallerJoin, QUEUES, UIDS, POSITIONS, SMALL, TEXT, TEXT)),
    st.tuples(st.just("event"), st.builds(CallerLeave, QUEUES, UIDS, POSITIONS, SMALL)),
    st.tuples(st.just("event"), member_events()),
    st.tuples(st.just("event"), st.builds(MemberRemoved, queue=QUEUES, interface=IFACES)),
    st.tuples(
        st.just("event"), st.builds(AgentConnect, QUEUES, IFACES, TEXT, UIDS, SMALL, SMALL, TEXT)
    ),
    st.tuples(
        st.just("event"), st.builds(AgentComplete, QUEUES, IFACES, TEXT, UIDS | st.just(""), SMALL)
    ),
    st.tuples(
        st.just("event"), st.builds(QueueParams, QUEUES, st.sampled_from(["ringall", "rrmemory"]))
    ),
    st.tuples(st.just("event"), st.builds(QueueEntry, QUEUES, UIDS, POSITIONS, SMALL, TEXT)),
    st.tuples(st.just("event"), st.builds(Connection, st.booleans(), TEXT)),
    st.tuples(st.just("reset"), STATUS_ITEMS),
    st.tuples(st.just("tick"), st.integers(min_value=0, max_value=30_000)),
    st.tuples(
        st.just("call"),
        st.tuples(
            UIDS,
            QUEUES,
            st.integers(min_value=0, max_value=40_000),  # entered this long ago
            st.sampled_from(
                ["CONNECT", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"]
            ),
            st.integers(min_value=0, max_value=60),
        ),
    ),
)


def advance_call(
    calls: dict[tuple[str, str], QueueCall], every: list[QueueCall], op: tuple, now: float
) -> CallChange:
    """One queue_log-like step for a call: new -> waiting, waiting -> outcome, talking -> end."""
    callid, queue, ago, outcome, seconds = op
    call = calls.get((callid, queue))
    if call is None or call.outcome not in (None, "CONNECT"):
        call = queue_call(callid, queue, int(now) - ago)
        calls[(callid, queue)] = call
        every.append(call)
        return CallChange(None, copy.copy(call))
    before = copy.copy(call)
    if call.outcome is None and outcome in ("CONNECT", "COMPLETEAGENT"):
        call.connect_time, call.wait, call.outcome = call.enter_time + seconds, seconds, "CONNECT"
    elif call.outcome is None:
        call.outcome, call.wait, call.end_time = outcome, seconds, call.enter_time + seconds
    else:
        call.outcome, call.talk = "COMPLETEAGENT", seconds
    return CallChange(before, copy.copy(call))


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(st.tuples(OPS, st.integers(min_value=0, max_value=5_000)), max_size=40))
def test_patches_rebuild_the_snapshot_and_counters_match_a_reseed(
    ops: list[tuple[Any, int]],
) -> None:
    s = new_state("Europe/Paris")
    now = datetime(2026, 3, 28, 20, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    doc = s.snapshot()
    calls: dict[tuple[str, str], QueueCall] = {}
    every: list[QueueCall] = []
    for (kind, payload), step in ops:
        now += step
        if kind == "event":
            patch = s.apply(payload, now)
        elif kind == "reset":
            patch = s.reset(payload, now)
        elif kind == "tick":
            now += payload
            patch = s.tick(now)
        else:
            patch = s.apply(advance_call(calls, every, payload, now), now)
        assert_clean(patch, nulls=True)
        doc = merge_patch(doc, patch)
        snap = s.snapshot()
        assert doc == snap
        assert_clean(snap)
    reference = new_state("Europe/Paris")
    reference.seed(every, now)
    want = {q: v["counters"] for q, v in reference.snapshot()["queues"].items()}
    for name, q in s.snapshot()["queues"].items():
        expected = want.get(name)
        if expected is None:
            assert not any(q["counters"][k] for k in ADDITIVE_COUNTERS), name
        else:
            assert q["counters"] == expected, name


def test_snapshot_is_a_copy() -> None:
    s = new_state()
    s.apply(CallerJoin("q", "a", 1, 1, "1", "A"), T0)
    snap = s.snapshot()
    snap["queues"]["q"]["callers"]["a"]["position"] = 99
    assert s.snapshot()["queues"]["q"]["callers"]["a"]["position"] == 1


# ------------------------------------------------------------------------------- merge patch


def test_rfc7396_examples() -> None:
    cases = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for target, patch, result in cases:
        original = copy.deepcopy(target)
        assert merge_patch(target, patch) == result
        assert target == original  # not modified


NULL_FREE = st.recursive(
    st.booleans() | st.integers(min_value=-3, max_value=3) | st.text(max_size=3) | st.just(1.0),
    lambda children: st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    old=st.dictionaries(st.text(max_size=3), NULL_FREE, max_size=5),
    new=st.dictionaries(st.text(max_size=3), NULL_FREE, max_size=5),
)
def test_diff_then_merge_gives_the_new_document(old: dict[str, Any], new: dict[str, Any]) -> None:
    patch = diff(old, new)
    result = merge_patch(old, patch)
    assert result == new
    assert json.dumps(result, sort_keys=True) == json.dumps(new, sort_keys=True)  # 1 vs True
    assert diff(new, new) == {}


# ------------------------------------------------------------------------------- realtime view


def realtime_state() -> CallCenterState:
    s = new_state(threshold=20)
    s.reset(
        [
            QueueParams("sales", "ringall"),
            QueueMember("sales", "PJSIP/1", name="Ann", status=1, paused=False, penalty=0),
            QueueMember("sales", "PJSIP/2", name="Bob", status=2, in_call=True, penalty=1),
            QueueMember(
                "sales", "PJSIP/3", name="Cid", status=1, paused=True, paused_reason="Lunch"
            ),
            QueueMember("sales", "PJSIP/4", name="Dan", status=5),
            QueueEntry("sales", "w2", 2, 5, "200", "Second"),
            QueueEntry("sales", "w1", 1, 75, "100", "First"),
            QueueParams("support", "linear"),
        ],
        T0,
    )
    s.apply(AgentConnect("sales", "PJSIP/2", "Bob", "x", 3, 1, "555", "Caller"), T0)
    for call in [
        answered_call("sales", "a1", T0 - 100, wait=10, talk=61),
        answered_call("sales", "a2", T0 - 90, wait=25, talk=None),
        answered_call("sales", "a3", T0 - 80, wait=3, talk=30),
        abandoned_call("sales", "b1", T0 - 70, wait=40),
        abandoned_call("sales", "b2", T0 - 60, wait=4, outcome="EXITWITHTIMEOUT"),
    ]:
        s.apply(CallChange(None, call), T0)
    return s


def test_realtime_view_shape_and_formulas() -> None:
    view = realtime_view(realtime_state().snapshot(), make_view(), T0 + 10)
    assert list(view) == ["waiting calls", "summary", "agents", "pbxs", "alerts"]
    assert view["waiting calls"]["sales"] == {
        "1": {"calleridNum": "100", "calleridName": "First", "waitTime": "85"},
        "2": {"calleridNum": "200", "calleridName": "Second", "waitTime": "15"},
    }
    assert view["waiting calls"]["support"] == {}
    summary = view["summary"]["queue"]["sales"]
    assert {k: summary[k] for k in list(summary)[:16]} == {
        "Waiting": "2",
        "Agents": "4",
        "Available": "1",
        "Penalty": "1",
        "Logged Off": "1",
        "Busy": "1",
        "Paused": "1",
        "Received": "5",
        "Answered": "3",
        "Unanswered": "2",
        "Abandoned": "1",
        "Abandon Rate": "20.00",
        "Avg Wait": "13",  # (10 + 25 + 3) / 3 = 12.67
        "Avg Duration": "46",  # (61 + 30) / 2 = 45.5, halves up
        "Max. wait time": "85",  # the first caller has waited longer than any call today
        "Service Level": "66.67",
    }
    assert {k: summary[k] for k in list(summary)[16:]} == {  # added for the original's clients
        "maxWaitTime": "85", "staffed": "3", "talking": "1", "auxiliary": "1",
        "answeredCals": "3", "unansweredCalls": "2", "abandonRate": "20.00",
        "averageWaitTime": "13", "averageCallTime": "00:00:46", "callsWaiting": "2",
        "pbx": "default", "Abandon Unknown": "0",
    }  # fmt: skip
    agents = view["agents"]["sales"]
    assert {k: agents["Bob"][k] for k in list(agents["Bob"])[:8]} == {
        "Status": "busy",
        "Duration": "10",
        "CallerID": "555",
        "Penalty": "1",
        "Last call": "0",
        "Calls answered": "0",
        "Paused": "0",
        "Reason": "",
    }
    assert (agents["Bob"]["status"], agents["Bob"]["callerid"]) == ("busy", "555")
    assert agents["Cid"]["Paused"] == "1" and agents["Cid"]["Reason"] == "Lunch"
    assert (agents["Cid"]["paused"], agents["Cid"]["auxType"]) == ("1", "Lunch")
    assert agents["Dan"]["Status"] == "unavailable"
    assert_clean(view)

    def strings_only(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                strings_only(value)
        else:
            assert isinstance(node, str)

    strings_only(view)


def test_realtime_view_filters_queues() -> None:
    snap = realtime_state().snapshot()
    assert list(realtime_view(snap, make_view({"support"}), T0)["summary"]["queue"]) == ["support"]
    assert list(realtime_view(snap, make_view(chosen=["sales", "nope"]), T0)["agents"]) == ["sales"]
    assert realtime_view(snap, make_view({"support"}, (), ["sales"]), T0)["summary"]["queue"] == {}
    empty = realtime_view({}, make_view(), T0)
    assert empty == {"waiting calls": {}, "summary": {"queue": {}}, "agents": {}, "pbxs": {},
                     "alerts": {}}  # fmt: skip


def test_formula_helpers() -> None:
    assert percent(0, 0) == "0.00" and percent(1, 3) == "33.33" and percent(2, 3) == "66.67"
    assert average(0, 0) == "0" and average(5, 2) == "3" and average(7, 3) == "2"


def test_realtime_view_hides_agents_a_user_may_not_see() -> None:
    snap = realtime_state().snapshot()
    names = {m["name"] for q in snap["queues"].values() for m in q.get("members", {}).values()}
    assert len(names) > 1
    keep = sorted(names)[:1]
    view = realtime_view(snap, make_view(agents=keep), T0)
    shown = {agent for agents in view["agents"].values() for agent in agents}
    assert shown <= set(keep)
    for queue, row in view["summary"]["queue"].items():
        visible = [m for m in snap["queues"][queue].get("members", {}).values() if m["name"] in keep]
        assert row["Agents"] == str(len(visible))


def test_a_resync_at_midnight_zeroes_the_counters_in_its_patch() -> None:
    """Found by the property test above: a QueueStatus reset that is the first thing after
    local midnight rolled the counters over but its patch dropped that part."""
    s = new_state("Europe/Paris")
    evening = datetime(2026, 3, 28, 20, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    s.reset([QueueParams("q0", "ringall")], evening)
    doc = s.snapshot()
    call = queue_call("u0", "q0", int(evening), connect_time=int(evening) + 5, wait=5,
                      outcome="CONNECT")  # fmt: skip
    doc = merge_patch(doc, s.apply(CallChange(None, copy.copy(call)), evening))
    assert doc["queues"]["q0"]["counters"]["received"] == 1
    midnight = datetime(2026, 3, 29, 0, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    doc = merge_patch(doc, s.reset([QueueParams("q0", "rrmemory")], midnight))  # and a change
    assert doc == s.snapshot()
    assert doc["day"] == "2026-03-29" and doc["queues"]["q0"]["counters"]["received"] == 0


def test_merge_patches_compose() -> None:
    from wallboard.live.patch import compose

    doc = {"a": {"x": 1, "y": 2}, "b": 3}
    first, second = {"a": {"x": 5}, "b": None}, {"a": {"y": None, "z": 1}, "c": {"d": 1}}
    assert merge_patch(merge_patch(doc, first), second) == merge_patch(doc, compose(first, second))
