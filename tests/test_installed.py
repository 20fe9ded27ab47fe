"""The installed product (the wheel in a fresh venv outside the checkout, tests/installed.py):
its pages and files, its start-up and stop, sessions across a restart, metrics, direct TLS."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.installed import (
    ROOT,
    Running,
    answer_password_prompts,
    installed_venv,
    outside_env,
    run_installed,
    self_signed,
    wallboard_command,
    write_config,
)

PASSWORD = "s3cret-Pa55"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


@pytest.fixture
def site(tmp_path: Path) -> dict:
    """A configured install: a TOML file, an admin, and the port it will serve on."""
    port = free_port()
    config = write_config(tmp_path / "wallboard.toml", db=str(tmp_path / "wallboard.db"),
                          timezone="UTC", port=port, log_level="warning")  # fmt: skip
    added = run_installed(["users", "add", "boss", "--admin", "--password-stdin",
                           "--config", str(config)], tmp_path, stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    return {"dir": tmp_path, "config": config, "port": port, "base": f"http://127.0.0.1:{port}"}


def serve(site: dict, *extra: str) -> Running:
    running = Running(["serve", "--config", str(site["config"]), *extra], site["dir"])
    running.wait_for("wallboard: serving")
    return running


def login(http: httpx.Client, base: str) -> str:
    response = http.post(f"{base}/login", data={"name": "boss", "password": PASSWORD,
                         "next": "/wallboard"}, headers={"Origin": base})  # fmt: skip
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"].split(";")[0]


# -- packaging ----------------------------------------------------------------------------------


def test_the_wheel_ships_every_template_and_static_file(tmp_path: Path) -> None:
    script = (
        "import json, importlib.resources as r, wallboard;"
        "print(json.dumps({p: sorted(f.name for f in r.files('wallboard.' + p).iterdir()"
        " if f.is_file()) for p in ('templates', 'static')} | {'at': wallboard.__file__}))"
    )
    out = subprocess.run([str(installed_venv() / "bin" / "python"), "-c", script], cwd=tmp_path,
                         env=outside_env(), capture_output=True, text=True, check=True)  # fmt: skip
    found = json.loads(out.stdout)
    assert not found["at"].startswith(str(ROOT))  # the installed copy, not the checkout
    for folder in ("templates", "static"):
        expected = sorted(p.name for p in (ROOT / folder).iterdir() if p.is_file())
        assert found[folder] == expected


def test_the_installed_copy_serves_pages_display_links_and_every_static_file(site) -> None:
    shown = run_installed(["displays", "add", "lobby", "--user", "boss", "--config",
                           str(site["config"])], site["dir"])  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    link = re.search(r"http://\S+/wallboard\?display=\S+", shown.stdout).group(0)
    with serve(site) as running, httpx.Client(follow_redirects=False) as http:
        base = site["base"]
        page = http.get(f"{base}/login")
        assert page.status_code == 200 and "<form" in page.text
        assert http.get(f"{base}/wallboard").status_code == 303
        cookie = login(http, base)
        board = http.get(f"{base}/wallboard", headers={"Cookie": cookie})
        assert board.status_code == 200 and 'id="board"' in board.text
        tv = httpx.get(link)  # exactly as `displays add` printed it, on a TV with no session
        assert tv.status_code == 200 and "lobby" in tv.text and "Log out" not in tv.text
        for name in sorted(p.name for p in (ROOT / "static").iterdir() if p.is_file()):
            response = http.get(f"{base}/static/{name}")
            if name.startswith("_"):
                assert response.status_code == 404
            else:
                assert response.status_code == 200, name
                assert response.content == (ROOT / "static" / name).read_bytes()
        assert running.stop(signal.SIGTERM) == 0
        assert "Traceback" not in running.output()


def test_the_first_user_advice_of_serve_works_as_printed(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "data" / "w.db"
    db.parent.mkdir()
    with Running(["serve", "--db", str(db), "--port", str(port)], tmp_path) as running:
        out = running.wait_for("wallboard: serving")
        assert running.stop() == 0
    advice = re.search(r"Add one with:\n  (wallboard .+)\n", out).group(1)
    assert f"--db {db}" in advice
    status, output = answer_password_prompts(
        advice.replace("wallboard", wallboard_command()[0], 1), str(ROOT.parent), outside_env(),
        PASSWORD, timeout=30)  # fmt: skip
    assert status == 0, output
    with Running(["serve", "--db", str(db), "--port", str(port)], tmp_path) as running:
        out = running.wait_for("wallboard: serving")
        assert "no users yet" not in out
        api = httpx.get(f"http://127.0.0.1:{port}/stats/rest/index.php?entity=queues",
                        headers=basic("admin", PASSWORD))  # fmt: skip
        assert api.status_code == 200
        assert running.stop() == 0


# -- start-up and stop ------------------------------------------------------------------------


def hold_port(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def one_line_failure(result: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert result.returncode == status, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wallboard: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for word in words:
        assert word in lines[0]


def test_a_taken_port_is_one_clear_line_and_a_failure(site) -> None:
    with hold_port(site["port"]):
        one_line_failure(run_installed(["serve", "--config", str(site["config"])], site["dir"]),
                         1, "in use", str(site["port"]))  # fmt: skip
        one_line_failure(run_installed(["demo", "--port", str(site["port"])], site["dir"]),
                         1, "in use")  # fmt: skip


def test_unopenable_database_and_bad_settings_fail_in_one_line(tmp_path: Path) -> None:
    one_line_failure(run_installed(["serve", "--db", "/nonexistent/dir/w.db", "--port",
                                    str(free_port())], tmp_path), 1, "database")  # fmt: skip
    one_line_failure(run_installed(["serve", "--port", "70000"], tmp_path), 2, "port")
    one_line_failure(run_installed(["serve", "--timezone", "Mars/Base"], tmp_path), 2, "timezone")
    config = write_config(tmp_path / "tls.toml", db=str(tmp_path / "w.db"), port=free_port(),
                          tls_certfile="/missing.pem", tls_keyfile="/missing.key")  # fmt: skip
    one_line_failure(run_installed(["serve", "--config", str(config)], tmp_path), 1, "tls_certfile")


def test_demo_on_a_busy_default_port_moves_on_and_prints_only_what_it_serves(tmp_path) -> None:
    try:
        held = hold_port(8000)
    except OSError:
        held = None  # someone else has it: busy all the same
    try:
        with Running(["demo", "--data-dir", str(tmp_path / "data")], tmp_path) as demo:
            out = demo.wait_for("Press Ctrl+C to stop.")
            board = re.search(r"wallboard:\s+(http://\S+/wallboard)\s", out).group(1)
            tv = re.search(r"TV link:\s+(\S+)", out).group(1)
            curl = re.search(r"REST API:\s+(curl .+)$", out, re.M).group(1)
            assert ":8000/" not in board
            with httpx.Client(follow_redirects=False) as http:
                assert http.get(board).status_code == 303  # to the login form
                assert http.get(tv).status_code == 200
            answer = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30)
            assert answer.returncode == 0
            assert "summary" in json.loads(answer.stdout)
            assert demo.stop(signal.SIGINT) == 0
    finally:
        if held is not None:
            held.close()


@pytest.mark.parametrize("delay", [0.1, 0.6, 1.5])
def test_sigterm_during_start_up_stops_every_command(tmp_path: Path, delay: float) -> None:
    for args in (["demo", "--port", str(free_port())],
                 ["serve", "--db", str(tmp_path / f"w{delay}.db"), "--port", str(free_port())]):  # fmt: skip
        with Running(args, tmp_path) as running:
            time.sleep(delay)
            status = running.stop(signal.SIGTERM, timeout=10)
            assert status in (0, -signal.SIGTERM), running.output()
            assert "Traceback" not in running.output()
        _no_process_left(running.proc.pid)


def _no_process_left(group: int) -> None:
    try:
        import os

        os.killpg(group, 0)
    except ProcessLookupError:
        return
    raise AssertionError(f"processes of group {group} are still running")


def test_sigterm_and_sigint_stop_a_busy_server_promptly(site) -> None:
    from websockets.sync.client import connect

    for sig in (signal.SIGTERM, signal.SIGINT):
        with serve(site) as running, httpx.Client() as http:
            cookie = login(http, site["base"])
            ws_url = site["base"].replace("http", "ws") + "/ws"
            with connect(ws_url, additional_headers={"Cookie": cookie}) as socket_:
                socket_.recv(timeout=10)  # snapshot... or the live-side refusal
                assert running.stop(sig, timeout=10) == 0
        _no_process_left(running.proc.pid)


# -- sessions, metrics, TLS ---------------------------------------------------------------------


def test_a_session_survives_a_restart_and_ends_with_passwd_or_logout(site) -> None:
    base = site["base"]
    with httpx.Client(follow_redirects=False) as http:
        with serve(site) as running:
            cookie = login(http, base)
            assert http.get(f"{base}/wallboard", headers={"Cookie": cookie}).status_code == 200
            assert running.stop() == 0
        with serve(site) as running:  # what `systemctl restart wallboard` does
            assert http.get(f"{base}/wallboard", headers={"Cookie": cookie}).status_code == 200
            changed = run_installed(["users", "passwd", "boss", "--password-stdin", "--config",
                                     str(site["config"])], site["dir"], stdin="n3w-pass\n")  # fmt: skip
            assert changed.returncode == 0, changed.stderr
            assert _eventually(lambda: http.get(f"{base}/wallboard", headers={"Cookie": cookie})
                               .status_code == 303)  # fmt: skip
            again = http.post(f"{base}/login", data={"name": "boss", "password": "n3w-pass"},
                              headers={"Origin": base})  # fmt: skip
            fresh = again.headers["set-cookie"].split(";")[0]
            assert http.get(f"{base}/wallboard", headers={"Cookie": fresh}).status_code == 200
            out = http.post(f"{base}/logout", headers={"Cookie": fresh, "Origin": base})
            assert out.status_code == 303
            assert http.get(f"{base}/wallboard", headers={"Cookie": fresh}).status_code == 303
            assert running.stop() == 0


def _eventually(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_metrics_on_a_port_of_their_own(site) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    metrics_port = free_port()
    with serve(site, "--metrics") as running:
        assert httpx.get(f"{site['base']}/metrics").status_code == 200
        assert running.stop() == 0
    write_config(site["config"], db=str(site["dir"] / "wallboard.db"), timezone="UTC",
                 port=site["port"], metrics=True, metrics_port=metrics_port)  # fmt: skip
    with serve(site) as running:
        assert httpx.get(f"{site['base']}/metrics").status_code == 404
        httpx.get(f"{site['base']}/stats/rest/index.php?entity=queues", headers=basic("boss", PASSWORD))
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {"wallboard_rest_requests", "wallboard_ami_up", "wallboard_db_seconds"} <= names
        assert running.stop() == 0


def test_direct_tls_serves_https_with_secure_cookies(site) -> None:
    cert, key = self_signed(site["dir"])
    write_config(site["config"], db=str(site["dir"] / "wallboard.db"), timezone="UTC",
                 port=site["port"], tls_certfile=str(cert), tls_keyfile=str(key))  # fmt: skip
    with serve(site) as running:
        out = running.output()
        base = f"https://127.0.0.1:{site['port']}"
        assert f"serving {base}/wallboard" in out
        import ssl

        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trust, follow_redirects=False) as http:
            assert http.get(f"{base}/login").status_code == 200
            response = http.post(f"{base}/login", data={"name": "boss", "password": PASSWORD},
                                 headers={"Origin": base})  # fmt: skip
            assert "secure" in response.headers["set-cookie"].lower()
        assert running.stop() == 0


def test_one_ingesting_process_at_a_time(site) -> None:
    log = site["dir"] / "queue_log"
    log.write_text("1700000000|NONE|NONE|NONE|QUEUESTART|\n")
    with serve(site, "--queue-log", str(log)) as running:
        refused = run_installed(["import", str(log), "--config", str(site["config"])], site["dir"])
        one_line_failure(refused, 1, "wallboard serve (pid", "is ingesting")
        other = run_installed(["serve", "--config", str(site["config"]), "--queue-log", str(log),
                               "--port", str(free_port())], site["dir"])  # fmt: skip
        one_line_failure(other, 1, "wallboard serve (pid", "only one process may")
        assert running.stop() == 0
    imported = run_installed(["import", str(log), "--config", str(site["config"])], site["dir"])
    assert imported.returncode == 0, imported.stderr  # the lease went with the server's stop
