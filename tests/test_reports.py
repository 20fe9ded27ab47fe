"""Every report of the catalogue over HTTP, on hand-written queue_log files.

Each expected figure is worked out by hand from the lines below (see the comments), never by
calling the code under test.
"""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from wallboard.app import create_app
from wallboard.auth import UserStore
from wallboard.config import Settings
from wallboard.history.ingest import import_files
from wallboard.history.store import open_store

D = 1709596800  # 2024-03-05 00:00:00 UTC, a Tuesday
DAY1, DAY2 = "2024-03-05", "2024-03-06"
URL = "/stats/rest/index.php"


def at(h: int, m: int = 0, s: int = 0, day: int = 0) -> int:
    return D + day * 86400 + h * 3600 + m * 60 + s


def line(when: int, callid: str, queue: str, agent: str, event: str, *data: str) -> str:
    return f"{when}|{callid}|{queue}|{agent}|{event}|{'|'.join(data)}\n"


# Day one (UTC). Queue calls, by enter time:
#   c1 sales 09:00:00  Alice  wait 10 ring 3 talk 120 COMPLETECALLER  url http://crm/1 did 5551000
#   c2 sales 09:10:00  Bob    wait 25 ring 5 talk 60  COMPLETEAGENT
#   c3 sales 09:20:00  ABANDON wait 40 (position 1, origpos 1)
#   c4 support 10:00:00 EXITWITHTIMEOUT wait 100, then overflows into
#   c4 sales 10:01:40  Alice  wait 10 ring 2 talk 120 BLINDTRANSFER to 2000@default
#   c5 support 14:00:00 Bob   wait 15 ring 4 talk 300 COMPLETECALLER
#   c6 support 14:30:00 ABANDON wait 5
#   c8 sales 15:00:00  Alice  wait 95 ring 2 talk 120 COMPLETEAGENT
# Sessions: Alice sales 08:00-17:00 and support 08:00-12:00 (union 9 h), Carol sales 08:00-09:00,
# Bob sales 08:30-16:30. Pauses: Bob 11:00-11:15 Break and 13:00-13:10 Admin, Alice 12:00-12:30.
DAY_ONE = [
    line(at(7), "NONE", "NONE", "NONE", "QUEUESTART", ""),
    line(at(8), "MANAGER", "sales", "Alice", "ADDMEMBER", ""),
    line(at(8), "MANAGER", "support", "Alice", "ADDMEMBER", ""),
    line(at(8), "MANAGER", "sales", "Carol", "ADDMEMBER", ""),
    line(at(8, 30), "MANAGER", "sales", "Bob", "ADDMEMBER", ""),
    line(at(8, 59, 59), "c1", "sales", "NONE", "DID", "5551000"),
    line(at(9), "c1", "sales", "NONE", "ENTERQUEUE", "http://crm/1", "5550001", "1"),
    line(at(9), "MANAGER", "sales", "Carol", "REMOVEMEMBER", ""),
    line(at(9, 0, 10), "c1", "sales", "Alice", "CONNECT", "10", "c1.a", "3"),
    line(at(9, 2, 10), "c1", "sales", "Alice", "COMPLETECALLER", "10", "120", "1"),
    line(at(9, 10), "c2", "sales", "NONE", "ENTERQUEUE", "", "5550002", "1"),
    line(at(9, 10, 25), "c2", "sales", "Bob", "CONNECT", "25", "c2.b", "5"),
    line(at(9, 11, 25), "c2", "sales", "Bob", "COMPLETEAGENT", "25", "60", "1"),
    line(at(9, 20), "c3", "sales", "NONE", "ENTERQUEUE", "", "5550003", "1"),
    line(at(9, 20, 40), "c3", "sales", "NONE", "ABANDON", "1", "1", "40"),
    line(at(10), "c4", "support", "NONE", "ENTERQUEUE", "", "5550004", "1"),
    line(at(10, 1, 40), "c4", "support", "NONE", "EXITWITHTIMEOUT", "1", "1", "100"),
    line(at(10, 1, 40), "c4", "sales", "NONE", "ENTERQUEUE", "", "5550004", "1"),
    line(at(10, 1, 50), "c4", "sales", "Alice", "CONNECT", "10", "c4.a", "2"),
    line(
        at(10, 3, 50), "c4", "sales", "Alice", "BLINDTRANSFER", "2000", "default", "10", "120", "1"
    ),
    line(at(11), "NONE", "sales", "Bob", "PAUSE", "Break"),
    line(at(11, 15), "NONE", "sales", "Bob", "UNPAUSE", ""),
    line(at(12), "MANAGER", "support", "Alice", "REMOVEMEMBER", ""),
    line(at(12), "NONE", "sales", "Alice", "PAUSE", "Lunch"),
    line(at(12, 30), "NONE", "sales", "Alice", "UNPAUSE", ""),
    line(at(13), "NONE", "sales", "Bob", "PAUSE", "Admin"),
    line(at(13, 10), "NONE", "sales", "Bob", "UNPAUSE", ""),
    line(at(14), "c5", "support", "NONE", "ENTERQUEUE", "", "5550005", "1"),
    line(at(14, 0, 15), "c5", "support", "Bob", "CONNECT", "15", "c5.b", "4"),
    line(at(14, 5, 15), "c5", "support", "Bob", "COMPLETECALLER", "15", "300", "1"),
    line(at(14, 30), "c6", "support", "NONE", "ENTERQUEUE", "", "5550006", "1"),
    line(at(14, 30, 5), "c6", "support", "NONE", "ABANDON", "1", "1", "5"),
    line(at(15), "c8", "sales", "NONE", "ENTERQUEUE", "", "5550008", "1"),
    line(at(15, 1, 35), "c8", "sales", "Alice", "CONNECT", "95", "c8.a", "2"),
    line(at(15, 3, 35), "c8", "sales", "Alice", "COMPLETEAGENT", "95", "120", "1"),
    line(at(16, 30), "MANAGER", "sales", "Bob", "REMOVEMEMBER", ""),
    line(at(17), "MANAGER", "sales", "Alice", "REMOVEMEMBER", ""),
]
# Day two: c9 sales 09:05:00 Bob wait 5 talk 60 COMPLETECALLER.
DAY_TWO = [
    line(at(9, 5, day=1), "c9", "sales", "NONE", "ENTERQUEUE", "", "5550009", "1"),
    line(at(9, 5, 5, day=1), "c9", "sales", "Bob", "CONNECT", "5", "c9.b", "1"),
    line(at(9, 6, 5, day=1), "c9", "sales", "Bob", "COMPLETECALLER", "5", "60", "1"),
]

PASSWORDS = {"admin": "admin-pw", "sup": "sup-pw", "alice": "alice-pw"}


def auth(name: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{PASSWORDS[name]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def make_client(
    directory: Path, lines: list[str], db: str | None = None, **settings: object
) -> TestClient:
    """A real store (SQLite unless `db` says otherwise) loaded from a queue_log file, its users
    and the app over it."""
    log = directory / "queue_log"
    log.write_text("".join(lines))
    store = open_store(db or str(directory / "wallboard.db"))
    import_files(store, [log])
    users = UserStore(store)
    users.add("admin", PASSWORDS["admin"], admin=True)
    users.add("sup", PASSWORDS["sup"], queues=["support"])
    users.add("alice", PASSWORDS["alice"], agents=["Alice"])
    return TestClient(create_app(Settings(**settings), store, services=False))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return make_client(
        tmp_path_factory.mktemp("reports"), DAY_ONE + DAY_TWO,
        timezone="UTC", service_levels={"sales": 30},
    )  # fmt: skip


def report(client: TestClient, name: str, user: str = "admin", **params: object) -> dict:
    query = {"entity": f"reports/{name}", **params}
    response = client.get(URL, params=query, headers=auth(user))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"page", "total", "records", "rows", "gaps"}
    assert body["gaps"] == []  # history from a queue_log misses nothing
    assert all(isinstance(body[k], str) for k in ("page", "total", "records"))
    for row in body["rows"]:
        assert all(isinstance(v, str) for v in row.values()), row
    return body


def rows(client: TestClient, name: str, user: str = "admin", **params: object) -> list[dict]:
    params.setdefault("start", DAY1)
    params.setdefault("end", DAY1)
    return report(client, name, user, **params)["rows"]


def test_catalogue_lists_every_report(client):
    body = client.get(URL, params={"entity": "reports"}, headers=auth("admin")).json()
    names = [entry["report"] for entry in body["data"]]
    assert names[:7] == [
        "answered_calls_detail", "answered_calls_by_queue", "answered_calls_by_agent",
        "answered_calls_by_url", "answered_calls_by_did", "answered_calls_by_holdtime",
        "answered_calls_by_event",
    ]  # fmt: skip
    assert {"unanswered_calls_detail", "unanswered_calls_by_queue", "unanswered_calls_by_event",
            "distribution_by_hour", "distribution_by_day", "distribution_by_weekday",
            "distribution_by_month", "service_level", "agent_sessions", "agent_pauses",
            "transfers"} <= set(names)  # fmt: skip


def test_answered_calls_detail(client):
    body = report(client, "answered_calls_detail", start=DAY1, end=DAY1)
    assert (body["page"], body["total"], body["records"]) == ("1", "1", "5")
    first = body["rows"][0]
    assert first == {
        "datetime": "05-03-2024 09:00:10", "queue": "sales", "agent": "Alice",
        "callerid": "5550001", "event": "COMPLETECALLER", "waitTime": "10", "ringTime": "3",
        "callTime": "120", "agentName": "Alice", "queueName": "sales", "recording": "",
        "uniqueid": "c1", "callflow": "/stats/rest/index.php?entity=call/c1",
        "url": "http://crm/1", "did": "5551000",
    }  # fmt: skip
    assert [(r["uniqueid"], r["queue"], r["event"]) for r in body["rows"]] == [
        ("c1", "sales", "COMPLETECALLER"), ("c2", "sales", "COMPLETEAGENT"),
        ("c4", "sales", "BLINDTRANSFER"), ("c5", "support", "COMPLETECALLER"),
        ("c8", "sales", "COMPLETEAGENT"),
    ]  # fmt: skip


def test_detail_paging(client):
    page2 = report(client, "answered_calls_detail", start=DAY1, end=DAY1, rows=2, page=2)
    assert (page2["page"], page2["total"], page2["records"]) == ("2", "3", "5")
    assert [r["uniqueid"] for r in page2["rows"]] == ["c4", "c5"]
    beyond = report(client, "answered_calls_detail", start=DAY1, end=DAY1, rows=2, page=9)
    assert (beyond["page"], beyond["total"], beyond["records"], beyond["rows"]) == (
        "9",
        "3",
        "5",
        [],
    )


def test_answered_calls_by_queue(client):
    # sales: c1 c2 c4 c8 = 4 of 5 answered; support: c5.
    assert rows(client, "answered_calls_by_queue") == [
        {"Queue": "sales", "Received": "4", "% Calls": "80.00"},
        {"Queue": "support", "Received": "1", "% Calls": "20.00"},
    ]


def test_answered_calls_by_agent(client):
    # Alice: c1 c4 c8, talk 360 of 720, hold 10+10+95 = 115 → avg 38.33 → 38.
    # Bob: c2 c5, talk 60+300 = 360, hold 25+15 = 40 → avg 20; avg call 180.
    assert rows(client, "answered_calls_by_agent") == [
        {"Agent": "Alice", "Calls": "3", "% Calls": "60.00", "Call Time": "360",
         "% Call Time": "50.00", "Avg Call Time": "120", "Hold Time": "115",
         "Avg Hold Time": "38"},
        {"Agent": "Bob", "Calls": "2", "% Calls": "40.00", "Call Time": "360",
         "% Call Time": "50.00", "Avg Call Time": "180", "Hold Time": "40", "Avg Hold Time": "20"},
    ]  # fmt: skip


def test_answered_calls_by_url_and_did(client):
    assert rows(client, "answered_calls_by_url") == [
        {"URL": "", "Calls": "4", "% Calls": "80.00"},
        {"URL": "http://crm/1", "Calls": "1", "% Calls": "20.00"},
    ]
    assert rows(client, "answered_calls_by_did") == [
        {"DID": "", "Calls": "4", "% Calls": "80.00"},
        {"DID": "5551000", "Calls": "1", "% Calls": "20.00"},
    ]


def test_answered_calls_by_holdtime(client):
    # waits 10, 25, 10, 15, 95: three within 15, one within 30, one over 90.
    assert [tuple(r.values()) for r in rows(client, "answered_calls_by_holdtime")] == [
        ("15 secs", "3", "3", "60.00"),
        ("30 secs", "4", "1", "80.00"),
        ("45 secs", "4", "0", "80.00"),
        ("60 secs", "4", "0", "80.00"),
        ("75 secs", "4", "0", "80.00"),
        ("90 secs", "4", "0", "80.00"),
        ("91+ secs", "5", "1", "100.00"),
    ]
    assert list(rows(client, "answered_calls_by_holdtime")[0]) == ["Answer", "Count", "Delta", "%"]


def test_answered_calls_by_event(client):
    assert rows(client, "answered_calls_by_event") == [
        {"Cause": "COMPLETEAGENT", "Count": "2", "%": "40.00"},
        {"Cause": "COMPLETECALLER", "Count": "2", "%": "40.00"},
        {"Cause": "BLINDTRANSFER", "Count": "1", "%": "20.00"},
    ]


def test_unanswered_calls_detail(client):
    assert rows(client, "unanswered_calls_detail") == [
        {"datetime": "05-03-2024 09:20:40", "queue": "sales", "callerid": "5550003",
         "event": "ABANDON", "waitTime": "40", "position": "1", "origPosition": "1",
         "uniqueid": "c3", "callflow": "/stats/rest/index.php?entity=call/c3", "url": "",
         "did": "", "queueName": "sales", "agentName": ""},
        {"datetime": "05-03-2024 10:01:40", "queue": "support", "callerid": "5550004",
         "event": "EXITWITHTIMEOUT", "waitTime": "100", "position": "1", "origPosition": "1",
         "uniqueid": "c4", "callflow": "/stats/rest/index.php?entity=call/c4", "url": "",
         "did": "", "queueName": "support", "agentName": ""},
        {"datetime": "05-03-2024 14:30:05", "queue": "support", "callerid": "5550006",
         "event": "ABANDON", "waitTime": "5", "position": "1", "origPosition": "1",
         "uniqueid": "c6", "callflow": "/stats/rest/index.php?entity=call/c6", "url": "",
         "did": "", "queueName": "support", "agentName": ""},
    ]  # fmt: skip


def test_unanswered_calls_by_queue_and_event(client):
    # support: c4 (timeout, 100 s) and c6 (abandon, 5 s) → avg 52.5 → 53.
    assert rows(client, "unanswered_calls_by_queue") == [
        {"Queue": "sales", "Unanswered": "1", "Abandoned": "1", "% Calls": "33.33",
         "Avg Wait": "40", "Abandon Unknown": "0"},
        {"Queue": "support", "Unanswered": "2", "Abandoned": "1", "% Calls": "66.67",
         "Avg Wait": "53", "Abandon Unknown": "0"},
    ]  # fmt: skip
    assert rows(client, "unanswered_calls_by_event") == [
        {"Cause": "ABANDON", "Count": "2", "%": "66.67"},
        {"Cause": "EXITWITHTIMEOUT", "Count": "1", "%": "33.33"},
    ]


def _period(rows_: list[dict], period: str) -> tuple:
    row = next(r for r in rows_ if r["Period"] == period)
    return tuple(row[k] for k in ("Received", "Answered", "% Answered", "Unanswered",
                                  "% Unanswered", "Avg Call Time", "Avg Wait", "Logins",
                                  "Logoffs"))  # fmt: skip


def test_distribution_by_hour(client):
    hours = rows(client, "distribution_by_hour")
    assert [r["Period"] for r in hours] == [f"{h:02d}" for h in range(24)]
    # 08: four logins (Alice ×2, Carol, Bob); 09: c1 c2 answered, c3 not, Carol logs off.
    assert _period(hours, "08") == ("0", "0", "0.00", "0", "0.00", "0", "0", "4", "0")
    assert _period(hours, "09") == ("3", "2", "40.00", "1", "33.33", "90", "18", "0", "1")
    # 10: c4 in support (timeout) and in sales (answered): two queue calls.
    assert _period(hours, "10") == ("2", "1", "20.00", "1", "33.33", "120", "10", "0", "0")
    assert _period(hours, "12") == ("0", "0", "0.00", "0", "0.00", "0", "0", "0", "1")
    assert _period(hours, "14") == ("2", "1", "20.00", "1", "33.33", "300", "15", "0", "0")
    assert _period(hours, "15") == ("1", "1", "20.00", "0", "0.00", "120", "95", "0", "0")
    assert _period(hours, "16") == ("0", "0", "0.00", "0", "0.00", "0", "0", "0", "1")
    assert _period(hours, "17") == ("0", "0", "0.00", "0", "0.00", "0", "0", "0", "1")


def test_distribution_by_day_week_month_over_two_days(client):
    days = rows(client, "distribution_by_day", end=DAY2)
    assert [r["Period"] for r in days] == [DAY1, DAY2]
    # Six answered in all (five on day one), three unanswered (all on day one).
    assert _period(days, DAY1) == ("8", "5", "83.33", "3", "100.00", "144", "31", "4", "4")
    assert _period(days, DAY2) == ("1", "1", "16.67", "0", "0.00", "60", "5", "0", "0")
    weekdays = rows(client, "distribution_by_weekday", end=DAY2)
    assert [r["Period"] for r in weekdays] == [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    ]  # fmt: skip
    assert _period(weekdays, "Tuesday") == _period(days, DAY1)
    assert _period(weekdays, "Wednesday") == _period(days, DAY2)
    assert _period(weekdays, "Monday") == ("0", "0", "0.00", "0", "0.00", "0", "0", "0", "0")
    # avg call (720 + 60) / 6 = 130; avg wait (155 + 5) / 6 = 26.67 → 27
    months = rows(client, "distribution_by_month", end=DAY2)
    assert [tuple(r.values()) for r in months] == [
        ("2024-03", "9", "6", "100.00", "3", "100.00", "130", "27", "4", "4"),
    ]


def test_service_level(client):
    # sales (threshold 30 from the settings): answered 4, within 30 s: c1 c2 c4 = 3;
    # unanswered c3 waited 40 > 30 → offered = 3 / (4 + 1).
    # support (default 20): c5 waited 15 → 1 of 1; c4 waited 100 > 20 counts, c6 (5 s) does not.
    assert rows(client, "service_level") == [
        {"Queue": "sales", "Threshold": "30", "Answered": "4", "Answered Within": "3",
         "SL answered %": "75.00", "Unanswered": "1", "SL offered %": "60.00"},
        {"Queue": "support", "Threshold": "20", "Answered": "1", "Answered Within": "1",
         "SL answered %": "100.00", "Unanswered": "2", "SL offered %": "50.00"},
    ]  # fmt: skip


def test_agent_sessions(client):
    # Alice: 08:00-17:00 (two queues, counted once) = 32400, paused 1800, talk 360
    #   → 360 / 30600 = 1.18 %. Bob: 28800, paused 900 + 600, talk 360 → 360 / 27300 = 1.32 %.
    assert rows(client, "agent_sessions") == [
        {"Agent": "Alice", "Logged In (s)": "32400", "Paused (s)": "1800", "Pauses": "1",
         "Calls": "3", "Talk Time (s)": "360", "Occupancy %": "1.18", "Membership": "dynamic"},
        {"Agent": "Bob", "Logged In (s)": "28800", "Paused (s)": "1500", "Pauses": "2",
         "Calls": "2", "Talk Time (s)": "360", "Occupancy %": "1.32", "Membership": "dynamic"},
        {"Agent": "Carol", "Logged In (s)": "3600", "Paused (s)": "0", "Pauses": "0",
         "Calls": "0", "Talk Time (s)": "0", "Occupancy %": "0.00", "Membership": "dynamic"},
    ]  # fmt: skip


def test_agent_pauses_paged(client):
    first = report(client, "agent_pauses", start=DAY1, end=DAY1, rows=2)
    assert (first["total"], first["records"]) == ("2", "3")
    assert first["rows"] == [
        {"Agent": "Bob", "Queue": "sales", "Start": "2024-03-05 11:00:00",
         "End": "2024-03-05 11:15:00", "Duration": "900", "Reason": "Break"},
        {"Agent": "Alice", "Queue": "sales", "Start": "2024-03-05 12:00:00",
         "End": "2024-03-05 12:30:00", "Duration": "1800", "Reason": "Lunch"},
    ]  # fmt: skip
    second = report(client, "agent_pauses", start=DAY1, end=DAY1, rows=2, page=2)
    assert [(r["Agent"], r["Reason"], r["Duration"]) for r in second["rows"]] == [
        ("Bob", "Admin", "600")
    ]


def test_transfers(client):
    assert rows(client, "transfers") == [{"Agent": "Alice", "To": "2000@default", "Count": "1"}]


def test_time_of_day_window(client):
    window = {"secondsstart": 9 * 3600, "secondsend": 10 * 3600}
    # 09:00 ≤ enter < 10:00: c1, c2 (answered, sales) and c3; c4 enters at 10:00:00, outside.
    assert rows(client, "answered_calls_by_queue", **window) == [
        {"Queue": "sales", "Received": "2", "% Calls": "100.00"}
    ]
    assert [r["uniqueid"] for r in rows(client, "unanswered_calls_detail", **window)] == ["c3"]
    # Sessions are clipped to the window: one hour each; Carol left at 09:00 so she is gone.
    assert rows(client, "agent_sessions", **window) == [
        {"Agent": "Alice", "Logged In (s)": "3600", "Paused (s)": "0", "Pauses": "0",
         "Calls": "1", "Talk Time (s)": "120", "Occupancy %": "3.33", "Membership": "dynamic"},
        {"Agent": "Bob", "Logged In (s)": "3600", "Paused (s)": "0", "Pauses": "0",
         "Calls": "1", "Talk Time (s)": "60", "Occupancy %": "1.67", "Membership": "dynamic"},
    ]  # fmt: skip
    # The alias secondstart works the same; a window over midnight wraps (14:00 → 09:05).
    alias = {"secondstart": 9 * 3600, "secondsend": 10 * 3600}
    assert rows(client, "answered_calls_by_queue", **alias) == rows(
        client, "answered_calls_by_queue", **window
    )
    wrap = {"secondsstart": 14 * 3600, "secondsend": 9 * 3600 + 300, "end": DAY2}
    # c1 09:00, c5 14:00, c8 15:00 on day one; c9 at 09:05:00 on day two is out (end exclusive).
    assert [r["uniqueid"] for r in rows(client, "answered_calls_detail", **wrap)] == [
        "c1", "c5", "c8",
    ]  # fmt: skip


def test_filters_by_queue_and_agent(client):
    assert rows(client, "answered_calls_by_agent", queue="support") == [
        {"Agent": "Bob", "Calls": "1", "% Calls": "100.00", "Call Time": "300",
         "% Call Time": "100.00", "Avg Call Time": "300", "Hold Time": "15",
         "Avg Hold Time": "15"},
    ]  # fmt: skip
    both = rows(client, "answered_calls_by_queue", queue="sales,support")
    assert both == rows(client, "answered_calls_by_queue", queue="ALL")
    assert both == rows(client, "answered_calls_by_queue", queue="-1")
    assert [r["uniqueid"] for r in rows(client, "answered_calls_detail", agent="Bob")] == [
        "c2", "c5",
    ]  # fmt: skip
    # Ids work as well as names (ids come from the queues/agents entities).
    queues = client.get(URL, params={"entity": "queues"}, headers=auth("admin")).json()["data"]
    support_id = next(q["queue_id"] for q in queues if q["queue"] == "support")
    assert rows(client, "answered_calls_by_queue", queue=support_id) == [
        {"Queue": "support", "Received": "1", "% Calls": "100.00"}
    ]
    assert rows(client, "answered_calls_by_queue", queue="nosuchqueue") == []


def test_multi_day_range(client):
    assert rows(client, "answered_calls_by_queue", end=DAY2) == [
        {"Queue": "sales", "Received": "5", "% Calls": "83.33"},
        {"Queue": "support", "Received": "1", "% Calls": "16.67"},
    ]
    assert rows(client, "answered_calls_by_queue", start=DAY2, end=DAY2) == [
        {"Queue": "sales", "Received": "1", "% Calls": "100.00"}
    ]


def test_empty_range_gives_no_rows(client):
    for name in ("answered_calls_by_queue", "answered_calls_by_holdtime", "distribution_by_hour",
                 "service_level", "agent_sessions", "transfers", "answered_calls_detail"):  # fmt: skip
        body = report(client, name, start="2023-01-01", end="2023-01-31")
        assert (body["total"], body["records"], body["rows"]) == ("0", "0", []), name


# -- a non-UTC timezone: day boundaries and a DST change ------------------------------------------

NY = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, h: int, m: int = 0, s: int = 0) -> int:
    return int(datetime(year, month, day, h, m, s, tzinfo=NY).timestamp())


def new_york_lines() -> list[str]:
    lines = [
        # 23:59 local on 5 March (04:59 UTC on the 6th) and 00:01 local on the 6th.
        line(ny(2024, 3, 5, 23, 59), "late", "sales", "NONE", "ENTERQUEUE", "", "5551", "1"),
        line(ny(2024, 3, 5, 23, 59, 5), "late", "sales", "Alice", "CONNECT", "5", "l.a", "1"),
        line(ny(2024, 3, 6, 0, 0, 5), "late", "sales", "Alice", "COMPLETECALLER", "5", "60", "1"),
        line(ny(2024, 3, 6, 0, 1), "early", "sales", "NONE", "ENTERQUEUE", "", "5552", "1"),
        line(ny(2024, 3, 6, 0, 1, 10), "early", "sales", "NONE", "ABANDON", "1", "1", "10"),
    ]
    # 9-11 March crosses the start of daylight saving time (10 March, 02:00 → 03:00): one call
    # at 08:30, 09:30 and 10:30 local each day.
    for day in (9, 10, 11):
        for hour in (8, 9, 10):
            uid = f"d{day}h{hour}"
            lines.append(line(ny(2024, 3, day, hour, 30), uid, "sales", "NONE", "ENTERQUEUE", "",
                              "555", "1"))  # fmt: skip
            lines.append(line(ny(2024, 3, day, hour, 30, 5), uid, "sales", "NONE", "ABANDON", "1",
                              "1", "5"))  # fmt: skip
    # 7 March: Bob's attended transfers, two through a bridge and one through an application.
    for n, method in enumerate((("BRIDGE", "b1"), ("BRIDGE", "b2"), ("APP", "Dial"))):
        uid, start = f"at{n}", ny(2024, 3, 7, 12, n)
        lines += [
            line(start, uid, "sales", "NONE", "ENTERQUEUE", "", "555", "1"),
            line(start + 2, uid, "sales", "Bob", "CONNECT", "2", f"{uid}.b", "1"),
            line(start + 32, uid, "sales", "Bob", "ATTENDEDTRANSFER", *method, "2", "30", "1"),
        ]
    return lines


@pytest.fixture(scope="module")
def ny_client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return make_client(tmp_path_factory.mktemp("ny"), new_york_lines(), timezone="America/New_York")


def test_day_boundary_in_new_york(ny_client):
    fifth = rows(ny_client, "answered_calls_detail", start="2024-03-05", end="2024-03-05")
    assert [(r["uniqueid"], r["datetime"]) for r in fifth] == [("late", "05-03-2024 23:59:05")]
    assert rows(ny_client, "unanswered_calls_detail", start="2024-03-05", end="2024-03-05") == []
    sixth = rows(ny_client, "unanswered_calls_detail", start="2024-03-06", end="2024-03-06")
    assert [(r["uniqueid"], r["datetime"]) for r in sixth] == [("early", "06-03-2024 00:01:10")]
    assert rows(ny_client, "answered_calls_detail", start="2024-03-06", end="2024-03-06") == []
    hours = rows(ny_client, "distribution_by_hour", start="2024-03-05", end="2024-03-06")
    assert _period(hours, "23")[:2] == ("1", "1")
    assert _period(hours, "00")[:4] == ("1", "0", "0.00", "1")


def test_window_across_daylight_saving_change(ny_client):
    every = rows(ny_client, "unanswered_calls_detail", start="2024-03-09", end="2024-03-11")
    assert len(every) == 9
    window = rows(ny_client, "unanswered_calls_detail", start="2024-03-09", end="2024-03-11",
                  secondsstart=9 * 3600, secondsend=10 * 3600)  # fmt: skip
    assert [(r["uniqueid"], r["datetime"]) for r in window] == [
        ("d9h9", "09-03-2024 09:30:05"),
        ("d10h9", "10-03-2024 09:30:05"),
        ("d11h9", "11-03-2024 09:30:05"),
    ]
    hours = rows(ny_client, "distribution_by_hour", start="2024-03-09", end="2024-03-11")
    assert [_period(hours, h)[0] for h in ("07", "08", "09", "10", "11")] == [
        "0",
        "3",
        "3",
        "3",
        "0",
    ]


def test_attended_transfers_grouped(ny_client):
    assert rows(ny_client, "transfers", start="2024-03-07", end="2024-03-07") == [
        {"Agent": "Bob", "To": "APP|Dial", "Count": "1"},
        {"Agent": "Bob", "To": "attended", "Count": "2"},
    ]


@pytest.mark.postgres
def test_every_report_agrees_on_postgresql(client, pg_url, tmp_path):
    """The same SQL on PostgreSQL gives the same rows, with and without a window."""
    pg = make_client(tmp_path, DAY_ONE + DAY_TWO, db=pg_url, timezone="UTC",
                     service_levels={"sales": 30})  # fmt: skip
    try:
        names = [e["report"] for e in client.get(URL, params={"entity": "reports"},
                                                 headers=auth("admin")).json()["data"]]  # fmt: skip
        for name in names:
            for user in ("admin", "sup", "alice"):
                for extra in ({}, {"secondsstart": 14 * 3600, "secondsend": 9 * 3600 + 300}):
                    params = {"start": DAY1, "end": DAY2, **extra}
                    assert report(pg, name, user, **params) == report(client, name, user, **params)
        for entity in ("search", "queues", "agents", "call/c4"):
            query = {"entity": entity, "start": DAY1, "end": DAY2}
            assert (pg.get(URL, params=query, headers=auth("sup")).json()
                    == client.get(URL, params=query, headers=auth("sup")).json())  # fmt: skip
    finally:
        pg.app.state.store.close()
