"""Realtime vs history: the simulator runs, the live state's counters equal the day's reports.

The simulator speaks AMI over a real TCP socket and writes a real queue_log; the product follows
both (AMI listener + queue_log follower) and answers `entity=realtime` and `entity=reports/...`
over HTTP. Both must tell the same story for the day.
"""

import os
from datetime import UTC, datetime

import httpx

from wallboard.app import build_live, create_app
from wallboard.auth import UserStore
from wallboard.config import load_settings
from wallboard.history.store import open_store
from wallboard.simulator.model import CallCenterModel, default_config
from wallboard.simulator.server import SimulatorServer

from .test_ingest import until

DAY = "2026-03-10"
START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC).timestamp()


async def test_realtime_counters_equal_the_reports_for_the_day(tmp_path):
    queue_log = tmp_path / "queue_log"
    model = CallCenterModel(default_config(seed=7), start_time=START)
    sim = SimulatorServer(model, queue_log_path=queue_log, speed=0, secret="s3cret")
    await sim.start()
    settings = load_settings(
        environ={},
        overrides={
            "db": str(tmp_path / "w.db"), "queue_log": str(queue_log), "ami_host": "127.0.0.1",
            "ami_port": sim.port, "ami_user": "wallboard", "ami_secret": "s3cret",
            "timezone": "UTC", "follow_interval": 0.05,
        },
    )  # fmt: skip
    store = open_store(settings.db)
    UserStore(store).add("boss", "pw-boss-123", admin=True)
    live = build_live(settings, store, clock=lambda: model.now)
    app = create_app(settings, store, services=False)
    app.state.live = live
    await live.start()
    try:
        await until(lambda: live.listener.synced.is_set(), "AMI resync")
        for _ in range(90):  # 90 virtual minutes of traffic, a minute at a time
            await sim.step(60)
        size = os.path.getsize(queue_log)
        await until(
            lambda: store.query_one("SELECT max(position) FROM ingest_files")[0] == size,
            "the follower to read the whole queue_log",
        )
        await until(  # the names AMI gave for the members that came and went
            lambda: not live.registry.canonical.keys().isdisjoint({"Local/agent9@agents"}),
            "the registry to learn the dynamic members' names",
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://wallboard",
            auth=("boss", "pw-boss-123"),
        ) as client:  # fmt: skip

            async def get(entity: str, **params: str) -> dict:
                response = await client.get(
                    "/stats/rest/index.php", params={"entity": entity, **params}
                )
                assert response.status_code == 200, response.text
                return response.json()

            live_view = await get("realtime")
            realtime = live_view["summary"]["queue"]
            persons = {a["agent"] for a in (await get("agents"))["data"]} - {"ALL"}
            by_agent = {r["Agent"]: r for r in (await get("reports/answered_calls_by_agent", start=DAY, end=DAY))["rows"]}
            span = {"start": DAY, "end": DAY}
            by_queue = {r["Queue"]: r for r in (await get("reports/distribution_by_queue", **span))["rows"]}
            answered = {r["Queue"]: r for r in (await get("reports/answered_calls_by_queue", **span))["rows"]}
            unanswered = {r["Queue"]: r for r in (await get("reports/unanswered_calls_by_queue", **span))["rows"]}
            sl = {r["Queue"]: r for r in (await get("reports/service_level", **span))["rows"]}
        # a restart at noon loses nothing: a fresh live side seeded from the store agrees
        counters = {q: v["counters"] for q, v in live.state.snapshot()["queues"].items()}
        agents_today = {q: v.get("agents_today") for q, v in live.state.snapshot()["queues"].items()}
        board_agents = per_agent(live.state.snapshot(), live.registry.resolve)
        await live.stop()
        restarted = build_live(settings.replace(ami_host=None), store, clock=lambda: model.now)
        await restarted.seed()
        reseeded = {q: v["counters"] for q, v in restarted.state.snapshot()["queues"].items()}
        assert reseeded == counters
        assert {q: v.get("agents_today") for q, v in restarted.state.snapshot()["queues"].items()} == agents_today
        after_restart = per_agent(restarted.state.snapshot(), restarted.registry.resolve)
    finally:
        await live.stop()
        await sim.stop()
    assert set(realtime) == {"2000", "2001", "2002"}
    # Per agent: the board and the reports name the same people (the registry, learned from
    # AMI, folds the interfaces ADDMEMBER lines carry into the member names CONNECT lines do).
    on_board = {name for queue in live_view["agents"].values() for name in queue}
    assert by_agent and set(by_agent) <= persons and on_board <= persons
    assert not any("/" in name for name in persons)  # no interface left
    total = 0
    for queue, row in realtime.items():
        got_answered = int(answered.get(queue, {}).get("Received", "0"))
        got_unanswered = int(unanswered.get(queue, {}).get("Unanswered", "0"))
        assert int(row["Answered"]) == got_answered, queue
        assert int(row["Unanswered"]) == got_unanswered, queue
        assert int(row["Abandoned"]) == int(unanswered.get(queue, {}).get("Abandoned", "0")), queue
        assert int(row["Received"]) == got_answered + got_unanswered, queue
        assert row["Service Level"] == sl[queue]["SL answered %"], queue
        # The first API version's names and distribution_by_queue tell the same day.
        assert (row["answeredCals"], row["unansweredCalls"], row["abandonRate"]) == (
            row["Answered"], row["Unanswered"], row["Abandon Rate"]), queue
        day = by_queue[queue]
        assert (row["Answered"], row["Unanswered"], row["Abandoned"], row["Avg Wait"],
                row["Avg Duration"], row["Service Level"]) == (
            day["Answered"], day["Unanswered"], day["Abandoned"], day["Avg Wait"],
            day["Avg Call Time"], day["Service Level"]), queue
        # The report's Received counts every call that entered, those still waiting too.
        assert int(day["Received"]) == int(row["Received"]) + int(row["Waiting"]), queue
        total += got_answered + got_unanswered
    assert total > 100  # the run had real traffic
    # Per agent today, on the board (the live state the websocket carries) and after a restart:
    # the calls answered and their talk time are answered_calls_by_agent's.
    reported = {name: (int(row["Calls"]), seconds(row["Call Time"])) for name, row in by_agent.items()}
    assert {a: (f["answered"], f["talk"]) for a, f in board_agents.items() if f["answered"]} == reported
    assert after_restart == board_agents
    assert sum(f["missed"] for f in board_agents.values()) > 0  # rings let go were counted
    # ...and `entity=realtime` shows each member's share of them in its queue.
    assert sum(int(r["answeredToday"]) for m in live_view["agents"].values() for r in m.values()) > 50
    for queue, members in live_view["agents"].items():
        for name, row in members.items():
            mine = (agents_today.get(queue) or {}).get(name, {})
            assert int(row["answeredToday"]) == mine.get("answered", 0), (queue, name)
            assert int(row["talkTimeToday"]) == mine.get("talk", 0), (queue, name)


def seconds(text: str) -> int:
    """Seconds of "HH:MM:SS" or of a plain number."""
    if ":" not in text:
        return int(float(text))
    hours, minutes, secs = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + secs


def per_agent(snapshot: dict, resolve) -> dict[str, dict[str, int]]:
    """Today's figures of each agent (the registry's name), over every queue."""
    total: dict[str, dict[str, int]] = {}
    for queue in snapshot["queues"].values():
        for agent, figures in (queue.get("agents_today") or {}).items():
            mine = total.setdefault(resolve(agent), dict.fromkeys(figures, 0))
            for key, value in figures.items():
                mine[key] += value
    return total
