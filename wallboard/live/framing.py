"""The AMI byte stream -> whole messages, tolerant of anything a peer may send (pure).

Splits on a blank line (CRLF or LF), strips the banner, decodes whole messages (a UTF-8
character split across TCP reads survives) and drops oversized ones, counting them.
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter

BANNER_PREFIX = b"Asterisk Call Manager/"
MAX_HEADERS = 128
MAX_MESSAGE_BYTES = 64 * 1024


class AmiMessage(dict):
    """One AMI message: header names lower-cased, values as sent; repeated headers become lists."""

    __slots__ = ()


class AmiFramer:
    """Bytes from the AMI socket -> whole messages (`AmiMessage`), tolerant of anything.

    Splits on a blank line (CRLF or LF), strips the banner (kept in `version`), decodes whole
    messages as UTF-8 with replacement (a character split across TCP reads survives), and
    discards messages over `max_bytes` or with more than `max_headers` lines (counted). Header
    names are lower-cased; each line splits at its first ": " (else ":"); colon-less lines
    are ignored.
    """

    def __init__(self, max_headers: int = MAX_HEADERS, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.max_headers = max_headers
        self.max_bytes = max_bytes
        self.version: str | None = None  # banner version; "" when the stream had none
        self.oversized = 0
        self.too_many_headers = 0
        self._buffer = b""
        self._banner_pending = True
        self._skipping = False

    def reset(self) -> None:
        """Start a new stream (a new connection): forget buffered bytes and the banner."""
        self.version = None
        self._buffer = b""
        self._banner_pending = True
        self._skipping = False

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Add received bytes; return the messages they completed (maybe none)."""
        if not data:
            return []
        buffer = self._buffer + data.replace(b"\r", b"")
        if self._skipping:
            end = buffer.find(b"\n\n")
            if end < 0:
                self._buffer = buffer[-1:]
                return []
            buffer = buffer[end + 2 :]
            self._skipping = False
        if self._banner_pending:
            buffer = self._take_banner(buffer)
            if self._banner_pending:
                self._buffer = buffer
                return []
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._keep(buffer)
            return []
        self._keep(buffer[end + 2 :])
        return self._split(buffer[:end].decode("utf-8", "replace"))

    def _take_banner(self, buffer: bytes) -> bytes:
        """Strip `Asterisk Call Manager/x.y.z` (glued to the first message) when present."""
        if len(buffer) < len(BANNER_PREFIX) and BANNER_PREFIX.startswith(buffer):
            return buffer
        if buffer.startswith(BANNER_PREFIX):
            line_end = buffer.find(b"\n")
            if line_end < 0:
                if len(buffer) <= 256:
                    return buffer
                line_end = len(buffer)
            version = buffer[len(BANNER_PREFIX) : min(line_end, len(BANNER_PREFIX) + 64)]
            self.version = version.decode("utf-8", "replace").strip()
            buffer = buffer[line_end + 1 :]
        else:
            self.version = ""
        self._banner_pending = False
        return buffer

    def _keep(self, rest: bytes) -> None:
        if len(rest) > self.max_bytes:
            self.oversized += 1
            self._skipping = True
            self._buffer = rest[-1:]
        else:
            self._buffer = rest

    def _split(self, text: str) -> list[AmiMessage]:
        messages = []
        max_headers = self.max_headers
        max_bytes = self.max_bytes
        for block in text.split("\n\n"):
            if not block:
                continue
            if len(block) > max_bytes:  # characters, not bytes: close enough for a guard
                self.oversized += 1
                continue
            lines = block.split("\n")
            if len(lines) > max_headers:
                lines = [line for line in lines if line]
                if len(lines) > max_headers:
                    self.too_many_headers += 1
                    continue
            # Fast path (C loops): every line is "Key: Value" and no key repeats.
            parts = list(map(_partition, lines, repeat(": ")))
            if all(map(_separator, parts)):
                message = AmiMessage({_LOWER[key]: value for key, _, value in parts})
                if len(message) == len(parts):
                    messages.append(message)
                    continue
            message = _parse_lines(lines)
            if message:
                messages.append(message)
        return messages


class _LowerCase(dict):
    """Header name -> lower case, remembered (Asterisk uses a few hundred names; capped)."""

    def __missing__(self, key: str) -> str:
        low = key.lower()
        if len(self) < 4096:
            self[key] = low
        return low


_LOWER = _LowerCase()
_partition = str.partition
_separator = itemgetter(1)


def _parse_lines(lines: list[str]) -> AmiMessage:
    """Headers one line at a time: split at the first ": " (else the first ":"), key
    lower-cased; lines without a colon are ignored; a repeated header becomes a list."""
    message = AmiMessage()
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                continue
        key = key.lower()
        old = message.get(key)
        if old is None:
            message[key] = value
        elif old.__class__ is list:
            old.append(value)
        else:
            message[key] = [old, value]
    return message
