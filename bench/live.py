"""Live-side benchmark: AMI events through the real AmiListener over a loopback socket.

    python bench/live.py [--events 300000] [--queues 200 --agents 2000 --queues-per-agent 5]

1. Throughput: a server process blasts the lab capture's queue events (replayed with rewritten
   uniqueids) into an AmiListener in this process; prints events/s end to end (socket -> framer
   -> typed event -> state -> merge patch), wall and per CPU second of this (single-threaded)
   process. Floor: 30,000 events/s. Run again with an alert rule of every metric over every
   queue: the ratio is what evaluating the rules after each event costs.
2. Memory: a synthetic QueueStatus of a large centre (queues x agents, each agent in a few
   queues) is served at login; prints the resync time and the RSS the state adds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gzip
import json
import multiprocessing
import pstats
import re
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wallboard.config import AlertRule  # noqa: E402
from wallboard.live.ami import AmiListener  # noqa: E402
from wallboard.live.state import CallCenterState  # noqa: E402

CAPTURE = ROOT / "tests" / "fixtures" / "lab_ami_capture.raw.gz"
PLACEHOLDER = b"@ACTIONID@"
QUEUE_EVENTS = {
    b"QueueCallerJoin",
    b"QueueCallerLeave",
    b"QueueCallerAbandon",
    b"AgentCalled",
    b"AgentRingNoAnswer",
    b"AgentConnect",
    b"AgentComplete",
    b"AgentDump",
    b"QueueMemberStatus",
    b"QueueMemberAdded",
    b"QueueMemberRemoved",
    b"QueueMemberPause",
    b"QueueMemberPenalty",
}
_EVENT = re.compile(rb"^Event: (\w+)", re.MULTILINE)
_ACTION_ID = re.compile(rb"^ActionID: [^\r\n]*", re.MULTILINE)
_UNIQUEID = re.compile(rb"^((?:Dest)?(?:Uniqueid|Linkedid): \d+\.)(\d+)", re.MULTILINE)


# ------------------------------------------------------------------------------ data


def capture_parts() -> tuple[list[bytes], list[bytes]]:
    """(first QueueStatus response with a placeholder ActionID, queue events after it)."""
    raw = gzip.open(CAPTURE).read()
    messages = raw.partition(b"\r\n")[2].split(b"\r\n\r\n")
    status: list[bytes] = []
    events: list[bytes] = []
    for message in messages:
        if b"ActionID: cap-2\r" in message or message.endswith(b"ActionID: cap-2"):
            status.append(_ACTION_ID.sub(b"ActionID: " + PLACEHOLDER, message))
            continue
        match = _EVENT.match(message)
        if status and match and match.group(1) in QUEUE_EVENTS:
            events.append(message)
    return status, events


def blast(events: list[bytes], total: int) -> Iterator[bytes]:
    """`total` events: the capture's queue events again and again, uniqueids made unique."""
    template = b"".join(m + b"\r\n\r\n" for m in events)
    per_round = len(events)
    rounds, rest = divmod(total, per_round)
    for n in range(rounds + (1 if rest else 0)):
        offset = (n + 1) * 1_000_000
        data = _UNIQUEID.sub(
            lambda m, o=offset: m.group(1) + str(int(m.group(2)) + o).encode(), template
        )
        if n == rounds:
            data = b"".join(m + b"\r\n\r\n" for m in data.split(b"\r\n\r\n")[:rest])
        yield data


def synthetic_status(queues: int, agents: int, per_agent: int, callers: int) -> list[bytes]:
    """A QueueStatus response for a large centre (ActionID placeholder)."""
    items: list[bytes] = []
    members: dict[int, list[int]] = {q: [] for q in range(queues)}
    for a in range(agents):
        for k in range(per_agent):
            members[(a * 7 + k * 13) % queues].append(a)
    for q in range(queues):
        items.append(
            f"Event: QueueParams\r\nQueue: q{q:03d}\r\nMax: 0\r\nStrategy: rrmemory\r\nCalls: {callers}\r\n"
            f"Holdtime: 0\r\nTalkTime: 0\r\nCompleted: 0\r\nAbandoned: 0\r\nServiceLevel: 20\r\n"
            f"ServicelevelPerf: 0.0\r\nServicelevelPerf2: 0.0\r\nWeight: 0".encode()
        )
        for a in members[q]:
            items.append(
                f"Event: QueueMember\r\nQueue: q{q:03d}\r\nName: Agent {a:04d}\r\n"
                f"Location: PJSIP/{1000 + a}\r\nStateInterface: PJSIP/{1000 + a}\r\n"
                f"Membership: dynamic\r\nPenalty: {a % 3}\r\nCallsTaken: {a % 17}\r\n"
                f"LastCall: 1795900000\r\nLastPause: 0\r\nLoginTime: 1795890000\r\n"
                f"InCall: {a % 2}\r\nStatus: {1 + a % 3}\r\nPaused: {int(a % 5 == 0)}\r\n"
                f"PausedReason: {'Lunch' if a % 5 == 0 else ''}\r\nWrapuptime: 0".encode()
            )
        for c in range(callers):
            items.append(
                f"Event: QueueEntry\r\nQueue: q{q:03d}\r\nPosition: {c + 1}\r\n"
                f"Channel: PJSIP/trunk-{q}-{c}\r\nUniqueid: 1795900000.{q * 1000 + c}\r\n"
                f"CallerIDNum: 555{q:03d}{c:03d}\r\nCallerIDName: Caller {c}\r\n"
                f"ConnectedLineNum: unknown\r\nConnectedLineName: unknown\r\nWait: {c * 3}\r\n"
                f"Priority: 0".encode()
            )
    return [
        b"Response: Success\r\nActionID: @ACTIONID@\r\nEventList: start\r\n"
        b"Message: Queue status will follow",
        *(i + b"\r\nActionID: @ACTIONID@" for i in items),
        b"Event: QueueStatusComplete\r\nActionID: @ACTIONID@\r\nEventList: Complete\r\n"
        b"ListItems: " + str(len(items)).encode(),
    ]


# ------------------------------------------------------------------------------ server process


def _headers(raw: bytes) -> dict[str, str]:
    out = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out[key.lower()] = value
    return out


async def _serve(
    conn: multiprocessing.connection.Connection, scenario: dict[str, int | str]
) -> None:
    if scenario["kind"] == "events":
        status, events = capture_parts()
        payload: Iterator[bytes] | None = blast(events, int(scenario["events"]))
    else:
        status = synthetic_status(
            int(scenario["queues"]),
            int(scenario["agents"]),
            int(scenario["per_agent"]),
            int(scenario["callers"]),
        )
        payload = None
    status_bytes = b"".join(m + b"\r\n\r\n" for m in status)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                action = _headers(await reader.readuntil(b"\r\n\r\n"))
                name, aid = action.get("action", "").lower(), action.get("actionid", "")
                if name == "login":
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n".encode()
                    )
                elif name == "ping":
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode()
                    )
                elif name == "queuestatus":
                    writer.write(status_bytes.replace(PLACEHOLDER, aid.encode()))
                    await writer.drain()
                    if payload is not None:
                        for data in payload:
                            for i in range(0, len(data), 256 * 1024):
                                writer.write(data[i : i + 256 * 1024])
                                await writer.drain()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    conn.send(server.sockets[0].getsockname()[1])
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    server.close()


def serve(conn: multiprocessing.connection.Connection, scenario: dict[str, int | str]) -> None:
    asyncio.run(_serve(conn, scenario))


# ------------------------------------------------------------------------------ listener side


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_listener(port: int, state: CallCenterState, expected_events: int) -> dict[str, float]:
    patches = 0

    def on_patch(patch: dict) -> None:
        nonlocal patches
        patches += 1

    listener = AmiListener(
        host="127.0.0.1",
        port=port,
        user="bench",
        secret="bench",
        state=state,
        on_patch=on_patch,
        ping_interval=60,
        action_timeout=120,
    )
    started = time.perf_counter()
    await listener.start()
    await listener.synced.wait()
    synced = time.perf_counter()
    cpu0 = time.process_time()
    while listener.stats["events"] < expected_events:
        await asyncio.sleep(0.002)
    done = time.perf_counter()
    cpu = time.process_time() - cpu0
    stats = listener.stats
    await listener.stop()
    return {
        "resync_s": synced - started,
        "events_s": done - synced,
        "cpu_s": cpu,
        "patches": patches,
        "malformed": stats["malformed"],
        "events": stats["events"],
    }


def with_server(scenario: dict[str, int | str], body) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=serve, args=(child, scenario), daemon=True)
    process.start()
    port = parent.recv()
    try:
        return body(port)
    finally:
        parent.send("stop")
        process.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--queues", type=int, default=200)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--queues-per-agent", type=int, default=5)
    parser.add_argument("--callers-per-queue", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the throughput run")
    args = parser.parse_args()

    # Memory: the big centre, resynced once.
    baseline = rss_mib()
    holder: dict[str, CallCenterState] = {}

    def memory_run(port: int) -> dict[str, float]:
        state = holder["state"] = CallCenterState("UTC", lambda q: 20)
        return asyncio.run(run_listener(port, state, 0))

    big = with_server(
        {
            "kind": "centre",
            "queues": args.queues,
            "agents": args.agents,
            "per_agent": args.queues_per_agent,
            "callers": args.callers_per_queue,
        },
        memory_run,
    )
    after = rss_mib()
    snap = holder["state"].snapshot()
    members = sum(len(q["members"]) for q in snap["queues"].values())
    callers = sum(len(q["callers"]) for q in snap["queues"].values())
    snapshot_bytes = len(json.dumps(snap, separators=(",", ":")))
    print(
        f"centre: {len(snap['queues'])} queues, {args.agents} agents, {members} memberships, "
        f"{callers} waiting callers"
    )
    print(
        f"  resync (QueueStatus of {members + callers + len(snap['queues'])} items): {big['resync_s']:.2f} s"
    )
    print(
        f"  RSS: {baseline:.1f} MiB before, {after:.1f} MiB after (+{after - baseline:.1f} MiB, whole process)"
    )
    print(f"  snapshot JSON: {snapshot_bytes / 1024:.0f} KiB")
    del holder["state"], snap

    # Throughput: the capture's queue events blasted through the socket; then the same with a
    # rule of every metric over every queue (evaluated after each event: the live path's cost).
    profile = cProfile.Profile() if args.profile else None
    rules = tuple(
        AlertRule(f"bench-{metric}", metric, op, level, level)
        for metric, op, level in (("waiting", "above", 3), ("longest_wait", "above", 60),
                                  ("service_level", "below", 80), ("abandon_rate", "above", 10),
                                  ("available", "below", 1), ("paused", "above", 15),
                                  ("pbx_down", "above", 30))
    )  # fmt: skip

    def events_run(port: int, alert_rules: tuple[AlertRule, ...] = ()) -> dict[str, float]:
        state = CallCenterState("UTC", lambda q: 20, alert_rules=alert_rules)
        if profile and not alert_rules:
            profile.enable()
        try:
            return asyncio.run(run_listener(port, state, args.events))
        finally:
            if profile and not alert_rules:
                profile.disable()

    rates = {}
    for label, alert_rules in (("no alert rules", ()), (f"{len(rules)} alert rules", rules)):
        result = with_server({"kind": "events", "events": args.events},
                             lambda port, r=alert_rules: events_run(port, r))  # fmt: skip
        rate = rates[label] = result["events"] / result["events_s"]
        per_cpu = result["events"] / result["cpu_s"] if result["cpu_s"] else float("inf")
        print(
            f"throughput ({label}): {int(result['events'])} queue events in"
            f" {result['events_s']:.2f} s -> {rate:,.0f} events/s end to end ({per_cpu:,.0f} per"
            f" CPU second of the listener process); {int(result['patches'])} patches,"
            f" {int(result['malformed'])} malformed"
        )
        print(f"  floor 30,000 events/s: {'OK' if rate >= 30_000 else 'NOT REACHED'}")
    with_rules, without = rates[f"{len(rules)} alert rules"], rates["no alert rules"]
    print(f"alert rules: {with_rules / without:.2f}x the events/s without them")
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
