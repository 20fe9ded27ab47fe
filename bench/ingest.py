"""Ingest benchmark: generate a synthetic queue_log and time the project's importer on it.

Runs in-process: the generator (bench/synth.py) writes the file, `import_files` loads it into a
fresh store, and with `--baseline` the same file is also split with `str.split('|')` alone, so
the importer's figure has a peer on this machine. With `--source mysql` the same lines go into
a fresh MariaDB/MySQL table first (Asterisk's realtime layout: id, DATETIME(6), data1..data5)
and the table follower drains it into a fresh store; the file import of the same lines runs
after it as the baseline.

    python bench/ingest.py                       # 1,000,000 lines, 50 agents, 10 queues
    python bench/ingest.py --lines 200000 --baseline --keep /tmp/bench
    python bench/ingest.py --source mysql --lines 200000
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synth import generate  # noqa: E402
from wallboard.history.ingest import import_files  # noqa: E402
from wallboard.history.store import open_store  # noqa: E402

FLOOR_LINES_PER_S = 200_000  # issue 2: a 1M-line import on one core


@dataclass
class ImportFigures:
    """What one timed import did and how long it took."""

    lines: int
    records: int
    calls: int
    seconds: float
    cpu_seconds: float  # this process's CPU time: steadier than wall time on a shared host
    rejected: dict[str, int] = field(default_factory=dict)


def peak_rss_mib() -> float:
    """Peak resident set size of this whole process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_import(path: Path, db: str) -> ImportFigures:
    """Import `path` into the store at `db` (which should be empty) and time it."""
    store = open_store(db)
    try:
        began, cpu_began = time.perf_counter(), time.process_time()
        summary = import_files(store, [path])
        seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
    finally:
        store.close()
    return ImportFigures(
        lines=summary.lines,
        records=summary.records,
        calls=summary.calls,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        rejected=dict(summary.rejected),
    )


def time_baseline(path: Path) -> tuple[int, float]:
    """Read `path` and split every line on '|', nothing else: (lines, seconds)."""
    began = time.perf_counter()
    lines = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line.split("|")
            lines += 1
    return lines, time.perf_counter() - began


MYSQL_DDL = (
    "CREATE TABLE queue_log (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
    " time DATETIME(6), callid VARCHAR(80), queuename VARCHAR(256), agent VARCHAR(80),"
    " event VARCHAR(32), data1 VARCHAR(100), data2 VARCHAR(100), data3 VARCHAR(100),"
    " data4 VARCHAR(100), data5 VARCHAR(100))"
)
LOAD_ROWS = 10_000  # rows per INSERT while loading the table


def _mysql(url: str, database: str | None = None):  # noqa: ANN202 - a pymysql connection
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
        user=unquote(parts.username or "root"), password=unquote(parts.password or ""),
        database=database, autocommit=True, connect_timeout=10,
    )  # fmt: skip


def load_table(path: Path, conn) -> int:  # noqa: ANN001
    """Bulk-load a queue_log file into `queue_log` as Asterisk writes it (UTC time); rows."""
    from wallboard.history.store import data_columns

    statement = (
        "INSERT INTO queue_log (time, callid, queuename, agent, event, data1, data2, data3,"
        " data4, data5) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    rows: list[tuple] = []
    count = 0
    with open(path, encoding="utf-8") as handle, conn.cursor() as cursor:
        for line in handle:
            epoch, callid, queue, agent, event, *rest = line.rstrip("\n").split("|", 5)
            when = datetime.fromtimestamp(int(epoch), UTC).replace(tzinfo=None)
            rows.append((when, callid, queue, agent, event, *data_columns(rest[0] if rest else "")))
            if len(rows) >= LOAD_ROWS:
                cursor.executemany(statement, rows)
                count += len(rows)
                rows = []
        if rows:
            cursor.executemany(statement, rows)
            count += len(rows)
    return count


def time_table_follow(url: str, db: str) -> ImportFigures:
    """Drain the table at `url` into the store at `db` with the table follower's poll()."""
    from wallboard.config import PbxSettings
    from wallboard.history.ingest import Ingester
    from wallboard.history.naming import Naming
    from wallboard.history.tablefollow import QueueLogTableFollower

    store = open_store(db)
    try:
        pbx = PbxSettings(name="bench", queue_log_db=url, queue_log_timezone="UTC")
        follower = QueueLogTableFollower(Ingester(store), pbx, Naming(), "UTC")
        began, cpu_began = time.perf_counter(), time.process_time()
        follower.poll()
        while follower.lag()[0]:
            follower.poll()
        follower.poll()  # reads nothing: the table is drained
        seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began
        follower.ingester.release()
    finally:
        store.close()
    summary = follower.summary
    return ImportFigures(summary.lines, summary.records, summary.calls, seconds, cpu_seconds,
                         dict(summary.rejected))  # fmt: skip


def run_mysql(args: argparse.Namespace, workdir: Path, path: Path) -> None:
    """The table follower on a fresh MariaDB table of the generated lines, then the file
    import of the same lines as the baseline."""
    name = "wallboard_bench_" + uuid.uuid4().hex[:10]
    admin = _mysql(args.mysql)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        conn = _mysql(args.mysql, name)
        with conn.cursor() as cursor:
            cursor.execute(MYSQL_DDL)
        began = time.perf_counter()
        loaded = load_table(path, conn)
        conn.close()
        print(f"loaded {loaded:,} rows into {name}.queue_log in {time.perf_counter() - began:.1f} s")
        server = urlsplit(args.mysql)
        url = urlunsplit((server.scheme, server.netloc, "/" + name, "", ""))
        rss_before = peak_rss_mib()
        follow_db = str(workdir / "follow.db")
        print(f"following the table into {follow_db}")
        follow = time_table_follow(url, follow_db)
        rss_after = peak_rss_mib()
        print(f"  rows             {follow.lines:>12,}")
        print(f"  records stored   {follow.records:>12,}   ({sum(follow.rejected.values()):,} rejected)")
        print(f"  seconds          {follow.seconds:>12.2f}")
        print(f"  rows/s           {follow.lines / follow.seconds:>12,.0f}")
        print(f"  rows/CPU-s       {follow.lines / follow.cpu_seconds:>12,.0f}"
              f"   ({follow.cpu_seconds:.2f} s of CPU in this process; the server's is not counted)")  # fmt: skip
        print(f"  peak RSS         {rss_after:>12,.0f} MiB   (whole process; {rss_before:,.0f} MiB"
              " before the follower)")  # fmt: skip
        file_db = str(workdir / "file.db")
        print(f"baseline: import_files of the same lines into {file_db}")
        figures = time_import(path, file_db)
        print(f"  lines/s          {figures.lines / figures.seconds:>12,.0f}")
        print(f"  lines/CPU-s      {figures.lines / figures.cpu_seconds:>12,.0f}")
        print(f"  follower / file import time: {follow.seconds / figures.seconds:.2f}x"
              f"   (CPU {follow.cpu_seconds / figures.cpu_seconds:.2f}x)")  # fmt: skip
        if (follow.records, follow.calls) != (figures.records, figures.calls):
            print(f"  MISMATCH: follower {follow.records:,} records / {follow.calls:,} calls,"
                  f" file {figures.records:,} / {figures.calls:,}")  # fmt: skip
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def run(args: argparse.Namespace, workdir: Path) -> None:
    path = workdir / "queue_log"
    db = args.db or str(workdir / "wallboard.db")
    print(f"generating {args.lines:,} lines ({args.agents} agents, {args.queues} queues, "
          f"seed {args.seed}) into {path}")  # fmt: skip
    began = time.perf_counter()
    stats = generate(path, agents=args.agents, queues=args.queues, lines=args.lines, seed=args.seed)
    print(f"  {time.perf_counter() - began:.1f} s: {stats.summary()}")
    if args.source == "mysql":
        run_mysql(args, workdir, path)
        return
    rss_before = peak_rss_mib()

    print(f"importing into {db}")
    figures = time_import(path, db)
    rss_after = peak_rss_mib()
    rejected = sum(figures.rejected.values())
    print(f"  lines            {figures.lines:>12,}")
    print(f"  records stored   {figures.records:>12,}")
    print(f"  seconds          {figures.seconds:>12.2f}")
    print(f"  lines/s          {figures.lines / figures.seconds:>12,.0f}"
          f"   (floor {FLOOR_LINES_PER_S:,}: {'met' if figures.lines / figures.seconds >= FLOOR_LINES_PER_S else 'MISSED'})")  # fmt: skip
    print(f"  lines/CPU-s      {figures.lines / figures.cpu_seconds:>12,.0f}"
          f"   ({figures.cpu_seconds:.2f} s of CPU, one thread)")  # fmt: skip
    print(f"  calls/s          {figures.calls / figures.seconds:>12,.0f}"
          f"   ({figures.calls:,} queue calls; the file holds {stats.calls:,})")  # fmt: skip
    detail = f"   {figures.rejected}" if figures.rejected else ""
    print(f"  rejected lines   {rejected:>12,}{detail}")
    print(f"  peak RSS         {rss_after:>12,.0f} MiB   (whole process: generator, importer and "
          f"Python; {rss_before:,.0f} MiB before the import)")  # fmt: skip
    if not args.db:
        print(f"  database size    {os.path.getsize(db) / 2**20:>12,.0f} MiB")

    if args.baseline:
        lines, seconds = time_baseline(path)
        print("baseline: read + str.split('|') of the same file, no store")
        print(f"  seconds          {seconds:>12.2f}")
        print(f"  lines/s          {lines / seconds:>12,.0f}")
        print(f"  importer / baseline time: {figures.seconds / seconds:.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--queues", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="write the file and database here (replacing an earlier run's) and keep them",
    )
    parser.add_argument("--db", help="store URL (default: a new SQLite file next to the queue_log); "
                        "must be empty, a file imported before is skipped")  # fmt: skip
    parser.add_argument("--baseline", action="store_true", help="also time plain str.split('|')")
    parser.add_argument("--source", choices=("file", "mysql"), default="file",
                        help="what to ingest from: the file (default), or a MariaDB table of the"
                        " same lines read by the table follower")  # fmt: skip
    parser.add_argument("--mysql", default="mysql://root@127.0.0.1:3306/",
                        help="the MariaDB/MySQL server for --source mysql (a fresh database is"
                        " created on it and dropped)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.keep:
        workdir = Path(args.keep)
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in ("queue_log", "wallboard.db", "wallboard.db-wal", "wallboard.db-shm",
                      "follow.db", "follow.db-wal", "follow.db-shm", "file.db", "file.db-wal",
                      "file.db-shm"):  # fmt: skip
            (workdir / stale).unlink(missing_ok=True)
        run(args, workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="wallboard-bench-") as tmp:
            run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
