"""`wallboard demo`: a simulated call center on loopback and the whole product wired to it.

The simulator speaks real AMI over TCP and writes a real queue_log; the product follows both
exactly as it would follow an Asterisk. A few hours of earlier traffic are written first so the
reports have history to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

from wallboard.config import Settings

DEMO_USER = "demo"
BACKFILL_HOURS = 3


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def prepare(settings: Settings, data_dir: Path, seed: int, speed: float) -> tuple[Settings, object]:
    """Create the demo's data, user and simulator; return the product's settings and the server."""
    from wallboard.auth import DisplayTokens, UserStore
    from wallboard.history.store import open_store
    from wallboard.simulator.model import CallCenterModel, default_config
    from wallboard.simulator.server import SimulatorServer

    data_dir.mkdir(parents=True, exist_ok=True)
    queue_log = data_dir / "queue_log"
    now = time.time()
    model = CallCenterModel(default_config(seed=seed), start_time=now - BACKFILL_HOURS * 3600)
    history = [item for item in model.advance(now) if isinstance(item, str)]
    with queue_log.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in history))
    secret = secrets.token_urlsafe(12)
    server = SimulatorServer(
        model, host="127.0.0.1", port=_free_port("127.0.0.1"), secret=secret,
        queue_log_path=queue_log, speed=speed,
    )  # fmt: skip
    product = settings.replace(
        db=str(data_dir / "wallboard.db") if settings.db == Settings.db else settings.db,
        queue_log=str(queue_log),
        ami_host="127.0.0.1",
        ami_port=server.port,
        ami_user="wallboard",
        ami_secret=secret,
    )
    store = open_store(product.db)
    users = UserStore(store)
    password = secrets.token_urlsafe(9)
    if users.get(DEMO_USER) is None:
        users.add(DEMO_USER, password, admin=True)
    else:
        users.set_password(DEMO_USER, password)
    displays = DisplayTokens(store)
    name = f"demo-tv-{secrets.token_hex(3)}"
    token = displays.add(name, DEMO_USER)
    store.close()
    server.demo_login = (DEMO_USER, password, token)  # type: ignore[attr-defined]
    return product, server


async def _run(product: Settings, app: object, server: object, sock: socket.socket,
               data_dir: Path) -> int:  # fmt: skip
    from wallboard.serving import serve_sockets

    await server.start()  # type: ignore[attr-defined]
    user, password, token = server.demo_login  # type: ignore[attr-defined]
    base = product.public_base

    def listening() -> None:
        print(
            "\nwallboard demo: a simulated call center is running on loopback.\n"
            f"  wallboard:   {base}/wallboard   (user {user!r}, password {password!r})\n"
            f"  TV link:     {base}/wallboard?display={token}\n"
            f"  REST API:    curl -u {user}:{password} '{base}/stats/rest/index.php?entity=realtime'\n"
            f"  data:        {data_dir}\n"
            "Press Ctrl+C to stop.\n",
            flush=True,
        )

    try:
        return await serve_sockets(app, product, [sock], listening, log_level="warning")
    finally:
        await server.stop()  # type: ignore[attr-defined]


def run_demo(settings: Settings, speed: float = 1.0, seed: int = 1, data_dir: str | None = None) -> int:
    """Run until interrupted; the data lives in `data_dir` or a temporary directory.

    With the port left at its default, a busy 8000 moves the demo to the next free port; a
    port asked for (flag, environment or file) is that port or a start-up failure."""
    from wallboard.app import create_app
    from wallboard.history.store import open_store
    from wallboard.serving import (
        StartupError,
        bind_first_free,
        bind_listener,
        listening_port,
        stop_signals,
    )

    with stop_signals(), contextlib.ExitStack() as stack:
        try:
            if settings.source_of("port") == "default":
                sock = bind_first_free(settings.host, settings.port)
            else:
                sock = bind_listener(settings.host, settings.port)
            stack.callback(sock.close)
            settings = settings.replace(port=listening_port(sock))
            if data_dir is None:
                data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="wallboard-demo-"))
            # Everything that touches the database happens here, before the event loop runs.
            product, server = prepare(settings, Path(data_dir), seed, speed)
            app = create_app(product, open_store(product.db, loop_guard=True))
            return asyncio.run(_run(product, app, server, sock, Path(data_dir)))
        except StartupError as exc:
            print(f"wallboard: {exc}", file=sys.stderr, flush=True)
            return 1
        except KeyboardInterrupt:
            return 0
