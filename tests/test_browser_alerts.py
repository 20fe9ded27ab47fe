"""An alert rule end to end, against the product as installed: the scripted simulator makes a
queue breach its longest-wait rule; the board (Chromium) shows the alert and flashes the tile;
a local webhook receiver (uvicorn) and SMTP server (aiosmtpd) get exactly one firing and one
clearing message each, signed; `entity=realtime` and `wallboard alerts log` say the same.

The latency from the server's firing to the alert in the DOM is printed, not asserted (tests
have no timing thresholds).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.browser_support import Demo, Served
from tests.installed import outside_env, wallboard_command
from tests.smtp_support import SmtpServer
from wallboard.simulator.model import CallCenterModel, default_config

WAIT = 20_000  # ms: only to turn a hang into a failure
SECRET = "alert-hook-secret"
in_module_loop = pytest.mark.asyncio(loop_scope="module")


class Receiver:
    """The webhook's other end: every request kept, with its raw body and headers."""

    def __init__(self) -> None:
        self.got: list[tuple[bytes, dict[str, str]]] = []
        self.arrived: list[float] = []

        async def hook(request: Request) -> JSONResponse:
            self.got.append((await request.body(), dict(request.headers)))
            self.arrived.append(time.time())
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def centre(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    receiver = Receiver()
    served = await Served(receiver.app).start()
    smtp = SmtpServer()
    smtp.start()
    rule = f"""
[queues]
2001 = "Support"

[[alert]]
name = "long-wait"
metric = "longest_wait"
above = 2
clear = 0
queues = ["2001"]
webhook = "http://{served.base}/hook"
email = ["supervisor@example.com"]
"""
    model = CallCenterModel(default_config(seed=11, auto=False), time.time())
    demo = Demo(tmp_path_factory.mktemp("alerts"), model, heartbeat=1.0, tables=rule, settings={
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
        "smtp_from": "wallboard@pbx.example", "webhook_secret": SECRET,
    })  # fmt: skip
    demo.add_user("boss", "boss-password", admin=True)
    await demo.start()
    try:
        yield {"demo": demo, "receiver": receiver, "smtp": smtp}
    finally:
        await demo.stop()
        smtp.stop()
        await served.stop()


def expect(locator: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)


async def until(check: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.browser
@in_module_loop
async def test_a_long_wait_flashes_the_tile_and_sends_one_firing_and_one_clearing(browser, centre) -> None:
    demo, receiver, smtp = centre["demo"], centre["receiver"], centre["smtp"]
    context = await browser.new_context(viewport={"width": 1920, "height": 1080})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(demo.base + "/wallboard")  # to the login form, and back once logged in
    await page.fill("input[name=name]", "boss")
    await page.fill("input[name=password]", "boss-password")
    await page.click("button[type=submit]")
    tile = page.locator('.queue[data-queue="2001"]')
    await expect(tile).to_be_visible(timeout=WAIT)
    await expect(tile).to_contain_text("Support")  # the [queues] display name
    assert "alerting" not in (await tile.get_attribute("class") or "")

    await page.evaluate("""() => new MutationObserver((_, observer) => {
        if (document.querySelector('#alerts [data-alert="long-wait"]')) {
            window.alertSeenAt = Date.now() / 1000;
            observer.disconnect();
        }
    }).observe(document.body, {subtree: true, childList: true, attributes: true})""")
    uniqueid = demo.sim.model.join_caller("2001", "5550199", "Waiting Walter")
    await demo.sim.flush()  # nobody answers: the simulator's clock stands still
    item = page.locator('#alerts [data-alert="long-wait"][data-subject="2001"]')
    await expect(item).to_be_visible(timeout=WAIT)
    seen_at = await page.evaluate("window.alertSeenAt")
    await expect(item).to_contain_text("Support")
    await expect(tile).to_have_class(re.compile(r"\balerting\b"))
    # The first tile now: a firing queue moves up.
    first = await page.locator(".queue[data-queue]").first.get_attribute("data-queue")
    assert first == "2001"
    async with httpx.AsyncClient(base_url=demo.base, auth=("boss", "boss-password")) as client:
        live = (await client.get("/stats/rest/index.php", params={"entity": "realtime"})).json()
    alert = live["alerts"]["long-wait"]
    assert alert["state"] == "firing" and set(alert["firing"]) == {"2001"}
    await until(lambda: receiver.arrived, "the firing webhook")
    print(f"\nalert in the DOM {seen_at - receiver.arrived[0]:+.3f} s from the firing webhook's"
          f" arrival ({seen_at - int(alert['firing']['2001']['since']):.2f} s after the firing"
          " second)")

    demo.sim.model.hangup_caller(uniqueid)
    await demo.sim.flush()
    await expect(item).to_have_count(0, timeout=WAIT)
    await expect(page.locator("#alerts")).to_be_hidden()
    await expect(tile).not_to_have_class(re.compile(r"\balerting\b"))

    await until(lambda: len(receiver.got) >= 2 and len(smtp.inbox.messages) >= 2, "the messages")
    await asyncio.sleep(1.5)  # a tick or two more: nothing else may come
    bodies = [json.loads(raw) for raw, _ in receiver.got]
    assert [(b["rule"], b["state"], b["queue"]) for b in bodies] == [
        ("long-wait", "firing", "2001"), ("long-wait", "cleared", "2001")]  # fmt: skip
    for raw, headers in receiver.got:
        digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert headers["x-wallboard-signature"] == f"sha256={digest}"
    subjects = [m["Subject"] for m in smtp.inbox.messages]
    assert len(subjects) == 2 and subjects[0].startswith("[long-wait] Support: longest wait")
    assert subjects[1].startswith("[long-wait] cleared: Support")
    assert errors == []
    await context.close()

    listed = subprocess.run([*wallboard_command(), "alerts", "log", "--config",
                             str(demo.directory / "wallboard.toml")], env=outside_env(),
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]  # AT is a date and a time
    assert [(r[2], r[4], r[5], r[7]) for r in rows] == [
        ("long-wait", "firing", "webhook", "sent"), ("long-wait", "firing", "email", "sent"),
        ("long-wait", "cleared", "webhook", "sent"), ("long-wait", "cleared", "email", "sent"),
    ]  # fmt: skip
