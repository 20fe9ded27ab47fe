"""The storage boundary (history/database.py): one writer thread, reads on their own
connections that a writer never blocks, per-query time limits, and no database call from the
event loop when the guard is on. SQLite, and PostgreSQL under CI."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from wallboard.history.database import Database, DatabaseError, QueryTimeout

SLOW_SQLITE = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000)"
    " SELECT count(*) FROM n"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    url = str(tmp_path / "d.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(url)
    database.write(lambda tx: tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield database
    database.close()


def test_writes_run_on_one_thread_and_reads_see_what_committed(db) -> None:
    threads = set()

    def insert(tx, n):
        threads.add(threading.get_ident())
        tx.execute("INSERT INTO t (id, v) VALUES (?, ?)", (n, f"v{n}"))
        assert db.query("SELECT count(*) FROM t")[0][0] == n  # the writer reads its own work
        return n

    assert [db.write(insert, n) for n in (1, 2, 3)] == [1, 2, 3]

    def add(tx, n):
        threads.add(threading.get_ident())
        tx.execute("INSERT INTO t (id, v) VALUES (?, ?)", (n, "from a thread"))

    workers = [threading.Thread(target=db.write, args=(add, n)) for n in range(10, 20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(threads) == 1 and threading.get_ident() not in threads  # one writer thread
    assert db.query("SELECT count(*) FROM t") == [(13,)]
    db.write(lambda tx: tx.execute("DELETE FROM t WHERE id >= 10"))

    def fails(tx):
        tx.execute("INSERT INTO t (id, v) VALUES (4, 'x')")
        raise ValueError("no")

    with pytest.raises(ValueError):
        db.write(fails)
    assert db.query("SELECT count(*) FROM t") == [(3,)]  # rolled back
    assert db.write(lambda tx: db.write(lambda inner: inner.query("SELECT 1"))) == [(1,)]


async def test_a_read_is_cut_off_at_its_time_limit(db) -> None:
    slow = SLOW_SQLITE if db.dialect == "sqlite" else "SELECT pg_sleep(2)"
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        await db.read(db.query, slow, time_limit=0.2)
    assert time.monotonic() - started < 1.9  # stopped, not run to its end
    assert await db.read(db.query, "SELECT 1", time_limit=0.2) == [(1,)]  # the limit is gone


async def test_a_long_read_does_not_hold_up_a_write(db) -> None:
    slow = SLOW_SQLITE if db.dialect == "sqlite" else "SELECT pg_sleep(1)"
    reading = asyncio.ensure_future(db.read(db.query, slow, time_limit=1.0))
    await asyncio.sleep(0.1)
    await db.awrite(lambda tx: tx.execute("INSERT INTO t (id, v) VALUES (9, 'w')"))
    assert not reading.done()  # the write went through while the read was still running
    with pytest.raises(QueryTimeout):
        await reading


async def test_the_loop_guard_refuses_calls_from_the_event_loop(tmp_path) -> None:
    guarded = Database(str(tmp_path / "g.db"), loop_guard=True)
    try:
        with pytest.raises(DatabaseError, match="event loop"):
            guarded.query("SELECT 1")
        with pytest.raises(DatabaseError, match="event loop"):
            guarded.write(lambda tx: tx.execute("SELECT 1"))
        assert await guarded.read(guarded.query, "SELECT 1") == [(1,)]
        assert await guarded.awrite(lambda tx: tx.query("SELECT 2")) == [(2,)]
        assert await asyncio.to_thread(guarded.query, "SELECT 3") == [(3,)]
    finally:
        guarded.close()
