"""Per agent and queue, today's answered calls, talk time, missed rings and pause time in the
live state: from the history side's changes, equal to a fresh seed from the same history, kept
across a resync, zeroed at midnight, and seen only by the users allowed those agents."""

from __future__ import annotations

from wallboard.history.calls import CallChange, Interval, IntervalChange, QueueCall, RingMiss
from wallboard.live.events import QueueMember
from wallboard.live.patch import merge_patch
from wallboard.live.state import CallCenterState
from wallboard.live.views import filter_patch, filter_state, make_view

T0 = 1_709_712_000  # 2024-03-06 08:00 UTC
MIDNIGHT = 1_709_769_600  # 2024-03-07 00:00 UTC


def state() -> CallCenterState:
    return CallCenterState("UTC", lambda queue: 20)


def answered(n: int, agent: str, queue: str = "sales", talk: int | None = 60) -> QueueCall:
    ended = talk is not None
    return QueueCall(n, f"c{n}", queue, T0 + n * 100, connect_time=T0 + n * 100 + 5,
                     end_time=T0 + n * 100 + 5 + talk if ended else None,
                     outcome="COMPLETECALLER" if ended else "CONNECT", agent=agent, wait=5,
                     talk=talk)  # fmt: skip


HISTORY = [
    CallChange(None, answered(1, "Alice", talk=None)),  # answered, still talking
    CallChange(answered(1, "Alice", talk=None), answered(1, "Alice", talk=70)),  # ended
    CallChange(None, answered(2, "Bob", talk=30)),
    CallChange(None, answered(3, "Alice", "support", talk=45)),
    RingMiss("Bob", "sales", T0 + 50, "c1"),
    RingMiss("Bob", "sales", T0 + 51, "c1"),
    IntervalChange(Interval("pause", "Alice", "sales", T0 + 400)),  # open: not yet counted
    IntervalChange(Interval("pause", "Alice", "sales", T0 + 400, T0 + 700, "Lunch")),
    IntervalChange(Interval("pause", "Alice", "sales", T0 + 400, T0 + 700, "Lunch")),  # again
    IntervalChange(Interval("session", "Alice", "sales", T0, T0 + 900)),  # not a pause
]
EXPECTED = {
    "sales": {"Alice": {"answered": 1, "talk": 70, "missed": 0, "paused": 300},
              "Bob": {"answered": 1, "talk": 30, "missed": 2, "paused": 0}},
    "support": {"Alice": {"answered": 1, "talk": 45, "missed": 0, "paused": 0}},
}  # fmt: skip


def fed(changes=HISTORY) -> tuple[CallCenterState, dict]:
    s = state()
    mirror = s.snapshot()
    for change in changes:
        mirror = merge_patch(mirror, s.apply(change, T0 + 1000))
    return s, mirror


def figures(snapshot: dict) -> dict:
    return {q: v["agents_today"] for q, v in snapshot["queues"].items() if "agents_today" in v}


def test_changes_make_the_figures_and_a_client_following_the_patches_agrees() -> None:
    s, mirror = fed()
    assert figures(s.snapshot()) == EXPECTED
    assert figures(mirror) == EXPECTED


def test_a_seed_from_the_store_gives_the_same_figures() -> None:
    calls = [answered(1, "Alice", talk=70), answered(2, "Bob", talk=30),
             answered(3, "Alice", "support", talk=45)]  # fmt: skip
    s = state()
    s.seed(calls, T0 + 1000, misses=[c for c in HISTORY if isinstance(c, RingMiss)],
           pauses=[Interval("pause", "Alice", "sales", T0 + 400, T0 + 700, "Lunch")])  # fmt: skip
    assert figures(s.snapshot()) == EXPECTED


def test_a_resync_keeps_them_and_midnight_zeroes_them() -> None:
    s, _ = fed()
    s.reset([QueueMember("sales", "PJSIP/1", name="Alice", status=1)], T0 + 1100)
    assert figures(s.snapshot()) == EXPECTED
    patch = s.tick(MIDNIGHT + 1)
    assert patch["queues"]["sales"]["agents_today"] is None
    assert figures(s.snapshot()) == {}
    # A pause across midnight counts only its part of the new day.
    s.apply(IntervalChange(Interval("pause", "Bob", "sales", MIDNIGHT - 600, MIDNIGHT + 120)),
            MIDNIGHT + 130)  # fmt: skip
    assert figures(s.snapshot())["sales"]["Bob"]["paused"] == 120


def test_a_user_allowed_some_agents_sees_only_their_figures() -> None:
    s = state()
    view = make_view(agents=["Bob"])
    before = s.snapshot()
    shown = filter_state(before, view)
    for change in HISTORY:
        patch = s.apply(change, T0 + 1000)
        after = s.snapshot()
        shown = merge_patch(shown, filter_patch(patch, before, after, view))
        before = after
    assert figures(shown) == {"sales": {"Bob": EXPECTED["sales"]["Bob"]}}
    assert figures(filter_state(s.snapshot(), view)) == figures(shown)


def test_rings_missed_are_stored_once_from_the_queue_log(tmp_path) -> None:
    from wallboard.history.ingest import import_files
    from wallboard.history.store import open_store

    lines = [
        f"{T0}|c1|sales|NONE|ENTERQUEUE||555|1",
        f"{T0 + 15}|c1|sales|Bob|RINGNOANSWER|15000",
        f"{T0 + 16}|c1|sales|NONE|RINGNOANSWER|0",  # no agent: nobody missed it
        f"{T0 + 20}|c1|sales|Alice|CONNECT|20|c1.2|4",
        f"{T0 + 90}|c1|sales|Alice|COMPLETECALLER|20|70|1",
        f"{T0 + 100}|NONE|sales|Alice|PAUSE|Lunch",
        f"{T0 + 400}|NONE|sales|Alice|UNPAUSE|",
    ]
    path = tmp_path / "queue_log"
    path.write_text("\n".join(lines) + "\n")
    store = open_store(str(tmp_path / "w.db"))
    try:
        import_files(store, [path])
        import_files(store, [path])  # the same file again: nothing doubled
        assert store.misses_between(T0, T0 + 3600) == [RingMiss("Bob", "sales", T0 + 15, "c1")]
        s = state()
        s.seed(store.calls_between(T0, T0 + 3600), T0 + 500, store.misses_between(T0, T0 + 3600),
               store.pauses_between(T0, T0 + 3600))  # fmt: skip
        assert figures(s.snapshot()) == {"sales": {
            "Bob": {"answered": 0, "talk": 0, "missed": 1, "paused": 0},
            "Alice": {"answered": 1, "talk": 70, "missed": 0, "paused": 300}}}  # fmt: skip
    finally:
        store.close()


def test_wrap_up_time_left_follows_the_members_wrapuptime() -> None:
    from wallboard.live.events import AgentComplete, AgentConnect

    s = state()
    s.apply(QueueMember("sales", "PJSIP/1", name="Alice", status=1, wrapuptime=30), T0)
    s.apply(QueueMember("sales", "PJSIP/2", name="Bob", status=1, wrapuptime=0), T0)
    for interface, name in (("PJSIP/1", "Alice"), ("PJSIP/2", "Bob")):
        s.apply(AgentConnect("sales", interface, name, f"u-{name}", 3, 1, "100", "X"), T0 + 5)
        s.apply(AgentComplete("sales", interface, name, f"u-{name}", 3, 60, "caller"), T0 + 65)
    members = s.snapshot()["queues"]["sales"]["members"]
    assert members["PJSIP/1"]["wrapup_until"] == T0 + 95
    assert "wrapup_until" not in members["PJSIP/2"]  # no wrap-up time: none shown
    # The queue's own wrap-up time (queues.conf: the settings say it, AMI does not).
    s = CallCenterState("UTC", lambda queue: 20, wrapup_times={"sales": 15})
    s.apply(QueueMember("sales", "PJSIP/2", name="Bob", status=1, wrapuptime=0), T0)
    s.apply(AgentConnect("sales", "PJSIP/2", "Bob", "u2", 3, 1, "100", "X"), T0 + 5)
    s.apply(AgentComplete("sales", "PJSIP/2", "Bob", "u2", 3, 60, "caller"), T0 + 65)
    assert s.snapshot()["queues"]["sales"]["members"]["PJSIP/2"]["wrapup_until"] == T0 + 80


def test_the_settings_queue_names_reach_the_reports(tmp_path) -> None:
    from tests.test_reports import DAY1, DAY_ONE, URL, auth, make_client

    client = make_client(tmp_path, DAY_ONE, timezone="UTC", queues={"sales": "Sales team"})
    rows = client.get(URL, params={"entity": "reports/answered_calls_detail", "start": DAY1,
                                   "end": DAY1}, headers=auth("admin")).json()["rows"]  # fmt: skip
    sales = [row for row in rows if row["queue"] == "sales"]
    assert sales and {row["queueName"] for row in sales} == {"Sales team"}  # the id stays
    queues = client.get(URL, params={"entity": "queues"}, headers=auth("admin")).json()["data"]
    assert {q["queue"]: q["queue_name"] for q in queues}["sales"] == "Sales team"
