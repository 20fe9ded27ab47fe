"""Asternic compatibility as client scripts see it: each entity read the way real clients of the
original read it (key paths, value formats), on a hand-written day whose figures are worked out
by hand below, with a live state holding one member in each device state. A PHP client run with
php-cli, as the original's demos are, reads the realtime view through a `//` URL.

The day, 2026-03-10 (UTC), threshold 20 s; "now" is 10:00:00:
  c1 2000 09:00:00 DID 5551000, Alice answers after 10 s, talks 120 s     (within SL)
  c2 2000 09:05:00 abandons after 30 s
  c3 2000 09:10:00 Bob answers after 40 s, talks 120 s
  c4 2000 09:20:00 times out after 60 s, overflows into 2001 at 09:21:00,
       where Carol answers after 20 s and talks 240 s                     (within SL: 20 <= 20)
  c5 2001 09:30:00 Carol answers after 5 s, still talking at 10:00
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from tests.browser_support import Served
from wallboard.app import create_app
from wallboard.auth import UserStore
from wallboard.config import Settings
from wallboard.history.ingest import import_files
from wallboard.history.store import open_store
from wallboard.live.events import parse_event
from wallboard.live.state import CallCenterState

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DAY = "2026-03-10"
MIDNIGHT = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp())
NOW = MIDNIGHT + 10 * 3600
URL = "/stats/rest/index.php"
PHP_CLIENT = Path(__file__).parent / "fixtures" / "asternic_realtime_client.php"


def at(h: int, m: int = 0, s: int = 0) -> int:
    return MIDNIGHT + h * 3600 + m * 60 + s


def line(when: int, callid: str, queue: str, agent: str, event: str, *data: str) -> str:
    return f"{when}|{callid}|{queue}|{agent}|{event}|{'|'.join(data)}\n"


QUEUE_LOG = [
    line(at(8, 59, 50), "c1", "2000", "NONE", "DID", "5551000"),
    line(at(9), "c1", "2000", "NONE", "ENTERQUEUE", "http://crm/1", "5550001", "1"),
    line(at(9, 0, 10), "c1", "2000", "Alice", "CONNECT", "10", "m1", "5"),
    line(at(9, 2, 10), "c1", "2000", "Alice", "COMPLETECALLER", "10", "120", "1"),
    line(at(9, 5), "c2", "2000", "NONE", "ENTERQUEUE", "", "5550002", "1"),
    line(at(9, 5, 30), "c2", "2000", "NONE", "ABANDON", "1", "1", "30"),
    line(at(9, 10), "c3", "2000", "NONE", "ENTERQUEUE", "", "5550003", "1"),
    line(at(9, 10, 40), "c3", "2000", "Bob", "CONNECT", "40", "m3", "8"),
    line(at(9, 12, 40), "c3", "2000", "Bob", "COMPLETEAGENT", "40", "120", "1"),
    line(at(9, 20), "c4", "2000", "NONE", "ENTERQUEUE", "", "5550004", "1"),
    line(at(9, 21), "c4", "2000", "NONE", "EXITWITHTIMEOUT", "1", "1", "60"),
    line(at(9, 21), "c4", "2001", "NONE", "ENTERQUEUE", "", "5550004", "1"),
    line(at(9, 21, 20), "c4", "2001", "Carol", "CONNECT", "20", "m4", "4"),
    line(at(9, 25, 20), "c4", "2001", "Carol", "COMPLETECALLER", "20", "240", "1"),
    line(at(9, 30), "c5", "2001", "NONE", "ENTERQUEUE", "", "5559999", "1"),
    line(at(9, 30, 5), "c5", "2001", "Carol", "CONNECT", "5", "m5", "3"),
]

# (interface, name, device status, paused reason or None, last pause) in queue 2000, and what
# the original's `status` word is for each.
MEMBERS_2000 = [
    ("PJSIP/2001", "Alice", 1, None, 0, "not in use"),
    ("PJSIP/2002", "Bob", 2, None, 0, "dialout"),  # in use, but no call from these queues
    ("PJSIP/2003", "Carol", 2, None, 0, "busy"),  # on c5, a call from queue 2001
    ("PJSIP/2004", "Dave", 6, None, 0, "ringing"),
    ("PJSIP/2005", "Erin", 5, None, 0, "unavailable"),
    ("PJSIP/2006", "Frank", 4, None, 0, "invalid"),
    ("PJSIP/2007", "Grace", 8, None, 0, "on hold"),
    ("PJSIP/2008", "Heidi", 1, "Lunch", NOW - 300, "not in use"),  # paused, device free
    ("PJSIP/2009", "Ivan", 7, None, 0, "ringing"),  # RINGINUSE
    ("PJSIP/2010", "Judy", 3, "Meeting", NOW - 60, "dialout"),  # paused on a call of her own
    ("PJSIP/2011", "Ken", 0, None, 0, "not in use"),  # UNKNOWN counts as free in app_queue
]


def queue_status() -> list[dict[str, str]]:
    """The QueueStatus list as Asterisk 22 sends it (old Name/Location field names)."""
    messages = [
        {"Event": "QueueParams", "Queue": q, "Max": "0", "Strategy": "ringall", "Calls": "0",
         "Holdtime": "0", "TalkTime": "0", "Completed": "0", "Abandoned": "0",
         "ServiceLevel": "20", "ServicelevelPerf": "0.0", "Weight": "0"}
        for q in ("2000", "2001")
    ]  # fmt: skip
    for interface, name, status, reason, last_pause, _ in MEMBERS_2000:
        messages.append({
            "Event": "QueueMember", "Queue": "2000", "Name": name, "Location": interface,
            "StateInterface": interface, "Membership": "dynamic", "Penalty": "0",
            "CallsTaken": "3", "LastCall": str(at(9, 2, 10)), "LastPause": str(last_pause),
            "LoginTime": str(at(8)), "InCall": "0", "Status": str(status),
            "Paused": "1" if reason else "0", "PausedReason": reason or "",
        })  # fmt: skip
    messages.append({
        "Event": "QueueMember", "Queue": "2001", "Name": "Carol", "Location": "PJSIP/2003",
        "StateInterface": "PJSIP/2003", "Membership": "dynamic", "Penalty": "2",
        "CallsTaken": "1", "LastCall": str(at(9, 25, 20)), "LastPause": "0",
        "LoginTime": str(at(8)), "InCall": "1", "Status": "2", "Paused": "0", "PausedReason": "",
    })  # fmt: skip
    return messages


def live_state(store) -> CallCenterState:
    """The live side as the AMI listener builds it: QueueStatus at 09:50, Carol's connect, and
    today's counters seeded from the store."""
    state = CallCenterState("UTC", lambda queue: 20)
    state.reset([parse_event(m) for m in queue_status()], NOW - 600)
    state.apply(parse_event({
        "Event": "AgentConnect", "Queue": "2001", "Interface": "PJSIP/2003",
        "MemberName": "Carol", "Uniqueid": "c5", "CallerIDNum": "5559999",
        "CallerIDName": "Ninth Caller", "HoldTime": "5", "RingTime": "3",
    }), NOW - 600)  # fmt: skip
    state.seed(store.calls_between(MIDNIGHT, MIDNIGHT + 86400), NOW)
    return state


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("compat")
    log = directory / "queue_log"
    log.write_text("".join(QUEUE_LOG))
    store = open_store(str(directory / "w.db"))
    import_files(store, [log])
    users = UserStore(store)
    users.add("admin", "pw-admin", admin=True)
    users.add("sales", "pw-sales", queues=["2000"])
    app = create_app(Settings(timezone="UTC", service_level=20), store, services=False)
    app.state.clock = lambda: NOW
    app.state.live = SimpleNamespace(state=live_state(store))
    return app


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw-{user}".encode()).decode()}


def get(app, entity: str, user: str = "admin", **params: str) -> dict:
    response = TestClient(app).get(URL, params={"entity": entity, **params}, headers=basic(user))
    assert response.status_code == 200, response.text
    return response.json()


# -- realtime ---------------------------------------------------------------------------------


def test_realtime_agents_as_the_php_wallboard_reads_them(site) -> None:
    agents = get(site, "realtime")["agents"]
    seen = {name: row for name, row in agents["2000"].items()}
    for interface, name, _, reason, last_pause, status in MEMBERS_2000:
        row = seen[name]
        assert row["status"] == status, name
        assert row["paused"] == ("1" if reason else "0"), name
        assert row["location"] == interface
        assert row["lastCall"] == str(at(9, 2, 10))
        assert row["penalty"] == "0"
        assert row["auxType"] == (reason or "")
        assert row["auxSeconds"] == (str(NOW - last_pause) if reason else "0")
        # Today's capitalised keys are still there, unchanged.
        assert row["Paused"] == row["paused"] and row["Reason"] == (reason or "")
    assert seen["Alice"]["duration"] == "600" == seen["Alice"]["Duration"]  # since 09:50
    assert seen["Heidi"]["duration"] == "300"  # paused at 09:55
    carol = seen["Carol"]
    assert (carol["callFromQueue"], carol["callerid"]) == ("2001", "5559999")
    assert carol["Status"] == "busy" and carol["CallerID"] == ""  # 2000's own keys: not its call
    assert all(seen[n]["callFromQueue"] == "" and seen[n]["callerid"] == ""
               for n in seen if n != "Carol")  # fmt: skip
    in_2001 = agents["2001"]["Carol"]
    assert (in_2001["status"], in_2001["callFromQueue"], in_2001["penalty"]) == ("busy", "2001", "2")
    assert in_2001["CallerID"] == "5559999"
    produced = {row["status"] for queue in agents.values() for row in queue.values()}
    assert produced == {"not in use", "busy", "ringing", "dialout", "unavailable", "invalid",
                        "on hold"}  # fmt: skip


def test_realtime_hides_the_queue_and_caller_of_a_call_the_user_may_not_see(site) -> None:
    carol = get(site, "realtime", user="sales")["agents"]["2000"]["Carol"]
    assert carol["status"] == "busy"  # a fact about the agent, in a queue the user sees
    assert carol["callFromQueue"] == "" and carol["callerid"] == ""


def test_realtime_summary_with_the_first_api_version_names(site) -> None:
    summary = get(site, "realtime")["summary"]["queue"]
    sales = summary["2000"]
    assert {k: sales[k] for k in ("Received", "Answered", "Unanswered", "Abandoned",
                                  "Abandon Rate", "Avg Wait", "Avg Duration", "Service Level",
                                  "Max. wait time", "Waiting")} == {
        "Received": "4", "Answered": "2", "Unanswered": "2", "Abandoned": "1",
        "Abandon Rate": "25.00", "Avg Wait": "25", "Avg Duration": "120",
        "Service Level": "50.00", "Max. wait time": "60", "Waiting": "0",
    }  # fmt: skip
    # 11 members: Erin and Frank logged off; Bob, Carol, Grace, Judy busy; Heidi, Judy paused.
    assert {k: sales[k] for k in ("maxWaitTime", "staffed", "talking", "auxiliary",
                                  "answeredCals", "unansweredCalls", "abandonRate",
                                  "averageWaitTime", "averageCallTime", "callsWaiting")} == {
        "maxWaitTime": "0", "staffed": "9", "talking": sales["Busy"], "auxiliary": "2",
        "answeredCals": "2", "unansweredCalls": "2", "abandonRate": "25.00",
        "averageWaitTime": "25", "averageCallTime": "00:02:00", "callsWaiting": "0",
    }  # fmt: skip
    support = summary["2001"]
    assert (support["Answered"], support["Avg Wait"], support["Service Level"]) == (
        "2", "13", "100.00")  # (20 + 5) / 2 rounds up; both within 20 s
    assert support["averageCallTime"] == "00:04:00"  # c4's 240 s; c5 is still talking


# -- reports and search -----------------------------------------------------------------------


def test_unanswered_detail_carries_queue_and_agent_names(site) -> None:
    rows = get(site, "reports/unanswered_calls_detail", start=DAY, end=DAY)["rows"]
    found = [(r["datetime"][:10], r["datetime"][-8:], r["queueName"], r["agentName"], r["event"],
              r["waitTime"]) for r in rows]  # fmt: skip
    assert found == [
        ("10-03-2026", "09:05:30", "2000", "", "ABANDON", "30"),
        ("10-03-2026", "09:21:00", "2000", "", "EXITWITHTIMEOUT", "60"),
    ]


def test_search_rows_as_the_copying_scripts_index_them(site) -> None:
    rows = get(site, "search", start=DAY, end=DAY)["rows"]
    found = [(r["uniqueid"], r["clid"], r["did"], r["datetime"], r["queuereal"], r["queuename"],
              r["queue_name"]) for r in rows]  # fmt: skip
    assert found == [
        ("c1", "5550001", "5551000", "2026-03-10 09:00:00", "2000", "2000", "2000"),
        ("c2", "5550002", "", "2026-03-10 09:05:00", "2000", "2000", "2000"),
        ("c3", "5550003", "", "2026-03-10 09:10:00", "2000", "2000", "2000"),
        ("c4", "5550004", "", "2026-03-10 09:20:00", "2001", "2001", "2001"),
        ("c5", "5559999", "", "2026-03-10 09:30:00", "2001", "2001", "2001"),
    ]
    assert rows[3]["overflow"] == "2" and rows[0]["clid"] == rows[0]["callerid"]
    assert all(r["datetime"] == r["dateStart"] for r in rows)


def test_distribution_by_queue_is_a_report_of_the_catalogue(site) -> None:
    names = [r["report"] for r in get(site, "reports")["data"]]
    assert "distribution_by_queue" in names
    rows = get(site, "reports/distribution_by_queue", start=DAY, end=DAY)["rows"]
    assert rows == [
        {"Queue": "2000", "Received": "4", "Answered": "2", "% Answered": "50.00",
         "Unanswered": "2", "% Unanswered": "100.00", "Abandoned": "1", "Avg Wait": "25",
         "Avg Call Time": "120", "Service Level": "50.00",
         "Abandon Unknown": "0"},
        {"Queue": "2001", "Received": "2", "Answered": "2", "% Answered": "50.00",
         "Unanswered": "0", "% Unanswered": "0.00", "Abandoned": "0", "Avg Wait": "13",
         "Avg Call Time": "240", "Service Level": "100.00",
         "Abandon Unknown": "0"},
    ]  # fmt: skip
    restricted = get(site, "reports/distribution_by_queue", user="sales", start=DAY, end=DAY)
    assert [r["Queue"] for r in restricted["rows"]] == ["2000"]
    assert restricted["rows"][0]["% Answered"] == "100.00"  # shares of what the user sees


def test_realtime_equals_the_reports_for_today(site) -> None:
    summary = get(site, "realtime")["summary"]["queue"]
    rows = {r["Queue"]: r for r in get(site, "reports/distribution_by_queue")["rows"]}
    for queue, live in summary.items():
        row = rows[queue]
        assert (live["Received"], live["Answered"], live["Unanswered"], live["Abandoned"],
                live["Avg Wait"], live["Avg Duration"], live["Service Level"]) == (
            row["Received"], row["Answered"], row["Unanswered"], row["Abandoned"],
            row["Avg Wait"], row["Avg Call Time"], row["Service Level"])  # fmt: skip
        assert live["answeredCals"] == row["Answered"] and live["callsWaiting"] == live["Waiting"]


# -- the URL and the dates as clients send them ---------------------------------------------------


def test_repeated_slashes_and_a_far_future_end_on_every_entity(site) -> None:
    client = TestClient(site)
    for entity in ("reports", "reports/answered_calls_by_queue", "reports/distribution_by_queue",
                   "realtime", "queues", "agents", "call/c1", "search"):  # fmt: skip
        response = client.get(f"http://testserver//stats/rest/index.php?entity={entity}"
                              f"&start={DAY}&end=2027-06-30", headers=basic("admin"))  # fmt: skip
        assert response.status_code == 200, (entity, response.text)
    wrong = client.get(f"{URL}?entity=realtime", headers={"Authorization": "Basic eDp5"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"


async def test_a_php_client_reads_realtime_through_a_double_slash_url(site) -> None:
    php = shutil.which("php")
    if php is None:
        if IN_CI:
            pytest.fail("php-cli is missing and CI must have it")
        pytest.skip("php-cli is missing")
    served = await Served(site).start()  # uvicorn in this loop: the client runs beside it
    try:
        proc = await asyncio.create_subprocess_exec(
            php, str(PHP_CLIENT), f"http://127.0.0.1:{served.port}/", "admin", "pw-admin",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = (part.decode() for part in await asyncio.wait_for(proc.communicate(), 60))
    finally:
        await served.stop()
    assert proc.returncode == 0, out + err
    assert "Warning" not in out + err and "Notice" not in out
    lines = out.strip().splitlines()
    expected = [f"2000|{name}|{status}|{'1' if reason else '0'}|{interface}"
                for interface, name, _, reason, _, status in sorted(MEMBERS_2000, key=lambda m: m[1])]  # fmt: skip
    assert lines == ["2000 waiting=0 answered=2 abandoned=1 sl=50.00", *expected,
                     "2001 waiting=0 answered=2 abandoned=0 sl=100.00",
                     "2001|Carol|busy|0|PJSIP/2003"]  # fmt: skip


def test_realtime_answers_match_the_openapi_document(site) -> None:
    import jsonschema_rs

    doc = TestClient(site).get("/stats/rest/openapi.json").json()
    schema = doc["paths"][URL]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({"components": doc["components"], "anyOf": [schema]})
    realtime = get(site, "realtime")
    validator.validate(realtime)
    agent = doc["components"]["schemas"]["Realtime"]["properties"]["agents"]
    required = agent["additionalProperties"]["additionalProperties"]["required"]
    assert list(realtime["agents"]["2000"]["Alice"]) == required
    described = agent["additionalProperties"]["additionalProperties"]["properties"]
    assert described["paused"]["description"].startswith("Compatibility alias of `Paused`")
