"""The product as a user gets it: the wheel built from this checkout, installed in a fresh venv
outside it. Browser, proxy, packaging and start-up tests run that copy, so a file missing from
the wheel fails them.

`.ci/run` builds it once and names it in `WALLBOARD_INSTALLED_VENV`; without that variable the
first test needing it builds one (about half a minute, cached for the session).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_built: Path | None = None


def source_copy(target: Path) -> Path:
    """The checkout's tracked files (plus uncommitted ones), copied to `target`, so building
    leaves nothing in the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def build_venv(directory: Path) -> Path:
    """Build the wheel and install it into a new venv in `directory`; returns the venv."""
    source = source_copy(directory / "src")
    dist = directory / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
        check=True,
    )
    wheel = next(dist.glob("wallboard-*.whl"))
    venv = directory / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True)
    shutil.rmtree(source)
    return venv


def installed_venv() -> Path:
    """The venv holding the installed wheel (built on first use in this process)."""
    global _built
    given = os.environ.get("WALLBOARD_INSTALLED_VENV")
    if given:
        return Path(given)
    if _built is None:
        _built = build_venv(Path(tempfile.mkdtemp(prefix="wallboard-installed-")))
    return _built


def wallboard_command() -> list[str]:
    """The installed `wallboard` console script."""
    return [str(installed_venv() / "bin" / "wallboard")]


def outside_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for the installed copy: no WALLBOARD_* or PYTHONPATH leaking from the
    test run, the venv's bin first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WALLBOARD_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # fmt: skip
    env["PATH"] = f"{installed_venv() / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


class Running:
    """An installed `wallboard` command running in the background, its output in a file."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.cwd = cwd
        self.log = cwd / f"out-{os.getpid()}-{id(self)}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*wallboard_command(), *args], cwd=cwd, env=outside_env(env), stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """Wait until the output holds `text` (or the process ends); returns the output."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode} before {text!r}:\n{out}")
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} within {timeout} s:\n{self.output()}")

    def stop(self, sig: int = 15, timeout: float = 20.0) -> int:
        """Send `sig`; the exit status (AssertionError when it does not stop in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"still running {timeout} s after signal {sig}") from None
        return self.proc.returncode

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_installed(
    args: list[str], cwd: Path, stdin: str = "", env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run an installed `wallboard` command to its end."""
    return subprocess.run(
        [*wallboard_command(), *args], cwd=cwd, env=outside_env(env), input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def write_config(path: Path, **values: object) -> Path:
    """A TOML file with a [wallboard] section of `values`."""
    import json

    path.write_text("[wallboard]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    return path


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 (and its key), made by openssl in `directory`."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
         "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def answer_password_prompts(command: str, cwd: str, env: dict[str, str], password: str,
                            timeout: int = 60) -> tuple[int | None, str]:
    """Run a shell command that asks for a password twice on a tty (as `users add` does without
    --password-stdin), answer both; its exit status and output."""
    import pexpect

    child = pexpect.spawn("bash", ["-c", command], cwd=cwd, env=env, encoding="utf-8",
                          timeout=timeout)  # fmt: skip
    child.expect("Password: ")
    child.sendline(password)
    child.expect(r"Password \(again\): ")
    child.sendline(password)
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before
