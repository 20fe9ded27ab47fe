"""Test wiring for the live web side: pages and /ws on a real uvicorn, fed by a simulated PBX.

- `build_app`: a Starlette app with the page and websocket routes, static files, an
  Authenticator with a cheap password hasher, and `app.state.live` (state + hub).
- `ModelFeed`: drives a CallCenterState and a Hub straight from a simulator model (no AMI),
  queue_log lines included (today's counters), for fast deterministic websocket tests.
- `StateOverlay`: hand-built keys over a live state (fields a newer backend sends), kept in
  every snapshot and published as merge patches like the state's own.
- `Served`: uvicorn in the current event loop on 127.0.0.1 (port 0 = ephemeral).
- `Demo`: a scripted simulator in this process and the installed product (`wallboard serve`
  from the wheel, tests/installed.py) as a subprocess that can be killed and restarted on the
  same port.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import Mount

from wallboard.auth import SESSION_COOKIE, Authenticator, User
from wallboard.config import Settings
from wallboard.history.calls import CallTracker
from wallboard.history.queuelog import Rejected, parse_line
from wallboard.history.store import Store, open_store
from wallboard.live.events import Malformed, MemberEvent, QueueEntry, QueueParams, parse_event
from wallboard.live.hub import Hub
from wallboard.live.patch import compose, merge_patch
from wallboard.live.state import CallCenterState
from wallboard.simulator.model import CallCenterModel
from wallboard.web import pages, ws
from wallboard.web.assets import PackageStatic

log = logging.getLogger(__name__)


def cheap_hasher() -> PasswordHasher:
    """argon2 at its cheapest: tests need users, not password-cracking resistance."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Live:
    """What the app's LiveService offers the web side."""

    state: CallCenterState
    hub: Hub
    listener: Any = None
    follower: Any = None


def build_app(
    settings: Settings, store: Store, live: Live | None, policy: ws.SocketPolicy | None = None
) -> Starlette:
    """The web side of the product, as app.py mounts it, around a given live service."""
    routes = [
        *pages.routes(),
        *ws.routes(policy),
        Mount("/static", PackageStatic(), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.settings = settings
    app.state.store = store
    app.state.auth = Authenticator(store, settings, hasher=cheap_hasher())
    app.state.live = live
    return app


def session_cookie(app: Starlette, user: User) -> str:
    """A `Cookie` header value logging `user` in."""
    return f"{SESSION_COOKIE}={app.state.auth.create_session(user)}"


class ModelFeed:
    """Feeds a simulator model's AMI events and queue_log lines into a state and a hub."""

    def __init__(self, model: CallCenterModel, state: CallCenterState, hub: Hub) -> None:
        self.model = model
        self.state = state
        self.hub = hub
        self.tracker = CallTracker(keep_before=True)
        self.events = 0

    def bootstrap(self) -> None:
        """A QueueStatus resync, as after an AMI login: new epoch, everyone gets a snapshot."""
        items = [
            event
            for event in map(parse_event, self.model.queue_status())
            if isinstance(event, (QueueParams, MemberEvent, QueueEntry))
        ]
        self.state.reset(items, self.model.now)
        self.hub.reset()

    def advance(self, seconds: float) -> int:
        """Run the model `seconds` further and publish every resulting patch; returns how many."""
        published = 0
        for output in self.model.advance(self.model.now + seconds):
            now = self.model.now
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
                patch = self.state.apply(event, now)
                if patch:
                    self.hub.publish(patch)
                    published += 1
        return published

    def inject(self, *events: Any) -> None:
        """Apply typed events (as the AMI listener would hand them over) at the model's time and
        publish their patches: what the simulator cannot produce, such as an unplugged phone."""
        for event in events:
            patch = self.state.apply(event, self.model.now)
            if patch:
                self.hub.publish(patch)


class StateOverlay:
    """Hand-built additions over a CallCenterState: `snapshot` is the state's snapshot with
    them merged in (give it to the Hub), `publish` sends one more as a merge patch (nulls
    delete, in the snapshots too). For fields the live state does not compute (yet)."""

    def __init__(self, state: CallCenterState) -> None:
        self.state = state
        self.extra: dict[str, Any] = {}

    def snapshot(self) -> dict[str, Any]:
        return merge_patch(self.state.snapshot(), self.extra)

    def publish(self, hub: Hub, patch: dict[str, Any]) -> None:
        self.extra = compose(self.extra, patch)
        hub.publish(patch)


class Served:
    """uvicorn serving an app in the running event loop (tests stop it with `stop`)."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.port = port
        self.server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Served:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws_per_message_deflate=False,
            ws_max_size=64 * 1024,
        )
        self.server = uvicorn.Server(config)
        self._task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(20):
            while not self.server.started:
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def base(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.server is not None and self._task is not None:
            self.server.should_exit = True
            with contextlib.suppress(Exception):
                async with asyncio.timeout(20):
                    await self._task
            self._task = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------- demo set-up


class Demo:
    """A scripted simulated PBX in this process and the installed product as a killable subprocess.

    The server reaches the simulator over AMI and tails the queue_log it writes, as
    `wallboard demo` does; scripting goes through `self.sim.model` and `await self.sim.flush()`.
    `settings` are extra `[wallboard]` settings of the server's TOML file, `tables` more TOML.
    """

    def __init__(
        self, directory: Any, model: CallCenterModel, heartbeat: float = 15.0,
        settings: dict[str, Any] | None = None, tables: str = "",
    ) -> None:  # fmt: skip
        from wallboard.simulator.server import SimulatorServer

        self.directory = directory
        self.db = str(directory / "demo.db")
        self.queue_log = str(directory / "queue_log")
        self.sim = SimulatorServer(model, speed=0, queue_log_path=self.queue_log, auth_delay=0)
        self.heartbeat = heartbeat
        self.settings = settings or {}
        self.tables = tables  # TOML tables after [wallboard] ([[alert]], [queues], ...)
        self.port = int(self.settings.get("port") or free_port())
        self.proc: Any = None
        self.store = open_store(self.db)
        self.tokens: dict[str, str] = {}  # display tokens by name, for the tests' use
        self.log_path = directory / "server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}" + str(self.settings.get("base_path", ""))

    def add_user(self, name: str, password: str, **restrictions: Any) -> User:
        from wallboard.auth import UserStore

        return UserStore(self.store, hasher=cheap_hasher()).add(name, password, **restrictions)

    def add_display(self, name: str, user: str, queues: str = "") -> str:
        from wallboard.auth import DisplayTokens

        return DisplayTokens(self.store).add(name, user, queues)

    async def start(self) -> None:
        if self.sim.port == 0:
            await self.sim.start()
        await self.start_server()

    def config_file(self) -> Any:
        """The server's TOML file: the simulator's AMI and queue_log, and `settings`."""
        values = {
            "db": self.db, "timezone": "UTC", "host": "127.0.0.1", "port": self.port,
            "queue_log": self.queue_log, "ami_host": "127.0.0.1", "ami_port": self.sim.port,
            "ami_user": "wallboard", "ami_secret": "wallboard", "follow_interval": 0.1,
            "ws_heartbeat": self.heartbeat, "log_level": "warning", **self.settings,
        }  # fmt: skip
        path = self.directory / "wallboard.toml"
        path.write_text("[wallboard]\n" + "".join(
            f"{key} = {json.dumps(value)}\n" for key, value in values.items()
        ) + self.tables)  # fmt: skip
        return path

    async def start_server(self) -> None:
        """Start the installed `wallboard serve` (again, on the same port); wait until it
        answers and its AMI listener has logged in."""
        import subprocess

        from tests.installed import outside_env, wallboard_command

        command = [*wallboard_command(), "serve", "--config", str(self.config_file())]
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                command, cwd=self.directory, env=outside_env(), stdout=log_file,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        async with asyncio.timeout(60):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with {self.proc.returncode}: {self.server_log()}"
                    )
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
            while self.sim.client_count == 0:  # its AMI listener logged in
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the server exited with {self.proc.returncode}: {self.server_log()}"
                    )
                await asyncio.sleep(0.02)

    def server_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    async def stop_server(self, sig: int = 15) -> int:
        """Stop the server with a signal (SIGTERM by default); returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else 0
        self.proc.send_signal(sig)
        async with asyncio.timeout(30):
            while self.proc.poll() is None:
                await asyncio.sleep(0.05)
        return self.proc.returncode

    async def kill_server(self) -> None:
        """SIGKILL: no goodbye to the browsers, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        async with asyncio.timeout(30):
            while self.sim.client_count:
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        await self.kill_server()
        await self.sim.stop()
        self.store.close()
        log_text = self.server_log()
        assert "Traceback" not in log_text, log_text  # nothing failed, loudly or not


class Replica:
    """What a well-behaved client holds: snapshots replace, patches merge in seq order."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self.epoch: int | None = None
        self.seq = -1
        self.kinds: list[str] = []
        self.patches: list[tuple[int, int, str]] = []  # (epoch, seq, raw text) of each patch

    def feed(self, raw: str) -> None:
        message = json.loads(raw)
        kind = message["type"]
        self.kinds.append(kind)
        if kind == "snapshot":
            self.state, self.epoch, self.seq = message["state"], message["epoch"], message["seq"]
        elif kind == "patch":
            assert self.state is not None, "a patch before any snapshot"
            assert (message["epoch"], message["seq"]) == (self.epoch, self.seq + 1), (
                f"gap: at {self.epoch}/{self.seq}, got {message['epoch']}/{message['seq']}"
            )
            self.state = merge_patch(self.state, message["patch"])
            self.seq = message["seq"]
            self.patches.append((self.epoch, self.seq, raw))
        elif kind in ("ping", "pong"):
            assert (message["epoch"], message["seq"]) == (self.epoch, self.seq)


async def pixel_stats(browser: Any, png: bytes) -> dict[str, float]:
    """Luminance variance and distinct colours of a PNG, decoded by the browser itself."""
    context = await browser.new_context()
    page = await context.new_page()
    try:
        return await page.evaluate(
            """async (data) => {
                const image = new Image();
                image.src = "data:image/png;base64," + data;
                await image.decode();
                const canvas = document.createElement("canvas");
                canvas.width = image.width;
                canvas.height = image.height;
                const ctx = canvas.getContext("2d");
                ctx.drawImage(image, 0, 0);
                const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
                let n = 0, sum = 0, squares = 0;
                const colours = new Set();
                for (let i = 0; i < pixels.length; i += 4 * 7) {
                    const y = 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
                    n += 1; sum += y; squares += y * y;
                    colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
                }
                const mean = sum / n;
                return {width: canvas.width, height: canvas.height,
                        variance: squares / n - mean * mean, distinct: colours.size};
            }""",
            base64.b64encode(png).decode(),
        )
    finally:
        await context.close()
