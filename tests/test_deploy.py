"""deploy/: the systemd unit verified by systemd-analyze, the example settings file holding every
setting, and the nginx site in front of the installed product under /wallboard/, with TLS, in a
real browser: login, live updates over the websocket, REST with Basic, a foreign Origin refused.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.browser_support import Demo
from tests.installed import ROOT, installed_venv, self_signed
from wallboard.config import _ALERT_KEYS, TABLES, PbxSettings, load_settings, setting_names
from wallboard.simulator.model import CallCenterModel, default_config

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEPLOY = ROOT / "deploy"
WAIT = 20_000
in_module_loop = pytest.mark.asyncio(loop_scope="module")


def need(program: str) -> str:
    path = shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if path is None:
        if IN_CI:
            pytest.fail(f"{program} is missing and CI must have it")
        pytest.skip(f"{program} is missing")
    return path


# -- systemd ------------------------------------------------------------------------------------


def unit_root(directory: Path) -> Path:
    """A root for systemd-analyze: the system's units, ours, and its ExecStart program."""
    root = directory / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(DEPLOY / "wallboard.service", root / "etc/systemd/system/wallboard.service")
    program = root / "opt/wallboard/bin/wallboard"
    program.parent.mkdir(parents=True)
    shutil.copy(installed_venv() / "bin" / "wallboard", program)  # the real console script
    return root


def test_the_systemd_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    root = unit_root(tmp_path)
    unit = str(root / "etc/systemd/system/wallboard.service")
    verify = subprocess.run([analyze, "verify", f"--root={root}", unit],
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0 and not verify.stdout + verify.stderr, verify.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", f"--root={root}", unit],
                              capture_output=True, text=True)  # fmt: skip
    exposure = float(re.search(r"Overall exposure level for wallboard.service: ([\d.]+)",
                               security.stdout).group(1))  # fmt: skip
    assert exposure <= 2.0, security.stdout  # "OK" in systemd's words; a regression shows here


def test_the_unit_and_the_example_settings_agree() -> None:
    unit = (DEPLOY / "wallboard.service").read_text()
    settings = load_settings(DEPLOY / "wallboard.toml", environ={})
    assert "--config /etc/wallboard/wallboard.toml" in unit
    writable = re.search(r"^ReadWritePaths=(.+)$", unit, re.M).group(1).split()
    assert os.path.dirname(settings.db) in writable
    assert "ProtectSystem=strict" in unit and "SupplementaryGroups=asterisk" in unit
    assert "Restart=on-failure" in unit and re.search(r"^User=wallboard$", unit, re.M)
    assert settings.queue_log == "/var/log/asterisk/queue_log"


def test_the_example_settings_file_holds_every_setting(tmp_path: Path) -> None:
    text, marker, pbx_tables = (DEPLOY / "wallboard.toml").read_text().partition("\n# [[pbx]]\n")
    assert marker, "the [[pbx]] tables are documented at the end"
    head, alert_marker, alert_example = text.partition("\n# [[alert]]\n")
    assert alert_marker, "an [[alert]] rule is shown"
    named = set(re.findall(r"^#? ?([a-z_]+) = ", head, re.M))
    named |= set(re.findall(r"^#? ?\[(?:wallboard\.)?([a-z_]+)\]", head, re.M)) - {"wallboard"}
    assert named | {"pbx", "alert"} == set(setting_names())
    rule_keys = set(re.findall(r"^# ([a-z_]+) = ", alert_example.split("\n\n")[0], re.M))
    assert rule_keys | {"below"} == _ALERT_KEYS  # every key of a rule is shown (above or below)
    uncommented = "\n".join(line.removeprefix("# ") for line in text.splitlines()
                            if re.match(r'^# ?([a-z_]+ = |"|\[)', line) or not line.startswith("#"))  # fmt: skip
    loaded = tomllib.loads(uncommented)  # the commented values are valid too
    everything = loaded["wallboard"] | {table: loaded[table] for table in TABLES if table in loaded}
    assert set(everything) | {"pbx"} == set(setting_names())
    path = tmp_path / "all.toml"
    path.write_text(uncommented)
    everything_loaded = load_settings(path, environ={})
    assert everything_loaded.agents == {"PJSIP/2001": "Judy", "Agent/1001": "Ivan"}
    assert [rule.name for rule in everything_loaded.alert] == ["long-wait"]
    load_settings(DEPLOY / "wallboard.toml", environ={})
    # The [[pbx]] examples, uncommented in place of the flat PBX settings: every key of a PBX
    # is shown, and they load (a file, a table and AMI alone).
    examples = "\n".join(line.removeprefix("# ") for line in (marker + pbx_tables).splitlines()
                         if re.match(r"^# ([a-z_]+ = |\[\[pbx\]\])", line))  # fmt: skip
    keys = set(re.findall(r"^([a-z_]+) = ", examples, re.M))
    assert keys == {f.name for f in dataclasses.fields(PbxSettings)}
    path.write_text('[wallboard]\ntimezone = "UTC"\n' + examples)
    pbxs = load_settings(path, environ={}).pbxs
    assert [p.history for p in pbxs] == ["queue_log", "table", "ami"]


# -- nginx in front -----------------------------------------------------------------------------


class Nginx:
    """Debian's nginx running the shipped site file, pointed at a backend port."""

    def __init__(self, directory: Path, backend: int, port: int, http_port: int) -> None:
        self.binary = need("nginx")
        self.directory = directory
        self.port = port
        cert, key = self_signed(directory)
        site = (DEPLOY / "nginx-wallboard.conf").read_text()
        for old, new in (
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{backend};"),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;"),
            ("listen 80;", f"listen 127.0.0.1:{http_port};"),
            ("/etc/ssl/certs/pbx.example.com.pem", str(cert)),
            ("/etc/ssl/private/pbx.example.com.key", str(key)),
        ):
            assert old in site, f"the shipped nginx site no longer has {old!r}"
            site = site.replace(old, new)
        (directory / "site.conf").write_text(site)
        temp = directory / "temp"
        temp.mkdir(mode=0o777)
        temp.chmod(0o777)
        (directory / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {directory}/site.conf;
}}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def check_syntax(self) -> None:
        result = subprocess.run([self.binary, "-t", "-p", str(self.directory), "-c",
                                 str(self.directory / "nginx.conf")], capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 0, result.stderr

    async def start(self) -> None:
        self.check_syntax()
        self.proc = subprocess.Popen([self.binary, "-p", str(self.directory), "-c",
                                      str(self.directory / "nginx.conf")])  # fmt: skip
        async with asyncio.timeout(20):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    return
                except OSError:
                    assert self.proc.poll() is None, (self.directory / "error.log").read_text()
                    await asyncio.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def proxied(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    from tests.browser_support import free_port

    directory = tmp_path_factory.mktemp("proxied")
    model = CallCenterModel(default_config(seed=5, auto=False), time.time())
    demo = Demo(directory, model, heartbeat=1.0, settings={
        "base_path": "/wallboard", "trusted_proxies": ["127.0.0.1"],
    })  # fmt: skip
    demo.add_user("boss", "secret", admin=True)
    (directory / "nginx").mkdir()
    nginx = Nginx(directory / "nginx", demo.port, free_port(), free_port())
    await demo.start()
    await nginx.start()
    yield {"demo": demo, "nginx": nginx, "public": f"https://127.0.0.1:{nginx.port}"}
    nginx.stop()
    await demo.stop()


@pytest.mark.browser
@in_module_loop
async def test_behind_nginx_under_a_prefix_login_live_updates_and_a_secure_cookie(
    browser, proxied
) -> None:
    from playwright.async_api import expect

    public, demo = proxied["public"], proxied["demo"]
    context = await browser.new_context(ignore_https_errors=True,
                                        viewport={"width": 1600, "height": 900})  # fmt: skip
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{public}/wallboard/")
    await expect(page.locator("form input[name=name]")).to_be_visible(timeout=WAIT)
    assert page.url.startswith(f"{public}/wallboard/login?next=")
    await page.fill("input[name=name]", "boss")
    await page.fill("input[name=password]", "secret")
    await page.click("button[type=submit]")
    await expect(page.locator(".queue")).to_have_count(3, timeout=WAIT)
    assert page.url == f"{public}/wallboard/wallboard"
    await expect(page.locator("#link")).to_have_text("Live", timeout=WAIT)

    uniqueid = demo.sim.model.join_caller("2001", "5550142", "Through The Proxy")
    await demo.sim.flush()
    row = page.locator(f'.caller[data-caller="{uniqueid}"]')
    await expect(row.locator(".caller-name")).to_have_text("Through The Proxy", timeout=WAIT)
    demo.sim.model.hangup_caller(uniqueid)
    await demo.sim.flush()
    await expect(row).to_have_count(0, timeout=WAIT)

    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["wallboard_session"]
    assert session["secure"] and session["httpOnly"] and session["path"] == "/wallboard"
    assert errors == []
    await context.close()


@in_module_loop
async def test_behind_nginx_rest_with_basic_and_the_request_id(proxied) -> None:
    public = proxied["public"]
    auth = {"Authorization": "Basic " + base64.b64encode(b"boss:secret").decode()}
    async with httpx.AsyncClient(verify=False) as http:
        response = await http.get(f"{public}/wallboard/stats/rest/index.php",
                                  params={"entity": "realtime"}, headers=auth)  # fmt: skip
        assert response.status_code == 200 and "summary" in response.json()
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])  # nginx's id
        assert (await http.get(f"{public}/wallboard/stats/rest/index.php",
                               params={"entity": "queues"})).status_code == 401  # fmt: skip


@in_module_loop
async def test_behind_nginx_a_foreign_origin_is_refused_on_the_websocket(proxied) -> None:
    import ssl

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    public = proxied["public"]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = public.replace("https://", "wss://") + "/wallboard/ws"
    auth = {"Authorization": "Basic " + base64.b64encode(b"boss:secret").decode()}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, ssl=context, origin="https://evil.example",
                           additional_headers=auth):  # fmt: skip
            pass
    assert refused.value.response.status_code == 403
    async with connect(url, ssl=context, origin=public, additional_headers=auth) as socket_:
        first = await asyncio.wait_for(socket_.recv(), 10)
        assert '"type":"snapshot"' in first
