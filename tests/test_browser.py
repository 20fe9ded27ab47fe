"""The wallboard in a real browser, and the pages' HTTP behaviour.

Browser tests drive Debian's Chromium through Playwright (never `playwright install`) against
demo-style wiring: a scripted simulated PBX (`auto=False`) in this process, and the web server
(AMI listener + queue_log follower + pages + /ws) as a subprocess that can be killed. Without
/usr/bin/chromium they skip, except under CI where they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.browser_support import Demo, Live, Served, build_app, pixel_stats, session_cookie
from wallboard.config import Settings
from wallboard.history.store import open_store
from wallboard.live.hub import Hub
from wallboard.live.state import CallCenterState
from wallboard.simulator.model import CallCenterModel, default_config

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT = 20_000  # ms; generous, only to turn a hang into a failure
HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'

in_module_loop = pytest.mark.asyncio(loop_scope="module")


# ------------------------------------------------------------------------------ fixtures


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    model = CallCenterModel(default_config(seed=5, auto=False), time.time())
    setup = Demo(tmp_path_factory.mktemp("demo"), model, heartbeat=1.0)
    setup.add_user("boss", "secret", admin=True)
    setup.tokens = {
        "tv": setup.add_display("tv", "boss"),
        "support": setup.add_display("support-tv", "boss", queues="2001"),
    }
    await setup.start()
    yield setup
    await setup.stop()


class Board:
    """One browser tab on the wallboard, with the errors it reported."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.frames: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        self.frames.append(payload if isinstance(payload, str) else payload.decode())

    def _console(self, message: Any) -> None:
        if message.type == "error" and "WebSocket" not in message.text:
            self.errors.append(f"console: {message.text}")


async def open_board(browser: Any, url: str, width: int = 1920, height: int = 1080) -> Board:
    context = await browser.new_context(viewport={"width": width, "height": height})
    board = Board(await context.new_page())
    await board.page.goto(url)
    return board


async def join(demo: Demo, queue: str, number: str, name: str, **options: Any) -> str:
    uniqueid = demo.sim.model.join_caller(queue, number, name, **options)
    await demo.sim.flush()
    return uniqueid


async def hang_up(demo: Demo, *uniqueids: str) -> None:
    for uniqueid in uniqueids:
        demo.sim.model.hangup_caller(uniqueid)
    await demo.sim.flush()


def expect(locator: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)


# ------------------------------------------------------------------------------ browser


@pytest.mark.browser
@in_module_loop
async def test_login_then_callers_and_pauses_show_up_live(browser, demo) -> None:
    board = await open_board(browser, f"{demo.base}/wallboard?view=all")
    page = board.page
    await expect(page.locator("form input[name=name]")).to_be_visible(timeout=WAIT)
    assert "/login?next=" in page.url
    await page.fill("input[name=name]", "boss")
    await page.fill("input[name=password]", "secret")
    await page.click("button[type=submit]")
    await expect(page.locator(".queue")).to_have_count(3, timeout=WAIT)
    assert page.url.endswith("/wallboard?view=all")

    uniqueid = await join(demo, "2001", "5550101", "Zed Caller")
    row = page.locator(f'.caller[data-caller="{uniqueid}"]')
    await expect(row.locator(".caller-name")).to_have_text("Zed Caller", timeout=WAIT)
    await expect(page.locator('.queue[data-queue="2001"] .waiting')).to_have_text("1")
    await hang_up(demo, uniqueid)
    await expect(row).to_have_count(0, timeout=WAIT)

    dave = page.locator('.agent[data-agent="Local/agent4@agents"]')
    await expect(dave).to_have_attribute("data-state", "available", timeout=WAIT)
    demo.sim.model.pause("Dave", "Coffee break")
    await demo.sim.flush()
    await expect(dave).to_have_attribute("data-state", "paused", timeout=WAIT)
    await expect(dave.locator(".agent-state")).to_have_text("Paused · Coffee break")
    demo.sim.model.unpause("Dave")
    await demo.sim.flush()
    await expect(dave).to_have_attribute("data-state", "available", timeout=WAIT)
    assert board.errors == []
    await page.context.close()


@pytest.mark.browser
@in_module_loop
async def test_a_hostile_caller_name_is_shown_as_text(browser, demo) -> None:
    board = await open_board(browser, f"{demo.base}/wallboard?display={demo.tokens['tv']}")
    page = board.page
    await expect(page.locator(".queue")).to_have_count(3, timeout=WAIT)
    uniqueid = await join(demo, "2000", "5550666", HOSTILE)
    name = page.locator(f'.caller[data-caller="{uniqueid}"] .caller-name')
    await expect(name).to_have_text(HOSTILE, timeout=WAIT)
    await asyncio.sleep(0.3)  # an injected handler would have fired by now
    assert await page.evaluate("window.__xss") is None
    assert await page.locator("#callers img, #callers script").count() == 0
    await hang_up(demo, uniqueid)
    assert board.errors == []
    await page.context.close()


@pytest.mark.browser
@in_module_loop
async def test_a_restricted_display_never_shows_another_queue(browser, demo) -> None:
    board = await open_board(browser, f"{demo.base}/wallboard?display={demo.tokens['support']}")
    page = board.page
    await expect(page.locator(".queue")).to_have_count(1, timeout=WAIT)
    secret = [await join(demo, "2000", "5550200", "Secret Sales"),
              await join(demo, "2002", "5550202", "Secret Billing")]  # fmt: skip
    visible = await join(demo, "2001", "5550201", "Visible Support")
    await expect(page.locator(f'.caller[data-caller="{visible}"]')).to_be_visible(timeout=WAIT)
    demo.sim.model.pause("Alice", "Secret lunch", queue="2000")
    await demo.sim.flush()
    await hang_up(demo, *secret, visible)
    await expect(page.locator(".caller")).to_have_count(0, timeout=WAIT)
    demo.sim.model.unpause("Alice", queue="2000")
    await demo.sim.flush()
    assert await page.locator(".queue").evaluate_all(
        "tiles => tiles.map(t => t.dataset.queue)"
    ) == ["2001"]
    assert "Secret" not in await page.content()
    assert len(board.frames) >= 3
    for raw in board.frames:
        message = json.loads(raw)
        body = message.get("state") or message.get("patch") or {}
        assert set(body.get("queues", {})) <= {"2001"}, message
        assert "Secret" not in raw
    assert board.errors == []
    await page.context.close()


@pytest.mark.browser
@in_module_loop
async def test_tv_screenshot_is_readable_and_not_blank(browser, demo) -> None:
    model = demo.sim.model
    model.pause("Erin", "Lunch")  # before the calls, so that they are not in one
    model.pause("Heidi", "Training")
    callers = []
    for index, (queue, name) in enumerate([("2000", "Dana Whitfield"), ("2001", "Marcus Chen"),
                                           ("2002", ""), ("2000", "Priya Natarajan")]):  # fmt: skip
        callers.append(await join(demo, queue, f"55520{index:02d}", name, talk_time=600))
    await demo.sim.step(8)  # agents pick up
    for index, queue in enumerate(["2000", "2001", "2001", "2002", "2000", "2002"]):
        callers.append(await join(demo, queue, f"55530{index:02d}", "", patience=4, talk_time=600))
    await demo.sim.step(5)  # some give up: abandoned calls
    for index, (queue, name) in enumerate([("2000", "Olga Petrov"), ("2001", "Sam Okafor"),
                                           ("2001", "Lee Wong")]):  # fmt: skip
        callers.append(await join(demo, queue, f"55540{index:02d}", name))
        await asyncio.sleep(1.1)  # different live wait timers
    board = await open_board(browser, f"{demo.base}/wallboard?display={demo.tokens['tv']}")
    page = board.page
    await expect(page.locator(".caller")).to_have_count(3, timeout=WAIT)
    await expect(
        page.locator('.queue[data-queue="2001"] .stat.answered .stat-value')
    ).not_to_have_text("0", timeout=WAIT)
    await expect(page.locator(".agent.state-paused")).to_have_count(2, timeout=WAIT)
    await asyncio.sleep(1.2)  # one timer tick after the last render
    stats = page.locator(".stat.abandon-rate .stat-value, .stat.service-level .stat-value")
    levels = await stats.evaluate_all(
        "nodes => nodes.map(n => [n.parentNode.className, n.textContent, n.className])"
    )
    for kind, text, classes in levels:  # default thresholds: abandon 5/10 %, SL 80/60 %
        value = float(text.rstrip("%")) if text != "—" else None
        if value is None:
            expected = ""
        elif "abandon" in kind:
            expected = "alert" if value >= 10 else "warn" if value >= 5 else ""
        else:
            expected = "alert" if value < 60 else "warn" if value < 80 else ""
        assert (
            (expected in classes.split())
            if expected
            else not {"warn", "alert"} & set(classes.split())
        ), (kind, text, classes)
    assert any("alert" in classes for _, _, classes in levels)  # abandoned calls happened
    ARTIFACTS.mkdir(exist_ok=True)
    png = await page.screenshot(path=str(ARTIFACTS / "wallboard-tv.png"))
    stats = await pixel_stats(browser, png)
    assert (stats["width"], stats["height"]) == (1920, 1080)
    assert stats["variance"] > 200 and stats["distinct"] > 50  # not a blank or flat screen
    big = await page.locator(".queue .waiting").first.evaluate(
        "n => parseFloat(getComputedStyle(n).fontSize)"
    )
    assert big >= 60  # the headline numbers are large on a 1080p TV
    await hang_up(demo, *callers)
    model.unpause("Erin")
    model.unpause("Heidi")
    await demo.sim.flush()
    assert board.errors == []
    await page.context.close()


@pytest.mark.browser
@in_module_loop
async def test_pbx_link_state_and_a_frozen_server_are_shown(browser, demo) -> None:
    board = await open_board(browser, f"{demo.base}/wallboard?display={demo.tokens['tv']}")
    page = board.page
    pbx_banner = page.locator("#pbx-banner")
    await expect(page.locator("#pbx")).to_have_text("PBX linked", timeout=WAIT)
    await demo.sim.stop()  # the PBX goes away; the server's AMI listener keeps retrying
    await expect(pbx_banner).to_contain_text("PBX link down since", timeout=WAIT)
    await demo.sim.start()  # same port
    await expect(pbx_banner).to_be_hidden(timeout=WAIT)
    await expect(page.locator("#pbx")).to_have_text("PBX linked")
    # A frozen server keeps the socket open but says nothing: the board must say it is stale.
    demo.proc.send_signal(signal.SIGSTOP)
    try:
        await expect(page.locator("body")).to_have_class(re.compile(r"\bstale\b"), timeout=WAIT)
        await expect(page.locator("#link")).to_contain_text("No update for")
    finally:
        demo.proc.send_signal(signal.SIGCONT)
    await expect(page.locator("#link")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator("body")).not_to_have_class(re.compile(r"\bstale\b"))
    assert board.errors == []
    await page.context.close()


@pytest.mark.browser
@in_module_loop
async def test_killed_server_shows_the_banner_and_a_restart_recovers_without_reload(
    browser, demo
) -> None:
    board = await open_board(browser, f"{demo.base}/wallboard?display={demo.tokens['tv']}")
    page = board.page
    await expect(page.locator(".queue")).to_have_count(3, timeout=WAIT)
    await expect(page.locator("#link")).to_have_text("Live", timeout=WAIT)
    await page.evaluate("window.__sameDocument = 42")
    await demo.kill_server()
    banner = page.locator("#banner")
    await expect(banner).to_be_visible(timeout=WAIT)
    await expect(banner).to_contain_text("reconnecting")
    await expect(page.locator("#link")).to_have_text("Offline")
    uniqueid = await join(demo, "2002", "5550999", "Came While Down")
    await demo.start_server()
    await expect(page.locator(f'.caller[data-caller="{uniqueid}"]')).to_be_visible(timeout=WAIT)
    await expect(banner).to_be_hidden()
    await expect(page.locator("#link")).to_have_text("Live")
    assert await page.evaluate("window.__sameDocument") == 42  # no reload happened
    await hang_up(demo, uniqueid)
    assert board.errors == []
    await page.context.close()


@pytest.mark.browser
@in_module_loop
async def test_a_logged_in_tab_keeps_working_across_a_service_restart(browser, demo) -> None:
    """`systemctl restart wallboard`: SIGTERM, a new process; the session is in the database."""
    board = await open_board(browser, f"{demo.base}/login?next=/wallboard")
    page = board.page
    await page.fill("input[name=name]", "boss")
    await page.fill("input[name=password]", "secret")
    await page.click("button[type=submit]")
    await expect(page.locator("#link")).to_have_text("Live", timeout=WAIT)
    await page.evaluate("window.__sameDocument = 7")
    assert await demo.stop_server(signal.SIGTERM) == 0
    await expect(page.locator("#banner")).to_be_visible(timeout=WAIT)
    await demo.start_server()
    await expect(page.locator("#link")).to_have_text("Live", timeout=WAIT)
    uniqueid = await join(demo, "2000", "5550777", "After The Restart")
    await expect(page.locator(f'.caller[data-caller="{uniqueid}"]')).to_be_visible(timeout=WAIT)
    assert page.url.endswith("/wallboard") and "/login" not in page.url
    assert await page.evaluate("window.__sameDocument") == 7
    await hang_up(demo, uniqueid)
    assert board.errors == []
    await page.context.close()


# ------------------------------------------------------------------------------ pages over HTTP


@pytest.fixture
async def site(tmp_path) -> AsyncIterator[dict[str, Any]]:
    settings = Settings(db=str(tmp_path / "pages.db"), timezone="UTC", login_rate_limit=3,
                        allowed_origins=("http://tv.example",), warn_wait=45)  # fmt: skip
    store = open_store(settings.db)
    state = CallCenterState("UTC", settings.service_level_for)
    app = build_app(settings, store, Live(state, Hub(state.snapshot, heartbeat=7.0)))
    boss = app.state.auth.users.add("boss", "secret", admin=True)
    token = app.state.auth.displays.add("<b>lobby</b>", "boss")
    served = await Served(app).start()
    base = f"http://{served.base}"
    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as http:
        yield {"http": http, "app": app, "boss": boss, "token": token, "base": base}
    await served.stop()


async def test_root_and_wallboard_redirects(site) -> None:
    http = site["http"]
    assert (await http.get("/")).headers["location"] == "/wallboard"
    assert (await http.get("/?display=abc")).headers["location"] == "/wallboard?display=abc"
    response = await http.get("/wallboard?view=agents")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fwallboard%3Fview%3Dagents"
    revoked = await http.get("/wallboard?display=nope")
    assert revoked.status_code == 401 and "revoked" in revoked.text


async def test_wallboard_page_is_a_script_shell_under_a_strict_policy(site) -> None:
    http = site["http"]
    cookie = session_cookie(site["app"], site["boss"])
    response = await http.get("/wallboard?view=bogus", headers={"Cookie": cookie})
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    html = response.text
    assert re.findall(r"<script\b[^>]*>", html) == [
        f'<script type="module" src="/static/wallboard.js?v={_version(html)}">'
    ]
    assert "view-all" in html  # an unknown view falls back to all
    config = json.loads(re.search(r'data-config="([^"]*)"', html).group(1).replace("&#34;", '"'))
    assert config["thresholds"]["warn_wait"] == 45 and config["heartbeat"] == 7.0
    script = await http.get(f"/static/wallboard.js?v={_version(html)}")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    from wallboard.web.assets import static_dir

    modules = sorted(path.name for path in static_dir().glob("board-*.js"))
    assert len(modules) >= 6  # the board's modules, each imported by the entry
    assert all(f'"{name[6:-3]}"' in script.text for name in modules), modules
    for name in ("wallboard.js", *modules):  # all served, none writes HTML
        found = await http.get(f"/static/{name}?v={_version(html)}")
        assert found.status_code == 200 and "javascript" in found.headers["content-type"], name
        assert not re.search(r"\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write",
                             found.text), name  # fmt: skip


def _version(html: str) -> str:
    return re.search(r"wallboard\.js\?v=([0-9a-f]+)", html).group(1)


async def test_display_link_page_escapes_its_name(site) -> None:
    response = await site["http"].get(f"/wallboard?display={site['token']}")
    assert response.status_code == 200
    assert "&lt;b&gt;lobby&lt;/b&gt;" in response.text and "<b>lobby" not in response.text
    assert "Log out" not in response.text


async def test_login_checks_origin_password_and_next(site) -> None:
    http, base = site["http"], site["base"]
    form = {"name": "boss", "password": "secret", "next": "/wallboard?view=queues"}
    assert (await http.post("/login", data=form)).status_code == 403  # no Origin nor Referer
    evil = await http.post("/login", data=form, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    wrong = await http.post("/login", data={**form, "password": "guess"}, headers={"Origin": base})
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    ok = await http.post("/login", data=form, headers={"Referer": base + "/login"})
    assert ok.status_code == 303 and ok.headers["location"] == "/wallboard?view=queues"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith("wallboard_session=") and "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    session = cookie.split(";")[0]
    assert (await http.get("/wallboard", headers={"Cookie": session})).status_code == 200
    away = await http.post("/login", data={**form, "next": "//evil.example/x"},
                           headers={"Origin": base})  # fmt: skip
    assert away.headers["location"] == "/wallboard"
    assert (await http.get("/logout", headers={"Cookie": session})).status_code == 200
    out = await http.post("/logout", headers={"Cookie": session, "Origin": base})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await http.get("/wallboard", headers={"Cookie": session})).status_code == 303


async def test_login_rate_limit_is_explained(site) -> None:
    http, base = site["http"], site["base"]
    for _ in range(3):
        response = await http.post("/login", data={"name": "boss", "password": "x"},
                                   headers={"Origin": base})  # fmt: skip
        assert response.status_code == 401
    limited = await http.post("/login", data={"name": "boss", "password": "secret"},
                              headers={"Origin": base})  # fmt: skip
    assert limited.status_code == 429 and "too many failed logins" in limited.text
