"""The TV view (`?view=tv`) of a big centre in a real browser, and the board's alerts and agent
details.

A seeded simulator model of 20 queues and 300 agents (`large_config`) is scripted into a busy
moment (most agents on calls, queues swamped, phones unplugged) and fed to the live state and
the hub without AMI (`ModelFeed`), the web side being the real one (uvicorn, /ws, the pages);
tests/test_browser_tv_ami.py is the same centre over AMI against the installed product.
Fields that would need rules, settings or a day of history (queue display names, alerts,
today's figures, pause and call starts, wrap-up) are hand-built merge patches sent through the
same hub (`StateOverlay`), in the shape live/state.py gives them.

Agent groups count each agent once (300 agents, however many queues each is in), in the state
of the membership that speaks for it (in call > ringing > busy > available > paused > logged
off), as the board and its tiles do.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.browser_support import (
    Live,
    ModelFeed,
    Served,
    StateOverlay,
    build_app,
    pixel_stats,
    session_cookie,
)
from wallboard.config import Settings
from wallboard.history.store import open_store
from wallboard.live.events import MemberStatus
from wallboard.live.hub import Hub
from wallboard.live.state import CallCenterState
from wallboard.simulator.model import CallCenterModel, large_config

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT = 20_000  # ms; only to turn a hang into a failure
QUEUES, AGENTS = 20, 300
REASONS = ("Lunch", "Training", "Coaching", "Admin", "Meeting")
CALLER_NAMES = ("Dana Whitfield", "Marcus Chen", "Priya Natarajan", "Olga Petrov", "Sam Okafor",
                "Lee Wong", "Fatima Zahra", "Tom Becker", "Ana Souza", "Jin Park", "")  # fmt: skip
RANK = {"incall": 6, "ringing": 5, "busy": 4, "available": 3, "paused": 2, "off": 1}

in_module_loop = pytest.mark.asyncio(loop_scope="module")


# ------------------------------------------------------------------------------ the centre


def busy_moment(feed: ModelFeed) -> None:
    """A tenth of the agents paused; the first half of the queues swamped (every agent on a
    long call, callers waiting), the second half quieter (some calls, nine agents ringing, a
    share of the idle phones unplugged: logged off)."""
    model = feed.model
    names = [q.name for q in model.config.queues]
    half = (len(names) + 1) // 2
    swamped, quiet = names[:half], names[half:]
    count = 0

    def join(queue: str, **options: Any) -> None:
        nonlocal count
        count += 1
        model.join_caller(queue, f"555{count:04d}", CALLER_NAMES[count % len(CALLER_NAMES)],
                          **options)  # fmt: skip

    feed.bootstrap()
    for index, agent in enumerate(model.config.agents):
        if index % 10 == 3:
            model.pause(agent.name, REASONS[index % len(REASONS)])
    feed.advance(1)
    for _ in range(15):
        for queue in swamped:
            join(queue, talk_time=7200)
            feed.advance(0.3)
    feed.advance(30)
    for index in range(40):
        join(quiet[index % len(quiet)], talk_time=7200)
        feed.advance(0.3)
    feed.advance(240)
    for index in range(60):  # some queues far busier than others
        join(swamped[(index * index + index // 3) % len(swamped)])
        feed.advance(1.5)
    for index in range(9):
        join(quiet[(3 * index) % len(quiet)])
        feed.advance(0.05)
    unplug_idle_phones(feed, quiet, most=40)


def unplug_idle_phones(feed: ModelFeed, queues: list[str], most: int) -> None:
    """Every other idle agent of `queues`: its device goes unavailable (logged off). The model
    is not told, so it must not be advanced afterwards."""
    snapshot = feed.state.snapshot()["queues"]
    memberships: dict[str, list[str]] = {}
    idle: dict[str, bool] = {}
    for queue in queues:
        for interface, member in snapshot[queue]["members"].items():
            memberships.setdefault(interface, []).append(queue)
            free = member["status_text"] == "available" and not member["paused"] and not member["in_call"]
            idle[interface] = idle.get(interface, True) and free
    chosen = [interface for interface in sorted(idle) if idle[interface]][::2][:most]
    for interface in chosen:
        feed.inject(*(MemberStatus(queue, interface, status=5) for queue in memberships[interface]))


def member_state(member: dict[str, Any]) -> str:
    """As the board reads a membership (static/board-model.js memberState)."""
    text = member.get("status_text", "")
    if text in ("unavailable", "invalid"):
        return "off"
    if member.get("in_call"):
        return "incall"
    if text == "ringing":
        return "ringing"
    if member.get("paused"):
        return "paused"
    if text in ("busy", "onhold"):
        return "busy"
    return "available"


def agent_states(snapshot: dict[str, Any]) -> dict[str, str]:
    """Each agent (interface) once, in the state of the membership that speaks for it."""
    found: dict[str, str] = {}
    for queue in snapshot["queues"].values():
        for interface, member in queue["members"].items():
            state = member_state(member)
            if RANK[state] > RANK.get(found.get(interface, ""), 0):
                found[interface] = state
    return found


@dataclass
class Centre:
    served: Served
    app: Any
    hub: Hub
    state: CallCenterState
    overlay: StateOverlay
    feed: ModelFeed
    token: str
    cookie: str

    @property
    def base(self) -> str:
        return f"http://{self.served.base}"

    def tv(self, query: str = "") -> str:
        return f"{self.base}/wallboard?display={self.token}&view=tv{query}"

    def snapshot(self) -> dict[str, Any]:
        return self.overlay.snapshot()

    def publish(self, patch: dict[str, Any]) -> None:
        self.overlay.publish(self.hub, patch)

    def member_of(self, name: str) -> tuple[str, str, dict[str, Any]]:
        """(queue, interface, member) of the first membership of the agent called `name`."""
        for queue_name, queue in sorted(self.snapshot()["queues"].items()):
            for interface, member in queue["members"].items():
                if member.get("name") == name:
                    return queue_name, interface, member
        raise KeyError(name)

    def memberships(self, interface: str) -> list[str]:
        return [name for name, queue in self.snapshot()["queues"].items()
                if interface in queue["members"]]  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def centre(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Centre]:
    directory = tmp_path_factory.mktemp("tv")
    settings = Settings(db=str(directory / "tv.db"), timezone="UTC")
    store = open_store(settings.db)
    config = large_config(QUEUES, AGENTS, seed=7, auto=False)
    model = CallCenterModel(config, time.time() - 420)  # the script takes about 7 minutes
    state = CallCenterState("UTC", settings.service_level_for)
    overlay = StateOverlay(state)
    hub = Hub(overlay.snapshot)
    feed = ModelFeed(model, state, hub)
    busy_moment(feed)
    # Display names for all the queues but the last (which keeps showing its id alone).
    overlay.publish(hub, {"queues": {q.name: {"display_name": q.description}
                                     for q in config.queues[:-1]}})  # fmt: skip
    app = build_app(settings, store, Live(state, hub))
    boss = app.state.auth.users.add("boss", "secret", admin=True)
    token = app.state.auth.displays.add("lobby", "boss")
    cookie = session_cookie(app, boss)
    served = await Served(app).start()
    await hub.start()
    yield Centre(served, app, hub, state, overlay, feed, token, cookie)
    await hub.stop()
    await served.stop()
    store.close()


# ------------------------------------------------------------------------------ browser helpers


def expect(locator: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)


class Screen:
    """One browser context and page, with the errors it reported."""

    def __init__(self, context: Any, page: Any) -> None:
        self.context = context
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and "WebSocket" not in message.text:
            self.errors.append(f"console: {message.text}")

    async def close(self) -> None:
        assert self.errors == []
        await self.context.close()


# A Notification stand-in (the real one needs a desktop): it records what the page asks for.
FAKE_NOTIFICATIONS = """
(() => {
  const record = { asked: 0, shown: [] };
  class FakeNotification {
    static permission = %s;
    static async requestPermission() {
      record.asked += 1;
      FakeNotification.permission = "granted";
      return "granted";
    }
    constructor(title, options) { record.shown.push({ title, ...options }); }
  }
  window.Notification = FakeNotification;
  window.__notifications = record;
})();
"""


async def open_screen(browser: Any, url: str, width: int = 1920, height: int = 1080,
                      cookie: str = "", permission: str = "default") -> Screen:  # fmt: skip
    context = await browser.new_context(viewport={"width": width, "height": height})
    if cookie:
        name, _, value = cookie.partition("=")
        await context.add_cookies([{"name": name, "value": value, "url": url}])
    await context.add_init_script(FAKE_NOTIFICATIONS % f'"{permission}"')
    screen = Screen(context, await context.new_page())
    await screen.page.goto(url)
    return screen


async def settled(page: Any) -> None:
    """The board is live and laid out: the socket is up and two frames have passed (a render
    and a layout are each one animation frame)."""
    await expect(page.locator("#link")).to_have_text("Live", timeout=WAIT)
    await expect(page.locator(".queue")).to_have_count(QUEUES, timeout=WAIT)
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


# Every element with a box must lie in the viewport and inside each ancestor that clips it
# (text cut with an ellipsis excepted): nothing is scrolled away or silently cut off.
OUTSIDE = """
() => {
  const vw = innerWidth, vh = innerHeight, slack = 1;
  const name = (n) => n.tagName.toLowerCase() + (n.id ? "#" + n.id : "") +
    (n.className && typeof n.className === "string" ? "." + n.className.trim().split(/\\s+/).join(".") : "");
  const bad = [];
  for (const node of document.body.querySelectorAll("*")) {
    const box = node.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (getComputedStyle(node).visibility === "hidden") continue;
    if (box.left < -slack || box.top < -slack || box.right > vw + slack || box.bottom > vh + slack) {
      bad.push(`${name(node)} outside the viewport: ${JSON.stringify(box)}`);
      continue;
    }
    for (let up = node.parentElement; up && up !== document.body; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX === "visible" && style.overflowY === "visible") continue;
      if (style.textOverflow === "ellipsis") break;
      const clip = up.getBoundingClientRect();
      if (box.left < clip.left - slack || box.top < clip.top - slack ||
          box.right > clip.right + slack || box.bottom > clip.bottom + slack) {
        bad.push(`${name(node)} cut off by ${name(up)}`);
      }
      break;
    }
  }
  return bad;
}
"""

# The page's own size with the html/body overflow let loose: the content itself must fit.
PAGE_SIZE = """
() => {
  const loose = [document.documentElement, document.body];
  for (const node of loose) node.style.setProperty("overflow", "visible", "important");
  const scroller = document.scrollingElement;
  const size = { height: scroller.scrollHeight, width: scroller.scrollWidth, vh: innerHeight, vw: innerWidth };
  for (const node of loose) node.style.removeProperty("overflow");
  return size;
}
"""

# What the TV shows: tiles, callers (in order), agent groups and their chips.
SHOWN = """
() => ({
  tiles: [...document.querySelectorAll(".queue")].filter(t => !t.hidden).map(t => t.dataset.queue),
  callers: [...document.querySelectorAll("#callers .caller[data-caller]")].map(r => r.dataset.caller),
  callersMore: [...document.querySelectorAll("#callers .more-row")].map(r => r.textContent),
  groups: [...document.querySelectorAll(".agent-group")].filter(g => !g.hidden).map(g => ({
    state: g.dataset.group,
    count: Number(g.dataset.count),
    chips: g.querySelectorAll(".agent-chip").length,
    chipStates: [...g.querySelectorAll(".agent-chip")].map(c => c.className),
    more: [...g.querySelectorAll(".chip-more")].map(m => m.textContent),
  })),
  summary: document.querySelector("#agents-count").textContent,
  tileFont: parseFloat(getComputedStyle(document.querySelector(".queue")).fontSize),
})
"""


def more_count(text: str) -> int:
    match = re.fullmatch(r"\+(\d+) more", text)
    assert match, text
    return int(match.group(1))


def waiting_callers(snapshot: dict[str, Any]) -> list[tuple[float, str]]:
    """(since, uniqueid) of every waiting caller, longest wait first (ties by uniqueid, as the
    page breaks them)."""
    callers = [(caller["since"], uniqueid) for queue in snapshot["queues"].values()
               for uniqueid, caller in queue["callers"].items()]  # fmt: skip
    return sorted(callers, key=lambda item: (item[0], [int(p) for p in item[1].split(".")]))


def assert_groups_add_up(groups: list[dict[str, Any]], expected: Counter[str]) -> None:
    """Each group has its agents' count; its chips plus its "+N more" make that count."""
    assert {g["state"]: g["count"] for g in groups} == dict(expected)
    for group in groups:
        hidden = sum(more_count(text) for text in group["more"])
        assert group["chips"] + hidden == group["count"], group
        assert all(f"state-{group['state']}" in classes for classes in group["chipStates"])


async def assert_fits(page: Any) -> None:
    assert await page.evaluate(OUTSIDE) == []
    size = await page.evaluate(PAGE_SIZE)
    assert size["height"] <= size["vh"] and size["width"] <= size["vw"], size


@pytest.mark.browser
@in_module_loop
async def test_tv_view_fits_20_queues_and_300_agents_at_1080p_and_2160p(browser, centre) -> None:
    snapshot = centre.snapshot()
    states = agent_states(snapshot)
    assert len(states) == AGENTS
    expected = Counter(states.values())
    callers = waiting_callers(snapshot)
    shown_by_size = {}
    for width, height, picture in ((1920, 1080, "tv-1080p.png"), (3840, 2160, "tv-2160p.png")):
        screen = await open_screen(browser, centre.tv(), width, height)
        page = screen.page
        await settled(page)
        await assert_fits(page)
        shown = await page.evaluate(SHOWN)
        # Every queue tile, in id order (no alert fires), with its display name.
        assert shown["tiles"] == sorted(snapshot["queues"])
        for tile in await page.locator(".queue").all():
            await expect(tile).to_be_in_viewport(ratio=1)
        sales = page.locator('.queue[data-queue="3000"]')
        await expect(sales.locator(".queue-name")).to_have_text("Sales")
        await expect(sales.locator(".queue-id")).to_have_text("3000")
        await expect(page.locator('.queue[data-queue="3019"] .queue-name')).to_have_text("3019")
        await expect(page.locator('.queue[data-queue="3019"] .queue-id')).to_be_hidden()
        # The callers: the longest waits first, then "+N more" for the rest.
        count = len(shown["callers"])
        assert 0 < count < len(callers)
        assert shown["callers"] == [uniqueid for _, uniqueid in callers[:count]]
        assert [more_count(text) for text in shown["callersMore"]] == [len(callers) - count]
        await expect(page.locator("#callers-count")).to_have_text(str(len(callers)))
        # The agents by state; the groups' counts add up to the 300 agents.
        assert sum(group["count"] for group in shown["groups"]) == AGENTS
        assert_groups_add_up(shown["groups"], expected)
        labels = {"incall": "In call", "ringing": "Ringing", "busy": "Busy", "available": "Available",
                  "paused": "Paused", "off": "Logged off"}  # fmt: skip
        assert shown["summary"] == " · ".join(
            f"{labels[state]} {expected[state]}" for state in labels if expected[state]
        )
        ARTIFACTS.mkdir(exist_ok=True)
        png = await page.screenshot(path=str(ARTIFACTS / picture))
        stats = await pixel_stats(browser, png)
        assert (stats["width"], stats["height"]) == (width, height)
        assert stats["variance"] > 200 and stats["distinct"] > 50  # not a blank or flat screen
        shown_by_size[height] = shown
        await screen.close()
    # 2160p uses its room: more callers and more agent chips, not the same board bigger.
    small, large = shown_by_size[1080], shown_by_size[2160]
    assert len(large["callers"]) > len(small["callers"])
    chips = {size: sum(g["chips"] for g in shown["groups"]) for size, shown in shown_by_size.items()}
    assert chips[2160] > chips[1080]


@pytest.mark.browser
@in_module_loop
async def test_tv_rotates_between_the_queues_and_the_agents(browser, centre) -> None:
    screen = await open_screen(browser, centre.tv("&rotate=2"))
    page = screen.page
    indicator = page.locator("#page")
    await settled(page)
    await expect(indicator).to_have_attribute("data-page", "1", timeout=WAIT)
    await expect(indicator).to_have_text("Queues · page 1 of 2")
    await expect(page.locator("#callers-panel")).to_be_visible()
    await expect(page.locator("#agents-panel")).to_be_hidden()
    await assert_fits(page)
    await expect(indicator).to_have_attribute("data-page", "2", timeout=WAIT)
    await expect(indicator).to_have_text("Agents · page 2 of 2")
    await expect(page.locator("#queues")).to_be_hidden()
    await expect(page.locator("#agents-panel")).to_be_visible()
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    await assert_fits(page)
    shown = await page.evaluate(SHOWN)
    assert_groups_add_up(shown["groups"], Counter(agent_states(centre.snapshot()).values()))
    await expect(indicator).to_have_attribute("data-page", "1", timeout=WAIT)  # round again
    await expect(page.locator(".queue").first).to_be_visible()
    await screen.close()


@pytest.mark.browser
@in_module_loop
async def test_a_small_tv_spreads_the_tiles_over_pages(browser, centre) -> None:
    screen = await open_screen(browser, centre.tv("&rotate=2"), 1024, 576)
    page = screen.page
    indicator = page.locator("#page")
    await settled(page)
    await expect(indicator).to_contain_text("Queues 1/", timeout=WAIT)
    pages = int(re.search(r"of (\d+)", await indicator.text_content()).group(1))
    assert pages >= 3  # several pages of queues, then the agents
    seen: set[str] = set()
    for number in range(1, pages):
        await expect(indicator).to_have_attribute("data-page", str(number), timeout=WAIT)
        await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        await assert_fits(page)
        seen.update((await page.evaluate(SHOWN))["tiles"])
    assert seen == set(centre.snapshot()["queues"])  # every queue has its page
    await screen.close()


@pytest.mark.browser
@in_module_loop
async def test_hide_loggedoff_on_the_tv_and_the_switch_of_a_supervisor_tab(browser, centre) -> None:
    states = Counter(agent_states(centre.snapshot()).values())
    assert states["off"] > 0
    screen = await open_screen(browser, centre.tv("&hide=loggedoff"))
    page = screen.page
    await settled(page)
    await assert_fits(page)
    shown = await page.evaluate(SHOWN)
    del states["off"]
    assert_groups_add_up(shown["groups"], states)
    assert sum(group["count"] for group in shown["groups"]) == AGENTS - sum(
        1 for state in agent_states(centre.snapshot()).values() if state == "off"
    )
    assert "Logged off" not in shown["summary"]
    await expect(page.locator("#hide-off-toggle")).to_have_count(0)  # a TV has no such switch
    await screen.close()

    # A supervisor tab: a switch, remembered by the browser; the address wins.
    screen = await open_screen(browser, f"{centre.base}/wallboard?view=agents", cookie=centre.cookie)
    page = screen.page
    off = page.locator(".agent.state-off")
    toggle = page.locator("#hide-off-toggle")
    await expect(off.first).to_be_visible(timeout=WAIT)
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await toggle.click()
    await expect(off).to_have_count(0)
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await expect(page.locator(".agent").first).to_be_visible()
    assert "hide=loggedoff" in page.url
    await page.goto(f"{centre.base}/wallboard?view=agents")  # remembered
    await expect(page.locator(".agent").first).to_be_visible(timeout=WAIT)
    await expect(off).to_have_count(0)
    await page.goto(f"{centre.base}/wallboard?view=agents&hide=none")  # the address wins
    await expect(off.first).to_be_visible(timeout=WAIT)
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await screen.close()


@pytest.mark.browser
@in_module_loop
async def test_tv_groups_the_tiles_by_pbx_and_still_fits(browser, centre) -> None:
    snapshot = centre.snapshot()
    names = sorted(snapshot["queues"])
    link = {"connected": True, "since": int(time.time()) - 600, "error": "", "ami": True,
            "history": "queue_log", "history_ok": True, "history_error": ""}  # fmt: skip
    down = {**link, "connected": False, "since": int(time.time()) - 30}
    sites = {name: "site-a" if index < 12 else "site-b" for index, name in enumerate(names)}
    centre.publish({"pbxs": {"site-a": link, "site-b": down, **dict.fromkeys(snapshot["pbxs"])},
                    "queues": {name: {"pbx": pbx} for name, pbx in sites.items()}})  # fmt: skip
    try:
        screen = await open_screen(browser, centre.tv())
        page = screen.page
        await settled(page)
        await expect(page.locator(".pbx-group")).to_have_count(2)
        await expect(page.locator('.pbx-group[data-pbx="site-a"] .queue')).to_have_count(12)
        await expect(page.locator("#pbx-banner")).to_contain_text("site-b: link down")
        await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        await assert_fits(page)
        for tile in await page.locator(".queue").all():
            await expect(tile).to_be_in_viewport(ratio=1)
        await screen.close()
    finally:
        centre.publish({"pbxs": {"site-a": None, "site-b": None, **snapshot["pbxs"]},
                        "queues": {name: {"pbx": snapshot["queues"][name]["pbx"]} for name in names}})  # fmt: skip


# ------------------------------------------------------------------------------ alerts


def alert_rule(metric: str, op: str, threshold: float, subjects: dict[str, Any]) -> dict[str, Any]:
    return {"metric": metric, "op": op, "threshold": threshold, "clear": threshold,
            "state": "firing" if subjects else "ok", "since": int(time.time()),
            "subjects": subjects}  # fmt: skip


def subject(queue: str = "", agent: str = "", pbx: str = "", value: float = 0,
            since: float = 0) -> dict[str, Any]:  # fmt: skip
    return {"queue": queue, "agent": agent, "pbx": pbx, "value": value,
            "since": int(since or time.time())}  # fmt: skip


ALERT_ITEMS = """
() => [...document.querySelectorAll("#alerts .alert-item[data-alert]")].map(
  n => [n.dataset.alert, n.dataset.subject, n.textContent])
"""


@pytest.mark.browser
@in_module_loop
async def test_alerts_strip_flashing_tiles_chime_and_notifications(browser, centre) -> None:
    url = f"{centre.base}/wallboard?view=all"
    screen = await open_screen(browser, url, cookie=centre.cookie)
    page = screen.page
    await settled(page)
    strip = page.locator("#alerts")
    await expect(strip).to_be_hidden()
    # This tab opts in: notifications (the permission is asked for on the click) and the chime.
    await page.locator("#notify-toggle").click()
    await expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
    assert (await page.evaluate("window.__notifications.asked")) == 1
    await page.locator("#chime-toggle").click()
    await expect(page.locator("#chime-toggle")).to_have_attribute("aria-pressed", "true")
    now = time.time()
    centre.publish({"alerts": {
        "long_wait": alert_rule("longest_wait", "above", 120, {"3001": subject("3001", value=192, since=now - 42)}),
        "low_sl": alert_rule("service_level", "below", 80, {"3012": subject("3012", value=62.5)}),
        "quiet": alert_rule("waiting", "above", 50, {}),
    }})  # fmt: skip
    await expect(strip).to_be_visible(timeout=WAIT)
    items = page.locator("#alerts .alert-item")
    await expect(items).to_have_count(2)
    support = page.locator('.alert-item[data-alert="long_wait"][data-subject="3001"]')
    # A queue with callers: its longest wait counts on live (the subject's value is a sample).
    await expect(support).to_have_text(
        re.compile(r"^Support: longest wait \d+:\d\d \(above 2:00\) · for \d+:\d\d$"))
    await expect(support.locator(".alert-timer")).to_have_attribute("data-since", str(int(now - 42)))
    returns = page.locator('.alert-item[data-alert="low_sl"][data-subject="3012"]')
    await expect(returns).to_have_text(
        re.compile(r"^Returns: service level 62\.5% \(below 80%\) · for \d+:\d\d$"))
    # Those tiles flash and come first; the others keep their order.
    tiles = page.locator(".queue")
    order = await tiles.evaluate_all("ts => ts.map(t => t.dataset.queue)")
    assert order[:2] == ["3001", "3012"] and order[2:] == sorted(set(order) - {"3001", "3012"})
    await expect(page.locator(".queue.alerting")).to_have_count(2)
    await expect(page.locator('.queue[data-queue="3001"]')).to_have_class(re.compile(r"\balerting\b"))
    animation = await page.locator('.queue[data-queue="3001"]').evaluate("t => getComputedStyle(t).animationName")
    assert animation == "flash"
    await page.emulate_media(reduced_motion="reduce")  # a steady highlight instead
    steady = await page.locator('.queue[data-queue="3001"]').evaluate(
        "t => [getComputedStyle(t).animationName, getComputedStyle(t).backgroundColor]")
    assert steady == ["none", "rgb(76, 5, 25)"]
    await page.emulate_media(reduced_motion="no-preference")
    # One chime and one notification per subject that starts firing, not per change.
    stats = await page.evaluate("({...window.wallboard.alerts})")
    assert stats["chimes"] == 1
    shown = await page.evaluate("window.__notifications.shown")
    assert sorted(n["tag"] for n in shown) == ["long_wait\u00003001", "low_sl\u00003012"]
    assert {n["body"] for n in shown} >= {"Returns: service level 62.5% (below 80%)"}
    centre.publish({"alerts": {"low_sl": {"subjects": {"3012": {"value": 58}}}}})
    await expect(returns).to_contain_text("service level 58% (below 80%)", timeout=WAIT)
    # Back above its level, not yet at its clear level (the hysteresis): it says what it waits for.
    centre.publish({"alerts": {"low_sl": {"clear": 90, "subjects": {"3012": {"value": 84}}}}})
    await expect(returns).to_contain_text("service level 84% (clears at 90%)", timeout=WAIT)
    centre.publish({"alerts": {"low_sl": {"clear": 80, "subjects": {"3012": {"value": 58}}}}})
    centre.publish({"alerts": {"pbx": alert_rule("pbx_down", "above", 0, {"default": subject(pbx="default", value=30)})}})
    down = page.locator('.alert-item[data-alert="pbx"][data-subject="default"]')
    await expect(down).to_have_text(re.compile(r"^default: PBX link down · for \d+:\d\d$"), timeout=WAIT)
    stats = await page.evaluate("({...window.wallboard.alerts})")
    assert stats["chimes"] == 2 and stats["notifications"] == 3
    await expect(page.locator(".queue.alerting")).to_have_count(2)  # no queue: no tile
    # Cleared: the items go, the tiles calm down and go back to their places.
    centre.publish({"alerts": {
        "long_wait": {"state": "ok", "subjects": {"3001": None}},
        "low_sl": {"state": "ok", "subjects": {"3012": None}},
        "pbx": {"state": "ok", "subjects": {"default": None}},
    }})  # fmt: skip
    await expect(strip).to_be_hidden(timeout=WAIT)
    await expect(page.locator(".queue.alerting")).to_have_count(0)
    assert await tiles.evaluate_all("ts => ts.map(t => t.dataset.queue)") == sorted(order)
    await screen.close()


@pytest.mark.browser
@in_module_loop
async def test_a_tv_shows_alerts_in_one_line_and_never_asks_to_notify(browser, centre) -> None:
    screen = await open_screen(browser, centre.tv(), permission="granted")
    page = screen.page
    await page.evaluate("localStorage.setItem('wallboard.notify', 'on')")  # even so
    await settled(page)
    await expect(page.locator("#notify-toggle")).to_have_count(0)
    await expect(page.locator("#chime-toggle")).to_be_visible()
    subjects = {q: subject(q, value=300 + i) for i, q in enumerate(sorted(centre.snapshot()["queues"]))}
    paused_name = "Diego Varga"
    queue, _, _ = centre.member_of(paused_name)
    centre.publish({"alerts": {
        "long_wait": alert_rule("longest_wait", "above", 120, subjects),
        "long_pause": alert_rule("paused", "above", 10, {paused_name: subject(queue, agent=paused_name, value=14.6)}),
    }})  # fmt: skip
    await expect(page.locator("#alerts")).to_be_visible(timeout=WAIT)
    more = page.locator("#alerts .alert-more")
    await expect(more).to_have_text(re.compile(r"^\+\d+ more$"), timeout=WAIT)
    listed = await page.evaluate(ALERT_ITEMS)
    assert len(listed) + more_count(await more.text_content()) == QUEUES + 1
    await expect(page.locator(".queue.alerting")).to_have_count(QUEUES)
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    await assert_fits(page)
    assert await page.evaluate("window.__notifications") == {"asked": 0, "shown": []}
    centre.publish({"alerts": {
        "long_wait": {"state": "ok", "subjects": dict.fromkeys(subjects)},
        "long_pause": {"state": "ok", "subjects": {paused_name: None}},
    }})  # fmt: skip
    await expect(page.locator("#alerts")).to_be_hidden(timeout=WAIT)
    await screen.close()


# ------------------------------------------------------------------------------ agent details


def speaking(snapshot: dict[str, Any], interface: str) -> dict[str, Any]:
    """The membership that speaks for an agent (the highest-ranked state)."""
    found = [q["members"][interface] for q in snapshot["queues"].values() if interface in q["members"]]
    return max(found, key=lambda member: RANK[member_state(member)])


def caller_words(member: dict[str, Any]) -> str:
    return " · ".join(part for part in (member.get("callerid_name"), member.get("callerid"))
                      if part and part not in ("<unknown>", "unknown"))  # fmt: skip


@pytest.mark.browser
@in_module_loop
async def test_agent_rows_show_name_today_pause_caller_and_wrapup(browser, centre) -> None:
    now = int(time.time())
    snapshot = centre.snapshot()
    states = agent_states(snapshot)
    by_state: dict[str, list[str]] = {}
    for interface in sorted(states):
        by_state.setdefault(states[interface], []).append(interface)
    paused = next(i for i in by_state["paused"] if len(centre.memberships(i)) == 2)
    unknown = next(i for i in by_state["paused"] if i != paused)
    talking = next(i for i in by_state["incall"] if caller_words(speaking(snapshot, i)))
    single, idle, nameless = [i for i in by_state["available"] if len(centre.memberships(i)) == 1][:3]
    paused_member, talking_member = speaking(snapshot, paused), speaking(snapshot, talking)
    first_queue, second_queue = centre.memberships(paused)
    patch = members_patch(centre, {
        paused: {"paused_since": now - 754},
        unknown: {"paused_since": 0},  # not known: LastPause says when
        talking: {"call_since": now - 3000},
        single: {"today": {"answered": 3, "talk": 125, "missed": 0, "paused": 0}},
        idle: {"wrapup_until": now + 3600},
        nameless: {"name": None},
    })  # fmt: skip
    # Today's figures as the live state keeps them: per queue and agent name.
    name = paused_member["name"]
    for queue, figures in ((first_queue, {"answered": 8, "talk": 2400, "missed": 1, "paused": 900}),
                           (second_queue, {"answered": 4, "talk": 1323, "missed": 1, "paused": 600})):  # fmt: skip
        patch["queues"][queue]["agents_today"] = {name: figures}
    idle_name = speaking(snapshot, idle)["name"]
    for queue in centre.memberships(idle):  # nothing today
        patch["queues"][queue].setdefault("agents_today", {})[idle_name] = None
    centre.publish(patch)
    try:
        screen = await open_screen(browser, f"{centre.base}/wallboard?view=agents", cookie=centre.cookie)
        page = screen.page
        await expect(page.locator("#link")).to_have_text("Live", timeout=WAIT)
        row = page.locator(f'.agent[data-agent="{paused}"]')
        await expect(row.locator(".agent-name")).to_have_text(name, timeout=WAIT)
        await expect(row.locator(".agent-state")).to_have_text(f"Paused · {paused_member['pause_reason']}")
        await expect(row.locator(".agent-time")).to_have_attribute("data-since", str(now - 754))
        # Calls, talk and missed rings add up over the queues; pause time is the longest.
        await expect(row.locator(".agent-today")).to_have_text(
            "Today 12 answered · 1:02:03 talk · 2 missed · 15:00 paused")
        assert duration(await row.locator(".agent-time").text_content()) >= 754
        await expect(page.locator(f'.agent[data-agent="{single}"] .agent-today')).to_have_text(
            "Today 3 answered · 2:05 talk · 0 missed · 0:00 paused")
        last_pause = speaking(snapshot, unknown)["last_pause"]
        assert last_pause > 0
        await expect(page.locator(f'.agent[data-agent="{unknown}"] .agent-time')).to_have_attribute(
            "data-since", str(last_pause))
        # On a call: with whom, since the call began.
        call = page.locator(f'.agent[data-agent="{talking}"]')
        await expect(call.locator(".agent-caller")).to_have_text(f"With {caller_words(talking_member)}")
        await expect(call.locator(".agent-time")).to_have_attribute("data-since", str(now - 3000))
        # Wrap-up counts down; nobody else is in wrap-up; no figures of today: no line.
        wrapup = page.locator(f'.agent[data-agent="{idle}"] .wrapup')
        await expect(wrapup).to_have_text(re.compile(r"^Wrap-up (59|60):\d\d$"))
        first = await wrapup.text_content()
        await expect(wrapup).not_to_have_text(first, timeout=WAIT)
        later = await wrapup.text_content()
        assert duration(later.removeprefix("Wrap-up ")) < duration(first.removeprefix("Wrap-up "))
        await expect(page.locator(".wrapup:not([hidden])")).to_have_count(1)
        await expect(page.locator(f'.agent[data-agent="{idle}"] .agent-today')).to_be_hidden()
        # No name: the interface.
        await expect(page.locator(f'.agent[data-agent="{nameless}"] .agent-name')).to_have_text(nameless)
        await screen.close()
        # The TV's chips say the same (these two are the longest in their state: shown first).
        screen = await open_screen(browser, centre.tv())
        page = screen.page
        await settled(page)
        chip = page.locator(f'.agent-chip[data-agent="{paused}"]')
        await expect(chip.locator(".agent-chip-text")).to_have_text(paused_member["pause_reason"])
        await expect(chip.locator(".agent-chip-time")).to_have_attribute("data-since", str(now - 754))
        talking_chip = page.locator(f'.agent-chip[data-agent="{talking}"]')
        await expect(talking_chip.locator(".agent-chip-text")).to_have_text(caller_words(talking_member))
        await screen.close()
    finally:  # back to what the live state says
        centre.publish(restoring(patch, centre.state.snapshot()))


def members_patch(centre: Centre, changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A patch giving each interface's memberships the same `changes`."""
    queues: dict[str, Any] = {}
    for interface, fields in changes.items():
        for queue in centre.memberships(interface):
            queues.setdefault(queue, {"members": {}})["members"][interface] = fields
    return {"queues": queues}


def restoring(patch: dict[str, Any], base: Any) -> dict[str, Any]:
    """The patch putting back what `patch` changed, as `base` has it (absent: deleted)."""
    out: dict[str, Any] = {}
    for key, value in patch.items():
        before = base.get(key) if isinstance(base, dict) else None
        out[key] = restoring(value, before) if isinstance(value, dict) and isinstance(before, dict) else before
    return out


def duration(text: str) -> int:
    seconds = 0
    for part in text.strip().split(":"):
        seconds = seconds * 60 + int(part)
    return seconds
