"""The live side's wiring: inputs (AMI listeners, history sources' call changes) → state → hub.

A thin async shell around parts app.py builds and hands in: it seeds today's counters from the
history, runs each PBX's AMI listener and history source it is given (so the counters come from
the same facts as the reports), ticks the state once a second for the midnight rollover, and
hands every non-empty merge patch to its subscribers (the websocket hub first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from wallboard.config import Settings
from wallboard.history.callmodel import today_bounds
from wallboard.history.calls import CallChange, Interval, QueueCall, RingMiss
from wallboard.history.registry import Registry
from wallboard.live.alerts import Transition
from wallboard.live.events import SourceStatus
from wallboard.live.hub import Hub
from wallboard.live.state import CallCenterState

log = logging.getLogger(__name__)

Patch = dict[str, Any]
REGISTRY_REFRESH = 10  # ticks (seconds) between re-reads of the agent registry


class History(Protocol):
    """What the live side needs of the history store (wallboard.history.store.Store)."""

    def calls_between(self, start: int, end: int) -> list[QueueCall]: ...

    def misses_between(self, start: int, end: int) -> list[RingMiss]: ...

    def pauses_between(self, start: int, end: int) -> list[Interval]: ...

    def registry(self) -> Registry: ...

    def learn_names(
        self, pairs: Iterable[tuple[str, str]], source: str,
        membership: Mapping[str, str] | None = None,
    ) -> set[str]: ...  # fmt: skip


class Runner(Protocol):
    """An input with a background task: an AMI listener, a history source."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LiveService:
    """Owns the live state and drives its inputs; `subscribe(fn)` to receive every patch.

    Each PBX's listener (fed `publish`) and history source (fed `apply_changes`) are attached
    by the composition root once built (app.build_live)."""

    def __init__(
        self,
        settings: Settings,
        store: History,
        state: CallCenterState,
        hub: Hub,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.state = state
        self._subscribers: list[Callable[[Patch], None]] = []
        self.hub = hub
        self.subscribe(self.hub.publish)
        self.listeners: dict[str, Any] = {}  # PBX name -> AMI listener
        self.sources: dict[str, Any] = {}  # PBX name -> history source (file, table, AMI)
        self._ticker: asyncio.Task[None] | None = None
        # The agent registry (history/registry.py) as last read; AMI teaches it names.
        self.registry = store.registry()
        self._names_seen: set[tuple[str, str, str, str]] = set()
        self._names_new: set[tuple[str, str, str, str]] = set()
        self._learning: asyncio.Task[None] | None = None
        self.subscribe(self._notice_members)
        # Where the alert rules' fires and clears go (app.py sets the notifier's submit).
        self.on_alerts: Callable[[list[Transition]], None] | None = None

    def agents_of(self, agents: Iterable[str]) -> frozenset[str]:
        """Every name the given agents are logged under (an agent-restricted view's set)."""
        return frozenset(self.registry.expand(agents)) if agents else frozenset()

    def _notice_members(self, patch: Patch) -> None:
        """Members carry their interface and member name together: new pairs go to the
        registry (in the background), so history logged under either name is one agent's."""
        queues = patch.get("queues")
        if not isinstance(queues, dict):
            return
        for queue, queue_patch in queues.items():
            members = queue_patch.get("members") if isinstance(queue_patch, dict) else None
            if not isinstance(members, dict):
                continue
            held = self.state.members(queue)
            for interface, member_patch in members.items():
                member = held.get(interface) if member_patch is not None else None
                if member is None:
                    continue
                key = (interface, member.get("name") or interface,
                       member.get("state_interface") or interface, member.get("membership", ""))  # fmt: skip
                if key not in self._names_seen:
                    self._names_seen.add(key)
                    self._names_new.add(key)
        if self._names_new and (self._learning is None or self._learning.done()):
            with contextlib.suppress(RuntimeError):  # no running loop: the next patch will do
                self._learning = asyncio.get_running_loop().create_task(self._learn())

    async def _learn(self) -> None:
        await asyncio.sleep(0.5)  # a QueueStatus brings every member at once: one write
        new, self._names_new = self._names_new, set()
        pairs = set()
        kinds: dict[str, set[str]] = {}
        for interface, name, state_interface, membership in new:
            pairs.add((interface, name))
            pairs.add((state_interface, name))
            if membership:
                kinds.setdefault(name, set()).add(membership)
        membership = {
            name: "static" if found == {"static"} else "dynamic" for name, found in kinds.items()
        }
        try:
            await asyncio.to_thread(self.store.learn_names, sorted(pairs), "ami", membership)
            self.registry = await asyncio.to_thread(self.store.registry)
        except Exception:
            log.exception("could not record agent names learned from AMI")
            self._names_seen -= new  # try them again with the next change

    def attach(
        self, listeners: Mapping[str, Runner] | None = None,
        sources: Mapping[str, Runner] | None = None,
    ) -> None:  # fmt: skip
        """The inputs this service starts and stops, per PBX (built around its `publish` and
        `apply_changes`)."""
        self.listeners = dict(listeners or {})
        self.sources = dict(sources or {})

    @property
    def listener(self) -> Any:
        """The first PBX's AMI listener (None without one)."""
        return next(iter(self.listeners.values()), None)

    @property
    def follower(self) -> Any:
        """The first PBX's history source (None without one)."""
        return next(iter(self.sources.values()), None)

    def source_status(self, pbx: str) -> Callable[[bool, str], None]:
        """A callback for a history source to say it reads (True) or cannot (False, why)."""

        def report(ok: bool, error: str = "") -> None:
            self.publish(self.state.apply(SourceStatus(pbx, ok, error), self.clock()))

        return report

    def subscribe(self, callback: Callable[[Patch], None]) -> None:
        self._subscribers.append(callback)

    def publish(self, patch: Patch) -> None:
        """Hand a patch to every subscriber; one failing subscriber does not stop the others.
        The alert rules' fires and clears it brought go to `on_alerts` (the notifier)."""
        if not patch:
            return
        for callback in self._subscribers:
            try:
                callback(patch)
            except Exception:
                log.exception("live patch subscriber failed")
        transitions = self.state.take_transitions()
        for t in transitions:
            log.info("alert %r %s: %s (value %g)", t.rule.name, t.kind, t.subject, t.value)
        if transitions and self.on_alerts is not None:
            try:
                self.on_alerts(transitions)
            except Exception:
                log.exception("alert notifier failed to take %d transition(s)", len(transitions))

    def apply_changes(self, changes: Iterable[CallChange]) -> None:
        """Queue calls changed in the history store: update today's counters."""
        now = self.clock()
        for change in changes:
            self.publish(self.state.apply(change, now))

    async def seed(self) -> None:
        """Today's counters and agent figures from the store, so a restart at noon loses
        nothing."""
        now = self.clock()
        start, end = today_bounds(now, ZoneInfo(self.settings.timezone))
        def today() -> tuple[list[QueueCall], list[RingMiss], list[Interval]]:
            store = self.store
            return (store.calls_between(start, end), store.misses_between(start, end),
                    store.pauses_between(start, end))  # fmt: skip

        calls, misses, pauses = await asyncio.to_thread(today)
        # on the loop: the state is not thread-safe
        self.publish(self.state.seed(calls, now, misses, pauses))

    async def start(self) -> None:
        if not self.sources:
            log.warning(
                "no PBX configured (ami_host, queue_log or [[pbx]] tables): the board and today's"
                " counters stay at what the store already holds"
            )
        await self.hub.start()
        await self.seed()
        for source in self.sources.values():
            await source.start()
        for listener in self.listeners.values():
            await listener.start()
        self._ticker = asyncio.create_task(self._tick(), name="live state tick")

    async def stop(self) -> None:
        if self._learning is not None:
            self._learning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._learning
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            self._ticker = None
        for listener in self.listeners.values():
            await listener.stop()
        for source in self.sources.values():
            await source.stop()
        await self.hub.stop()

    async def _tick(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            ticks += 1
            try:
                self.publish(self.state.tick(self.clock()))
                if ticks % REGISTRY_REFRESH == 0:  # aliases added with `wallboard agents alias`
                    self.registry = await asyncio.to_thread(self.store.registry)
            except Exception:
                log.exception("live state tick failed")
