"""Run a standalone simulated Asterisk: `python -m wallboard.simulator --port 5038 ...`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

from wallboard.simulator.model import CallCenterModel, default_config
from wallboard.simulator.server import SimulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m wallboard.simulator",
        description="A simulated Asterisk call centre: AMI on TCP plus a queue_log file.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5038, help="AMI port (0: any free port)")
    parser.add_argument("--queue-log", default=None, help="queue_log file to append to")
    parser.add_argument("--speed", type=float, default=1.0, help="virtual seconds per second")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the traffic")
    parser.add_argument("--username", default="wallboard", help="AMI user name")
    parser.add_argument("--secret", default="wallboard", help="AMI secret")
    parser.add_argument("--quiet", action="store_true", help="no automatic traffic")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    config = default_config(seed=args.seed, auto=not args.quiet)
    model = CallCenterModel(config, start_time=time.time())
    server = SimulatorServer(
        model, host=args.host, port=args.port, username=args.username, secret=args.secret,
        queue_log_path=args.queue_log, speed=args.speed,
    )
    await server.start()
    print(f"simulated Asterisk listening on {args.host}:{server.port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
