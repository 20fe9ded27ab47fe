"""The storage boundary (Datasette's `Database` is the model): one writer thread owns the write
connection; reads run on read connections of their own, one per thread, so a long report never
waits for, nor stalls, an ingest batch (SQLite in WAL mode; on PostgreSQL, a connection each).

- `write(fn, *args)` runs `fn(tx, *args)` in one transaction on the writer thread and returns
  its result (from a write function, a nested `write` joins the open transaction);
- `query(sql, params)` reads on the calling thread's read connection on SQLite, on one of a
  few pooled connections on PostgreSQL (the writer thread reads its own transaction);
- `await read(fn, *args, time_limit=...)` runs `fn()` on the report pool, its queries cut off
  after `time_limit` seconds (QueryTimeout); `await awrite(fn, *args)` is `write` for async code.

With `loop_guard`, a query or write made from a thread running an asyncio loop raises: the
event loop (websockets, every screen) must never wait for the database.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import chain
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
READERS = 3  # report threads
PG_READ_CONNECTIONS = 4  # PostgreSQL read connections at most, whatever the threads
PROGRESS_OPS = 2000  # SQLite VM steps between checks of a query's deadline
ROWS_PER_INSERT = 50  # rows per multi-row INSERT: half SQLite's per-row cost


class DatabaseError(RuntimeError):
    """The database cannot be opened, or was used where it must not be."""


class QueryTimeout(DatabaseError):
    """A read ran past its time limit and was cancelled."""


class Database:
    """Connections to one SQLite file or PostgreSQL database, and who may use them."""

    def __init__(self, url: str, readers: int = READERS, loop_guard: bool = False) -> None:
        self.url = url
        self.dialect = "postgresql" if url.startswith(("postgresql://", "postgres://")) else "sqlite"
        self.loop_guard = loop_guard
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="wallboard-db-writer")
        self._pool = ThreadPoolExecutor(readers, thread_name_prefix="wallboard-db-reader")
        self._local = threading.local()
        self._readers: list[Any] = []
        self._readers_lock = threading.Lock()
        self._pg_idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._pg_slots = threading.BoundedSemaphore(PG_READ_CONNECTIONS)
        self._in_transaction = False
        # Statements run and seconds spent, by kind ("read", "write"), for the metrics.
        self.timings: dict[str, list[float]] = {"read": [0, 0.0], "write": [0, 0.0]}
        self._write_conn: Any = None
        self._writer_ident = self._writer.submit(threading.get_ident).result()
        self._write_conn = self._writer.submit(self._connect, True).result()

    # -- connections -----------------------------------------------------------------------

    def _connect(self, writer: bool = False) -> Any:
        if self.dialect == "postgresql":
            try:
                import psycopg
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise DatabaseError("PostgreSQL needs `pip install wallboard[postgres]`") from exc
            try:
                return psycopg.connect(self.url, autocommit=True)
            except psycopg.Error as exc:
                raise DatabaseError(f"cannot connect to {self.url}: {exc}") from exc
        path = self.url.removeprefix("sqlite:").removeprefix("//")
        try:
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=ON")
            if writer:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: index inserts stay in memory
                # Checkpoint every 64 MiB of WAL, not 4: a bulk import rewrites its hot pages
                # (index ends, summary rows) far less often (5-8% of an import, measured A/B).
                conn.execute("PRAGMA wal_autocheckpoint=16384")
            else:
                conn.execute("PRAGMA cache_size=-16384")
                conn.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open database {path}: {exc}") from exc
        return conn

    @contextmanager
    def _reader(self) -> Iterator[Any]:
        """A read connection: the write connection on the writer thread, else this thread's
        own (SQLite) or one of the pool's, borrowed for the statement (PostgreSQL)."""
        if threading.get_ident() == self._writer_ident:
            yield self._write_conn
            return
        if self.dialect == "sqlite":
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connect()
                with self._readers_lock:
                    self._readers.append(conn)
            yield conn
            return
        with self._pg_slots:
            try:
                conn = self._pg_idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
                with self._readers_lock:
                    self._readers.append(conn)
            try:
                deadline = getattr(self._local, "deadline", None)
                if deadline is not None:
                    left = max(1, int((deadline - time.monotonic()) * 1000))
                    conn.execute(f"SET statement_timeout = {left}")
                yield conn
            finally:
                if deadline is not None:
                    conn.execute("SET statement_timeout = 0")
                self._pg_idle.put(conn)

    def close(self) -> None:
        """Close every connection and stop the threads."""
        self._pool.shutdown(wait=True)
        if self._write_conn is not None:
            self._writer.submit(self._write_conn.close).result()
        self._writer.shutdown(wait=True)
        with self._readers_lock:
            for conn in self._readers:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - closing on the way out
                    log.debug("closing a read connection failed", exc_info=True)
            self._readers.clear()

    def sql(self, sql: str) -> str:
        """A statement in the driver's placeholder style (`?` is written everywhere)."""
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _guard(self) -> None:
        if not self.loop_guard:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise DatabaseError(
            "a database call on the event loop: it would stall every screen (use an async"
            " read/awrite or a worker thread)"
        )

    def _timed(self, kind: str, started: float) -> None:
        timing = self.timings[kind]
        timing[0] += 1
        timing[1] += time.perf_counter() - started

    # -- reads -------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a parameterised SELECT on this thread's read connection; every row."""
        self._guard()
        started = time.perf_counter()
        try:
            with self._reader() as conn:
                return list(conn.execute(self.sql(sql), tuple(params)).fetchall())
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":
                raise QueryTimeout("the query ran past its time limit") from exc
            raise
        except Exception as exc:
            if type(exc).__name__ == "QueryCanceled":  # PostgreSQL's statement_timeout
                raise QueryTimeout("the query ran past its time limit") from exc
            raise
        finally:
            self._timed("read", started)

    def iterate(self, sql: str, params: Sequence[Any] = (), size: int = 5000) -> Iterator[list[tuple]]:
        """Run a parameterised SELECT on this thread's read connection and yield its rows in
        lists of up to `size`, as they come: an export of a year never holds it all."""
        self._guard()
        with self._reader() as conn:
            if self.dialect == "postgresql":  # single-row mode: the server sends as we read
                rows: list[tuple] = []
                for row in conn.cursor().stream(self.sql(sql), tuple(params)):
                    rows.append(row)
                    if len(rows) >= size:
                        yield rows
                        rows = []
                if rows:
                    yield rows
                return
            cursor = conn.execute(self.sql(sql), tuple(params))
            while True:
                started = time.perf_counter()
                try:
                    chunk = cursor.fetchmany(size)
                except sqlite3.OperationalError as exc:
                    if str(exc) == "interrupted":
                        raise QueryTimeout("the query ran past its time limit") from exc
                    raise
                finally:
                    self._timed("read", started)
                if not chunk:
                    return
                yield chunk

    async def read(self, fn: Callable[..., T], *args: Any, time_limit: float | None = None) -> T:
        """`fn(*args)` on the report pool, each of its queries cut off at `time_limit`."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._limited, fn, args, time_limit)

    def _limited(self, fn: Callable[..., T], args: tuple[Any, ...], time_limit: float | None) -> T:
        if time_limit is None:
            return fn(*args)
        deadline = time.monotonic() + time_limit
        if self.dialect == "postgresql":  # each borrowed connection gets what is left
            self._local.deadline = deadline
            try:
                return fn(*args)
            finally:
                self._local.deadline = None
        budget = [deadline]  # pushed back by not_counted()
        self._local.budget = budget
        with self._reader() as conn:
            conn.set_progress_handler(lambda: int(time.monotonic() > budget[0]), PROGRESS_OPS)
            try:
                return fn(*args)
            finally:
                conn.set_progress_handler(None, 0)
                self._local.budget = None

    @contextmanager
    def not_counted(self) -> Iterator[None]:
        """Time spent in this block (a download waiting for its client) is not charged to the
        running read's time limit. SQLite only: PostgreSQL's statement_timeout keeps running."""
        started = time.monotonic()
        try:
            yield
        finally:
            budget = getattr(self._local, "budget", None)
            if budget is not None:
                budget[0] += time.monotonic() - started

    # -- writes ------------------------------------------------------------------------------

    def write(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(tx, *args)` in one transaction on the writer thread (committed when it returns,
        rolled back when it raises); its result."""
        if threading.get_ident() == self._writer_ident:
            if self._in_transaction:
                return fn(self._tx, *args)  # a write inside a write: the same transaction
            return self._transact(fn, args)
        self._guard()
        return self._writer.submit(self._transact, fn, args).result()

    async def awrite(self, fn: Callable[..., T], *args: Any) -> T:
        """`write` for async code: the loop waits without blocking."""
        future = self._writer.submit(self._transact, fn, args)
        return await asyncio.wrap_future(future)

    def _transact(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._write_conn
        started = time.perf_counter()
        self._in_transaction = True
        try:
            if self.dialect == "postgresql":
                with conn.transaction():
                    self._tx = Transaction(self, conn.cursor())
                    return fn(self._tx, *args)
            conn.execute("BEGIN IMMEDIATE")
            self._tx = Transaction(self, conn)
            try:
                result = fn(self._tx, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        finally:
            self._in_transaction = False
            self._timed("write", started)


class Transaction:
    """The statements of one open write transaction."""

    def __init__(self, database: Database, conn: Any) -> None:
        self._database = database
        self._conn = conn
        self.dialect = database.dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = self._conn.execute(self._database.sql(sql), tuple(params))
        return cur.rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._conn.executemany(self._database.sql(sql), rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        cur = self._conn.execute(self._database.sql(sql), tuple(params))
        return list(cur.fetchall())

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        items: Sequence[Any],
        row: Callable[[Any], tuple] | None = None,
    ) -> None:
        """Bulk insert of `items` (as rows, or made rows by `row`): many rows per statement,
        which halves SQLite's per-row cost."""
        if not items:
            return
        width = len(columns)
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        one = "(" + ", ".join("?" * width) + ")"
        rows = items if row is None else map(row, items)
        full = len(items) - len(items) % ROWS_PER_INSERT
        if full:
            sql = head + ", ".join([one] * ROWS_PER_INSERT)
            take = ROWS_PER_INSERT * width
            flat = list(chain.from_iterable(rows))  # one flat list, cut per statement
            self.executemany(sql, [flat[i : i + take] for i in range(0, full * width, take)])
            rest = [tuple(flat[i : i + width]) for i in range(full * width, len(flat), width)]
        else:
            rest = list(rows)
        if rest:
            self.executemany(head + one, rest)
