"""queue_log ingest: bulk import and follow mode (tail with rotation), exactly once.

Files are known by a fingerprint of their first line, so a renamed (rotated) file resumes where it
was left and a re-import adds nothing; a file with an unknown fingerprint whose lines reach back
into what is stored is checked line by line. The file position is committed in the same
transaction as the rows it produced.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import gc
import hashlib
import logging
import os
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wallboard.history.calls import CallChange, CallTracker, Interval, IntervalChange, QueueCall
from wallboard.history.naming import Naming
from wallboard.history.queuelog import (
    MAX_LINE_BYTES,
    Record,
    Rejected,
    clean_lines,
    format_line,
    parse_clean_line,
    parse_line,
)
from wallboard.history.store import Batch, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK_BYTES = 1 << 20
_BAD_UTF8 = "\x00bad-utf8"
FINGERPRINT_BYTES = 4096
COMPACT_EVERY = 600.0  # seconds between merges of follow mode's small raw-event blocks
COMPACT_AGE = 3600  # merge blocks whose events are this much older than the newest
INGEST_LEASE = "queue_log"  # the lease an Ingester holds (one tracker state per database)
LEASE_RENEW = 10.0  # seconds between renewals of the lease
LEASE_STALE = 60.0  # a holder silent this long (a crashed process) loses it


@dataclass
class ImportSummary:
    """What an import did: lines read, records stored, calls touched, lines rejected by reason."""

    files: int = 0
    lines: int = 0
    records: int = 0
    duplicates: int = 0
    calls: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, other: ImportSummary) -> None:
        self.files += other.files
        self.lines += other.lines
        self.records += other.records
        self.duplicates += other.duplicates
        self.calls += other.calls
        self.rejected.update(other.rejected)


def _gc_paused(method: Callable[..., T]) -> Callable[..., T]:
    """Run without cyclic GC passes: a batch makes many short-lived, acyclic objects."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> T:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return run


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    """Run holding the Ingester's lock: its sources call it from several worker threads."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return run


def fingerprint_of(head: bytes) -> str | None:
    """The identity of a queue_log file: a hash of its first complete line (None if none yet)."""
    end = head.find(b"\n")
    if end < 0:
        return None
    return hashlib.sha1(head[: end + 1]).hexdigest()


class IngestBusy(Exception):
    """Another process ingests into this database; the message says which."""


def process_owner(what: str = "") -> str:
    """How this process names itself as an ingest lease holder."""
    label = f"{what} " if what else ""
    return f"{label}(pid {os.getpid()} on {socket.gethostname()})"


class Ingester:
    """Turns queue_log lines (or records) into store batches, keeping the call tracker across
    batches.

    The call tracker's state (open calls, sessions, call ids) lives in one process at a time:
    an Ingester holds the store's ingest lease while it exists, renewing it as it works, and
    refuses to start (IngestBusy) while another process holds it. Every history source of the
    process (files, tables, AMI of several PBXs) feeds the same Ingester, one batch at a time.
    """

    def __init__(
        self,
        store: Store,
        stale_timeout: int = 4 * 3600,
        keep_changes: bool = False,
        fail_after_commit: Callable[[int], None] | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.stale_timeout = stale_timeout
        self.keep_changes = keep_changes
        self._fail_after_commit = fail_after_commit  # test hook: simulates a crash
        self.owner = owner or process_owner()
        self._renewed = 0.0
        self._lock = threading.RLock()  # sources feed it from several worker threads
        self.renew()
        calls, intervals, dids = store.load_open()
        self.tracker = CallTracker(
            calls, intervals, dids, keep_before=keep_changes, next_id=store.next_call_id()
        )
        self._stored_open = frozenset(c.id for c in calls)  # open calls that have a row already

    def renew(self, force: bool = False) -> None:
        """Keep the ingest lease (IngestBusy when another process took it meanwhile)."""
        now = time.monotonic()
        if not force and now - self._renewed < LEASE_RENEW:
            return
        with self._lock:
            holder = self.store.take_lease(INGEST_LEASE, self.owner, time.time(), LEASE_STALE)
        if holder is not None:
            raise IngestBusy(
                f"{holder} is ingesting queue_log into this database; only one process may"
                " (stop it first, or let it follow the file)"
            )
        self._renewed = now

    def release(self) -> None:
        """Give the ingest lease up (at a clean stop)."""
        with self._lock:
            self.store.release_lease(INGEST_LEASE, self.owner)
            self._renewed = 0.0

    def ingest_records(
        self,
        records: list[Record],
        source: str,
        cursor: tuple[str, str] | None,
        summary: ImportSummary,
        rejected: list[tuple[int, Rejected]] | None = None,
        scope: str = "",
        lines: int | None = None,
    ) -> list[CallChange]:
        """Track and store records read from a source other than a file (the realtime table,
        AMI), in order; `cursor` (source key, position) is committed with them."""
        with self._lock:
            self.renew()
            batch = Batch(source=source, cursor=cursor, records=records)
            for position, item in rejected or ():
                batch.rejected.append((position, item))
                summary.rejected[item.reason] += 1
            return self._track_and_write(batch, summary, scope, len(records) if lines is None else lines)

    def _track_and_write(
        self, batch: Batch, summary: ImportSummary, scope: str, lines: int
    ) -> list[CallChange]:
        """Apply the batch's records to the tracker, write it all in one transaction."""
        tracker = self.tracker
        created = tracker.created
        records = batch.records
        deque(map(tracker.apply, records), maxlen=0)  # apply each, in order, at C speed
        if records:
            tracker.expire(records[-1].time, self.stale_timeout, scope)
        calls, changes, intervals = tracker.take()
        batch.calls = calls
        batch.intervals = intervals
        batch.misses = tracker.take_misses()
        batch.stored_open = self._stored_open
        batch.lines = lines
        self.store.write_batch(batch, int(time.time()))
        self._stored_open = batch.stored_open
        if self._fail_after_commit is not None:
            self._fail_after_commit(batch.position)
        summary.lines += lines
        summary.records += len(records)
        summary.calls += tracker.created - created
        if self.keep_changes:  # for the live side: rings missed and pauses, beside the calls
            live: list[Any] = [*changes, *batch.misses]
            live += [IntervalChange(copy.copy(i)) for i in intervals]
            return live
        return changes

    def close_stale(self, callids: set[str], when: int, source: str) -> list[CallChange]:
        """Close open calls whose outcome was missed (AMI was down) as STALE; one batch."""
        with self._lock:
            self.tracker.close_calls(callids, when)
            return self._track_and_write(Batch(source=source), ImportSummary(), "", 0)

    def open_calls(self, scope: str = "") -> list[QueueCall]:
        """Copies of the open calls (waiting or talking) whose queue starts with `scope`."""
        with self._lock:
            return [copy.copy(c) for c in self.tracker.calls.values() if c.queue.startswith(scope)]

    def open_intervals(self, scope: str = "") -> list[Interval]:
        """Copies of the open sessions and pauses whose queue starts with `scope`."""
        with self._lock:
            return [
                copy.copy(i) for i in self.tracker.intervals.values() if i.queue.startswith(scope)
            ]

    @_gc_paused
    def ingest_text(
        self,
        text: str,
        source: str,
        fingerprint: str | None,
        end_position: int,
        first_line_no: int,
        high_water: int | None,
        seen: Counter[tuple],
        summary: ImportSummary,
        clean: bool = False,
        naming: Naming | None = None,
    ) -> list[CallChange]:
        """Parse, track and store complete lines (text ends with a newline); one transaction.

        `clean`: the caller checked the block has no control characters (`clean_lines`);
        `naming`: the PBX the file is of, when names are qualified.
        """
        with self._lock:
            self.renew()
            batch = Batch(source=source, fingerprint=fingerprint, position=end_position)
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            if "\r" in text:
                lines = [line.rstrip("\r") for line in lines]
            if clean and lines and max(map(len, lines)) <= MAX_LINE_BYTES:
                parsed = list(map(parse_clean_line, lines))
            else:
                parsed = list(map(parse_line, lines))
            if _BAD_UTF8 in text:
                for n, line in enumerate(lines):
                    if line.startswith(_BAD_UTF8):
                        detail = line[len(_BAD_UTF8) :]
                        parsed[n] = Rejected("bad_utf8", "line is not valid UTF-8", detail)
            good = [p for p in parsed if type(p) is Record]
            if len(good) == len(parsed):
                texts = lines
            else:  # set the rejected lines aside, with their line numbers
                texts = []
                good = []
                for n, (line, item) in enumerate(zip(lines, parsed, strict=True)):
                    if type(item) is Record:
                        good.append(item)
                        texts.append(line)
                    elif item.reason != "empty" or line.strip():
                        batch.rejected.append((first_line_no + n, item))
                        summary.rejected[item.reason] += 1
            if naming is not None and naming.qualified:  # stored as qualified lines
                good = [naming.record(r) for r in good]
                texts = [format_line(r) for r in good]
            if high_water is not None:  # a file new to the store may repeat what it holds
                kept = [
                    (r, line)
                    for r, line in zip(good, texts, strict=True)
                    if r.time > high_water or not self._duplicate(r.time, line, seen)
                ]
                summary.duplicates += len(good) - len(kept)
                good = [r for r, _ in kept]
                texts = [line for _, line in kept]
            batch.records = good
            batch.texts = texts
            scope = naming.prefix if naming is not None else ""
            return self._track_and_write(batch, summary, scope, len(lines))

    def _duplicate(self, when: int, line: str, seen: Counter[tuple]) -> bool:
        """Whether this line is already stored (as often as it has been seen in this read)."""
        key = (when, line)
        seen[key] += 1
        stored = 0
        for block in self.store.blocks_covering(when):
            counts = self._stored_lines.get(block)
            if counts is None:
                counts = self._stored_lines[block] = Counter(self.store.block_lines(block[0]))
            stored += counts[line]
        return seen[key] <= stored

    @_locked
    def read_from(
        self,
        handle: object,
        source: str,
        fingerprint: str | None,
        position: int,
        summary: ImportSummary,
        final: bool,
        progress: Callable[[int], None] | None = None,
        naming: Naming | None = None,
    ) -> tuple[int, list[CallChange]]:
        """Read complete lines from `position` to EOF of an open binary file; return the new position.

        With `final`, a last line without a newline is taken too (a closed file).
        """
        known = fingerprint is not None and self.store.file_position(fingerprint) is not None
        high_water = None if known else self.store.high_water()  # new file: check its overlap
        self._stored_lines: dict[tuple[int, int], Counter[str]] = {}  # (id, count) -> lines
        seen: Counter[tuple] = Counter()
        changes: list[CallChange] = []
        line_no = self._lines_before(fingerprint) + 1
        handle.seek(position)  # type: ignore[attr-defined]
        pending = b""
        while True:
            chunk = handle.read(CHUNK_BYTES)  # type: ignore[attr-defined]
            if not chunk:
                break
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES * 4:  # a runaway line with no newline
                    cut = len(data)
                    data += b"\n"
                else:
                    pending = data
                    continue
            complete, pending = data[:cut], data[cut:]
            position += len(complete) if complete.endswith(b"\n") else cut
            text, count = _decode(complete)
            changes += self.ingest_text(
                text, source, fingerprint, position, line_no, high_water, seen, summary,
                clean=clean_lines(complete) and _BAD_UTF8 not in text, naming=naming,
            )
            line_no += count
            if progress is not None:
                progress(position)
        if final and pending:
            position += len(pending)
            text, count = _decode(pending + b"\n")
            changes += self.ingest_text(
                text, source, fingerprint, position, line_no, high_water, seen, summary,
                naming=naming,
            )
        return position, changes

    def _lines_before(self, fingerprint: str | None) -> int:
        if fingerprint is None:
            return 0
        row = self.store.query_one(
            "SELECT lines FROM ingest_files WHERE fingerprint = ?", (fingerprint,)
        )
        return row[0] if row else 0


def _decode(raw: bytes) -> tuple[str, int]:
    """Decode a block of complete lines; undecodable lines become markers the parser rejects."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        parts = []
        for line in raw.split(b"\n"):
            try:
                parts.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                parts.append(_BAD_UTF8 + line.decode("utf-8", "replace")[:180])
        text = "\n".join(parts)
    return text, text.count("\n")


def import_files(
    store: Store,
    paths: Iterable[str | os.PathLike[str]],
    progress: Callable[[str, int, int], None] | None = None,
    ingester: Ingester | None = None,
    naming: Naming | None = None,
) -> ImportSummary:
    """Import whole files (bulk load); a file seen before resumes where it was left.
    `naming`: the PBX the files are of, when there are several."""
    own = ingester is None  # made here: its lease is given back when the files are in
    ingester = ingester or Ingester(store)
    total = ImportSummary()
    try:
        for path in paths:
            name = os.fspath(path)
            summary = ImportSummary(files=1)
            with open(name, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                head = handle.read(FINGERPRINT_BYTES)
                fingerprint = fingerprint_of(head) or fingerprint_of(head + b"\n")
                start = store.file_position(fingerprint) if fingerprint else None
                report = None if progress is None else (lambda pos, n=name, s=size: progress(n, pos, s))
                ingester.read_from(handle, name, fingerprint, start or 0, summary, final=True,
                                   progress=report, naming=naming)  # fmt: skip
            log.info(
                "imported %s: %d lines, %d records, %d duplicates, %d rejected",
                name, summary.lines, summary.records, summary.duplicates, sum(summary.rejected.values()),
            )  # fmt: skip
            total.add(summary)
    finally:
        if own:
            ingester.release()
    return total


class QueueLogFollower:
    """Tails a live queue_log: appended lines within `interval`, rotation and copy-truncate."""

    def __init__(
        self,
        ingester: Ingester,
        path: str,
        interval: float = 0.25,
        on_changes: Callable[[list[CallChange]], None] | None = None,
        naming: Naming | None = None,
    ) -> None:
        self.ingester = ingester
        self.naming = naming
        self.path = path
        self.interval = interval
        self.on_changes = on_changes
        self.summary = ImportSummary()
        self._handle: object | None = None
        self._inode: int | None = None
        self._fingerprint: str | None = None
        self._position = 0
        self._task: asyncio.Task[None] | None = None
        self.errors = 0
        self._caught_up = time.monotonic()  # when a poll last read to the file's end

    def lag(self) -> tuple[int, float]:
        """(bytes, seconds) the follower is behind the end of the file: what is not read yet,
        and how long since it last was at the end (0, 0.0 when it is there)."""
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return 0, 0.0
        behind = max(0, size - self._position) if self._handle is not None else size
        if behind == 0:
            return 0, 0.0
        return behind, max(0.0, time.monotonic() - self._caught_up)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="queue_log follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._close()
        await asyncio.to_thread(self.ingester.release)

    async def _run(self) -> None:
        next_compaction = time.monotonic() + COMPACT_EVERY
        while True:
            try:
                await asyncio.to_thread(self.ingester.renew)
                changes = await asyncio.to_thread(self.poll)
                if changes and self.on_changes is not None:
                    self.on_changes(changes)
                if time.monotonic() >= next_compaction:
                    next_compaction = time.monotonic() + COMPACT_EVERY
                    await asyncio.to_thread(self.compact)
            except asyncio.CancelledError:
                raise
            except IngestBusy as busy:
                self.errors += 1
                log.error("queue_log follower paused: %s", busy)
                await asyncio.sleep(LEASE_STALE / 2)
            except Exception:
                self.errors += 1
                log.exception("queue_log follower: error while reading %s", self.path)
                self._close()
            await asyncio.sleep(self.interval)

    def compact(self) -> int:
        """Merge the small raw-event blocks this follower wrote more than COMPACT_AGE ago."""
        newest = self.ingester.store.high_water()
        if newest is None:
            return 0
        merged = self.ingester.store.compact_blocks(newest - COMPACT_AGE)
        if merged:
            log.info("queue_log: merged %d small raw-event blocks", merged)
        return merged

    def poll(self) -> list[CallChange]:
        """Read whatever is new; handle rotation and truncation. Blocking: run it in a thread."""
        changes: list[CallChange] = []
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if self._handle is not None:
            fst = os.fstat(self._handle.fileno())  # type: ignore[attr-defined]
            rotated = st is None or st.st_ino != self._inode
            if rotated:  # drain the old file to its end, then move on to the new one
                changes += self._read(final=True)
                self._close()
            elif fst.st_size < self._position or self._head_changed():
                log.warning("queue_log %s was truncated; reading it from the start", self.path)
                self._close()
            else:
                changes += self._read(final=False)
                self._note_position()
                return changes
        if st is None:
            self._caught_up = time.monotonic()
            return changes
        if not self._open():
            return changes
        changes += self._read(final=False)
        self._note_position()
        return changes

    def _note_position(self) -> None:
        if self._handle is not None:
            size = os.fstat(self._handle.fileno()).st_size  # type: ignore[attr-defined]
            if self._position >= size:
                self._caught_up = time.monotonic()

    def _open(self) -> bool:
        handle = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
        head = handle.read(FINGERPRINT_BYTES)
        fingerprint = fingerprint_of(head)
        if fingerprint is None:  # no complete first line yet
            handle.close()
            return False
        self._handle = handle
        self._inode = os.fstat(handle.fileno()).st_ino
        self._fingerprint = fingerprint
        self._position = self.ingester.store.file_position(fingerprint) or 0
        return True

    def _head_changed(self) -> bool:
        handle = self._handle
        head = os.pread(handle.fileno(), FINGERPRINT_BYTES, 0)  # type: ignore[attr-defined]
        return fingerprint_of(head) != self._fingerprint

    def _read(self, final: bool) -> list[CallChange]:
        self._position, changes = self.ingester.read_from(
            self._handle, self.path, self._fingerprint, self._position, self.summary, final,
            naming=self.naming,
        )
        return changes

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()  # type: ignore[attr-defined]
        self._handle = None
        self._inode = None
        self._fingerprint = None
        self._position = 0
