"""Asterisk `queue_log` line → typed record (pure; never raises on bad input).

A line is `epoch|callid|queuename|agent|event|data...`; the data fields differ by event and by
Asterisk version (protocol reference §4). `parse_line` returns a `Record` with the raw fields and
the event's values normalised across versions, or a `Rejected` with the reason. `parse_db_row`
does the same for rows of Asterisk's realtime `queue_log` table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import NamedTuple, cast

MAX_LINE_BYTES = 8192


class Record(NamedTuple):
    """One queue_log event; the optional fields are the event's data, normalised."""

    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]
    wait: int | None = None  # seconds the caller waited (holdtime / waittime)
    talk: int | None = None  # calltime of a completed/transferred call
    ring: int | None = None  # seconds rung (CONNECT; RINGNOANSWER/RINGCANCELED ms / 1000)
    position: int | None = None
    origpos: int | None = None
    url: str | None = None
    callerid: str | None = None
    callerid_name: str | None = None
    member_uid: str | None = None
    key: str | None = None
    reason: str | None = None  # pause reason, withdraw info, agent channel...
    target: str | None = None  # transfer target (exten@context or attended method)
    did: str | None = None
    number: int | None = None  # PENALTY / RINGINUSE value, AGENTLOGOFF logintime
    fraction: float = 0.0  # sub-second part of the time (realtime table rows only)


# Records are built as plain tuples in field order (the parser's hot path skips __new__).
_new = tuple.__new__
_N4 = (None,) * 4
_N5 = (None,) * 5

@dataclass(slots=True, frozen=True)
class Rejected:
    """A line that could not be read, with a short machine-readable reason."""

    reason: str
    detail: str
    raw: str


class _Bad(Exception):
    """Internal: a data field failed to decode."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _Bad("bad_number", f"{what} is not a number: {value[:40]!r}") from None


def _opt_int(data: tuple[str, ...], index: int, what: str) -> int | None:
    if index < len(data) and data[index] != "":
        return _int(data[index], what)
    return None


def _need(data: tuple[str, ...], count: int, event: str) -> None:
    if len(data) < count:
        raise _Bad("field_count", f"{event} needs {count} data fields, got {len(data)}")


# Decoders get (epoch, callid, queue, agent, event, data) and build the whole tuple, in field
# order: ... data, wait talk ring position origpos, url callerid callerid_name member_uid,
# key reason target did number, fraction.
Decoder = Callable[[int, str, str, str, str, tuple[str, ...]], Record]


def _enterqueue(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    _need(d, 2, "ENTERQUEUE")
    origpos = _opt_int(d, 2, "origpos")
    name = "|".join(d[3:]) if len(d) > 3 else None
    return _new(Record, (t, c, q, a, e, d, None, None, None, origpos, origpos,
                         d[0], d[1], name, None, None, None, None, None, None, 0.0))  # fmt: skip


def _connect(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    n = len(d)
    _need(d, 1, "CONNECT")
    ring = _int(d[2], "ringtime") if n > 2 and d[2] else None
    return _new(Record, (t, c, q, a, e, d, _int(d[0], "holdtime"), None, ring, None, None,
                         None, None, None, d[1] if n > 1 else None, *_N5, 0.0))  # fmt: skip


def _complete(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    _need(d, 2, "COMPLETE")
    origpos = _int(d[2], "origpos") if len(d) > 2 and d[2] else None
    return _new(Record, (t, c, q, a, e, d, _int(d[0], "holdtime"), _int(d[1], "calltime"),
                         None, None, origpos, *_N4, *_N5, 0.0))  # fmt: skip


def _exit(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    # 1.8 and older sometimes wrote only the position for EXITWITHTIMEOUT.
    _need(d, 1, "exit")
    info = "|".join(d[3:]) if len(d) > 3 else None  # WITHDRAW's info
    return _new(Record, (t, c, q, a, e, d, _opt_int(d, 2, "waittime"), None, None,
                         _opt_int(d, 0, "position"), _opt_int(d, 1, "origpos"), *_N4,
                         None, info, None, None, None, 0.0))  # fmt: skip


def _exitwithkey(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    _need(d, 2, "EXITWITHKEY")
    return _new(Record, (t, c, q, a, e, d, _opt_int(d, 3, "waittime"), None, None,
                         _opt_int(d, 1, "position"), _opt_int(d, 2, "origpos"), *_N4,
                         d[0], None, None, None, None, 0.0))  # fmt: skip


def _ring_ms(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    ms = _opt_int(d, 0, "ringtime")
    ring = None if ms is None else (ms + 500) // 1000
    return _new(Record, (t, c, q, a, e, d, None, None, ring, None, None, *_N4,
                         None, None, None, None, ms, 0.0))  # fmt: skip


def _transfer(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    _need(d, 4, "TRANSFER")
    target = f"{d[0]}@{d[1]}" if d[1] else d[0]
    return _new(Record, (t, c, q, a, e, d, _int(d[2], "holdtime"), _int(d[3], "calltime"),
                         None, None, _opt_int(d, 4, "origpos"), *_N4,
                         None, None, target, None, None, 0.0))  # fmt: skip


def _attended(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    # Method part (BRIDGE|uid, APP|app, LINK|chan1|chan2) then holdtime|calltime|origpos.
    _need(d, 4, "ATTENDEDTRANSFER")
    return _new(Record, (t, c, q, a, e, d, _int(d[-3], "holdtime"), _int(d[-2], "calltime"),
                         None, None, _opt_int(d, len(d) - 1, "origpos"), *_N4,
                         None, None, "|".join(d[:-3]), None, None, 0.0))  # fmt: skip


def _reason(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    return _new(Record, (t, c, q, a, e, d, *_N5, *_N4,
                         None, "|".join(d), None, None, None, 0.0))  # fmt: skip


def _number(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    return _new(Record, (t, c, q, a, e, d, *_N5, *_N4,
                         None, None, None, None, _opt_int(d, 0, "value"), 0.0))  # fmt: skip


def _agentlogoff(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    return _new(Record, (t, c, q, a, e, d, *_N5, *_N4, None, d[0] if d else "", None,
                         None, _opt_int(d, 1, "logintime"), 0.0))  # fmt: skip


def _did(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    return _new(Record, (t, c, q, a, e, d, *_N5, *_N4,
                         None, None, None, d[0] if d else "", None, 0.0))  # fmt: skip


def _plain(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    return _new(Record, (t, c, q, a, e, d, *_N5, *_N4, *_N5, 0.0))


DECODERS: Mapping[str, Decoder] = {
    "ENTERQUEUE": _enterqueue,
    "CONNECT": _connect,
    "COMPLETECALLER": _complete,
    "COMPLETEAGENT": _complete,
    "ABANDON": _exit,
    "EXITWITHTIMEOUT": _exit,
    "EXITEMPTY": _exit,
    "EXITUNKNOWN": _exit,  # history derived from AMI: left unanswered, abandon unknown
    "WITHDRAW": _exit,
    "EXITWITHKEY": _exitwithkey,
    "RINGNOANSWER": _ring_ms,
    "RINGCANCELED": _ring_ms,
    "TRANSFER": _transfer,
    "BLINDTRANSFER": _transfer,
    "ATTENDEDTRANSFER": _attended,
    "PAUSE": _reason,
    "UNPAUSE": _reason,
    "PAUSEALL": _reason,
    "UNPAUSEALL": _reason,
    "ADDMEMBER": _reason,
    "AGENTLOGIN": _reason,
    "AGENTCALLBACKLOGIN": _reason,
    "AGENTLOGOFF": _agentlogoff,
    "AGENTCALLBACKLOGOFF": _agentlogoff,
    "PENALTY": _number,
    "RINGINUSE": _number,
    "DID": _did,
}

_CONTROL = frozenset(chr(c) for c in range(32) if c != 9) | {"\x7f"}


def _has_control(text: str) -> bool:
    return any(ch in _CONTROL for ch in text)


def parse_line(line: str | bytes) -> Record | Rejected:
    """Parse one file line (with or without its newline) into a Record, or a Rejected."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            return Rejected("too_long", f"line of {len(line)} bytes", _preview(line))
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return Rejected("bad_utf8", "line is not valid UTF-8", _preview(line))
    else:
        text = line
        if len(text) > MAX_LINE_BYTES:
            return Rejected("too_long", f"line of {len(text)} characters", text[:200])
    if text[-1:] in ("\n", "\r"):
        text = text.rstrip("\r\n")
    if not text.isprintable() and _has_control(text) and len(text.split("|", 5)) >= 5:
        return Rejected("binary", "control characters in line", text[:200])
    return parse_clean_line(text)


def clean_lines(raw: bytes) -> bool:
    """Whether a block of UTF-8 lines holds no control character but newlines and tabs, so its
    lines can go to `parse_clean_line` (one C pass over the block instead of one per line)."""
    return b"\r" not in raw and len(raw.translate(None, _CONTROL_BYTES)) == len(raw)


_CONTROL_BYTES = bytes(c for c in (*range(32), 0x7F) if c not in (9, 10))


def parse_clean_line(text: str) -> Record | Rejected:
    """`parse_line` for a str line already checked: no newline, no control character, not over
    MAX_LINE_BYTES (the bulk reader checks whole blocks at once)."""
    parts = text.split("|", 5)
    if len(parts) < 5:
        if not text.strip():
            return Rejected("empty", "empty line", text)
        return Rejected("field_count", f"{len(parts)} fields, at least 5 needed", text[:200])
    try:
        epoch = int(parts[0])
    except ValueError:
        return Rejected("bad_epoch", f"epoch is not a number: {parts[0][:40]!r}", text[:200])
    event = parts[4]
    if not event or epoch < 0:
        why = "empty event name" if not event else f"negative epoch {epoch}"
        return Rejected("field_count" if not event else "bad_epoch", why, text[:200])
    data = tuple(parts[5].split("|")) if len(parts) == 6 and parts[5] else ()
    fast = _FAST.get(event)
    if fast is not None and len(data) == fast[0]:
        try:
            return fast[1](epoch, parts[1], parts[2], parts[3], event, data)
        except ValueError:
            pass  # the careful decoder below says exactly what is wrong
    try:
        return DECODERS.get(event, _plain)(epoch, parts[1], parts[2], parts[3], event, data)
    except _Bad as bad:
        return Rejected(bad.reason, bad.detail, text[:200])


# Fast paths for the commonest events in their current layout (same result as DECODERS, with
# less checking: a ValueError sends the line to the careful decoder).
def _fast_enterqueue(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    origpos = int(d[2]) if d[2] else None
    return _new(Record, (t, c, q, a, e, d, None, None, None, origpos, origpos,
                         d[0], d[1], None, None, None, None, None, None, None, 0.0))  # fmt: skip


def _fast_connect(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    return _new(Record, (t, c, q, a, e, d, int(d[0]), None, int(d[2]) if d[2] else None, None,
                         None, None, None, None, d[1], None, None, None, None, None, 0.0))  # fmt: skip


def _fast_complete(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    return _new(Record, (t, c, q, a, e, d, int(d[0]), int(d[1]), None, None,
                         int(d[2]) if d[2] else None, None, None, None, None,
                         None, None, None, None, None, 0.0))  # fmt: skip


def _fast_exit(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    return _new(Record, (t, c, q, a, e, d, int(d[2]), None, None, int(d[0]), int(d[1]),
                         None, None, None, None, None, None, None, None, None, 0.0))  # fmt: skip


def _fast_ring(t: int, c: str, q: str, a: str, e: str, d: tuple[str, ...]) -> Record:
    ms = int(d[0])
    return _new(Record, (t, c, q, a, e, d, None, None, (ms + 500) // 1000, None, None,
                         None, None, None, None, None, None, None, None, ms, 0.0))  # fmt: skip


_FAST: Mapping[str, tuple[int, Decoder]] = {
    "ENTERQUEUE": (3, _fast_enterqueue),
    "CONNECT": (3, _fast_connect),
    "COMPLETECALLER": (3, _fast_complete),
    "COMPLETEAGENT": (3, _fast_complete),
    "ABANDON": (3, _fast_exit),
    "EXITWITHTIMEOUT": (3, _fast_exit),
    "RINGNOANSWER": (1, _fast_ring),
}


def _preview(raw: bytes) -> str:
    return raw[:200].decode("utf-8", "replace")


def _row_text(value: object) -> str:
    """A text column's value as str (None is empty; bytes must be UTF-8)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad("bad_utf8", "column is not valid UTF-8") from None
    return str(value)


def _row_texts(values: list[object]) -> list[str]:
    """Text columns as str (a check per value when they are str already, the usual case)."""
    if all(type(v) is str for v in values):
        return cast("list[str]", values)
    return [_row_text(v) for v in values]


def _row_epoch(stamp: object, tz: tzinfo) -> tuple[int, float]:
    """(epoch seconds, fraction) of a row's `time`: a datetime (naive: in `tz`), an epoch
    number (int, float, Decimal) or text holding either ("2026-11-30 10:00:01.5", "1795904322")."""
    if isinstance(stamp, datetime):
        moment = stamp if stamp.tzinfo else stamp.replace(tzinfo=tz)
        value = moment.timestamp()
        epoch = int(value // 1)
        return epoch, round(value - epoch, 6)
    if isinstance(stamp, (bytes, bytearray, memoryview)):
        stamp = bytes(stamp).decode("ascii", "replace")
    if isinstance(stamp, str):
        text = stamp.strip()
        whole, dot, part = text.partition(".")
        if whole.isdigit() and whole.isascii() and (not dot or (part.isdigit() and part.isascii())):
            return int(whole), round(float("0." + (part or "0")), 6)
        moment = datetime.fromisoformat(text)  # ValueError when it is not a time
        return _row_epoch(moment, tz)
    if isinstance(stamp, (int, Decimal)) and not isinstance(stamp, bool):
        epoch = int(stamp // 1)
        return epoch, round(float(stamp - epoch), 6)
    if isinstance(stamp, float):
        epoch = int(stamp // 1)  # ValueError / OverflowError for nan and inf
        return epoch, round(stamp - epoch, 6)
    raise ValueError(f"not a time: {stamp!r}")


_DATA_KEYS = ("data1", "data2", "data3", "data4", "data5")
_FIELD_KEYS = ("callid", "queuename", "agent", "event")


def _row_raw(row: Mapping[str, object]) -> str:
    return repr(dict(row))[:200]


def parse_db_row(row: Mapping[str, object], tz: tzinfo = UTC) -> Record | Rejected:
    """Parse a row of Asterisk's realtime `queue_log` table (`data` or `data1..5`); never raises.

    `time` is a DATETIME/TIMESTAMP value, text, or an epoch number (int, Decimal, numeric
    text); `tz` is the zone the PBX wrote local times in (its local zone, or UTC with
    `queue_log_realtime_use_gmt=yes`). Epochs and times with an offset ignore it.
    """
    stamp = row.get("time")
    try:
        epoch, fraction = _row_epoch(stamp, tz)
    except (ValueError, TypeError, OverflowError, ArithmeticError):
        detail = f"time is not YYYY-MM-DD HH:MM:SS nor an epoch: {stamp!r}"[:120]
        return Rejected("bad_epoch", detail, _row_raw(row))
    if epoch < 0:
        return Rejected("bad_epoch", f"negative epoch {epoch}", _row_raw(row))
    get = row.get
    try:
        if "data1" in row:
            values = _row_texts([get(key) for key in _DATA_KEYS])
            while values and values[-1] == "":
                values.pop()
            data = tuple(values)
            if data and "|" in data[-1]:
                data = data[:-1] + tuple(data[-1].split("|"))
        else:
            text = _row_text(get("data"))
            data = tuple(text.split("|")) if text else ()
        fields = _row_texts([get(key) for key in _FIELD_KEYS])
    except _Bad as bad:
        return Rejected(bad.reason, bad.detail, _row_raw(row))
    every = "".join(fields) + "".join(data)
    if not every.isprintable() and _has_control(every):
        return Rejected("binary", "control characters in row", _row_raw(row))
    if data == ("",):
        data = ()
    callid, queue, agent, event = fields
    if not event:
        return Rejected("field_count", "empty event name", _row_raw(row))
    fast = _FAST.get(event)
    record = None
    if fast is not None and len(data) == fast[0]:
        try:
            record = fast[1](epoch, callid, queue, agent, event, data)
        except ValueError:
            pass  # the careful decoder below says exactly what is wrong
    if record is None:
        try:
            record = DECODERS.get(event, _plain)(epoch, callid, queue, agent, event, data)
        except _Bad as bad:
            return Rejected(bad.reason, bad.detail, _row_raw(row))
    return record._replace(fraction=fraction) if fraction else record


def format_line(record: Record) -> str:
    """The queue_log file line of a record (without newline), as Asterisk writes it."""
    head = f"{record.time}|{record.callid}|{record.queue}|{record.agent}|{record.event}|"
    return head + "|".join(record.data)
