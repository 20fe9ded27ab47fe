"""The call model: a golden queue_log covering every event and variant, with hand-written outcomes."""

from pathlib import Path

from wallboard.history.calls import STALE, CallChange, CallTracker, Interval, QueueCall
from wallboard.history.queuelog import Record, parse_line

GOLDEN = Path(__file__).parent / "fixtures" / "golden_queue_log"
T = 1700000000

# (callid, queue) -> (enter, connect, end, outcome, agent, wait, ring, talk), worked out by hand
# from the protocol reference, line by line.
EXPECTED = {
    ("c1.1", "sales"): (T + 10, T + 22, T + 82, "COMPLETECALLER", "Carol", 12, 7, 60),
    ("c2.1", "sales"): (T + 20, T + 50, T + 140, "COMPLETEAGENT", "Bob", 30, 3, 90),
    ("c3.1", "sales"): (T + 30, None, T + 75, "ABANDON", None, 45, None, None),
    ("c4.1", "support"): (T + 100, None, T + 400, "EXITWITHTIMEOUT", None, 300, None, None),
    ("c4.1", "sales"): (T + 400, T + 410, T + 470, "BLINDTRANSFER", "Alice", 10, 2, 60),
    ("c5.1", "support"): (T + 500, None, T + 505, "EXITWITHKEY", None, 5, None, None),
    ("c6.1", "support"): (T + 600, None, T + 604, "EXITEMPTY", None, 4, None, None),
    ("c7.1", "support"): (T + 700, None, T + 720, "WITHDRAW", None, 20, None, None),
    ("c8.1", "sales"): (T + 800, T + 805, T + 905, "ATTENDEDTRANSFER", "Carol", 5, 4, 100),
    ("c9.1", "sales"): (T + 900, T + 908, T + 968, "ATTENDEDTRANSFER", "Bob", 8, 2, 60),
    ("c10.1", "sales"): (T + 1000, T + 1003, T + 1033, "COMPLETEAGENT", "Alice", 3, None, 30),
    ("c11.1", "sales"): (T + 1100, T + 1104, T + 1124, "TRANSFER", "Alice", 4, None, 20),
    # 1.8 wrote only the position: the wait is the time between ENTERQUEUE and the exit
    ("c12.1", "support"): (T + 1200, None, T + 1230, "EXITWITHTIMEOUT", None, 30, None, None),
    ("c13.1", "support"): (T + 1300, None, T + 1310, "EXITWITHKEY", None, 10, None, None),
    ("c14.1", "sales"): (T + 1400, None, T + 1420, "ABANDON", None, 20, None, None),
    # still talking when the PBX restarted (QUEUESTART): answered, closed at the restart
    ("c15.1", "sales"): (T + 1500, T + 1505, T + 2000, STALE, "Carol", 5, 1, 495),
    ("c16.1", "sales"): (T + 1650, None, T + 1651, "SYSCOMPAT", None, 1, None, None),
    # still waiting at the restart: unanswered, waited until it
    ("c18.1", "sales"): (T + 1900, None, T + 2000, STALE, None, 100, None, None),
}
ANSWERED = {"c1.1", "c2.1", "c4.1/sales", "c8.1", "c9.1", "c10.1", "c11.1", "c15.1"}


def run_golden(split_at: int | None = None) -> tuple[dict, list[Interval], list[CallChange]]:
    lines = GOLDEN.read_text().splitlines()
    records = [parse_line(line) for line in lines]
    assert all(isinstance(r, Record) for r in records)
    tracker = CallTracker(keep_before=True)
    calls: list[CallChange] = []
    intervals: list[Interval] = []
    for n, record in enumerate(records):
        if split_at is not None and n == split_at:  # a restart: a new tracker from the open state
            _, changes, changed = tracker.take()
            calls += changes
            intervals += changed
            tracker = CallTracker(
                list(tracker.calls.values()), list(tracker.intervals.values()), tracker.dids,
                keep_before=True, next_id=tracker.next_id,
            )
        tracker.apply(record)
    _, changes, changed = tracker.take()
    calls += changes
    intervals += changed
    final: dict[tuple[str, str], QueueCall] = {}
    for change in calls:
        final[(change.after.callid, change.after.queue)] = change.after
    return final, intervals, calls


def check_calls(final: dict) -> None:
    assert set(final) == set(EXPECTED)
    for key, expected in EXPECTED.items():
        call = final[key]
        got = (call.enter_time, call.connect_time, call.end_time, call.outcome, call.agent,
               call.wait, call.ring, call.talk)  # fmt: skip
        assert got == expected, key
        label = key[0] if key[0] != "c4.1" else f"c4.1/{key[1]}"
        assert call.answered == (label in ANSWERED), key
        assert call.unanswered == (label not in ANSWERED), key
        assert call.abandoned == (call.outcome == "ABANDON"), key


def test_golden_queue_calls():
    final, _, _ = run_golden()
    check_calls(final)
    c1 = final[("c1.1", "sales")]
    assert (c1.did, c1.url, c1.callerid, c1.origpos, c1.member_uid) == (
        "5551000", "http://crm/1", "5550001", 1, "c1.2",
    )
    assert final[("c4.1", "support")].callerid_name == "Jane Doe"
    assert final[("c4.1", "sales")].target == "2000@default"
    assert final[("c8.1", "sales")].target == "BRIDGE|f00d-1234"
    assert final[("c9.1", "sales")].target == "LINK|PJSIP/101-1|PJSIP/300-2"
    assert final[("c11.1", "sales")].url == "url"


def test_golden_split_anywhere_gives_the_same_calls():
    whole, _, _ = run_golden()
    for split in range(1, 62, 3):
        final, _, _ = run_golden(split)
        check_calls(final)
        assert final == whole


def test_golden_agent_sessions_and_pauses():
    _, intervals, _ = run_golden()
    final = {(i.kind, i.agent, i.queue, i.start): (i.end, i.reason) for i in intervals}
    assert final == {
        ("pause", "Alice", "sales", T + 1): (T + 1500, "Lunch"),
        ("session", "PJSIP/101", "sales", T + 2): (T + 1600, ""),
        ("session", "PJSIP/102", "support", T + 3): (T + 2000, ""),  # closed by QUEUESTART
        ("pause", "PJSIP/102", "support", T + 3): (T + 2000, ""),  # added paused
        ("pause", "Bob", "sales", T + 1510): (T + 1520, "Break"),
        ("session", "1001", "NONE", T + 1540): (T + 1640, ""),
    }


def test_changes_carry_the_state_before():
    _, _, changes = run_golden()
    c2 = [c for c in changes if c.after.callid == "c2.1"]
    assert [c.before.outcome if c.before else "new" for c in c2] == ["new", None, "CONNECT"]


def test_expire_closes_forgotten_calls():
    tracker = CallTracker(keep_before=True)
    tracker.apply(parse_line("100|x.1|q|NONE|ENTERQUEUE||555|1"))
    tracker.expire(100 + 3600, 3600)
    assert tracker.calls
    tracker.expire(100 + 3601, 3600)
    assert not tracker.calls
    out = tracker.take()[1]
    assert out[-1].after.outcome == STALE and out[-1].after.unanswered


def test_reentering_the_same_queue_makes_two_queue_calls():
    tracker = CallTracker()
    for line in [
        "100|x.1|q|NONE|ENTERQUEUE||555|1",
        "130|x.1|q|NONE|EXITWITHKEY|1|1|1|30",
        "140|x.1|q|NONE|ENTERQUEUE||555|1",
        "150|x.1|q|Bob|CONNECT|10|m|2",
        "200|x.1|q|Bob|COMPLETECALLER|10|50|1",
    ]:
        tracker.apply(parse_line(line))
    stays = {(c.enter_time, c.outcome) for c in tracker.take()[0]}
    assert stays == {(100, "EXITWITHKEY"), (140, "COMPLETECALLER")}


def test_outcome_without_enterqueue_still_makes_a_call():
    tracker = CallTracker()
    tracker.apply(parse_line("200|y.1|q|Bob|COMPLETEAGENT|10|50|1"))
    call = tracker.take()[0][-1]
    assert (call.enter_time, call.connect_time, call.answered) == (140, 150, True)
