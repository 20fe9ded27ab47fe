"""`wallboard check` against the simulated PBX over real TCP: all good, a wrong secret, a missing
read privilege, nothing listening, clocks apart, an unreadable file and a file that is not a
queue_log. The check runs as a subprocess while this test's loop plays the PBX."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wallboard.auth import UserStore
from wallboard.history.store import open_store
from wallboard.simulator.model import CallCenterModel, default_config
from wallboard.simulator.server import EVENT_CLASSES, SimulatorServer

from .browser_support import cheap_hasher

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Pbx:
    """The simulator, busy: an agent pauses and unpauses while the check watches."""

    def __init__(self, directory: Path, **options) -> None:
        self.model = CallCenterModel(default_config(seed=3, auto=False), time.time())
        self.queue_log = directory / "queue_log"
        self.server = SimulatorServer(self.model, speed=0, queue_log_path=self.queue_log,
                                      auth_delay=0, ping_clock=time.time, **options)  # fmt: skip
        self._busy: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Pbx:
        await self.server.start()
        self._busy = asyncio.create_task(self._toggle())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._busy is not None:
            self._busy.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._busy
        await self.server.stop()

    async def _toggle(self) -> None:
        paused = False
        for n in range(10_000):
            await asyncio.sleep(0.15)
            (self.model.unpause if paused else self.model.pause)("Dave", "Coffee")
            paused = not paused
            self.model.join_caller("2001", f"55501{n:02d}", f"Caller {n}")
            await self.server.flush()


async def check(directory: Path, *args: str, drop_dac: bool = False) -> tuple[int, str]:
    """Run `wallboard check` (as root without the file-permission overrides when `drop_dac`)
    and return (status, output)."""
    command = [sys.executable, "-m", "wallboard", "check", "--wait", "1.5", *args]
    if drop_dac:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLBOARD_")}
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


def finding(output: str, topic: str) -> list[str]:
    """The report lines about `topic`, as "STATUS text"."""
    pattern = re.compile(rf"^  (OK|WARN|FAIL)\s+{re.escape(topic)}\s{{2,}}(.*)$", re.M)
    return [f"{status} {text}" for status, text in pattern.findall(output)]


def ami_args(pbx: Pbx, secret: str = "wallboard") -> list[str]:
    return ["--ami-host", "127.0.0.1", "--ami-port", str(pbx.server.port), "--ami-user",
            "wallboard", "--ami-secret", secret]  # fmt: skip


def with_user(directory: Path) -> list[str]:
    db = directory / "wallboard.db"
    UserStore(open_store(str(db)), hasher=cheap_hasher()).add("boss", "x", admin=True)
    return ["--db", str(db)]


async def test_all_good(tmp_path: Path) -> None:
    async with Pbx(tmp_path) as pbx:
        status, out = await check(tmp_path, *ami_args(pbx), "--queue-log", str(pbx.queue_log),
                                  *with_user(tmp_path), "--timezone", "Europe/Madrid")  # fmt: skip
    assert status == 0, out
    assert "FAIL" not in out
    assert re.search(r"^  ami_secret +\*{8} +flag$", out, re.M)
    assert re.search(r"timezone\s+Europe/Madrid\s+flag", out)
    assert finding(out, "ami") == [f"OK 127.0.0.1:{pbx.server.port} reachable: AMI 11.0.0"
                                   " (Asterisk 22.10.1)"]  # fmt: skip
    assert finding(out, "ami login") == ["OK accepted for user 'wallboard'"]
    assert finding(out, "ami clock")[0].startswith("OK PBX clock 0.")
    assert re.fullmatch(r"OK QueueStatus: 3 queues, 12 members, \d+ callers waiting", finding(out, "queues")[0])
    assert re.fullmatch(r"OK \d+ queue events in \d s \(QueueMemberPause.*\)", finding(out, "events")[0])
    assert finding(out, "queue_log")[0].startswith("OK ")
    assert finding(out, "database")[0].endswith("current")
    assert finding(out, "users") == ["OK 1 user (1 admin)"]
    assert finding(out, "timezone")[0].startswith("OK Europe/Madrid (flag): now ")


async def test_a_wrong_secret(tmp_path: Path) -> None:
    async with Pbx(tmp_path) as pbx:
        status, out = await check(tmp_path, *ami_args(pbx, secret="wrong"))
    assert status == 1
    assert finding(out, "ami login")[0].startswith(
        "FAIL refused for user 'wallboard': Authentication failed"
    )


async def test_a_missing_read_privilege(tmp_path: Path) -> None:
    async with Pbx(tmp_path, read=EVENT_CLASSES - {"agent"}) as pbx:
        status, out = await check(tmp_path, *ami_args(pbx))
    assert status == 1
    assert finding(out, "events")[0].startswith("FAIL the queues changed during the")
    assert "read = agent" in finding(out, "events")[0]


async def test_nothing_listening(tmp_path: Path) -> None:
    port = free_port()
    status, out = await check(tmp_path, "--ami-host", "127.0.0.1", "--ami-port", str(port))
    assert status == 1
    assert finding(out, "ami")[0].startswith(f"FAIL cannot connect to 127.0.0.1:{port}")


async def test_clocks_apart_are_a_warning(tmp_path: Path) -> None:
    async with Pbx(tmp_path) as pbx:
        pbx.server.ping_clock = lambda: time.time() + 30
        status, out = await check(tmp_path, *ami_args(pbx), *with_user(tmp_path))
    assert status == 0, out
    clock = finding(out, "ami clock")[0]
    assert clock.startswith("WARN PBX clock 30.") and "ahead of this host" in clock


async def test_a_file_that_is_not_a_queue_log(tmp_path: Path) -> None:
    odd = tmp_path / "messages"
    odd.write_text("".join(f"Dec  1 10:00:{n:02d} pbx kernel: eth0 link up\n" for n in range(40)))
    status, out = await check(tmp_path, "--queue-log", str(odd))
    assert status == 1
    line = finding(out, "queue_log")[0]
    assert line.startswith("FAIL") and "not a queue_log: 40 of the last 40 lines do not parse" in line


async def test_a_missing_queue_log(tmp_path: Path) -> None:
    status, out = await check(tmp_path, "--queue-log", str(tmp_path / "nope"))
    assert status == 1
    assert finding(out, "queue_log")[0].startswith("FAIL") and "does not exist" in out


async def test_an_unreadable_queue_log(tmp_path: Path) -> None:
    folder = Path(tmp_path_outside := Path("/tmp") / f"wb-check-{os.getpid()}")
    folder.mkdir(exist_ok=True)
    try:
        log = folder / "queue_log"
        log.write_text("1700000000|NONE|NONE|NONE|QUEUESTART|\n")
        log.chmod(0o600)
        folder.chmod(0o755)
        user = pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            # root reads anything: the file is another user's, and the check runs as root
            # without the capabilities that override file permissions (as the service user
            # would meet it; the checkout may sit in a folder only root can enter).
            if shutil.which("setpriv") is None:
                if IN_CI:
                    pytest.fail("setpriv (util-linux) is needed to check without root's rights")
                pytest.skip("setpriv is missing")
            os.chown(log, pwd.getpwnam("nobody").pw_uid, -1)
            status, out = await check(tmp_path_outside, "--queue-log", str(log),
                                      "--db", str(folder / "w.db"), drop_dac=True)  # fmt: skip
        else:
            log.chmod(0)
            status, out = await check(folder, "--queue-log", str(log))
        assert status == 1, out
        assert finding(out, "queue_log") == [
            f"FAIL {log} is not readable by user {user}: add that user to the file's group"
            " (docs/deploy.md)"
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
