"""How one PBX's names appear in the product (pure).

With several PBXs every queue, agent, interface and call id carries its PBX: `site-a/2000`,
`site-a/Alice`, `site-a/1795904334.33`, so two Asterisks that both have a queue 2000 (or reuse a
uniqueid) never meet. With one PBX names stay plain, so Asternic clients see what they saw.
The history sources and the AMI listener qualify what they read; nothing downstream knows.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from wallboard.history.queuelog import Record

SEP = "/"
UNQUALIFIED = frozenset({"", "NONE"})  # queue_log's "no agent" / "no call" stay as they are
_EVENT_FIELDS = ("queue", "uniqueid", "interface", "member_name", "name", "state_interface")
E = TypeVar("E")


def pbx_of(name: str) -> str:
    """The PBX part of a qualified name ("" when it has none)."""
    head, sep, _ = name.partition(SEP)
    return head if sep else ""


def scope_of(name: str) -> str:
    """The prefix shared by every name of the PBX `name` belongs to ("site-a/", or "")."""
    pbx = pbx_of(name)
    return pbx + SEP if pbx else ""


class Naming:
    """Qualifies the names of one PBX (`qualified` False: leaves them alone)."""

    def __init__(self, pbx: str = "default", qualified: bool = False) -> None:
        self.pbx = pbx
        self.qualified = qualified
        self.prefix = pbx + SEP if qualified else ""

    def name(self, local: str) -> str:
        """A queue, agent, interface or call id of this PBX as the product names it."""
        if not self.qualified or local in UNQUALIFIED or local.startswith(self.prefix):
            return local
        return self.prefix + local

    def local(self, name: str) -> str:
        """The name as the PBX itself spells it."""
        return name[len(self.prefix) :] if self.prefix and name.startswith(self.prefix) else name

    def owns(self, name: str) -> bool:
        """Whether a (product) name belongs to this PBX."""
        return not self.qualified or name.startswith(self.prefix)

    def record(self, rec: Record) -> Record:
        """A queue_log record with its call id, queue and agent qualified ("NONE" queue too,
        so a QUEUESTART closes this PBX's calls only)."""
        if not self.qualified:
            return rec
        queue = self.prefix + rec.queue if rec.queue else rec.queue
        return rec._replace(callid=self.name(rec.callid), queue=queue, agent=self.name(rec.agent))

    def event(self, event: E) -> E:
        """A typed AMI event (a dataclass of live/events.py) with its names qualified."""
        if not self.qualified or not dataclasses.is_dataclass(event):
            return event
        changes: dict[str, Any] = {}
        for field in _EVENT_FIELDS:
            value = getattr(event, field, None)
            if isinstance(value, str) and value:
                changes[field] = self.name(value)
        return dataclasses.replace(event, **changes) if changes else event  # type: ignore[type-var]
