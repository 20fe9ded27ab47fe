"""The `entity=realtime` REST shape (Asternic-compatible) computed from a live-state snapshot.

Pure. Every number is a string, as Asternic does. The formulas are public helpers so the REST
reports compute today's figures the same way (invariant 2):

- Abandon Rate = percent(abandoned, received)                     e.g. "12.50"
- Avg Wait     = average(wait_answered_sum, answered)             whole seconds
- Avg Duration = average(talk_sum, completed)                     whole seconds (ended calls)
- Service Level= percent(sl_within, answered)                     SL answered %, wait <= T
- Max. wait time = max(longest wait of today's calls, longest wait of callers waiting now)

Keys are added, never renamed: beside the capitalised keys of the original's documentation come
the lower-case ones its own clients read (the PHP wallboard demo: `status` in the original's
vocabulary, `paused`, `location`, `lastCall`, ...) and the first API version's summary names
(`staffed`, `talking`, `answeredCals` as the original spells it, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wallboard.history.callmodel import average, percent
from wallboard.live.views import View, filter_state

_LOGGED_OFF = frozenset(("unavailable", "invalid"))
_BUSY = frozenset(("busy", "onhold"))
# Device state (enum ast_device_state) -> the original's `status` words, for a member not on a
# call from these queues: a device in use then is a call of its own ("dialout").
ASTERNIC_STATUS = {
    0: "not in use", 1: "not in use", 2: "dialout", 3: "dialout", 4: "invalid",
    5: "unavailable", 6: "ringing", 7: "ringing", 8: "on hold",
}  # fmt: skip
ON_QUEUE_CALL = "busy"


def is_available(member: dict[str, Any]) -> bool:
    """Available: not paused, not on a call, device available (the summary's and alerts')."""
    return (member.get("status_text") == "available" and not member.get("paused")
            and not member.get("in_call"))  # fmt: skip


def asternic_status(device_status: int, on_queue_call: bool) -> str:
    """A member's `status` as the original's clients style it."""
    if on_queue_call:
        return ON_QUEUE_CALL
    return ASTERNIC_STATUS.get(device_status, "invalid")


def clock_text(seconds: int) -> str:
    """HH:MM:SS (hours past 99 keep counting)."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _seconds(now: float, since: float) -> int:
    return max(0, int(now - since))


def _summary(queue: dict[str, Any], now: float) -> dict[str, str]:
    """One queue's summary row.

    Agents = members; Available = not paused, not in a call, device available; Busy = in a
    call or device busy/on hold; Logged Off = device unavailable/invalid; Paused = paused and
    not logged off; Penalty = members with a penalty above 0; Waiting = callers waiting now.
    """
    members = queue.get("members", {}).values()
    callers = queue.get("callers", {}).values()
    counters = queue.get("counters", {})
    available = busy = logged_off = paused = penalty = 0
    for m in members:
        text = m.get("status_text", "")
        off = text in _LOGGED_OFF
        logged_off += off
        paused += bool(m.get("paused")) and not off
        busy += not off and (bool(m.get("in_call")) or text in _BUSY)
        available += is_available(m)
        penalty += m.get("penalty", 0) > 0
    longest_now = max((_seconds(now, c.get("since", now)) for c in callers), default=0)
    received = counters.get("received", 0)
    answered = counters.get("answered", 0)
    abandon_rate = percent(counters.get("abandoned", 0), received)
    avg_wait = average(counters.get("wait_answered_sum", 0), answered)
    avg_duration = average(counters.get("talk_sum", 0), counters.get("completed", 0))
    return {
        "Waiting": str(len(callers)),
        "Agents": str(len(members)),
        "Available": str(available),
        "Penalty": str(penalty),
        "Logged Off": str(logged_off),
        "Busy": str(busy),
        "Paused": str(paused),
        "Received": str(received),
        "Answered": str(answered),
        "Unanswered": str(counters.get("unanswered", 0)),
        "Abandoned": str(counters.get("abandoned", 0)),
        "Abandon Rate": abandon_rate,
        "Avg Wait": avg_wait,
        "Avg Duration": avg_duration,
        "Max. wait time": str(max(counters.get("max_wait", 0), longest_now)),
        "Service Level": percent(counters.get("sl_within", 0), answered),
        "maxWaitTime": str(longest_now),
        # The first API version's names.
        "staffed": str(len(members) - logged_off),
        "talking": str(busy),
        "auxiliary": str(paused),
        "answeredCals": str(answered),
        "unansweredCalls": str(counters.get("unanswered", 0)),
        "abandonRate": abandon_rate,
        "averageWaitTime": avg_wait,
        "averageCallTime": clock_text(int(avg_duration)),
        "callsWaiting": str(len(callers)),
        "pbx": str(queue.get("pbx", "")),
        # Unanswered calls whose abandon AMI could not tell (history from AMI alone).
        "Abandon Unknown": str(counters.get("abandon_unknown", 0)),
    }


def queue_calls_of(queues: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each member (interface) on a call from one of these queues: (queue, member entry).
    Asterisk flags `InCall` only in the queue of the call, so this looks across all queues."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, queue in sorted(queues.items()):
        for interface, member in queue.get("members", {}).items():
            if member.get("in_call") and interface not in calls:
                calls[interface] = (name, member)
    return calls


def _same(name: str) -> str:
    return name


def _agents(
    queue: dict[str, Any],
    now: float,
    calls: dict[str, tuple[str, dict[str, Any]]],
    view: View | None = None,
    resolve: Callable[[str], str] = _same,
    day_start: float | None = None,
) -> dict[str, dict[str, str]]:
    """Members by agent name (the registry's, `resolve`; interface when names collide).
    `Status` is "busy" while in a call from this queue; `status` (the original's vocabulary)
    is "busy" on a call from any of the queues, whose name and caller are shown only when the
    viewer may see that queue. `loggedIn` is today's time since Asterisk's LoginTime."""
    rows: dict[str, dict[str, str]] = {}
    today = queue.get("agents_today") or {}
    resolved = {resolve(agent): figures for agent, figures in today.items()}
    for interface, m in sorted(queue.get("members", {}).items()):
        name = resolve(m.get("name") or interface)
        if name == interface:
            name = resolve(interface)
        if name in rows:
            name = interface
        in_call = bool(m.get("in_call"))
        call_queue, call = calls.get(interface, ("", None))
        shown = call is not None and (view is None or view.sees_queue(call_queue))
        paused = bool(m.get("paused"))
        pause_since = (m.get("paused_since") or m.get("last_pause") or m.get("since", now)
                       if paused else now)  # fmt: skip
        figures = (today.get(m.get("name") or "") or today.get(interface) or resolved.get(name)
                   or {})  # fmt: skip
        rows[name] = {
            "Status": "busy" if in_call else m.get("status_text", ""),
            "Duration": str(_seconds(now, m.get("since", now))),
            "CallerID": m.get("callerid", "") if in_call else "",
            "Penalty": str(m.get("penalty", 0)),
            "Last call": str(m.get("last_call", 0)),
            "Calls answered": str(m.get("calls_taken", 0)),
            "Paused": "1" if paused else "0",
            "Reason": m.get("pause_reason", ""),
            # What the original's own clients read.
            "status": asternic_status(int(m.get("status", 0)), call is not None),
            "paused": "1" if paused else "0",
            "location": interface,
            "lastCall": str(m.get("last_call", 0)),
            "callerid": call.get("callerid", "") if shown and call is not None else "",
            "penalty": str(m.get("penalty", 0)),
            "duration": str(_seconds(now, m.get("since", now))),
            "auxType": m.get("pause_reason", "") if paused else "",
            "auxSeconds": str(_seconds(now, pause_since)) if paused else "0",
            "callFromQueue": call_queue if shown else "",
            "loggedIn": _logged_in(m.get("login_time", 0), now, day_start),
            # Today's figures from the queue_log call model (as the reports count them).
            "answeredToday": str(figures.get("answered", 0)),
            "talkTimeToday": str(figures.get("talk", 0)),
            "missedToday": str(figures.get("missed", 0)),
            "pausedToday": str(figures.get("paused", 0)),
        }
    return rows


def _logged_in(login_time: int, now: float, day_start: float | None) -> str:
    """Seconds logged in today by Asterisk's LoginTime (16.23+), "" when it does not say."""
    if not login_time:
        return ""
    since = max(login_time, day_start) if day_start is not None else login_time
    return str(_seconds(now, since))


def _waiting(queue: dict[str, Any], now: float) -> dict[str, dict[str, str]]:
    """Waiting callers numbered "1", "2"... in queue order."""
    ordered = sorted(
        queue.get("callers", {}).items(), key=lambda kv: (kv[1].get("position", 0), kv[0])
    )
    return {
        str(index): {
            "calleridNum": caller.get("callerid_num", ""),
            "calleridName": caller.get("callerid_name", ""),
            "waitTime": str(_seconds(now, caller.get("since", now))),
        }
        for index, (_, caller) in enumerate(ordered, start=1)
    }


def realtime_view(
    snapshot: dict[str, Any],
    view: View,
    now: float,
    resolve: Callable[[str], str] = _same,
    day_start: float | None = None,
) -> dict[str, Any]:
    """`{"waiting calls", "summary": {"queue"}, "agents", "pbxs"}` of what `view` shows of a
    live snapshot (live/views.py, as the websocket filters it: its queues, and with an agent
    restriction only those members; the queues' call figures stay whole). `pbxs`: each PBX's
    AMI link and history source; `alerts`: each alert rule and what of it fires for the view."""
    calls = queue_calls_of(snapshot.get("queues", {}))  # a call may be from a hidden queue
    shown = filter_state(snapshot, view)
    queues = shown.get("queues", {})
    names = sorted(queues)
    return {
        "waiting calls": {name: _waiting(queues[name], now) for name in names},
        "summary": {"queue": {name: _summary(queues[name], now) for name in names}},
        "agents": {
            name: _agents(queues[name], now, calls, view, resolve, day_start)
            for name in names
        },
        "pbxs": {name: _pbx(pbx) for name, pbx in sorted(shown.get("pbxs", {}).items())},
        "alerts": {name: _alert(rule) for name, rule in sorted(shown.get("alerts", {}).items())},
    }


def _number(value: Any) -> str:
    number = float(value or 0)
    return str(int(number)) if number.is_integer() else f"{number:.2f}"


def _alert(rule: dict[str, Any]) -> dict[str, Any]:
    """One alert rule: its level, whether it fires and since when, and what fires (text)."""
    return {
        "metric": str(rule.get("metric", "")), "op": str(rule.get("op", "")),
        "threshold": _number(rule.get("threshold")), "clear": _number(rule.get("clear")),
        "state": str(rule.get("state", "ok")), "since": str(int(rule.get("since", 0))),
        "firing": {
            key: {"queue": str(s.get("queue", "")), "agent": str(s.get("agent", "")),
                  "pbx": str(s.get("pbx", "")), "value": _number(s.get("value")),
                  "since": str(int(s.get("since", 0)))}
            for key, s in sorted((rule.get("subjects") or {}).items())
        },
    }  # fmt: skip


def _pbx(pbx: dict[str, Any]) -> dict[str, str]:
    """One PBX's link and history source, as text like the rest of the entity."""
    return {
        "connected": "1" if pbx.get("connected") else "0",
        "since": str(int(pbx.get("since", 0))),
        "error": str(pbx.get("error", "")),
        "history": str(pbx.get("history", "")),
        "historyOk": "1" if pbx.get("history_ok", True) else "0",
        "historyError": str(pbx.get("history_error", "")),
    }
