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

Pure: `Registry` and the linking rule; history/aliases.py keeps them in the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# Who said so: an admin's word (the settings' map, the command line) beats what AMI reports.
PRECEDENCE = {"ami": 1, "settings": 2, "admin": 2}



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
