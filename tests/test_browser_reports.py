"""The report pages in a real browser, on a hand-built day, against the product as installed.

A queue_log of one day (two queues, `sales` and `support`) is imported into a fresh store with
an admin and a user restricted to `support`; the installed `wallboard serve` (the wheel, see
tests/installed.py) serves it, and Debian's Chromium, driven by Playwright, logs in and reads
the pages. Every expected figure is worked out by hand from the lines below (see the comments),
never by calling the code under test. Without /usr/bin/chromium the tests skip (fail under CI).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.browser_support import cheap_hasher, free_port, pixel_stats
from tests.installed import Running, write_config
from wallboard.auth import UserStore
from wallboard.history.ingest import import_files
from wallboard.history.store import open_store

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # git-ignored
WAIT = 20_000  # ms: only to turn a hang into a failure
in_module_loop = pytest.mark.asyncio(loop_scope="module")

D = 1712620800  # 2024-04-09 00:00:00 UTC, a Tuesday (the server's timezone is UTC)
DAY, NEXT_DAY = "2024-04-09", "2024-04-10"
PASSWORDS = {"boss": "boss-password", "sup": "sup-password"}


def at(h: int, m: int = 0, s: int = 0) -> int:
    return D + h * 3600 + m * 60 + s


def line(when: int, callid: str, queue: str, agent: str, event: str, *data: str) -> str:
    return f"{when}|{callid}|{queue}|{agent}|{event}|{'|'.join(data)}\n"


def uid(when: int, n: int) -> str:
    """An Asterisk-like uniqueid: the channel's creation epoch and a sequence number."""
    return f"{when}.{n}"


# The calls of the day, by enter time (service level 20 s: "within" is wait <= 20):
#   support (the restricted user's queue)
#     QUICK    08:00:00  Alice  wait  5  ring 2  talk 100  COMPLETECALLER
#     EDGE     08:30:00  Bob    wait 20  ring 4  talk 200  COMPLETEAGENT   (20 <= 20: within)
#     SLOW     09:00:00  Alice  wait 22  ring 3  talk  61  COMPLETECALLER
#     GAVE_UP  09:30:00  ABANDON after 33 s
#     TIMEOUT  10:00:00  EXITWITHTIMEOUT after 90 s, then overflows into sales (answered there)
#     HUNG_UP  11:00:00  ABANDON after 7 s
#     LATE     12:00:00  Bob    wait 43  ring 5  talk  90  COMPLETEAGENT
#   sales (never to be seen by the restricted user)
#     S1       08:10:00  Carol  wait 12  talk 300  COMPLETECALLER
#     S2       08:40:00  ABANDON after 150 s (a longer wait than any in support: a leak shows)
#     S3       09:10:00  Carol  wait 30  talk  45  COMPLETEAGENT
#     TIMEOUT  10:01:30  Carol  wait  8  talk  70  COMPLETECALLER (the overflow from support)
# Sessions 07:55-13:00: Alice in support and sales, Bob in support; Carol in sales 08:00-13:00.
# Bob pauses 10:30-10:45 (Break).
QUICK, EDGE, SLOW = uid(at(8), 1), uid(at(8, 30), 3), uid(at(9), 5)
GAVE_UP, TIMEOUT, HUNG_UP, LATE = uid(at(9, 30), 7), uid(at(10), 8), uid(at(11), 9), uid(at(12), 10)
S1, S2, S3 = uid(at(8, 10), 2), uid(at(8, 40), 4), uid(at(9, 10), 6)
QUEUE_LOG = [
    line(at(7), "NONE", "NONE", "NONE", "QUEUESTART", ""),
    line(at(7, 55), "MANAGER", "support", "Alice", "ADDMEMBER", ""),
    line(at(7, 55), "MANAGER", "sales", "Alice", "ADDMEMBER", ""),
    line(at(7, 55), "MANAGER", "support", "Bob", "ADDMEMBER", ""),
    line(at(8), "MANAGER", "sales", "Carol", "ADDMEMBER", ""),
    line(at(8), QUICK, "support", "NONE", "ENTERQUEUE", "", "5550101", "1"),
    line(at(8, 0, 5), QUICK, "support", "Alice", "CONNECT", "5", QUICK + "a", "2"),
    line(at(8, 1, 45), QUICK, "support", "Alice", "COMPLETECALLER", "5", "100", "1"),
    line(at(8, 10), S1, "sales", "NONE", "ENTERQUEUE", "", "5550201", "1"),
    line(at(8, 10, 12), S1, "sales", "Carol", "CONNECT", "12", S1 + "c", "3"),
    line(at(8, 15, 12), S1, "sales", "Carol", "COMPLETECALLER", "12", "300", "1"),
    line(at(8, 30), EDGE, "support", "NONE", "ENTERQUEUE", "", "5550102", "1"),
    line(at(8, 30, 20), EDGE, "support", "Bob", "CONNECT", "20", EDGE + "b", "4"),
    line(at(8, 33, 40), EDGE, "support", "Bob", "COMPLETEAGENT", "20", "200", "1"),
    line(at(8, 40), S2, "sales", "NONE", "ENTERQUEUE", "", "5550202", "1"),
    line(at(8, 42, 30), S2, "sales", "NONE", "ABANDON", "1", "1", "150"),
    line(at(9), SLOW, "support", "NONE", "ENTERQUEUE", "", "5550103", "1"),
    line(at(9, 0, 22), SLOW, "support", "Alice", "CONNECT", "22", SLOW + "a", "3"),
    line(at(9, 1, 23), SLOW, "support", "Alice", "COMPLETECALLER", "22", "61", "1"),
    line(at(9, 10), S3, "sales", "NONE", "ENTERQUEUE", "", "5550203", "1"),
    line(at(9, 10, 30), S3, "sales", "Carol", "CONNECT", "30", S3 + "c", "5"),
    line(at(9, 11, 15), S3, "sales", "Carol", "COMPLETEAGENT", "30", "45", "1"),
    line(at(9, 30), GAVE_UP, "support", "NONE", "ENTERQUEUE", "", "5550104", "1"),
    line(at(9, 30, 33), GAVE_UP, "support", "NONE", "ABANDON", "1", "1", "33"),
    line(at(10), TIMEOUT, "support", "NONE", "ENTERQUEUE", "", "5550105", "1"),
    line(at(10, 1, 30), TIMEOUT, "support", "NONE", "EXITWITHTIMEOUT", "1", "1", "90"),
    line(at(10, 1, 30), TIMEOUT, "sales", "NONE", "ENTERQUEUE", "", "5550105", "1"),
    line(at(10, 1, 38), TIMEOUT, "sales", "Carol", "CONNECT", "8", TIMEOUT + "c", "2"),
    line(at(10, 2, 48), TIMEOUT, "sales", "Carol", "COMPLETECALLER", "8", "70", "1"),
    line(at(10, 30), "NONE", "support", "Bob", "PAUSE", "Break"),
    line(at(10, 45), "NONE", "support", "Bob", "UNPAUSE", ""),
    line(at(11), HUNG_UP, "support", "NONE", "ENTERQUEUE", "", "5550106", "1"),
    line(at(11, 0, 7), HUNG_UP, "support", "NONE", "ABANDON", "1", "1", "7"),
    line(at(12), LATE, "support", "NONE", "ENTERQUEUE", "", "5550107", "1"),
    line(at(12, 0, 43), LATE, "support", "Bob", "CONNECT", "43", LATE + "b", "5"),
    line(at(12, 2, 13), LATE, "support", "Bob", "COMPLETEAGENT", "43", "90", "1"),
    line(at(13), "MANAGER", "support", "Alice", "REMOVEMEMBER", ""),
    line(at(13), "MANAGER", "sales", "Alice", "REMOVEMEMBER", ""),
    line(at(13), "MANAGER", "support", "Bob", "REMOVEMEMBER", ""),
    line(at(13), "MANAGER", "sales", "Carol", "REMOVEMEMBER", ""),
]

# The restricted user's figures (support only), by hand:
#   received    4 answered (QUICK EDGE SLOW LATE) + 3 unanswered (GAVE_UP TIMEOUT HUNG_UP) = 7
#   abandoned   GAVE_UP, HUNG_UP = 2 (TIMEOUT timed out: unanswered, not abandoned)
#   SL          waits 5 and 20 are <= 20 s: 2 of 4 answered = 50.00 %
#   ASA         (5 + 20 + 22 + 43) / 4 = 90 / 4 = 22.5 → 23 (halves rounded up)
#   AHT         (100 + 200 + 61 + 90) / 4 = 451 / 4 = 112.75 → 113
#   longest     max(5, 20, 22, 43, 33, 90, 7) = 90 (sales' 150 s must not show)
SUPPORT = {"fig-received": "7", "fig-answered": "4", "fig-abandoned": "2",
           "fig-unanswered": "3", "fig-sl": "50.00%", "fig-asa": "23 s", "fig-aht": "113 s",
           "fig-longest": "90 s"}  # fmt: skip
ZEROS = {"fig-received": "0", "fig-answered": "0", "fig-abandoned": "0", "fig-unanswered": "0",
         "fig-sl": "0.00%", "fig-asa": "0 s", "fig-aht": "0 s", "fig-longest": "0 s"}  # fmt: skip
# The admin's (both queues): sales adds S1 S2 S3 and TIMEOUT's overflow (wait 8, talk 70):
#   received 7 + 4 = 11, answered 4 + 3 = 7, abandoned 2 + 1 = 3, unanswered 3 + 1 = 4,
#   SL (2 + S1's 12 s + the overflow's 8 s) = 4 of 7 = 57.14 %,
#   ASA (90 + 12 + 30 + 8) / 7 = 140 / 7 = 20, AHT (451 + 300 + 45 + 70) / 7 = 123.71 → 124,
#   longest 150 (S2).
EVERYTHING = {"fig-received": "11", "fig-answered": "7", "fig-abandoned": "3",
              "fig-unanswered": "4", "fig-sl": "57.14%", "fig-asa": "20 s", "fig-aht": "124 s",
              "fig-longest": "150 s"}  # fmt: skip
THE_DAY = f"period=custom&start={DAY}&end={DAY}"
HIDDEN = re.compile(r"sales|carol", re.IGNORECASE)  # what the restricted user must never see


# ------------------------------------------------------------------------------ fixtures


class ReportServer:
    """The hand-built day in a fresh store, and the installed `wallboard serve` over it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.running: Running | None = None

    def start(self) -> None:
        queue_log = self.directory / "queue_log"
        queue_log.write_text("".join(QUEUE_LOG))
        db = self.directory / "reports.db"
        store = open_store(str(db))
        try:
            summary = import_files(store, [queue_log])
            assert summary.records == len(QUEUE_LOG) and not summary.rejected, summary
            users = UserStore(store, hasher=cheap_hasher())
            users.add("boss", PASSWORDS["boss"], admin=True)
            users.add("sup", PASSWORDS["sup"], queues=["support"])
        finally:
            store.close()
        config = write_config(self.directory / "wallboard.toml", db=str(db), timezone="UTC",
                              host="127.0.0.1", port=self.port, service_level=20,
                              log_level="warning")  # fmt: skip
        self.running = Running(["serve", "--config", str(config)], self.directory)
        self.running.wait_for("wallboard: serving")

    def stop(self) -> None:
        if self.running is None:
            return
        self.running.stop()
        output = self.running.output()
        assert "Traceback" not in output, output  # nothing failed, loudly or not


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportServer]:
    served = ReportServer(tmp_path_factory.mktemp("reports"))
    try:
        served.start()
        yield served
    finally:
        served.stop()


class Tab:
    """One logged-in browser tab, with the errors its pages reported."""

    def __init__(self, page: Any, server: ReportServer) -> None:
        self.page = page
        self.server = server
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    async def goto(self, path: str) -> Any:
        response = await self.page.goto(self.server.base + path)
        assert response is not None
        return response

    async def close(self) -> None:
        await self.page.context.close()


async def logged_in(browser: Any, server: ReportServer, name: str, path: str) -> Tab:
    """A new 1920×1080 tab that opens `path`, is sent to the login form, logs in as `name` and
    comes back to `path`."""
    context = await browser.new_context(viewport={"width": 1920, "height": 1080},
                                        accept_downloads=True)  # fmt: skip
    tab = Tab(await context.new_page(), server)
    await tab.goto(path)
    page = tab.page
    await expect(page.locator("input[name=name]")).to_be_visible(timeout=WAIT)
    assert "/login?next=" in page.url
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")
    await arrived(page, server.base + path)
    return tab


async def arrived(page: Any, url: Any) -> None:
    """Wait until the tab is at `url` and its document has loaded (its scripts have run: the
    period picker and the sortable tables work from then on)."""
    await expect(page).to_have_url(url, timeout=WAIT)
    await page.wait_for_load_state("load", timeout=WAIT)


def expect(target: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(target)


async def figures(page: Any) -> dict[str, str]:
    """The headline figures shown, by element id."""
    return {key: (await page.locator(f"#{key} b").inner_text()).strip() for key in SUPPORT}


async def table(page: Any, selector: str) -> list[list[str]]:
    """A table's body cells, as text."""
    return await page.locator(f"{selector} tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )


async def column(page: Any, selector: str, name: str) -> list[str]:
    """One column of a table, by its heading."""
    heads = await page.locator(f"{selector} thead th").all_inner_texts()
    index = [h.strip() for h in heads].index(name)
    return [row[index] for row in await table(page, selector)]


async def chart_spec(page: Any) -> Any:
    """The data-chart JSON of the page's chart canvas (None when the report has none)."""
    canvas = page.locator("canvas.chart-canvas")
    if await canvas.count() == 0:
        return None
    return json.loads(await canvas.get_attribute("data-chart") or "null")


async def assert_charts_drawn(page: Any) -> int:
    """Every chart canvas has a size on screen and a Chart.js chart drawn on it; how many."""
    canvases = page.locator("canvas.chart-canvas")
    count = await canvases.count()
    for n in range(count):
        canvas = canvases.nth(n)
        box = await canvas.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, box
        drawn = await canvas.evaluate("c => [c.width, c.height, !!Chart.getChart(c)]")
        assert drawn[0] > 0 and drawn[1] > 0 and drawn[2], drawn
    return count


def not_found_noise(errors: list[str]) -> list[str]:
    """The errors minus Chromium's note that the page itself came with a 4xx status."""
    return [e for e in errors if "Failed to load resource: the server responded with a status of 4"
            not in e]  # fmt: skip


# ------------------------------------------------------------------------------ tests


@pytest.mark.browser
@in_module_loop
async def test_the_summary_shows_the_hand_worked_figures(browser, server) -> None:
    tab = await logged_in(browser, server, "sup", f"/reports?{THE_DAY}")
    page = tab.page
    await expect(page.locator("#fig-received b")).to_have_text("7", timeout=WAIT)
    assert await figures(page) == SUPPORT
    assert await page.locator("#fig-unknown").count() == 0  # no abandon of unknown kind
    # The day by day table: one day, ASA and AHT as the headline's.
    assert await table(page, "#trend") == [[DAY, "7", "4", "3", "23", "113"]]
    # The queues: support alone, abandoned 2, SL 2 / 4.
    assert await table(page, "#by-queue") == [["support", "7", "4", "3", "2", "23", "113", "50.00"]]
    assert await page.locator("#by-queue tr[data-queue]").evaluate_all(
        "rows => rows.map(r => r.dataset.queue)"
    ) == ["support"]
    # Its drill links: the queue's answered and unanswered calls of the same day.
    row = page.locator('#by-queue tr[data-queue="support"]')
    answered = await row.get_by_role("link", name="4", exact=True).get_attribute("href")
    assert answered == f"/reports/answered_calls_detail?{THE_DAY}&queues=support"
    await row.get_by_role("link", name="4", exact=True).click()
    await expect(page.locator("#rows tbody tr")).to_have_count(4, timeout=WAIT)
    assert await column(page, "#rows", "uniqueid") == [QUICK, EDGE, SLOW, LATE]
    assert await column(page, "#rows", "waitTime") == ["5", "20", "22", "43"]
    assert await column(page, "#rows", "callTime") == ["100", "200", "61", "90"]
    assert await assert_charts_drawn(page) == 0  # a detail report has no chart
    assert tab.errors == []
    await tab.close()


@pytest.mark.browser
@in_module_loop
async def test_the_period_picker_switches_away_and_back(browser, server) -> None:
    tab = await logged_in(browser, server, "sup", f"/reports?{THE_DAY}")
    page = tab.page
    await expect(page.locator("#fig-received b")).to_have_text("7", timeout=WAIT)
    # Yesterday (of the server's real clock) holds nothing: choosing it submits the form.
    await page.select_option("#period", "yesterday")
    await arrived(page, re.compile(r"[?&]period=yesterday(&|$)"))
    await expect(page.locator("#fig-received b")).to_have_text("0", timeout=WAIT)
    assert await figures(page) == ZEROS
    assert await page.locator("#period").input_value() == "yesterday"
    assert await table(page, "#by-queue") == []
    # A custom range next to the day, and not including it: zeros too. Typing a date makes
    # the period "custom" (the page's script); "Show" submits.
    await page.fill("input[name=start]", NEXT_DAY)
    await page.fill("input[name=end]", NEXT_DAY)
    await expect(page.locator("#period")).to_have_value("custom")
    await page.click("form.filters button[type=submit]")
    await arrived(page, re.compile(rf"start={NEXT_DAY}&end={NEXT_DAY}"))
    await expect(page.locator(".showing")).to_have_text(NEXT_DAY, timeout=WAIT)
    assert await figures(page) == ZEROS
    # And back to the day: the hand-worked figures again.
    await page.fill("input[name=start]", DAY)
    await page.fill("input[name=end]", DAY)
    await page.click("form.filters button[type=submit]")
    await arrived(page, re.compile(rf"period=custom&start={DAY}&end={DAY}"))
    await expect(page.locator("#fig-received b")).to_have_text("7", timeout=WAIT)
    assert await figures(page) == SUPPORT
    # The other named periods (all after the day, by the server's clock): zeros, never a 500.
    for period in ("today", "this_week", "last_week", "this_month", "last_month"):
        await page.select_option("#period", period)
        await arrived(page, re.compile(rf"[?&]period={period}(&|$)"))
        await expect(page.locator("#period")).to_have_value(period, timeout=WAIT)
        await expect(page.locator("#fig-received b")).to_have_text("0")
    assert tab.errors == []
    await tab.close()


@pytest.mark.browser
@in_module_loop
async def test_drill_from_abandoned_to_the_call_timeline(browser, server) -> None:
    tab = await logged_in(browser, server, "sup", f"/reports?{THE_DAY}")
    page = tab.page
    unanswered_detail = f"/reports/unanswered_calls_detail?{THE_DAY}"
    for figure in ("#fig-abandoned", "#fig-unanswered"):  # both lead to the unanswered calls
        assert await page.locator(figure).get_attribute("href") == unanswered_detail
    await page.click("#fig-abandoned")
    await arrived(page, server.base + unanswered_detail)
    await expect(page.locator("#rows tbody tr")).to_have_count(3, timeout=WAIT)
    # In time order (the time the call left the queue): GAVE_UP, TIMEOUT, HUNG_UP.
    assert await column(page, "#rows", "uniqueid") == [GAVE_UP, TIMEOUT, HUNG_UP]
    assert await column(page, "#rows", "event") == ["ABANDON", "EXITWITHTIMEOUT", "ABANDON"]
    assert await column(page, "#rows", "waitTime") == ["33", "90", "7"]
    assert await column(page, "#rows", "datetime") == [
        "09-04-2024 09:30:33", "09-04-2024 10:01:30", "09-04-2024 11:00:07",
    ]  # fmt: skip
    assert await column(page, "#rows", "queue") == ["support"] * 3
    # Sortable: a click on a heading sorts by it (numbers as numbers), a second click reverses.
    heading = page.locator("#rows thead th", has_text=re.compile(r"^waitTime$"))
    await heading.click()
    await expect(heading).to_have_attribute("aria-sort", "ascending")
    assert await column(page, "#rows", "waitTime") == ["7", "33", "90"]
    await heading.click()
    await expect(heading).to_have_attribute("aria-sort", "descending")
    assert await column(page, "#rows", "uniqueid") == [TIMEOUT, GAVE_UP, HUNG_UP]
    # From the row's uniqueid to the call's timeline.
    await page.locator("#rows").get_by_role("link", name=GAVE_UP, exact=True).click()
    await arrived(page, re.compile(rf"/reports/call/{re.escape(GAVE_UP)}\?"))  # fmt: skip
    items = page.locator("ol#timeline li")
    await expect(items).to_have_count(2, timeout=WAIT)
    assert await items.evaluate_all("lis => lis.map(li => li.dataset.event)") == [
        "ENTERQUEUE", "ABANDON",
    ]  # fmt: skip
    assert await page.locator("ol#timeline li .what").all_inner_texts() == [
        "Entered queue support from 5550104 at position 1",
        "The caller hung up while waiting, after 33 s",
    ]
    assert await page.locator("ol#timeline li time").all_inner_texts() == [
        f"{DAY} 09:30:00", f"{DAY} 09:30:33",
    ]  # fmt: skip
    assert tab.errors == []
    await tab.close()


def _expected_cell(value: str) -> Any:
    """A JSON text value as a spreadsheet cell should hold it: whole numbers and decimals as
    numbers (a leading zero keeps it text: caller numbers), empty as no value."""
    if value == "":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", value):
        return int(value)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", value):
        return float(value)
    return value


async def _download(page: Any, link: str) -> tuple[str, bytes]:
    async with page.expect_download(timeout=WAIT) as info:
        await page.click(link)
    download = await info.value
    path = await download.path()
    assert await download.failure() is None
    return download.suggested_filename, Path(path).read_bytes()


@pytest.mark.browser
@in_module_loop
@pytest.mark.parametrize("name", ["unanswered_calls_detail", "distribution_by_queue"])
async def test_csv_and_xlsx_downloads_hold_the_api_rows(browser, server, name) -> None:
    import openpyxl

    tab = await logged_in(browser, server, "sup", f"/reports/{name}?{THE_DAY}")
    page = tab.page
    await expect(page.locator("#rows tbody tr").first).to_be_visible(timeout=WAIT)
    href = await page.locator("#export-csv").get_attribute("href")
    parts = urlsplit(href or "")
    query = dict(parse_qsl(parts.query))
    assert parts.path == "/stats/rest/index.php"
    assert query == {"entity": f"reports/{name}", "start": DAY, "end": DAY, "format": "csv"}
    # The same report as JSON, through the API, with the same user (the page's session cookie).
    json_query = {k: v for k, v in query.items() if k != "format"}
    answer = await page.context.request.get(f"{server.base}{parts.path}?{urlencode(json_query)}")
    assert answer.status == 200
    rows = (await answer.json())["rows"]
    assert rows, "the day has rows"
    keys = list(rows[0])
    values = [[row[k] for k in keys] for row in rows]

    filename, data = await _download(page, "#export-csv")
    assert filename == f"{name}_{DAY}.csv"
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed == [keys, *values]  # every value exactly, the JSON keys as the header
    expected = io.StringIO(newline="")
    csv.writer(expected).writerows([keys, *values])
    assert data.decode("utf-8") == expected.getvalue()  # and byte for byte

    filename, data = await _download(page, "#export-xlsx")
    assert filename == f"{name}_{DAY}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == [name]
    sheet = book[name]
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0] == keys
    assert len(cells) == len(values) + 1
    for got, want in zip(cells[1:], values, strict=True):
        expected_row = [_expected_cell(v) for v in want]
        assert got == expected_row, (got, want)
        for cell, wanted in zip(got, expected_row, strict=True):  # numbers as numbers
            assert isinstance(cell, (int, float)) == isinstance(wanted, (int, float)), (cell, want)
    for text in (json.dumps(rows), data.decode("latin-1"), "".join(map(str, cells))):
        assert not HIDDEN.search(text)
    assert tab.errors == []
    await tab.close()


@pytest.mark.browser
@in_module_loop
async def test_the_restricted_user_sees_no_other_queue(browser, server) -> None:
    tab = await logged_in(browser, server, "sup", f"/reports?{THE_DAY}")
    page = tab.page
    await expect(page.locator("#fig-received b")).to_have_text("7", timeout=WAIT)
    options = page.locator("#queues-picker option")
    assert await options.evaluate_all("os => os.map(o => o.value)") == ["support"]
    assert await page.locator("#agents-picker option").evaluate_all(
        "os => os.map(o => o.value)"
    ) == ["Alice", "Bob"]  # Carol works in sales only
    for selector in ("#trend", "#by-queue"):
        assert not HIDDEN.search(json.dumps(await table(page, selector)))
    spec = await chart_spec(page)
    assert spec["labels"] == [DAY]
    assert not HIDDEN.search(await page.locator("body").inner_text())
    assert not HIDDEN.search(await page.content())

    # Every report of the catalogue, from the page's own list of them.
    links = await page.locator(".report-list a").evaluate_all("as => as.map(a => a.pathname)")
    names = [path.rsplit("/", 1)[1] for path in links if path != "/reports"]
    assert len(names) >= 15 and {"distribution_by_queue", "agent_sessions"} <= set(names)
    with_queues = 0
    for name in names:
        response = await tab.goto(f"/reports/{name}?{THE_DAY}")
        assert response.status == 200, name
        await expect(page.locator("main h2")).to_be_visible(timeout=WAIT)
        assert await page.locator("#queues-picker option").evaluate_all(
            "os => os.map(o => o.value)"
        ) == ["support"], name
        heads = [h.strip() for h in await page.locator("#rows thead th").all_inner_texts()]
        for key in ("Queue", "queue"):
            if key in heads:
                assert set(await column(page, "#rows", key)) <= {"support"}, name
                with_queues += 1
        spec = await chart_spec(page)
        if spec is not None:
            assert not HIDDEN.search(json.dumps(spec["labels"])), (name, spec)
        assert not HIDDEN.search(await page.content()), name
    assert with_queues >= 5  # the check above looked at real queue columns

    # The overflow call: the user sees its support part, never what happened in sales.
    await tab.goto(f"/reports/call/{TIMEOUT}?{THE_DAY}")
    assert await page.locator("ol#timeline li .what").all_inner_texts() == [
        "Entered queue support from 5550105 at position 1",
        "Left the queue: no answer within its time limit, after 1:30",
    ]
    # A sales call is not there at all.
    response = await tab.goto(f"/reports/call/{S1}")
    assert response.status == 404
    assert not HIDDEN.search(await page.content())

    # Asking for the foreign queue: a readable refusal, not a 500.
    for path in (f"/reports?{THE_DAY}&queues=sales", f"/reports?{THE_DAY}&queues=support,sales",
                 f"/reports/answered_calls_detail?{THE_DAY}&queues=sales",
                 f"/reports/distribution_by_queue?{THE_DAY}&queues=support&queues=sales"):  # fmt: skip
        response = await tab.goto(path)
        assert response.status == 403, path
        await expect(page.locator("h1")).to_have_text("Not allowed")
        assert "not allowed to see queue 'sales'" in await page.locator(".message").inner_text()
        back = page.get_by_role("link", name="Back to today's reports")
        assert await back.get_attribute("href") == "/reports"
    # Nor do the exports give it.
    api = f"{server.base}/stats/rest/index.php"
    for fmt in ("csv", "xlsx"):
        answer = await page.context.request.get(
            f"{api}?entity=reports/answered_calls_detail&start={DAY}&end={DAY}&queue=sales"
            f"&format={fmt}"
        )
        assert answer.status == 403
        assert (await answer.json())["error"] == "forbidden_queue"
    assert not_found_noise(tab.errors) == []
    await tab.close()


BAD_INPUT = [  # (path, status, title, what the message says)
    (f"/reports?period=custom&start=2024-02-30&end={DAY}", 400, "Check the filters",
     "start is not a valid date"),
    ("/reports?period=custom&start=yesterday", 400, "Check the filters",
     "start must be a date YYYY-MM-DD"),
    (f"/reports?period=custom&start={NEXT_DAY}&end={DAY}", 400, "Check the filters",
     "the end day is before the start day"),
    ("/reports/no_such_report", 404, "Not found", "There is no report named 'no_such_report'"),
    (f"/reports?{THE_DAY}&from=25:00", 400, "Check the filters", "a time of day is HH:MM"),
    (f"/reports/service_level?{THE_DAY}&to=9am", 400, "Check the filters",
     "a time of day is HH:MM"),
    ("/reports?period=fortnight", 400, "Check the filters", "unknown period 'fortnight'"),
    (f"/reports/answered_calls_detail?{THE_DAY}&page=0", 400, "Check the filters",
     "page must be a whole number"),
    ("/reports/call/1712620800.999", 404, "Not found", "no call '1712620800.999'"),
]  # fmt: skip


@pytest.mark.browser
@in_module_loop
async def test_bad_input_is_a_readable_page(browser, server) -> None:
    tab = await logged_in(browser, server, "sup", f"/reports?{THE_DAY}")
    page = tab.page
    for path, status, title, text in BAD_INPUT:
        response = await tab.goto(path)
        assert response.status == status, (path, response.status)
        assert "text/html" in response.headers["content-type"]
        await expect(page.locator("h1")).to_have_text(title)
        message = await page.locator(".message").inner_text()
        assert text in message, (path, message)
        assert "Traceback" not in await page.content()
        await expect(page.get_by_role("link", name="Back to today's reports")).to_be_visible()
    assert not_found_noise(tab.errors) == []
    await tab.close()


@pytest.mark.browser
@in_module_loop
async def test_screenshots_at_1080p_are_not_blank(browser, server) -> None:
    tab = await logged_in(browser, server, "boss", f"/reports?{THE_DAY}")
    page = tab.page
    # The admin sees both queues: the restriction above was not vacuous.
    await expect(page.locator("#fig-received b")).to_have_text("11", timeout=WAIT)
    assert await figures(page) == EVERYTHING
    assert await page.locator("#by-queue tr[data-queue]").evaluate_all(
        "rows => rows.map(r => r.dataset.queue)"
    ) == ["sales", "support"]
    # ... and the overflow call's sales part (entered, answered by Carol after 8 s, 70 s talk).
    await tab.goto(f"/reports/call/{TIMEOUT}")
    assert await page.locator("ol#timeline li").evaluate_all(
        "lis => lis.map(li => li.dataset.event)"
    ) == ["ENTERQUEUE", "EXITWITHTIMEOUT", "ENTERQUEUE", "CONNECT", "COMPLETECALLER"]
    await expect(page.locator('ol#timeline li[data-event="CONNECT"] .what')).to_have_text(
        "Answered by Carol after 8 s waiting")  # fmt: skip

    ARTIFACTS.mkdir(exist_ok=True)
    shots = [("summary", f"/reports?{THE_DAY}", "#trend"),
             ("distribution_by_queue", f"/reports/distribution_by_queue?{THE_DAY}", "#rows"),
             ("agent_sessions", f"/reports/agent_sessions?{THE_DAY}", "#rows")]  # fmt: skip
    for label, path, data_table in shots:
        response = await tab.goto(path)
        assert response.status == 200
        await expect(page.locator(f"{data_table} tbody tr").first).to_be_visible(timeout=WAIT)
        assert await assert_charts_drawn(page) == 1, label
        png = await page.screenshot(path=str(ARTIFACTS / f"reports-{label}.png"))
        stats = await pixel_stats(browser, png)
        assert (stats["width"], stats["height"]) == (1920, 1080), stats
        assert stats["variance"] > 100 and stats["distinct"] > 50, (label, stats)
    assert await column(page, "#rows", "Agent") == ["Alice", "Bob", "Carol"]
    assert tab.errors == []
    await tab.close()
