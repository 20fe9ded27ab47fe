"""Seeded generator of a realistic Asterisk 22 queue_log, for benchmarks and load tests.

A discrete-event simulation of a call centre: callers arrive on a business-hours curve, wait,
ring agents (who sometimes do not pick up), talk, transfer, abandon, press a key, time out and
overflow into another queue; agents work shifts, log in and out of their queues and pause.
Asterisk restarts every night (`QUEUESTART`). Lines come out in time order, ties in the order
the simulation produced them, with the field layouts of a real Asterisk 22 (protocol.md §4).

    python bench/synth.py --agents 300 --queues 20 --days 365 --seed 1 --out FILE
    python bench/synth.py --lines 1000000 --out FILE
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

DEFAULT_START = date(2025, 1, 6)  # a Monday
DAY = 86_400
BIN = 900  # arrival rates are constant over 15-minute bins
FLUSH_LINES = 50_000

# Relative demand by hour of the day: busy 9-12 and 14-17, a lunch dip, quiet nights.
DEMAND = (
    0.08, 0.05, 0.04, 0.04, 0.05, 0.08, 0.15, 0.35, 0.60, 0.95, 1.00, 0.95,
    0.70, 0.70, 0.90, 0.95, 0.90, 0.60, 0.45, 0.35, 0.25, 0.18, 0.12, 0.10,
)  # fmt: skip
SERVICE_MEAN = 230  # seconds an agent spends per answered call (ring + talk + wrap-up)
NIGHT_FLOOR = 0.3 / 3600  # calls per second per queue even when nobody is staffed
PATIENCE_MEAN = 240  # seconds a caller waits before hanging up (exponential)
ARRIVALS_END = DAY - 600  # no new callers in the last 10 minutes before the nightly restart
RING_TIMEOUT = 15
RETRY = 5  # seconds before a member who did not answer is rung again

SHIFTS = (  # (name, weight, sessions as (start, end) seconds after midnight)
    ("early", 15, ((7 * 3600, 15 * 3600 + 1800),)),
    ("day", 25, ((8 * 3600, 16 * 3600 + 1800),)),
    ("mid", 25, ((9 * 3600, 17 * 3600 + 1800),)),
    ("late", 15, ((11 * 3600 + 1800, 20 * 3600),)),
    ("evening", 12, ((14 * 3600, 22 * 3600 + 1800),)),
    ("night", 8, ((0, 7 * 3600), (22 * 3600, 23 * 3600 + 3300))),
)
OTHER_PAUSES = ("Meeting", "Training", "Coaching", "Admin")

FIRST_NAMES = (
    "Travis Olivia Marcus Hannah Derek Sofia Nathan Chloe Victor Maya Adrian Leah Owen Nora "
    "Gavin Ruby Isaac Elena Colin Tessa Julian Amira Felix Paige Hugo Lena Simon Clara Ethan "
    "Priya Miles Zoe Rafael Ingrid Tobias Keiko Dante Freya Omar Lucia Wesley Naomi Brandon "
    "Yara Caleb Esther Ronan Mila"
).split()
LAST_NAMES = (
    "Spencer Walsh Moreno Fischer Patel Okafor Lindqvist Brennan Castillo Nakamura Dubois "
    "Kowalski Hughes Romero Schmidt Adeyemi Larsen Novak Gallagher Ferreira Byrne Tanaka "
    "Mercer Holloway Vasquez Sinclair Petrov Whitaker Caldwell Ibrahim Delgado Foster Morrow "
    "Quinn Barrett Sutherland Keller Ashford Reyes Donnelly Hartmann Osei Lambert Carver "
    "Pereira Yildiz Sato Fleming"
).split()

# Call states and agent states.
WAITING, RINGING, TALKING, MOVING, GONE = range(5)
OFF, IDLE, AGENT_RINGING, AGENT_TALKING, WRAPUP, RETRYING = range(6)
# Event kinds in the simulation heap.
ARRIVE, DEADLINE, RING_DONE, CALL_END, AGENT_FREE, LOGIN, LOGOUT, PAUSE, UNPAUSE, EMPTY_CHECK, \
    REENTER = range(11)  # fmt: skip

UNANSWERED_EVENTS = ("ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY")
ANSWERED_EVENTS = ("COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "ATTENDEDTRANSFER")


@dataclass
class GenStats:
    """What a generated file holds; `events` counts lines per event name."""

    lines: int = 0
    days: int = 0
    callers: int = 0  # distinct caller channels (callids)
    overflows: int = 0  # ENTERQUEUE lines after an EXITWITHTIMEOUT into an overflow queue
    requeued: int = 0  # ENTERQUEUE lines after a BLINDTRANSFER to another queue
    first_epoch: int = 0
    last_epoch: int = 0
    events: dict[str, int] = field(default_factory=dict)

    def count(self, event: str) -> int:
        return self.events.get(event, 0)

    @property
    def calls(self) -> int:
        """Queue calls (one per ENTERQUEUE: an overflowing caller makes several)."""
        return self.count("ENTERQUEUE")

    @property
    def answered(self) -> int:
        return self.count("CONNECT")

    @property
    def unanswered(self) -> int:
        return sum(self.count(e) for e in UNANSWERED_EVENTS)

    @property
    def abandoned(self) -> int:
        return self.count("ABANDON")

    @property
    def timeouts(self) -> int:
        return self.count("EXITWITHTIMEOUT")

    @property
    def transfers(self) -> int:
        return self.count("BLINDTRANSFER") + self.count("ATTENDEDTRANSFER")

    def summary(self) -> str:
        """One human-readable paragraph of the main counts."""
        pct = 100 * self.abandoned / self.calls if self.calls else 0.0
        return (
            f"{self.lines} lines over {self.days} days; {self.callers} callers, {self.calls} queue "
            f"calls ({self.overflows} overflows, {self.requeued} transferred to a queue): "
            f"{self.answered} answered, {self.abandoned} abandoned ({pct:.1f}%), "
            f"{self.timeouts} timeouts, {self.count('EXITWITHKEY')} exit with key, "
            f"{self.count('EXITEMPTY')} exit empty, {self.transfers} transfers, "
            f"{self.count('RINGNOANSWER')} ring-no-answers, {self.count('PAUSE')} pauses"
        )


class _Queue:
    __slots__ = ("idx", "name", "members", "waiting", "logged_in", "timeout", "overflow",
                 "dids", "exit_key", "wrapup", "load")  # fmt: skip

    def __init__(self, idx: int, name: str) -> None:
        self.idx = idx
        self.name = name
        self.members: list[_Agent] = []
        self.waiting: list[_Call] = []  # in order of arrival, ringing ones included
        self.logged_in = 0
        self.timeout = 300
        self.overflow: int | None = None
        self.dids: list[str] = []
        self.exit_key: str | None = None
        self.wrapup = 0
        self.load = 1.0


class _Agent:
    __slots__ = ("idx", "name", "iface", "queues", "shift", "weekends", "days_off", "rna",
                 "state", "session", "paused", "pause_all", "pause_token", "unpause_reason",
                 "last_end", "pending_logout")  # fmt: skip

    def __init__(self, idx: int, name: str, iface: str) -> None:
        self.idx = idx
        self.name = name
        self.iface = iface
        self.queues: list[int] = []
        self.shift: tuple[tuple[int, int], ...] = ()
        self.weekends = False
        self.days_off: tuple[int, ...] = ()
        self.rna = 0.0  # chance of not answering a ring
        self.state = OFF
        self.session = 0
        self.paused: list[int] = []
        self.pause_all = False
        self.pause_token = 0
        self.unpause_reason = ""
        self.last_end = 0
        self.pending_logout = False


class _Call:
    __slots__ = ("uid", "cid", "url", "queue", "state", "seg", "entered", "origpos",
                 "patience_at", "key_at", "exit_kind", "pending_exit", "agent", "ring_id",
                 "ring_start", "ring_ms", "answer", "member_uid", "connected", "hold")  # fmt: skip

    def __init__(self, uid: str, cid: str, url: str, patience_at: int, key_at: int) -> None:
        self.uid = uid
        self.cid = cid
        self.url = url
        self.queue: _Queue | None = None
        self.state = WAITING
        self.seg = 0  # bumped on every ENTERQUEUE; stale heap events carry an older one
        self.entered = 0
        self.origpos = 0
        self.patience_at = patience_at
        self.key_at = key_at
        self.exit_kind = ""
        self.pending_exit = ""
        self.agent: _Agent | None = None
        self.ring_id = 0
        self.ring_start = 0
        self.ring_ms = 0
        self.answer = False
        self.member_uid = ""
        self.connected = 0
        self.hold = 0


class _Simulation:
    """The call centre; `run_day` simulates one day and appends its lines to `out`."""

    def __init__(
        self, agents: int, queues: int, seed: int, target_lines: int | None, sink: TextIO
    ) -> None:
        self.rng = random.Random(seed)
        self.target = target_lines
        self.closing = False  # target reached: no new callers, logins or pauses
        self.sink = sink
        self.out: list[str] = []
        self.stats = GenStats()
        self.events: dict[str, int] = self.stats.events
        self.heap: list[tuple] = []
        self.seq = 0
        self.uid_n = 0
        self.last_line_at = 0
        self.recent_callers: list[str] = []
        self.queues = self._make_queues(queues)
        self.agents = self._make_agents(agents)
        self.handlers = (self._arrive, self._deadline, self._ring_done, self._call_end,
                         self._agent_free_event, self._login, self._logout, self._pause,
                         self._unpause, self._empty_check, self._reenter)  # fmt: skip

    # ---- set-up -------------------------------------------------------------------------

    def _make_queues(self, count: int) -> list[_Queue]:
        rng = self.rng
        queues = [_Queue(i, str(5000 + i)) for i in range(count)]
        sources = [q for q in queues if count > 1 and rng.random() < 0.3]
        targets = [q for q in queues if q not in sources]
        for q in queues:
            if q in sources and targets:
                q.overflow = rng.choice(targets).idx
                q.timeout = rng.choice((60, 90, 120, 180))
            else:
                q.timeout = rng.choice((180, 240, 300, 600))
            if rng.random() < 0.7:
                q.dids = [f"1800555{rng.randrange(10_000):04d}" for _ in range(rng.randint(1, 2))]
            q.exit_key = rng.choice("01") if rng.random() < 0.3 else None
            q.wrapup = rng.choice((0, 3, 5, 10, 15))
            q.load = rng.uniform(0.85, 1.1)
        return queues

    def _make_agents(self, count: int) -> list[_Agent]:
        rng = self.rng
        combos = len(FIRST_NAMES) * len(LAST_NAMES)
        picks = rng.sample(range(combos), min(count, combos))
        agents = []
        for i in range(count):
            pick = picks[i % len(picks)]
            name = f"{FIRST_NAMES[pick // len(LAST_NAMES)]} {LAST_NAMES[pick % len(LAST_NAMES)]}"
            if i >= combos:
                name += f" {i // combos + 1}"
            agent = _Agent(i, name, f"PJSIP/{1000 + i}")
            nq = len(self.queues)
            if nq:
                extra = rng.choices((0, 1, 2), weights=(50, 35, 15))[0]
                others = [q for q in range(nq) if q != i % nq]
                agent.queues = [i % nq] + sorted(rng.sample(others, min(extra, len(others))))
            agent.shift = rng.choices([s[2] for s in SHIFTS], weights=[s[1] for s in SHIFTS])[0]
            agent.weekends = rng.random() < 0.3
            if agent.weekends:
                agent.days_off = tuple(rng.sample(range(5), 2))
            agent.rna = rng.uniform(0.01, 0.08)
            agents.append(agent)
        if count >= 4 and not any(a.shift is SHIFTS[-1][2] for a in agents):
            agents[-1].shift = SHIFTS[-1][2]
        if agents and not any(a.weekends for a in agents):
            agents[0].weekends = True
        for agent in agents:
            for q in agent.queues:
                self.queues[q].members.append(agent)
        return agents

    # ---- plumbing -----------------------------------------------------------------------

    def _push(self, t: int, kind: int, obj: object, token: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, obj, token))

    def _line(self, t: int, callid: str, queue: str, agent: str, event: str, data: str) -> None:
        self.out.append(f"{t}|{callid}|{queue}|{agent}|{event}|{data}\n")
        self.last_line_at = t
        self.events[event] = self.events.get(event, 0) + 1
        if len(self.out) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        if self.out:
            self.stats.lines += len(self.out)
            self.sink.write("".join(self.out))
            self.out.clear()

    def _check_target(self) -> None:
        if self.target is not None and self.stats.lines + len(self.out) >= self.target:
            self.closing = True

    def _new_uid(self, epoch: int) -> str:
        self.uid_n += 2  # every call leg is a pair of channels in practice
        return f"{epoch}.{self.uid_n}"

    # ---- one day ------------------------------------------------------------------------

    def run_day(self, midnight: int, weekday: int) -> None:
        rng = self.rng
        start = max(midnight, self.last_line_at)
        if not self.stats.first_epoch:
            self.stats.first_epoch = start
        self._line(start, "NONE", "NONE", "NONE", "QUEUESTART", "")
        self.stats.days += 1
        sessions = []
        for agent in self.agents:
            agent.state = OFF
            agent.paused = []
            agent.pending_logout = False
            agent.session += 1
            works = weekday not in agent.days_off if agent.weekends else weekday < 5
            if not works or rng.random() < 0.04:
                continue
            for s, e in agent.shift:
                s = midnight + s + (rng.randint(-600, 600) if s else rng.randint(60, 600))
                e = midnight + min(e + rng.randint(-600, 900), DAY - 120)
                s = max(s, start + rng.randint(5, 60))
                if e - s > 1800:
                    sessions.append((agent, s, e))
        for q in self.queues:
            q.waiting = []
            q.logged_in = 0
        for agent, s, e in sessions:
            self._push(s, LOGIN, agent, e)
        self._schedule_arrivals(midnight, start, sessions)
        heap = self.heap
        handlers = self.handlers
        pop = heapq.heappop
        while heap:
            t, _, kind, obj, token = pop(heap)
            handlers[kind](t, obj, token)
        self.stats.last_epoch = self.last_line_at

    def _schedule_arrivals(self, midnight: int, start: int, sessions: list) -> None:
        rng = self.rng
        bins = DAY // BIN
        staff = [[0.0] * bins for _ in self.queues]
        for agent, s, e in sessions:
            share = 1 / len(agent.queues) if agent.queues else 0
            for b in range((s - midnight) // BIN, min(bins, (e - midnight) // BIN)):
                for q in agent.queues:
                    staff[q][b] += share
        day_factor = rng.uniform(0.9, 1.1)
        arrivals = []
        seq = self.seq
        last = midnight + ARRIVALS_END
        for q in self.queues:
            for b in range(bins):
                util = 0.3 + 0.4 * DEMAND[b * BIN // 3600]
                rate = staff[q.idx][b] * util * q.load * day_factor / SERVICE_MEAN + NIGHT_FLOOR
                t = midnight + b * BIN + rng.expovariate(rate)
                end = min(midnight + (b + 1) * BIN, last)
                while t < end:
                    if t >= start + 60:
                        seq += 1
                        arrivals.append((int(t), seq, ARRIVE, q, None))
                    t += rng.expovariate(rate)
        self.seq = seq
        self.heap.extend(arrivals)
        heapq.heapify(self.heap)

    # ---- callers ------------------------------------------------------------------------

    def _caller_id(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.01:
            return ""  # presentation restricted
        recent = self.recent_callers
        if r < 0.16 and recent:
            return recent[rng.randrange(len(recent))]
        cid = str(rng.randrange(2_012_000_000, 9_899_999_999))
        if len(recent) < 5000:
            recent.append(cid)
        else:
            recent[rng.randrange(5000)] = cid
        return cid

    def _arrive(self, t: int, q: _Queue, _token: object) -> None:
        if self.closing:
            return
        rng = self.rng
        self.stats.callers += 1
        uid = self._new_uid(t - rng.randint(0, 2))
        url = f"https://crm.example.com/contact/{rng.randrange(1_000_000)}" \
            if rng.random() < 0.02 else ""  # fmt: skip
        patience_at = t + 2 + int(rng.expovariate(1 / PATIENCE_MEAN))
        key_at = t + rng.randint(15, 120) if q.exit_key and rng.random() < 0.06 else 1 << 62
        call = _Call(uid, self._caller_id(), url, patience_at, key_at)
        if q.dids and rng.random() < 0.9:
            did = "" if rng.random() < 0.04 else q.dids[rng.randrange(len(q.dids))]
            self._line(t, uid, q.name, "NONE", "DID", did)
        self._enter(t, call, q)
        self._check_target()

    def _enter(self, t: int, call: _Call, q: _Queue) -> None:
        q.waiting.append(call)
        call.queue = q
        call.state = WAITING
        call.seg += 1
        call.entered = t
        call.origpos = len(q.waiting)
        call.pending_exit = ""
        self._line(
            t, call.uid, q.name, "NONE", "ENTERQUEUE", f"{call.url}|{call.cid}|{call.origpos}"
        )
        deadline, call.exit_kind = min(
            (t + q.timeout, "timeout"), (call.patience_at, "abandon"), (call.key_at, "key")
        )
        self._push(max(deadline, t), DEADLINE, call, call.seg)
        if q.logged_in == 0:
            self._push(t + self.rng.randint(1, 3), EMPTY_CHECK, call, call.seg)
        else:
            self._dispatch(t, q)

    def _exit(self, t: int, call: _Call, kind: str) -> None:
        q = call.queue
        pos = q.waiting.index(call)
        del q.waiting[pos]
        call.state = GONE
        wait = t - call.entered
        tail = f"{pos + 1}|{call.origpos}|{wait}"
        if kind == "abandon":
            self._line(t, call.uid, q.name, "NONE", "ABANDON", tail)
        elif kind == "key":
            self._line(t, call.uid, q.name, "NONE", "EXITWITHKEY", f"{q.exit_key}|{tail}")
        elif kind == "empty":
            self._line(t, call.uid, q.name, "NONE", "EXITEMPTY", tail)
        else:
            self._line(t, call.uid, q.name, "NONE", "EXITWITHTIMEOUT", tail)
            if q.overflow is not None:
                self.stats.overflows += 1
                self._enter(t, call, self.queues[q.overflow])

    def _deadline(self, t: int, call: _Call, seg: int) -> None:
        if call.seg != seg:
            return
        if call.state == WAITING:
            self._exit(t, call, call.exit_kind)
        elif call.state == RINGING:
            if call.exit_kind != "abandon":
                call.pending_exit = call.exit_kind  # Asterisk finishes the ring attempt first
                return
            agent = call.agent
            ms = (t - call.ring_start) * 1000 + self.rng.randrange(1000)
            self._line(t, call.uid, call.queue.name, agent.name, "RINGCANCELED", str(ms))
            call.ring_id += 1
            self._exit(t, call, "abandon")
            self._agent_free(t, agent)

    def _empty_check(self, t: int, call: _Call, seg: int) -> None:
        if call.seg == seg and call.state == WAITING and call.queue.logged_in == 0:
            self._exit(t, call, "empty")

    # ---- matching callers and agents ----------------------------------------------------

    def _dispatch(self, t: int, q: _Queue) -> None:
        """Ring an available member for every caller of `q` nobody is ringing yet."""
        for call in q.waiting:
            if call.state != WAITING:
                continue
            best = None
            for agent in q.members:
                if (
                    agent.state == IDLE
                    and q.idx not in agent.paused
                    and (best is None or agent.last_end < best.last_end)
                ):
                    best = agent
            if best is None:
                return
            self._ring(t, call, best)

    def _agent_free(self, t: int, agent: _Agent) -> None:
        """The agent can take a call: log off if due, else ring them for the longest waiter."""
        if agent.pending_logout:
            self._do_logout(t, agent)
            return
        agent.state = IDLE
        best = None
        for qi in agent.queues:
            if qi in agent.paused:
                continue
            for call in self.queues[qi].waiting:
                if call.state == WAITING:
                    if best is None or call.entered < best.entered:
                        best = call
                    break
        if best is not None:
            self._ring(t, best, agent)

    def _agent_free_event(self, t: int, agent: _Agent, session: int) -> None:
        if agent.session == session and agent.state in (WRAPUP, RETRYING):
            self._agent_free(t, agent)

    def _ring(self, t: int, call: _Call, agent: _Agent) -> None:
        rng = self.rng
        call.state = RINGING
        call.agent = agent
        call.ring_id += 1
        call.ring_start = t
        call.member_uid = self._new_uid(t)
        agent.state = AGENT_RINGING
        if rng.random() < agent.rna:
            call.answer = False
            if rng.random() < 0.8:
                ring, call.ring_ms = RING_TIMEOUT, RING_TIMEOUT * 1000
            else:  # busy or rejected
                ring = rng.randint(1, 4)
                call.ring_ms = ring * 1000
        else:
            call.answer = True
            ring = min(1 + int(rng.expovariate(1 / 3)), RING_TIMEOUT - 1)
        self._push(t + ring, RING_DONE, call, call.ring_id)

    def _ring_done(self, t: int, call: _Call, ring_id: int) -> None:
        if call.ring_id != ring_id or call.state != RINGING:
            return
        agent = call.agent
        q = call.queue
        if call.answer:
            q.waiting.remove(call)
            call.state = TALKING
            call.connected = t
            call.hold = t - call.entered
            agent.state = AGENT_TALKING
            self._line(t, call.uid, q.name, agent.name, "CONNECT",
                       f"{call.hold}|{call.member_uid}|{t - call.ring_start}")  # fmt: skip
            talk = int(self.rng.lognormvariate(5.0, 0.75))  # median ~150 s
            self._push(t + max(3, min(talk, 2400)), CALL_END, call, agent)
            return
        self._line(t, call.uid, q.name, agent.name, "RINGNOANSWER", str(call.ring_ms))
        call.state = WAITING
        call.agent = None
        agent.state = RETRYING
        self._push(t + RETRY, AGENT_FREE, agent, agent.session)
        if call.pending_exit:
            self._exit(t, call, call.pending_exit)
        else:
            self._dispatch(t, q)

    def _call_end(self, t: int, call: _Call, agent: _Agent) -> None:
        rng = self.rng
        q = call.queue
        tail = f"{call.hold}|{t - call.connected}|{call.origpos}"
        r = rng.random()
        call.state = GONE
        if r < 0.48:
            self._line(t, call.uid, q.name, agent.name, "COMPLETECALLER", tail)
        elif r < 0.92:
            self._line(t, call.uid, q.name, agent.name, "COMPLETEAGENT", tail)
        elif r < 0.965:
            if len(self.queues) > 1 and rng.random() < 0.5:
                target = self.queues[rng.randrange(len(self.queues) - 1)]
                if target is q:
                    target = self.queues[-1]
                exten = target.name
                call.state = MOVING
                self._push(t + rng.randint(1, 3), REENTER, call, target)
            else:
                exten = str(1000 + rng.randrange(len(self.agents)))
            self._line(t, call.uid, q.name, agent.name, "BLINDTRANSFER",
                       f"{exten}|from-internal|{tail}")  # fmt: skip
        else:
            h = f"{rng.getrandbits(128):032x}"
            bridge = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            self._line(
                t, call.uid, q.name, agent.name, "ATTENDEDTRANSFER", f"BRIDGE|{bridge}|{tail}"
            )
        agent.last_end = t
        if q.wrapup:
            agent.state = WRAPUP
            self._push(t + q.wrapup, AGENT_FREE, agent, agent.session)
        else:
            self._agent_free(t, agent)

    def _reenter(self, t: int, call: _Call, q: _Queue) -> None:
        self.stats.requeued += 1
        call.patience_at = t + 2 + int(self.rng.expovariate(1 / PATIENCE_MEAN))
        self._enter(t, call, q)

    # ---- agents -------------------------------------------------------------------------

    def _login(self, t: int, agent: _Agent, end: int) -> None:
        if self.closing:
            return
        agent.session += 1
        agent.pause_token += 1
        agent.paused = []
        agent.pending_logout = False
        for qi in agent.queues:
            q = self.queues[qi]
            q.logged_in += 1
            self._line(t, "MANAGER", q.name, agent.iface, "ADDMEMBER", "")
        self._plan_pauses(t, end, agent)
        self._push(end, LOGOUT, agent, agent.session)
        self._agent_free(t, agent)

    def _plan_pauses(self, start: int, end: int, agent: _Agent) -> None:
        rng = self.rng
        length = end - start
        wanted = []
        if length >= 5 * 3600:
            wanted.append((start + int(length * rng.uniform(0.4, 0.55)),
                           rng.randint(1800, 3600), "Lunch"))  # fmt: skip
        for _ in range(int(length // (2.5 * 3600))):
            wanted.append(
                (start + rng.randrange(1800, length - 1800), rng.randint(600, 900), "Break")
            )
        if rng.random() < 0.25 and length > 3 * 3600:
            wanted.append((start + rng.randrange(1800, length - 3600), rng.randint(900, 3600),
                           rng.choice(OTHER_PAUSES)))  # fmt: skip
        wanted.sort()
        free_from = start + 600
        for at, duration, reason in wanted:
            if at < free_from or at + duration > end - 300:
                continue
            one_queue = None if rng.random() < 0.75 else rng.choice(agent.queues)
            self._push(at, PAUSE, agent, (agent.session, duration, reason, one_queue))
            free_from = at + duration + 600

    def _pause(self, t: int, agent: _Agent, plan: tuple) -> None:
        session, duration, reason, one_queue = plan
        if agent.session != session or agent.state == OFF or agent.paused or self.closing:
            return
        if one_queue is None:
            self._line(t, "NONE", "NONE", agent.name, "PAUSEALL", reason)
            agent.paused = list(agent.queues)
        else:
            agent.paused = [one_queue]
        agent.pause_all = one_queue is None
        for qi in agent.paused:
            self._line(t, "NONE", self.queues[qi].name, agent.name, "PAUSE", reason)
        agent.pause_token += 1
        agent.unpause_reason = "" if self.rng.random() < 0.5 else "Back"
        self._push(t + duration, UNPAUSE, agent, agent.pause_token)

    def _unpause(self, t: int, agent: _Agent, token: int) -> None:
        if token != agent.pause_token or not agent.paused:
            return
        reason = agent.unpause_reason
        if agent.pause_all:
            self._line(t, "NONE", "NONE", agent.name, "UNPAUSEALL", reason)
        for qi in agent.paused:
            self._line(t, "NONE", self.queues[qi].name, agent.name, "UNPAUSE", reason)
        agent.paused = []
        if agent.state == IDLE:
            self._agent_free(t, agent)

    def _logout(self, t: int, agent: _Agent, session: int) -> None:
        if agent.session != session:
            return
        if agent.state == IDLE:
            self._do_logout(t, agent)
        else:
            agent.pending_logout = True  # after the current call

    def _do_logout(self, t: int, agent: _Agent) -> None:
        agent.state = OFF
        agent.session += 1
        agent.pause_token += 1
        agent.paused = []
        agent.pending_logout = False
        for qi in agent.queues:
            q = self.queues[qi]
            q.logged_in -= 1
            self._line(t, "MANAGER", q.name, agent.iface, "REMOVEMEMBER", "")
        for qi in agent.queues:
            q = self.queues[qi]
            if q.logged_in == 0:  # leavewhenempty: every waiting caller leaves
                for call in list(q.waiting):
                    if call.state == WAITING:
                        self._exit(t, call, "empty")


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def generate(
    path: str | Path,
    *,
    agents: int,
    queues: int,
    days: int | None = None,
    lines: int | None = None,
    start: date = DEFAULT_START,
    seed: int = 1,
    tz: str = "UTC",
) -> GenStats:
    """Write a queue_log of `days` whole days, or of at least `lines` lines, to `path`.

    With `lines`, new callers stop once the target is reached and the calls in progress are
    finished, so the file is a little longer than asked and every call has its outcome.
    Business hours are wall-clock hours in `tz`. The same arguments give the same bytes.
    """
    if (days is None) == (lines is None):
        raise ValueError("give exactly one of days and lines")
    if agents < 1 or queues < 1:
        raise ValueError("agents and queues must be at least 1")
    zone = ZoneInfo(tz)
    with open(path, "w", encoding="utf-8", newline="\n") as sink:
        sim = _Simulation(agents, queues, seed, lines, sink)
        day = start
        while (days is None and not sim.closing) or (days is not None and sim.stats.days < days):
            sim.run_day(_midnight(day, zone), day.weekday())
            day += timedelta(days=1)
        sim.flush()
    return sim.stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--queues", type=int, default=10)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--days", type=int, help="whole days to generate (default 1)")
    size.add_argument("--lines", type=int, help="generate at least this many lines")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START,
                        help="first day, YYYY-MM-DD (default %(default)s)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tz", default="UTC", help="timezone of the business hours")
    parser.add_argument("--out", required=True, help="file to write")
    args = parser.parse_args(argv)
    days = args.days if args.days is not None or args.lines is not None else 1
    began = time.perf_counter()
    stats = generate(args.out, agents=args.agents, queues=args.queues, days=days,
                     lines=args.lines, start=args.start, seed=args.seed, tz=args.tz)  # fmt: skip
    elapsed = time.perf_counter() - began
    print(stats.summary())
    print(f"written to {args.out} in {elapsed:.2f} s ({stats.lines / elapsed:,.0f} lines/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
