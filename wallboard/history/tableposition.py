"""Where a queue_log table follower stands, as the text stored in ingest_positions (pure).

With an `id` column (IdPosition): every id up to `settled` is read or given up; `read` holds
the ids above it read already (as ranges), so an id that becomes visible after a higher one
(transactions committing out of order, several writers) is still taken, once. A gap below the
highest id read that stays empty for `gap_timeout` seconds counts as a rolled-back id: `seen`
dates the gaps, (wall time, highest id read then). `anchor` is the highest id read and a digest
of its row: a table truncated or recreated shows as that row gone or changed.

Without one (TimePosition): rows are read in time order and those with time >= `boundary`
(the newest time read less a window) again on every poll, deduplicated by content with
multiplicity against `known` (the digests of the rows read at or above the boundary).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

GAP_LIST = 2000  # at most this many gap ids are looked up by id; more: the range is re-read
SEEN_MOST = 64  # checkpoints kept (merging two dates a gap later: it waits longer, never less)


def digest(row: tuple, leave_out: int | None = None) -> str:
    """A short stable digest of a row's values (its identity when the table has no id);
    `leave_out`: the index of a value not to count (the anchor leaves `time` out, which a
    server's session time zone can shift). Times with a zone count as UTC."""
    values = tuple(
        v.astimezone(UTC) if isinstance(v, datetime) and v.tzinfo is not None else v
        for n, v in enumerate(row) if n != leave_out
    )
    return hashlib.blake2b(repr(values).encode(), digest_size=8).hexdigest()


def well_formed(value: Any) -> bool:
    """Whether a `time` value is a time (the database orders such values as Python does)."""
    return value is not None and minus_window(value, 0) is not None


def newest_of(values: list[Any]) -> Any:
    """The latest of some `time` values (None for none)."""
    try:
        return max(values) if values else None
    except TypeError:  # mixed kinds (a column changed type): the last one read
        return values[-1]


def encode_value(value: Any) -> Any:
    """A `time` column value as JSON (tagged, so it comes back with its type)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, bool):
        return {"s": str(value)}
    if isinstance(value, int):
        return {"i": value}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    if isinstance(value, float):
        return {"f": repr(value)}
    return {"s": str(value)}


def decode_value(data: Any) -> Any:
    if data is None:
        return None
    (tag, text), = data.items()
    if tag == "dt":
        return datetime.fromisoformat(text)
    if tag == "i":
        return int(text)
    if tag == "d":
        return Decimal(text)
    if tag == "f":
        return float(text)
    return str(text)


@dataclass
class IdPosition:
    """An id-ordered table's position (see the module's docstring)."""

    settled: int | None = None  # None: nothing read yet
    read: list[list[int]] = field(default_factory=list)  # disjoint sorted [low, high] > settled
    seen: list[list[float]] = field(default_factory=list)  # [wall time, highest id read then]
    anchor: tuple[int, str] | None = None

    @property
    def high(self) -> int | None:
        """The highest id read (or given up)."""
        if self.read:
            return self.read[-1][1]
        return self.settled

    def copy(self) -> IdPosition:
        return IdPosition(self.settled, [list(r) for r in self.read],
                          [list(s) for s in self.seen], self.anchor)  # fmt: skip

    def gaps(self) -> list[int] | None:
        """The ids between settled and high not read yet (None: more than GAP_LIST)."""
        if self.settled is None or not self.read:
            return []
        count = self.read[-1][1] - self.settled - sum(b - a + 1 for a, b in self.read)
        if count > GAP_LIST:
            return None
        out: list[int] = []
        below = self.settled
        for low, high in self.read:
            out.extend(range(below + 1, low))
            below = high
        return out

    def is_read(self, ident: int) -> bool:
        if self.settled is not None and ident <= self.settled:
            return True
        at = bisect_right(self.read, [ident, float("inf")]) - 1
        return at >= 0 and self.read[at][0] <= ident <= self.read[at][1]

    def add(self, ids: list[int], now: float) -> None:
        """Mark ids as read (dating any gap below a new highest id `now`)."""
        if not ids:
            return
        before = self.high
        if self.settled is None:  # the first read: ids below the first one are not gaps
            self.settled = min(ids) - 1
        runs: list[list[int]] = []
        for ident in sorted(set(ids)):
            if ident <= self.settled:
                continue
            if runs and runs[-1][1] + 1 >= ident:
                runs[-1][1] = max(runs[-1][1], ident)
            else:
                runs.append([ident, ident])
        merged: list[list[int]] = []
        for low, high in sorted(self.read + runs):
            if merged and merged[-1][1] + 1 >= low:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        self.read = merged
        after = self.high
        if after is not None and (before is None or after > before):
            self.seen.append([now, after])
            if len(self.seen) > SEEN_MOST:  # date the two oldest by the later one
                self.seen[1][0] = max(self.seen[0][0], self.seen[1][0])
                del self.seen[0]
        self._settle()

    def expire(self, now: float, timeout: float) -> list[tuple[int, int]]:
        """Give up the gaps seen `timeout` seconds ago or more; the (low, high) stretches."""
        old = [int(h) for when, h in self.seen if now - when >= timeout]
        if not old or self.settled is None or max(old) <= self.settled:
            return []
        limit = max(old)
        given: list[tuple[int, int]] = []
        below = self.settled
        for low, high in self.read:
            if low > limit:
                break
            if low > below + 1:
                given.append((below + 1, min(low - 1, limit)))
            below = high
        self.read = [r for r in self.read if r[1] > limit]
        if self.read and self.read[0][0] <= limit:
            self.read[0][0] = limit + 1
        self.settled = limit
        self._settle()
        return given

    def _settle(self) -> None:
        """Move `settled` over the read ids that follow it, drop the checkpoints below it."""
        if self.settled is None:
            return
        while self.read and self.read[0][0] <= self.settled + 1:
            self.settled = max(self.settled, self.read.pop(0)[1])
        self.seen = [s for s in self.seen if s[1] > self.settled]

    def to_text(self) -> str:
        return json.dumps({"mode": "id", "settled": self.settled, "read": self.read,
                           "seen": self.seen, "anchor": self.anchor}, separators=(",", ":"))  # fmt: skip


@dataclass
class TimePosition:
    """A time-ordered table's position (see the module's docstring)."""

    boundary: Any = None  # rows with time >= boundary are re-read (None: read from the start)
    newest: Any = None
    known: Counter[str] = field(default_factory=Counter)  # digests of rows >= boundary read
    times: dict[str, Any] = field(default_factory=dict)  # digest -> its row's time
    rows: int = 0  # rows read so far (the row numbers of rejected rows)

    def copy(self) -> TimePosition:
        return TimePosition(self.boundary, self.newest, Counter(self.known), dict(self.times),
                            self.rows)  # fmt: skip

    def take(self, rows: list[tuple[str, Any]]) -> tuple[list[int], Counter[str]]:
        """Of fetched rows (digest, time), the indexes of those not read before, and how
        many times each digest came (a row's copies beyond the known count are new)."""
        fetched: Counter[str] = Counter()
        fresh = []
        for n, (key, _) in enumerate(rows):
            fetched[key] += 1
            if fetched[key] > self.known[key]:
                fresh.append(n)
        return fresh, fetched

    def vanished(self, fetched: Counter[str]) -> bool:
        """Whether rows read before at or above the boundary are gone (a complete fetch only):
        the table was truncated or recreated."""
        for key, count in self.known.items():
            when = self.times.get(key)
            if count > fetched[key] and well_formed(when) and _at_or_above(when, self.boundary):
                return True
        return False

    def advance(
        self, rows: list[tuple[str, Any]], fetched: Counter[str], newest: Any, boundary: Any
    ) -> None:
        """Count the fetched rows as read, move newest/boundary up, forget rows below it."""
        for key, when in rows:
            self.times[key] = when
        for key, count in fetched.items():
            if count > self.known[key]:
                self.known[key] = count
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest
        if boundary is not None and (self.boundary is None or boundary > self.boundary):
            self.boundary = boundary
        if self.boundary is not None:
            gone = [k for k, when in self.times.items()  # NULL: never at or above it
                    if when is None or (well_formed(when) and not _at_or_above(when, self.boundary))]  # fmt: skip
            for key in gone:
                del self.times[key]
                self.known.pop(key, None)

    def to_text(self) -> str:
        groups: dict[str, list] = {}
        for key, when in self.times.items():
            slot = json.dumps(encode_value(when), sort_keys=True)
            groups.setdefault(slot, [encode_value(when), {}])[1][key] = self.known[key]
        return json.dumps({"mode": "time", "boundary": encode_value(self.boundary),
                           "newest": encode_value(self.newest), "rows": self.rows,
                           "known": list(groups.values())}, separators=(",", ":"))  # fmt: skip


def _at_or_above(when: Any, boundary: Any) -> bool:
    try:
        return boundary is None or when >= boundary
    except TypeError:  # values of different kinds (a column changed type): keep it
        return True


def load_position(text: str | None) -> IdPosition | TimePosition | None:
    """The position stored by a table follower (None: none, or not one this code wrote)."""
    if not text:
        return None
    try:
        data = json.loads(text)
        if data.get("mode") == "id":
            anchor = data.get("anchor")
            return IdPosition(
                data["settled"], [[int(a), int(b)] for a, b in data["read"]],
                [[float(t), int(h)] for t, h in data["seen"]],
                (int(anchor[0]), str(anchor[1])) if anchor else None,
            )  # fmt: skip
        if data.get("mode") == "time":
            position = TimePosition(decode_value(data["boundary"]), decode_value(data["newest"]),
                                    rows=int(data["rows"]))  # fmt: skip
            for when, keys in data["known"]:
                value = decode_value(when)
                for key, count in keys.items():
                    position.known[key] = int(count)
                    position.times[key] = value
            return position
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def minus_window(value: Any, seconds: float) -> Any:
    """A `time` value `seconds` earlier, in the column's own form (None when it has none)."""
    if isinstance(value, datetime):
        return value - timedelta(seconds=seconds)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value - int(seconds)
    if isinstance(value, Decimal):
        return value - Decimal(int(seconds))
    if isinstance(value, float):
        return value - int(seconds)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return str(int(text) - int(seconds)).rjust(len(text), "0")
        whole = text.split(".", 1)[0]
        if whole.isdigit():  # numeric text with a fraction
            return str(int(whole) - int(seconds)).rjust(len(whole), "0")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        sep = "T" if "T" in text else " "
        return (moment - timedelta(seconds=seconds)).replace(tzinfo=None).isoformat(sep, "seconds")
    return None
