"""The HTTP shell around every route: request ids and unhandled errors, forwarded headers from
trusted proxies, a base path, repeated slashes, and the Prometheus metrics."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from wallboard.app import create_app
from wallboard.auth import UserStore
from wallboard.config import Settings, SettingsError, load_settings
from wallboard.history.store import open_store
from wallboard.web import rest
from wallboard.web.proxy import collapse_slashes, forwarded_client, is_trusted, networks

URL = "/stats/rest/index.php"


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def app_client(tmp_path, client=("127.0.0.1", 50000), **settings) -> TestClient:
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = open_store(str(tmp_path / "w.db"))
    UserStore(store).add("boss", "secret", admin=True)
    app = create_app(Settings(timezone="UTC", **settings), store, services=False)
    return TestClient(app, base_url="http://wall.example", client=client)


# -- no silent errors ---------------------------------------------------------------------------


def test_every_response_carries_a_request_id(tmp_path):
    http = app_client(tmp_path)
    first = http.get("/login")
    second = http.get(URL, params={"entity": "queues"}, headers=basic("boss", "secret"))
    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)


def test_an_unhandled_error_on_the_api_is_logged_once_with_its_id(tmp_path, monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("the database fell over")

    monkeypatch.setitem(rest.ENTITIES, "queues", broken)
    http = app_client(tmp_path)
    with caplog.at_level(logging.ERROR):
        response = http.get(URL, params={"entity": "queues"}, headers=basic("boss", "secret"))
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error" and body["request_id"]
    assert body["request_id"] == response.headers["x-request-id"]
    logged = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "the database fell over" in caplog.text


def test_an_unhandled_error_on_a_page_gives_a_small_page_with_the_id(tmp_path, monkeypatch, caplog):
    from wallboard.web import pages

    def broken(*args, **kwargs):
        raise LookupError("template went missing")

    monkeypatch.setattr(pages.templates, "TemplateResponse", broken)
    http = app_client(tmp_path)
    with caplog.at_level(logging.ERROR):
        response = http.get("/login")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    rid = response.headers["x-request-id"]
    assert rid in response.text and "Something went wrong" in response.text
    records = [r for r in caplog.records if rid in r.getMessage()]
    assert len(records) == 1 and records[0].exc_info[0] is LookupError


def test_a_request_id_from_a_trusted_proxy_is_kept_and_others_are_not(tmp_path):
    trusted = app_client(tmp_path, trusted_proxies=("127.0.0.1",))
    assert trusted.get("/login", headers={"X-Request-ID": "nginx-abc123"}).headers[
        "x-request-id"
    ] == "nginx-abc123"
    untrusted = app_client(tmp_path / "other", client=("10.9.9.9", 1), trusted_proxies=("127.0.0.1",))
    assert untrusted.get("/login", headers={"X-Request-ID": "forged"}).headers[
        "x-request-id"
    ] != "forged"


# -- proxies and prefixes ---------------------------------------------------------------------


def test_forwarded_for_takes_the_nearest_untrusted_hop():
    trusted = networks(["127.0.0.1", "10.0.0.0/8"])
    assert is_trusted("10.1.2.3", trusted) and not is_trusted("192.0.2.1", trusted)
    assert not is_trusted("not-an-ip", trusted) and not is_trusted("10.1.2.3", ())
    assert forwarded_client("203.0.113.7, 10.0.0.2", "127.0.0.1", trusted) == "203.0.113.7"
    assert forwarded_client("6.6.6.6, 203.0.113.7", "127.0.0.1", trusted) == "203.0.113.7"
    assert forwarded_client("10.0.0.5", "127.0.0.1", trusted) == "10.0.0.5"
    assert forwarded_client("", "127.0.0.1", trusted) == "127.0.0.1"
    assert collapse_slashes("//stats//rest/index.php") == "/stats/rest/index.php"


def test_forwarded_headers_count_only_from_trusted_proxies(tmp_path):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "pbx.example.com",
               "X-Forwarded-For": "203.0.113.9", "Origin": "https://pbx.example.com"}  # fmt: skip
    form = {"name": "boss", "password": "secret", "next": "/wallboard"}
    behind = app_client(tmp_path, trusted_proxies=("127.0.0.0/8",))
    ok = behind.post("/login", data=form, headers=headers, follow_redirects=False)
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "secure" in cookie.lower()  # the public scheme is https
    direct = app_client(tmp_path / "direct", client=("192.0.2.50", 1), trusted_proxies=("127.0.0.1",))
    refused = direct.post("/login", data=form, headers=headers, follow_redirects=False)
    assert refused.status_code == 403  # its Host is wall.example: that Origin is foreign


def test_base_path_serves_everything_under_the_prefix(tmp_path):
    http = app_client(tmp_path, base_path="/wallboard")
    root = http.get("/", follow_redirects=False)
    assert root.status_code == 302 and root.headers["location"] == "/wallboard/"
    assert http.get("/login").status_code == 404
    assert http.get("/login").json()["error"] == "not_found"
    page = http.get("/wallboard/login")
    assert page.status_code == 200
    assert 'action="/wallboard/login"' in page.text
    assert 'href="/wallboard/static/wallboard.css' in page.text
    board = http.get("/wallboard/wallboard", follow_redirects=False)
    assert board.headers["location"] == "/wallboard/login?next=%2Fwallboard%2Fwallboard"
    assert http.get("/wallboard/static/wallboard.js").status_code == 200
    api = http.get("/wallboard/stats/rest/index.php", params={"entity": "queues"},
                   headers=basic("boss", "secret"))  # fmt: skip
    assert api.status_code == 200 and api.json()["data"]
    form = {"name": "boss", "password": "secret", "next": "/wallboard/wallboard?view=queues"}
    logged = http.post("/wallboard/login", data=form, follow_redirects=False,
                       headers={"Origin": "http://wall.example"})  # fmt: skip
    assert logged.headers["location"] == "/wallboard/wallboard?view=queues"
    assert "path=/wallboard" in logged.headers["set-cookie"].lower()
    away = http.post("/wallboard/login", data={**form, "next": "/elsewhere"},
                     headers={"Origin": "http://wall.example"}, follow_redirects=False)  # fmt: skip
    assert away.headers["location"] == "/wallboard/wallboard"


def test_repeated_slashes_reach_the_same_routes(tmp_path):
    http = app_client(tmp_path)
    response = http.get("http://wall.example//stats/rest/index.php", params={"entity": "queues"},
                        headers=basic("boss", "secret"))  # fmt: skip
    assert response.status_code == 200 and response.json()["data"]
    assert http.get("http://wall.example//static//wallboard.css").status_code == 200
    assert http.get("http://wall.example//login").status_code == 200
    assert http.get("/static/__init__.py").status_code == 404


@pytest.mark.parametrize(
    ("given", "expected"),
    [("wallboard", "/wallboard"), ("/wallboard/", "/wallboard"), ("//a//b/", "/a/b"), ("/", "")],
)
def test_base_path_setting_is_normalised(given, expected):
    assert load_settings(environ={"WALLBOARD_BASE_PATH": given}).base_path == expected


@pytest.mark.parametrize(
    "env",
    [{"WALLBOARD_BASE_PATH": "/../etc"}, {"WALLBOARD_TRUSTED_PROXIES": "proxy.example"},
     {"WALLBOARD_TLS_CERTFILE": "/x.pem"}, {"WALLBOARD_PUBLIC_URL": "pbx.example"},
     {"WALLBOARD_METRICS_PORT": "8000"}],
)  # fmt: skip
def test_bad_proxy_settings_are_refused(env):
    with pytest.raises(SettingsError):
        load_settings(environ=env)


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_are_off_unless_asked(tmp_path):
    assert app_client(tmp_path).get("/metrics").status_code == 404


def test_metrics_count_rest_requests_per_entity_and_parse(tmp_path):
    http = app_client(tmp_path, metrics=True)
    for _ in range(3):
        http.get(URL, params={"entity": "queues"}, headers=basic("boss", "secret"))
    http.get(URL, params={"entity": "reports/answered_calls_by_queue"},
             headers=basic("boss", "secret"))  # fmt: skip
    http.get(URL, params={"entity": "call/1700000000.42"}, headers=basic("boss", "secret"))
    http.get(URL, params={"entity": "queues"})  # 401
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    requests = {
        (s.labels["entity"], s.labels["status"]): s.value
        for s in families["wallboard_rest_requests"].samples
        if s.name == "wallboard_rest_requests_total"
    }
    assert requests[("queues", "200")] == 3 and requests[("queues", "401")] == 1
    assert requests[("reports/answered_calls_by_queue", "200")] == 1
    assert ("call", "404") in requests  # the call id is not a label value
    seconds = families["wallboard_rest_request_seconds"]
    counts = {s.labels["entity"]: s.value for s in seconds.samples if s.name.endswith("_count")}
    assert counts["queues"] == 4
    db = {s.labels["kind"]: s.value for s in families["wallboard_db_statements"].samples}
    assert db["read"] > 0 and db["write"] > 0
    assert [s.value for s in families["wallboard_ami_up"].samples] == [0.0]


def test_a_report_past_its_time_limit_is_a_503(tmp_path, monkeypatch):
    from wallboard.web import rest

    slow = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000)"
            " SELECT count(*) FROM n")  # fmt: skip

    def forever(store, *args):
        return store.query(slow)

    monkeypatch.setitem(rest.ENTITIES, "queues", forever)
    http = app_client(tmp_path, report_time_limit=0.2)
    response = http.get(URL, params={"entity": "queues"}, headers=basic("boss", "secret"))
    assert response.status_code == 503
    assert response.json()["error"] == "report_timeout"
