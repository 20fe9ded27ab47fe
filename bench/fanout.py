"""Websocket fan-out benchmark: a simulated call centre pushed live to N websocket clients.

    python bench/fanout.py --clients 1000 [--seconds 20 --speed 20 --client-processes 1]

This process runs the server: uvicorn on 127.0.0.1 (ephemeral port) serving `/ws` through the
product's Hub and endpoint, and a CallCenterState fed by the simulator model directly (AMI
events and queue_log lines, so today's counters move too) on a 50 ms ticker. The clients (the
`websockets` library) run in separate processes; each measures, for every patch, receive time
minus the patch's `now` (stamped at publish), so the latency covers filter, encode, queueing,
the server's writes and the client's read. Prints latency p50/p99/max, bytes per patch, patches
per second, server CPU and RSS. Floor: 1,000 clients, p99 <= 100 ms, RSS <= 500 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402

from wallboard.auth import Authenticator, DisplayTokens, UserStore  # noqa: E402
from wallboard.config import Settings  # noqa: E402
from wallboard.history.calls import CallTracker  # noqa: E402
from wallboard.history.queuelog import Rejected, parse_line  # noqa: E402
from wallboard.history.store import open_store  # noqa: E402
from wallboard.live.events import (  # noqa: E402
    Malformed,
    MemberEvent,
    QueueEntry,
    QueueParams,
    parse_event,
)
from wallboard.live.hub import Hub  # noqa: E402
from wallboard.live.state import CallCenterState  # noqa: E402
from wallboard.simulator.model import CallCenterModel, default_config  # noqa: E402
from wallboard.web import ws  # noqa: E402

FLOOR_CLIENTS, FLOOR_P99_MS, FLOOR_RSS_MB = 1000, 100.0, 500.0
TICK = 0.05


# ------------------------------------------------------------------------------ server side


class Live:
    """What the endpoint needs of app.state.live."""

    def __init__(self, state: CallCenterState, hub: Hub) -> None:
        self.state = state
        self.hub = hub


class Feeder:
    """Runs the simulator model on wall time x speed and publishes the state's patches."""

    def __init__(self, model: CallCenterModel, state: CallCenterState, hub: Hub, speed: float):
        self.model, self.state, self.hub, self.speed = model, state, hub, speed
        self.tracker = CallTracker(keep_before=True)
        self.events = 0

    def bootstrap(self) -> None:
        items = [
            event
            for event in map(parse_event, self.model.queue_status())
            if isinstance(event, (QueueParams, MemberEvent, QueueEntry))
        ]
        self.state.reset(items, time.time())
        self.hub.reset()

    def step(self, seconds: float) -> None:
        for output in self.model.advance(self.model.now + seconds):
            if isinstance(output, str):
                record = parse_line(output)
                if isinstance(record, Rejected):
                    continue
                self.tracker.apply(record)
                events: list[Any] = self.tracker.take()[1]
            else:
                event = parse_event(output)
                events = [] if event is None or isinstance(event, Malformed) else [event]
            for event in events:
                self.events += 1
                patch = self.state.apply(event, time.time())
                if patch:
                    self.hub.publish(patch)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self.step(TICK * self.speed)


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------ client side


class BenchClient(asyncio.Protocol):
    """One websocket client: the `websockets` library's sans-I/O protocol on an asyncio
    transport, so that thousands of clients in one process cost little more than the reads."""

    def __init__(self, url: str, window: tuple[float, float], sample: Any) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.window = window
        self.sample = sample
        self.opened: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.closed = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        from websockets.http11 import Response

        now = time.time()
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT and self.window[0] <= now < self.window[1]:
                    self.sample(now, event.data)
            elif isinstance(event, Response) and not self.opened.done():
                self.opened.set_result(event.status_code == 101)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.opened.done():
            self.opened.set_result(False)

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()


def client_process(url: str, count: int, seconds: float, start_at: float, conn: Any) -> None:
    """Open `count` websockets, then record patch latencies from `start_at` for `seconds`."""
    asyncio.run(_clients(url, count, seconds, start_at, conn))


async def _clients(url: str, count: int, seconds: float, start_at: float, conn: Any) -> None:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    sizes: list[int] = []
    marker = b'"now":'

    def sample(now: float, data: bytes) -> None:
        if data.startswith(b'{"type":"patch"'):
            at = data.find(marker) + len(marker)
            latencies.append(now - float(data[at : data.find(b",", at)]))
            sizes.append(len(data))

    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    window = (start_at, start_at + seconds)
    clients = []
    for _ in range(count):
        _, client = await loop.create_connection(
            lambda: BenchClient(url, window, sample), host, int(port)
        )
        if await client.opened:
            clients.append(client)
    conn.send(("connected", len(clients)))
    await asyncio.sleep(max(0.0, window[1] - time.time()) + 0.5)
    closed = {"lost": sum(client.closed for client in clients)}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    closed["cpu_ms"] = int(1000 * (usage.ru_utime + usage.ru_stime))
    conn.send(("done", latencies, sizes, closed))
    for client in clients:
        client.transport.close()


# ------------------------------------------------------------------------------ main


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def bench(args: argparse.Namespace) -> int:
    directory = Path(tempfile.mkdtemp(prefix="wallboard-fanout-"))
    settings = Settings(db=str(directory / "bench.db"), timezone="UTC")
    store = open_store(settings.db)
    UserStore(store).add("bench", "bench-password", admin=True)
    token = DisplayTokens(store).add("bench-tv", "bench")
    model = CallCenterModel(default_config(seed=args.seed), time.time())
    state = CallCenterState(settings.timezone, settings.service_level_for)
    hub = Hub(state.snapshot, time.time)
    feeder = Feeder(model, state, hub, args.speed)
    feeder.bootstrap()
    app = Starlette(routes=ws.routes())
    app.state.settings = settings
    app.state.store = store
    app.state.auth = Authenticator(store, settings)
    app.state.live = Live(state, hub)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", backlog=4096,
        ws_per_message_deflate=args.deflate, ws_max_size=64 * 1024,
    )  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    await hub.start()
    feeding = asyncio.create_task(feeder.run())
    url = f"ws://127.0.0.1:{port}/ws?display={token}"

    context = multiprocessing.get_context("spawn")
    shares = [args.clients // args.client_processes] * args.client_processes
    shares[0] += args.clients - sum(shares)
    connect_budget = 10 + args.clients / 50
    start_at = time.time() + connect_budget
    pipes, procs = [], []
    for share in shares:
        parent, child = context.Pipe()
        proc = context.Process(
            target=client_process, args=(url, share, args.seconds, start_at, child)
        )
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    print(f"server on 127.0.0.1:{port}; {args.clients} clients in {len(procs)} processes;"
          f" model at {args.speed}x real time")  # fmt: skip
    connected = 0
    for pipe in pipes:
        while not pipe.poll():
            await asyncio.sleep(0.05)
        connected += pipe.recv()[1]
    now = time.time()
    if now > start_at:
        print(f"warning: connecting took longer than {connect_budget:.0f} s; measuring late")
    await asyncio.sleep(max(0.0, start_at - now))
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    patches0, events0 = hub.counters["patches"], feeder.events
    peak_clients = hub.stats["clients"]
    await asyncio.sleep(args.seconds)
    cpu1, wall1 = cpu_seconds(), time.perf_counter()
    patches1, events1 = hub.counters["patches"], feeder.events
    rss_now, rss_peak = rss_mb()
    latencies: list[float] = []
    sizes: list[int] = []
    closed: dict[str, int] = {}
    for pipe in pipes:
        while not pipe.poll():
            await asyncio.sleep(0.05)
        _, got_latencies, got_sizes, got_closed = pipe.recv()
        latencies += got_latencies
        sizes += got_sizes
        for key, value in got_closed.items():
            closed[key] = closed.get(key, 0) + value
    for proc in procs:
        proc.join(timeout=30)
    feeding.cancel()
    stats = hub.stats
    await hub.stop()
    server.should_exit = True
    await serving

    wall = wall1 - wall0
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    print(f"clients connected      {connected} (hub saw {peak_clients})")
    print(
        f"events / patches       {(events1 - events0) / wall:.1f} / {(patches1 - patches0) / wall:.1f} per s"
    )
    print(f"patch messages         {len(latencies)} received in {wall:.1f} s")
    print(
        f"latency event->client  p50 {p50:.1f} ms   p99 {p99:.1f} ms   max {max(latencies, default=0) * 1000:.1f} ms"
    )
    print(f"bytes per patch        {sum(sizes) / max(1, len(sizes)):.0f} (JSON text, per client)")
    print(f"server CPU             {100 * (cpu1 - cpu0) / wall:.0f}% of one core")
    print(f"server RSS             {rss_now:.0f} MB now, {rss_peak:.0f} MB peak")
    print(f"hub                    overflows {stats.get('overflows', 0)}, closed slow {stats.get('closed_slow', 0)},"
          f" send errors {stats.get('send_errors', 0)}; client-side closes {closed or 0}")  # fmt: skip
    ok = (
        connected >= min(args.clients, FLOOR_CLIENTS)
        and p99 <= FLOOR_P99_MS
        and rss_peak <= FLOOR_RSS_MB
    )
    print(f"floor ({FLOOR_CLIENTS} clients, p99 <= {FLOOR_P99_MS:.0f} ms, RSS <= {FLOOR_RSS_MB:.0f} MB): "
          f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window")
    parser.add_argument("--speed", type=float, default=20.0, help="simulated seconds per second")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=1 if (os.cpu_count() or 1) <= 2 else 2,
        help="default 1 on a machine of 2 cores or fewer (the server needs one to itself)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 2 * args.clients + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
