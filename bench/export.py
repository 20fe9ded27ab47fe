"""Export benchmark: a year of `answered_calls_detail` as CSV through the real HTTP path, and
the server's peak memory while it sends it.

    python bench/export.py
    python bench/export.py --db bench/out/isolation.db      # any store already built
    python bench/export.py --agents 50 --queues 10 --days 365 --keep

The store is a synthetic year of queue_log (bench/synth.py's generator, imported as
bench/reports.py does it: 300 agents, 20 queues, 365 days by default), built once and kept in
bench/out/ (git-ignored); a later run reuses it. The product (`wallboard serve` of this venv) runs
as a subprocess on it; a client logs in through the login form and asks the REST API for the
whole history with `format=csv`, streaming the answer to a file on disk (never held in memory;
its rows are counted by reading it back as a stream). The figure that matters is the server
process's peak RSS while it answers: its VmHWM (/proc/<pid>/status), reset after the login
(`/proc/<pid>/clear_refs`), cross-checked by sampling VmRSS every 20 ms. Budget: 200 MB.

Baseline, on a fresh server: the same rows as JSON pages (`rows=10000`, page after page), as a
client without the export would fetch them: time and peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.isolation import history_span  # noqa: E402
from bench.reports import build  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BUDGET_MB = 200.0  # the server's peak RSS during the export, in MB (10^6 bytes)
REPORT = "answered_calls_detail"
JSON_ROWS = 10_000  # the API's largest page
USER, PASSWORD = "export-bench", "export-bench-password"
API = "/stats/rest/index.php"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(args: argparse.Namespace) -> Path:
    """The store: the one given or left by an earlier run, else a synthetic year built now."""
    db = Path(args.db) if args.db else ROOT / "bench/out" / (
        f"export-{args.agents}a-{args.queues}q-{args.days}d-{args.seed}.db"
    )  # fmt: skip
    if args.db and db.exists():
        print(f"using the store {db}")
    else:  # bench/reports.py's builder: reuses a finished store, else generates and imports
        db.parent.mkdir(parents=True, exist_ok=True)
        build(db, args.agents, args.queues, args.days, args.seed).close()
    add_user(db)
    return db


def add_user(db: Path) -> None:
    """The bench's admin, with a cheap argon2 hash: the logins measure nothing."""
    from argon2 import PasswordHasher

    from wallboard.auth import UserStore
    from wallboard.history.store import open_store

    store = open_store(str(db))
    try:
        users = UserStore(store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        if users.get(USER) is None:
            users.add(USER, PASSWORD, admin=True)
        else:
            users.set_password(USER, PASSWORD)
    finally:
        store.close()


# ------------------------------------------------------------------------------ the server


def status_kib(pid: int, field: str) -> int:
    """A VmXXX line of /proc/<pid>/status, in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1))


class Server:
    """`wallboard serve` on the store, with its memory watched."""

    def __init__(self, db: Path, work: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = work / f"server-{self.port}.log"
        config = work / f"wallboard-{self.port}.toml"
        config.write_text("[wallboard]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in {
            "db": str(db), "timezone": "UTC", "host": "127.0.0.1", "port": self.port,
            "report_time_limit": 3600.0, "log_level": "warning",
        }.items()))  # fmt: skip
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([str(BIN / "wallboard"), "serve", "--config", str(config)],
                                         stdout=out, stderr=subprocess.STDOUT, cwd=work)  # fmt: skip
        deadline = time.time() + 300
        while b"wallboard: serving" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("the server did not start:\n" + self.log.read_text())
            time.sleep(0.1)
        self.sampled_kib = 0
        self._sampling = threading.Event()

    def rss_kib(self) -> int:
        return status_kib(self.proc.pid, "VmRSS")

    def peak_kib(self) -> int:
        return status_kib(self.proc.pid, "VmHWM")

    def reset_peak(self) -> bool:
        """Set the peak RSS back to the current RSS (Linux >= 4.0); False when not allowed."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return self.peak_kib() <= self.rss_kib() + 1024

    def sample(self) -> threading.Thread:
        """Sample VmRSS every 20 ms until `stop_sampling` (a cross-check of VmHWM)."""
        self.sampled_kib = self.rss_kib()
        self._sampling.clear()

        def run() -> None:
            while not self._sampling.wait(0.02):
                try:
                    self.sampled_kib = max(self.sampled_kib, self.rss_kib())
                except (OSError, AttributeError):
                    return

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def stop_sampling(self, thread: threading.Thread) -> None:
        self._sampling.set()
        thread.join()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        text = self.log.read_text(errors="replace")
        if "Traceback" in text:
            print("the server logged an error:\n" + text[-4000:])


def login(server: Server) -> httpx.Client:
    """A client holding a session cookie, from the login form (as a browser gets one)."""
    client = httpx.Client(base_url=server.base, timeout=httpx.Timeout(3600.0, connect=10.0))
    answer = client.post("/login", data={"name": USER, "password": PASSWORD, "next": "/reports"},
                         headers={"Origin": server.base})  # fmt: skip
    if answer.status_code != 303 or not client.cookies:
        raise SystemExit(f"login failed: {answer.status_code} {answer.text[:300]}")
    return client


@dataclass
class Run:
    rows: int
    bytes: int
    seconds: float
    first_byte: float  # seconds to the first byte of the answer
    rss_before_kib: int
    peak_kib: int  # VmHWM since the reset (or the sampled maximum when it cannot be reset)
    sampled_kib: int
    requests: int = 1


def measured(server: Server, fetch) -> Run:  # noqa: ANN001 - fetch(client) -> (rows, bytes, first_byte)
    client = login(server)
    try:
        client.get(API, params={"entity": "queues"}).raise_for_status()  # warm the app up
        reset = server.reset_peak()
        before = server.rss_kib()
        sampler = server.sample()
        began = time.perf_counter()
        rows, size, first_byte, requests = fetch(client)
        seconds = time.perf_counter() - began
        server.stop_sampling(sampler)
        peak = server.peak_kib() if reset else server.sampled_kib
        return Run(rows, size, seconds, first_byte, before, peak, server.sampled_kib, requests)
    finally:
        client.close()


def csv_export(span: tuple[str, str], target: Path):  # noqa: ANN201 - a fetch for `measured`
    def fetch(client: httpx.Client) -> tuple[int, int, float, int]:
        params = {"entity": f"reports/{REPORT}", "start": span[0], "end": span[1], "format": "csv"}
        began = time.perf_counter()
        first_byte = 0.0
        size = 0
        with client.stream("GET", API, params=params) as answer, open(target, "wb") as out:
            if answer.status_code != 200:
                answer.read()
                raise SystemExit(f"export failed: {answer.status_code} {answer.text[:300]}")
            for block in answer.iter_raw(1 << 20):
                if not size:
                    first_byte = time.perf_counter() - began
                out.write(block)
                size += len(block)
        with open(target, newline="", encoding="utf-8") as written:  # read back as a stream
            rows = sum(1 for _ in csv.reader(written)) - 1  # the header
        return rows, size, first_byte, 1

    return fetch


def json_pages(span: tuple[str, str]):  # noqa: ANN201 - a fetch for `measured`
    def fetch(client: httpx.Client) -> tuple[int, int, float, int]:
        began = time.perf_counter()
        rows = size = page = 0
        first_byte, total = 0.0, 1
        while page < total:
            page += 1
            answer = client.get(API, params={"entity": f"reports/{REPORT}", "start": span[0],
                                             "end": span[1], "rows": JSON_ROWS, "page": page})  # fmt: skip
            if answer.status_code != 200:
                raise SystemExit(f"page {page} failed: {answer.status_code} {answer.text[:300]}")
            if page == 1:
                first_byte = time.perf_counter() - began
            body = answer.json()
            total = int(body["total"])
            rows += len(body["rows"])
            size += len(answer.content)
            if page % 50 == 0:
                print(f"    ... page {page} of {total}, {time.perf_counter() - began:.0f} s",
                      flush=True)  # fmt: skip
        return rows, size, first_byte, page

    return fetch


def records(db: Path, span: tuple[str, str], work: Path) -> int:
    """How many rows the report has over the span (the API's `records`), as a cross-check."""
    server = Server(db, work)
    try:
        client = login(server)
        body = client.get(API, params={"entity": f"reports/{REPORT}", "start": span[0],
                                       "end": span[1], "rows": 1}).json()  # fmt: skip
        client.close()
        return int(body["records"])
    finally:
        server.stop()


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB ({kib * 1024 / 1e6:,.0f} MB)"


def show(run: Run, what: str) -> None:
    print(f"  rows             {run.rows:>14,}")
    print(f"  {what:16} {run.bytes / 1e6:>14,.1f} MB ({run.requests:,} request"
          f"{'s' if run.requests != 1 else ''})")  # fmt: skip
    print(f"  seconds          {run.seconds:>14.1f}   (first byte after {run.first_byte:.1f} s)")
    print(f"  rows/s           {run.rows / run.seconds:>14,.0f}")
    print(f"  server RSS       {mib(run.rss_before_kib):>14} before the request")
    print(f"  server peak RSS  {mib(run.peak_kib):>14} while answering"
          f"   (sampled every 20 ms: {mib(run.sampled_kib)})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="an existing SQLite store to use (default: a synthetic year"
                        " in bench/out/, built on the first run)")  # fmt: skip
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--queues", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-json", action="store_true", help="skip the JSON pages baseline")
    parser.add_argument("--keep", action="store_true", help="keep the CSV file (bench/out/)")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    db = prepare(args)
    span = history_span(db)
    work = Path(tempfile.mkdtemp(prefix="wallboard-export-bench-"))
    try:
        return measure(args, db, span, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, db: Path, span: tuple[str, str], work: Path) -> int:
    expected = records(db, span, work)
    print(f"store: {db} ({db.stat().st_size / 2**30:.1f} GiB), history {span[0]} .. {span[1]}:"
          f" {expected:,} rows of {REPORT}")  # fmt: skip

    target = db.with_name(f"{REPORT}_{span[0]}_{span[1]}.csv")
    server = Server(db, work)
    try:
        csv_run = measured(server, csv_export(span, target))
    finally:
        server.stop()
    print(f"CSV export (GET {API}?entity=reports/{REPORT}&start={span[0]}&end={span[1]}"
          "&format=csv, streamed to disk)")  # fmt: skip
    show(csv_run, "written")
    if csv_run.rows != expected:
        print(f"  MISMATCH: the file holds {csv_run.rows:,} rows, the report {expected:,}")
    if args.keep:
        print(f"  kept {target}")
    else:
        target.unlink()
    ok = csv_run.peak_kib * 1024 <= BUDGET_MB * 1e6 and csv_run.rows == expected

    if not args.no_json:
        server = Server(db, work)
        try:
            print(
                f"baseline: the same rows as JSON pages of {JSON_ROWS:,} (rows={JSON_ROWS}&page=N)"
            )
            json_run = measured(server, json_pages(span))
        finally:
            server.stop()
        show(json_run, "received")
        print(f"  JSON pages / CSV export: {json_run.seconds / csv_run.seconds:.1f}x the time,"
              f" {json_run.peak_kib / csv_run.peak_kib:.2f}x the peak RSS")  # fmt: skip
        if json_run.rows != expected:
            print(f"  MISMATCH: the pages held {json_run.rows:,} rows, the report {expected:,}")
    print(f"budget (server peak RSS during the CSV export <= {BUDGET_MB:.0f} MB, every row):"
          f" {'PASS' if ok else 'FAIL'} ({mib(csv_run.peak_kib)})")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
