"""What a user may see of the live state: one view per permission set (invariant 5), pure.

A view is the queues and agents a group of clients may see; `filter_state` cuts a state or
snapshot down to it and `filter_patch` a merge patch. The websocket hub and `entity=realtime`
both filter through here, so the two cannot disagree on what a restricted user sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wallboard.history.naming import pbx_of
from wallboard.live.patch import diff


@dataclass(frozen=True, slots=True)
class View:
    """What a group of clients may see: queue names and agent (member) names; None = all."""

    queues: frozenset[str] | None = None
    agents: frozenset[str] | None = None

    @property
    def everything(self) -> bool:
        return self.queues is None and self.agents is None

    @property
    def label(self) -> str:
        """A short name for metrics and logs: `all`, or `queues=a,b` / `agents=x`."""
        if self.everything:
            return "all"
        parts = []
        if self.queues is not None:
            parts.append("queues=" + ",".join(sorted(self.queues))[:120])
        if self.agents is not None:
            parts.append("agents=" + ",".join(sorted(self.agents))[:120])
        return " ".join(parts)

    def sees_queue(self, name: str) -> bool:
        """A queue named in the restriction, or on a PBX named there ("site-a": its queues)."""
        return self.queues is None or name in self.queues or pbx_of(name) in self.queues

    def sees_pbx(self, name: str, queues: Any) -> bool:
        """A PBX's link status: for those allowed one of its queues (`queues` of the state)."""
        if self.queues is None or name in self.queues:
            return True
        return isinstance(queues, dict) and any(
            isinstance(q, dict) and q.get("pbx") == name and self.sees_queue(n)
            for n, q in queues.items()
        )

    def sees_member(self, member: Any, interface: str = "") -> bool:
        """Members are matched by their `name` (the agent name of the queue_log and reports) or
        their interface: `agents` holds every name of the allowed agents (Registry.expand)."""
        if self.agents is None:
            return True
        return isinstance(member, dict) and (
            member.get("name") in self.agents or interface in self.agents
        )


def make_view(
    queues: Iterable[str] = (), agents: Iterable[str] = (), chosen: Iterable[str] | None = None
) -> View:
    """The view of a user allowed `queues` and `agents` (empty = all, as `auth.User` has them),
    narrowed to the `chosen` queues (`?queues=`) when given."""
    allowed = frozenset(queues) or None
    if chosen is not None:
        wanted = frozenset(chosen)
        allowed = wanted if allowed is None else allowed & wanted
    return View(allowed, frozenset(agents) or None)


def filter_state(state: dict[str, Any], view: View) -> dict[str, Any]:
    """The part of a live state (or snapshot) a view may see; shares subtrees with `state`."""
    if view.everything:
        return state
    queues = state.get("queues")
    if not isinstance(queues, dict):
        return state
    out = dict(state)
    out["queues"] = {
        name: _filter_queue(queue, view) for name, queue in queues.items() if view.sees_queue(name)
    }
    pbxs = state.get("pbxs")
    if isinstance(pbxs, dict):
        out["pbxs"] = {name: p for name, p in pbxs.items() if view.sees_pbx(name, queues)}
    if "alerts" in state:
        out["alerts"] = filter_alerts(state["alerts"], queues, view)
    return out


def filter_alerts(alerts: Any, queues: Any, view: View) -> Any:
    """The alert rules with only the subjects a view may see (a queue's, an agent's in a
    visible queue, a visible PBX's); a rule fires for the view when one of those does."""
    if view.everything or not isinstance(alerts, dict):
        return alerts
    out: dict[str, Any] = {}
    for name, rule in alerts.items():
        if not isinstance(rule, dict):
            continue
        subjects = {key: s for key, s in (rule.get("subjects") or {}).items()
                    if isinstance(s, dict) and _sees_subject(s, queues, view)}  # fmt: skip
        state = "firing" if subjects else "ok"
        out[name] = {**rule, "subjects": subjects, "state": state}
    return out


def _sees_subject(subject: dict[str, Any], queues: Any, view: View) -> bool:
    queue, agent = subject.get("queue") or "", subject.get("agent") or ""
    if queue:
        return view.sees_queue(queue) and (view.agents is None or agent == "" or agent in view.agents)
    return view.sees_pbx(subject.get("pbx") or "", queues)


def _filter_queue(queue: Any, view: View) -> Any:
    if view.agents is None or not isinstance(queue, dict):
        return queue
    out = _only_their_figures(queue, view)
    members = queue.get("members")
    if not isinstance(members, dict):
        return out
    visible = {i: m for i, m in members.items() if view.sees_member(m, i)}
    return {**out, "members": visible}


def _only_their_figures(queue: dict[str, Any], view: View) -> dict[str, Any]:
    """A queue (or queue patch) with only the view's agents in `agents_today`."""
    figures = queue.get("agents_today")
    if view.agents is None or not isinstance(figures, dict):
        return queue
    kept = {agent: f for agent, f in figures.items() if agent in view.agents}
    out = {key: value for key, value in queue.items() if key != "agents_today"}
    if kept:
        out["agents_today"] = kept
    return out


def filter_patch(
    patch: dict[str, Any], before: dict[str, Any], after: dict[str, Any], view: View
) -> dict[str, Any]:
    """The merge patch a view's clients need for `patch`, which turned `before` into `after`.

    Queues the view cannot see are dropped. With an agent restriction a member entering the
    view (added, or renamed to a visible agent) is sent whole, and one leaving it is deleted.
    """
    if view.everything:
        return patch
    if "alerts" in patch:
        patch = dict(patch)
        seen = diff(filter_alerts(before.get("alerts") or {}, before.get("queues"), view),
                    filter_alerts(after.get("alerts") or {}, after.get("queues"), view))  # fmt: skip
        if seen:
            patch["alerts"] = seen
        else:
            del patch["alerts"]
    if "pbxs" in patch:
        patch = _filter_pbxs(patch, before, after, view)
    if "queues" not in patch:
        return patch
    out = {key: value for key, value in patch.items() if key != "queues"}
    queues_patch = patch["queues"]
    old_queues = before.get("queues")
    if not isinstance(queues_patch, dict) or not isinstance(old_queues, dict):
        out["queues"] = filter_state(after, view).get("queues")
        return out
    new_queues = after.get("queues") or {}
    kept: dict[str, Any] = {}
    for name, queue_patch in queues_patch.items():
        if not view.sees_queue(name):
            continue
        if view.agents is None or queue_patch is None:
            kept[name] = queue_patch
            continue
        if isinstance(queue_patch, dict) and "agents_today" in queue_patch:
            queue_patch = _only_their_figures(queue_patch, view)
            if not queue_patch:
                continue
        old_queue, new_queue = old_queues.get(name), new_queues.get(name)
        if not isinstance(old_queue, dict) or not isinstance(queue_patch, dict):
            kept[name] = _filter_queue(new_queue, view)  # created (or replaced) whole
            continue
        if "members" not in queue_patch:
            kept[name] = queue_patch
            continue
        old_members = old_queue.get("members")
        new_members = new_queue.get("members") if isinstance(new_queue, dict) else None
        members_patch = queue_patch["members"]
        rest = {key: value for key, value in queue_patch.items() if key != "members"}
        if not (
            isinstance(members_patch, dict)
            and isinstance(old_members, dict)
            and isinstance(new_members, dict)
        ):
            rest["members"] = _filter_queue(new_queue, view).get("members")
            kept[name] = rest
            continue
        members: dict[str, Any] = {}
        for interface, member_patch in members_patch.items():
            was = view.sees_member(old_members.get(interface), interface)
            now = view.sees_member(new_members.get(interface), interface)
            if now:
                members[interface] = member_patch if was else new_members[interface]
            elif was:
                members[interface] = None
        if members:
            rest["members"] = members
        if rest:
            kept[name] = rest
    if kept:
        out["queues"] = kept
    return out




def _filter_pbxs(
    patch: dict[str, Any], before: dict[str, Any], after: dict[str, Any], view: View
) -> dict[str, Any]:
    """The patch with only the PBX link changes the view may see (a PBX coming into view, when
    a queue of it appears, is sent whole)."""
    out = {key: value for key, value in patch.items() if key != "pbxs"}
    pbxs_patch = patch["pbxs"]
    found = after.get("pbxs")
    after_pbxs: dict[str, Any] = found if isinstance(found, dict) else {}
    if not isinstance(pbxs_patch, dict):
        out["pbxs"] = {n: p for n, p in after_pbxs.items() if view.sees_pbx(n, after.get("queues"))}
        return out
    kept = {}
    for name, change in pbxs_patch.items():
        now = view.sees_pbx(name, after.get("queues"))
        was = view.sees_pbx(name, before.get("queues"))
        if now:
            kept[name] = change if was or change is None else after_pbxs.get(name)
        elif was:
            kept[name] = None
    if kept:
        out["pbxs"] = kept
    return out
