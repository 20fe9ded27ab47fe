"""Running the app on uvicorn: start-up that fails loudly and once, and a prompt stop.

The listening sockets are bound before anything else starts, so a taken port is one clear line
and exit status 1, never a half-started process; URLs are printed only once the server
listens; SIGTERM and SIGINT end every command within a few seconds (systemd relies on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from wallboard.config import Settings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 3.0  # seconds open requests get to finish once a stop is asked for
PORT_TRIES = 20  # `demo` on a busy default port tries this many ports after it


class StartupError(Exception):
    """The product cannot start; the message is the one line shown to the admin."""


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or StartupError saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}:{port}: unknown address ({exc})") from exc
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"cannot listen on {host}:{port}: the port is in use by another program"
                " (choose another with --port)"
            ) from exc
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"cannot listen on {host}:{port}: permission denied (ports below 1024 need"
                " privileges; use a higher port behind a reverse proxy)"
            ) from exc
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def bind_first_free(host: str, port: int, tries: int = PORT_TRIES) -> socket.socket:
    """The first of port, port+1, ... that is free (for `demo` on its default port)."""
    for candidate in range(port, min(port + tries, 65535) + 1):
        try:
            return bind_listener(host, candidate)
        except StartupError:
            continue
    raise StartupError(f"cannot listen on {host}: ports {port} to {port + tries} are all taken")


def check_tls(settings: Settings) -> None:
    """StartupError unless the TLS certificate and key (when set) load."""
    if not settings.tls_certfile:
        return
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.tls_certfile, settings.tls_keyfile
        )
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise StartupError(
            f"cannot use tls_certfile {settings.tls_certfile} / tls_keyfile"
            f" {settings.tls_keyfile}: {reason}"
        ) from exc


def listening_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM behaves like Ctrl+C (KeyboardInterrupt) until uvicorn takes the signals over,
    so a stop during start-up ends the process cleanly too."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How the product runs on uvicorn: no access log (display links carry their token in the
    URL), websocket frames capped before they are buffered, no per-client compression (a patch
    is encoded once per view and the same bytes go to every client), forwarded headers handled
    by the app (`trusted_proxies`), and optional direct TLS."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "ws_max_size": 65536,
        "ws_per_message_deflate": False,
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE,
    }
    if settings.tls_certfile:
        options["ssl_certfile"] = settings.tls_certfile
        options["ssl_keyfile"] = settings.tls_keyfile
    return options


async def serve_sockets(
    app: Any,
    settings: Settings,
    sockets: list[socket.socket],
    on_listening: Callable[[], None] | None = None,
    extra: tuple[tuple[Any, socket.socket], ...] = (),
    log_level: str | None = None,
) -> int:
    """Serve `app` on bound sockets until stopped (0), or StartupError.

    `extra` are (app, socket) pairs served alongside without a lifespan (the metrics port)."""
    import uvicorn

    options = uvicorn_options(settings)
    if log_level:
        options["log_level"] = log_level
    try:
        config = uvicorn.Config(app, **options)
        config.load()  # TLS files and the like fail here, before anything starts
    except Exception as exc:  # noqa: BLE001 - shown as the one start-up line
        raise StartupError(f"cannot start the web server: {exc}") from exc
    server = uvicorn.Server(config)
    main_task = asyncio.create_task(_serve_once(server, sockets), name="web server")
    side: list[tuple[Any, socket.socket]] = []
    try:
        while not server.started and not main_task.done():
            await asyncio.sleep(0.02)
        if not server.started:
            await main_task
            raise StartupError("the web server failed to start (see the log above)")
        for side_app, side_sock in extra:
            side_options = {**options, "log_level": "warning", "lifespan": "off"}
            side_options.pop("ssl_certfile", None)
            side_options.pop("ssl_keyfile", None)
            side_server = uvicorn.Server(uvicorn.Config(side_app, **side_options))
            side_server.config.load()
            side_server.lifespan = side_server.config.lifespan_class(side_server.config)
            await side_server.startup(sockets=[side_sock])
            side.append((side_server, side_sock))
        if on_listening is not None:
            on_listening()
        await main_task
    finally:
        for side_server, side_sock in side:
            await side_server.shutdown(sockets=[side_sock])
    return 0


async def _serve_once(server: Any, sockets: list[socket.socket]) -> None:
    """uvicorn's serve, with its start-up exit (a failed lifespan) turned into StartupError."""
    try:
        await server.serve(sockets=sockets)
    except SystemExit as exc:
        raise StartupError("the application failed to start (see the log above)") from exc


def run_server(settings: Settings) -> int:
    """`wallboard serve`: the app on uvicorn until SIGTERM/SIGINT; 1 on a start-up failure."""
    from wallboard.app import create_app, metrics_app
    from wallboard.auth import UserStore
    from wallboard.history.ingest import IngestBusy
    from wallboard.history.store import StoreError, open_store

    with stop_signals():
        try:
            check_tls(settings)
            sock = bind_listener(settings.host, settings.port)
            metrics_sock = None
            if settings.metrics and settings.metrics_port is not None:
                metrics_sock = bind_listener(settings.host, settings.metrics_port)
            try:
                store = open_store(settings.db, loop_guard=True)
            except StoreError as exc:
                raise StartupError(str(exc)) from exc
            if not UserStore(store).list():
                print(
                    "wallboard: no users yet, so nobody can log in. Add one with:\n"
                    f"  {users_add_advice(settings)}",
                    flush=True,
                )
            try:
                app = create_app(settings, store)
            except IngestBusy as exc:
                raise StartupError(str(exc)) from exc
            extra = [(metrics_app(app), metrics_sock)] if metrics_sock is not None else []

            def listening() -> None:
                base = settings.public_base
                print(f"wallboard: serving {base}/wallboard (REST API:"
                      f" {base}/stats/rest/index.php)", flush=True)  # fmt: skip

            return asyncio.run(serve_sockets(app, settings, [sock], listening, extra))
        except StartupError as exc:
            print(f"wallboard: {exc}", file=sys.stderr, flush=True)
            return 1
        except KeyboardInterrupt:
            return 0


def users_add_advice(settings: Settings) -> str:
    """The command that adds a first admin to the database this server uses, runnable as is
    (`wallboard users add` prompts for the password)."""
    words = ["wallboard", "users", "add", "admin", "--admin"]
    if settings.config_file:
        words += ["--config", os.path.abspath(settings.config_file)]
    if settings.source_of("db") != "file":
        words += ["--db", absolute_db(settings.db)]
    return shlex.join(words)


def absolute_db(db: str) -> str:
    """A SQLite path made absolute (advice must work from any directory); URLs unchanged."""
    if db.startswith(("postgresql://", "postgres://")):
        return db
    return os.path.abspath(db.removeprefix("sqlite:"))


def run_async(main: Callable[[], Awaitable[int]]) -> int:
    """asyncio.run with the stop signals mapped, for commands other than serve."""
    with stop_signals():
        try:
            return asyncio.run(main())  # type: ignore[arg-type]
        except KeyboardInterrupt:
            return 0
