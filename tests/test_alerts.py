"""Alert rules in the pure core: each metric fires and clears at the right moments on a scripted
sequence of events, with its hysteresis; the state survives a QueueStatus resync; restricted
views see only their subjects; the settings refuse a rule that could never clear."""

from __future__ import annotations

import pytest

from wallboard.config import AlertRule, SettingsError, load_settings
from wallboard.history.calls import CallChange, QueueCall
from wallboard.live.events import (
    CallerJoin,
    CallerLeave,
    Connection,
    MemberAdded,
    MemberPause,
    QueueEntry,
    QueueMember,
    QueueParams,
)
from wallboard.live.patch import merge_patch
from wallboard.live.realtime import realtime_view
from wallboard.live.state import CallCenterState
from wallboard.live.views import filter_patch, filter_state, make_view

T0 = 1_709_712_000.0  # 2024-03-06 08:00 UTC


def rule(name: str, metric: str, op: str, threshold: float, clear: float | None = None,
         queues: tuple[str, ...] = ()) -> AlertRule:  # fmt: skip
    return AlertRule(name, metric, op, threshold, threshold if clear is None else clear, queues)


class Script:
    """A state fed events at given times; it mirrors every patch as a browser would."""

    def __init__(self, *rules: AlertRule, **options: object) -> None:
        self.state = CallCenterState("UTC", lambda queue: 20, alert_rules=rules, **options)
        self.mirror: dict = self.state.snapshot()  # what a client starts from
        self.seen: list[tuple[str, str, str, float]] = []

    def _took(self, patch: dict, now: float) -> None:
        self.mirror = merge_patch(self.mirror, patch)
        for t in self.state.take_transitions():
            self.seen.append((t.rule.name, t.kind, t.subject, now - T0))

    def at(self, seconds: float, event: object) -> None:
        self._took(self.state.apply(event, T0 + seconds), T0 + seconds)

    def tick(self, seconds: float) -> None:
        self._took(self.state.tick(T0 + seconds), T0 + seconds)

    def reset(self, seconds: float, events: list) -> None:
        self._took(self.state.reset(events, T0 + seconds), T0 + seconds)

    def alert(self, name: str) -> dict:
        assert self.mirror["alerts"][name] == self.state.snapshot()["alerts"][name]
        return self.mirror["alerts"][name]


def join(queue: str, uid: str) -> CallerJoin:
    return CallerJoin(queue, uid, callerid_num="555" + uid)


def test_waiting_fires_above_and_clears_only_at_its_clear_level() -> None:
    s = Script(rule("busy", "waiting", "above", 2, clear=0))
    s.at(0, QueueParams("sales"))
    s.at(1, join("sales", "a"))
    s.at(2, join("sales", "b"))
    assert s.seen == [] and s.alert("busy")["state"] == "ok"  # 2 is not above 2
    s.at(3, join("sales", "c"))
    assert s.seen == [("busy", "firing", "sales", 3)]
    assert s.alert("busy")["state"] == "firing" and s.alert("busy")["since"] == int(T0 + 3)
    assert s.alert("busy")["subjects"]["sales"] == {"queue": "sales", "agent": "", "pbx": "default",
                                                    "value": 3, "since": int(T0 + 3)}  # fmt: skip
    s.at(4, CallerLeave("sales", "a"))
    s.at(5, CallerLeave("sales", "b"))
    s.at(6, join("sales", "d"))  # back up to 2, then 3: no flapping, no second firing
    s.at(7, join("sales", "e"))
    assert s.seen == [("busy", "firing", "sales", 3)]
    for uid, when in (("c", 8), ("d", 9)):
        s.at(when, CallerLeave("sales", uid))
    assert s.alert("busy")["state"] == "firing"  # 1 waiting: above the clear level 0
    s.at(10, CallerLeave("sales", "e"))
    assert s.seen[-1] == ("busy", "cleared", "sales", 10)
    assert s.alert("busy") | {"subjects": {}} == s.alert("busy")
    assert s.alert("busy")["state"] == "ok" and s.alert("busy")["since"] == int(T0 + 10)


def test_longest_wait_fires_on_the_clock_tick_and_clears_when_the_caller_is_answered() -> None:
    s = Script(rule("slow", "longest_wait", "above", 60, clear=30, queues=("support",)))
    s.at(0, join("support", "x"))
    s.at(0, join("sales", "y"))  # not in the rule's queues
    for second in range(1, 61):
        s.tick(second)
    assert s.seen == []
    s.tick(61)
    assert s.seen == [("slow", "firing", "support", 61)]
    s.tick(62)
    assert s.alert("slow")["subjects"]["support"]["value"] == 62  # the value follows
    s.at(63, CallerLeave("support", "x"))
    assert s.seen[-1] == ("slow", "cleared", "support", 63)
    assert "sales" not in s.alert("slow")["subjects"]


def member(queue: str, interface: str, name: str, **fields: object) -> QueueMember:
    values = {"status": 1, "paused": False, "in_call": False, "membership": "dynamic"} | fields
    return QueueMember(queue, interface, name=name, **values)


def test_available_below_fires_when_the_last_agent_pauses() -> None:
    s = Script(rule("staffed", "available", "below", 1))
    s.reset(0, [QueueParams("sales"), member("sales", "PJSIP/1", "Alice"),
                member("sales", "PJSIP/2", "Bob", paused=True)])  # fmt: skip
    assert s.seen == []
    s.at(5, MemberPause("sales", "PJSIP/1", paused=True, paused_reason="Lunch"))
    assert s.seen == [("staffed", "firing", "sales", 5)]
    s.at(9, MemberPause("sales", "PJSIP/2", paused=False))
    assert s.seen[-1] == ("staffed", "cleared", "sales", 9)


def test_paused_fires_per_agent_after_its_minutes_and_survives_other_queues() -> None:
    s = Script(rule("long-pause", "paused", "above", 10))
    s.reset(0, [member("sales", "PJSIP/1", "Alice"), member("support", "PJSIP/1", "Alice")])
    s.at(60, MemberPause("sales", "PJSIP/1", paused=True, paused_reason="Break"))
    s.at(60, MemberPause("support", "PJSIP/1", paused=True, paused_reason="Break"))
    assert s.state.snapshot()["queues"]["sales"]["members"]["PJSIP/1"]["paused_since"] == int(T0 + 60)
    s.tick(660)  # exactly 10 minutes: not above
    s.tick(661)
    assert s.seen == [("long-pause", "firing", "Alice", 661)]  # one subject for both queues
    s.at(700, MemberPause("sales", "PJSIP/1", paused=False))
    assert len(s.seen) == 1  # still paused in support
    s.at(701, MemberPause("support", "PJSIP/1", paused=False))
    assert len(s.seen) == 1  # agent subjects span queues: judged on the clock tick
    s.tick(702)
    assert s.seen[-1] == ("long-pause", "cleared", "Alice", 702)


def call(n: int, wait: int, answered: bool = True) -> CallChange:
    enter = int(T0) + n * 60
    if answered:
        done = QueueCall(n, f"c{n}", "sales", enter, enter + wait, enter + wait + 30,
                         "COMPLETECALLER", "Alice", wait, talk=30)  # fmt: skip
    else:
        done = QueueCall(n, f"c{n}", "sales", enter, None, enter + wait, "ABANDON", wait=wait)
    return CallChange(None, done)


def test_service_level_and_abandon_rate_wait_for_min_calls_then_keep_their_hysteresis() -> None:
    sl = AlertRule("sl", "service_level", "below", 80, 90, min_calls=3)
    abandons = AlertRule("abandons", "abandon_rate", "above", 20, 10, min_calls=4)
    s = Script(sl, abandons)
    s.at(0, QueueParams("sales"))
    for second in range(1, 5):
        s.tick(second)
    assert s.seen == []  # no call today yet: nothing to judge
    s.at(60, call(1, 45))  # answered late: SL 0 %, but one call says nothing yet
    s.at(120, call(2, 45))
    assert s.seen == []
    s.at(180, call(3, 5))  # 1 of 3 within 20 s: 33 %, three calls: it fires
    assert s.seen == [("sl", "firing", "sales", 180)]
    for n in range(4, 12):  # on time from now on: 9 of 11 = 81.8 %, not yet back at 90
        s.at(60 * n, call(n, 5))
    assert s.alert("sl")["state"] == "firing" and s.alert("sl")["subjects"]["sales"]["value"] == 81.82
    for n in range(12, 21):  # 18 of 20 = 90 %: cleared
        s.at(60 * n, call(n, 5))
    assert s.seen[-1] == ("sl", "cleared", "sales", 60 * 20)
    for n in range(21, 27):  # six abandons of 26 calls: 23 % abandoned
        s.at(60 * n, call(n, 30, answered=False))
    assert ("abandons", "firing", "sales", 60 * 26) in s.seen


def test_pbx_down_counts_seconds_from_the_links_loss() -> None:
    s = Script(rule("link", "pbx_down", "above", 30))
    s.at(0, Connection(True))
    s.at(10, Connection(False, "connection refused"))
    s.tick(40)
    assert s.seen == []
    s.tick(41)
    assert s.seen == [("link", "firing", "default", 41)]
    s.at(50, Connection(True))
    assert s.seen[-1] == ("link", "cleared", "default", 50)


def test_a_resync_keeps_what_fires_and_since_when() -> None:
    s = Script(rule("busy", "waiting", "above", 1))
    s.at(0, join("sales", "a"))
    s.at(1, join("sales", "b"))
    assert s.seen == [("busy", "firing", "sales", 1)]
    # The AMI link drops and comes back: QueueStatus reports the same two callers.
    s.at(5, Connection(False, "reset"))
    s.at(6, Connection(True))
    s.reset(6, [QueueParams("sales"), QueueEntry("sales", "a", 1, 6), QueueEntry("sales", "b", 2, 5)])
    assert s.seen == [("busy", "firing", "sales", 1)]  # no clear, no second firing
    assert s.alert("busy")["subjects"]["sales"]["since"] == int(T0 + 1)
    # A resync that finds the queue empty clears it.
    s.reset(9, [QueueParams("sales")])
    assert s.seen[-1] == ("busy", "cleared", "sales", 9)


def test_a_restricted_view_sees_only_its_queues_alerts() -> None:
    s = Script(rule("busy", "waiting", "above", 0))
    s.at(0, join("sales", "a"))
    before = s.state.snapshot()
    s.at(1, join("support", "b"))
    after = s.state.snapshot()
    view = make_view(queues=["support"])
    shown = filter_state(after, view)["alerts"]["busy"]
    assert set(shown["subjects"]) == {"support"} and shown["state"] == "firing"
    assert filter_state(before, view)["alerts"]["busy"]["state"] == "ok"
    patch = {"alerts": {"busy": {"subjects": {"support": after["alerts"]["busy"]["subjects"]["support"]}}},
             "queues": {"support": after["queues"]["support"]}}  # fmt: skip
    seen = filter_patch(patch, before, after, view)
    assert merge_patch(filter_state(before, view), seen)["alerts"] == filter_state(after, view)["alerts"]
    body = realtime_view(after, view, T0 + 2)
    assert body["alerts"]["busy"]["state"] == "firing"
    assert set(body["alerts"]["busy"]["firing"]) == {"support"}
    assert body["alerts"]["busy"]["firing"]["support"]["value"] == "1"
    assert realtime_view(after, make_view(queues=["sales"]), T0 + 2)["alerts"]["busy"]["firing"].keys() == {"sales"}


def test_queue_display_names_are_carried_by_the_queues() -> None:
    s = Script(queue_names={"2000": "Sales"})
    s.at(0, QueueParams("2000"))
    s.at(0, QueueParams("2001"))
    queues = s.state.snapshot()["queues"]
    assert queues["2000"]["display_name"] == "Sales" and "display_name" not in queues["2001"]
    assert "alerts" not in s.state.snapshot()  # no rules: no key


def test_member_added_in_a_pause_takes_asterisks_last_pause() -> None:
    s = Script()
    s.at(100, MemberAdded("sales", "PJSIP/1", name="Alice", paused=True, last_pause=int(T0 + 40), status=1))
    assert s.state.snapshot()["queues"]["sales"]["members"]["PJSIP/1"]["paused_since"] == int(T0 + 40)


@pytest.mark.parametrize(("table", "message"), [
    ({"name": "x", "metric": "waiting", "above": 5, "clear": 8}, "clear must be at or below"),
    ({"name": "x", "metric": "available", "below": 2, "clear": 1}, "clear must be at or above"),
    ({"name": "x", "metric": "queue_length", "above": 5}, "metric must be one of"),
    ({"name": "x", "metric": "waiting", "above": 5, "below": 1}, "either above = N or below = N"),
    ({"name": "x", "metric": "waiting"}, "either above = N or below = N"),
    ({"name": "x", "metric": "waiting", "above": 1, "webhook": "ftp://h"}, "http:// or https://"),
    ({"name": "x", "metric": "waiting", "above": 1, "email": ["a@b.example"]}, "no smtp_host"),
    ({"name": "x", "metric": "waiting", "above": 1, "colour": "red"}, r"unknown key\(s\) colour"),
])  # fmt: skip
def test_bad_rules_are_refused_with_what_is_wrong(tmp_path, table, message) -> None:
    import json

    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in table.items())
    path = tmp_path / "w.toml"
    path.write_text(f"[wallboard]\n[[alert]]\n{lines}\n")
    with pytest.raises(SettingsError, match=message):
        load_settings(path, environ={})
