"""Alert rules evaluated against the live state: pure, fed plain data and `now`.

Each rule of the settings (`[[alert]]`, config.AlertRule) watches one metric per subject: a
queue (waiting, longest_wait, service_level, abandon_rate, available), an agent (paused, in the
rule's queues) or a PBX (pbx_down). A subject fires when its value passes the rule's level and
clears only once back at the rule's `clear` level (the hysteresis). What fires is part of the
live state, under "alerts":

    {rule: {"metric", "op": "above"|"below", "threshold", "clear", "state": "ok"|"firing",
            "since": epoch of the last change of state,
            "subjects": {subject id: {"queue", "agent", "pbx", "value", "since"}}}}

and each fire or clear is also a `Transition`, for the notifier to send. A resync replaces the
queues, not this: a subject still past its level stays firing with its first `since`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wallboard.config import AlertRule
from wallboard.history.callmodel import percent
from wallboard.history.naming import pbx_of
from wallboard.live.realtime import is_available

# The part of a queue each queue metric reads: a change elsewhere cannot move its value.
READS = {"waiting": "callers", "longest_wait": "callers", "available": "members",
         "service_level": "counters", "abandon_rate": "counters"}  # fmt: skip


@dataclass(frozen=True)
class Transition:
    """A subject of a rule started (`firing`) or stopped (`cleared`) at `at`."""

    rule: AlertRule
    kind: str  # "firing" or "cleared"
    subject: str
    queue: str
    agent: str
    pbx: str
    value: float
    at: float
    since: float  # when it started firing


def queue_value(
    metric: str, queue: Mapping[str, Any], now: float, min_calls: int = 0
) -> float | None:
    """A queue metric's value now; None when it has none yet (a rate before `min_calls` calls
    today: answered ones for the service level, received ones for the abandon rate)."""
    if metric == "waiting":
        return float(len(queue.get("callers") or {}))
    if metric == "longest_wait":
        since = [c.get("since", now) for c in (queue.get("callers") or {}).values()]
        return float(max(0, int(now - min(since)))) if since else 0.0
    if metric == "available":
        return float(sum(1 for m in (queue.get("members") or {}).values() if is_available(m)))
    counters = queue.get("counters") or {}
    if metric == "service_level":
        answered = counters.get("answered", 0)
        if not answered or answered < min_calls:
            return None
        return float(percent(counters.get("sl_within", 0), answered))
    if metric == "abandon_rate":
        received = counters.get("received", 0)
        if not received or received < min_calls:
            return None
        return float(percent(counters.get("abandoned", 0), received))
    raise ValueError(f"not a queue metric: {metric}")


class Alerts:
    """The rules and what fires; `evaluate` returns the state's patch and the transitions."""

    def __init__(self, rules: Sequence[AlertRule]) -> None:
        self._rules = tuple(rules)
        self._state: dict[str, dict[str, Any]] = {
            rule.name: {"metric": rule.metric, "op": rule.op, "threshold": rule.threshold,
                        "clear": rule.clear, "state": "ok", "since": 0, "subjects": {}}
            for rule in self._rules
        }  # fmt: skip

    def __bool__(self) -> bool:
        return bool(self._rules)

    def firing(self) -> dict[str, int]:
        """How many subjects fire now, per rule (for the metrics)."""
        return {name: len(rule["subjects"]) for name, rule in self._state.items()}

    def snapshot(self) -> dict[str, Any]:
        return {name: {**rule, "subjects": {k: dict(v) for k, v in rule["subjects"].items()}}
                for name, rule in self._state.items()}  # fmt: skip

    def evaluate(
        self,
        queues: Mapping[str, Mapping[str, Any]],
        pbxs: Mapping[str, Mapping[str, Any]],
        now: float,
        touched: Mapping[str, Any] | None = None,
        links: bool = True,
    ) -> tuple[dict[str, Any], list[Transition]]:
        """Re-evaluate the rules: every queue, or only those an event `touched` (its patch of
        the queues: a rule looks at a queue only when the part it reads changed; `paused` rules,
        whose subjects span queues, wait for the next full evaluation, the tick's); PBX rules
        when `links`. Returns (patch of "alerts", transitions)."""
        patch: dict[str, Any] = {}
        transitions: list[Transition] = []
        changed: dict[str, frozenset[str]] = {}  # part of a queue -> the touched queues it changed in
        for rule in self._rules:
            only: frozenset[str] | None = None  # None: every subject of the rule was looked at
            if rule.metric == "pbx_down":
                if not links:
                    continue
                found = self._pbx_subjects(pbxs, now)
            elif rule.metric == "paused":
                if touched is not None:
                    continue
                found = self._paused_subjects(rule, queues, now)
            else:
                if touched is not None:
                    part = READS[rule.metric]
                    only = changed.get(part)
                    if only is None:
                        only = changed[part] = frozenset(
                            name for name, change in touched.items()
                            if not isinstance(change, dict) or part in change
                        )
                    if not only:
                        continue
                found = self._queue_subjects(rule, queues, now, only)
            self._apply(rule, found, only, now, patch, transitions)
        return patch, transitions

    # -- the subjects of a rule and their values --------------------------------------------

    def _in_rule(self, rule: AlertRule, queue: str) -> bool:
        return not rule.queues or queue in rule.queues or pbx_of(queue) in rule.queues

    def _queue_subjects(
        self, rule: AlertRule, queues: Mapping[str, Mapping[str, Any]], now: float,
        only: frozenset[str] | None,
    ) -> dict[str, tuple[float | None, str, str, str]]:  # fmt: skip
        found: dict[str, tuple[float | None, str, str, str]] = {}
        for name in queues if only is None else only:
            queue = queues.get(name)
            if queue is not None and self._in_rule(rule, name):
                value = queue_value(rule.metric, queue, now, rule.min_calls)
                found[name] = (value, name, "", str(queue.get("pbx", "")))
        return found

    def _paused_subjects(
        self, rule: AlertRule, queues: Mapping[str, Mapping[str, Any]], now: float
    ) -> dict[str, tuple[float | None, str, str, str]]:  # fmt: skip
        """Per agent (member name), in the rule's queues: minutes since the earliest of its
        current pauses. Agent subjects span queues, so every queue is looked at."""
        found: dict[str, tuple[float | None, str, str, str]] = {}
        for name in sorted(queues):
            if not self._in_rule(rule, name):
                continue
            queue = queues[name]
            for interface, member in (queue.get("members") or {}).items():
                agent = str(member.get("name") or interface)
                start = member.get("paused_since") or 0
                minutes = (now - start) / 60 if member.get("paused") and start else 0.0
                held = found.get(agent)
                if held is None or (held[0] or 0) < minutes:
                    found[agent] = (minutes, name, agent, str(queue.get("pbx", "")))
        return found

    def _pbx_subjects(
        self, pbxs: Mapping[str, Mapping[str, Any]], now: float
    ) -> dict[str, tuple[float | None, str, str, str]]:
        found: dict[str, tuple[float | None, str, str, str]] = {}
        for name, link in pbxs.items():
            if not link.get("ami"):
                continue
            down = 0.0 if link.get("connected") else float(max(0, int(now - (link.get("since") or now))))
            found[name] = (down, "", "", name)
        return found

    # -- fire, clear, keep ------------------------------------------------------------------

    def _apply(
        self, rule: AlertRule,
        subjects_found: dict[str, tuple[float | None, str, str, str]], only: frozenset[str] | None,
        now: float, patch: dict[str, Any], transitions: list[Transition],
    ) -> None:  # fmt: skip
        held = self._state[rule.name]
        subjects: dict[str, dict[str, Any]] = held["subjects"]
        changes: dict[str, Any] = {}
        for subject, (value, queue, agent, pbx) in subjects_found.items():
            current = subjects.get(subject)
            if value is None:
                continue  # no value yet: nothing fires, nothing clears
            shown = round(value, 2)
            if current is None:
                if rule.fires(value):
                    entry = {"queue": queue, "agent": agent, "pbx": pbx, "value": shown,
                             "since": int(now)}  # fmt: skip
                    subjects[subject] = entry
                    changes[subject] = dict(entry)
                    transitions.append(Transition(rule, "firing", subject, queue, agent, pbx,
                                                  shown, now, int(now)))  # fmt: skip
            elif rule.clears(value):
                del subjects[subject]
                changes[subject] = None
                transitions.append(Transition(rule, "cleared", subject, current["queue"],
                                              current["agent"], current["pbx"], shown, now,
                                              current["since"]))  # fmt: skip
            elif current["value"] != shown:
                current["value"] = shown
                changes[subject] = {"value": shown}
        for subject in list(subjects):  # gone (queue deleted, agent removed): cleared
            if subject in subjects_found or (only is not None and subjects[subject]["queue"] not in only):
                continue
            current = subjects.pop(subject)
            changes[subject] = None
            transitions.append(Transition(rule, "cleared", subject, current["queue"],
                                          current["agent"], current["pbx"], current["value"], now,
                                          current["since"]))  # fmt: skip
        if not changes:
            return
        rule_patch: dict[str, Any] = {"subjects": changes}
        state = "firing" if subjects else "ok"
        if state != held["state"]:
            held["state"], held["since"] = state, int(now)
            rule_patch.update(state=state, since=int(now))
        patch[rule.name] = rule_patch
