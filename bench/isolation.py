"""Do heavy reports stall the live board? The product as deployed, measured with and without them.

    python bench/isolation.py [--lines 5000000 --clients 200 --seconds 20 --db bench/out/isolation.db]

Runs, each in its own process: `wallboard serve` (the installed product of this checkout) on
a busy SQLite store (built once from bench/synth.py: `--lines` queue_log lines of a 300-agent,
20-queue centre, kept in --db), a simulated Asterisk driving live traffic over AMI and writing
the queue_log the server follows, N websocket clients on a display link, and, in the second
half, a loop of heavy REST requests (a year-long `search`, `distribution_by_month`,
`agent_sessions`) plus new websocket logins with HTTP Basic (argon2 each).

Prints, for the quiet half and the loaded half of the same run: event->client latency p50/p99/max
(receive time minus the patch's `now`, stamped when the hub sends it), the longest gap between
two messages of one client (the server pings every 100 ms when nothing happens, so a gap is a
stall), how far behind the queue_log the follower got (the product's own metric), and what the
heavy requests took. Floor: loaded p99 within +20 ms of quiet p99, no gap over 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout import BenchClient, percentile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FLOOR_P99_DELTA_MS, FLOOR_GAP_MS = 20.0, 250.0
HEARTBEAT = 0.1
PASSWORD = "bench-password-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_store(db: Path, lines: int) -> None:
    """The busy store: synthetic history imported once, reused by later runs."""
    if db.exists():
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    log = db.with_suffix(".queue_log")
    print(f"building {db}: {lines:,} synthetic queue_log lines, then an import (minutes)...")
    subprocess.run([sys.executable, str(ROOT / "bench/synth.py"), "--agents", "300", "--queues",
                    "20", "--lines", str(lines), "--out", str(log)], check=True)  # fmt: skip
    subprocess.run([str(BIN / "wallboard"), "import", str(log), "--db", str(db), "--timezone",
                    "UTC"], check=True)  # fmt: skip
    log.unlink()


def history_span(db: Path) -> tuple[str, str]:
    """The first and last day of the stored history (the year the heavy reports ask for)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    low, high = conn.execute("SELECT min(enter_time), max(enter_time) FROM queue_calls").fetchone()
    conn.close()
    day = lambda t: time.strftime("%Y-%m-%d", time.gmtime(t))  # noqa: E731
    return day(low), day(high)


# ------------------------------------------------------------------------------ client side


def websocket_clients(url: str, count: int, until: float, conn: Any) -> None:
    asyncio.run(_clients(url, count, until, conn))


async def _clients(url: str, count: int, until: float, conn: Any) -> None:
    """Every text message's (receive time, patch `now` or None) per client."""
    loop = asyncio.get_running_loop()
    received: list[list[tuple[float, float | None]]] = []
    marker = b'"now":'

    def recorder(log: list[tuple[float, float | None]]) -> Any:
        def sample(now: float, data: bytes) -> None:
            stamp = None
            if data.startswith(b'{"type":"patch"'):
                at = data.find(marker) + len(marker)
                stamp = float(data[at : data.find(b",", at)])
            log.append((now, stamp))

        return sample

    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    clients = []
    for _ in range(count):
        log: list[tuple[float, float | None]] = []
        _, client = await loop.create_connection(
            lambda log=log: BenchClient(url, (0.0, until), recorder(log)), host, int(port)
        )
        if await client.opened:
            clients.append(client)
            received.append(log)
    conn.send(("connected", len(clients)))
    await asyncio.sleep(max(0.0, until - time.time()) + 0.3)
    conn.send(("done", received, sum(c.closed for c in clients)))
    for client in clients:
        client.transport.close()


def heavy_load(base: str, span: tuple[str, str], until: float, conn: Any) -> None:
    """Heavy REST requests back to back, and a websocket login with Basic every second."""
    asyncio.run(_heavy(base, span, until, conn))


async def _heavy(base: str, span: tuple[str, str], until: float, conn: Any) -> None:
    import httpx
    from websockets.asyncio.client import connect

    auth = {"Authorization": "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()}
    year = {"start": span[0], "end": span[1]}
    requests = [("search", {"entity": "search", **year}),
                ("distribution_by_month", {"entity": "reports/distribution_by_month", **year}),
                ("agent_sessions", {"entity": "reports/agent_sessions", **year})]  # fmt: skip
    timings: dict[str, list[float]] = {name: [] for name, _ in requests}
    statuses: dict[int, int] = {}
    logins: list[float] = []

    async def reports(worker: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            n = worker
            while time.time() < until:
                name, params = requests[n % len(requests)]
                n += 1
                started = time.perf_counter()
                response = await http.get("/stats/rest/index.php", params=params, headers=auth)
                timings[name].append(time.perf_counter() - started)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async def websocket_logins() -> None:
        ws_url = base.replace("http://", "ws://") + "/ws"
        while time.time() < until:
            started = time.perf_counter()
            async with connect(ws_url, additional_headers=auth) as socket_:
                await socket_.recv()
            logins.append(time.perf_counter() - started)
            await asyncio.sleep(1.0)

    await asyncio.gather(reports(0), reports(1), websocket_logins())
    conn.send((timings, statuses, logins))


# ------------------------------------------------------------------------------ server side


def scrape_lag(base: str) -> tuple[float, float]:
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    found = dict(re.findall(r"^(wallboard_queue_log_lag_(?:seconds|bytes)) (\S+)$", text, re.M))
    return float(found.get("wallboard_queue_log_lag_seconds", 0)), float(
        found.get("wallboard_queue_log_lag_bytes", 0)
    )


def phase_figures(received: list[list[tuple[float, float | None]]], low: float, high: float) -> dict:
    latencies = [now - stamp for log in received for now, stamp in log
                 if stamp is not None and low <= now < high]  # fmt: skip
    gaps = []
    for log in received:
        times = [now for now, _ in log if low <= now < high]
        gaps += [b - a for a, b in zip(times, times[1:], strict=False)]
    return {
        "messages": sum(1 for log in received for now, _ in log if low <= now < high),
        "patches": len(latencies),
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies, default=0.0) * 1000,
        "gap": max(gaps, default=0.0) * 1000,
    }


def run(args: argparse.Namespace) -> int:
    db = Path(args.db)
    prepare_store(db, args.lines)
    span = history_span(db)
    work = Path(tempfile.mkdtemp(prefix="wallboard-isolation-"))
    store = work / "wallboard.db"
    shutil.copy(db, store)  # the run appends to it; the prepared store stays as built
    queue_log, ami_port, port = work / "queue_log", free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    config = work / "wallboard.toml"
    config.write_text(
        "[wallboard]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in {
            "db": str(store), "timezone": "UTC", "port": port, "queue_log": str(queue_log),
            "ami_host": "127.0.0.1", "ami_port": ami_port, "ami_user": "wallboard",
            "ami_secret": "wallboard", "ws_heartbeat": HEARTBEAT, "metrics": True,
            "report_time_limit": 120.0, "log_level": "warning", "follow_interval": 0.1,
        }.items())
    )  # fmt: skip
    wallboard = str(BIN / "wallboard")
    subprocess.run([wallboard, "users", "add", "bench", "--admin", "--password-stdin",
                    "--config", str(config)], input=PASSWORD + "\n", text=True, check=True,
                   capture_output=True)  # fmt: skip
    shown = subprocess.run([wallboard, "displays", "add", "bench-tv", "--user", "bench",
                            "--config", str(config)], text=True, check=True, capture_output=True)  # fmt: skip
    token = re.search(r"display=(\S+)", shown.stdout).group(1)
    sim = subprocess.Popen([sys.executable, "-m", "wallboard.simulator", "--port", str(ami_port),
                            "--queue-log", str(queue_log), "--speed", str(args.speed)],
                           stdout=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip
    time.sleep(1.0)
    server_log = open(work / "server.log", "wb")
    server = subprocess.Popen([wallboard, "serve", "--config", str(config)], stdout=server_log,
                              stderr=subprocess.STDOUT, cwd=work)  # fmt: skip
    try:
        deadline = time.time() + 120
        while b"wallboard: serving" not in (work / "server.log").read_bytes():
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit("the server did not start:\n" + (work / "server.log").read_text())
            time.sleep(0.2)
        print(f"store: {db} ({db.stat().st_size / 2**30:.1f} GiB, history {span[0]} .. {span[1]})")
        return measure(args, base, token, span, work)
    finally:
        server.send_signal(signal.SIGTERM)
        sim.send_signal(signal.SIGTERM)
        for proc in (server, sim):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        server_log.close()
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, base: str, token: str, span: tuple[str, str],
            work: Path) -> int:  # fmt: skip
    context = multiprocessing.get_context("spawn")
    connect_budget = 10 + args.clients / 50
    start = time.time() + connect_budget
    middle, end = start + args.seconds, start + 2 * args.seconds
    ws_url = base.replace("http://", "ws://") + f"/ws?display={token}"
    clients_pipe, child = context.Pipe()
    clients = context.Process(target=websocket_clients, args=(ws_url, args.clients, end, child))
    clients.start()
    connected = clients_pipe.recv()[1]
    lags: dict[str, list[tuple[float, float]]] = {"quiet": [], "loaded": []}
    heavy: Any = None
    while time.time() < end:
        if heavy is None and time.time() >= middle:
            heavy_pipe, heavy_child = context.Pipe()
            heavy = context.Process(target=heavy_load, args=(base, span, end, heavy_child))
            heavy.start()
        if time.time() >= start:
            lags["quiet" if heavy is None else "loaded"].append(scrape_lag(base))
        time.sleep(0.5)
    _, received, lost = clients_pipe.recv()
    timings, statuses, logins = heavy_pipe.recv()
    clients.join(30)
    heavy.join(30)
    quiet = phase_figures(received, start, middle)
    loaded = phase_figures(received, middle, end)
    print(f"{connected} websocket clients on a display link; heartbeat {HEARTBEAT * 1000:.0f} ms;"
          f" simulator at {args.speed}x; {args.seconds:.0f} s per half")  # fmt: skip
    for name, figures in (("without heavy load", quiet), ("with heavy load", loaded)):
        print(f"  {name:19} latency p50 {figures['p50']:6.1f} ms  p99 {figures['p99']:6.1f} ms"
              f"  max {figures['max']:6.1f} ms   longest gap {figures['gap']:6.1f} ms"
              f"   ({figures['patches']} patches, {figures['messages']} messages)")  # fmt: skip
    for phase, samples in lags.items():
        print(f"  queue_log follower lag ({phase}): max {max((s for s, _ in samples), default=0):.2f} s,"
              f" {max((b for _, b in samples), default=0):.0f} bytes behind"
              f" ({len(samples)} samples of the product's metric)")  # fmt: skip
    for name, seconds in timings.items():
        print(f"  heavy {name:22} {len(seconds)} requests, p50 {percentile(seconds, 0.5):.2f} s,"
              f" max {max(seconds, default=0):.2f} s")  # fmt: skip
    print(f"  websocket logins with Basic: {len(logins)}, p50 {percentile(logins, 0.5) * 1000:.0f} ms;"
          f" HTTP statuses {statuses}; clients closed {lost}")  # fmt: skip
    delta = loaded["p99"] - quiet["p99"]
    ok = delta <= FLOOR_P99_DELTA_MS and max(quiet["gap"], loaded["gap"]) <= FLOOR_GAP_MS
    print(f"  p99 with heavy load - without: {delta:+.1f} ms")
    print(f"floor (p99 +{FLOOR_P99_DELTA_MS:.0f} ms at most, no gap over {FLOOR_GAP_MS:.0f} ms):"
          f" {'PASS' if ok else 'FAIL'}")  # fmt: skip
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5_000_000, help="synthetic history size")
    parser.add_argument("--db", default=str(ROOT / "bench/out/isolation.db"))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each half")
    parser.add_argument("--speed", type=float, default=3.0, help="simulated seconds per second")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
