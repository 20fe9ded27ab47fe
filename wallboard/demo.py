"""`wallboard demo`: a simulated call center on loopback and the whole product wired to it.

The simulator speaks real AMI over TCP and writes a real queue_log; the product follows both
exactly as it would follow an Asterisk. A few hours of earlier traffic are written first so the
reports have history to show. With `--pbxs N` there are N simulated PBXs (site-a, site-b...):
the first one's history comes from its queue_log file, the others' from AMI alone.
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

from wallboard.config import AlertRule, PbxSettings, Settings

DEMO_USER = "demo"
# Rules the demo shows on the board when the settings give none (nothing is sent anywhere).
DEMO_ALERTS = (
    AlertRule("long-wait", "longest_wait", "above", 90, 30),
    AlertRule("service-level", "service_level", "below", 80, 85),
)
BACKFILL_HOURS = 3


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _simulator(seed: int, speed: float, queue_log: Path, backfill: bool) -> tuple[object, str]:
    """One simulated PBX (its server, not started) writing `queue_log`; (server, secret)."""
    from wallboard.simulator.model import CallCenterModel, default_config
    from wallboard.simulator.server import SimulatorServer

    now = time.time()
    model = CallCenterModel(default_config(seed=seed),
                            start_time=now - BACKFILL_HOURS * 3600 if backfill else now)  # fmt: skip
    history = [item for item in model.advance(now) if isinstance(item, str)] if backfill else []
    with queue_log.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in history))
    secret = secrets.token_urlsafe(12)
    server = SimulatorServer(
        model, host="127.0.0.1", port=_free_port("127.0.0.1"), secret=secret,
        queue_log_path=queue_log, speed=speed,
    )  # fmt: skip
    return server, secret


def prepare(
    settings: Settings, data_dir: Path, seed: int, speed: float, pbxs: int = 1
) -> tuple[Settings, list[object]]:
    """Create the demo's data, user and simulators; return the product's settings and the
    servers (one per PBX)."""
    from wallboard.auth import DisplayTokens, UserStore
    from wallboard.history.store import open_store

    data_dir.mkdir(parents=True, exist_ok=True)
    db = str(data_dir / "wallboard.db") if settings.db == Settings.db else settings.db
    if pbxs == 1:
        queue_log = data_dir / "queue_log"
        server, secret = _simulator(seed, speed, queue_log, backfill=True)
        servers = [server]
        product = settings.replace(
            db=db, queue_log=str(queue_log), ami_host="127.0.0.1", ami_port=server.port,  # type: ignore[attr-defined]
            ami_user="wallboard", ami_secret=secret,
        )  # fmt: skip
    else:
        tables, servers = [], []
        for n in range(pbxs):
            name = f"site-{chr(ord('a') + n)}"
            # Each simulator writes its queue_log; only the first PBX's is read (the others'
            # history comes from AMI alone, and their file is there to compare with).
            queue_log = data_dir / f"{name}.queue_log"
            server, secret = _simulator(seed + n, speed, queue_log, backfill=n == 0)
            servers.append(server)
            tables.append(PbxSettings(
                name, "127.0.0.1", server.port, "wallboard", secret,  # type: ignore[attr-defined]
                queue_log=str(queue_log) if n == 0 else None,
            ))  # fmt: skip
        product = settings.replace(db=db, pbx=tuple(tables))
    from wallboard.simulator.model import default_config

    if not product.alert:
        product = product.replace(alert=DEMO_ALERTS)
    if not product.queues:  # the simulated queues' names on the tiles and in the reports
        product = product.replace(queues={q.name: q.description
                                          for q in default_config().queues if q.description})  # fmt: skip
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
    servers[0].demo_login = (DEMO_USER, password, token)  # type: ignore[attr-defined]
    return product, servers


async def _run(product: Settings, app: object, servers: list[object], sock: socket.socket,
               data_dir: Path) -> int:  # fmt: skip
    from wallboard.serving import serve_sockets

    for server in servers:
        await server.start()  # type: ignore[attr-defined]
    user, password, token = servers[0].demo_login  # type: ignore[attr-defined]
    base = product.public_base
    sites = "".join(
        f"  PBX {p.name}:  AMI 127.0.0.1:{p.ami_port}, history from "
        + (f"its queue_log {p.queue_log}" if p.queue_log else "AMI alone") + "\n"
        for p in product.pbx
    )

    def listening() -> None:
        print(
            "\nwallboard demo: a simulated call center is running on loopback.\n"
            f"  wallboard:   {base}/wallboard   (user {user!r}, password {password!r})\n"
            f"  TV link:     {base}/wallboard?display={token}&view=tv\n"
            f"  alerts:      {', '.join(rule.name for rule in product.alert)} (a tile flashes;"
            " rules of your own: deploy/wallboard.toml)\n"
            f"  REST API:    curl -u {user}:{password} '{base}/stats/rest/index.php?entity=realtime'\n"
            f"{sites}"
            f"  data:        {data_dir}\n"
            "Press Ctrl+C to stop.\n",
            flush=True,
        )

    try:
        return await serve_sockets(app, product, [sock], listening, log_level="warning")
    finally:
        for server in servers:
            await server.stop()  # type: ignore[attr-defined]


def run_demo(
    settings: Settings, speed: float = 1.0, seed: int = 1, data_dir: str | None = None,
    pbxs: int = 1,
) -> int:  # fmt: skip
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
            product, servers = prepare(settings, Path(data_dir), seed, speed, pbxs)
            app = create_app(product, open_store(product.db, loop_guard=True))
            return asyncio.run(_run(product, app, servers, sock, Path(data_dir)))
        except StartupError as exc:
            print(f"wallboard: {exc}", file=sys.stderr, flush=True)
            return 1
        except KeyboardInterrupt:
            return 0
