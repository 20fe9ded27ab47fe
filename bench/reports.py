"""Report latency benchmark: every report over a day, a month and a year of a synthetic centre.

Generates a year for a 300-agent, 20-queue centre with bench/synth.py, imports it once into a
SQLite store (cached between runs: `--db`, default in the temp directory), then times each report
of the catalogue through `run_report` (median of `--runs`), and the first page of the detail
reports and of `search`, through the hourly summaries (`--raw`: through the raw tables only, the
reference path). Floors: a month ≤ 100 ms, a year ≤ 1 s, a detail first page ≤ 50 ms.

    python bench/reports.py
    python bench/reports.py --db /var/tmp/year.db --runs 7 --check
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.synth import DEFAULT_START, generate  # noqa: E402
from wallboard.auth import User  # noqa: E402
from wallboard.config import Settings  # noqa: E402
from wallboard.history.ingest import import_files  # noqa: E402
from wallboard.history.reports import (  # noqa: E402
    CATALOGUE,
    ReportParams,
    SearchParams,
    run_report,
    search_calls,
)
from wallboard.history.store import Store, StoreError, open_store  # noqa: E402

FLOORS_MS = {"month": 100.0, "year": 1000.0}
DETAIL_FLOOR_MS = 50.0
ADMIN = User("bench", admin=True)


def build(db: Path, agents: int, queues: int, days: int, seed: int) -> Store:
    """The store at `db`, generated and imported unless a finished one is already there."""
    done = db.with_name(db.name + ".done")
    if db.exists() and done.exists():
        try:
            store = open_store(str(db))
            print(f"using cached {db}")
            return store
        except (sqlite3.Error, StoreError) as exc:  # made by an older schema: build it again
            print(f"rebuilding {db}: {exc}")
    for stale in (db, done, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "queue_log"
        began = time.perf_counter()
        stats = generate(log, agents=agents, queues=queues, days=days, seed=seed)
        print(f"generated {stats.summary()} in {time.perf_counter() - began:.0f} s")
        store = open_store(str(db))
        began = time.perf_counter()
        summary = import_files(store, [log])
        print(f"imported {summary.records:,} records in {time.perf_counter() - began:.0f} s")
    done.write_text("ok\n")
    return store


def median_ms(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def ranges(first: date, days: int) -> dict[str, tuple[date, date]]:
    """A mid-range weekday, its month, and the whole generated range."""
    day = first + timedelta(days=min(days - 1, 163))
    while day.weekday() > 4:
        day -= timedelta(days=1)
    month_start = day.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return {
        "day": (day, day),
        "month": (max(month_start, first), min(month_end, first + timedelta(days=days - 1))),
        "year": (first, first + timedelta(days=days - 1)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="SQLite file to use or create (cached)")
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a floor is missed")
    parser.add_argument("--raw", action="store_true", help="bypass the hourly summaries")
    args = parser.parse_args(argv)
    db = args.db or Path(tempfile.gettempdir()) / (
        f"wallboard-bench-{args.agents}a-{args.queues}q-{args.days}d-{args.seed}.db"
    )
    store = build(db, args.agents, args.queues, args.days, args.seed)
    settings = Settings(timezone="UTC", db=str(db))
    calls = store.query_one("SELECT count(*) FROM queue_calls")[0]
    print(f"{calls:,} queue calls in {db}\n")
    spans = ranges(DEFAULT_START, args.days)
    misses = []
    print(f"{'report':32} {'day ms':>9} {'month ms':>9} {'year ms':>9}")
    for report in CATALOGUE:
        figures = {}
        for span, (start, end) in spans.items():
            params = ReportParams(start, end, now=int(time.time()))
            figures[span] = median_ms(
                lambda p=params, n=report.name: run_report(
                    store, settings, n, p, ADMIN, summaries=not args.raw
                ),
                args.runs,
            )
            floor = DETAIL_FLOOR_MS if report.paged else FLOORS_MS.get(span)
            if floor is not None and figures[span] > floor:
                misses.append(f"{report.name} over a {span}: {figures[span]:.0f} ms > {floor:.0f}")
        marks = "  (first page)" if report.paged else ""
        print(f"{report.name:32} " + " ".join(f"{figures[s]:9.1f}" for s in spans) + marks)
    figures = {}
    for span, (start, end) in spans.items():
        params = ReportParams(start, end, now=int(time.time()))
        figures[span] = median_ms(
            lambda p=params: search_calls(store, settings, p, SearchParams(), ADMIN), args.runs
        )
    print(f"{'search':32} " + " ".join(f"{figures[s]:9.1f}" for s in spans) + "  (first page)")
    print()
    if misses:
        print("floors missed:\n  " + "\n  ".join(misses))
    else:
        print("every floor met")
    store.close()
    return 1 if misses and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
