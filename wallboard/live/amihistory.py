"""History from AMI alone, the shell: the recorder's queue_log lines go to the call tracker and
store (off the event loop, in order), and the link's outages are recorded as gaps.

A PBX with no queue_log source gets one of these beside its AMI listener (app.build_live). The
listener hands it every typed event with its time (`event`), each applied QueueStatus
(`synced`) and each lost link (`lost`); once per `interval` the buffered items are written in a
worker thread and the call changes handed to the live state, exactly as the file follower does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from wallboard.history.calls import CallChange, Interval, QueueCall
from wallboard.history.naming import Naming
from wallboard.live.recorder import AmiRecorder, reconcile

log = logging.getLogger(__name__)

COVER_EVERY = 10.0  # seconds between coverage heartbeats while the link is synced


class Tracker(Protocol):
    """What this needs of the history's Ingester (wallboard.history.ingest)."""

    def ingest_text(self, text: str, source: str, fingerprint: str | None, end_position: int,
                    first_line_no: int, high_water: int | None, seen: Counter[tuple],
                    summary: Any, clean: bool = False,
                    naming: Naming | None = None) -> list[CallChange]: ...  # fmt: skip

    def open_calls(self, scope: str = "") -> list[QueueCall]: ...

    def open_intervals(self, scope: str = "") -> list[Interval]: ...

    def close_stale(self, callids: set[str], when: int, source: str) -> list[CallChange]: ...

    def renew(self, force: bool = False) -> None: ...

    def release(self) -> None: ...


class GapLog(Protocol):
    """What this needs of the history store: coverage heartbeats and gaps."""

    def history_covered(self, pbx: str) -> int | None: ...

    def cover_history(self, pbx: str, until: int) -> None: ...

    def open_gap(self, pbx: str, start: int, reason: str) -> None: ...

    def close_gap(self, pbx: str, end: int, missed_since: int | None = None) -> None: ...


class AmiHistory:
    """One PBX's AMI-derived history: recorder, write-behind buffer, gaps."""

    def __init__(
        self,
        tracker: Tracker,
        gaps: GapLog,
        naming: Naming,
        summary: Any,
        on_changes: Callable[[list[CallChange]], None] | None = None,
        interval: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tracker = tracker
        self.gaps = gaps
        self.naming = naming
        self.summary = summary  # an ImportSummary: lines, records, calls
        self.on_changes = on_changes
        self.interval = interval
        self.clock = clock
        self.recorder = AmiRecorder()
        self.source = f"ami:{naming.pbx}"
        self.errors = 0
        self._items: list[tuple[Any, ...]] = []
        self._oldest = 0.0
        self._synced = False
        self._missed_since: int | None = None
        self._started = False
        self._covered = 0.0
        self._task: asyncio.Task[None] | None = None

    # -- fed by the AMI listener, on the event loop --------------------------------------------

    def event(self, event: object, when: float) -> None:
        """A typed AMI event of this PBX (its own names), at `when`."""
        lines = self.recorder.feed(event, when)
        if lines:
            self._add(("lines", lines))

    def synced(self, items: list[object], now: float) -> None:
        """A QueueStatus (its items, this PBX's own names) was applied at `now`."""
        self.recorder.synced(items)
        self._synced = True
        self._add(("sync", items, now))

    def lost(self, now: float, error: str) -> None:
        """The link went down: from now on history misses what happens (a gap)."""
        lines = self.recorder.link_lost()
        if lines:
            self._add(("lines", lines))
        if self._synced:
            self._synced = False
            self._add(("down", now, error or "AMI link lost"))

    def lag(self) -> tuple[int, float]:
        """(items, seconds) buffered and not yet written."""
        if not self._items:
            return 0, 0.0
        return len(self._items), max(0.0, time.monotonic() - self._oldest)

    def _add(self, item: tuple[Any, ...]) -> None:
        if not self._items:
            self._oldest = time.monotonic()
        self._items.append(item)

    # -- the writer -------------------------------------------------------------------------

    async def start(self) -> None:
        self._missed_since = await asyncio.to_thread(self.gaps.history_covered, self.naming.pbx)
        self._task = asyncio.create_task(self._run(), name=f"AMI history {self.naming.pbx}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.lost(self.clock(), "wallboard stopped")
        with contextlib.suppress(Exception):
            await self._flush()
        await asyncio.to_thread(self.tracker.release)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                lines = self.recorder.tick(self.clock())
                if lines:
                    self._add(("lines", lines))
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                log.exception("AMI history of %s: could not write", self.naming.pbx)

    async def _flush(self) -> None:
        items, self._items = self._items, []
        cover = self._synced and time.monotonic() - self._covered >= COVER_EVERY
        if not items and not cover:
            return
        try:
            changes = await asyncio.to_thread(self._write, items, cover)
        except BaseException:
            self._items = items + self._items  # not written: try again next time
            raise
        if changes and self.on_changes is not None:
            self.on_changes(changes)

    def _write(self, items: Iterable[tuple[Any, ...]], cover: bool) -> list[CallChange]:
        """Write the items in order (a worker thread); the call changes they made."""
        self.tracker.renew()
        changes: list[CallChange] = []
        lines: list[str] = []
        for item in items:
            if item[0] == "lines":
                lines += item[1]
                continue
            changes += self._lines(lines)
            lines = []
            if item[0] == "sync":
                changes += self._resync(item[1], item[2])
            else:
                self.gaps.open_gap(self.naming.pbx, int(item[1]), item[2])
        changes += self._lines(lines)
        if cover:
            self.gaps.cover_history(self.naming.pbx, int(self.clock()))
            self._covered = time.monotonic()
        return changes

    def _lines(self, lines: list[str]) -> list[CallChange]:
        if not lines:
            return []
        return self.tracker.ingest_text("\n".join(lines) + "\n", self.source, None, 0, 0, None,
                                        Counter(), self.summary, naming=self.naming)  # fmt: skip

    def _resync(self, items: list[object], now: float) -> list[CallChange]:
        """Reconcile the tracker with a QueueStatus; close the gap the link's outage made."""
        naming = self.naming
        calls = [self._local(c) for c in self.tracker.open_calls(naming.prefix)]
        intervals = [self._local(i) for i in self.tracker.open_intervals(naming.prefix)]
        lines, stale = reconcile(items, now, calls, intervals)
        changes = self._lines(lines)
        if stale:
            qualified = {naming.name(callid) for callid in stale}
            changes += self.tracker.close_stale(qualified, int(now), self.source)
        missed = self._missed_since if not self._started else None
        self._started = True
        self.gaps.close_gap(naming.pbx, int(now), missed)
        self._covered = time.monotonic()
        return changes

    def _local(self, item: Any) -> Any:
        """A tracker call or interval with this PBX's own names."""
        local = self.naming.local
        if isinstance(item, QueueCall):
            return dataclasses.replace(item, callid=local(item.callid), queue=local(item.queue),
                                       agent=local(item.agent) if item.agent else item.agent)  # fmt: skip
        return dataclasses.replace(item, queue=local(item.queue), agent=local(item.agent))
