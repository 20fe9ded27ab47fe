"""The history store: schema, migrations, batched writes and reads (SQLite or PostgreSQL).

SQL is written once with `?` placeholders and portable types; the driver is the only difference
between backends (`sqlite:` path by default, `postgresql://...` selects psycopg).
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

from wallboard.history import aliases, coverage
from wallboard.history.calls import Interval, QueueCall, RingMiss
from wallboard.history.database import Database, DatabaseError, Transaction
from wallboard.history.naming import pbx_of
from wallboard.history.queuelog import Record, Rejected, format_line
from wallboard.history.registry import Registry
from wallboard.history.summary import MIGRATION as SUMMARY_MIGRATION
from wallboard.history.summary import (
    PAGE_INDEX_MIGRATION,
    UNANSWERED_INDEX_MIGRATION,
    UPSERT_AGENT_DAYS,
    UPSERT_AGENT_HOURS,
    UPSERT_QUEUE_HOURS,
    UPSERT_VALUES,
    VALUE_MIGRATION,
    WIDE_MIGRATION,
    day_rows,
    summary_rows,
    value_rows,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# Each migration is a list of statements ({id} and {int} filled in per backend) or of steps
# `fn(tx)` for what plain SQL cannot say portably.
MIGRATIONS: list[list[Any]] = [
    [
        # The raw events, verbatim: one row per ingest batch holding its lines, so storing a
        # line costs no row of its own; `first_seq` numbers the lines (the events' ids).
        """CREATE TABLE queue_log_blocks (
            id {id}, first_time {int} NOT NULL, last_time {int} NOT NULL,
            first_seq {int} NOT NULL, count {int} NOT NULL, lines TEXT NOT NULL)""",
        "CREATE INDEX queue_log_blocks_time ON queue_log_blocks (last_time, first_time)",
        """CREATE TABLE queue_calls (
            id {id}, callid TEXT NOT NULL, queue TEXT NOT NULL, enter_time {int} NOT NULL,
            connect_time {int}, end_time {int}, outcome TEXT, agent TEXT, wait {int},
            ring {int}, talk {int}, position {int}, origpos {int},
            callerid TEXT NOT NULL DEFAULT '', callerid_name TEXT NOT NULL DEFAULT '',
            url TEXT NOT NULL DEFAULT '', did TEXT NOT NULL DEFAULT '',
            target TEXT NOT NULL DEFAULT '', member_uid TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX queue_calls_enter ON queue_calls (enter_time)",
        "CREATE INDEX queue_calls_callid ON queue_calls (callid)",
        """CREATE TABLE agent_intervals (
            id {id}, kind TEXT NOT NULL, agent TEXT NOT NULL, queue TEXT NOT NULL,
            start_time {int} NOT NULL, end_time {int}, reason TEXT NOT NULL DEFAULT '',
            UNIQUE (kind, agent, queue, start_time))""",
        "CREATE INDEX agent_intervals_start ON agent_intervals (start_time)",
        "CREATE INDEX agent_intervals_end ON agent_intervals (end_time)",
        "CREATE TABLE queues (id {id}, name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL DEFAULT '')",
        "CREATE TABLE agents (id {id}, name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL DEFAULT '')",
        """CREATE TABLE ingest_files (
            fingerprint TEXT PRIMARY KEY, path TEXT NOT NULL, position {int} NOT NULL,
            lines {int} NOT NULL DEFAULT 0, updated {int} NOT NULL DEFAULT 0)""",
        """CREATE TABLE rejected_lines (
            id {id}, source TEXT NOT NULL, position {int} NOT NULL, reason TEXT NOT NULL,
            detail TEXT NOT NULL, raw TEXT NOT NULL)""",
    ],
    [
        """CREATE TABLE users (
            id {id}, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
            admin {int} NOT NULL DEFAULT 0, queues TEXT NOT NULL DEFAULT '',
            agents TEXT NOT NULL DEFAULT '', created {int} NOT NULL DEFAULT 0)""",
        """CREATE TABLE displays (
            id {id}, name TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL UNIQUE,
            user_name TEXT NOT NULL, queues TEXT NOT NULL DEFAULT '',
            created {int} NOT NULL DEFAULT 0, revoked {int} NOT NULL DEFAULT 0)""",
    ],
    # Hourly summaries of closed calls for the reports (history/summary.py), backfilled.
    SUMMARY_MIGRATION,
    # queue_hours per hour and queue, outcomes as columns; agent_days; missing indexes.
    WIDE_MIGRATION,
    # Answered calls per url and per did, transfers per agent and target: per hour and per day.
    VALUE_MIGRATION,
    # Partial covering indexes: unanswered calls, sessions, pauses.
    PAGE_INDEX_MIGRATION,
    # The unanswered index's term as equalities: an IN list cost an ephemeral table per insert.
    UNANSWERED_INDEX_MIGRATION,
    # Agent time per UTC day (history/coverage.py), backfilled from the stored intervals.
    coverage.MIGRATION,
    # Login sessions, kept across restarts: only the SHA-256 of a session id is stored.
    [
        """CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL,
            display TEXT NOT NULL DEFAULT '', credential TEXT NOT NULL,
            created {int} NOT NULL, last_seen {int} NOT NULL)""",
        "CREATE INDEX sessions_user ON sessions (user_name)",
    ],
    # Who may ingest into this database now (one writer of the call tracker's state).
    [
        """CREATE TABLE leases (
            name TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL,
            pid {int} NOT NULL, heartbeat {int} NOT NULL)""",
    ],
    # The agent registry: aliases (interfaces, member names) of each agent (history/registry.py).
    aliases.MIGRATION,
    # Several PBXs and history sources: the position of each table follower; the stretches
    # AMI-derived history missed (outages); an outcome for unanswered calls whose abandon is
    # not known (its summary column; the unanswered index with the new term).
    [
        """CREATE TABLE ingest_positions (
            source TEXT PRIMARY KEY, position TEXT NOT NULL, rows {int} NOT NULL DEFAULT 0,
            updated {int} NOT NULL DEFAULT 0)""",
        """CREATE TABLE history_gaps (
            id {id}, pbx TEXT NOT NULL, start_time {int} NOT NULL, end_time {int},
            reason TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX history_gaps_time ON history_gaps (start_time, end_time)",
        """CREATE TABLE history_coverage (
            pbx TEXT PRIMARY KEY, covered_until {int} NOT NULL)""",
        lambda tx: _add_column(tx, "queue_hours", "u_exitunknown"),
        *UNANSWERED_INDEX_MIGRATION,
    ],
    # Reports sent by e-mail on a schedule (history/schedules.py): `last_due` is the due time
    # last claimed by a sender (epoch; one sender per due time, across processes).
    [
        """CREATE TABLE schedules (
            id {id}, name TEXT NOT NULL UNIQUE, report TEXT NOT NULL, period TEXT NOT NULL,
            recipients TEXT NOT NULL, format TEXT NOT NULL, at TEXT NOT NULL,
            user_name TEXT NOT NULL, created {int} NOT NULL, last_due {int}, last_sent {int},
            last_error TEXT)""",
    ],
    # What the alert notifier sent (wallboard/notify.py; `wallboard alerts log`).
    [
        """CREATE TABLE alert_log (
            id {id}, at {int} NOT NULL, rule TEXT NOT NULL, subject TEXT NOT NULL,
            kind TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL,
            status TEXT NOT NULL, attempts {int} NOT NULL, error TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX alert_log_at ON alert_log (at)",
    ],
    # Rings an agent did not answer (RINGNOANSWER): the live board's missed rings today.
    [
        """CREATE TABLE ring_misses (
            id {id}, agent TEXT NOT NULL, queue TEXT NOT NULL, time {int} NOT NULL,
            callid TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX ring_misses_time ON ring_misses (time)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

CALL_COLUMNS = (
    "id", "callid", "queue", "enter_time", "connect_time", "end_time", "outcome", "agent", "wait",
    "ring", "talk", "position", "origpos", "callerid", "callerid_name", "url", "did", "target",
    "member_uid",
)  # fmt: skip


class StoreError(RuntimeError):
    """The database cannot be opened or migrated."""


@dataclass
class Batch:
    """Everything one ingest step writes, committed in a single transaction."""

    records: list[Record] = field(default_factory=list)
    calls: list[QueueCall] = field(default_factory=list)  # each changed call, in its last state
    intervals: list[Interval] = field(default_factory=list)
    misses: list[RingMiss] = field(default_factory=list)
    rejected: list[tuple[int, Rejected]] = field(default_factory=list)  # (line number, why)
    source: str = ""
    fingerprint: str | None = None
    position: int = 0
    lines: int = 0
    # A source other than a file (a table follower): its key and position, stored with the rows.
    cursor: tuple[str, str] | None = None
    # ids of open calls already written: those are updated, the rest inserted; write_batch
    # replaces it with the set after this batch.
    stored_open: frozenset[int] = frozenset()
    # The stored records' lines as read (no newline, same order as `records`); built from the
    # records when the reader has no text of its own.
    texts: list[str] | None = None

    def stored_lines(self) -> list[str]:
        if self.texts is None:
            return [format_line(r) for r in self.records]
        return self.texts


class Store:
    """The history database with the product's schema: its writes, reads and migrations, over
    the storage boundary of history/database.py (a writer thread, read connections)."""

    def __init__(self, url: str, loop_guard: bool = False) -> None:
        self.url = url
        try:
            self.db = Database(url, loop_guard=loop_guard)
        except DatabaseError as exc:
            raise StoreError(str(exc)) from exc
        self.dialect = self.db.dialect
        self.timings = self.db.timings
        self._known_queues: set[str] = set()
        self._known_agents: set[str] = set()
        self._known_dynamic: set[str] = set()
        self._registry: Registry | None = None
        self.migrate()

    # -- the agent registry ----------------------------------------------------------------

    def registry(self) -> Registry:
        """The agent registry (re-read when another process or connection changed it)."""
        current = self._registry
        if current is None or aliases.version(self) != current.version:
            current = self._registry = aliases.load(self)
        return current

    def learn_names(
        self,
        pairs: Iterable[tuple[str, str]],
        source: str,
        membership: Mapping[str, str] | None = None,
    ) -> set[str]:
        """Record aliases (alias, agent) and agents' membership (history/aliases.py)."""
        return aliases.learn(self, pairs, source, membership)

    def registry_changed(self) -> None:
        self._registry = None

    # -- the boundary --------------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a parameterised SELECT and return every row (this thread's read connection)."""
        return self.db.query(sql, params)

    def iterate(self, sql: str, params: Sequence[Any] = (), size: int = 5000) -> Iterator[list[tuple]]:
        """A SELECT's rows in lists of up to `size`, read as they are consumed."""
        return self.db.iterate(sql, params, size)

    def name_queues(self, names: Mapping[str, str]) -> None:
        """Queue display names (the settings' `[queues]`), as the reports show them."""

        def write(tx: Transaction) -> None:
            for name, display in sorted(names.items()):
                tx.execute(
                    "INSERT INTO queues (name, display_name) VALUES (?, ?) ON CONFLICT (name)"
                    " DO UPDATE SET display_name = excluded.display_name", (name, display),
                )  # fmt: skip

        self.write(write)

    def not_counted(self) -> AbstractContextManager[None]:
        """A block whose time the running read's time limit does not count (Database)."""
        return self.db.not_counted()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(tx, *args)` in one transaction on the writer thread; its result."""
        return self.db.write(fn, *args)

    async def awrite(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.db.awrite(fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any, time_limit: float | None = None) -> T:
        """`fn(*args)` on the report pool, its queries cut off after `time_limit` seconds."""
        return await self.db.read(fn, *args, time_limit=time_limit)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one parameterised statement in its own transaction; returns the row count."""
        return self.write(lambda tx: tx.execute(sql, params))

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest version, one migration per transaction."""
        ident = (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
            if self.dialect == "postgresql"
            else "INTEGER PRIMARY KEY"
        )
        integer = "BIGINT" if self.dialect == "postgresql" else "INTEGER"

        def current_version(tx: Transaction) -> int:
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            return tx.query("SELECT max(version) FROM schema_version")[0][0] or 0

        def run(tx: Transaction, version: int, statements: list[Any]) -> None:
            for statement in statements:
                if callable(statement):  # a step that looks before it changes
                    statement(tx)
                    continue
                if statement == coverage.BACKFILL:  # computed in Python
                    rows = tx.query("SELECT agent, kind, start_time, end_time FROM agent_intervals")
                    tx.executemany(coverage.UPSERT, coverage.backfill_rows(rows))
                    continue
                tx.execute(statement.format(id=ident, int=integer))
            tx.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

        current = self.write(current_version)
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version > current:
                self.write(run, version, statements)
        if current == 0:
            log.info("database created (schema version %d)", len(MIGRATIONS))
        elif current < len(MIGRATIONS):
            log.info("database migrated from schema version %d to %d", current, len(MIGRATIONS))

    # -- ingest -----------------------------------------------------------------------------

    def take_lease(self, name: str, owner: str, now: float, stale: float) -> str | None:
        """Take or renew the lease `name` for `owner` (this process): None when it is ours
        now, else who holds it. A holder loses it when silent for `stale` seconds, or at once
        when it was a process of this host that no longer exists (a crash, a SIGKILL)."""
        host, pid = socket.gethostname(), os.getpid()

        def take(tx: Transaction) -> str | None:
            rows = tx.query("SELECT owner, host, pid, heartbeat FROM leases WHERE name = ?", (name,))
            if rows:
                holder, holder_host, holder_pid, heartbeat = rows[0]
                ours = holder == owner and holder_host == host and holder_pid == pid
                gone = holder_host == host and not _process_alive(holder_pid)
                if not ours and not gone and now - heartbeat < stale:
                    return str(holder)
            tx.execute(
                "INSERT INTO leases (name, owner, host, pid, heartbeat) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, host = excluded.host,"
                " pid = excluded.pid, heartbeat = excluded.heartbeat",
                (name, owner, host, pid, int(now)),
            )
            return None

        return self.write(take)

    def release_lease(self, name: str, owner: str) -> None:
        self.execute(
            "DELETE FROM leases WHERE name = ? AND owner = ? AND host = ? AND pid = ?",
            (name, owner, socket.gethostname(), os.getpid()),
        )

    def load_open(self) -> tuple[list[QueueCall], list[Interval], dict[str, str]]:
        """Open calls, open sessions/pauses and recent DIDs: the tracker's state after a restart."""
        cols = ", ".join(CALL_COLUMNS)
        calls = [
            QueueCall(*row)
            for row in self.query(
                f"SELECT {cols} FROM queue_calls WHERE outcome IS NULL OR outcome = 'CONNECT'"
            )
        ]
        intervals = [
            Interval(*row)
            for row in self.query(
                "SELECT kind, agent, queue, start_time, end_time, reason FROM agent_intervals"
                " WHERE end_time IS NULL"
            )
        ]
        top = self.high_water() or 0
        dids = {
            event[2]: event[6]
            for event in self.events_between(top - 3600, top, "|DID|")
            if event[5] == "DID"
        }
        return calls, intervals, dids

    def high_water(self) -> int | None:
        """The newest event time stored, or None for an empty store."""
        row = self.query_one("SELECT max(last_time) FROM queue_log_blocks")
        return row[0] if row else None

    def file_position(self, fingerprint: str) -> int | None:
        row = self.query_one(
            "SELECT position FROM ingest_files WHERE fingerprint = ?", (fingerprint,)
        )
        return row[0] if row else None

    def source_position(self, source: str) -> str | None:
        """The position a table follower stored with its last batch (None: never ran)."""
        row = self.query_one("SELECT position FROM ingest_positions WHERE source = ?", (source,))
        return row[0] if row else None

    def blocks_covering(self, when: int) -> list[tuple[int, int]]:
        """(id, line count) of the raw-event blocks whose time span includes `when` (a block
        merged by compact_blocks keeps its id but not its count)."""
        rows = self.query(
            "SELECT id, count FROM queue_log_blocks WHERE last_time >= ? AND first_time <= ?",
            (when, when),
        )
        return [(r[0], r[1]) for r in rows]

    def block_lines(self, block_id: int) -> list[str]:
        row = self.query_one("SELECT lines FROM queue_log_blocks WHERE id = ?", (block_id,))
        return row[0].split("\n") if row else []

    def compact_blocks(self, before: int, lines: int = 5000, most: int = 100_000) -> int:
        """Merge runs of consecutive small raw-event blocks that end before `before` into blocks
        of up to `lines` lines; returns how many blocks went. Follow mode writes a block per
        poll that found lines (often one line: a row and index entry each, 1.7x the text);
        merged, event ids (first_seq + offset), times and order stay as they were. At most
        `most` lines per call, so a writer waiting on the lock waits little."""
        small = self.query(
            "SELECT id, first_time, last_time, first_seq, count FROM queue_log_blocks"
            " WHERE last_time < ? AND count < ? ORDER BY id",
            (before, lines),
        )
        runs: list[list[tuple]] = []
        taken = 0
        for block in small:
            run = runs[-1] if runs else None
            if (
                run is not None
                and run[-1][3] + run[-1][4] == block[3]  # the next lines, nothing between
                and sum(b[4] for b in run) + block[4] <= lines
            ):
                run.append(block)
            else:
                if taken + block[4] > most:
                    break
                runs.append([block])
            taken += block[4]
        runs = [run for run in runs if len(run) > 1]
        if not runs:
            return 0

        def merge(tx: Transaction) -> None:
            for run in runs:
                ids = [b[0] for b in run]
                inside, params = ", ".join("?" for _ in ids), ids
                texts = tx.query(
                    f"SELECT lines FROM queue_log_blocks WHERE id IN ({inside}) ORDER BY id", params
                )
                tx.execute(
                    "UPDATE queue_log_blocks SET first_time = ?, last_time = ?, count = ?,"
                    " lines = ? WHERE id = ?",
                    (min(b[1] for b in run), max(b[2] for b in run), sum(b[4] for b in run),
                     "\n".join(t[0] for t in texts), ids[0]),
                )  # fmt: skip
                rest = ", ".join("?" for _ in ids[1:])
                tx.execute(f"DELETE FROM queue_log_blocks WHERE id IN ({rest})", ids[1:])
        self.write(merge)
        return sum(len(run) - 1 for run in runs)

    def _blocks(self, low: int, high: int, needle: str = "") -> list[tuple[int, int, str]]:
        """(first_seq, count, lines) of the blocks holding events between low and high."""
        sql = (
            "SELECT first_seq, count, lines FROM queue_log_blocks"
            " WHERE last_time >= ? AND first_time <= ?"
        )
        params: list[Any] = [low, high]
        if needle:
            find = "strpos" if self.dialect == "postgresql" else "instr"
            sql += f" AND {find}(lines, ?) > 0"
            params.append(needle)
        return [tuple(r) for r in self.query(sql + " ORDER BY id", params)]  # type: ignore[misc]

    def events_between(self, low: int, high: int, needle: str = "") -> list[RawEvent]:
        """Stored events with low <= time <= high, in storage order.

        Each is (id, time, callid, queue, agent, event, data): id is the event's sequence
        number, data the `|`-joined fields; `needle` pre-filters lines by a substring.
        """
        out: list[RawEvent] = []
        for first_seq, _, lines in self._blocks(low, high, needle):
            for offset, line in enumerate(lines.split("\n")):
                if needle and needle not in line:
                    continue
                parts = line.split("|", 5)
                when = int(parts[0])
                if low <= when <= high:
                    data = parts[5] if len(parts) == 6 else ""
                    out.append((first_seq + offset, when, parts[1], parts[2], parts[3], parts[4], data))
        return out

    def next_call_id(self) -> int:
        row = self.query_one("SELECT max(id) FROM queue_calls")
        return (row[0] or 0) + 1 if row else 1

    def write_batch(self, batch: Batch, now: int) -> None:
        """Write a batch's events, calls, intervals, rejects and file position atomically."""
        new_queues = set(map(_QUEUE_OF, batch.records)) - self._known_queues
        agents = {c.agent for c in batch.calls if c.agent} | {i.agent for i in batch.intervals}
        new_agents = agents - self._known_agents
        def write(tx: Transaction) -> set[str]:
            if batch.records:
                times = list(map(_TIME_OF, batch.records))
                last = tx.query(  # under the write lock: another writer cannot take the numbers
                    "SELECT first_seq + count FROM queue_log_blocks ORDER BY id DESC LIMIT 1"
                )
                tx.execute(
                    "INSERT INTO queue_log_blocks (first_time, last_time, first_seq, count, lines)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (min(times), max(times), last[0][0] if last else 1, len(times),
                     "\n".join(batch.stored_lines())),
                )  # fmt: skip
            stored = batch.stored_open
            fresh = [c for c in batch.calls if c.id not in stored] if stored else batch.calls
            tx.insert_rows("queue_calls", CALL_COLUMNS, fresh, _call_row)
            if stored:
                updated = [_call_row(c) for c in batch.calls if c.id in stored]
                tx.executemany(_UPSERT_CALL, updated)
            if batch.intervals:
                tx.executemany(
                    "INSERT INTO agent_intervals (kind, agent, queue, start_time, end_time, reason)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, agent, queue, start_time)"
                    " DO UPDATE SET end_time = excluded.end_time, reason = excluded.reason",
                    [
                        (i.kind, i.agent, i.queue, i.start, i.end, i.reason)
                        for i in batch.intervals
                    ],
                )
                self._cover(tx, batch.intervals)
            if batch.misses:
                tx.executemany(
                    "INSERT INTO ring_misses (agent, queue, time, callid) VALUES (?, ?, ?, ?)",
                    [(m.agent, m.queue, m.time, m.callid) for m in batch.misses],
                )
            queue_hours, agent_hours = summary_rows(batch.calls)
            tx.executemany(UPSERT_QUEUE_HOURS, queue_hours)
            tx.executemany(UPSERT_AGENT_HOURS, agent_hours)
            tx.executemany(UPSERT_AGENT_DAYS, day_rows(agent_hours))
            for name, (hours, days) in value_rows(batch.calls).items():
                tx.executemany(UPSERT_VALUES[name][0], hours)
                tx.executemany(UPSERT_VALUES[name][1], days)
            if batch.rejected:
                tx.executemany(
                    "INSERT INTO rejected_lines (source, position, reason, detail, raw)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(batch.source, p, r.reason, r.detail, r.raw) for p, r in batch.rejected],
                )
            for name in sorted(new_queues):
                tx.execute(
                    "INSERT INTO queues (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,)
                )
            for name in sorted(new_agents):
                tx.execute(
                    "INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,)
                )
            logging_in = {i.agent for i in batch.intervals if i.kind == "session"}
            marked = 0
            for name in sorted(logging_in - self._known_dynamic):  # logs sessions: not static
                marked += tx.execute(
                    "UPDATE agents SET membership = 'dynamic' WHERE name = ? AND membership = ''",
                    (name,),
                )
            if marked:
                tx.execute("UPDATE registry_version SET version = version + 1")
            if batch.fingerprint is not None:
                tx.execute(
                    "INSERT INTO ingest_files (fingerprint, path, position, lines, updated)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET"
                    " path = excluded.path, position = excluded.position,"
                    " lines = ingest_files.lines + excluded.lines, updated = excluded.updated",
                    (batch.fingerprint, batch.source, batch.position, batch.lines, now),
                )
            if batch.cursor is not None:
                tx.execute(
                    "INSERT INTO ingest_positions (source, position, rows, updated)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET"
                    " position = excluded.position, rows = ingest_positions.rows + excluded.rows,"
                    " updated = excluded.updated",
                    (batch.cursor[0], batch.cursor[1], batch.lines, now),
                )
            return logging_in

        logging_in = self.write(write)
        self._known_queues |= new_queues
        self._known_agents |= new_agents
        self._known_dynamic |= logging_in
        still_open = {c.id for c in batch.calls if c.outcome is None or c.outcome == "CONNECT"}
        closed = {c.id for c in batch.calls} - still_open
        batch.stored_open = (batch.stored_open - closed) | still_open

    def _cover(self, tx: Transaction, intervals: list[Interval]) -> None:
        """Recompute the agent_cover_days rows the intervals touch (after writing them), per
        agent as the registry resolves names (read in this transaction: an alias learned by
        another process just before is honoured)."""
        names = self._registry
        if names is None or aliases.version(tx) != names.version:
            names = self._registry = aliases.load(tx)
        touched = coverage.touched_days(intervals, names.resolve)
        low = min(min(days) for days in touched.values()) * coverage.DAY
        high = (max(max(days) for days in touched.values()) + 1) * coverage.DAY
        rows = tx.query(coverage.INTERVALS_BETWEEN, (low, high))
        upserts, deletes = coverage.day_rows(touched, rows, names.resolve)
        tx.executemany(coverage.DELETE, deletes)
        tx.executemany(coverage.UPSERT, upserts)

    def expand_queues(self, names: Iterable[str]) -> tuple[str, ...]:
        """Queue names for a list that may name PBXs ("site-a": every queue of it), sorted."""
        wanted = set(names)
        known = [row[0] for row in self.query("SELECT name FROM queues")]
        pbxs = {pbx_of(q) for q in known} & wanted
        return tuple(sorted((wanted - pbxs) | {q for q in known if pbx_of(q) in pbxs}))

    # -- coverage of AMI-derived history ----------------------------------------------------

    def history_covered(self, pbx: str) -> int | None:
        """Until when AMI-derived history of `pbx` was known to be complete (None: never)."""
        row = self.query_one("SELECT covered_until FROM history_coverage WHERE pbx = ?", (pbx,))
        return row[0] if row else None

    def cover_history(self, pbx: str, until: int) -> None:
        """AMI-derived history of `pbx` is complete up to `until` (a heartbeat while synced)."""
        self.execute(
            "INSERT INTO history_coverage (pbx, covered_until) VALUES (?, ?)"
            " ON CONFLICT (pbx) DO UPDATE SET covered_until = excluded.covered_until",
            (pbx, int(until)),
        )

    def open_gap(self, pbx: str, start: int, reason: str) -> None:
        """AMI-derived history of `pbx` stops at `start` (the link dropped, the process stops);
        nothing happens when a gap is open already."""

        def run(tx: Transaction) -> None:
            if not tx.query(
                "SELECT 1 FROM history_gaps WHERE pbx = ? AND end_time IS NULL", (pbx,)
            ):
                tx.execute(
                    "INSERT INTO history_gaps (pbx, start_time, reason) VALUES (?, ?, ?)",
                    (pbx, int(start), reason[:200]),
                )

        self.write(run)

    def close_gap(self, pbx: str, end: int, missed_since: int | None = None) -> None:
        """AMI-derived history of `pbx` resumes at `end`: the open gap ends; without one, a
        gap from `missed_since` (the last coverage heartbeat: a crash) is recorded."""

        def run(tx: Transaction) -> None:
            closed = tx.execute(
                "UPDATE history_gaps SET end_time = ? WHERE pbx = ? AND end_time IS NULL",
                (int(end), pbx),
            )
            if not closed and missed_since is not None and end - missed_since > GAP_SLACK:
                tx.execute(
                    "INSERT INTO history_gaps (pbx, start_time, end_time, reason)"
                    " VALUES (?, ?, ?, ?)",
                    (pbx, int(missed_since), int(end), "wallboard was not running"),
                )
            tx.execute(
                "INSERT INTO history_coverage (pbx, covered_until) VALUES (?, ?)"
                " ON CONFLICT (pbx) DO UPDATE SET covered_until = excluded.covered_until",
                (pbx, int(end)),
            )

        self.write(run)

    def gaps_between(self, start: int, end: int, pbxs: Sequence[str] | None = None) -> list[tuple]:
        """(pbx, start, end or None, reason) of the gaps overlapping [start, end), oldest first."""
        sql = (
            "SELECT pbx, start_time, end_time, reason FROM history_gaps"
            " WHERE start_time < ? AND (end_time IS NULL OR end_time > ?)"
        )
        params: list[Any] = [end, start]
        if pbxs is not None:
            if not pbxs:
                return []
            sql += f" AND pbx IN ({', '.join('?' for _ in pbxs)})"
            params += list(pbxs)
        return self.query(sql + " ORDER BY start_time, pbx", params)

    # -- reads used by several callers ----------------------------------------------------

    def misses_between(self, start: int, end: int) -> list[RingMiss]:
        """Rings not answered in [start, end)."""
        return [RingMiss(*row) for row in self.query(
            "SELECT agent, queue, time, callid FROM ring_misses WHERE time >= ? AND time < ?"
            " ORDER BY time, id", (start, end),
        )]  # fmt: skip

    def pauses_between(self, start: int, end: int) -> list[Interval]:
        """Pauses that ended in [start, end) (a pause still open is not counted yet)."""
        return [Interval("pause", *row) for row in self.query(
            "SELECT agent, queue, start_time, end_time, reason FROM agent_intervals"
            " WHERE kind = 'pause' AND end_time >= ? AND end_time < ? ORDER BY start_time",
            (start, end),
        )]  # fmt: skip

    def calls_between(self, start: int, end: int) -> list[QueueCall]:
        """Queue calls that entered in [start, end)."""
        cols = ", ".join(CALL_COLUMNS)
        return [
            QueueCall(*row)
            for row in self.query(
                f"SELECT {cols} FROM queue_calls WHERE enter_time >= ? AND enter_time < ?"
                " ORDER BY enter_time, id",
                (start, end),
            )
        ]

    def call_events(self, callid: str) -> list[tuple[int, int, str, str, str, str]]:
        """(id, time, queue, agent, event, data) of every stored event of a call, in order.

        The window searched runs from the call's first queue stay (or the epoch its Asterisk
        uniqueid starts with) to its last end, with a margin for the lines written around the
        stays (DID before, custom events after).
        """
        row = self.query_one(
            "SELECT min(enter_time), max(coalesce(end_time, connect_time, enter_time))"
            " FROM queue_calls WHERE callid = ?",
            (callid,),
        )
        low, high = (row[0], row[1]) if row and row[0] is not None else (None, None)
        head = callid.rsplit("/", 1)[-1].split(".", 1)[0]  # "site-a/1795904334.33" too
        if head.isdigit() and len(head) <= 12:
            born = int(head)
            low = born if low is None else min(low, born)
            high = born + 86400 if high is None else high
        if low is None or high is None or not callid:
            return []
        events = self.events_between(low - CALL_MARGIN, high + CALL_MARGIN, f"|{callid}|")
        found = [(e[0], e[1], e[3], e[4], e[5], e[6]) for e in events if e[2] == callid]
        return sorted(found, key=lambda e: (e[1], e[0]))  # type: ignore[return-value]


RawEvent = tuple[int, int, str, str, str, str, str]
_QUEUE_OF = itemgetter(2)
_TIME_OF = itemgetter(0)
CALL_MARGIN = 3600  # seconds around a call's stays searched for its other events
GAP_SLACK = 30  # seconds without coverage a restart may take before it counts as a gap

_UPSERT_CALL = (
    f"INSERT INTO queue_calls ({', '.join(CALL_COLUMNS)}) VALUES"
    f" ({', '.join('?' for _ in CALL_COLUMNS)})"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in CALL_COLUMNS[4:])
)


_call_row = attrgetter(*CALL_COLUMNS)  # QueueCall -> row tuple, in C


def data_columns(data: str) -> list[str]:
    """data1..data5 as Asterisk's realtime table holds them: the 5th keeps the rest."""
    parts = data.split("|", 4) if data else []
    return parts + [""] * (5 - len(parts))


def _add_column(tx: Transaction, table: str, column: str) -> None:
    """ALTER TABLE ... ADD COLUMN unless it is there (an early migration of a database created
    since builds it from today's column list)."""
    if tx.dialect == "postgresql":
        tx.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} BIGINT NOT NULL DEFAULT 0")
        return
    names = {row[1] for row in tx.query(f"PRAGMA table_info({table})")}
    if column not in names:
        tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process: alive
    return True


def inspect_database(url: str) -> tuple[int | None, str]:
    """(schema version, where) of a database, opened read-only: nothing is created or migrated.
    The version is None when the database does not exist yet; StoreError when it cannot be
    opened."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise StoreError("PostgreSQL needs `pip install wallboard[postgres]`") from exc
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                exists = conn.execute("SELECT to_regclass('schema_version')").fetchone()
                if not exists or exists[0] is None:
                    return 0, "PostgreSQL"
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
                return (row[0] or 0) if row else 0, "PostgreSQL"
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {url}: {exc}") from exc
    path = os.path.abspath(url.removeprefix("sqlite:").removeprefix("//"))
    if not os.path.exists(path):
        folder = os.path.dirname(path)
        if not os.access(folder, os.W_OK):
            raise StoreError(f"{path} does not exist and {folder} is not writable by this user")
        return None, path
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(os.path.dirname(path), os.W_OK):
        raise StoreError(f"{path} (or its folder) is not readable and writable by this user")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "schema_version" not in names:
                return 0, path
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            return (row[0] or 0) if row else 0, path
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc


class ReadOnly:
    """A read-only look into a database that may be at an older schema (for `check`)."""

    def __init__(self, url: str) -> None:
        if url.startswith(("postgresql://", "postgres://")):
            import psycopg

            self._conn: Any = psycopg.connect(url, connect_timeout=10, autocommit=True)
            self._sql = lambda sql: sql.replace("?", "%s")
        else:
            path = os.path.abspath(url.removeprefix("sqlite:").removeprefix("//"))
            self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            self._sql = lambda sql: sql

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self._conn.execute(self._sql(sql), tuple(params)).fetchall())

    def close(self) -> None:
        self._conn.close()


def open_store(url: str, loop_guard: bool = False) -> Store:
    """Open (creating and migrating as needed) the store at a SQLite path or PostgreSQL URL.
    `loop_guard`: refuse database calls from the event loop's thread (the server's store)."""
    return Store(url, loop_guard=loop_guard)
