"""AMI message -> typed event, and the byte-stream framer (pure)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from panoramisk.message import Message

from wallboard.live.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    CallerAbandon,
    CallerJoin,
    CallerLeave,
    FullyBooted,
    Malformed,
    MemberAdded,
    MemberPause,
    MemberPenalty,
    MemberRemoved,
    MemberRinginuse,
    MemberStatus,
    QueueEntry,
    QueueMember,
    QueueParams,
    QueueStatusComplete,
    Shutdown,
    parse_event,
)
from wallboard.live.framing import AmiFramer

EXAMPLES = Path(__file__).parent / "fixtures" / "lab_examples.txt"


def examples() -> dict[str, list[dict[str, Any]]]:
    """lab_examples.txt: section title -> its messages, framed by AmiFramer."""
    sections = re.split(r"^### (.+)$", EXAMPLES.read_text(encoding="utf-8"), flags=re.MULTILINE)
    result = {}
    for title, body in zip(sections[1::2], sections[2::2], strict=True):
        framer = AmiFramer()
        result[title.split(" ")[0]] = framer.feed(body.strip("\n").encode() + b"\n\n")
    return result


def parse_text(text: str) -> Any:
    framer = AmiFramer()
    messages = framer.feed(text.replace("\n", "\r\n").encode() + b"\r\n\r\n")
    assert len(messages) == 1
    return parse_event(messages[0])


# ------------------------------------------------------------------------------- real examples


def test_every_lab_example_parses_to_its_typed_event() -> None:
    ex = examples()
    [join] = ex["QueueCallerJoin"]
    assert parse_event(join) == CallerJoin(
        queue="2001",
        uniqueid="1795904319.1",
        position=1,
        count=1,
        callerid_num="5558279",
        callerid_name="Customer 0001",
        channel="Local/2001@callers-00000000;2",
    )
    [called] = ex["AgentCalled"]
    assert parse_event(called) == AgentCalled(
        queue="2001",
        interface="Local/agent3@agents",
        member_name="Carol",
        uniqueid="1795904319.1",
        callerid_num="5558279",
        callerid_name="Customer 0001",
    )
    [connect] = ex["AgentConnect"]
    assert parse_event(connect) == AgentConnect(
        queue="2001",
        interface="Local/agent3@agents",
        member_name="Carol",
        uniqueid="1795904319.1",
        hold_time=2,
        ring_time=2,
        callerid_num="5558279",
        callerid_name="Customer 0001",
    )
    [complete] = ex["AgentComplete"]
    assert parse_event(complete) == AgentComplete(
        queue="2000",
        interface="Local/agent1@agents",
        member_name="Alice",
        uniqueid="1795904323.9",
        hold_time=4,
        talk_time=8,
        reason="agent",
    )
    [rna] = ex["AgentRingNoAnswer"]
    assert parse_event(rna) == AgentRingNoAnswer(
        queue="2001",
        interface="Local/agent5@agents",
        member_name="Erin",
        uniqueid="1795904357.65",
        ring_time_ms=15000,
    )
    [abandon] = ex["QueueCallerAbandon"]
    assert parse_event(abandon) == CallerAbandon(
        queue="2001", uniqueid="1795904334.33", position=1, original_position=2, hold_time=13
    )
    [leave] = ex["QueueCallerLeave"]
    assert parse_event(leave) == CallerLeave(
        queue="2001", uniqueid="1795904319.1", position=1, count=0
    )
    [status] = ex["QueueMemberStatus"]
    assert parse_event(status) == MemberStatus(
        queue="2001",
        interface="Local/agent3@agents",
        name="Carol",
        state_interface="Custom:agent3",
        membership="static",
        penalty=0,
        calls_taken=0,
        last_call=0,
        last_pause=0,
        login_time=1795904314,
        in_call=False,
        status=6,
        paused=False,
        paused_reason="",
        ringinuse=False,
        wrapuptime=0,
    )
    [pause] = ex["QueueMemberPause"]
    event = parse_event(pause)
    assert isinstance(event, MemberPause)
    assert (event.queue, event.interface, event.paused, event.paused_reason) == (
        "2000",
        "Local/agent4@agents",
        True,
        "Admin",
    )
    assert event.last_pause == 1795904317
    [added] = ex["QueueMemberAdded"]
    event = parse_event(added)
    assert isinstance(event, MemberAdded)
    assert (event.name, event.membership, event.penalty, event.status) == ("Ivan", "dynamic", 2, 1)
    [removed] = ex["QueueMemberRemoved"]
    event = parse_event(removed)
    assert isinstance(event, MemberRemoved)
    assert (event.queue, event.interface, event.in_call) == ("2002", "Local/agent10@agents", True)
    [penalty] = ex["QueueMemberPenalty"]
    assert isinstance(parse_event(penalty), MemberPenalty)
    [originate] = ex["OriginateResponse"]
    assert parse_event(originate) is None


def test_the_lab_queue_status_response() -> None:
    messages = examples()["QueueStatus"]
    events = [parse_event(m) for m in messages]
    assert events[0] is None  # "Response: Success / Queue status will follow"
    kinds = [type(e).__name__ for e in events[1:]]
    assert kinds.count("QueueParams") == 3
    assert kinds.count("QueueMember") + kinds.count("QueueEntry") == 27
    assert events[-1] == QueueStatusComplete(list_items=30)
    params = events[1]
    assert params == QueueParams(
        queue="2002",
        strategy="leastrecent",
        max=0,
        calls=2,
        holdtime=8,
        talktime=0,
        completed=0,
        abandoned=1,
        service_level=20,
        weight=0,
    )
    member = events[2]
    assert isinstance(member, QueueMember)
    assert (member.queue, member.interface, member.name, member.status, member.in_call) == (
        "2002",
        "Local/agent6@agents",
        "Frank",
        2,
        False,
    )
    entry = next(e for e in events if isinstance(e, QueueEntry))
    assert entry == QueueEntry(
        queue="2002",
        uniqueid="1795904371.101",
        position=1,
        wait=4,
        callerid_num="5550936",
        callerid_name="Customer 0030",
        channel="Local/2002@callers-00000032;2",
    )
    assert all(parse_event(m) is None for m in examples()["QueueSummary"])


def test_agent_complete_without_channel_fields() -> None:
    event = parse_text(
        "Event: AgentComplete\nPrivilege: agent,all\nQueue: 2000\nInterface: Local/agent1@agents\n"
        "MemberName: Alice\nHoldTime: 4\nTalkTime: 8\nReason: caller"
    )
    assert event == AgentComplete(
        queue="2000",
        interface="Local/agent1@agents",
        member_name="Alice",
        uniqueid="",
        hold_time=4,
        talk_time=8,
        reason="caller",
    )


# ------------------------------------------------------------------------------- 1.8 / 11


def test_legacy_caller_events() -> None:
    assert parse_text(
        "Event: Join\nPrivilege: call,all\nChannel: SIP/100-00000001\nCallerIDNum: 100\n"
        "CallerIDName: unknown\nConnectedLineNum: unknown\nConnectedLineName: unknown\n"
        "Queue: support\nPosition: 1\nCount: 1\nUniqueid: 1400000000.1"
    ) == CallerJoin(
        queue="support",
        uniqueid="1400000000.1",
        position=1,
        count=1,
        callerid_num="100",
        callerid_name="unknown",
        channel="SIP/100-00000001",
    )
    assert parse_text(
        "Event: Leave\nPrivilege: call,all\nChannel: SIP/100-00000001\nQueue: support\nCount: 0\n"
        "Position: 1\nUniqueid: 1400000000.1"
    ) == CallerLeave(queue="support", uniqueid="1400000000.1", position=1, count=0)
    assert parse_text(
        "Event: QueueCallerAbandon\nPrivilege: agent,all\nQueue: support\nUniqueid: 1400000000.1\n"
        "Position: 1\nOriginalPosition: 1\nHoldTime: 30"
    ) == CallerAbandon(
        queue="support", uniqueid="1400000000.1", position=1, original_position=1, hold_time=30
    )


def test_legacy_agent_events() -> None:
    assert parse_text(
        "Event: AgentCalled\nPrivilege: agent,all\nQueue: support\nAgentCalled: SIP/200\n"
        "AgentName: Bob\nChannelCalling: SIP/100-00000001\nDestinationChannel: SIP/200-00000002\n"
        "CallerIDNum: 100\nCallerIDName: Ann\nConnectedLineNum: unknown\nConnectedLineName: unknown\n"
        "Context: from-queue\nExtension: 200\nPriority: 1\nUniqueid: 1400000000.1"
    ) == AgentCalled(
        queue="support",
        interface="SIP/200",
        member_name="Bob",
        uniqueid="1400000000.1",
        callerid_num="100",
        callerid_name="Ann",
    )
    # 1.8 spelling: Holdtime / Ringtime; Channel is the member's; Member = interface
    assert parse_text(
        "Event: AgentConnect\nPrivilege: agent,all\nQueue: support\nUniqueid: 1400000000.1\n"
        "Channel: SIP/200-00000002\nMember: SIP/200\nMemberName: Bob\nHoldtime: 12\n"
        "BridgedChannel: 1400000000.2\nRingtime: 3"
    ) == AgentConnect(
        queue="support",
        interface="SIP/200",
        member_name="Bob",
        uniqueid="1400000000.1",
        hold_time=12,
        ring_time=3,
    )
    assert parse_text(
        "Event: AgentRingNoAnswer\nPrivilege: agent,all\nQueue: support\nUniqueid: 1400000000.1\n"
        "Channel: SIP/100-00000001\nMember: SIP/201\nMemberName: Carl\nRingtime: 15000"
    ) == AgentRingNoAnswer(
        queue="support",
        interface="SIP/201",
        member_name="Carl",
        uniqueid="1400000000.1",
        ring_time_ms=15000,
    )
    assert parse_text(
        "Event: AgentComplete\nPrivilege: agent,all\nQueue: support\nUniqueid: 1400000000.1\n"
        "Channel: SIP/200-00000002\nMember: SIP/200\nMemberName: Bob\nHoldTime: 12\n"
        "TalkTime: 60\nReason: transfer"
    ) == AgentComplete(
        queue="support",
        interface="SIP/200",
        member_name="Bob",
        uniqueid="1400000000.1",
        hold_time=12,
        talk_time=60,
        reason="transfer",
    )
    assert parse_text(
        "Event: AgentDump\nPrivilege: agent,all\nQueue: support\nUniqueid: 1400000000.1\n"
        "Channel: SIP/200-00000002\nMember: SIP/200\nMemberName: Bob"
    ) == AgentDump(queue="support", interface="SIP/200", member_name="Bob", uniqueid="1400000000.1")


def test_legacy_member_events() -> None:
    status = parse_text(
        "Event: QueueMemberStatus\nPrivilege: agent,all\nQueue: support\nLocation: SIP/200\n"
        "MemberName: Bob\nMembership: dynamic\nPenalty: 0\nCallsTaken: 4\nLastCall: 1400000100\n"
        "Status: 1\nPaused: 0"
    )
    assert status == MemberStatus(
        queue="support",
        interface="SIP/200",
        name="Bob",
        membership="dynamic",
        penalty=0,
        calls_taken=4,
        last_call=1400000100,
        status=1,
        paused=False,
    )
    paused = parse_text(
        "Event: QueueMemberPaused\nPrivilege: agent,all\nQueue: support\nLocation: SIP/200\n"
        "MemberName: Bob\nPaused: 1\nReason: Lunch"
    )
    assert paused == MemberPause(
        queue="support", interface="SIP/200", name="Bob", paused=True, paused_reason="Lunch"
    )
    # 13-17: both Reason and an empty PausedReason; the non-empty one wins
    assert (
        parse_text(
            "Event: QueueMemberPause\nQueue: q\nInterface: SIP/1\nPaused: 1\nPausedReason: \nReason: Break"
        ).paused_reason
        == "Break"
    )
    assert parse_text(
        "Event: QueueMemberPenalty\nPrivilege: agent,all\nQueue: support\nLocation: SIP/200\nPenalty: 3"
    ) == MemberPenalty(queue="support", interface="SIP/200", penalty=3)
    assert parse_text(
        "Event: QueueMemberRinginuse\nPrivilege: agent,all\nQueue: support\nLocation: SIP/200\n"
        "Ringinuse: 1"
    ) == MemberRinginuse(queue="support", interface="SIP/200", ringinuse=True)
    added = parse_text(
        "Event: QueueMemberAdded\nPrivilege: agent,all\nQueue: support\nLocation: SIP/300\n"
        "MemberName: Dan\nStateInterface: SIP/300\nMembership: dynamic\nPenalty: 0\n"
        "CallsTaken: 0\nLastCall: 0\nStatus: 5\nPaused: 0"
    )
    assert isinstance(added, MemberAdded) and added.status == 5
    assert parse_text(
        "Event: QueueMemberRemoved\nPrivilege: agent,all\nQueue: support\nLocation: SIP/300\n"
        "MemberName: Dan"
    ) == MemberRemoved(queue="support", interface="SIP/300", name="Dan")


def test_legacy_queue_status_items() -> None:
    member = parse_text(
        "Event: QueueMember\nQueue: support\nName: Bob\nLocation: SIP/200\nStateInterface: SIP/200\n"
        "Membership: static\nPenalty: 0\nCallsTaken: 2\nLastCall: 1400000100\nIsInCall: 1\n"
        "Status: 2\nPaused: 0\nActionID: x"
    )
    assert isinstance(member, QueueMember)
    assert (member.interface, member.name, member.in_call, member.status) == (
        "SIP/200",
        "Bob",
        True,
        2,
    )
    params = parse_text(
        "Event: QueueParams\nQueue: support\nMax: 0\nStrategy: ringall\nCalls: 1\nHoldtime: 5\n"
        "TalkTime: 30\nCompleted: 3\nAbandoned: 1\nServiceLevel: 60\nServicelevelPerf: 66.7\n"
        "Weight: 0\nActionID: x"
    )
    assert isinstance(params, QueueParams) and params.service_level == 60
    assert parse_text("Event: QueueStatusComplete\nActionID: x") == QueueStatusComplete()


def test_system_events() -> None:
    assert parse_text("Event: FullyBooted\nPrivilege: system,all\nStatus: Fully Booted") == (
        FullyBooted()
    )
    assert parse_text("Event: Shutdown\nShutdown: Cleanly\nRestart: True") == Shutdown(restart=True)


# ------------------------------------------------------------------------------- tolerance


def test_keys_are_case_insensitive_and_any_mapping_works() -> None:
    shouting = {"EVENT": "QueueCallerLeave", "QUEUE": "q", "UNIQUEID": "1.1", "POSITION": "2"}
    assert parse_event(shouting) == CallerLeave(queue="q", uniqueid="1.1", position=2)
    message = Message({"Event": "QueueCallerLeave", "Queue": "q", "Uniqueid": "1.1"})
    assert parse_event(message) == CallerLeave(queue="q", uniqueid="1.1")
    repeated = {"event": "QueueCallerLeave", "queue": ["q", "r"], "uniqueid": "1.1"}
    assert parse_event(repeated) == CallerLeave(queue="q", uniqueid="1.1")


def test_malformed_messages() -> None:
    cases = {
        "no queue": {"event": "QueueCallerJoin", "uniqueid": "1.1"},
        "empty queue": {"event": "QueueCallerJoin", "queue": "  ", "uniqueid": "1.1"},
        "no uniqueid": {"event": "QueueCallerLeave", "queue": "q"},
        "bad position": {
            "event": "QueueCallerJoin",
            "queue": "q",
            "uniqueid": "1",
            "position": "x",
        },
        "infinite": {"event": "QueueCallerJoin", "queue": "q", "uniqueid": "1", "count": "inf"},
        "no interface": {"event": "AgentConnect", "queue": "q"},
        "bad status": {"event": "QueueMemberStatus", "queue": "q", "interface": "i", "status": "?"},
        "bad paused": {"event": "QueueMemberPause", "queue": "q", "interface": "i", "paused": "2"},
        "bad wait": {"event": "QueueEntry", "queue": "q", "uniqueid": "1", "wait": "1,5"},
        "event not text": {"event": object()},
    }
    for label, message in cases.items():
        result = parse_event(message)
        assert isinstance(result, Malformed), label
        assert result.reason
    assert parse_event({"event": "QueueCallerJoin", "uniqueid": "1"}).event == "QueueCallerJoin"


def test_non_events_are_ignored() -> None:
    assert parse_event({}) is None
    assert parse_event({"response": "Success", "actionid": "1"}) is None
    assert parse_event({"event": "VarSet", "variable": "x"}) is None


class Hostile(dict):
    def items(self):  # type: ignore[override]
        raise RuntimeError("boom")


def test_a_hostile_mapping_does_not_raise() -> None:
    assert isinstance(parse_event(Hostile(event="QueueCallerJoin")), Malformed)


EVENT_NAMES = st.sampled_from(
    [
        "QueueCallerJoin",
        "Join",
        "QueueCallerLeave",
        "Leave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentRingNoAnswer",
        "AgentConnect",
        "AgentComplete",
        "AgentDump",
        "QueueMemberStatus",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberPaused",
        "QueueMemberPenalty",
        "QueueMemberRinginuse",
        "QueueMember",
        "QueueParams",
        "QueueEntry",
        "QueueStatusComplete",
        "Shutdown",
        "FullyBooted",
        "Whatever",
    ]
)
KEYS = st.sampled_from(
    [
        "Queue",
        "Uniqueid",
        "Interface",
        "Location",
        "Member",
        "MemberName",
        "Position",
        "Count",
        "HoldTime",
        "Holdtime",
        "TalkTime",
        "RingTime",
        "Status",
        "Paused",
        "PausedReason",
        "Reason",
        "InCall",
        "IsInCall",
        "Penalty",
        "Wait",
        "ListItems",
        "Restart",
    ]
) | st.text(max_size=8)
VALUES = (
    st.text(max_size=12)
    | st.integers().map(str)
    | st.sampled_from(["", "0", "1", "true", "nan", "-inf", "1e400", " 7 ", "١٢"])
    | st.lists(st.text(max_size=5), max_size=3)
    | st.integers()
    | st.none()
    | st.booleans()
)


@settings(max_examples=400, deadline=None)
@given(name=EVENT_NAMES, fields=st.dictionaries(KEYS, VALUES, max_size=10))
def test_fuzz_parse_event_never_raises(name: str, fields: dict[str, Any]) -> None:
    message: dict[Any, Any] = {"Event": name, **fields}
    result = parse_event(message)
    assert (
        result is None
        or isinstance(result, Malformed)
        or type(result).__module__.endswith("events")
    )


# ------------------------------------------------------------------------------- framer


def test_framer_strips_the_banner_and_splits_crlf_and_lf() -> None:
    framer = AmiFramer()
    messages = framer.feed(
        b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nMessage: Authentication accepted"
        b"\r\n\r\nEvent: A\nQueue: q\n\nEvent: B\r\nPausedReason: \r\n\r\n"
    )
    assert framer.version == "11.0.0"
    assert messages == [
        {"response": "Success", "message": "Authentication accepted"},
        {"event": "A", "queue": "q"},
        {"event": "B", "pausedreason": ""},  # an empty last header is kept
    ]


def test_framer_without_banner_and_with_banner_split() -> None:
    framer = AmiFramer()
    assert framer.feed(b"Event: A\r\n\r\n") == [{"event": "A"}]
    assert framer.version == ""
    framer = AmiFramer()
    assert framer.feed(b"Asterisk Call") == []
    assert framer.feed(b" Manager/1.1\r\nEvent: A\r\n\r\n") == [{"event": "A"}]
    assert framer.version == "1.1"


def test_framer_keeps_multibyte_characters_split_across_reads() -> None:
    data = "Event: QueueCallerJoin\r\nCallerIDName: José Müller 日本\r\n\r\n".encode()
    cut = data.index("é".encode()) + 1
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    assert framer.feed(data[:cut]) == []
    [message] = framer.feed(data[cut:])
    assert message["calleridname"] == "José Müller 日本"


def test_framer_replaces_invalid_utf8() -> None:
    framer = AmiFramer()
    [message] = framer.feed(b"Event: X\r\nName: a\xffb\xc3\r\n\r\n")
    assert message["name"] == "a\ufffdb\ufffd"


def test_framer_repeated_headers_become_lists() -> None:
    [message] = AmiFramer().feed(
        b"Event: X\r\nChanVariable: a=1\r\nChanVariable: b=2\r\nChanVariable: c\r\n\r\n"
    )
    assert message["chanvariable"] == ["a=1", "b=2", "c"]


def test_framer_discards_oversized_and_overlong_messages() -> None:
    big = b"Event: Big\r\nX: " + b"y" * 70_000 + b"\r\n\r\n"
    many = b"Event: Many\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(130)) + b"\r\n"
    good = b"Event: Good\r\n\r\n"
    framer = AmiFramer()
    assert framer.feed(big + many + good) == [{"event": "Good"}]
    assert (framer.oversized, framer.too_many_headers) == (1, 1)
    # the same, streamed in small pieces: the big one is skipped without being buffered whole
    framer = AmiFramer()
    stream = good + big + good
    out = []
    for i in range(0, len(stream), 1000):
        out += framer.feed(stream[i : i + 1000])
    assert out == [{"event": "Good"}, {"event": "Good"}]
    assert framer.oversized == 1
    assert len(framer._buffer) < 2000


def test_framer_reset_starts_a_new_stream() -> None:
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\nEvent: Half")
    framer.reset()
    assert framer.feed(b"Asterisk Call Manager/2.10.6\r\nEvent: A\r\n\r\n") == [{"event": "A"}]
    assert framer.version == "2.10.6"


def test_framer_on_the_lab_capture_splits_every_message() -> None:
    import gzip

    raw = gzip.open(Path(__file__).parent / "fixtures" / "lab_ami_capture.raw.gz").read()
    framer = AmiFramer()
    messages = framer.feed(raw)
    assert framer.version == "11.0.0"
    assert len(messages) == raw.count(b"\r\n\r\n")
    assert framer.oversized == framer.too_many_headers == 0


@settings(max_examples=200, deadline=None)
@given(
    body=st.lists(
        st.lists(
            st.tuples(
                st.text(
                    st.characters(codec="utf-8", exclude_characters="\r\n:"), min_size=1, max_size=8
                ),
                st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12),
            ),
            min_size=1,
            max_size=5,
        ),
        max_size=6,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
    newline=st.sampled_from([b"\r\n", b"\n"]),
)
def test_framing_does_not_depend_on_how_bytes_are_split(
    body: list[list[tuple[str, str]]], cuts: list[int], newline: bytes
) -> None:
    data = b"Asterisk Call Manager/11.0.0" + newline
    for message in body:
        data += b"".join(f"{k}: {v}".encode() + newline for k, v in message) + newline
    whole = AmiFramer().feed(data)
    framer = AmiFramer()
    pieces = []
    previous = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        pieces += framer.feed(data[previous:cut])
        previous = cut
    assert pieces == whole
    assert len(whole) == len(body)


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(max_size=300), max_size=20))
def test_fuzz_framer_never_raises(chunks: list[bytes]) -> None:
    framer = AmiFramer(max_bytes=512, max_headers=8)
    for chunk in chunks:
        for message in framer.feed(chunk):
            assert isinstance(message, dict)
            parse_event(message)
