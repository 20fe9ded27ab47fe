"""Every command the product gives as advice, run exactly as written: the README's set-up line,
its user-facing command blocks (in order, against a simulated Asterisk on 127.0.0.1:5038 whose
queue_log is /var/log/asterisk/queue_log), and every `--help` example. The README and help
commands run in a private mount and network namespace (tests/advice_driver.py); the first two
need a fresh venv and so the package index, which the namespace cannot reach."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.installed import ROOT, installed_venv, source_copy
from wallboard.cli import build_parser

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
README = ROOT / "README.md"
USER_SECTIONS = (
    "Running it against your PBX", "The wallboard", "Users and restrictions",
    "REST API (Asternic Call Center Stats PRO compatible)", "History: importing queue_log",
)  # fmt: skip


def shell_blocks(text: str, section: str | None = None) -> list[list[str]]:
    """The ```sh blocks (of one `## section`), each as command lines (continuations joined)."""
    if section is not None:
        text = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for body in re.findall(r"```sh\n(.*?)```", text, re.S):
        lines: list[str] = []
        for raw in body.splitlines():
            if lines and lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1] + raw
            elif raw.strip():
                lines.append(raw)
        blocks.append(lines)
    return blocks


def help_examples() -> list[str]:
    """Every example line of `wallboard --help` and of each command's `--help`, in order."""
    found: list[str] = []

    def walk(parser) -> None:
        text = parser.format_help()
        if "examples:\n" in text:
            found.extend(line.strip() for line in text.split("examples:\n", 1)[1].splitlines()
                         if line.strip().startswith("wallboard"))  # fmt: skip
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for sub in dict.fromkeys(action.choices.values()):
                    walk(sub)

    walk(build_parser())
    return found


def namespaced(workdir: Path, bin_dir: Path, cwd: Path, lines: list[str], keep: bool) -> list[dict]:
    """Run lines through tests/advice_driver.py under `unshare -mn`; its results."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        if IN_CI:
            pytest.fail("running the advice needs root, unshare and ip (CI has them)")
        pytest.skip("needs root, unshare and ip for a private /var/log and loopback")
    plan = workdir / "plan.json"
    plan.write_text(json.dumps({"workdir": str(workdir), "bin": str(bin_dir), "cwd": str(cwd),
                                "lines": lines, "keep": keep}))  # fmt: skip
    done = subprocess.run(["unshare", "--mount", "--net", "--", sys.executable, "-m",
                           "tests.advice_driver", str(plan)], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((workdir / "RESULTS.json").read_text())


def fresh_venv(directory: Path) -> Path:
    venv = directory / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv


def shell(line: str, cwd: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WALLBOARD_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # fmt: skip
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


# ------------------------------------------------------------------------------------ README


def test_the_readme_runs_as_written_against_a_pbx(tmp_path: Path) -> None:
    readme = README.read_text()
    blocks = [block for section in USER_SECTIONS for block in shell_blocks(readme, section)]
    lines = [line for block in blocks for line in block]
    assert lines[0].startswith("pip install .")
    source = source_copy(tmp_path / "src")
    venv = fresh_venv(tmp_path)
    installed = shell(lines[0], source, venv)  # the package index is outside the namespace
    assert installed.returncode == 0, installed.stderr
    results = namespaced(tmp_path, venv / "bin", source, lines[1:], keep=True)
    by_line = {r["line"]: r for r in results}
    for result in results:
        assert result.get("ready", True), result
        assert result["status"] == 0, result  # check included: everything it tests is there
        assert "Traceback" not in result["output"], result["output"]
    check = next(r for r in results if r["line"].startswith("wallboard check"))
    for topic in ("database", "queue_log", "ami", "ami login", "queues", "events", "users"):
        assert re.search(rf"^  OK    {re.escape(topic)}\s{{2}}", check["output"], re.M), topic
    serve = next(r for r in results if r["line"].startswith("wallboard serve"))
    pages = serve["pages"]
    assert any(url.endswith(":8000/wallboard") and page["status"] == 303
               for url, page in pages.items())  # fmt: skip
    display = next(r for r in results if r["line"].startswith("wallboard displays add"))
    assert [page["status"] for page in display["pages"].values()] == [200, 200]  # and on a TV
    assert any(url.endswith("&view=tv") for url in display["pages"])
    realtime = by_line["curl -u alice:secret 'http://127.0.0.1:8000/stats/rest/index.php?entity=realtime'"]
    summary = json.loads(realtime["stdout"])["summary"]["queue"]
    assert set(summary) == {"2000", "2001"}  # alice's queues only, live from the PBX
    report = next(r for r in results if "answered_calls_by_queue" in r["line"])
    assert json.loads(report["stdout"])["rows"] == []  # alice's November 2026: nothing yet


def test_the_readme_demo_line_works_as_written(tmp_path: Path) -> None:
    line = shell_blocks(README.read_text())[0][0]
    assert line.startswith("python3 -m venv .venv") and line.rstrip().split("#")[0].strip().endswith(
        "wallboard demo"
    )
    source = source_copy(tmp_path / "src")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLBOARD_")}
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", line], cwd=source, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while "Press Ctrl+C to stop." not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        out_text = log.read_text()
        board = re.search(r"wallboard:\s+(http://\S+/wallboard)\s", out_text).group(1)
        tv = re.search(r"TV link:\s+(\S+)", out_text).group(1)
        assert httpx.get(board, follow_redirects=False).status_code == 303
        assert httpx.get(tv).status_code == 200
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C, as the demo says
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------ --help


def test_every_help_example_runs_as_printed(tmp_path: Path) -> None:
    lines = help_examples()
    assert len(lines) >= 15 and all(line.startswith("wallboard ") for line in lines)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "wallboard.toml").write_text('[wallboard]\ndb = "wallboard.db"\ntimezone = "UTC"\n')
    shutil.copy(ROOT / "tests/fixtures/golden_queue_log", sandbox / "queue_log")
    ordered = sorted(lines, key=_dependencies)
    results = namespaced(tmp_path, installed_venv() / "bin", sandbox, ordered, keep=False)
    for result in results:
        line = result["line"]
        assert "Traceback" not in result["output"], (line, result["output"])
        assert "usage:" not in result["output"], (line, result["output"])  # argparse refused it
        if line.startswith("wallboard check"):
            assert result["status"] in (0, 1) and "\nchecks\n" in result["output"], result
        else:
            assert result["status"] == 0, (line, result["output"])
        if line.split()[1] in ("serve", "demo"):
            assert result["ready"] and result["pages"], result
            pages = dict(result["pages"])
            curl = pages.pop("curl", None)
            assert pages, result
            for url, page in pages.items():
                if "/stats/rest/" in url:  # the API's address: it asks for credentials
                    assert page["status"] == 401 and json.loads(page["body"])["error"], url
                else:
                    assert page["status"] in (200, 303), (url, page["status"])
            if curl is not None:  # the demo's REST line, run as printed
                assert curl["status"] == 0 and "summary" in json.loads(curl["body"])


def _dependencies(line: str) -> int:
    """Users before what needs them, removals and revocations last."""
    words = line.split()
    if words[1] == "users" and words[2] == "add":
        return 0
    if words[1:3] in (["users", "remove"], ["displays", "revoke"], ["schedules", "remove"]):
        return 3
    if words[1:3] in (["displays", "add"], ["schedules", "add"]):
        return 1
    return 2
