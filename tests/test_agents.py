"""One agent, one identity: the lab recording of a real Asterisk 22 (`log_membername_as_agent =
no`) logs Ivan and Judy by interface on ADDMEMBER/REMOVEMEMBER and by name everywhere else.

Worked out by hand from tests/fixtures/lab_queue_log (times are 1795904000 + s, 2026-11-28 UTC):
  Ivan, Local/agent9@agents: 2001 338-422, 2000 392-472, 2002 399-477, 2001 492-497, 2002 494-497
    union 338-477 (139 s) + 492-497 (5 s) = 144 s logged in, no pause;
    answered 6 calls (CONNECT 355, 376, 426, 430, 472, 495), talk 13+42+0+36+15+35 = 141 s;
    occupancy 141 / 144 = 97.92 %.
  Judy, Local/agent10@agents: 2002 370-409, 2001 373-415, 2002 433-497, 2000 479-497
    union 370-415 (45 s) + 433-497 (64 s) = 109 s; 3 calls (377, 435, 484), talk 54+36+42 = 132;
    occupancy 132 / 109 = 121.10 % (her last call went on after Asterisk removed her at 497).
  Alice..Heidi are static members (queues.conf): no session lines, so no logged-in time.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

from starlette.testclient import TestClient

from tests.amireplay import AmiReplayServer, load_capture
from wallboard.app import build_live, create_app
from wallboard.auth import UserStore
from wallboard.config import Settings
from wallboard.history import registry
from wallboard.history.ingest import import_files
from wallboard.history.reports import ReportParams, run_report
from wallboard.history.store import open_store

from .test_ingest import until

LAB = Path(__file__).parent / "fixtures" / "lab_queue_log"
DAY = "2026-11-28"
MAP = {"Local/agent9@agents": "Ivan", "Local/agent10@agents": "Judy"}
PEOPLE = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"]
DYNAMIC = {
    "Ivan": {"Logged In (s)": "144", "Calls": "6", "Talk Time (s)": "141", "Occupancy %": "97.92",
             "Membership": "dynamic"},
    "Judy": {"Logged In (s)": "109", "Calls": "3", "Talk Time (s)": "132", "Occupancy %": "121.10",
             "Membership": "dynamic"},
}  # fmt: skip
URL = "/stats/rest/index.php"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def lab_store(directory: Path, learn_first: dict[str, str] | None = None):
    store = open_store(str(directory / "w.db"))
    if learn_first:
        store.learn_names(sorted(learn_first.items()), "settings")
    shutil.copy(LAB, directory / "queue_log")
    import_files(store, [directory / "queue_log"])
    users = UserStore(store)
    users.add("boss", "pw-boss", admin=True)
    users.add("judys", "pw-judys", agents=["Judy"])
    users.add("byiface", "pw-byiface", agents=["Local/agent10@agents"])
    return store


def client(store, **settings) -> TestClient:
    return TestClient(create_app(Settings(timezone="UTC", **settings), store, services=False))


def get(http: TestClient, entity: str, user: str = "boss", **params: str) -> dict:
    response = http.get(URL, params={"entity": entity, **params}, headers=basic(user, f"pw-{user}"))
    assert response.status_code == 200, response.text
    return response.json()


def sessions(http: TestClient, user: str = "boss", **params: str) -> dict[str, dict[str, str]]:
    rows = get(http, "reports/agent_sessions", user, start=DAY, end=DAY, **params)["rows"]
    return {row.pop("Agent"): row for row in rows}


def check_lab_figures(http: TestClient) -> None:
    agents = get(http, "agents")["data"]
    assert [a["agent"] for a in agents] == ["ALL", *PEOPLE]  # no row for an interface
    by_name = {a["agent"]: a for a in agents}
    assert "Local/agent9@agents" in by_name["Ivan"]["aliases"].split(",")
    assert "Local/agent10@agents" in by_name["Judy"]["aliases"]
    found = sessions(http)
    assert list(found) == PEOPLE
    for name, want in DYNAMIC.items():
        assert {k: found[name][k] for k in want} == want, name
        assert (found[name]["Paused (s)"], found[name]["Pauses"]) == ("0", "0")
    for name in PEOPLE[:8]:  # static: not measured, not 0
        row = found[name]
        assert (row["Logged In (s)"], row["Occupancy %"], row["Membership"]) == ("", "", "static")
        assert int(row["Calls"]) > 0
    by_agent = {r["Agent"]: r for r in get(http, "reports/answered_calls_by_agent", start=DAY,
                                            end=DAY)["rows"]}  # fmt: skip
    assert list(by_agent) == PEOPLE
    assert (by_agent["Ivan"]["Calls"], by_agent["Ivan"]["Call Time"]) == ("6", "141")


def test_an_agents_map_and_no_ami(tmp_path: Path) -> None:
    store = lab_store(tmp_path)
    check_lab_figures(client(store, agents=MAP))


def test_the_same_figures_whether_the_alias_came_before_or_after_the_import(tmp_path: Path) -> None:
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    before = lab_store(tmp_path / "before", learn_first=MAP)
    after = lab_store(tmp_path / "after")
    after.learn_names(sorted(MAP.items()), "admin")
    cover = "SELECT day, agent, logged, paused, paused_in, pauses FROM agent_cover_days ORDER BY 1, 2"
    assert before.query(cover) == after.query(cover)  # the per-agent day summary, rebuilt
    keyed = {r[1] for r in after.query(cover)}
    assert {"Ivan", "Judy"} <= keyed and not any("@" in name for name in keyed)  # no interface
    for store in (before, after):
        check_lab_figures(client(store))
        params = ReportParams(start=_day(), end=_day(), now=1795905000)
        boss = UserStore(store).get("boss")
        fast = run_report(store, Settings(timezone="UTC"), "agent_sessions", params, boss)
        raw = run_report(store, Settings(timezone="UTC"), "agent_sessions", params, boss,
                         summaries=False)  # fmt: skip
        assert fast == raw


def _day():
    from datetime import date

    return date(2026, 11, 28)


async def test_names_learned_from_the_ami_capture(tmp_path: Path) -> None:
    """The recording's QueueStatus and QueueMemberAdded events, replayed over TCP to the real
    listener, teach the registry every interface and state interface, and who is static."""
    store = lab_store(tmp_path)
    capture = load_capture()
    server = AmiReplayServer(status=capture.status_blocks[0], stream=capture.events)
    await server.start()
    settings = Settings(db=str(tmp_path / "w.db"), timezone="UTC", ami_host="127.0.0.1",
                        ami_port=server.port, ami_user="wallboard", ami_secret="secret",
                        queue_log=str(tmp_path / "queue_log"))  # history: the file imported  # fmt: skip
    live = build_live(settings, store, clock=lambda: 1795904600.0)
    await live.start()
    try:
        await until(lambda: live.registry.resolve("Local/agent10@agents") == "Judy",
                    "the names from AMI")  # fmt: skip
    finally:
        await live.stop()
        await server.stop()
    names = store.registry()
    assert names.resolve("Local/agent9@agents") == "Ivan"
    assert names.resolve("Custom:agent3") == "Carol"  # a state interface
    assert names.membership_of("Alice") == "static" and names.membership_of("Judy") == "dynamic"
    check_lab_figures(client(store))


def test_restricted_to_an_agent_through_an_alias(tmp_path: Path) -> None:
    http = client(lab_store(tmp_path), agents=MAP)
    for user in ("judys", "byiface"):  # restricted by her name, or by her interface
        assert [a["agent"] for a in get(http, "agents", user)["data"]] == ["ALL", "Judy"]
        found = sessions(http, user)
        assert list(found) == ["Judy"] and found["Judy"]["Logged In (s)"] == "109"
        calls = get(http, "search", user, start=DAY, end=DAY)["rows"]
        assert {r["agent"] for r in calls} == {"Judy"} and len(calls) == 3
        ivans = get(http, "search", "boss", start=DAY, end=DAY, agent="Ivan")["rows"]
        denied = http.get(URL, params={"entity": f"call/{ivans[0]['uniqueid']}"},
                          headers=basic(user, f"pw-{user}"))  # fmt: skip
        assert denied.status_code == 404
        pauses = get(http, "reports/agent_pauses", user, start=DAY, end=DAY)["rows"]
        assert pauses == []
    forbidden = http.get(URL, params={"entity": "reports/agent_sessions", "agent": "Ivan"},
                         headers=basic("judys", "pw-judys"))  # fmt: skip
    assert forbidden.status_code == 403


HAND_LOG = [  # a setup whose member names Asterisk does not know: the interface everywhere
    "1795900000|NONE|NONE|NONE|QUEUESTART|\n",
    "1795900010|MANAGER|700|PJSIP/2001|ADDMEMBER|\n",
    "1795900020|c1|700|NONE|ENTERQUEUE||5551|1\n",
    "1795900025|c1|700|PJSIP/2001|CONNECT|5|m1|2\n",
    "1795900085|c1|700|PJSIP/2001|COMPLETECALLER|5|60|1\n",
    "1795900100|NONE|700|PJSIP/2001|PAUSE|Lunch\n",
    "1795900160|NONE|700|PJSIP/2001|UNPAUSE|\n",
    "1795900200|MANAGER|700|PJSIP/2001|REMOVEMEMBER|\n",
]


def test_search_by_name_finds_what_was_logged_under_the_interface(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("".join(HAND_LOG))
    store = open_store(str(tmp_path / "w.db"))
    import_files(store, [log])
    UserStore(store).add("boss", "pw-boss", admin=True)
    http = client(store, agents={"PJSIP/2001": "Judy"})
    day = {"start": DAY, "end": DAY}
    found = get(http, "search", agent="Judy", **day)["rows"]
    assert [(r["uniqueid"], r["agent"], r["agent_name"]) for r in found] == [("c1", "Judy", "Judy")]
    detail = get(http, "reports/answered_calls_detail", **day)["rows"]
    assert [(r["agent"], r["agentName"]) for r in detail] == [("Judy", "Judy")]
    # 190 s logged in, 60 s paused, 60 s talk: 60 / 130 = 46.15 %.
    assert sessions(http)["Judy"] == {
        "Logged In (s)": "190", "Paused (s)": "60", "Pauses": "1", "Calls": "1",
        "Talk Time (s)": "60", "Occupancy %": "46.15", "Membership": "dynamic",
    }  # fmt: skip
    events = get(http, "call/c1")["data"]
    assert {e["agentName"] for e in events if e["agent"] != "NONE"} == {"Judy"}
    assert [e["agent"] for e in events][-1] == "PJSIP/2001"  # the row as logged


def test_registry_links_stay_flat_and_an_admin_beats_ami() -> None:
    current = {"PJSIP/1": ("Judy", "ami")}
    assert registry.link(current, "PJSIP/1", "Judith", "ami") == {"PJSIP/1": "Judith"}
    assert registry.link({"PJSIP/1": ("Judy", "admin")}, "PJSIP/1", "Judith", "ami") is None
    assert registry.link(current, "Custom:1", "PJSIP/1", "ami") == {"Custom:1": "Judy"}
    assert registry.link(current, "Judy", "Judith", "admin") == {"Judy": "Judith",
                                                               "PJSIP/1": "Judith"}  # fmt: skip
    assert registry.link(current, "Judy", "PJSIP/1", "ami") is None  # already one person
    assert registry.link(current, "X", "X", "ami") is None
    names = registry.Registry({"PJSIP/1": "Judy", "Custom:1": "Judy"}, {"Judy": "Judy B."})
    assert names.expand(["PJSIP/1"]) == ("Custom:1", "Judy", "PJSIP/1")
    assert names.shown("Custom:1") == "Judy B." and names.resolve("Bob") == "Bob"


def test_the_admin_command(tmp_path: Path, capsys) -> None:
    from wallboard.cli import main

    lab_store(tmp_path).close()
    db = ["--db", str(tmp_path / "w.db")]
    assert main(["agents", "alias", "Judy", "Local/agent10@agents", *db]) == 0
    assert "Local/agent10@agents is agent Judy now" in capsys.readouterr().out
    assert main(["agents", "list", *db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["AGENT", "DISPLAY", "MEMBERSHIP", "ALIASES"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {*PEOPLE, "Local/agent9@agents"}  # Ivan's interface: not known yet
    assert rows["Judy"].split()[-1] == "Local/agent10@agents"
    assert rows["Alice"].split()[2] == "?" and rows["Judy"].split()[2] == "dynamic"
