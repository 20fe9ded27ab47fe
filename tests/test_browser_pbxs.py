"""The board with two PBXs in a real browser: a group of tiles per PBX with its link, and one
PBX's Asterisk stopped while the other's tiles keep changing.

Two scripted simulators in this process, the installed `wallboard serve` (from the wheel) as a
subprocess configured with `[[pbx]]` tables: site-a followed through its queue_log file,
site-b through AMI alone.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.browser_support import cheap_hasher, free_port
from tests.installed import outside_env, wallboard_command
from wallboard.auth import UserStore
from wallboard.history.store import open_store
from wallboard.simulator.model import CallCenterModel, default_config
from wallboard.simulator.server import SimulatorServer

WAIT = 20_000  # ms: only to turn a hang into a failure
in_module_loop = pytest.mark.asyncio(loop_scope="module")


class TwoPbxServer:
    """Two simulated PBXs and the installed server following both."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.models = {name: CallCenterModel(default_config(seed=seed, auto=False), time.time())
                       for name, seed in (("site-a", 5), ("site-b", 6))}  # fmt: skip
        self.sims: dict[str, SimulatorServer] = {}
        self.ami_ports: dict[str, int] = {}
        self.proc: Any = None
        self.log = directory / "server.log"

    def simulator(self, name: str) -> SimulatorServer:
        return SimulatorServer(self.models[name], port=self.ami_ports.get(name, 0), speed=0,
                               auth_delay=0, queue_log_path=self.directory / f"{name}.queue_log")  # fmt: skip

    async def start(self) -> None:
        for name in self.models:
            self.sims[name] = self.simulator(name)
            await self.sims[name].start()
            self.ami_ports[name] = self.sims[name].port
        store = open_store(str(self.directory / "w.db"))
        UserStore(store, hasher=cheap_hasher()).add("boss", "secret", admin=True)
        store.close()
        config = self.directory / "wallboard.toml"
        config.write_text(
            f'[wallboard]\ndb = "{self.directory / "w.db"}"\ntimezone = "UTC"\nport = {self.port}\n'
            'follow_interval = 0.1\nws_heartbeat = 1.0\nlog_level = "warning"\n'
            f'[[pbx]]\nname = "site-a"\nami_host = "127.0.0.1"\nami_port = {self.ami_ports["site-a"]}\n'
            'ami_user = "wallboard"\nami_secret = "wallboard"\n'
            f'queue_log = "{self.directory / "site-a.queue_log"}"\n'
            f'[[pbx]]\nname = "site-b"\nami_host = "127.0.0.1"\nami_port = {self.ami_ports["site-b"]}\n'
            'ami_user = "wallboard"\nami_secret = "wallboard"\n'
        )  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*wallboard_command(), "serve", "--config", str(config)],
                                         cwd=self.directory, env=outside_env(), stdout=log,
                                         stderr=subprocess.STDOUT)  # fmt: skip
        async with asyncio.timeout(60):
            while not all(sim.client_count for sim in self.sims.values()):
                assert self.proc.poll() is None, self.log.read_text()
                await asyncio.sleep(0.05)

    async def join(self, pbx: str, queue: str, name: str) -> None:
        self.models[pbx].join_caller(queue, "5550100", name)
        await self.sims[pbx].flush()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        for sim in self.sims.values():
            await sim.stop()
        text = self.log.read_text(errors="replace")
        assert "Traceback" not in text, text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sites(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TwoPbxServer]:
    server = TwoPbxServer(tmp_path_factory.mktemp("pbxs"))
    await server.start()
    yield server
    await server.stop()


def expect(locator: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.mark.browser
@in_module_loop
async def test_tiles_are_grouped_by_pbx_and_one_pbx_down_leaves_the_other_live(
    browser: Any, sites: TwoPbxServer
) -> None:
    context = await browser.new_context(viewport={"width": 1920, "height": 1080})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"http://127.0.0.1:{sites.port}/login?next=/wallboard")
    await page.fill("input[name=name]", "boss")
    await page.fill("input[name=password]", "secret")
    await page.click("button[type=submit]")
    groups = page.locator(".pbx-group")
    await expect(groups).to_have_count(2, timeout=WAIT)
    site_a, site_b = page.locator('.pbx-group[data-pbx="site-a"]'), page.locator('.pbx-group[data-pbx="site-b"]')
    await expect(site_a.locator(".queue")).to_have_count(3, timeout=WAIT)
    await expect(site_b.locator(".queue")).to_have_count(3, timeout=WAIT)
    # Tiles show the queue's own name under their PBX's heading.
    await expect(site_a.locator('.queue[data-queue="site-a/2000"] .queue-name')).to_have_text("2000")
    await expect(site_a.locator(".pbx-link")).to_have_text("linked", timeout=WAIT)
    await expect(page.locator("#pbx")).to_have_text("2 of 2 PBXs linked", timeout=WAIT)

    await sites.join("site-b", "2001", "Bea Caller")
    waiting_b = site_b.locator('.queue[data-queue="site-b/2001"] .waiting')
    await expect(waiting_b).to_have_text("1", timeout=WAIT)

    # site-b's Asterisk stops: its group says so and dims; site-a's tiles keep changing.
    await sites.sims["site-b"].stop()
    await expect(site_b.locator(".pbx-link")).to_contain_text("link down since", timeout=WAIT)
    await expect(site_b).to_have_class("pbx-group down", timeout=WAIT)
    await expect(page.locator("#pbx-banner")).to_contain_text("site-b: link down", timeout=WAIT)
    await expect(page.locator("#pbx")).to_have_text("1 of 2 PBXs linked")
    await sites.join("site-a", "2000", "Ada Caller")
    await expect(site_a.locator('.queue[data-queue="site-a/2000"] .waiting')).to_have_text(
        "1", timeout=WAIT)  # fmt: skip
    await expect(site_a).to_have_class("pbx-group")  # not dimmed
    await expect(waiting_b).to_have_text("1")  # site-b's last picture stays, marked as old

    # It comes back on the same port: the link resyncs and the group lights up again.
    sites.sims["site-b"] = sites.simulator("site-b")
    await sites.sims["site-b"].start()
    await expect(site_b.locator(".pbx-link")).to_have_text("linked", timeout=WAIT)
    await expect(page.locator("#pbx-banner")).to_be_hidden(timeout=WAIT)
    assert errors == []
    await context.close()
