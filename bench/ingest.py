"""Ingest benchmark: generate a synthetic queue_log and time the project's importer on it.

Runs in-process: the generator (bench/synth.py) writes the file, `import_files` loads it into a
fresh store, and with `--baseline` the same file is also split with `str.split('|')` alone, so
the importer's figure has a peer on this machine.

    python bench/ingest.py                       # 1,000,000 lines, 50 agents, 10 queues
    python bench/ingest.py --lines 200000 --baseline --keep /tmp/bench
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

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


def run(args: argparse.Namespace, workdir: Path) -> None:
    path = workdir / "queue_log"
    db = args.db or str(workdir / "wallboard.db")
    print(f"generating {args.lines:,} lines ({args.agents} agents, {args.queues} queues, "
          f"seed {args.seed}) into {path}")  # fmt: skip
    began = time.perf_counter()
    stats = generate(path, agents=args.agents, queues=args.queues, lines=args.lines, seed=args.seed)
    print(f"  {time.perf_counter() - began:.1f} s: {stats.summary()}")
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
    args = parser.parse_args(argv)
    if args.keep:
        workdir = Path(args.keep)
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in ("queue_log", "wallboard.db", "wallboard.db-wal", "wallboard.db-shm"):
            (workdir / stale).unlink(missing_ok=True)
        run(args, workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="wallboard-bench-") as tmp:
            run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
