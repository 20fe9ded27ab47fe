"""CallCenterState: the live picture of every queue, fed typed events, answering merge patches.

Pure and synchronous (invariant 1): no I/O, no clock reads; the caller passes `now`. The state
is plain JSON-ready data with no arrays and no None (invariant of the websocket protocol):

    {"day": "YYYY-MM-DD",
     "connection": {"connected": bool, "since": epoch, "error": str},   (every AMI link)
     "pbxs": {name: {"connected", "since", "error", "ami": bool, "history": "queue_log" |
                     "table" | "ami" | "none", "history_ok": bool, "history_error": str}},
     "queues": {name: {
         "pbx":      the PBX the queue is on,
         ["display_name": the settings' [queues] name, when it has one,]
         "params":   {"strategy", "servicelevel", "max", "weight"},          (from AMI)
         "members":  {interface: {name, state_interface, membership, penalty, status,
                                  status_text, paused, pause_reason, in_call, calls_taken,
                                  last_call, last_pause, login_time, since, paused_since
                                  [, callerid, callerid_name, call_uniqueid, call_since
                                   while in a call] [, wrapup_until after a call, when the
                                  member or the queue has a wrap-up time]}},
         "callers":  {uniqueid: {callerid_num, callerid_name, position, since}},
         "counters": {received, answered, unanswered, abandoned, timeouts,
                      wait_answered_sum, wait_unanswered_sum, talk_sum, completed,
                      max_wait, sl_within, sl_unanswered_over, abandon_unknown,
                      service_level},
         ["agents_today": {agent: {answered, talk, missed, paused}}]}},   (queue_log names)
     ["alerts": {rule: ...}]                        (with alert rules: see live/alerts.py)}

Today's counters and agent figures come only from the history side's changes (`CallChange`,
`RingMiss`, `IntervalChange`; invariant 2), never from AMI, so they equal the reports for today;
they reset at local midnight. `paused_since`/`call_since` are epochs (0: not paused).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from wallboard.config import AlertRule
from wallboard.history.callmodel import (
    day_bounds,
    is_abandon_unknown,
    is_abandoned,
    is_answered,
    is_open,
    is_unanswered,
    within_service_level,
)
from wallboard.history.calls import IntervalChange, RingMiss
from wallboard.history.naming import pbx_of
from wallboard.live.alerts import Alerts, Transition
from wallboard.live.events import (
    AgentComplete,
    AgentConnect,
    CallChange,
    CallerJoin,
    CallerLeave,
    Connection,
    MemberAdded,
    MemberEvent,
    MemberPause,
    MemberPenalty,
    MemberRemoved,
    MemberRinginuse,
    MemberStatus,
    QueueEntry,
    QueueMember,
    QueueParams,
    SourceStatus,
)
from wallboard.live.patch import compose, copy_tree, diff

# Device state (enum ast_device_state) -> text. app_queue treats UNKNOWN like NOT_INUSE.
STATUS_TEXT = {
    0: "available",
    1: "available",
    2: "busy",
    3: "busy",
    4: "invalid",
    5: "unavailable",
    6: "ringing",
    7: "ringing",
    8: "onhold",
}

# Additive counters, in the order of a contribution vector.
ADDITIVE_COUNTERS = (
    "received",
    "answered",
    "unanswered",
    "abandoned",
    "timeouts",
    "wait_answered_sum",
    "wait_unanswered_sum",
    "talk_sum",
    "completed",
    "sl_within",
    "sl_unanswered_over",
    "abandon_unknown",
)

# Member block fields of an event -> member keys in the state.
_MEMBER_FIELDS = (
    ("name", "name"),
    ("state_interface", "state_interface"),
    ("membership", "membership"),
    ("penalty", "penalty"),
    ("calls_taken", "calls_taken"),
    ("last_call", "last_call"),
    ("last_pause", "last_pause"),
    ("login_time", "login_time"),
    ("in_call", "in_call"),
    ("status", "status"),
    ("paused", "paused"),
    ("paused_reason", "pause_reason"),
)
_CALL_KEYS = ("callerid", "callerid_name", "call_uniqueid", "call_since")
_MEMBER_VALUES = attrgetter(*(attr for attr, _ in _MEMBER_FIELDS))
_MEMBER_KEYS = tuple(key for _, key in _MEMBER_FIELDS)


def _new_member(interface: str) -> dict[str, Any]:
    return {
        "name": interface,
        "state_interface": interface,
        "membership": "",
        "penalty": 0,
        "status": 0,
        "status_text": STATUS_TEXT[0],
        "paused": False,
        "pause_reason": "",
        "in_call": False,
        "calls_taken": 0,
        "last_call": 0,
        "last_pause": 0,
        "login_time": 0,
        "since": 0,
        "paused_since": 0,
    }


PLAUSIBLE_PAUSE = 2 * 86400  # a LastPause further off is a stale value, not this pause's start


def _pause_start(old: dict[str, Any] | None, member: dict[str, Any], now: float) -> int:
    """When the member's current pause began (0: not paused): kept while it lasts, else
    Asterisk's LastPause when recent, else now."""
    if not member["paused"]:
        return 0
    if old is not None and old["paused"] and old.get("paused_since"):
        return int(old["paused_since"])
    last = member.get("last_pause") or 0
    return int(last) if abs(now - last) < PLAUSIBLE_PAUSE else int(now)  # PBX clocks drift


def _member_from(base: dict[str, Any], event: MemberEvent) -> dict[str, Any]:
    """`base` updated with the fields the event carries (absent fields keep their value)."""
    member = dict(base)
    for key, value in zip(_MEMBER_KEYS, _MEMBER_VALUES(event), strict=True):
        if value is not None:
            member[key] = value
    if not member["paused"]:
        member["pause_reason"] = ""
    member["status_text"] = STATUS_TEXT.get(member["status"], "unknown")
    if not member["in_call"]:
        for key in _CALL_KEYS:
            member.pop(key, None)
    return member


def _same_activity(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return (
        old["status_text"] == new["status_text"]
        and old["paused"] == new["paused"]
        and old["in_call"] == new["in_call"]
    )


def _flat_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Merge patch between two flat dicts of scalars (each key keeps one type in the state)."""
    if old == new:
        return {}
    get = old.get
    changes = {key: value for key, value in new.items() if get(key, _ABSENT) != value}
    if len(old) + len(changes) > len(new):  # some keys may have gone
        for key in old:
            if key not in new:
                changes[key] = None
    return changes


_ABSENT = object()


def _sub(patch: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The nested patch object at `keys`, created on the way."""
    node = patch
    for key in keys:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        node = child
    return node


class CallCenterState:
    """The live state: `apply(event, now)` mutates it and returns the merge patch of the change."""

    def __init__(
        self,
        timezone: str,
        service_level_for: Callable[[str], int],
        pbxs: Mapping[str, tuple[bool, str]] | None = None,
        qualified: bool = False,
        alert_rules: Sequence[AlertRule] = (),
        queue_names: Mapping[str, str] | None = None,
        wrapup_times: Mapping[str, int] | None = None,
    ) -> None:
        """`pbxs`: name -> (has an AMI link, history source kind); `qualified`: queue names
        carry their PBX ("site-a/2000"); `alert_rules` are evaluated on every change and tick;
        `queue_names`: display names by queue id; `wrapup_times`: each queue's wrap-up seconds
        (queues.conf, which AMI does not report; a member's own Wrapuptime wins)."""
        self._zone = ZoneInfo(timezone)
        self._service_level_for = service_level_for
        self._thresholds: dict[str, int] = {}
        self._queues: dict[str, dict[str, Any]] = {}
        self._connection: dict[str, Any] = {"connected": False, "since": 0, "error": ""}
        self._qualified = qualified
        self._pbxs: dict[str, dict[str, Any]] = {
            name: {"connected": False, "since": 0, "error": "", "ami": ami, "history": history,
                   "history_ok": True, "history_error": ""}
            for name, (ami, history) in (pbxs or {"default": (True, "queue_log")}).items()
        }  # fmt: skip
        self._default_pbx = next(iter(self._pbxs))
        self._alerts = Alerts(alert_rules)
        self._transitions: list[Transition] = []
        self._queue_names = dict(queue_names or {})
        self._day = ""
        self._day_start = float("inf")
        self._day_end = float("-inf")
        # Per queue: wait seconds -> number of today's calls with that wait (for an exact max).
        self._waits: dict[str, dict[int, int]] = {}
        self._handlers: dict[type, Callable[[Any, float, dict[str, Any]], None]] = {
            CallerJoin: self._caller_join,
            CallerLeave: self._caller_leave,
            AgentConnect: self._agent_connect,
            AgentComplete: self._agent_complete,
            MemberStatus: self._member_update,
            MemberAdded: self._member_update,
            MemberPause: self._member_update,
            MemberPenalty: self._member_update,
            MemberRinginuse: self._member_update,
            QueueMember: self._member_update,
            MemberRemoved: self._member_removed,
            QueueParams: self._queue_params,
            QueueEntry: self._queue_entry,
            Connection: self._connection_change,
            SourceStatus: self._source_status,
            CallChange: self._call_change,
            RingMiss: self._ring_miss,
            IntervalChange: self._interval_change,
        }
        # Each member's Wrapuptime (seconds after a call before the next one), by queue and interface.
        self._wrapup: dict[tuple[str, str], int] = {}
        self._queue_wrapup = dict(wrapup_times or {})
        # Closed pauses already counted in today's pause time: (agent, queue, start).
        self._pauses_counted: set[tuple[str, str, int]] = set()

    # ---------------------------------------------------------------------------- public API

    def apply(self, event: Any, now: float) -> dict[str, Any]:
        """Apply one typed event; return the RFC 7396 merge patch of what changed ({} if nothing)."""
        patch: dict[str, Any] = {}
        if not self._day_start <= now < self._day_end:
            self._roll(now, patch)
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event, now, patch)
        if self._alerts and patch:
            queues = patch.get("queues")
            touched = queues if isinstance(queues, dict) else {}
            self._evaluate(now, patch, touched, links="pbxs" in patch or "connection" in patch)
        return patch

    def alerts_firing(self) -> dict[str, int]:
        """Subjects firing now per alert rule (empty without rules)."""
        return self._alerts.firing()

    def take_transitions(self) -> list[Transition]:
        """The alert rules' fires and clears since the last call (for the notifier)."""
        found, self._transitions = self._transitions, []
        return found

    def _evaluate(
        self, now: float, patch: dict[str, Any], touched: Mapping[str, Any] | None = None,
        links: bool = True,
    ) -> None:  # fmt: skip
        changes, transitions = self._alerts.evaluate(self._queues, self._pbxs, now, touched, links)
        if changes:
            _sub(patch, "alerts").update(changes)
        self._transitions += transitions

    @property
    def day_start(self) -> float | None:
        """Epoch of the local midnight starting the state's day (None before any event)."""
        return self._day_start if self._day else None

    def members(self, queue: str) -> dict[str, dict[str, Any]]:
        """The members of a queue by interface, as held (read only: do not change them)."""
        q = self._queues.get(queue)
        return q["members"] if q is not None else {}

    def snapshot(self) -> dict[str, Any]:
        """A fresh, JSON-serialisable copy of the whole state (no lists, no None)."""
        snap: dict[str, Any] = {
            "connection": dict(self._connection),
            "pbxs": copy_tree(self._pbxs),
            "queues": copy_tree(self._queues),
        }
        if self._alerts:
            snap["alerts"] = self._alerts.snapshot()
        if self._day:
            snap["day"] = self._day
        return snap

    def pbx_of(self, queue: str) -> str:
        """The PBX a queue is on."""
        return pbx_of(queue) or self._default_pbx if self._qualified else self._default_pbx

    def reset(self, queue_status_events: Iterable[Any], now: float, pbx: str = "") -> dict[str, Any]:
        """Rebuild one PBX's queues, members and callers from its QueueStatus response (after a
        (re)connect); the other PBXs' queues stay as they are.

        Today's counters are kept. Returns the patch from the old state to the new one (ghost
        members, callers and queues deleted with null). A queue missing from the response keeps
        only its counters when it had calls today, else it is deleted.
        """
        patch: dict[str, Any] = {}
        if not self._day_start <= now < self._day_end:
            self._roll(now, patch)
        pbx = pbx or self._default_pbx
        old_queues = self._queues
        new_queues: dict[str, dict[str, Any]] = {
            name: q for name, q in old_queues.items() if q["pbx"] != pbx
        }

        def queue(name: str) -> dict[str, Any]:
            q = new_queues.get(name)
            if q is None:
                q = new_queues[name] = self._new_queue(name)
            return q

        for event in queue_status_events:
            if isinstance(event, QueueParams):
                queue(event.queue)["params"] = self._params_of(event)
            elif isinstance(event, MemberEvent):
                self._note_wrapup(event)
                old = old_queues.get(event.queue, {}).get("members", {}).get(event.interface)
                member = _member_from(old or _new_member(event.interface), event)
                if old is not None and _same_activity(old, member):
                    member["since"] = old["since"]
                elif member["paused"] and member["last_pause"] > 0:
                    member["since"] = member["last_pause"]
                else:
                    member["since"] = round(now, 3)
                member["paused_since"] = _pause_start(old, member, now)
                queue(event.queue)["members"][event.interface] = member
            elif isinstance(event, QueueEntry):
                callers = queue(event.queue)["callers"]
                old = old_queues.get(event.queue, {}).get("callers", {}).get(event.uniqueid)
                callers[event.uniqueid] = {
                    "callerid_num": event.callerid_num,
                    "callerid_name": event.callerid_name,
                    "position": event.position if event.position is not None else len(callers) + 1,
                    "since": old["since"] if old is not None else round(now - (event.wait or 0), 3),
                }
        for name, q in new_queues.items():
            if "counters" not in q:
                old = old_queues.get(name)
                q["counters"] = old["counters"] if old is not None else self._zero_counters(name)
                if old is not None and "agents_today" in old:  # today's figures are history's
                    q["agents_today"] = old["agents_today"]
        for name, old in old_queues.items():
            if name not in new_queues and self._has_calls(old["counters"]):
                new_queues[name] = {**self._new_queue(name), "counters": old["counters"]}
                if "agents_today" in old:
                    new_queues[name]["agents_today"] = old["agents_today"]
        for name in list(self._waits):
            if name not in new_queues:
                del self._waits[name]
        queues_patch = diff(old_queues, new_queues)
        self._queues = new_queues
        if queues_patch:  # after a midnight roll, the patch already zeroes today's counters
            patch["queues"] = compose(patch.get("queues", {}), queues_patch)
        if self._alerts:
            self._evaluate(now, patch)
        return patch

    def seed(
        self, calls: Iterable[Any], now: float, misses: Iterable[RingMiss] = (),
        pauses: Iterable[Any] = (),
    ) -> dict[str, Any]:  # fmt: skip
        """Set today's counters and agent figures from the history store's queue calls, rings
        missed and closed pauses (at start); return the patch."""
        patch: dict[str, Any] = {}
        if not self._day_start <= now < self._day_end:
            self._roll(now, patch)
        before = {name: (dict(q["counters"]), copy_tree(q.get("agents_today", {})))
                  for name, q in self._queues.items()}  # fmt: skip
        for name, q in self._queues.items():
            q["counters"] = self._zero_counters(name)
            q.pop("agents_today", None)
        self._waits.clear()
        self._pauses_counted.clear()
        for call in calls:
            self._add_call(call, 1, patch=None)
        scratch: dict[str, Any] = {}
        for miss in misses:
            self._ring_miss(miss, now, scratch)
        for pause in pauses:
            self._count_pause(pause, scratch)
        for name, q in self._queues.items():
            old = before.get(name)
            if old is None:
                continue  # created while seeding: `_add_call` did not patch it, see below
            changes = _flat_changes(old[0], q["counters"])
            if changes:
                _sub(patch, "queues", name)["counters"] = changes
            agents = diff(old[1], q.get("agents_today", {}))
            if agents:
                _sub(patch, "queues", name)["agents_today"] = agents
        for name, q in self._queues.items():
            if name not in before:
                _sub(patch, "queues")[name] = copy_tree(q)
        if self._alerts:
            self._evaluate(now, patch)
        return patch

    def tick(self, now: float) -> dict[str, Any]:
        """Called every second or so: rolls the counters over at local midnight, and looks at
        the alert rules (waits and pauses grow without events)."""
        patch: dict[str, Any] = {}
        if not self._day_start <= now < self._day_end:
            self._roll(now, patch)
        if self._alerts:
            self._evaluate(now, patch)
        return patch

    # ---------------------------------------------------------------------------- day handling

    def _roll(self, now: float, patch: dict[str, Any]) -> None:
        """Move to the local day containing `now`; zero the counters if the date changed."""
        day = datetime.fromtimestamp(now, self._zone).date()
        self._day_start, self._day_end = day_bounds(day, day, self._zone)
        iso = day.isoformat()
        if iso == self._day:
            return
        self._day = iso
        patch["day"] = iso
        self._waits.clear()
        self._pauses_counted.clear()
        for name, q in self._queues.items():
            zero = self._zero_counters(name)
            changes = _flat_changes(q["counters"], zero)
            q["counters"] = zero
            if changes:
                _sub(patch, "queues", name)["counters"] = changes
            if q.pop("agents_today", None):
                _sub(patch, "queues", name)["agents_today"] = None

    def _threshold(self, queue: str) -> int:
        value = self._thresholds.get(queue)
        if value is None:
            value = self._thresholds[queue] = int(self._service_level_for(queue))
        return value

    def _zero_counters(self, queue: str) -> dict[str, int]:
        counters = dict.fromkeys(ADDITIVE_COUNTERS, 0)
        counters["max_wait"] = 0
        counters["service_level"] = self._threshold(queue)
        return counters

    @staticmethod
    def _has_calls(counters: dict[str, int]) -> bool:
        return any(counters[key] for key in ADDITIVE_COUNTERS)

    # ---------------------------------------------------------------------------- queues

    def _ensure_queue(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        q = self._queues.get(name)
        if q is None:
            q = self._new_queue(name)
            q["counters"] = self._zero_counters(name)
            self._queues[name] = q
            _sub(patch, "queues")[name] = copy_tree(q)
        return q

    def _new_queue(self, name: str) -> dict[str, Any]:
        """A queue without counters; `display_name` only when the settings give one."""
        q: dict[str, Any] = {"pbx": self.pbx_of(name), "params": {}, "members": {}, "callers": {}}
        shown = self._queue_names.get(name) or self._queue_names.get(name.rpartition("/")[2])
        if shown:
            q["display_name"] = shown
        return q

    @staticmethod
    def _params_of(event: QueueParams) -> dict[str, Any]:
        params: dict[str, Any] = {"strategy": event.strategy}
        for key, value in (
            ("servicelevel", event.service_level),
            ("max", event.max),
            ("weight", event.weight),
        ):
            if value is not None:
                params[key] = value
        return params

    def _queue_params(self, event: QueueParams, now: float, patch: dict[str, Any]) -> None:
        q = self._ensure_queue(event.queue, patch)
        params = self._params_of(event)
        changes = _flat_changes(q["params"], params)
        if changes:
            q["params"] = params
            _sub(patch, "queues", event.queue)["params"] = changes

    # ---------------------------------------------------------------------------- members

    def _put_member(
        self, queue: str, interface: str, member: dict[str, Any], patch: dict[str, Any]
    ) -> None:
        q = self._ensure_queue(queue, patch)
        members = q["members"]
        old = members.get(interface)
        members[interface] = member
        if old is None:
            _sub(patch, "queues", queue, "members")[interface] = dict(member)
        else:
            changes = _flat_changes(old, member)
            if changes:
                _sub(patch, "queues", queue, "members")[interface] = changes

    def _member_update(self, event: MemberEvent, now: float, patch: dict[str, Any]) -> None:
        self._note_wrapup(event)
        q = self._queues.get(event.queue)
        old = q["members"].get(event.interface) if q is not None else None
        member = _member_from(old or _new_member(event.interface), event)
        if old is None or not _same_activity(old, member):
            member["since"] = round(now, 3)
        member["paused_since"] = _pause_start(old, member, now)
        self._put_member(event.queue, event.interface, member, patch)

    def _member_removed(self, event: MemberRemoved, now: float, patch: dict[str, Any]) -> None:
        q = self._queues.get(event.queue)
        if q is not None and q["members"].pop(event.interface, None) is not None:
            _sub(patch, "queues", event.queue, "members")[event.interface] = None

    def _agent_connect(self, event: AgentConnect, now: float, patch: dict[str, Any]) -> None:
        q = self._queues.get(event.queue)
        if q is None:
            return
        if event.uniqueid and event.uniqueid in q["callers"]:
            self._remove_caller(event.queue, event.uniqueid, None, patch)
        old = q["members"].get(event.interface)
        if old is None:
            return
        member = dict(old)
        member.pop("wrapup_until", None)  # the next call: its wrap-up is over
        member["in_call"] = True
        member["callerid"] = event.callerid_num
        member["callerid_name"] = event.callerid_name
        member["call_uniqueid"] = event.uniqueid
        if not old["in_call"]:
            member["since"] = round(now, 3)
            member["call_since"] = int(now)
        self._put_member(event.queue, event.interface, member, patch)

    def _agent_complete(self, event: AgentComplete, now: float, patch: dict[str, Any]) -> None:
        """End the member's call; without a Uniqueid it is matched by queue + interface alone."""
        q = self._queues.get(event.queue)
        old = q["members"].get(event.interface) if q is not None else None
        if old is None:
            return
        current = old.get("call_uniqueid")
        if event.uniqueid and current and current != event.uniqueid:
            return  # the end of an older call: the member is on another one now
        member = dict(old)
        member["in_call"] = False
        for key in _CALL_KEYS:
            member.pop(key, None)
        if old["in_call"]:
            member["since"] = round(now, 3)
        wrapup = self._wrapup.get((event.queue, event.interface), 0) or self._queue_wrapup.get(
            event.queue, self._queue_wrapup.get(event.queue.rpartition("/")[2], 0))
        if wrapup > 0:  # no call is offered to the member until then (the member's Wrapuptime)
            member["wrapup_until"] = int(now) + wrapup
        self._put_member(event.queue, event.interface, member, patch)

    def _note_wrapup(self, event: MemberEvent) -> None:
        if event.wrapuptime is not None:
            self._wrapup[(event.queue, event.interface)] = event.wrapuptime

    # ---------------------------------------------------------------------------- callers

    def _caller_join(self, event: CallerJoin, now: float, patch: dict[str, Any]) -> None:
        q = self._ensure_queue(event.queue, patch)
        callers = q["callers"]
        old = callers.get(event.uniqueid)
        if old is not None:
            caller = dict(old)
            caller["callerid_num"] = event.callerid_num
            caller["callerid_name"] = event.callerid_name
            if event.position is not None:
                caller["position"] = event.position
            changes = _flat_changes(old, caller)
            if changes:
                callers[event.uniqueid] = caller
                _sub(patch, "queues", event.queue, "callers")[event.uniqueid] = changes
            return
        position = event.position
        if position is None:
            position = 1 + max((c["position"] for c in callers.values()), default=0)
        else:
            self._shift(event.queue, callers, position, 1, patch)
        caller = {
            "callerid_num": event.callerid_num,
            "callerid_name": event.callerid_name,
            "position": position,
            "since": round(now, 3),
        }
        callers[event.uniqueid] = caller
        _sub(patch, "queues", event.queue, "callers")[event.uniqueid] = dict(caller)

    def _caller_leave(self, event: CallerLeave, now: float, patch: dict[str, Any]) -> None:
        if event.queue in self._queues:
            self._remove_caller(event.queue, event.uniqueid, event.position, patch)

    def _remove_caller(
        self, queue: str, uniqueid: str, position: int | None, patch: dict[str, Any]
    ) -> None:
        """Remove a caller; those behind move up one place, as in Asterisk."""
        callers = self._queues[queue]["callers"]
        caller = callers.pop(uniqueid, None)
        if caller is not None:
            _sub(patch, "queues", queue, "callers")[uniqueid] = None
            if position is None:
                position = caller["position"]
        if position is not None:
            self._shift(queue, callers, position + 1, -1, patch)

    @staticmethod
    def _shift(
        queue: str, callers: dict[str, dict[str, Any]], start: int, step: int, patch: dict[str, Any]
    ) -> None:
        """Move every caller at `start` or behind by `step` places."""
        moved = None
        for uniqueid, caller in callers.items():
            if caller["position"] >= start:
                caller["position"] += step
                if moved is None:
                    moved = _sub(patch, "queues", queue, "callers")
                moved.setdefault(uniqueid, {})["position"] = caller["position"]

    def _queue_entry(self, event: QueueEntry, now: float, patch: dict[str, Any]) -> None:
        q = self._ensure_queue(event.queue, patch)
        callers = q["callers"]
        old = callers.get(event.uniqueid)
        caller = {
            "callerid_num": event.callerid_num,
            "callerid_name": event.callerid_name,
            "position": event.position
            if event.position is not None
            else (old["position"] if old else len(callers) + 1),
            "since": old["since"] if old else round(now - (event.wait or 0), 3),
        }
        changes = _flat_changes(old or {}, caller)
        if changes:
            callers[event.uniqueid] = caller
            _sub(patch, "queues", event.queue, "callers")[event.uniqueid] = changes

    # ---------------------------------------------------------------------------- connection

    def _connection_change(self, event: Connection, now: float, patch: dict[str, Any]) -> None:
        name = event.pbx if event.pbx in self._pbxs else self._default_pbx
        pbx = self._pbxs[name]
        since = pbx["since"]
        if pbx["connected"] != event.connected or not since:
            since = round(now, 3)
        new = {**pbx, "connected": event.connected, "since": since, "error": event.error}
        changes = _flat_changes(pbx, new)
        if changes:
            self._pbxs[name] = new
            _sub(patch, "pbxs")[name] = changes
        self._aggregate_connection(now, patch)

    def _aggregate_connection(self, now: float, patch: dict[str, Any]) -> None:
        """`connection`: up when every AMI link is; the errors of those that are not."""
        linked = [(n, p) for n, p in self._pbxs.items() if p["ami"]] or list(self._pbxs.items())
        connected = all(p["connected"] for _, p in linked)
        down = [(n, p["error"]) for n, p in linked if not p["connected"] and p["error"]]
        if len(self._pbxs) == 1:
            error = down[0][1] if down else ""
        else:
            error = "; ".join(f"{n}: {e}" for n, e in down)
        old = self._connection
        since = old["since"]
        if old["connected"] != connected or not since:
            since = round(now, 3)
        new = {"connected": connected, "since": since, "error": error}
        changes = _flat_changes(old, new)
        if changes:
            self._connection = new
            patch["connection"] = changes

    def _source_status(self, event: SourceStatus, now: float, patch: dict[str, Any]) -> None:
        name = event.pbx if event.pbx in self._pbxs else self._default_pbx
        pbx = self._pbxs[name]
        new = {**pbx, "history_ok": event.ok, "history_error": "" if event.ok else event.error}
        changes = _flat_changes(pbx, new)
        if changes:
            self._pbxs[name] = new
            _sub(patch, "pbxs")[name] = changes

    # ---------------------------------------------------------------------------- counters

    def _call_change(self, event: CallChange, now: float, patch: dict[str, Any]) -> None:
        if self._agent_part(event.before) != self._agent_part(event.after):
            self._agent_call(event.before, -1, patch)
            self._agent_call(event.after, 1, patch)
        before = self._contribution(event.before)
        after = self._contribution(event.after)
        if before == after:
            return
        touched: dict[str, dict[str, int]] = {}
        for contribution, sign in ((before, -1), (after, 1)):
            if contribution is None:
                continue
            queue = contribution[0]
            q = self._ensure_queue(queue, patch)
            if queue not in touched:
                touched[queue] = dict(q["counters"])
            self._add(queue, contribution, sign)
        for queue, old in touched.items():
            changes = _flat_changes(old, self._queues[queue]["counters"])
            if changes:
                _sub(patch, "queues", queue, "counters").update(changes)

    def _add_call(self, call: Any, sign: int, patch: dict[str, Any] | None) -> None:
        contribution = self._contribution(call)
        if contribution is not None:
            self._ensure_queue(contribution[0], patch if patch is not None else {})
            self._add(contribution[0], contribution, sign)
        self._agent_call(call, sign, patch if patch is not None else {})

    # ---------------------------------------------------------------------------- agents today
    # queues[q]["agents_today"][agent]: today's answered calls, talk seconds (ended calls),
    # rings missed and seconds of closed pauses, per queue_log agent name; from the history
    # side, like the counters, so they equal the reports and survive a restart.

    def _agent_figures(self, queue: str, agent: str, patch: dict[str, Any]) -> dict[str, int]:
        q = self._ensure_queue(queue, patch)
        figures = q.setdefault("agents_today", {}).get(agent)
        if figures is None:
            figures = q["agents_today"][agent] = {"answered": 0, "talk": 0, "missed": 0, "paused": 0}
        return figures

    def _bump(self, queue: str, agent: str, changes: Mapping[str, int], patch: dict[str, Any]) -> None:
        figures = self._agent_figures(queue, agent, patch)
        for key, value in changes.items():
            figures[key] += value
        _sub(patch, "queues", queue, "agents_today")[agent] = dict(figures)

    def _agent_part(self, call: Any) -> tuple[str, str, int] | None:
        """(queue, agent, talk) an answered call of today adds to its agent's figures."""
        if (call is None or not call.agent or not is_answered(call.connect_time, call.outcome)
                or not self._day_start <= call.enter_time < self._day_end):  # fmt: skip
            return None
        return call.queue, call.agent, (call.talk or 0) if not is_open(call.outcome) else 0

    def _agent_call(self, call: Any, sign: int, patch: dict[str, Any]) -> None:
        part = self._agent_part(call)
        if part is not None:
            queue, agent, talk = part
            self._bump(queue, agent, {"answered": sign, "talk": sign * talk}, patch)

    def _ring_miss(self, event: RingMiss, now: float, patch: dict[str, Any]) -> None:
        if self._day_start <= event.time < self._day_end:
            self._bump(event.queue, event.agent, {"missed": 1}, patch)

    def _interval_change(self, event: IntervalChange, now: float, patch: dict[str, Any]) -> None:
        self._count_pause(event.interval, patch)

    def _count_pause(self, pause: Any, patch: dict[str, Any]) -> None:
        """A closed pause adds its seconds within today, once."""
        if pause.kind != "pause" or pause.end is None:
            return
        key = (pause.agent, pause.queue, pause.start)
        start, end = max(pause.start, self._day_start), min(pause.end, self._day_end)
        if key in self._pauses_counted or end <= start:
            return
        self._pauses_counted.add(key)
        self._bump(pause.queue, pause.agent, {"paused": int(end - start)}, patch)

    def _contribution(self, call: Any) -> tuple[str, tuple[int, ...], int] | None:
        """(queue, additive counter vector, wait) of one queue call for today; None if it adds nothing.

        A call counts for today when its enter_time falls in the current local day. Waiting calls
        add nothing; answered ones count from their connect, their talk once they have ended.
        """
        if call is None or not self._day_start <= call.enter_time < self._day_end:
            return None
        wait = call.wait or 0
        threshold = self._threshold(call.queue)
        outcome = call.outcome
        if is_answered(call.connect_time, outcome):
            ended = not is_open(outcome)
            talk = (call.talk or 0) if ended else 0
            within = within_service_level(wait, threshold)
            vector = (1, 1, 0, 0, 0, wait, 0, talk, int(ended), int(within), 0, 0)
        elif is_unanswered(call.connect_time, outcome):
            vector = (
                1, 0, 1, int(is_abandoned(call.connect_time, outcome)),
                int(outcome == "EXITWITHTIMEOUT"), 0, wait, 0, 0, 0,
                int(not within_service_level(wait, threshold)),
                int(is_abandon_unknown(call.connect_time, outcome)),
            )  # fmt: skip
        else:
            return None
        return call.queue, vector, wait

    def _add(self, queue: str, contribution: tuple[str, tuple[int, ...], int], sign: int) -> None:
        counters = self._queues[queue]["counters"]
        for key, value in zip(ADDITIVE_COUNTERS, contribution[1], strict=True):
            if value:
                counters[key] += sign * value
        waits = self._waits.setdefault(queue, {})
        wait = contribution[2]
        count = waits.get(wait, 0) + sign
        if count > 0:
            waits[wait] = count
        else:
            waits.pop(wait, None)
        counters["max_wait"] = max(waits, default=0)
