"""The call model (reports.md): queue_log records → queue calls, agent sessions and pauses (pure).

A queue call is one stay of one caller in one queue, from ENTERQUEUE to its outcome. The tracker
keeps the open ones (waiting or talking), applies each record to them and reports what changed,
so the store can upsert rows and the live state can update today's counters from the same facts.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from wallboard.history.callmodel import (
    ANSWERED_ENDS,
    STALE,
    UNANSWERED_ENDS,
    is_abandoned,
    is_answered,
    is_unanswered,
)
from wallboard.history.naming import scope_of
from wallboard.history.queuelog import Record

SESSION_START = frozenset({"ADDMEMBER", "AGENTLOGIN", "AGENTCALLBACKLOGIN"})
SESSION_END = frozenset({"REMOVEMEMBER", "AGENTLOGOFF", "AGENTCALLBACKLOGOFF"})


@dataclass(slots=True)
class QueueCall:
    """One caller's stay in one queue; `outcome` None = waiting, "CONNECT" = talking."""

    id: int  # stable row id, assigned in arrival order by the tracker
    callid: str
    queue: str
    enter_time: int
    connect_time: int | None = None
    end_time: int | None = None
    outcome: str | None = None
    agent: str | None = None
    wait: int | None = None
    ring: int | None = None
    talk: int | None = None
    position: int | None = None
    origpos: int | None = None
    callerid: str = ""
    callerid_name: str = ""
    url: str = ""
    did: str = ""
    target: str = ""
    member_uid: str = ""

    @property
    def answered(self) -> bool:
        return is_answered(self.connect_time, self.outcome)

    @property
    def unanswered(self) -> bool:
        return is_unanswered(self.connect_time, self.outcome)

    @property
    def abandoned(self) -> bool:
        return is_abandoned(self.connect_time, self.outcome)

    @property
    def waiting(self) -> bool:
        return self.outcome is None


@dataclass(slots=True)
class Interval:
    """An agent session (logged in to a queue) or a pause; `end` None while open."""

    kind: str  # "session" or "pause"
    agent: str
    queue: str
    start: int
    end: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RingMiss:
    """A member rang and did not answer (RINGNOANSWER): who, in which queue, when."""

    agent: str
    queue: str
    time: int
    callid: str


@dataclass(frozen=True, slots=True)
class IntervalChange:
    """A session or pause as it is after a record (for the live side's pause time today)."""

    interval: Interval


@dataclass(slots=True)
class CallChange:
    """A queue call as it was before a record (None if new) and as it is after."""

    before: QueueCall | None
    after: QueueCall


class CallTracker:
    """Applies records in order; remembers open calls, sessions and pauses between batches."""

    def __init__(
        self,
        open_calls: Iterable[QueueCall] = (),
        open_intervals: Iterable[Interval] = (),
        pending_dids: dict[str, str] | None = None,
        keep_before: bool = False,
        next_id: int = 1,
    ) -> None:
        self.calls: dict[tuple[str, str], QueueCall] = {(c.callid, c.queue): c for c in open_calls}
        self.intervals: dict[tuple[str, str, str], Interval] = {
            (i.kind, i.agent, i.queue): i for i in open_intervals
        }
        self.dids: dict[str, str] = dict(pending_dids or {})
        self.keep_before = keep_before
        self.dirty: dict[int, QueueCall] = {}
        self.changes: list[CallChange] = []
        self.dirty_intervals: list[Interval] = []
        self.misses: list[RingMiss] = []
        self.created = 0  # queue calls started so far (ENTERQUEUE or a made-up start)
        self.next_id = max([next_id, *(c.id + 1 for c in self.calls.values())])

    def take(self) -> tuple[list[QueueCall], list[CallChange], list[Interval]]:
        """What changed since the last take: calls (last state), changes (if kept), intervals."""
        calls, changes, intervals = list(self.dirty.values()), self.changes, self.dirty_intervals
        self.dirty, self.changes, self.dirty_intervals = {}, [], []
        return calls, changes, intervals

    def take_misses(self) -> list[RingMiss]:
        """The rings not answered since the last take."""
        misses, self.misses = self.misses, []
        return misses

    def _changed(self, before: QueueCall | None, call: QueueCall) -> None:
        self.dirty[call.id] = call
        if self.keep_before:
            self._keep(before, call)

    def _keep(self, before: QueueCall | None, call: QueueCall) -> None:
        """Record a change (the call object changes on: each change keeps its own copy)."""
        self.changes.append(CallChange(before, copy.copy(call)))

    def apply(self, rec: Record) -> None:
        """Apply one record to the open calls, sessions and pauses."""
        # The hot events look their call up inline (this runs once per queue_log line).
        event = rec.event
        if event == "ENTERQUEUE":
            self._enter(rec)
        elif event == "CONNECT":
            call = self.calls.get((rec.callid, rec.queue))
            before = self._copy(call) if call is not None else None
            if call is None:
                call = self._made_up(rec)
            call.connect_time = rec.time
            call.outcome = "CONNECT"
            call.agent = rec.agent
            call.wait = rec.wait
            call.ring = rec.ring
            call.member_uid = rec.member_uid or ""
            self.dirty[call.id] = call
            if self.keep_before:
                self._keep(before, call)
        elif event in ANSWERED_ENDS:
            call = self.calls.pop((rec.callid, rec.queue), None)
            before = self._copy(call) if call is not None else None
            if call is None:
                call = self._made_up(rec)
                del self.calls[(rec.callid, rec.queue)]
            if call.connect_time is None:
                call.connect_time = rec.time - (rec.talk or 0)
                call.agent = rec.agent
            if call.wait is None:
                call.wait = rec.wait
            call.talk = rec.talk
            call.target = rec.target or ""
            call.end_time = rec.time
            call.outcome = event
            self.dirty[call.id] = call
            if self.keep_before:
                self._keep(before, call)
        elif event == "DID":
            self.dids[rec.callid] = rec.did or ""
        elif event in UNANSWERED_ENDS:
            call, before = self._find(rec)
            if rec.wait is not None:
                call.wait = rec.wait
            elif call.wait is None:
                call.wait = rec.time - call.enter_time
            if rec.position is not None:
                call.position = rec.position
            if rec.origpos is not None and call.origpos is None:
                call.origpos = rec.origpos
            self._close(call, rec.time, event)
            self._changed(before, call)
        elif event == "QUEUESTART":  # this PBX restarted (a qualified "site-a/NONE": that one)
            self.close_all(rec.time, scope_of(rec.queue))
        elif event in SESSION_START:
            self._open_interval("session", rec.agent, rec.queue, rec.time, "")
            if rec.reason == "PAUSED":  # ADDMEMBER of a member that starts paused
                self._open_interval("pause", rec.agent, rec.queue, rec.time, "")
        elif event in SESSION_END:
            self._close_interval("session", rec.agent, rec.queue, rec.time)
            self._close_interval("pause", rec.agent, rec.queue, rec.time)
        elif event == "PAUSE":
            self._open_interval("pause", rec.agent, rec.queue, rec.time, rec.reason or "")
        elif event == "UNPAUSE":
            self._close_interval("pause", rec.agent, rec.queue, rec.time)
        elif event == "RINGNOANSWER" and rec.agent and rec.agent != "NONE":
            self.misses.append(RingMiss(rec.agent, rec.queue, rec.time, rec.callid))

    def _enter(self, rec: Record) -> None:
        key = (rec.callid, rec.queue)
        old = self.calls.get(key)
        if old is not None:  # re-entered without an outcome: the first stay is lost
            before = self._copy(old)
            self._close(old, rec.time, STALE)
            self._changed(before, old)
        origpos = rec.origpos
        call = QueueCall(
            self.next_id, rec.callid, rec.queue, rec.time, None, None, None, None, None, None,
            None, origpos, origpos, rec.callerid or "", rec.callerid_name or "", rec.url or "",
            self.dids.pop(rec.callid, "") if self.dids else "", "", "",
        )  # fmt: skip
        self.calls[key] = call
        self.next_id += 1
        self.created += 1
        self.dirty[call.id] = call
        if self.keep_before:
            self._keep(None, call)

    def _find(self, rec: Record) -> tuple[QueueCall, QueueCall | None]:
        """The open call a record belongs to; one is made up if its ENTERQUEUE was never seen."""
        call = self.calls.get((rec.callid, rec.queue))
        if call is not None:
            return call, self._copy(call)
        return self._made_up(rec), None

    def _made_up(self, rec: Record) -> QueueCall:
        """A call for a record whose ENTERQUEUE was never seen (entered wait + talk before)."""
        elapsed = (rec.wait or 0) + (rec.talk or 0)
        call = QueueCall(self.next_id, rec.callid, rec.queue, rec.time - elapsed, origpos=rec.origpos)
        self.calls[(rec.callid, rec.queue)] = call
        self.next_id += 1
        self.created += 1
        return call

    def _copy(self, call: QueueCall) -> QueueCall | None:
        return copy.copy(call) if self.keep_before else None  # only kept changes need it

    def _close(self, call: QueueCall, when: int, outcome: str) -> None:
        call.end_time = when
        call.outcome = outcome
        if outcome == STALE:
            if call.connect_time is not None and call.talk is None:
                call.talk = max(0, when - call.connect_time)
            elif call.connect_time is None and call.wait is None:
                call.wait = max(0, when - call.enter_time)
        self.calls.pop((call.callid, call.queue), None)

    def close_all(self, when: int, scope: str = "") -> None:
        """The PBX restarted: no open call, session or pause of it survives (`scope`: the
        prefix of its names when there are several PBXs; "" = every one)."""
        for call in list(self.calls.values()):
            if not call.queue.startswith(scope):
                continue
            before = self._copy(call)
            self._close(call, when, STALE)
            self._changed(before, call)
        for key, interval in list(self.intervals.items()):
            if interval.queue.startswith(scope):
                interval.end = when
                self.dirty_intervals.append(interval)
                del self.intervals[key]

    def close_calls(self, callids: set[str], when: int) -> None:
        """Close these open calls as STALE: their outcome was missed (an AMI outage)."""
        for call in list(self.calls.values()):
            if call.callid in callids:
                before = self._copy(call)
                self._close(call, when, STALE)
                self._changed(before, call)

    def expire(self, now: int, timeout: int, scope: str = "") -> None:
        """Close, as STALE, the calls (of the PBX `scope` names) whose outcome has not come
        within `timeout` seconds of `now`, that PBX's time."""
        for call in list(self.calls.values()):
            if scope and not call.queue.startswith(scope):
                continue
            last = call.connect_time if call.connect_time is not None else call.enter_time
            if now - last > timeout:
                before = self._copy(call)
                self._close(call, now, STALE)
                self._changed(before, call)

    def _open_interval(
        self, kind: str, agent: str, queue: str, when: int, reason: str
    ) -> None:
        key = (kind, agent, queue)
        old = self.intervals.get(key)
        if old is not None:
            if kind == "pause" and old.reason == reason:
                return  # re-pause with the same reason: still the same pause
            old.end = when
            self.dirty_intervals.append(old)
        interval = Interval(kind, agent, queue, when, None, reason)
        self.intervals[key] = interval
        self.dirty_intervals.append(interval)

    def _close_interval(
        self, kind: str, agent: str, queue: str, when: int
    ) -> None:
        interval = self.intervals.pop((kind, agent, queue), None)
        if interval is not None:
            interval.end = when
            self.dirty_intervals.append(interval)
