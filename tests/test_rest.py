"""The REST entities over HTTP: the original's sample requests, search, call, queues, agents,
realtime, restricted users, bad input and the OpenAPI document kept true by real responses."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import jsonschema_rs
import pytest
from starlette.testclient import TestClient

from wallboard.history.reports import CATALOGUE

from .test_reports import DAY1, DAY_ONE, DAY_TWO, URL, auth, line, make_client

# The original's documented call (Asternic's REST document), on 1 August 2016 (UTC): its three
# queue_log rows come first in the file, so their ids are 1, 2 and 3 as in the sample.
SAMPLE_UID = "1327498260.2637"
T = 1470047471  # 2016-08-01 10:31:11 UTC
SAMPLE = [
    line(T, SAMPLE_UID, "2002", "NONE", "ENTERQUEUE", "www.lala.com", "4787574818", "1"),
    line(T + 10, SAMPLE_UID, "2002", "Travis Spencer", "CONNECT", "10", "1327498271.2638", "7"),
    line(T + 104, SAMPLE_UID, "2002", "Travis Spencer", "COMPLETEAGENT", "10", "94", "1"),
    line(T + 1341, "1327499602.2681", "2002", "NONE", "ENTERQUEUE", "", "2568314606", "1"),
    line(T + 1354, "1327499602.2681", "2002", "Travis Spencer", "CONNECT", "13", "x.1", "2"),
    line(T + 1417, "1327499602.2681", "2002", "Travis Spencer", "COMPLETEAGENT", "13", "63", "1"),
    line(T + 2559, "1327500842.2700", "2000", "NONE", "ENTERQUEUE", "", "5082817600", "1"),
    line(T + 2571, "1327500842.2700", "2000", "Regina Spek", "CONNECT", "12", "x.2", "3"),
    line(T + 2631, "1327500842.2700", "2000", "Regina Spek", "COMPLETECALLER", "12", "60", "1"),
]
ERROR_KEYS = {"error", "message", "status"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return make_client(tmp_path_factory.mktemp("rest"), SAMPLE + DAY_ONE + DAY_TWO, timezone="UTC")


def get(client: TestClient, user: str | None = "admin", **params: object):
    return client.get(URL, params=params, headers=auth(user) if user else {})


def ok(client: TestClient, user: str = "admin", **params: object) -> dict:
    response = get(client, user, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["error"] == code
    return body


# -- the original's sample requests, verbatim ------------------------------------------------------


def test_sample_answered_calls_by_queue(client):
    query = "entity=reports/answered_calls_by_queue&start=2016-08-01&end=2016-08-10"
    response = client.get(f"{URL}?{query}", headers=auth("admin"))
    assert response.status_code == 200
    assert response.json() == {
        "page": "1", "total": "1", "records": "2",
        "rows": [
            {"Queue": "2000", "Received": "1", "% Calls": "33.33"},
            {"Queue": "2002", "Received": "2", "% Calls": "66.67"},
        ],
        "gaps": [],
    }  # fmt: skip


def test_sample_answered_calls_detail(client):
    query = "entity=reports/answered_calls_detail&start=2016-08-01&end=2016-08-10"
    body = client.get(f"{URL}?{query}", headers=auth("admin")).json()
    assert body["records"] == "3"
    assert body["rows"][0] == {
        "datetime": "01-08-2016 10:31:21", "queue": "2002", "agent": "Travis Spencer",
        "callerid": "4787574818", "event": "COMPLETEAGENT", "waitTime": "10", "ringTime": "7",
        "callTime": "94", "agentName": "Travis Spencer", "queueName": "2002", "recording": "",
        "uniqueid": SAMPLE_UID, "callflow": f"/stats/rest/index.php?entity=call/{SAMPLE_UID}",
        "url": "www.lala.com", "did": "",
    }  # fmt: skip


def test_sample_call(client):
    response = client.get(f"{URL}?entity=call/{SAMPLE_UID}", headers=auth("admin"))
    body = response.json()
    assert {k: body[k] for k in ("totalpages", "currpage", "totalrecords")} == {
        "totalpages": "1", "currpage": "1", "totalrecords": "3",
    }  # fmt: skip
    common = {
        "uniqueid": SAMPLE_UID,
        "queue": "2002",
        "queueName": "2002",
        "info4": "",
        "info5": "",
    }
    assert body["data"] == [
        {"id": "1", "datetime": "2016-08-01 10:31:11", "agent": "NONE", "event": "ENTERQUEUE",
         "info1": "www.lala.com", "info2": "4787574818", "info3": "1", "agentName": "NONE",
         **common},
        {"id": "2", "datetime": "2016-08-01 10:31:21", "agent": "Travis Spencer",
         "event": "CONNECT", "info1": "10", "info2": "1327498271.2638", "info3": "7",
         "agentName": "Travis Spencer", **common},
        {"id": "3", "datetime": "2016-08-01 10:32:55", "agent": "Travis Spencer",
         "event": "COMPLETEAGENT", "info1": "10", "info2": "94", "info3": "1",
         "agentName": "Travis Spencer", **common},
    ]  # fmt: skip


def test_sample_search(client):
    query = "entity=search&start=2016-08-01&end=2016-08-02&agent=Travis%20Spencer"
    body = client.get(f"{URL}?{query}", headers=auth("admin")).json()
    assert (body["page"], body["total"], body["records"]) == ("1", "1", "2")
    assert body["rows"][0] == {
        "firstEvent": "ENTERQUEUE", "overflow": "1", "uniqueid": SAMPLE_UID,
        "callerid": "4787574818", "dateStart": "2016-08-01 10:31:11",
        "dateEnd": "2016-08-01 10:32:55", "event": "COMPLETEAGENT", "agent": "Travis Spencer",
        "queue": "2002", "waitTime": "10", "talkTime": "94", "combinedWaitTime": "10",
        "totalDuration": "104", "recordingFilename": "", "agent_name": "Travis Spencer",
        "queue_name": "2002", "callflow": f"/stats/rest/index.php?entity=call/{SAMPLE_UID}",
        # Keys real client scripts read beside the documented ones (reports.md).
        "clid": "4787574818", "did": "", "datetime": "2016-08-01 10:31:11",
        "queuename": "2002", "queuereal": "2002",
    }  # fmt: skip
    assert body["rows"][1]["uniqueid"] == "1327499602.2681"


def test_both_mount_points(client):
    query = "entity=reports/answered_calls_by_queue&start=2016-08-01&end=2016-08-10"
    a = client.get(f"{URL}?{query}", headers=auth("admin")).json()
    b = client.get(f"/rest/index.php?{query}", headers=auth("admin")).json()
    assert a == b


# -- search ----------------------------------------------------------------------------------------


def search(client: TestClient, user: str = "admin", **params: object) -> dict:
    params.setdefault("start", DAY1)
    params.setdefault("end", DAY1)
    return ok(client, user, entity="search", **params)


def test_search_one_row_per_call_with_overflow(client):
    body = search(client)
    assert body["records"] == "7"
    assert [r["uniqueid"] for r in body["rows"]] == ["c1", "c2", "c3", "c4", "c5", "c6", "c8"]
    c4 = body["rows"][3]
    # support 10:00:00 (timeout after 100 s) then sales 10:01:40 → 10:03:50 (10 s wait, 120 talk)
    assert {k: c4[k] for k in ("overflow", "dateStart", "dateEnd", "event", "agent", "queue",
                               "waitTime", "talkTime", "combinedWaitTime", "totalDuration")} == {
        "overflow": "2", "dateStart": "2024-03-05 10:00:00", "dateEnd": "2024-03-05 10:03:50",
        "event": "BLINDTRANSFER", "agent": "Alice", "queue": "sales", "waitTime": "10",
        "talkTime": "120", "combinedWaitTime": "110", "totalDuration": "230",
    }  # fmt: skip
    c3 = body["rows"][2]
    assert (c3["event"], c3["agent"], c3["waitTime"]) == ("ABANDON", "NONE", "40")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"agent": "Alice"}, ["c1", "c4", "c8"]),
        ({"queue": "support"}, ["c4", "c5", "c6"]),
        ({"waittime": "20,60"}, ["c2", "c3"]),
        ({"waittime": ",10"}, ["c1", "c4", "c6"]),
        ({"talktime": "100,200"}, ["c1", "c4", "c8"]),
        ({"clid": "5550005"}, ["c5"]),
        ({"url": "crm"}, ["c1"]),
        ({"did": "5551000"}, ["c1"]),
        ({"uniqueid": "c6"}, ["c6"]),
        ({"tag": "Sale"}, []),
        ({"clid": "%"}, []),
        ({"end": "2024-03-06", "agent": "Bob"}, ["c2", "c5", "c9"]),
    ],
)
def test_search_filters(client, params, expected):
    assert [r["uniqueid"] for r in search(client, **params)["rows"]] == expected


def test_search_paging(client):
    body = search(client, rows=2, page=4)
    assert (body["page"], body["total"], body["records"]) == ("4", "4", "7")
    assert [r["uniqueid"] for r in body["rows"]] == ["c8"]


# -- queues, agents, call --------------------------------------------------------------------------


def test_queues_and_agents(client):
    queues = ok(client, entity="queues")["data"]
    names = [q["queue"] for q in queues]
    assert names == sorted(names)
    assert {"2000", "2002", "sales", "support", "ALL", "NONE"} == set(names)
    assert next(q for q in queues if q["queue"] == "ALL") == {
        "queue_id": "-1", "queue": "ALL", "queue_name": "ALL", "pbx": "",
    }  # fmt: skip
    sales = next(q for q in queues if q["queue"] == "sales")
    assert ok(client, entity=f"queues/{sales['queue_id']}") == {"data": [sales]}
    agents = ok(client, entity="agents")["data"]
    assert [a["agent"] for a in agents] == [
        "ALL", "Alice", "Bob", "Carol", "Regina Spek", "Travis Spencer",
    ]  # fmt: skip
    assert all(set(a) == {"agent_id", "agent", "agent_name", "aliases", "pbx"} for a in agents)
    bob = next(a for a in agents if a["agent"] == "Bob")
    assert ok(client, entity=f"agents/{bob['agent_id']}") == {"data": [bob]}
    error(get(client, entity="queues/999"), 404, "queue_not_found")
    error(get(client, entity="agents/999"), 404, "agent_not_found")


def test_call_overflow_and_unknown(client):
    body = ok(client, entity="call/c4")
    assert [(r["queue"], r["event"]) for r in body["data"]] == [
        ("support", "ENTERQUEUE"), ("support", "EXITWITHTIMEOUT"), ("sales", "ENTERQUEUE"),
        ("sales", "CONNECT"), ("sales", "BLINDTRANSFER"),
    ]  # fmt: skip
    assert body["data"][4]["info1"] == "2000" and body["data"][4]["info5"] == "1"
    paged = ok(client, entity="call/c4", rows=2, page=3)
    assert (paged["totalpages"], paged["currpage"], paged["totalrecords"]) == ("3", "3", "5")
    assert len(paged["data"]) == 1
    error(get(client, entity="call/nosuchcall"), 404, "call_not_found")
    error(get(client, entity="call/NONE"), 404, "call_not_found")  # pause rows are not a call


# -- realtime --------------------------------------------------------------------------------------


def test_realtime_unavailable_without_live_state(client):
    error(get(client, entity="realtime"), 503, "live_unavailable")


def test_realtime_with_live_state(client):
    snapshot = {"queues": {
        "sales": {"members": {}, "callers": {"u1": {"callerid_num": "555", "callerid_name": "Ann",
                                                    "since": 0, "position": 1}},
                  "counters": {"received": 4, "answered": 3}},
        "support": {"members": {}, "callers": {}, "counters": {}},
    }}  # fmt: skip
    app = client.app
    app.state.live = SimpleNamespace(state=SimpleNamespace(snapshot=lambda: snapshot))
    try:
        everything = ok(client, entity="realtime")
        assert set(everything) == {"waiting calls", "summary", "agents", "pbxs", "alerts"}
        assert set(everything["summary"]["queue"]) == {"sales", "support"}
        assert everything["waiting calls"]["sales"]["1"]["calleridNum"] == "555"
        assert everything["summary"]["queue"]["sales"]["Received"] == "4"
        assert set(ok(client, entity="realtime", queues="sales")["summary"]["queue"]) == {"sales"}
        restricted = ok(client, "sup", entity="realtime")
        assert set(restricted["summary"]["queue"]) == {"support"}
        assert "sales" not in json.dumps(restricted)
        error(get(client, "sup", entity="realtime", queues="sales"), 403, "forbidden_queue")
    finally:
        del app.state.live


# -- a restricted user sees nothing of other queues or agents --------------------------------------


def test_queue_restricted_user_reports(client):
    def rows(name: str, **params: object) -> list[dict]:
        body = ok(client, "sup", entity=f"reports/{name}", start=DAY1, end=DAY1, **params)
        assert "sales" not in json.dumps(body), name
        return body["rows"]

    assert rows("answered_calls_by_queue") == [
        {"Queue": "support", "Received": "1", "% Calls": "100.00"}
    ]
    detail = ok(client, "sup", entity="reports/answered_calls_detail", start=DAY1, end=DAY1, rows=1)
    assert (detail["total"], detail["records"]) == ("1", "1")
    assert [r["uniqueid"] for r in rows("unanswered_calls_detail")] == ["c4", "c6"]
    assert [r["Queue"] for r in rows("service_level")] == ["support"]
    assert rows("transfers") == [] and rows("agent_pauses") == []
    hours = rows("distribution_by_hour")
    assert sum(int(r["Received"]) for r in hours) == 3  # c4 (support stay), c5, c6
    # Alice's support session 08:00-12:00 only; her pause and calls were in sales.
    assert rows("agent_sessions") == [
        {"Agent": "Alice", "Logged In (s)": "14400", "Paused (s)": "0", "Pauses": "0",
         "Calls": "0", "Talk Time (s)": "0", "Occupancy %": "0.00", "Membership": "dynamic"},
        {"Agent": "Bob", "Logged In (s)": "0", "Paused (s)": "0", "Pauses": "0", "Calls": "1",
         "Talk Time (s)": "300", "Occupancy %": "0.00", "Membership": "dynamic"},
    ]  # fmt: skip
    assert rows("answered_calls_by_queue", queue="ALL") == rows("answered_calls_by_queue")
    queues = ok(client, "admin", entity="queues")["data"]
    sales_id = next(q["queue_id"] for q in queues if q["queue"] == "sales")
    for forbidden in ("sales", sales_id, "support,sales", "2000"):
        response = get(client, "sup", entity="reports/answered_calls_by_queue", queue=forbidden)
        error(response, 403, "forbidden_queue")
    error(get(client, "sup", entity="search", queue="sales"), 403, "forbidden_queue")


def test_queue_restricted_user_entities(client):
    found = search(client, "sup")
    assert found["records"] == "3"
    assert [r["uniqueid"] for r in found["rows"]] == ["c4", "c5", "c6"]
    c4 = found["rows"][0]
    assert (c4["overflow"], c4["event"], c4["queue"], c4["agent"]) == (
        "1", "EXITWITHTIMEOUT", "support", "NONE",
    )  # fmt: skip
    assert "sales" not in json.dumps(found) and "BLINDTRANSFER" not in json.dumps(found)
    assert search(client, "sup", uniqueid="c1")["records"] == "0"
    error(get(client, "sup", entity="call/c1"), 404, "call_not_found")
    call = ok(client, "sup", entity="call/c4")
    assert [(r["queue"], r["event"]) for r in call["data"]] == [
        ("support", "ENTERQUEUE"), ("support", "EXITWITHTIMEOUT"),
    ]  # fmt: skip
    assert call["totalrecords"] == "2"
    queues = ok(client, "sup", entity="queues")["data"]
    assert [q["queue"] for q in queues] == ["ALL", "support"]
    admin_queues = ok(client, "admin", entity="queues")["data"]
    sales_id = next(q["queue_id"] for q in admin_queues if q["queue"] == "sales")
    error(get(client, "sup", entity=f"queues/{sales_id}"), 404, "queue_not_found")
    agents = ok(client, "sup", entity="agents")["data"]
    assert [a["agent"] for a in agents] == ["ALL", "Alice", "Bob"]  # not Carol (sales only)
    admin_agents = ok(client, "admin", entity="agents")["data"]
    carol_id = next(a["agent_id"] for a in admin_agents if a["agent"] == "Carol")
    error(get(client, "sup", entity=f"agents/{carol_id}"), 404, "agent_not_found")


def test_agent_restricted_user(client):
    def rows(name: str, **params: object) -> list[dict]:
        return ok(client, "alice", entity=f"reports/{name}", start=DAY1, end=DAY1, **params)["rows"]

    assert [r["Agent"] for r in rows("answered_calls_by_agent")] == ["Alice"]
    assert [r["uniqueid"] for r in rows("answered_calls_detail")] == ["c1", "c4", "c8"]
    assert rows("unanswered_calls_detail") == []
    assert [r["Agent"] for r in rows("agent_sessions")] == ["Alice"]
    assert {r["Agent"] for r in rows("agent_pauses")} == {"Alice"}
    found = search(client, "alice")
    assert [r["uniqueid"] for r in found["rows"]] == ["c1", "c4", "c8"]
    assert found["rows"][1]["overflow"] == "1"  # the support stay had no agent
    assert "Bob" not in json.dumps(found)
    error(get(client, "alice", entity="call/c2"), 404, "call_not_found")
    assert {r["agent"] for r in ok(client, "alice", entity="call/c1")["data"]} == {"NONE", "Alice"}
    assert [a["agent"] for a in ok(client, "alice", entity="agents")["data"]] == ["ALL", "Alice"]
    error(get(client, "alice", entity="reports/answered_calls_by_agent", agent="Bob"), 403,
          "forbidden_agent")  # fmt: skip


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start": "2024-13-01"}, "invalid_date"),
        ({"start": "2024-02-30"}, "invalid_date"),
        ({"start": "yesterday"}, "invalid_date"),
        ({"start": "2024-1-1"}, "invalid_date"),
        ({"end": "0000-01-01"}, "invalid_date"),
        ({"start": "2024-03-06", "end": "2024-03-05"}, "invalid_range"),
        ({"start": "2000-01-01", "end": "2024-01-01"}, "range_too_large"),
        ({"start": "2014-01-01", "end": "2024-01-09"}, "range_too_large"),  # 3661 days
        ({"page": "-1"}, "invalid_paging"),
        ({"page": "0"}, "invalid_paging"),
        ({"page": "abc"}, "invalid_paging"),
        ({"page": "1.5"}, "invalid_paging"),
        ({"page": "99999999999999999999999"}, "invalid_paging"),
        ({"rows": "0"}, "invalid_paging"),
        ({"rows": "10001"}, "invalid_paging"),
        ({"rows": "-5"}, "invalid_paging"),
        ({"secondsstart": "2016551"}, "invalid_seconds"),
        ({"secondstart": "abc"}, "invalid_seconds"),
        ({"secondsend": "-1"}, "invalid_seconds"),
    ],
)
def test_bad_parameters_are_400(client, params, code):
    error(get(client, entity="reports/answered_calls_detail", **params), 400, code)


def test_bad_search_parameters_and_entities(client):
    for value in ("abc", "5", "9,3", "1,2,3", "-1,4"):
        error(get(client, entity="search", waittime=value), 400, "invalid_parameter")
    error(get(client, entity="search", talktime="x,"), 400, "invalid_parameter")
    error(get(client, entity="nosuch"), 404, "unknown_entity")
    error(get(client, entity="reports/nosuch"), 404, "unknown_report")
    error(get(client), 400, "missing_entity")
    error(get(client, entity="call/"), 404)
    body = ok(client, entity="reports/answered_calls_detail", start="2014-01-01", end="2024-01-08")
    assert body["records"] == "3"  # the 2016 calls; 3660 days is the limit, inclusive


def test_overlong_query_is_414(client):
    response = client.get(f"{URL}?entity=reports&pad={'a' * 9000}", headers=auth("admin"))
    error(response, 414, "uri_too_long")


def test_authentication_errors(client):
    response = get(client, None, entity="reports")
    error(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("basic")
    bad = base64.b64encode(b"admin:wrong").decode()
    error(
        client.get(URL, params={"entity": "reports"}, headers={"Authorization": f"Basic {bad}"}),
        401,
    )


INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE queue_calls; --",
    "sales') OR 1=1 --",
    '" OR ""="',
    "%' UNION SELECT name, password_hash FROM users --",
    "\\'; SELECT 1; --",
    "0x27",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_injection_in_every_parameter(client, value):
    names = ("start", "end", "secondsstart", "secondsend", "queue", "agent", "page", "rows",
             "uniqueid", "clid", "url", "did", "tag", "waittime", "talktime")  # fmt: skip
    for entity in ("reports/answered_calls_detail", "reports/agent_sessions", "search"):
        filters = {"queue", "agent"}
        if entity == "search":
            filters |= {"uniqueid", "clid", "url", "did", "tag"}
        for name in names:
            params = {"start": "2016-08-01", "end": "2024-03-06", name: value}
            response = get(client, entity=entity, **params)
            assert response.status_code in (200, 400), (entity, name, response.text)
            body = response.json()
            if response.status_code == 400:
                assert set(body) == ERROR_KEYS
            elif name in filters:
                assert body["records"] == "0", (entity, name)
    for entity in (
        f"reports/{value}",
        f"call/{value}",
        f"queues/{value}",
        f"agents/{value}",
        value,
    ):
        assert get(client, entity=entity).status_code == 404
    # Nothing was changed or leaked: the tables are whole and no hash ever came back.
    assert (
        ok(client, entity="reports/answered_calls_detail", start=DAY1, end=DAY1)["records"] == "5"
    )
    assert "argon2" not in get(client, entity="search", clid=value).text


# -- the OpenAPI document is true of real responses ------------------------------------------------


def test_openapi_document_matches_responses(client):
    doc = client.get("/stats/rest/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    operation = doc["paths"]["/stats/rest/index.php"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert {"entity", "start", "end", "secondsstart", "secondstart", "secondsend", "queue", "agent",
            "page", "rows", "uniqueid", "clid", "url", "did", "tag", "waittime",
            "talktime"} <= set(params)  # fmt: skip
    assert doc["components"]["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}

    def validator(status: str):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        return jsonschema_rs.validator_for({"components": doc["components"], "anyOf": [schema]})

    good = validator("200")
    entities = ["reports", "queues", "agents", "queues/-1", "call/c4", "search"]
    entities += [f"reports/{report.name}" for report in CATALOGUE]
    for entity in entities:
        body = ok(client, entity=entity, start=DAY1, end=DAY1)
        good.validate(body)
        if entity.startswith("reports/") and body["rows"]:
            name = entity.split("/", 1)[1]
            columns = doc["components"]["schemas"][f"row_{name}"]["required"]
            assert all(list(row) == columns for row in body["rows"]), name
    search_columns = doc["components"]["schemas"]["SearchRow"]["required"]
    assert list(search(client)["rows"][0]) == search_columns
    for status, response in (
        ("400", get(client, entity="search", start="bad")),
        ("401", get(client, None, entity="reports")),
        ("403", get(client, "sup", entity="search", queue="sales")),
        ("404", get(client, entity="nosuch")),
        ("414", client.get(f"{URL}?entity=reports&pad={'a' * 9000}", headers=auth("admin"))),
        ("503", get(client, entity="realtime")),
    ):
        assert str(response.status_code) == status
        validator(status).validate(response.json())


def test_wrong_method_on_the_api_is_a_json_error(tmp_path) -> None:
    from starlette.testclient import TestClient

    from wallboard.app import create_app
    from wallboard.config import load_settings
    from wallboard.history.store import open_store

    settings = load_settings(environ={}, overrides={"db": str(tmp_path / "w.db"), "timezone": "UTC"})
    client = TestClient(create_app(settings, open_store(settings.db), services=False))
    response = client.post("/stats/rest/index.php?entity=reports")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response.json()["status"] == 405
    assert client.get("/stats/rest/nothing-here").json()["error"] == "not_found"


def test_the_api_document_lists_every_key_as_the_code_describes_it():
    """docs/rest-api.md's key tables are generated from wallboard/web/apifields.py, as the
    OpenAPI schemas are: every key answered is described, aliases say what they repeat."""
    from pathlib import Path

    from wallboard.web import apifields

    text = (Path(__file__).resolve().parent.parent / "docs" / "rest-api.md").read_text()
    section = text.split("<!-- keys:begin -->\n", 1)[1].split("<!-- keys:end -->", 1)[0]
    assert section == apifields.markdown(), "run: python -m wallboard.web.apifields"
    aliases = [f for _, fields in apifields.objects() for f in fields if f.alias_of]
    assert {f.name for f in aliases} >= {"clid", "queuename", "paused", "answeredCals", "talking"}
    for _, fields in apifields.objects():
        names = [f.name for f in fields]
        assert len(names) == len(set(names))
        assert all(f.alias_of in names for f in fields if f.alias_of)
