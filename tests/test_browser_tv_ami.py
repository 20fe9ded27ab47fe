"""The TV view of a 20-queue, 300-agent centre fed over AMI, against the product as installed:
the simulator speaks AMI over TCP and writes its queue_log, `wallboard serve` (the wheel) follows
both, Chromium opens a display link. At 1920×1080 and 3840×2160 nothing lies outside the
viewport and every queue tile is on screen; the same centre in `view=all` is measured for the
comparison (printed: tiles on screen, page height in screens).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.browser_support import Demo
from tests.test_browser_tv import OUTSIDE, PAGE_SIZE, SHOWN, assert_fits, more_count
from wallboard.simulator.model import CallCenterModel, large_config

QUEUES, AGENTS = 20, 300
WAIT = 20_000  # ms: only to turn a hang into a failure
in_module_loop = pytest.mark.asyncio(loop_scope="module")


async def busy_moment(demo: Demo) -> int:
    """A tenth of the agents paused, the first half of the queues swamped (every agent on a
    long call, callers waiting), the second half with some calls; how many callers joined."""
    model, sim = demo.sim.model, demo.sim
    names = [q.name for q in model.config.queues]
    swamped, quiet = names[: len(names) // 2], names[len(names) // 2 :]
    for index, agent in enumerate(model.config.agents):
        if index % 10 == 3:
            model.pause(agent.name, "Lunch")
    await sim.flush()
    joined = 0
    for _ in range(15):
        for queue in swamped:
            model.join_caller(queue, f"555{joined:04d}", f"Caller {joined}", talk_time=7200)
            joined += 1
        await sim.step(2)
    for index in range(40):
        model.join_caller(quiet[index % len(quiet)], f"556{index:04d}", "", talk_time=7200)
        joined += 1
    await sim.step(30)
    for index in range(60):
        model.join_caller(swamped[index % len(swamped)], f"557{index:04d}", f"Late {index}")
        joined += 1
    await sim.step(1)
    return joined


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def centre(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    config = large_config(QUEUES, AGENTS, seed=3, auto=False)
    demo = Demo(tmp_path_factory.mktemp("tv-ami"), CallCenterModel(config, time.time()),
                heartbeat=1.0)  # fmt: skip
    demo.add_user("boss", "boss-password", admin=True)
    demo.tokens = {"lobby": demo.add_display("lobby", "boss")}
    await demo.start()
    await busy_moment(demo)
    try:
        yield demo
    finally:
        await demo.stop()


def expect(locator: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)


async def board(browser: Any, demo: Demo, view: str, width: int, height: int) -> Any:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    await page.goto(f"{demo.base}/wallboard?display={demo.tokens['lobby']}&view={view}")
    await expect(page.locator("#link")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator(".queue")).to_have_count(QUEUES, timeout=WAIT)
    # Every caller of the script on the board (AMI has delivered it all), then two frames.
    await expect(page.locator("#callers-count")).not_to_have_text("", timeout=WAIT)
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return page


TILES_ON_SCREEN = """() => [...document.querySelectorAll('.queue')].filter(t => {
  const b = t.getBoundingClientRect();
  return !t.hidden && b.width > 0 && b.top >= 0 && b.left >= 0 && b.bottom <= innerHeight && b.right <= innerWidth;
}).length"""


@pytest.mark.browser
@in_module_loop
async def test_the_tv_view_of_a_big_centre_over_ami_fits_every_screen(browser, centre) -> None:
    figures = []
    for width, height in ((1920, 1080), (3840, 2160)):
        page = await board(browser, centre, "all", width, height)
        size = await page.evaluate(PAGE_SIZE)
        figures.append(f"view=all {width}x{height}: {await page.evaluate(TILES_ON_SCREEN)} of"
                       f" {QUEUES} tiles on screen, {size['height'] / size['vh']:.1f} screens")  # fmt: skip
        await page.context.close()

        page = await board(browser, centre, "tv", width, height)
        await assert_fits(page)
        assert await page.evaluate(OUTSIDE) == []
        for tile in await page.locator(".queue").all():
            await expect(tile).to_be_in_viewport(ratio=1)
        shown = await page.evaluate(SHOWN)
        assert len(shown["tiles"]) == QUEUES
        waiting = int(await page.locator("#callers-count").inner_text())
        assert waiting > len(shown["callers"]) > 0
        assert [more_count(t) for t in shown["callersMore"]] == [waiting - len(shown["callers"])]
        times = await page.locator("#callers .caller[data-caller] .wait").all_inner_texts()
        seconds = [sum(int(p) * 60 ** i for i, p in enumerate(reversed(t.split(":")))) for t in times]
        assert seconds == sorted(seconds, reverse=True)  # the longest waits first
        assert sum(group["count"] for group in shown["groups"]) == AGENTS
        figures.append(f"view=tv  {width}x{height}: {len(shown['tiles'])} tiles,"
                       f" {len(shown['callers'])} of {waiting} callers, "
                       f"{sum(g['chips'] for g in shown['groups'])} agent chips, 1.0 screen")  # fmt: skip
        await page.context.close()
    print("\n" + "\n".join(figures))
