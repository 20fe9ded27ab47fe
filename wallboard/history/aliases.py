"""The agent registry in the store: the alias table, loading it, learning new aliases and
rebuilding the per-agent day summary an alias change touches, all in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from wallboard.history import coverage
from wallboard.history.database import Transaction
from wallboard.history.registry import Registry, link

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

    def record(tx: Transaction) -> None:
        current = {a: (g, s) for a, g, s in tx.query("SELECT alias, agent, source FROM agent_aliases")}
        for alias, agent in pairs:
            writes = link(current, alias, agent, source)
            if not writes:
                continue
            for name, target in writes.items():
                before = current.get(name, (name, ""))[0]
                touched.update((name, before, target))
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
    store.write(record)
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
