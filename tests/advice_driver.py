"""Runs the commands the product gives as advice, exactly as written, in a private mount and
network namespace (`unshare -mn`): its own loopback, so ports 5038, 8000 and 8080 are free, and
a private /var/log holding the queue_log a simulated Asterisk writes on 127.0.0.1:5038.

    unshare -mn -- python -m tests.advice_driver PLAN.json

The plan names the work folder, the bin folder of the venv whose `wallboard` is used, and the
command lines; the results (status, output, pages fetched) go to RESULTS.json beside it.
Commands that keep running (`serve`, `demo`) are waited for until they serve, their printed
URLs fetched; then they are stopped with SIGTERM, or with `keep` kept running for the lines
after them (the README's flow: serve, then add users and displays, then query the API) and
stopped at the end. Password prompts are answered with PASSWORD on a terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.installed import answer_password_prompts

AMI_USER, AMI_SECRET = "wallboard", "s3cret"
PASSWORD = "secret"  # what the README's curl examples use
LONG_RUNNING = {"serve": "wallboard: serving", "demo": "Press Ctrl+C to stop."}


def _namespace(workdir: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    varlog = workdir / "var-log"
    (varlog / "asterisk").mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(varlog), "/var/log"], check=True)


def _env(bin_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WALLBOARD_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # fmt: skip
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["TZ"] = "UTC"
    return env


def _fetch(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> dict:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return {"status": response.status, "body": response.read().decode(errors="replace"),
                    "headers": dict(response.headers)}  # fmt: skip
    except urllib.error.HTTPError as error:
        return {"status": error.code, "body": error.read().decode(errors="replace"),
                "headers": dict(error.headers)}  # fmt: skip


def _subcommand(line: str) -> str:
    words = shlex.split(line, comments=True)
    return words[1] if len(words) > 1 and words[0] == "wallboard" else words[0]


def _prompted(line: str, cwd: str, env: dict[str, str]) -> dict:
    """A command that asks for a password twice (no --password-stdin): answered on a tty."""
    status, output = answer_password_prompts(line, cwd, env, PASSWORD)
    return {"status": status, "output": output}


class Runner:
    """Runs the plan's lines in order, keeping track of servers still running."""

    def __init__(self, cwd: str, env: dict[str, str], keep: bool) -> None:
        self.cwd = cwd
        self.env = env
        self.keep = keep
        self.running: list[tuple[subprocess.Popen[bytes], Path, dict]] = []

    def line(self, line: str) -> dict:
        sub = _subcommand(line)
        if sub in LONG_RUNNING:
            return self._start(line, LONG_RUNNING[sub])
        words = shlex.split(line, comments=True)
        if words[:3] in (["wallboard", "users", "add"], ["wallboard", "users", "passwd"]) and (
            "--password-stdin" not in words
        ):
            return _prompted(line, self.cwd, self.env)
        stdin = PASSWORD + "\n" if "--password-stdin" in words else ""
        done = subprocess.run(["bash", "-c", line], cwd=self.cwd, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        result: dict[str, Any] = {"status": done.returncode, "output": done.stdout + done.stderr,
                                  "stdout": done.stdout}  # fmt: skip
        links = re.findall(r"http://\S+/wallboard\?display=\S+", done.stdout)
        if links and self.running:
            result["pages"] = {url: _fetch(url) for url in links}
        return result

    def _start(self, line: str, ready: str) -> dict:
        log = Path(self.cwd) / f".advice-{time.monotonic_ns()}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=self.cwd, env=self.env,
                                    stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 90
        while ready not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                return {"status": proc.wait(), "output": log.read_text(errors="replace"),
                        "ready": False}  # fmt: skip
            time.sleep(0.1)
        output = log.read_text(errors="replace")
        result: dict[str, Any] = {"ready": True, "pages": {}}
        shown = "\n".join(line for line in output.splitlines() if "curl " not in line)
        for url in dict.fromkeys(re.findall(r"(http://127\.0\.0\.1:\d+\S*?)(?:[\s)']|$)", shown)):
            result["pages"][url] = _fetch(url)
        curl = re.search(r"(curl .+)$", output, re.M)
        if curl:
            done = subprocess.run(["bash", "-c", curl.group(1)], capture_output=True, text=True)
            result["pages"]["curl"] = {"status": done.returncode, "body": done.stdout}
        time.sleep(1.0)  # let the live side settle (AMI login, first queue_log lines)
        if self.keep:
            self.running.append((proc, log, result))
        else:
            self._stop(proc, log, result)
        return result

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes], log: Path, result: dict) -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            result["status"] = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            result["status"] = "hung"
        result["output"] = log.read_text(errors="replace")

    def finish(self) -> None:
        for proc, log, result in self.running:
            self._stop(proc, log, result)
        self.running = []


async def _with_pbx(plan: dict) -> list[dict]:
    from wallboard.simulator.model import CallCenterModel, default_config
    from wallboard.simulator.server import SimulatorServer

    model = CallCenterModel(default_config(seed=7), time.time())
    pbx = SimulatorServer(model, port=5038, username=AMI_USER, secret=AMI_SECRET,
                          queue_log_path="/var/log/asterisk/queue_log", speed=20, auth_delay=0,
                          ping_clock=time.time)  # fmt: skip
    await pbx.start()
    runner = Runner(plan["cwd"], _env(plan["bin"]), plan.get("keep", False))
    results = []
    try:
        for line in plan["lines"]:
            result = await asyncio.to_thread(runner.line, line)
            result["line"] = line  # the same dict: a server kept running gets its status later
            results.append(result)
    finally:
        await asyncio.to_thread(runner.finish)
        await pbx.stop()
    return results


def main() -> None:
    plan_path = Path(sys.argv[1])
    plan = json.loads(plan_path.read_text())
    _namespace(Path(plan["workdir"]))
    results = asyncio.run(_with_pbx(plan))
    (plan_path.parent / "RESULTS.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
