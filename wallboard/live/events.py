"""AMI messages -> typed queue events (the framer that cuts the byte stream into messages is
live/framing.py).

Pure: no I/O. The version differences (Asterisk 1.8/11 names and fields versus 12-22) live here,
so the state machine sees one vocabulary. Nothing in this module raises on bad input: unknown
events give None, broken ones a `Malformed` the caller counts and logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The history side's "one queue call changed" event; the state counts today's calls from it.
from wallboard.history.calls import CallChange
from wallboard.live.framing import AmiMessage

# --------------------------------------------------------------------------------------------
# Typed events


@dataclass(frozen=True, slots=True)
class CallerJoin:
    queue: str
    uniqueid: str
    position: int | None = None
    count: int | None = None
    callerid_num: str = ""
    callerid_name: str = ""
    channel: str = ""


@dataclass(frozen=True, slots=True)
class CallerLeave:
    queue: str
    uniqueid: str
    position: int | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class CallerAbandon:
    """Sent for abandons but also timeouts and empty-queue exits: not a count of abandons."""

    queue: str
    uniqueid: str
    position: int | None = None
    original_position: int | None = None
    hold_time: int | None = None


@dataclass(frozen=True, slots=True)
class AgentCalled:
    queue: str
    interface: str
    member_name: str = ""
    uniqueid: str = ""
    callerid_num: str = ""
    callerid_name: str = ""


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer:
    queue: str
    interface: str
    member_name: str = ""
    uniqueid: str = ""
    ring_time_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AgentConnect:
    queue: str
    interface: str
    member_name: str = ""
    uniqueid: str = ""
    hold_time: int | None = None
    ring_time: int | None = None
    callerid_num: str = ""
    callerid_name: str = ""


@dataclass(frozen=True, slots=True)
class AgentComplete:
    """A bridge ended. `uniqueid` is "" when Asterisk sent no channel fields (match by interface)."""

    queue: str
    interface: str
    member_name: str = ""
    uniqueid: str = ""
    hold_time: int | None = None
    talk_time: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AgentDump:
    queue: str
    interface: str
    member_name: str = ""
    uniqueid: str = ""


@dataclass(frozen=True, slots=True)
class MemberEvent:
    """The member block shared by QueueMember* events and QueueStatus's QueueMember; None = absent."""

    queue: str
    interface: str
    name: str | None = None
    state_interface: str | None = None
    membership: str | None = None
    penalty: int | None = None
    calls_taken: int | None = None
    last_call: int | None = None
    last_pause: int | None = None
    login_time: int | None = None
    in_call: bool | None = None
    status: int | None = None
    paused: bool | None = None
    paused_reason: str | None = None
    ringinuse: bool | None = None
    wrapuptime: int | None = None


@dataclass(frozen=True, slots=True)
class MemberStatus(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class MemberAdded(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class MemberRemoved(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class MemberPause(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class MemberPenalty(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class MemberRinginuse(MemberEvent):
    pass


@dataclass(frozen=True, slots=True)
class QueueMember(MemberEvent):
    """One member in a QueueStatus response (old `Name`/`Location` field names)."""


@dataclass(frozen=True, slots=True)
class QueueParams:
    queue: str
    strategy: str = ""
    max: int | None = None
    calls: int | None = None
    holdtime: int | None = None
    talktime: int | None = None
    completed: int | None = None
    abandoned: int | None = None
    service_level: int | None = None
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One waiting caller in a QueueStatus response; `wait` = seconds in queue so far."""

    queue: str
    uniqueid: str
    position: int | None = None
    wait: int | None = None
    callerid_num: str = ""
    callerid_name: str = ""
    channel: str = ""


@dataclass(frozen=True, slots=True)
class QueueStatusComplete:
    list_items: int | None = None


@dataclass(frozen=True, slots=True)
class FullyBooted:
    pass


@dataclass(frozen=True, slots=True)
class Shutdown:
    restart: bool = False


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """What a caller's channel did, from the `call` class (`new`: Newchannel, `hangup_request`:
    the far end hung up, `hangup`) or the `dialplan` class (`queue_status`: the QUEUESTATUS
    app_queue sets when Queue() returns, in `value`). Only AMI-derived history reads them: they
    tell an abandon from a timeout, which QueueCallerAbandon does not."""

    kind: str
    uniqueid: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class Connection:
    """Made by the AMI shell (not by Asterisk): the link went up or down."""

    connected: bool
    error: str = ""
    pbx: str = ""  # which PBX's link ("" with one PBX)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Made by a history source's shell: it reads (ok) or cannot (error says why)."""

    pbx: str
    ok: bool
    error: str = ""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A queue event that could not be understood; counted and logged, never applied."""

    reason: str
    event: str = ""


# --------------------------------------------------------------------------------------------
# Parsing (hot path: one AMI event per call, so the getters are written for speed)


class _Bad(Exception):
    """Internal: the message is malformed (carries the reason)."""


def _lowered(message: Mapping[Any, Any]) -> dict[str, Any]:
    """A copy of any mapping with lower-cased string keys (others dropped)."""
    return {k.lower(): v for k, v in message.items() if isinstance(k, str)}


def _scalar(value: Any) -> str | None:
    """One header value as text: first of a repeated header; None when unusable."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, str):
                return item
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _str(m: Mapping[str, Any], key: str) -> str | None:
    """A header as text, or None when absent."""
    value = m.get(key)
    if value is None or value.__class__ is str:
        return value
    return _scalar(value)


def _either(m: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first present header of `keys` (old and new spellings) as text, or None."""
    for key in keys:
        value = m.get(key)
        if value is not None:
            return value if value.__class__ is str else _scalar(value)
    return None


def _need(value: str | None, key: str) -> str:
    """A required header: present and not blank."""
    if value is None or not value.strip():
        raise _Bad(f"missing {key}")
    return value


def _int(m: Mapping[str, Any], key: str) -> int | None:
    """An integer header; None when absent or empty; _Bad when not a number."""
    value = m.get(key)
    if value is None:
        return None
    if value.__class__ is str:
        try:
            return int(value)
        except ValueError:
            pass
    return _int_slow(key, _scalar(value))


def _int_slow(key: str, text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise _Bad(f"{key} is not a number: {text[:40]!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise _Bad(f"{key} is not a number: {text[:40]!r}")
    return int(number)


_BOOLS = {"0": False, "1": True}
_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


def _bool(m: Mapping[str, Any], key: str) -> bool | None:
    """A 0/1 (or true/false, yes/no) header; None when absent or empty."""
    value = m.get(key)
    if value is None:
        return None
    flag = _BOOLS.get(value) if value.__class__ is str else None
    if flag is not None:
        return flag
    text = _scalar(value)
    if text is None:
        return None
    low = text.strip().lower()
    if not low:
        return None
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise _Bad(f"{key} is not a boolean: {text[:40]!r}")


def _caller_join(m: Mapping[str, Any]) -> CallerJoin:
    return CallerJoin(
        _need(_str(m, "queue"), "queue"),
        _need(_str(m, "uniqueid"), "uniqueid"),
        _int(m, "position"),
        _int(m, "count"),
        _str(m, "calleridnum") or "",
        _str(m, "calleridname") or "",
        _str(m, "channel") or "",
    )


def _caller_leave(m: Mapping[str, Any]) -> CallerLeave:
    return CallerLeave(
        _need(_str(m, "queue"), "queue"),
        _need(_str(m, "uniqueid"), "uniqueid"),
        _int(m, "position"),
        _int(m, "count"),
    )


def _caller_abandon(m: Mapping[str, Any]) -> CallerAbandon:
    return CallerAbandon(
        _need(_str(m, "queue"), "queue"),
        _need(_str(m, "uniqueid"), "uniqueid"),
        _int(m, "position"),
        _int(m, "originalposition"),
        _int(m, "holdtime"),
    )


# 12+ send `Interface`; 1.8/11 sent `Member` (`AgentCalled` on AgentCalled), QueueStatus `Location`.
_INTERFACE = ("interface", "member", "location")
_CALLED_INTERFACE = ("interface", "agentcalled", "member", "location")
_QUEUE_MEMBER_INTERFACE = ("location", "interface")


def _agent_called(m: Mapping[str, Any]) -> AgentCalled:
    return AgentCalled(
        _need(_str(m, "queue"), "queue"),
        _need(_either(m, _CALLED_INTERFACE), "interface"),
        _either(m, ("membername", "agentname")) or "",
        _str(m, "uniqueid") or "",
        _str(m, "calleridnum") or "",
        _str(m, "calleridname") or "",
    )


def _agent_ring_no_answer(m: Mapping[str, Any]) -> AgentRingNoAnswer:
    return AgentRingNoAnswer(
        _need(_str(m, "queue"), "queue"),
        _need(_either(m, _INTERFACE), "interface"),
        _str(m, "membername") or "",
        _str(m, "uniqueid") or "",
        _int(m, "ringtime"),
    )


def _agent_connect(m: Mapping[str, Any]) -> AgentConnect:
    return AgentConnect(
        _need(_str(m, "queue"), "queue"),
        _need(_either(m, _INTERFACE), "interface"),
        _str(m, "membername") or "",
        _str(m, "uniqueid") or "",
        _int(m, "holdtime"),
        _int(m, "ringtime"),
        _str(m, "calleridnum") or "",
        _str(m, "calleridname") or "",
    )


def _agent_complete(m: Mapping[str, Any]) -> AgentComplete:
    return AgentComplete(
        _need(_str(m, "queue"), "queue"),
        _need(_either(m, _INTERFACE), "interface"),
        _str(m, "membername") or "",
        _str(m, "uniqueid") or "",
        _int(m, "holdtime"),
        _int(m, "talktime"),
        _str(m, "reason") or "",
    )


def _agent_dump(m: Mapping[str, Any]) -> AgentDump:
    return AgentDump(
        _need(_str(m, "queue"), "queue"),
        _need(_either(m, _INTERFACE), "interface"),
        _str(m, "membername") or "",
        _str(m, "uniqueid") or "",
    )


def _member(kind: type[MemberEvent], interface_keys: tuple[str, ...] = _INTERFACE) -> Any:
    """A parser for one member-block event type (QueueMember* and QueueStatus's QueueMember)."""

    def parse(m: Mapping[str, Any]) -> MemberEvent:
        # 13-17 also sent `Reason` on QueueMemberPause; 1.8/11 QueueMemberPaused only that.
        paused_reason = _str(m, "pausedreason")
        reason = paused_reason or _str(m, "reason")
        if reason is None:
            reason = paused_reason
        in_call = _bool(m, "incall")
        if in_call is None:
            in_call = _bool(m, "isincall")
        return kind(
            _need(_str(m, "queue"), "queue"),
            _need(_either(m, interface_keys), "interface"),
            _either(m, ("membername", "name")),
            _str(m, "stateinterface"),
            _str(m, "membership"),
            _int(m, "penalty"),
            _int(m, "callstaken"),
            _int(m, "lastcall"),
            _int(m, "lastpause"),
            _int(m, "logintime"),
            in_call,
            _int(m, "status"),
            _bool(m, "paused"),
            reason,
            _bool(m, "ringinuse"),
            _int(m, "wrapuptime"),
        )

    return parse


def _queue_params(m: Mapping[str, Any]) -> QueueParams:
    return QueueParams(
        _need(_str(m, "queue"), "queue"),
        _str(m, "strategy") or "",
        _int(m, "max"),
        _int(m, "calls"),
        _int(m, "holdtime"),
        _int(m, "talktime"),
        _int(m, "completed"),
        _int(m, "abandoned"),
        _int(m, "servicelevel"),
        _int(m, "weight"),
    )


def _queue_entry(m: Mapping[str, Any]) -> QueueEntry:
    return QueueEntry(
        _need(_str(m, "queue"), "queue"),
        _need(_str(m, "uniqueid"), "uniqueid"),
        _int(m, "position"),
        _int(m, "wait"),
        _str(m, "calleridnum") or "",
        _str(m, "calleridname") or "",
        _str(m, "channel") or "",
    )


def _queue_status_complete(m: Mapping[str, Any]) -> QueueStatusComplete:
    try:
        items = _int(m, "listitems")
    except _Bad:
        items = None
    return QueueStatusComplete(list_items=items)


def _channel(kind: str) -> Any:
    def parse(m: Mapping[str, Any]) -> ChannelEvent | None:
        uniqueid = _str(m, "uniqueid")
        return ChannelEvent(kind, uniqueid) if uniqueid else None

    return parse


def _varset(m: Mapping[str, Any]) -> ChannelEvent | None:
    """Only QUEUESTATUS matters (VarSet is half of a busy PBX's traffic: return fast)."""
    if m.get("variable") != "QUEUESTATUS":
        return None
    uniqueid = _str(m, "uniqueid")
    return ChannelEvent("queue_status", uniqueid, _str(m, "value") or "") if uniqueid else None


def _shutdown(m: Mapping[str, Any]) -> Shutdown:
    try:
        restart = bool(_bool(m, "restart"))
    except _Bad:
        restart = False
    return Shutdown(restart=restart)


_PARSERS: dict[str, Any] = {
    "queuecallerjoin": _caller_join,
    "join": _caller_join,
    "queuecallerleave": _caller_leave,
    "leave": _caller_leave,
    "queuecallerabandon": _caller_abandon,
    "agentcalled": _agent_called,
    "agentringnoanswer": _agent_ring_no_answer,
    "agentconnect": _agent_connect,
    "agentcomplete": _agent_complete,
    "agentdump": _agent_dump,
    "queuememberstatus": _member(MemberStatus),
    "queuememberadded": _member(MemberAdded),
    "queuememberremoved": _member(MemberRemoved),
    "queuememberpause": _member(MemberPause),
    "queuememberpaused": _member(MemberPause),
    "queuememberpenalty": _member(MemberPenalty),
    "queuememberringinuse": _member(MemberRinginuse),
    "queuemember": _member(QueueMember, _QUEUE_MEMBER_INTERFACE),
    "queueparams": _queue_params,
    "queueentry": _queue_entry,
    "queuestatuscomplete": _queue_status_complete,
    "fullybooted": lambda m: FullyBooted(),
    "shutdown": _shutdown,
    "newchannel": _channel("new"),
    "hanguprequest": _channel("hangup_request"),
    "hangup": _channel("hangup"),
    "varset": _varset,
}
# Exact spellings Asterisk sends, to skip the lower() on the hot path.
_PARSERS_EXACT: dict[str, Any] = {
    name: _PARSERS[name.lower()]
    for name in (
        "QueueCallerJoin", "Join", "QueueCallerLeave", "Leave", "QueueCallerAbandon",
        "AgentCalled", "AgentRingNoAnswer", "AgentConnect", "AgentComplete", "AgentDump",
        "QueueMemberStatus", "QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause",
        "QueueMemberPaused", "QueueMemberPenalty", "QueueMemberRinginuse", "QueueMember",
        "QueueParams", "QueueEntry", "QueueStatusComplete", "FullyBooted", "Shutdown",
        "Newchannel", "HangupRequest", "Hangup", "VarSet",
    )
}  # fmt: skip

Event = (
    CallerJoin
    | CallerLeave
    | CallerAbandon
    | AgentCalled
    | AgentRingNoAnswer
    | AgentConnect
    | AgentComplete
    | AgentDump
    | MemberEvent
    | QueueParams
    | QueueEntry
    | QueueStatusComplete
    | FullyBooted
    | Shutdown
    | ChannelEvent
    | Connection
    | SourceStatus
    | CallChange
)


def parse_event(message: Mapping[Any, Any]) -> Event | Malformed | None:
    """Turn one AMI message into a typed event; None for non-queue messages. Never raises."""
    try:
        m = message if message.__class__ is AmiMessage else _lowered(message)
        name = m.get("event")
        if name is None:
            return None
        parser = _PARSERS_EXACT.get(name) if name.__class__ is str else None
        if parser is None:
            name = _scalar(name)
            if name is None:
                return Malformed("event name is not text")
            parser = _PARSERS.get(name.strip().lower())
            if parser is None:
                return None
        try:
            return parser(m)
        except _Bad as bad:
            return Malformed(str(bad), name[:64])
    except Exception as exc:  # last resort: hostile mappings (raising __getitem__, ...)
        return Malformed(f"unreadable message: {type(exc).__name__}")
