"""History from AMI alone: the recorder against a real Asterisk 22 recording, then the whole
product against the simulator over a real TCP socket with no queue_log given to it.

The ground truth is the queue_log the same Asterisk (or simulator) wrote: per call outcome,
and per queue the report figures (answered, unanswered, abandoned, service level, waits).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx

from tests.amireplay import headers, load_capture
from wallboard.app import build_live, create_app
from wallboard.auth import UserStore
from wallboard.config import load_settings
from wallboard.history.ingest import ImportSummary, Ingester, import_files
from wallboard.history.store import open_store
from wallboard.live.events import (
    AgentConnect,
    CallerAbandon,
    CallerJoin,
    CallerLeave,
    ChannelEvent,
    parse_event,
)
from wallboard.live.recorder import AmiRecorder
from wallboard.simulator.model import CallCenterModel, default_config
from wallboard.simulator.server import EVENT_CLASSES, SimulatorServer

from .test_ingest import until

LAB = Path(__file__).parent / "fixtures" / "lab_queue_log"
ENDS = {"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "EXITUNKNOWN",
        "COMPLETEAGENT", "COMPLETECALLER", "TRANSFER"}  # fmt: skip
START = 1_795_000_000.0  # a round virtual start for the simulator


# -- the recorder against the recording --------------------------------------------------------


def recorded_lines(classes: set[str]) -> list[str]:
    """The recorder fed the capture's events an AMI user reading `classes` would get."""
    recorder = AmiRecorder()
    lines: list[str] = []
    for message in load_capture().events:
        fields = headers(message)
        privilege = set(fields.get("privilege", "").split(",")) - {"all"}
        if not privilege or not privilege <= classes:
            continue
        event = parse_event(fields)
        if event is not None:
            lines += recorder.feed(event, float(fields["timestamp"]))
    return lines + recorder.tick(float("inf"))


def outcomes(lines: list[str]) -> dict[tuple[str, str], str]:
    found = {}
    for line in lines:
        _, callid, queue, _, event, *_ = line.split("|")
        if event in ENDS:
            found[(callid, queue)] = event
    return found


def test_with_channel_events_every_outcome_is_the_one_asterisk_logged() -> None:
    truth = outcomes(LAB.read_text().splitlines())
    assert Counter(truth.values()) == {"COMPLETEAGENT": 43, "COMPLETECALLER": 15, "ABANDON": 21,
                                       "EXITWITHTIMEOUT": 4}  # fmt: skip
    # `call` alone tells abandons from timeouts; `dialplan` adds QUEUESTATUS (the same here).
    for classes in ({"agent", "system", "call"}, {"agent", "system", "call", "dialplan"}):
        assert outcomes(recorded_lines(classes)) == truth, classes


def test_without_channel_events_the_abandon_split_is_unknown_never_guessed() -> None:
    truth = outcomes(LAB.read_text().splitlines())
    got = outcomes(recorded_lines({"agent", "system"}))
    assert set(got) == set(truth)
    for key, event in truth.items():
        expected = "EXITUNKNOWN" if event in ("ABANDON", "EXITWITHTIMEOUT") else event
        assert got[key] == expected, key


def stored(store) -> dict:
    return {
        (r[0], r[1]): r[2:]
        for r in store.query(
            "SELECT callid, queue, enter_time, connect_time, end_time, outcome, agent, wait, talk,"
            " callerid FROM queue_calls"
        )
    }


def test_the_calls_derived_from_ami_are_the_calls_of_the_queue_log(tmp_path: Path) -> None:
    """Every queue call the recording's AMI gives, stored: enter, connect and end times,
    outcome, agent, wait, talk and caller id as the queue_log of the same run has them."""
    from_file = open_store(str(tmp_path / "file.db"))
    import_files(from_file, [LAB])
    from_ami = open_store(str(tmp_path / "ami.db"))
    ingester = Ingester(from_ami)
    text = "\n".join(recorded_lines({"agent", "system", "call"})) + "\n"
    ingester.ingest_text(text, "ami:default", None, 0, 0, None, Counter(), ImportSummary())
    ingester.release()
    assert stored(from_ami) == stored(from_file)
    sessions = "SELECT kind, agent, queue, start_time, end_time FROM agent_intervals ORDER BY 1, 2, 3, 4"
    # Pauses per queue and dynamic members' sessions: the same (PAUSEALL adds no interval).
    assert from_ami.query(sessions) == from_file.query(sessions)


def test_a_caller_who_leaves_unanswered_without_an_abandon_pressed_a_key() -> None:
    recorder = AmiRecorder(settle=2.0)
    assert recorder.feed(CallerJoin("q", "1.1", 1, 1, "555"), 100.0)
    assert recorder.feed(CallerLeave("q", "1.1", 1, 0), 110.0) == []  # AgentConnect may follow
    assert recorder.tick(111.0) == []
    assert recorder.tick(112.5) == ["110|1.1|q|NONE|EXITWITHKEY||1||"]
    recorder.feed(CallerJoin("q", "1.2", 1, 1, "556"), 120.0)
    recorder.feed(CallerLeave("q", "1.2", 1, 0), 130.0)
    assert recorder.feed(AgentConnect("q", "PJSIP/1", "Ann", "1.2", 10, 3), 130.0) == [
        "130|1.2|q|Ann|CONNECT|10||3"
    ]
    assert recorder.tick(200.0) == []  # answered: no exit
    recorder.feed(ChannelEvent("new", "1.3"), 139.0)
    recorder.feed(CallerJoin("q", "1.3", 1, 1, "557"), 140.0)
    recorder.feed(ChannelEvent("hangup_request", "1.3"), 150.0)
    assert recorder.feed(CallerAbandon("q", "1.3", 1, 1, 10), 150.0) == [
        "150|1.3|q|NONE|ABANDON|1|1|10"
    ]


# -- the product, AMI only, against the simulator ----------------------------------------------


async def run_ami_only(tmp_path: Path, minutes: int, read: frozenset[str] = EVENT_CLASSES,
                       outage: bool = False) -> tuple[dict, dict, list, object]:  # fmt: skip
    """The simulator (writing its queue_log), the product following its AMI alone; then the
    simulator's queue_log imported into a store of its own. (AMI-derived figures, the queue_log's
    figures, the AMI side's gaps, the AMI side's store)."""
    queue_log = tmp_path / "sim.queue_log"
    model = CallCenterModel(default_config(seed=5), start_time=START)
    sim = SimulatorServer(model, queue_log_path=queue_log, speed=0, secret="s3cret", read=read,
                          auth_delay=0)  # fmt: skip
    await sim.start()
    settings = load_settings(environ={}, overrides={
        "db": str(tmp_path / "ami.db"), "ami_host": "127.0.0.1", "ami_port": sim.port,
        "ami_user": "wallboard", "ami_secret": "s3cret", "timezone": "UTC",
    })  # fmt: skip
    store = open_store(settings.db)
    UserStore(store).add("boss", "pw-boss-123", admin=True)
    live = build_live(settings, store, clock=lambda: model.now)
    app = create_app(settings, store, services=False)
    app.state.live = live
    history = live.sources["default"]
    await live.start()
    try:
        await until(lambda: live.listener.synced.is_set(), "AMI resync")
        for minute in range(minutes):
            await sim.step(60)
            if outage and minute == minutes // 2:
                await sim.disconnect_clients()
                await until(lambda: not live.listener.synced.is_set(), "the link to drop")
                for _ in range(5):  # five minutes the product does not see
                    await sim.step(60)
                await until(lambda: live.listener.synced.is_set(), "the link back")
        await sim.step(10)  # past the recorder's settle time for the last leavers
        await until(lambda: history.lag()[0] == 0 and not history._items, "the history written")
        await asyncio.sleep(history.interval * 3)
        await until(lambda: history.lag()[0] == 0, "the history written")
        figures = await report_figures(app)
    finally:
        await live.stop()
        await sim.stop()
    truth_store = open_store(str(tmp_path / "file.db"))
    import_files(truth_store, [queue_log])
    UserStore(truth_store).add("boss", "pw-boss-123", admin=True)
    truth_app = create_app(settings.replace(db=str(tmp_path / "file.db")), truth_store,
                           services=False)  # fmt: skip
    truth = await report_figures(truth_app)
    gaps = store.query("SELECT pbx, start_time, end_time, reason FROM history_gaps ORDER BY id")
    return figures, truth, gaps, store


async def report_figures(app) -> dict:
    day = "2026-11-18"  # START's day (UTC)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://wallboard", auth=("boss", "pw-boss-123")) as client:  # fmt: skip
        async def rows(entity: str) -> dict:
            response = await client.get("/stats/rest/index.php",
                                        params={"entity": entity, "start": day, "end": day})  # fmt: skip
            assert response.status_code == 200, response.text
            body = response.json()
            return {r["Queue"]: r for r in body["rows"]} | {"gaps": body["gaps"]}

        return {
            "queue": await rows("reports/distribution_by_queue"),
            "sl": await rows("reports/service_level"),
            "unanswered": await rows("reports/unanswered_calls_by_queue"),
        }


FIGURES = ("Received", "Answered", "Unanswered", "Avg Wait", "Avg Call Time", "Service Level")


async def test_ami_only_history_equals_the_queue_log_the_simulator_wrote(tmp_path: Path) -> None:
    got, truth, gaps, _ = await run_ami_only(tmp_path, minutes=120)
    queues = {"2000", "2001", "2002"}
    assert queues <= set(got["queue"]) and queues <= set(truth["queue"])
    total = 0
    for queue in queues:
        mine, real = got["queue"][queue], truth["queue"][queue]
        assert {k: mine[k] for k in (*FIGURES, "Abandoned")} == {
            k: real[k] for k in (*FIGURES, "Abandoned")}, queue  # fmt: skip
        assert mine["Abandon Unknown"] == "0"
        assert got["sl"][queue] == truth["sl"][queue]
        assert got["unanswered"][queue] == truth["unanswered"][queue]
        total += int(real["Received"])
    assert total > 150 and int(sum(int(truth["queue"][q]["Abandoned"]) for q in queues)) > 5
    assert got["queue"]["gaps"] == []  # nothing missed while it ran
    assert [(g[0], g[2], g[3]) for g in gaps] == [("default", None, "wallboard stopped")]


async def test_without_call_events_abandons_are_unknown_and_the_rest_exact(tmp_path: Path) -> None:
    got, truth, _, _ = await run_ami_only(tmp_path, minutes=90,
                                          read=frozenset({"agent", "system"}))  # fmt: skip
    unknown = 0
    for queue in ("2000", "2001", "2002"):
        mine, real = got["queue"][queue], truth["queue"][queue]
        assert {k: mine[k] for k in FIGURES} == {k: real[k] for k in FIGURES}, queue
        assert mine["Abandoned"] == "0"  # never guessed
        # every unanswered call came with a QueueCallerAbandon: all of them are unknown
        assert mine["Abandon Unknown"] == real["Unanswered"], queue
        unknown += int(mine["Abandon Unknown"])
    assert unknown > 5


async def test_an_outage_is_a_gap_the_reports_name(tmp_path: Path) -> None:
    got, truth, gaps, store = await run_ami_only(tmp_path, minutes=60, outage=True)
    assert len(gaps) == 2, gaps  # the outage, and the stop at the end (still open)
    (pbx, start, end, reason), (_, stopped, still, why) = gaps
    assert pbx == "default" and end - start >= 300 and reason
    assert still is None and why == "wallboard stopped"
    assert got["queue"]["gaps"][0]["pbx"] == "default" and got["queue"]["gaps"][0]["end"]
    # What the outage hid is missing, not invented: fewer calls, none counted twice.
    received = sum(int(got["queue"][q]["Received"]) for q in ("2000", "2001", "2002"))
    real = sum(int(truth["queue"][q]["Received"]) for q in ("2000", "2001", "2002"))
    assert 0 < received < real
    # The calls open when the link dropped that ended unseen are closed as STALE at the resync
    # (their outcome was missed), not left waiting or talking for hours.
    stale = store.query("SELECT min(end_time), max(end_time), count(*) FROM queue_calls"
                        " WHERE outcome = 'STALE'")[0]  # fmt: skip
    assert stale[2] > 0 and stale[0] == stale[1] == end
