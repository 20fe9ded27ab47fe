"""The report pages over HTTP: who may open them, what a restricted user sees, the filters in
the query string, and bad input answered with a readable page (never a 500)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.test_reports import DAY1, DAY2, DAY_ONE, DAY_TWO, PASSWORDS, make_client
from wallboard.history.reports import CATALOGUE

PAGES = ["/reports", *(f"/reports/{r.name}" for r in CATALOGUE)]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return make_client(tmp_path_factory.mktemp("pages"), DAY_ONE + DAY_TWO, timezone="UTC")


def get(client: TestClient, path: str, user: str | None = "admin", **params: str):
    auth = (user, PASSWORDS[user]) if user else None
    return client.get(path, params=params, auth=auth, follow_redirects=False)


def message(response) -> str:
    found = re.search(r'<p class="message">(.*?)</p>', response.text)
    return found.group(1) if found else ""


def test_a_visitor_is_sent_to_the_login_form(client: TestClient) -> None:
    response = get(client, "/reports/service_level", None, start=DAY1)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Freports%2Fservice_level")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_shows_the_period(client: TestClient, path: str) -> None:
    response = get(client, path, period="custom", start=DAY1, end=DAY2)
    assert response.status_code == 200, message(response)
    assert f'value="{DAY1}"' in response.text and f'value="{DAY2}"' in response.text
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(("params", "status", "text"), [
    ({"start": "2024-13-01"}, 400, "start is not a valid date"),
    ({"start": "yesterday"}, 400, "start must be a date"),
    ({"start": DAY2, "end": DAY1}, 400, "end day is before the start day"),
    ({"period": "fortnight"}, 400, "unknown period"),
    ({"from": "25:00"}, 400, "a time of day is HH:MM"),
    ({"page": "0"}, 400, "page must be"),
    ({"start": "2000-01-01", "end": "2024-01-01"}, 400, "at most"),
    ({"queues": "nowhere", "start": DAY1}, 200, ""),  # an unknown queue: nothing, not an error
])  # fmt: skip
def test_bad_input_is_a_readable_page(client: TestClient, path: str, params: dict, status: int,
                                      text: str) -> None:  # fmt: skip
    response = get(client, path, **params)
    assert response.status_code == status, (path, params, response.text[:300])
    assert text in message(response).replace("&#39;", "'")
    if status != 200:
        assert 'href="/reports"' in response.text  # the way back


def test_unknown_report_and_call(client: TestClient) -> None:
    response = get(client, "/reports/nope")
    assert response.status_code == 404 and "no report named" in message(response)
    response = get(client, "/reports/call/nope.1")
    assert response.status_code == 404 and "no call" in message(response)


def test_a_restricted_user_sees_only_their_queue(client: TestClient) -> None:
    page = get(client, "/reports", "sup", period="custom", start=DAY1, end=DAY2).text
    picker = re.search(r'<select name="queues".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([^"]+)"', picker) == ["support"]
    assert re.findall(r'<tr data-queue="([^"]+)"', page) == ["support"]
    denied = get(client, "/reports", "sup", queues="sales", start=DAY1)
    assert denied.status_code == 403 and "not allowed to see queue 'sales'" in message(
        denied).replace("&#39;", "'")  # fmt: skip
    detail = get(client, "/reports/answered_calls_detail", "sup", period="custom", start=DAY1,
                 end=DAY2).text  # fmt: skip
    assert ">sales<" not in detail and ">support<" in detail
    # the admin's call of another queue is not this user's to open
    assert get(client, "/reports/call/c1", "sup").status_code == 404
    assert get(client, "/reports/call/c1", "admin").status_code == 200


def test_the_summary_links_to_the_calls_behind_its_figures(client: TestClient) -> None:
    page = get(client, "/reports", period="custom", start=DAY1, end=DAY1).text
    abandoned = re.search(r'id="fig-abandoned" href="([^"]+)"', page).group(1)
    assert abandoned.startswith("/reports/unanswered_calls_detail?period=custom&amp;start=" + DAY1)
    assert re.search(r'href="/reports/answered_calls_detail\?[^"]*queues=support"', page)
    detail = get(client, "/reports/unanswered_calls_detail", period="custom", start=DAY1,
                 end=DAY1).text  # fmt: skip
    call = re.search(r'href="(/reports/call/[^"?]+)', detail).group(1)
    timeline = get(client, call).text
    assert "Entered queue" in timeline


def test_a_display_link_opens_no_report(client: TestClient) -> None:
    token = client.app.state.auth.displays.add("tv", "admin")
    response = client.get("/reports", params={"display": token})
    assert response.status_code == 403 and "need a login" in message(response)


def test_the_period_picker_names_its_days(client: TestClient) -> None:
    client.app.state.clock = lambda: 1709683200.0 + 3600  # 2024-03-06 01:00 UTC, a Wednesday
    try:
        for period, start, end in (("today", "2024-03-06", "2024-03-06"),
                                   ("yesterday", "2024-03-05", "2024-03-05"),
                                   ("this_week", "2024-03-04", "2024-03-06"),
                                   ("last_week", "2024-02-26", "2024-03-03"),
                                   ("last_month", "2024-02-01", "2024-02-29")):  # fmt: skip
            page = get(client, "/reports", period=period).text
            assert f'name="start" value="{start}"' in page and f'name="end" value="{end}"' in page
    finally:
        import time

        client.app.state.clock = time.time


def test_the_chart_library_is_the_registry_s_file_with_its_licence() -> None:
    import hashlib
    from pathlib import Path

    static = Path(__file__).resolve().parent.parent / "static"
    record = (static / "VENDORED.txt").read_text()
    digest = hashlib.sha256((static / "chart.umd.min.js").read_bytes()).hexdigest()
    assert f"file    sha256 {digest}" in record  # as fetched, never edited
    assert "Chart.js v4.6.1" in (static / "chart.umd.min.js").read_text()[:200]
    assert "MIT" in (static / "LICENSE.chart.js.md").read_text()


def test_every_chart_draws_a_report_of_the_catalogue_from_its_own_columns() -> None:
    from wallboard.web.reportviews import CHARTS

    columns = {r.name: r.columns for r in CATALOGUE}
    for name, chart in CHARTS.items():
        assert name in columns, name  # a misspelt report would silently lose its chart
        assert {chart.label, *(column for column, _ in chart.series)} <= set(columns[name]), name
    wanted = {"answered_calls_by_queue", "unanswered_calls_by_queue", "distribution_by_hour",
              "distribution_by_day", "distribution_by_weekday", "distribution_by_month",
              "service_level", "answered_calls_by_holdtime", "agent_sessions"}  # fmt: skip
    assert wanted <= set(CHARTS)


def test_a_report_page_carries_its_chart(client: TestClient) -> None:
    page = get(client, "/reports/distribution_by_weekday", start=DAY1, end=DAY2).text
    assert 'class="chart-canvas"' in page and "data-chart=" in page
