"""The `entity=realtime` REST shape (Asternic-compatible) computed from a live-state snapshot.

Pure. Every number is a string, as Asternic does. The formulas are public helpers so the REST
reports compute today's figures the same way (invariant 2):

- Abandon Rate = percent(abandoned, received)                     e.g. "12.50"
- Avg Wait     = average(wait_answered_sum, answered)             whole seconds
- Avg Duration = average(talk_sum, completed)                     whole seconds (ended calls)
- Service Level= percent(sl_within, answered)                     SL answered %, wait <= T
- Max. wait time = max(longest wait of today's calls, longest wait of callers waiting now)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_LOGGED_OFF = frozenset(("unavailable", "invalid"))
_BUSY = frozenset(("busy", "onhold"))


def percent(part: int, whole: int) -> str:
    """100 × part / whole with two decimals ("0.00" when whole is 0)."""
    if not whole:
        return "0.00"
    return f"{100 * part / whole:.2f}"


def average(total: int, count: int) -> str:
    """total / count in whole units, halves rounded up ("0" when count is 0)."""
    if count <= 0:
        return "0"
    return str((2 * total + count) // (2 * count))


def _selected(
    queues: Iterable[str], allowed: set[str] | None, wanted: list[str] | None
) -> list[str]:
    names = [q for q in queues if allowed is None or q in allowed]
    if wanted is not None:
        wanted_set = set(wanted)
        names = [q for q in names if q in wanted_set]
    return sorted(names)


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
        available += text == "available" and not m.get("paused") and not m.get("in_call")
        penalty += m.get("penalty", 0) > 0
    longest_now = max((_seconds(now, c.get("since", now)) for c in callers), default=0)
    received = counters.get("received", 0)
    answered = counters.get("answered", 0)
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
        "Abandon Rate": percent(counters.get("abandoned", 0), received),
        "Avg Wait": average(counters.get("wait_answered_sum", 0), answered),
        "Avg Duration": average(counters.get("talk_sum", 0), counters.get("completed", 0)),
        "Max. wait time": str(max(counters.get("max_wait", 0), longest_now)),
        "Service Level": percent(counters.get("sl_within", 0), answered),
    }


def _agents(queue: dict[str, Any], now: float) -> dict[str, dict[str, str]]:
    """Members by name (interface when names collide). Status "busy" while in a queue call."""
    rows: dict[str, dict[str, str]] = {}
    for interface, m in sorted(queue.get("members", {}).items()):
        name = m.get("name") or interface
        if name in rows:
            name = interface
        in_call = bool(m.get("in_call"))
        rows[name] = {
            "Status": "busy" if in_call else m.get("status_text", ""),
            "Duration": str(_seconds(now, m.get("since", now))),
            "CallerID": m.get("callerid", "") if in_call else "",
            "Penalty": str(m.get("penalty", 0)),
            "Last call": str(m.get("last_call", 0)),
            "Calls answered": str(m.get("calls_taken", 0)),
            "Paused": "1" if m.get("paused") else "0",
            "Reason": m.get("pause_reason", ""),
        }
    return rows


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
    allowed_queues: set[str] | None,
    queues_param: list[str] | None,
    now: float,
    allowed_agents: set[str] | None = None,
) -> dict[str, Any]:
    """`{"waiting calls", "summary": {"queue"}, "agents"}` for the queues the user may see
    (`allowed_queues`, None = all) restricted to `queues_param` (the `queues=` list, None = all).

    With `allowed_agents`, only those members (by name) are shown and counted, as on the
    websocket; the queue's call figures stay whole."""
    queues = snapshot.get("queues", {})
    names = _selected(queues, allowed_queues, queues_param)
    if allowed_agents is not None:
        queues = {
            name: {
                **queues[name],
                "members": {
                    interface: member
                    for interface, member in queues[name].get("members", {}).items()
                    if member.get("name") in allowed_agents
                },
            }
            for name in names
        }
    return {
        "waiting calls": {name: _waiting(queues[name], now) for name in names},
        "summary": {"queue": {name: _summary(queues[name], now) for name in names}},
        "agents": {name: _agents(queues[name], now) for name in names},
    }
