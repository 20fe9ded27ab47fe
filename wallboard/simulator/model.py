"""A pure, seeded discrete-event model of an Asterisk 22 call centre (app_queue).

`CallCenterModel.advance(t)` runs the model up to virtual time t (epoch seconds) and returns what
a real Asterisk would have produced meanwhile, in order: AMI events (dicts in wire order, starting
with ``Event``) and queue_log lines (strings without newline). Field names, field orders and
event orderings follow the recording in ``tests/fixtures/lab_ami_capture.raw.gz``: the queue
(agent class) events, and the caller channel's own call and dialplan class events (Newchannel,
HangupRequest, QUEUESTATUS, Newexten, SoftHangupRequest, Hangup). No I/O, no clock reads, no
asyncio: the shell decides what time it is.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

Event = dict[str, str]
Output = Event | str  # an AMI event or a queue_log line

IDLE, INUSE, INVALID, UNAVAILABLE, RINGING = 1, 2, 4, 5, 6  # Asterisk device states
STRATEGIES = ("ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "linear", "wrandom")
_CHANNEL_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
_QUEUESTATUS = {"EXITWITHTIMEOUT": "TIMEOUT", "EXITEMPTY": "LEAVEEMPTY"}  # Queue()'s result
_TRUE_WORDS = ("yes", "true", "y", "t", "1", "on")


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentConfig:
    """One agent's phone: dial interface, member name and device-state interface."""

    interface: str  # e.g. "Local/agent1@agents"
    name: str  # member name, e.g. "Alice"
    state_interface: str  # e.g. "Custom:agent1"


@dataclass(frozen=True)
class QueueConfig:
    """One queue as queues.conf would describe it, plus its automatic arrival rate."""

    name: str
    description: str = ""
    strategy: str = "ringall"
    service_level: int = 20
    calls_per_hour: float = 30.0
    members: tuple[tuple[str, int], ...] = ()  # static members: (interface, penalty)
    dynamic_members: tuple[tuple[str, int], ...] = ()  # logged in and out by automatic traffic
    ring_timeout: float = 15.0  # per member ring, then RINGNOANSWER
    retry: float = 2.0  # pause between ring attempts after a RINGNOANSWER
    wrapup: float = 3.0
    timeout: float = 240.0  # Queue() timeout: EXITWITHTIMEOUT
    weight: int = 0
    leavewhenempty: bool = False  # callers leave (EXITEMPTY) when no member could answer


@dataclass(frozen=True)
class Config:
    """Everything the model needs; durations are in seconds, (low, high) ranges are uniform."""

    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentConfig, ...]
    seed: int = 1
    auto: bool = True  # False: only scripted calls, pauses and logins happen
    answer_delay: tuple[float, float] = (1.0, 5.0)  # ringing before an agent picks up
    no_answer_ratio: float = 0.06  # share of rings left to time out
    talk_time: tuple[float, float] = (20.0, 240.0)
    caller_hangup_ratio: float = 0.25  # share of answered calls ended by the caller
    patience: tuple[float, float] = (45.0, 420.0)
    impatient_ratio: float = 0.2
    impatient_patience: tuple[float, float] = (5.0, 30.0)
    pauses_per_hour: float = 0.8  # per agent
    pause_duration: tuple[float, float] = (60.0, 900.0)
    pause_reasons: tuple[str, ...] = ("Lunch", "Training", "Admin", "Meeting")
    pause_all_ratio: float = 0.7  # pauses in every queue (PAUSEALL) rather than one
    login_session: tuple[float, float] = (900.0, 3600.0)  # dynamic members: logged in...
    logout_break: tuple[float, float] = (300.0, 1200.0)  # ...then out for this long
    bare_complete_ratio: float = 1 / 60  # AgentComplete without channel fields, as seen live
    timestamps: bool = True  # manager.conf timestampevents
    caller_context: str = "callers"


def default_config(**overrides: Any) -> Config:
    """A small, lively centre shaped like the lab: Sales/Support/Billing, ten agents."""
    names = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy")
    agents = tuple(
        AgentConfig(f"Local/agent{i}@agents", name, f"Custom:agent{i}")
        for i, name in enumerate(names, start=1)
    )

    def iface(i: int) -> str:
        return f"Local/agent{i}@agents"

    queues = (
        QueueConfig(
            "2000", "Sales", "ringall", calls_per_hour=80,
            members=tuple((iface(i), 0) for i in (1, 2, 3, 4)),
            dynamic_members=((iface(9), 2), (iface(10), 2)),
        ),
        QueueConfig(
            "2001", "Support", "rrmemory", calls_per_hour=50,
            members=tuple((iface(i), 0) for i in (3, 4, 5, 6)),
            dynamic_members=((iface(9), 2), (iface(10), 1)),
        ),
        QueueConfig(
            "2002", "Billing", "leastrecent", calls_per_hour=30,
            members=((iface(6), 0), (iface(7), 0), (iface(8), 0), (iface(1), 1)),
            dynamic_members=((iface(10), 2),),
        ),
    )
    return replace(Config(queues=queues, agents=agents), **overrides)


_QUEUE_NAMES = (
    "Sales", "Support", "Billing", "Renewals", "Retentions", "Claims", "Bookings", "Enquiries",
    "Technical", "Accounts", "Complaints", "Deliveries", "Returns", "Onboarding", "Collections",
    "Partners", "VIP", "Spanish", "French", "Out of hours",
)  # fmt: skip
_FIRST_NAMES = (
    "Aisha", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kavya", "Liam", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Samir", "Tara", "Umar",
    "Vera", "Wei", "Ximena", "Yusuf", "Zoe", "Amara", "Bruno", "Carmen", "Dmitri", "Eva",
    "Felix", "Gita", "Hannah", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nadia",
)  # fmt: skip
_LAST_NAMES = (
    "Abbott", "Barros", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ibrahim",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quintero", "Rossi",
    "Schmidt", "Tanaka", "Ueda", "Varga", "Walsh", "Xu", "Yilmaz", "Zimmermann", "Alvarez",
    "Brennan", "Costa", "Dimitrov", "Estrada",
)  # fmt: skip


def large_config(queues: int = 20, agents: int = 300, **overrides: Any) -> Config:
    """A big centre: `queues` queues (3000, 3001... with names such as Sales or Billing) and
    `agents` PJSIP phones with people's names. Every agent answers one queue; one in three
    also answers a second queue of the same half of the centre (the first half of the queues
    and the second half never share an agent, so one half can be swamped while the other
    idles). Strategies ring one member at a time, as big centres do."""
    if queues < 1 or agents < 1:
        raise ValueError("a centre needs at least one queue and one agent")
    people = [
        f"{_FIRST_NAMES[i % len(_FIRST_NAMES)]} {_LAST_NAMES[(7 * i + i // len(_FIRST_NAMES)) % len(_LAST_NAMES)]}"
        for i in range(agents)
    ]
    seen: dict[str, int] = {}
    for i, name in enumerate(people):  # past the name lists' product: a number makes it unique
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            people[i] = f"{name} {seen[name]}"
    phones = tuple(
        AgentConfig(f"PJSIP/{1000 + i}", name, f"PJSIP/{1000 + i}") for i, name in enumerate(people)
    )
    half = max(1, (queues + 1) // 2)

    def second(queue: int) -> int:
        low, size = (0, half) if queue < half else (half, queues - half)
        return low + (queue - low + max(1, size // 2)) % max(1, size)

    members: list[list[tuple[str, int]]] = [[] for _ in range(queues)]
    for i, phone in enumerate(phones):
        primary = i % queues
        members[primary].append((phone.interface, 0))
        other = second(primary)
        if i % 3 == 0 and other != primary:
            members[other].append((phone.interface, 1))
    strategies = ("rrmemory", "leastrecent", "fewestcalls", "linear")
    queue_configs = tuple(
        QueueConfig(
            str(3000 + q),
            _QUEUE_NAMES[q % len(_QUEUE_NAMES)]
            + (f" {q // len(_QUEUE_NAMES) + 1}" if q >= len(_QUEUE_NAMES) else ""),
            strategies[q % len(strategies)],
            service_level=20 if q % 2 == 0 else 30,
            calls_per_hour=max(10.0, 9.0 * len(members[q])),
            members=tuple(members[q]),
        )
        for q in range(queues)
    )
    return replace(Config(queues=queue_configs, agents=phones), **overrides)


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------


@dataclass
class _Leg:
    """One channel as AMI describes it (the caller's, or the member's Local;1 half)."""

    channel: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int


@dataclass
class _Member:
    """One interface's membership of one queue (what QueueMember reports)."""

    queue: str
    interface: str
    name: str
    state_interface: str
    penalty: int
    dynamic: bool
    login_time: int
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    in_call: bool = False
    paused: bool = False
    paused_reason: str = ""


@dataclass
class _Phone:
    """An interface's device, shared by all its memberships."""

    interface: str
    status: int = IDLE
    last_call_end: float = float("-inf")
    ringing_for: _Call | None = None
    call: _Call | None = None


@dataclass
class _Call:
    """One caller's stay in one queue."""

    queue: str
    leg: _Leg
    num: str
    name: str
    join_time: float
    orig_position: int
    talk_time: float | None
    state: str = "waiting"  # waiting | connected | done
    attempt: int = 0  # ring attempt number; stale scheduled actions compare it
    ring_start: float = 0.0
    ringing: dict[str, _Leg] = field(default_factory=dict)  # interface -> member leg
    retry_at: float = float("-inf")
    agent: str = ""
    agent_leg: _Leg | None = None
    connect_time: float = 0.0
    hold_time: int = 0
    in_service_level: bool = False


@dataclass
class _Queue:
    config: QueueConfig
    members: dict[str, _Member] = field(default_factory=dict)  # by interface, in join order
    entries: list[_Call] = field(default_factory=list)  # waiting callers, position order
    completed: int = 0
    completed_in_sl: int = 0
    abandoned: int = 0
    abandoned_in_sl: int = 0
    holdtime: int = 0
    talktime: int = 0
    rr_next: int = 0  # rrmemory: index in the member list to try first


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class CallCenterModel:
    """The simulated Asterisk: scheduled traffic, scripting hooks, manager actions, snapshots."""

    def __init__(self, config: Config, start_time: float) -> None:
        self.config = config
        self.start_time = start_time
        self.now = start_time
        self._rng = random.Random(config.seed)
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._pending: list[Output] = []
        self._uid_counter = 0
        self._chan_counter = 0
        self._callers = 0
        self._calls: dict[str, _Call] = {}  # live calls by caller uniqueid
        self._agents = {a.interface: a for a in config.agents}
        self._queues = {q.name: _Queue(q) for q in config.queues}
        self._phones: dict[str, _Phone] = {}
        for q in self._queues.values():
            for interface, penalty in q.config.members:
                self._new_member(q, interface, None, penalty, None, dynamic=False)
        self._log("NONE", "NONE", "NONE", "QUEUESTART", "")
        if config.auto:
            self._start_auto_traffic()

    # ---- running -----------------------------------------------------------------------------

    def advance(self, to_time: float) -> list[Output]:
        """Run every scheduled happening up to `to_time`; return the outputs, in order."""
        while self._heap and self._heap[0][0] <= to_time:
            at, _, action, args = heapq.heappop(self._heap)
            self.now = max(self.now, at)
            action(*args)
            self._dispatch()
        self.now = max(self.now, to_time)
        out, self._pending = self._pending, []
        return out

    def next_event_time(self) -> float | None:
        """Virtual time of the next scheduled happening (None when nothing is scheduled)."""
        return self._heap[0][0] if self._heap else None

    @property
    def queue_names(self) -> list[str]:
        return list(self._queues)

    # ---- scripting hooks (they act at `self.now`; their outputs come with the next advance) --

    def join_caller(
        self,
        queue: str,
        callerid_num: str,
        callerid_name: str = "",
        *,
        patience: float | None = None,
        timeout: float | None = None,
        talk_time: float | None = None,
    ) -> str:
        """A caller enters `queue`; returns its uniqueid. Without patience/timeout it waits
        until served (or hung up with `hangup_caller`)."""
        if queue not in self._queues:
            raise KeyError(f"no such queue: {queue}")
        call = self._join(queue, _clean(callerid_num), _clean(callerid_name), talk_time)
        if patience is not None:
            self._schedule(self.now + patience, self._give_up, call, "ABANDON")
        if timeout is not None:
            self._schedule(self.now + timeout, self._give_up, call, "EXITWITHTIMEOUT")
        self._dispatch()
        return call.leg.uniqueid

    def hangup_caller(self, uniqueid: str) -> bool:
        """The caller hangs up: an ABANDON while waiting, a COMPLETECALLER once connected."""
        call = self._calls.get(uniqueid)
        if call is None:
            return False
        if call.state == "waiting":
            self._give_up(call, "ABANDON")
        else:
            self._complete(call, "caller")
        self._dispatch()
        return True

    def pause(self, member: str, reason: str = "", queue: str | None = None) -> bool:
        """Pause a member (interface or member name) in `queue`, or in all its queues."""
        interface = self._resolve(member)
        return interface is not None and self._set_paused(interface, True, reason, queue)

    def unpause(self, member: str, reason: str = "", queue: str | None = None) -> bool:
        """Unpause a member (interface or member name) in `queue`, or in all its queues."""
        interface = self._resolve(member)
        return interface is not None and self._set_paused(interface, False, reason, queue)

    def add_member(
        self,
        queue: str,
        interface: str,
        name: str | None = None,
        penalty: int = 0,
        *,
        state_interface: str | None = None,
        paused: bool = False,
        reason: str = "",
    ) -> bool:
        """Log a dynamic member in (QueueAdd); the name defaults to the configured agent's."""
        q = self._queues.get(queue)
        if q is None or interface in q.members:
            return False
        member = self._new_member(q, interface, name, penalty, state_interface, dynamic=True)
        member.paused, member.paused_reason = paused, reason if paused else ""
        self._emit("QueueMemberAdded", self._member_block(member))
        self._log("MANAGER", queue, interface, "ADDMEMBER", "PAUSED" if paused else "")
        self._dispatch()
        return True

    def remove_member(self, queue: str, interface: str) -> bool:
        """Log a dynamic member out (QueueRemove); static members cannot be removed."""
        q = self._queues.get(queue)
        member = q.members.get(interface) if q else None
        if q is None or member is None or not member.dynamic:
            return False
        self._emit("QueueMemberRemoved", self._member_block(member))
        self._log("MANAGER", queue, interface, "REMOVEMEMBER", "")
        del q.members[interface]
        phone = self._phones[interface]
        call = phone.ringing_for
        if call is not None and call.queue == queue:
            call.ringing.pop(interface, None)
            phone.ringing_for = None
            self._set_status(phone, IDLE)
            if not call.ringing:
                call.attempt += 1
        self._dispatch()
        return True

    # ---- manager actions ----------------------------------------------------------------------

    def action(self, fields: Mapping[str, str]) -> list[Event] | None:
        """Answer a queue manager action (QueueStatus, QueueSummary, QueuePause, QueueAdd,
        QueueRemove): the response messages, in order. None: not an action of this model."""
        f = {k.lower(): v for k, v in fields.items()}
        name = f.get("action", "").lower()
        action_id = f.get("actionid")
        if name == "queuestatus":
            head = _response("Success", action_id, "Queue status will follow", listing=True)
            return [head, *self.queue_status(action_id, f.get("queue"), f.get("member"))]
        if name == "queuesummary":
            head = _response("Success", action_id, "Queue summary will follow", listing=True)
            return [head, *self.queue_summary(action_id, f.get("queue"))]
        if name == "queuepause":
            return [self._action_pause(f, action_id)]
        if name == "queueadd":
            return [self._action_add(f, action_id)]
        if name == "queueremove":
            return [self._action_remove(f, action_id)]
        return None

    def queue_status(
        self, action_id: str | None = None, queue: str | None = None, member: str | None = None
    ) -> list[Event]:
        """The QueueStatus list (QueueParams, QueueMember..., QueueEntry... per queue, then
        QueueStatusComplete): the model's truth at `self.now`."""
        out: list[Event] = []
        for q in self._selected(queue):
            c = q.config
            sl = 100 * q.completed_in_sl / q.completed if q.completed else 0.0
            done = q.completed + q.abandoned
            sl2 = 100 * (q.completed_in_sl + q.abandoned_in_sl) / done if done else 0.0
            out.append(_listed("QueueParams", [
                ("Queue", c.name), ("Max", "0"), ("Strategy", c.strategy),
                ("Calls", str(len(q.entries))), ("Holdtime", str(q.holdtime)),
                ("TalkTime", str(q.talktime)), ("Completed", str(q.completed)),
                ("Abandoned", str(q.abandoned)), ("ServiceLevel", str(c.service_level)),
                ("ServicelevelPerf", f"{sl:.1f}"), ("ServicelevelPerf2", f"{sl2:.1f}"),
                ("Weight", str(c.weight)),
            ], action_id))
            for m in q.members.values():
                if member and member not in (m.interface, m.name):
                    continue
                out.append(_listed("QueueMember", [
                    ("Queue", m.queue), ("Name", m.name), ("Location", m.interface),
                    ("StateInterface", m.state_interface),
                    ("Membership", "dynamic" if m.dynamic else "static"),
                    ("Penalty", str(m.penalty)), ("CallsTaken", str(m.calls_taken)),
                    ("LastCall", str(m.last_call)), ("LastPause", str(m.last_pause)),
                    ("LoginTime", str(m.login_time)), ("InCall", str(int(m.in_call))),
                    ("Status", str(self._phones[m.interface].status)),
                    ("Paused", str(int(m.paused))), ("PausedReason", m.paused_reason),
                    ("Wrapuptime", "0"),
                ], action_id))
            for position, call in enumerate(q.entries, start=1):
                out.append(_listed("QueueEntry", [
                    ("Queue", c.name), ("Position", str(position)),
                    ("Channel", call.leg.channel), ("Uniqueid", call.leg.uniqueid),
                    ("CallerIDNum", call.num or "unknown"),
                    ("CallerIDName", call.name or "unknown"),
                    ("ConnectedLineNum", call.num or "unknown"),
                    ("ConnectedLineName", call.name or "unknown"),
                    ("Wait", str(self._waited(call))), ("Priority", "0"),
                ], action_id))
        return [*out, _list_complete("QueueStatusComplete", action_id, len(out))]

    def queue_summary(self, action_id: str | None = None, queue: str | None = None) -> list[Event]:
        """The QueueSummary list, one event per queue, then QueueSummaryComplete."""
        out: list[Event] = []
        for q in self._selected(queue):
            statuses = [(self._phones[m.interface].status, m.paused) for m in q.members.values()]
            longest = max((self._waited(call) for call in q.entries), default=0)
            out.append(_listed("QueueSummary", [
                ("Queue", q.config.name),
                ("LoggedIn", str(sum(1 for s, _ in statuses if s not in (4, 5)))),
                ("Available", str(sum(1 for s, p in statuses if s in (0, 1) and not p))),
                ("Callers", str(len(q.entries))), ("HoldTime", str(q.holdtime)),
                ("TalkTime", str(q.talktime)), ("LongestHoldTime", str(longest)),
            ], action_id))
        return [*out, _list_complete("QueueSummaryComplete", action_id, len(out))]

    def _action_pause(self, f: dict[str, str], action_id: str | None) -> Event:
        interface, paused = f.get("interface", ""), f.get("paused", "")
        if not interface or not paused:
            return _response("Error", action_id, "Need 'Interface' and 'Paused' parameters.")
        on = paused.strip().lower() in _TRUE_WORDS
        found = self._match_interface(interface)
        if found is None or not self._set_paused(found, on, f.get("reason", ""), f.get("queue")):
            return _response("Error", action_id, "Interface not found")
        message = "Interface paused successfully" if on else "Interface unpaused successfully"
        return _response("Success", action_id, message)

    def _action_add(self, f: dict[str, str], action_id: str | None) -> Event:
        queue, interface = f.get("queue", ""), f.get("interface", "")
        if not queue:
            return _response("Error", action_id, "'Queue' not specified.")
        if not interface:
            return _response("Error", action_id, "'Interface' not specified.")
        q = self._find_queue(queue)
        if q is None:
            return _response("Error", action_id, "Unable to add interface to queue: No such queue")
        if self._match_interface(interface, q) is not None:
            return _response("Error", action_id, "Unable to add interface: Already there")
        penalty = f.get("penalty", "0").strip()
        self.add_member(
            q.config.name, interface, f.get("membername") or interface,
            int(penalty) if penalty.isdigit() else 0,
            state_interface=f.get("stateinterface") or interface,
            paused=f.get("paused", "").strip().lower() in _TRUE_WORDS,
            reason=f.get("reason", ""),
        )
        return _response("Success", action_id, "Added interface to queue")

    def _action_remove(self, f: dict[str, str], action_id: str | None) -> Event:
        queue, interface = f.get("queue", ""), f.get("interface", "")
        if not queue or not interface:
            return _response("Error", action_id, "Need 'Queue' and 'Interface' parameters.")
        q = self._find_queue(queue)
        if q is None:
            message = "Unable to remove interface from queue: No such queue"
            return _response("Error", action_id, message)
        found = self._match_interface(interface, q)
        if found is None:
            return _response("Error", action_id, "Unable to remove interface: Not there")
        if not self.remove_member(q.config.name, found):
            return _response("Error", action_id, "Member not dynamic")
        return _response("Success", action_id, "Removed interface from queue")

    # ---- automatic traffic --------------------------------------------------------------------

    def _start_auto_traffic(self) -> None:
        cfg = self.config
        for q in self._queues.values():
            self._schedule_arrival(q.config)
        for agent in cfg.agents:
            self._schedule_pause(agent.interface)
        for interface in self._dynamic_interfaces():
            first = self.now + self._rng.uniform(0.0, cfg.logout_break[1] / 2)
            self._schedule(first, self._auto_login, interface)

    def _dynamic_interfaces(self) -> list[str]:
        seen: dict[str, None] = {}
        for q in self._queues.values():
            for interface, _ in q.config.dynamic_members:
                seen[interface] = None
        return list(seen)

    def _schedule_arrival(self, qc: QueueConfig) -> None:
        if qc.calls_per_hour > 0:
            at = self.now + self._rng.expovariate(qc.calls_per_hour / 3600)
            self._schedule(at, self._auto_arrival, qc)

    def _auto_arrival(self, qc: QueueConfig) -> None:
        cfg, rng = self.config, self._rng
        self._callers += 1
        num = f"555{rng.randrange(10000):04d}"
        call = self._join(qc.name, num, f"Customer {self._callers:04d}", None)
        if rng.random() < cfg.impatient_ratio:
            patience = rng.uniform(*cfg.impatient_patience)
        else:
            patience = rng.uniform(*cfg.patience)
        if patience < qc.timeout:
            self._schedule(self.now + patience, self._give_up, call, "ABANDON")
        self._schedule(self.now + qc.timeout, self._give_up, call, "EXITWITHTIMEOUT")
        self._schedule_arrival(qc)

    def _schedule_pause(self, interface: str) -> None:
        if self.config.pauses_per_hour > 0:
            at = self.now + self._rng.expovariate(self.config.pauses_per_hour / 3600)
            self._schedule(at, self._auto_pause, interface)

    def _auto_pause(self, interface: str) -> None:
        cfg, rng = self.config, self._rng
        memberships = self._memberships(interface)
        if not memberships or any(m.paused for m in memberships):
            self._schedule_pause(interface)
            return
        if self._phones[interface].ringing_for is not None:
            self._schedule(self.now + 5, self._auto_pause, interface)
            return
        reason = rng.choice(cfg.pause_reasons)
        queue = None if rng.random() < cfg.pause_all_ratio else rng.choice(memberships).queue
        self._set_paused(interface, True, reason, queue)
        self._schedule(self.now + rng.uniform(*cfg.pause_duration), self._auto_unpause,
                       interface, queue)

    def _auto_unpause(self, interface: str, queue: str | None) -> None:
        self._set_paused(interface, False, "", queue)
        self._schedule_pause(interface)

    def _auto_login(self, interface: str) -> None:
        for q in self._queues.values():
            for dyn_interface, penalty in q.config.dynamic_members:
                if dyn_interface == interface and interface not in q.members:
                    self.add_member(q.config.name, interface, None, penalty)
        stint = self._rng.uniform(*self.config.login_session)
        self._schedule(self.now + stint, self._auto_logout, interface)

    def _auto_logout(self, interface: str) -> None:
        if self._phones[interface].ringing_for is not None:
            self._schedule(self.now + 5, self._auto_logout, interface)
            return
        for q in self._queues.values():
            if any(i == interface for i, _ in q.config.dynamic_members):
                self.remove_member(q.config.name, interface)
        pause = self._rng.uniform(*self.config.logout_break)
        self._schedule(self.now + pause, self._auto_login, interface)

    # ---- call flow ----------------------------------------------------------------------------

    def _join(self, queue: str, num: str, name: str, talk_time: float | None) -> _Call:
        q = self._queues[queue]
        linkedid = self._new_uniqueid()
        uniqueid = self._new_uniqueid()
        channel = f"Local/{queue}@{self.config.caller_context}-{self._new_chan():08x};2"
        leg = _Leg(channel, uniqueid, linkedid, self.config.caller_context, queue, 4)
        # The channel is born ringing at priority 1, before its caller id is set.
        self._emit("Newchannel", _channel_block("", replace(leg, priority=1), 4, "", ""),
                   "call,all")
        position = len(q.entries) + 1
        call = _Call(queue, leg, num, name, self.now, position, talk_time)
        q.entries.append(call)
        self._calls[uniqueid] = call
        self._emit("QueueCallerJoin", [
            *self._caller_block(call),
            ("Queue", queue), ("Position", str(position)), ("Count", str(len(q.entries))),
        ])
        self._log(uniqueid, queue, "NONE", "ENTERQUEUE", f"|{num}|{position}")
        return call

    def _dispatch(self) -> None:
        """Empty leavewhenempty queues of callers not ringing (EXITEMPTY), then ring members for
        every waiting caller that is not ringing, oldest caller first."""
        for q in self._queues.values():
            if q.config.leavewhenempty and q.entries and self._empty(q):
                for call in [c for c in q.entries if not c.ringing]:
                    self._give_up(call, "EXITEMPTY")
        waiting = [
            call
            for q in self._queues.values()
            for call in q.entries
            if not call.ringing and call.retry_at <= self.now
        ]
        waiting.sort(key=lambda call: call.join_time)
        for call in waiting:
            chosen = self._choose(self._queues[call.queue])
            if chosen:
                self._ring(call, chosen)

    def _choose(self, q: _Queue) -> list[_Member]:
        """The members `q`'s strategy rings next (best penalty tier only), or none."""
        members = list(q.members.values())
        free = [m for m in members if self._available(m, q.config)]
        if not free:
            return []
        best = min(m.penalty for m in free)
        tier = [m for m in free if m.penalty == best]
        strategy = q.config.strategy
        if strategy == "ringall":
            return tier
        if strategy in ("random", "wrandom"):
            return [self._rng.choice(tier)]
        if strategy == "leastrecent":
            return [min(tier, key=lambda m: self._phones[m.interface].last_call_end)]
        if strategy == "fewestcalls":
            return [min(tier, key=lambda m: m.calls_taken)]
        if strategy == "rrmemory":
            start = q.rr_next % len(members)
            ordered = members[start:] + members[:start]
            pick = next(m for m in ordered if m in tier)
            q.rr_next = members.index(pick) + 1
            return [pick]
        return [tier[0]]  # linear

    def _empty(self, q: _Queue) -> bool:
        """leavewhenempty's test: every member paused, unavailable or invalid (or none at all)."""
        return all(
            m.paused or self._phones[m.interface].status in (INVALID, UNAVAILABLE)
            for m in q.members.values()
        )

    def _available(self, m: _Member, qc: QueueConfig) -> bool:
        phone = self._phones[m.interface]
        return (
            not m.paused
            and phone.status == IDLE
            and phone.ringing_for is None
            and phone.call is None
            and self.now >= phone.last_call_end + qc.wrapup
        )

    def _ring(self, call: _Call, members: list[_Member]) -> None:
        cfg, rng = self.config, self._rng
        qc = self._queues[call.queue].config
        call.attempt += 1
        call.ring_start = self.now
        deadline = self.now + qc.ring_timeout
        for m in members:
            leg = self._member_leg(m.interface, call)
            call.ringing[m.interface] = leg
            self._emit("AgentCalled", [
                *self._caller_block(call), *self._dest_block(call, leg, 0),
                ("Queue", call.queue), ("Interface", m.interface), ("MemberName", m.name),
            ])
            phone = self._phones[m.interface]
            phone.ringing_for = call
            self._set_status(phone, RINGING)
            if rng.random() >= cfg.no_answer_ratio:
                answer_at = self.now + rng.uniform(*cfg.answer_delay)
                if answer_at < deadline:
                    self._schedule(answer_at, self._answer, call, call.attempt, m.interface)
        self._schedule(deadline, self._ring_timeout, call, call.attempt)

    def _answer(self, call: _Call, attempt: int, interface: str) -> None:
        q = self._queues[call.queue]
        member = q.members.get(interface)
        if call.state != "waiting" or call.attempt != attempt or member is None:
            return
        agent_leg = call.ringing.pop(interface)
        position = q.entries.index(call) + 1
        q.entries.remove(call)
        call.state, call.agent, call.agent_leg = "connected", interface, agent_leg
        call.connect_time = self.now
        call.hold_time = self._waited(call)
        ring_time = int(self.now) - int(call.ring_start)
        self._emit("QueueCallerLeave", [
            *self._caller_block(call),
            ("Queue", call.queue), ("Position", str(position)), ("Count", str(len(q.entries))),
        ])
        self._emit("AgentConnect", [
            *self._caller_block(call), *self._dest_block(call, agent_leg, 6),
            ("Queue", call.queue), ("Interface", interface), ("MemberName", member.name),
            ("HoldTime", str(call.hold_time)), ("RingTime", str(ring_time)),
        ])
        self._log(call.leg.uniqueid, call.queue, member.name, "CONNECT",
                  f"{call.hold_time}|{agent_leg.uniqueid}|{ring_time}")
        q.holdtime = (3 * q.holdtime + call.hold_time) >> 2
        call.in_service_level = call.hold_time <= q.config.service_level
        self._stop_ringing(call)
        phone = self._phones[interface]
        phone.ringing_for, phone.call = None, call
        member.in_call = True
        self._set_status(phone, INUSE)
        talk = call.talk_time
        if talk is None:
            talk = self._rng.uniform(*self.config.talk_time)
        ender = "caller" if self._rng.random() < self.config.caller_hangup_ratio else "agent"
        self._schedule(self.now + talk, self._complete, call, ender)

    def _ring_timeout(self, call: _Call, attempt: int) -> None:
        if call.state != "waiting" or call.attempt != attempt:
            return
        self._no_answer(call)
        call.retry_at = self.now + self._queues[call.queue].config.retry
        self._schedule(call.retry_at, _nothing)

    def _no_answer(self, call: _Call) -> None:
        """Every member still ringing for `call` gives up: AgentRingNoAnswer + RINGNOANSWER."""
        ms = int((self.now - call.ring_start) * 1000)
        for interface, leg in list(call.ringing.items()):
            name = self._member_name(call.queue, interface)
            self._emit("AgentRingNoAnswer", [
                *self._caller_block(call), *self._dest_block(call, leg, 5),
                ("Queue", call.queue), ("Interface", interface), ("MemberName", name),
                ("RingTime", str(ms)),
            ])
            self._log(call.leg.uniqueid, call.queue, name, "RINGNOANSWER", str(ms))
        self._stop_ringing(call)

    def _stop_ringing(self, call: _Call) -> None:
        for interface in list(call.ringing):
            phone = self._phones[interface]
            if phone.ringing_for is call:
                phone.ringing_for = None
                self._set_status(phone, IDLE)
        call.ringing.clear()

    def _give_up(self, call: _Call, outcome: str) -> None:
        """The caller leaves unanswered: ABANDON (hung up), EXITWITHTIMEOUT or EXITEMPTY."""
        if call.state != "waiting":
            return
        q = self._queues[call.queue]
        if outcome != "ABANDON":
            self._no_answer(call)
        else:
            self._call_event(call, "HangupRequest", [("Cause", "0")])
            ms = int((self.now - call.ring_start) * 1000)
            for interface in call.ringing:
                name = self._member_name(call.queue, interface)
                self._log(call.leg.uniqueid, call.queue, name, "RINGCANCELED", str(ms))
        position = q.entries.index(call) + 1
        waited = self._waited(call)
        q.entries.remove(call)
        call.state = "done"
        del self._calls[call.leg.uniqueid]
        self._emit("QueueCallerAbandon", [
            *self._caller_block(call), ("Queue", call.queue), ("Position", str(position)),
            ("OriginalPosition", str(call.orig_position)), ("HoldTime", str(waited)),
        ])
        self._emit("QueueCallerLeave", [
            *self._caller_block(call),
            ("Queue", call.queue), ("Position", str(position)), ("Count", str(len(q.entries))),
        ])
        self._log(call.leg.uniqueid, call.queue, "NONE", outcome,
                  f"{position}|{call.orig_position}|{waited}")
        q.abandoned += 1
        if waited <= q.config.service_level:
            q.abandoned_in_sl += 1
        if outcome == "ABANDON":
            self._hang_up(call, "0")
        else:  # Queue() returns: the dialplan logs its result and hangs up
            status = _QUEUESTATUS[outcome]
            self._emit("VarSet", [
                *self._caller_block(call), ("Variable", "QUEUESTATUS"), ("Value", status),
            ], "dialplan,all")
            self._newexten(call, "NoOp", f"Queue {call.queue} result: {status}")
            self._newexten(call, "Hangup", "")
            self._hang_up(call, "16")
        self._stop_ringing(call)

    def _newexten(self, call: _Call, application: str, data: str) -> None:
        """The caller's channel runs the dialplan's next priority."""
        call.leg.priority += 1
        self._emit("Newexten", [
            *self._caller_block(call), ("Extension", call.leg.exten),
            ("Application", application), ("AppData", data),
        ], "dialplan,all")

    def _hang_up(self, call: _Call, cause: str) -> None:
        """The caller's channel goes: SoftHangupRequest, then Hangup with `cause`."""
        self._call_event(call, "SoftHangupRequest", [("Cause", "16")])
        text = "Normal Clearing" if cause == "16" else "Unknown"
        self._call_event(call, "Hangup", [("Cause", cause), ("Cause-txt", text)])

    def _call_event(self, call: _Call, name: str, tail: list[tuple[str, str]]) -> None:
        """A call-class event of the caller's channel: its snapshot block, then `tail`."""
        self._emit(name, [*self._caller_block(call), *tail], "call,all")

    def _complete(self, call: _Call, ender: str) -> None:
        """The bridge ends: AgentComplete + COMPLETECALLER/COMPLETEAGENT, counters, phone idle."""
        if call.state != "connected":
            return
        q = self._queues[call.queue]
        talk = int(self.now) - int(call.connect_time)
        member = q.members.get(call.agent)
        name = member.name if member else self._member_name(call.queue, call.agent)
        tail = [
            ("Queue", call.queue), ("Interface", call.agent), ("MemberName", name),
            ("HoldTime", str(call.hold_time)), ("TalkTime", str(talk)), ("Reason", ender),
        ]
        if ender == "caller":
            self._call_event(call, "HangupRequest", [("Cause", "0")])
        if self._rng.random() < self.config.bare_complete_ratio:
            self._emit("AgentComplete", tail)
        else:
            assert call.agent_leg is not None
            self._emit("AgentComplete", [
                *self._caller_block(call), *self._dest_block(call, call.agent_leg, 6), *tail,
            ])
        event = "COMPLETECALLER" if ender == "caller" else "COMPLETEAGENT"
        self._log(call.leg.uniqueid, call.queue, name, event,
                  f"{call.hold_time}|{talk}|{call.orig_position}")
        self._hang_up(call, "16")
        call.state = "done"
        del self._calls[call.leg.uniqueid]
        memberships = self._memberships(call.agent)
        for m in memberships:  # shared_lastcall: every queue of the member counts it
            m.calls_taken += 1
            m.last_call = int(self.now)
        if memberships:
            q.completed += 1
            q.completed_in_sl += call.in_service_level
            q.talktime = talk if q.completed == 1 else (3 * q.talktime + talk) >> 2
        if member is not None:
            member.in_call = False
        phone = self._phones[call.agent]
        phone.call = None
        phone.last_call_end = self.now
        self._set_status(phone, IDLE)
        for m in memberships:  # wake the dispatcher when each queue's wrap-up ends
            self._schedule(self.now + self._queues[m.queue].config.wrapup, _nothing)

    # ---- members ------------------------------------------------------------------------------

    def _new_member(
        self,
        q: _Queue,
        interface: str,
        name: str | None,
        penalty: int,
        state_interface: str | None,
        *,
        dynamic: bool,
    ) -> _Member:
        agent = self._agents.get(interface)
        member = _Member(
            queue=q.config.name,
            interface=interface,
            name=_clean(name or (agent.name if agent else interface)),
            state_interface=state_interface or (agent.state_interface if agent else interface),
            penalty=penalty,
            dynamic=dynamic,
            login_time=int(self.now),
        )
        q.members[interface] = member
        self._phones.setdefault(interface, _Phone(interface))
        return member

    def _set_paused(self, interface: str, paused: bool, reason: str, queue: str | None) -> bool:
        reason = _clean(reason)
        if queue is None:
            memberships = self._memberships(interface)
        else:
            q = self._find_queue(queue)
            member = q.members.get(interface) if q else None
            memberships = [member] if member else []
        if not memberships:
            return False
        if queue is None:
            event = "PAUSEALL" if paused else "UNPAUSEALL"
            self._log("NONE", "NONE", memberships[0].name, event, reason)
        for m in memberships:
            m.paused = paused
            if paused:
                m.last_pause = int(self.now)
            m.paused_reason = reason
            self._log("NONE", m.queue, m.name, "PAUSE" if paused else "UNPAUSE", reason)
            self._emit("QueueMemberPause", self._member_block(m))
            if not paused:
                m.paused_reason = ""
        self._dispatch()
        return True

    def _set_status(self, phone: _Phone, status: int) -> None:
        """A device-state change: one QueueMemberStatus per queue the interface is in."""
        if phone.status == status:
            return
        phone.status = status
        for m in self._memberships(phone.interface):
            self._emit("QueueMemberStatus", self._member_block(m))

    def _memberships(self, interface: str) -> list[_Member]:
        return [q.members[interface] for q in self._queues.values() if interface in q.members]

    def _member_name(self, queue: str, interface: str) -> str:
        member = self._queues[queue].members.get(interface)
        if member is not None:
            return member.name
        agent = self._agents.get(interface)
        return agent.name if agent else interface

    def _resolve(self, member: str) -> str | None:
        """An interface from an interface or a member name."""
        found = self._match_interface(member)
        if found is not None:
            return found
        for q in self._queues.values():
            for m in q.members.values():
                if m.name == member:
                    return m.interface
        return None

    def _match_interface(self, interface: str, q: _Queue | None = None) -> str | None:
        """The member interface equal to `interface` ignoring case (in `q`, or in any queue)."""
        for queue in [q] if q else self._queues.values():
            for known in queue.members:
                if known.lower() == interface.lower():
                    return known
        return None

    def _find_queue(self, name: str) -> _Queue | None:
        for q in self._queues.values():
            if q.config.name.lower() == name.lower():
                return q
        return None

    def _selected(self, queue: str | None) -> list[_Queue]:
        if not queue:
            return list(self._queues.values())
        q = self._find_queue(queue)
        return [q] if q else []

    # ---- building outputs ---------------------------------------------------------------------

    def _emit(self, name: str, body: list[tuple[str, str]], privilege: str = "agent,all") -> None:
        event: Event = {"Event": name, "Privilege": privilege}
        if self.config.timestamps:
            event["Timestamp"] = f"{self.now:.6f}"
        event.update(body)
        self._pending.append(event)

    def _log(self, callid: str, queue: str, agent: str, event: str, data: str) -> None:
        self._pending.append(f"{int(self.now)}|{callid}|{queue}|{agent}|{event}|{data}")

    def _member_block(self, m: _Member) -> list[tuple[str, str]]:
        return [
            ("Queue", m.queue), ("MemberName", m.name), ("Interface", m.interface),
            ("StateInterface", m.state_interface),
            ("Membership", "dynamic" if m.dynamic else "static"), ("Penalty", str(m.penalty)),
            ("CallsTaken", str(m.calls_taken)), ("LastCall", str(m.last_call)),
            ("LastPause", str(m.last_pause)), ("LoginTime", str(m.login_time)),
            ("InCall", str(int(m.in_call))), ("Status", str(self._phones[m.interface].status)),
            ("Paused", str(int(m.paused))), ("PausedReason", m.paused_reason),
            ("Ringinuse", "0"), ("Wrapuptime", "0"),
        ]

    def _caller_block(self, call: _Call) -> list[tuple[str, str]]:
        return _channel_block("", call.leg, 6, call.num, call.name)

    def _dest_block(self, call: _Call, leg: _Leg, state: int) -> list[tuple[str, str]]:
        return _channel_block("Dest", leg, state, call.num, call.name)

    def _member_leg(self, interface: str, call: _Call) -> _Leg:
        """A new channel towards a member (Local channels are the ;1 half of a pair)."""
        counter = self._new_chan()
        uniqueid = self._new_uniqueid()
        if interface.startswith("Local/"):
            self._new_uniqueid()  # the ;2 half
            context = interface.partition("@")[2].partition("/")[0] or "default"
            channel = f"{interface}-{counter:08x};1"
        else:
            context, channel = "default", f"{interface}-{counter:08x}"
        return _Leg(channel, uniqueid, call.leg.linkedid, context, call.queue, 1)

    def _new_uniqueid(self) -> str:
        uniqueid = f"{int(self.now)}.{self._uid_counter}"
        self._uid_counter += 1
        return uniqueid

    def _new_chan(self) -> int:
        self._chan_counter += 1
        return self._chan_counter - 1

    def _waited(self, call: _Call) -> int:
        return int(self.now) - int(call.join_time)

    def _schedule(self, at: float, action: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, action, args))


# ---------------------------------------------------------------------------------------------
# Message helpers
# ---------------------------------------------------------------------------------------------


def _nothing() -> None:
    """A scheduled wake-up: `advance` dispatches waiting callers after every happening."""


def _clean(text: str) -> str:
    """Caller-id and reason text safe for one AMI line and one queue_log field."""
    return text.replace("\r", " ").replace("\n", " ").replace("|", "_")


def _channel_block(
    prefix: str, leg: _Leg, state: int, num: str, name: str
) -> list[tuple[str, str]]:
    """Asterisk's channel snapshot block, optionally prefixed (``Dest`` for the member leg)."""
    num, name = num or "<unknown>", name or "<unknown>"
    return [
        (f"{prefix}Channel", leg.channel), (f"{prefix}ChannelState", str(state)),
        (f"{prefix}ChannelStateDesc", _CHANNEL_STATE_DESC[state]),
        (f"{prefix}CallerIDNum", num), (f"{prefix}CallerIDName", name),
        (f"{prefix}ConnectedLineNum", num), (f"{prefix}ConnectedLineName", name),
        (f"{prefix}Language", "en"), (f"{prefix}AccountCode", ""),
        (f"{prefix}Context", leg.context), (f"{prefix}Exten", leg.exten),
        (f"{prefix}Priority", str(leg.priority)), (f"{prefix}Uniqueid", leg.uniqueid),
        (f"{prefix}Linkedid", leg.linkedid),
    ]


def _response(kind: str, action_id: str | None, message: str, listing: bool = False) -> Event:
    response: Event = {"Response": kind}
    if action_id is not None:
        response["ActionID"] = action_id
    if listing:
        response["EventList"] = "start"
    response["Message"] = message
    return response


def _listed(name: str, body: list[tuple[str, str]], action_id: str | None) -> Event:
    """A list item of an action's answer: no Privilege, no Timestamp, ActionID last."""
    event: Event = {"Event": name, **dict(body)}
    if action_id is not None:
        event["ActionID"] = action_id
    return event


def _list_complete(name: str, action_id: str | None, items: int) -> Event:
    event: Event = {"Event": name}
    if action_id is not None:
        event["ActionID"] = action_id
    event.update({"EventList": "Complete", "ListItems": str(items)})
    return event
