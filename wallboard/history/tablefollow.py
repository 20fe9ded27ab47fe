"""Follow Asterisk's realtime queue_log table (`queue_log => mysql,...` / `odbc,...`), exactly
once: the table-side twin of QueueLogFollower, for a wallboard on another machine than the PBX.

Each batch of rows is tracked and stored with the follower's position in one transaction (the
position's form: history/tableposition.py). The database may go away: the follower reconnects
with a capped exponential backoff and says so through `on_status`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from wallboard.config import PbxSettings
from wallboard.history.calls import CallChange
from wallboard.history.ingest import (
    COMPACT_AGE,
    COMPACT_EVERY,
    LEASE_STALE,
    ImportSummary,
    IngestBusy,
    Ingester,
)
from wallboard.history.naming import Naming
from wallboard.history.queuelog import Record, Rejected, parse_db_row
from wallboard.history.tableposition import (
    IdPosition,
    TimePosition,
    digest,
    load_position,
    minus_window,
    newest_of,
    well_formed,
)
from wallboard.history.tablesource import SourceError, TableSource, source_key

log = logging.getLogger(__name__)

GAP_TIMEOUT = 60.0  # seconds an id gap below read rows is waited for before it counts as rolled back
TIME_WINDOW = 30.0  # seconds of rows re-read on each poll of a table without an id column
POLL_BUDGET = 2.0  # seconds of batches one poll reads before it hands back (stop stays prompt)
BACKOFF_FIRST, BACKOFF_MOST = 0.5, 30.0  # reconnect delays: doubling from the first to the most
AHEAD_MOST = 86_400  # a row this far in the future does not move a time-ordered read's boundary
LAG_EVERY = 5.0  # seconds between counts of the rows behind (a table without id)

Parsed = tuple[tuple, Record | Rejected | None]  # (the row's values, parsed; None: not ours)


class QueueLogTableFollower:
    """Reads the queue_log table of one PBX into the store as rows appear (any layout Asterisk
    writes: see tablesource.Layout); same surface as QueueLogFollower."""

    def __init__(
        self,
        ingester: Ingester,
        pbx: PbxSettings,
        naming: Naming,
        timezone: str,
        interval: float = 0.25,
        on_changes: Callable[[list[CallChange]], None] | None = None,
        on_status: Callable[[bool, str], None] | None = None,
        batch_rows: int = 5000,
        gap_timeout: float = GAP_TIMEOUT,
        window: float = TIME_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ingester = ingester
        self.pbx = pbx
        self.naming = naming
        self.tz = ZoneInfo(pbx.queue_log_timezone or timezone)
        self.interval = interval
        self.on_changes = on_changes
        self.on_status = on_status
        self.batch_rows = batch_rows
        self.gap_timeout = gap_timeout
        self.window = window
        self._clock = clock  # wall time: dates id gaps (stored with the position)
        self.key = source_key(pbx)
        self.summary = ImportSummary()
        self.errors = 0
        self.connected = False
        self.last_error = ""
        self._source = TableSource(pbx)
        self._position: IdPosition | TimePosition | None = None
        self._carry: list[CallChange] = []  # changes of batches stored before a poll failed
        self._more = False  # the last poll stopped with rows left to read
        self._behind = 0
        self._caught_up = time.monotonic()
        self._lag_counted = 0.0
        self._quiet: tuple[Any, int] | None = None  # (boundary, rows at or above it) when idle
        self._status: tuple[bool, str] | None = None
        self._stopping = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[Any] | None = None

    # -- the asyncio side ---------------------------------------------------------------------

    def lag(self) -> tuple[int, float]:
        """(rows, seconds) behind the table's end, as the last poll saw it: rows not read yet,
        and how long since a poll last read to the end ((0, 0.0) when there)."""
        if self._behind <= 0:
            return 0, 0.0
        return self._behind, max(0.0, time.monotonic() - self._caught_up)

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"queue_log table follower {self.pbx.name}")

    async def stop(self) -> None:
        """Stop after the batch in progress, close the connection, give the lease up."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            await asyncio.wait({inflight})
            if not inflight.cancelled():
                inflight.exception()  # retrieved: its error was the loop's to handle
        await asyncio.to_thread(self._source.close)
        self.connected = False
        await asyncio.to_thread(self.ingester.release)

    async def _in_thread(self, fn: Callable[[], Any]) -> Any:
        """Run blocking work in a thread; a cancelled caller leaves it to finish (stop waits)."""
        future = asyncio.get_running_loop().run_in_executor(None, fn)
        self._inflight = future
        return await asyncio.shield(future)

    async def _run(self) -> None:
        backoff = BACKOFF_FIRST
        next_compaction = time.monotonic() + COMPACT_EVERY
        while True:
            try:
                await self._in_thread(self.ingester.renew)
                changes = await self._in_thread(self.poll)
            except asyncio.CancelledError:
                raise
            except IngestBusy as busy:
                self.errors += 1
                self.last_error = str(busy)
                log.error("queue_log table follower of %s paused: %s", self.pbx.name, busy)
                await asyncio.sleep(LEASE_STALE / 2)
                continue
            except Exception as exc:  # noqa: BLE001 - counted, logged, retried
                if isinstance(exc, SourceError):
                    self._failed(str(exc))
                    log.warning("queue_log table follower of %s: %s (retrying in %.1f s)",
                                self.pbx.name, exc, backoff)  # fmt: skip
                else:
                    self._failed(f"queue_log table follower: {type(exc).__name__}: {exc}")
                    log.exception("queue_log table follower of %s: error while reading %s",
                                  self.pbx.name, self.pbx.masked_db())  # fmt: skip
                await asyncio.sleep(backoff)
                backoff = min(BACKOFF_MOST, backoff * 2)
                continue
            backoff = BACKOFF_FIRST
            self.last_error = ""
            self._report(True, "")
            if changes and self.on_changes is not None:
                self.on_changes(changes)
            if time.monotonic() >= next_compaction:
                next_compaction = time.monotonic() + COMPACT_EVERY
                await self._in_thread(self.compact)
            await asyncio.sleep(0 if self._more else self.interval)

    def _failed(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        self._report(False, message)

    def _report(self, ok: bool, message: str) -> None:
        """Tell on_status when the state (or the error) changes."""
        if self._status == (ok, message):
            return
        self._status = (ok, message)
        if self.on_status is not None:
            self.on_status(ok, message)

    def compact(self) -> int:
        """Merge the small raw-event blocks written more than COMPACT_AGE ago (as the file
        follower does: a poll that found rows writes a block)."""
        newest = self.ingester.store.high_water()
        if newest is None:
            return 0
        return self.ingester.store.compact_blocks(newest - COMPACT_AGE)

    # -- the worker-thread side ---------------------------------------------------------------

    def poll(self) -> list[CallChange]:
        """Read and store what is new, a batch per transaction, for up to POLL_BUDGET seconds.
        Blocking: run it in a worker thread. SourceError when the table cannot be read."""
        source = self._source
        if not source.connected:
            self.connected = False
            layout = source.connect()
            log.info("queue_log table %s of %s: %s", self.pbx.queue_log_table,
                     self.pbx.masked_db(), layout.describe())  # fmt: skip
            self._position = None
            self._quiet = None
        self.connected = True
        changes, self._carry = self._carry, []
        deadline = time.monotonic() + POLL_BUDGET
        try:
            if self._position is None:
                self._position = self._load_position()
            while True:
                if isinstance(self._position, IdPosition):
                    self._more = self._step_by_id(changes)
                else:
                    self._more = self._step_by_time(changes)
                if not self._more or self._stopping.is_set() or time.monotonic() >= deadline:
                    break
        except BaseException as exc:
            self._carry = changes
            self._position = None  # the store is the truth: what was committed is read back
            if isinstance(exc, SourceError):  # reconnect, and look at the layout again
                source.close()
                self.connected = False
            raise
        return changes

    def _load_position(self) -> IdPosition | TimePosition:
        layout = self._source.layout
        assert layout is not None
        text = self.ingester.store.source_position(self.key)
        position = load_position(text)
        if text and position is None:
            log.warning("queue_log table %s of %s: the stored position is not readable;"
                        " reading the table from its start", self.pbx.queue_log_table,
                        self.pbx.masked_db())  # fmt: skip
        if isinstance(position, IdPosition) and not layout.has_id:
            log.warning("queue_log table %s of %s has no id column any more (recreated);"
                        " reading it from its start", self.pbx.queue_log_table,
                        self.pbx.masked_db())  # fmt: skip
            position = None
        if position is None:  # a time-ordered position stays so, id or not
            position = IdPosition() if layout.has_id else TimePosition()
        return position

    def _start_over(self, why: str) -> bool:
        log.warning("queue_log table %s of %s was truncated or recreated (%s); reading it from"
                    " its start", self.pbx.queue_log_table, self.pbx.masked_db(), why)  # fmt: skip
        layout = self._source.layout
        self._position = IdPosition() if layout is not None and layout.has_id else TimePosition()
        self._quiet = None
        return True

    def _step_by_id(self, changes: list[CallChange]) -> bool:
        """One batch of an id-ordered table: the rows above the highest id read, and those
        that appeared meanwhile in the gaps below it. Whether rows are left to read."""
        assert isinstance(self._position, IdPosition)
        source, position = self._source, self._position.copy()
        limit, anchor, now = self.batch_rows, position.anchor, self._clock()
        at = source.layout.keys.index("time") if source.layout else 1
        if position.settled is None:
            fresh = source.rows_by_id(None, limit)
        elif anchor is None:
            fresh = source.rows_by_id(position.high, limit)
        else:
            fresh = source.rows_by_id(anchor[0], limit + 1, inclusive=True)
            if fresh and fresh[0][0] == anchor[0]:
                if digest(fresh[0], at) != anchor[1]:
                    return self._start_over(f"row {anchor[0]} is not the row read before")
                fresh = fresh[1:]
            else:
                top = source.max_id()
                if top is None or top < anchor[0]:
                    return self._start_over(f"its ids end at {top}, {anchor[0]} was read")
        gaps = position.gaps()
        if gaps is None and position.settled is not None and position.high is not None:
            late = [r for r in source.rows_between_ids(position.settled, position.high)
                    if not position.is_read(r[0])]  # fmt: skip
        else:
            late = source.rows_with_ids(gaps) if gaps else []
        rows = sorted(late, key=lambda r: r[0]) + fresh
        position.add([r[0] for r in rows], now)
        if fresh:
            position.anchor = (fresh[-1][0], digest(fresh[-1], at))
        for low, high in position.expire(now, self.gap_timeout):
            log.info("queue_log table %s: id %s never appeared in %.0f s (a rolled-back insert);"
                     " no longer waited for", self.pbx.queue_log_table,
                     str(low) if low == high else f"{low}-{high}", self.gap_timeout)  # fmt: skip
        items = self._parse(rows)
        changes += self._store(items, position, [r[0] for r in rows])
        more = len(fresh) >= limit
        if more:
            top = source.max_id()
            self._behind = max(0, (top or 0) - (position.high or 0))
        else:
            self._behind, self._caught_up = 0, time.monotonic()
        return more

    def _step_by_time(self, changes: list[CallChange]) -> bool:
        """One batch of a table without id: the rows from the boundary on, in time order,
        less those read before (by content, with multiplicity)."""
        assert isinstance(self._position, TimePosition)
        source, position = self._source, self._position.copy()
        layout = source.layout
        assert layout is not None
        at = layout.keys.index("time")
        used = position.boundary
        if used is not None and self._quiet is not None and self._quiet[0] == used:
            if source.count_by_time(used) == self._quiet[1]:  # nothing came or went
                self._behind, self._caught_up = 0, time.monotonic()
                return False
        limit = sum(position.known.values()) + self.batch_rows
        rows = source.rows_by_time(used, limit)
        more = len(rows) >= limit
        keyed = [(digest(r), r[at]) for r in rows]
        fresh, fetched = position.take(keyed)
        if not more and position.vanished(fetched):
            return self._start_over("rows read before are gone")
        new_rows = [rows[n] for n in fresh]
        items = self._parse(new_rows)
        ahead = self._clock() + AHEAD_MOST
        times = [values[at] for values, parsed in items
                 if type(parsed) is Record and parsed.time <= ahead and well_formed(values[at])]  # fmt: skip
        newest = newest_of(times)
        top = newest_of([t for t in (position.newest, newest) if t is not None])
        boundary = minus_window(top, self.window) if top is not None else None
        numbers = list(range(position.rows + 1, position.rows + 1 + len(new_rows)))
        position.rows += len(new_rows)
        position.advance(keyed, fetched, newest, boundary)
        changes += self._store(items, position, numbers)
        self._quiet = None if more else (used, len(rows))
        if more:
            if not self._behind or time.monotonic() - self._lag_counted >= LAG_EVERY:
                self._lag_counted = time.monotonic()
                self._behind = source.count_by_time(position.newest, inclusive=False)
            else:  # counting is a scan: until the next count, what was read comes off
                self._behind = max(1, self._behind - len(new_rows))
        else:
            self._behind, self._caught_up = 0, time.monotonic()
        return more

    def _parse(self, rows: list[tuple]) -> list[Parsed]:
        """Each row with its record or rejection (None: another server's row)."""
        layout = self._source.layout
        assert layout is not None
        keys, tz, naming = layout.keys, self.tz, self.naming
        server = self.pbx.queue_log_server
        at = keys.index("server") if server and "server" in keys else None
        out: list[Parsed] = []
        for values in rows:
            if at is not None and _text(values[at]) != server:
                out.append((values, None))
                continue
            parsed = parse_db_row(dict(zip(keys, values, strict=True)), tz)
            if type(parsed) is Record and naming.qualified:
                parsed = naming.record(parsed)
            out.append((values, parsed))
        return out

    def _store(
        self, items: list[Parsed], position: IdPosition | TimePosition, numbers: list[int]
    ) -> list[CallChange]:
        """Track and store this server's rows with the new position, in one transaction; the
        position is this follower's only once that committed."""
        records = [p for _, p in items if type(p) is Record]
        rejected = [(n, p) for (_, p), n in zip(items, numbers, strict=True)
                    if isinstance(p, Rejected)]  # fmt: skip
        ours = len(records) + len(rejected)
        if not ours:  # nothing of this server's: the position moves on in memory only
            self._position = position
            return []
        changes = self.ingester.ingest_records(
            records, self.key, (self.key, position.to_text()), self.summary, rejected,
            scope=self.naming.prefix, lines=ours,
        )  # fmt: skip
        self._position = position
        return changes


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def probe_table(pbx: PbxSettings, timezone: str) -> tuple[bool, str]:
    """Connect once (for `wallboard check`): the layout, row count and newest row's time, or
    what went wrong."""
    if not pbx.queue_log_db:
        return False, f"pbx {pbx.name}: no queue_log_db to read"
    source = TableSource(pbx)
    where = f"{pbx.queue_log_table} in {pbx.masked_db()}"
    try:
        layout = source.connect()
        count, newest = source.stats()
    except SourceError as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a probe reports, never raises
        return False, f"cannot read {where}: {type(exc).__name__}: {exc}"
    finally:
        source.close()
    zone = pbx.queue_log_timezone or timezone
    if newest is None:
        when = "no rows yet"
    else:
        parsed = parse_db_row({"time": newest, "event": "PROBE"}, ZoneInfo(zone))
        if isinstance(parsed, Record):
            local = datetime.fromtimestamp(parsed.time, UTC).astimezone(ZoneInfo(zone))
            when = f"newest {local:%Y-%m-%d %H:%M:%S} {zone}"
        else:
            when = f"newest time unreadable: {newest!r}"[:120]
    server = f" of server {pbx.queue_log_server}" if pbx.queue_log_server else ""
    return True, f"{where}: {layout.describe()}; {count:,} rows{server}, {when}"
