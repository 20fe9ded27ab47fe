"""History from AMI alone: one PBX's queue events -> the queue_log lines Asterisk would write.

Pure (no I/O, no clock): the AMI shell feeds typed events with their time, and the lines go to
the same parser, call tracker and store as a queue_log file's, so every counter and report works
for a PBX that offers only an AMI login.

What the protocol carries and what it does not (seen on a real Asterisk 22):
- `QueueCallerAbandon` comes for a caller who hung up *and* for timeouts and empty-queue exits.
  Only the caller's channel events tell them apart: a true abandon is preceded by the channel's
  `HangupRequest` (`call` class); a timeout is not, and `QUEUESTATUS` (`dialplan` class) says
  TIMEOUT or LEAVEEMPTY. Without channel events the call is EXITUNKNOWN (unanswered, abandon
  unknown); with `call` but not `dialplan`, a non-abandon is counted as EXITWITHTIMEOUT.
- The DID line and RINGCANCELED have no AMI event: those stay unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wallboard.history.calls import Interval, QueueCall
from wallboard.live.events import (
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    CallerAbandon,
    CallerJoin,
    CallerLeave,
    ChannelEvent,
    MemberAdded,
    MemberEvent,
    MemberPause,
    MemberPenalty,
    MemberRemoved,
    QueueEntry,
)

EXIT_STATUS = {"TIMEOUT": "EXITWITHTIMEOUT", "LEAVEEMPTY": "EXITEMPTY", "JOINEMPTY": "EXITEMPTY"}
SETTLE = 2.0  # seconds a left caller may wait for its QUEUESTATUS before it is decided


@dataclass(slots=True)
class _Left:
    """A caller leaving its queue, waiting to be told how: after QueueCallerAbandon, abandon or
    exit; after a bare QueueCallerLeave, answered (AgentConnect follows) or a key pressed."""

    queue: str
    uniqueid: str
    data: str  # position|origposition|holdtime
    when: float
    left: bool = False  # its QueueCallerLeave came
    abandon: bool = True  # announced by QueueCallerAbandon


class AmiRecorder:
    """Turns one PBX's AMI events into queue_log lines (`t|callid|queue|agent|EVENT|data`)."""

    def __init__(self, settle: float = SETTLE) -> None:
        self.settle = settle
        self.channels_seen = False  # a `call` class event came on this link
        self.dialplan_seen = False  # a QUEUESTATUS came on this link
        self._hangup_requested: set[str] = set()
        self._left: dict[str, _Left] = {}
        self._talking: dict[tuple[str, str], str] = {}  # (queue, interface) -> caller uniqueid
        self._waiting: dict[str, str] = {}  # caller uniqueid -> queue

    # -- events ---------------------------------------------------------------------------------

    def feed(self, event: object, when: float) -> list[str]:
        """The lines one event adds (often none); `when` is the event's time (epoch)."""
        out = self.tick(when)
        kind = type(event)
        if kind is ChannelEvent:
            assert isinstance(event, ChannelEvent)
            self._channel(event, when, out)
        elif kind is CallerJoin:
            assert isinstance(event, CallerJoin)
            self._waiting[event.uniqueid] = event.queue
            self._hangup_requested.discard(event.uniqueid)
            position = event.position if event.position is not None else ""
            out.append(_line(when, event.uniqueid, event.queue, "NONE", "ENTERQUEUE",
                             f"|{_field(event.callerid_num)}|{position}"))  # fmt: skip
        elif kind is AgentConnect:
            assert isinstance(event, AgentConnect)
            self._waiting.pop(event.uniqueid, None)
            self._left.pop(event.uniqueid, None)  # its QueueCallerLeave came first
            self._talking[(event.queue, event.interface)] = event.uniqueid
            data = f"{event.hold_time or 0}||{event.ring_time or 0}"
            out.append(_line(when, event.uniqueid, event.queue, _agent(event), "CONNECT", data))
        elif kind is AgentComplete:
            assert isinstance(event, AgentComplete)
            self._complete(event, when, out)
        elif kind is AgentRingNoAnswer:
            assert isinstance(event, AgentRingNoAnswer)
            out.append(_line(when, event.uniqueid or "NONE", event.queue, _agent(event),
                             "RINGNOANSWER", str(event.ring_time_ms or 0)))  # fmt: skip
        elif kind is CallerAbandon:
            assert isinstance(event, CallerAbandon)
            self._waiting.pop(event.uniqueid, None)
            data = f"{_num(event.position)}|{_num(event.original_position)}|{_num(event.hold_time)}"
            left = _Left(event.queue, event.uniqueid, data, when)
            if event.uniqueid in self._hangup_requested:
                out.append(self._decide(left, "ABANDON"))
            else:
                self._left[event.uniqueid] = left
        elif kind is CallerLeave:
            assert isinstance(event, CallerLeave)
            self._leave(event, when, out)
        elif isinstance(event, MemberEvent):
            self._member(event, when, out)
        return out

    def tick(self, now: float) -> list[str]:
        """Decide the left callers whose QUEUESTATUS or AgentConnect did not come within
        `settle` seconds."""
        if not self._left:
            return []
        return [
            self._decide(left, self._undecided(left))
            for left in list(self._left.values())
            if left.left and now - left.when >= self.settle
        ]

    def link_lost(self) -> list[str]:
        """The link dropped: decide what is pending with what is known; forget the link."""
        out = [self._decide(left, self._undecided(left)) for left in list(self._left.values())]
        self.channels_seen = self.dialplan_seen = False
        self._hangup_requested.clear()
        return out

    def _channel(self, event: ChannelEvent, when: float, out: list[str]) -> None:
        uniqueid = event.uniqueid
        if event.kind == "queue_status":
            self.dialplan_seen = True
            left = self._left.get(uniqueid)
            if left is not None:
                default = "EXITWITHTIMEOUT" if left.abandon else "EXITWITHKEY"
                out.append(self._decide(left, EXIT_STATUS.get(event.value, default)))
            return
        self.channels_seen = True
        if event.kind == "hangup_request":
            if uniqueid in self._waiting:
                self._hangup_requested.add(uniqueid)
        elif event.kind == "hangup":
            self._hangup_requested.discard(uniqueid)
            left = self._left.get(uniqueid)
            if left is not None:  # hung up before any QUEUESTATUS: the dialplan did not go on
                out.append(self._decide(left, "EXITWITHTIMEOUT" if left.abandon else "EXITWITHKEY"))

    def _leave(self, event: CallerLeave, when: float, out: list[str]) -> None:
        left = self._left.get(event.uniqueid)
        if left is not None:
            left.left = True
            if not self.dialplan_seen:  # no QUEUESTATUS will come: decide now
                out.append(self._decide(left, self._undecided(left)))
            return
        queue = self._waiting.pop(event.uniqueid, None)
        if queue is not None:  # answered (AgentConnect is next) or a key was pressed
            data = f"|{_num(event.position)}||"
            self._left[event.uniqueid] = _Left(queue, event.uniqueid, data, when, True, False)

    def _undecided(self, left: _Left) -> str:
        if not left.abandon:
            return "EXITWITHKEY"
        return "EXITWITHTIMEOUT" if self.channels_seen else "EXITUNKNOWN"

    def _decide(self, left: _Left, outcome: str) -> str:
        self._left.pop(left.uniqueid, None)
        self._hangup_requested.discard(left.uniqueid)
        return _line(left.when, left.uniqueid, left.queue, "NONE", outcome, left.data)

    def _complete(self, event: AgentComplete, when: float, out: list[str]) -> None:
        key = (event.queue, event.interface)
        uniqueid = event.uniqueid or self._talking.get(key, "")
        if self._talking.get(key) == uniqueid:
            del self._talking[key]
        if not uniqueid:
            return  # a bridge whose start was not seen, without channel fields: nothing to tie
        outcome = {"caller": "COMPLETECALLER", "agent": "COMPLETEAGENT"}.get(event.reason)
        hold, talk = event.hold_time or 0, event.talk_time or 0
        if outcome is None:  # "transfer": where to is not in the event
            out.append(_line(when, uniqueid, event.queue, _agent(event), "TRANSFER",
                             f"||{hold}|{talk}|"))  # fmt: skip
        else:
            out.append(_line(when, uniqueid, event.queue, _agent(event), outcome,
                             f"{hold}|{talk}|"))  # fmt: skip

    def _member(self, event: MemberEvent, when: float, out: list[str]) -> None:
        kind = type(event)
        if kind is MemberAdded:
            out.append(_line(when, "MANAGER", event.queue, event.interface, "ADDMEMBER", ""))
            if event.paused:
                out.append(_line(when, "NONE", event.queue, _name(event), "PAUSE",
                                 _field(event.paused_reason or "")))  # fmt: skip
        elif kind is MemberRemoved:
            out.append(_line(when, "MANAGER", event.queue, event.interface, "REMOVEMEMBER", ""))
        elif kind is MemberPause and event.paused is not None:
            word = "PAUSE" if event.paused else "UNPAUSE"
            out.append(_line(when, "NONE", event.queue, _name(event), word,
                             _field(event.paused_reason or "")))  # fmt: skip
        elif kind is MemberPenalty and event.penalty is not None:
            out.append(_line(when, "NONE", event.queue, event.interface, "PENALTY",
                             str(event.penalty)))  # fmt: skip

    # -- after a (re)connection ---------------------------------------------------------------

    def synced(self, items: Iterable[object]) -> None:
        """A QueueStatus was applied: the callers waiting now are the ones it lists."""
        entries, members = _status(items)
        self._waiting = {uid: queue for uid, queue in entries}
        in_call = _in_call(members)
        self._talking = {k: v for k, v in self._talking.items() if k in in_call}


def _status(items: Iterable[object]) -> tuple[set[tuple[str, str]], dict[tuple[str, str], MemberEvent]]:
    """A QueueStatus's (caller uniqueid, queue) pairs and its members by (queue, interface)."""
    entries: set[tuple[str, str]] = set()
    members: dict[tuple[str, str], MemberEvent] = {}
    for item in items:
        if isinstance(item, QueueEntry):
            entries.add((item.uniqueid, item.queue))
        elif isinstance(item, MemberEvent):
            members[(item.queue, item.interface)] = item
    return entries, members


def _in_call(members: dict[tuple[str, str], MemberEvent]) -> set[tuple[str, str]]:
    return {key for key, m in members.items() if m.in_call or m.status in (2, 3, 8)}


def reconcile(
    items: Iterable[object],
    now: float,
    open_calls: Iterable[QueueCall],
    open_intervals: Iterable[Interval],
) -> tuple[list[str], list[str]]:
    """Reconcile the history with a QueueStatus: (lines, call ids to close as STALE).

    Waiting callers QueueStatus no longer lists, and calls talked to members no longer on a
    call, ended unseen (while the link was down): STALE. Dynamic members logged in unseen get
    an ADDMEMBER at their login time, those gone a REMOVEMEMBER; pauses likewise. `open_*` are
    the call tracker's at the moment of the QueueStatus, in this PBX's own names.
    """
    entries, members = _status(items)
    by_name = {(key[0], _name(m)): m for key, m in members.items()}
    in_call = _in_call(members)
    talking = in_call | {(queue, _name(members[(queue, i)])) for queue, i in in_call}
    stale = [
        call.callid for call in open_calls
        if (call.outcome is None and (call.callid, call.queue) not in entries)
        or (call.outcome == "CONNECT" and (call.queue, call.agent) not in talking)
    ]  # fmt: skip
    lines: list[str] = []
    sessions = {(i.queue, i.agent) for i in open_intervals if i.kind == "session"}
    pauses = {(i.queue, i.agent) for i in open_intervals if i.kind == "pause"}
    for (queue, interface), member in sorted(members.items()):
        if member.membership == "dynamic" and (queue, interface) not in sessions:
            start = member.login_time if member.login_time else now
            lines.append(_line(min(start, now), "MANAGER", queue, interface, "ADDMEMBER", ""))
        if member.paused and (queue, _name(member)) not in pauses:
            start = member.last_pause if member.last_pause else now
            lines.append(_line(min(start, now), "NONE", queue, _name(member), "PAUSE",
                               _field(member.paused_reason or "")))  # fmt: skip
    for queue, agent in sorted(sessions):
        if (queue, agent) not in members:
            lines.append(_line(now, "MANAGER", queue, agent, "REMOVEMEMBER", ""))
    for queue, agent in sorted(pauses):
        found = by_name.get((queue, agent)) or members.get((queue, agent))
        if found is None or not found.paused:
            lines.append(_line(now, "NONE", queue, agent, "UNPAUSE", ""))
    lines.sort(key=lambda line: int(line.split("|", 1)[0]))
    return lines, stale


def _line(when: float, callid: str, queue: str, agent: str, event: str, data: str) -> str:
    return f"{int(when)}|{callid}|{queue}|{agent or 'NONE'}|{event}|{data}"


def _agent(event: AgentConnect | AgentComplete | AgentRingNoAnswer) -> str:
    """The agent field queue_log gives a call event: the member name, else the interface."""
    return _field(event.member_name or event.interface)


def _name(member: MemberEvent) -> str:
    return _field(member.name or member.interface)


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


def _field(text: str) -> str:
    """Text safe inside one queue_log field."""
    return text.replace("|", "_").replace("\n", " ").replace("\r", " ")
