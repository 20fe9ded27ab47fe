"""The agent registry: one person, however Asterisk names them.

With `log_membername_as_agent = no` (the default, FreePBX's too) the queue_log names a member
by its interface on ADDMEMBER/REMOVEMEMBER (`Local/agent10@agents`, `PJSIP/2001`) and by its
member name everywhere else (`Judy`); older setups add `Agent/1001`. The registry maps each
such alias to the agent's name (the person), learned from AMI (every QueueMember* event carries
the interface and the member name together), from the settings' `[agents]` map and from
`wallboard agents alias`, and kept in the store. Raw events are never rewritten: reports
resolve names through the registry when they run, so an alias learned later re-attributes the
history too; the one summary that is not additive over names (agent time per day) is keyed by
the person and rebuilt for those an alias change touches.

`Registry` is pure; `load`, `learn` and `rebuild_coverage` are the store side.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wallboard.history import coverage

# Who said so: an admin's word (the settings' map, the command line) beats what AMI reports.
PRECEDENCE = {"ami": 1, "settings": 2, "admin": 2}

MIGRATION: list[str] = [
    """CREATE TABLE agent_aliases (
        alias TEXT PRIMARY KEY, agent TEXT NOT NULL, source TEXT NOT NULL,
        updated {int} NOT NULL)""",
    "CREATE INDEX agent_aliases_agent ON agent_aliases (agent)",
    "ALTER TABLE agents ADD COLUMN membership TEXT NOT NULL DEFAULT ''",
    # Names that logged sessions are dynamic members (static ones log none).
    "UPDATE agents SET membership = 'dynamic' WHERE name IN"
    " (SELECT DISTINCT agent FROM agent_intervals WHERE kind = 'session')",
    "CREATE TABLE registry_version (version {int} NOT NULL)",
    "INSERT INTO registry_version (version) VALUES (0)",
]


@dataclass(frozen=True)
class Registry:
    """Aliases -> the agent (person) they name, and what is known of each agent."""

    canonical: Mapping[str, str] = field(default_factory=dict)
    display: Mapping[str, str] = field(default_factory=dict)  # agent -> display name
    membership: Mapping[str, str] = field(default_factory=dict)  # agent -> static | dynamic
    version: int = 0

    def resolve(self, name: str) -> str:
        """The agent a logged name stands for (itself when it is no alias)."""
        return self.canonical.get(name, name)

    def names_of(self, agent: str) -> set[str]:
        """Every name the agent is logged under: itself and its aliases."""
        agent = self.resolve(agent)
        return {agent, *(alias for alias, target in self.canonical.items() if target == agent)}

    def expand(self, agents: Iterable[str]) -> tuple[str, ...]:
        """The logged names of some agents (given by name or alias), for SQL filters."""
        names: set[str] = set()
        for agent in agents:
            names |= self.names_of(agent)
        return tuple(sorted(names))

    def aliases(self) -> dict[str, list[str]]:
        """Each agent with aliases, and them (sorted)."""
        out: dict[str, list[str]] = defaultdict(list)
        for alias, agent in sorted(self.canonical.items()):
            out[agent].append(alias)
        return dict(out)

    def shown(self, name: str) -> str:
        """The display name of whoever a logged name stands for."""
        agent = self.resolve(name)
        return self.display.get(agent) or agent

    def membership_of(self, agent: str) -> str:
        """"dynamic" when any of the agent's names was seen logging in (a session line, or
        AMI saying so), else "static" when AMI lists it as a static member, else ""."""
        kinds = {self.membership.get(name, "") for name in self.names_of(agent)}
        if "dynamic" in kinds:
            return "dynamic"
        return "static" if "static" in kinds else ""


def link(
    current: Mapping[str, tuple[str, str]], alias: str, agent: str, source: str
) -> dict[str, str] | None:
    """The alias rows to write so `alias` names `agent` (flat: no alias of an alias), or None
    when nothing changes or an admin's word stands against AMI's. `current` is alias ->
    (agent, source)."""
    if not alias or not agent or alias == agent:
        return None
    target = current[agent][0] if agent in current else agent
    if target == alias:
        return None  # `agent` is an alias of `alias` already: the person is `alias`
    known = current.get(alias)
    if known is not None and (
        known[0] == target or PRECEDENCE.get(known[1], 0) > PRECEDENCE.get(source, 0)
    ):
        return None
    writes = {alias: target}
    for other, (named, _) in current.items():
        if named == alias:  # `alias` was someone's agent name: they follow it to `target`
            writes[other] = target
    return writes


# ------------------------------------------------------------------------------- store side


def load(db: Any) -> Registry:
    """The registry as stored (`db`: a Store or an open transaction)."""
    canonical = dict(db.query("SELECT alias, agent FROM agent_aliases"))
    display, membership = {}, {}
    for name, shown, kind in db.query("SELECT name, display_name, membership FROM agents"):
        if shown:
            display[name] = shown
        if kind:
            membership[name] = kind
    row = db.query("SELECT max(version) FROM registry_version")
    return Registry(canonical, display, membership, int(row[0][0] or 0) if row else 0)


def version(db: Any) -> int:
    row = db.query("SELECT max(version) FROM registry_version")
    return int(row[0][0] or 0) if row else 0


def learn(
    store: Any,
    pairs: Iterable[tuple[str, str]],
    source: str,
    membership: Mapping[str, str] | None = None,
    now: float | None = None,
) -> set[str]:
    """Record that each (alias, agent) pair is one person, and agents' membership (static or
    dynamic, as Asterisk says); rebuild agent time for the agents it touches, in the same
    transaction. Returns the agents whose names changed."""
    stamp = int(now if now is not None else time.time())
    touched: set[str] = set()
    with store.transaction() as tx:
        current = {a: (g, s) for a, g, s in tx.query("SELECT alias, agent, source FROM agent_aliases")}
        for alias, agent in pairs:
            writes = link(current, alias, agent, source)
            if not writes:
                continue
            for name, target in writes.items():
                before = current.get(name, (name, ""))[0]
                touched |= {name, before, target}
                current[name] = (target, source)
                tx.execute(
                    "INSERT INTO agent_aliases (alias, agent, source, updated) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (alias) DO UPDATE SET agent = excluded.agent,"
                    " source = excluded.source, updated = excluded.updated",
                    (name, target, source, stamp),
                )
                tx.execute(
                    "INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (target,)
                )
        for agent, kind in (membership or {}).items():
            target = current[agent][0] if agent in current else agent
            tx.execute("INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (target,))
            if tx.execute(
                "UPDATE agents SET membership = ? WHERE name = ? AND membership <> ?",
                (kind, target, kind),
            ):
                touched.add(target)
        if touched:
            tx.execute("UPDATE registry_version SET version = version + 1")
            registry = Registry({a: g for a, (g, _) in current.items()})
            rebuild_coverage(tx, registry, {registry.resolve(a) for a in touched} | touched)
    if touched:
        store.registry_changed()
    return touched


def rebuild_coverage(tx: Any, registry: Registry, agents: set[str]) -> None:
    """Recompute agent_cover_days of these agents (and drop rows under names that are aliases
    now) from every stored interval of every name they are logged under."""
    names = set()
    for agent in agents:
        names |= registry.names_of(agent)
    names |= agents
    if not names:
        return
    ordered = sorted(names)
    inside = ", ".join("?" for _ in ordered)
    tx.execute(f"DELETE FROM agent_cover_days WHERE agent IN ({inside})", ordered)
    rows = tx.query(
        "SELECT agent, kind, start_time, end_time FROM agent_intervals"
        f" WHERE agent IN ({inside})",
        ordered,
    )
    tx.executemany(coverage.UPSERT, coverage.backfill_rows(rows, registry.resolve))
