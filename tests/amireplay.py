"""A small AMI server on 127.0.0.1 that replays a recorded Asterisk session, for the tests.

It sends the banner, answers Login (wrong secret: error + close, like Asterisk), Ping and
QueueStatus (with a prepared QueueStatus response re-tagged with the caller's ActionID), then
streams prepared event bytes in seeded random chunk sizes so messages and UTF-8 characters are
split across TCP reads. Tests change `status` / `stream` between connections and `cut()` sockets.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURE = FIXTURES / "lab_ami_capture.raw.gz"
ACTION_ID_PLACEHOLDER = b"@ACTIONID@"


def headers(message: bytes) -> dict[str, str]:
    """The headers of one raw message (a test-side parser, independent of the code under test)."""
    result: dict[str, str] = {}
    for line in message.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            result.setdefault(key.lower(), value)
    return result


def retag(message: bytes, action_id: str | bytes) -> bytes:
    """A list message with its ActionID replaced (or added)."""
    aid = action_id.encode() if isinstance(action_id, str) else action_id
    lines = message.split(b"\r\n")
    tagged = [line for line in lines if not line.lower().startswith(b"actionid:")]
    tagged.append(b"ActionID: " + aid)
    return b"\r\n".join(tagged)


@dataclass
class Capture:
    """A recorded AMI byte stream split into messages (CRLF, without the blank line)."""

    banner: bytes
    messages: list[bytes]
    # Each QueueStatus response of the recording (Response, items, Complete), in order, with
    # the ActionID replaced by ACTION_ID_PLACEHOLDER (the server puts the asker's there).
    status_blocks: list[list[bytes]] = field(default_factory=list)
    # Unsolicited messages after the first QueueStatus response (what a listener would get).
    events: list[bytes] = field(default_factory=list)


def load_capture(path: Path = CAPTURE) -> Capture:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    banner, _, rest = raw.partition(b"\r\n")
    messages = [m for m in rest.split(b"\r\n\r\n") if m.strip()]
    blocks: dict[str, list[bytes]] = {}
    order: list[str] = []
    events: list[bytes] = []
    first_status_done = False
    for message in messages:
        h = headers(message)
        action_id = h.get("actionid", "")
        if action_id.startswith("cap-"):
            if action_id not in blocks:
                blocks[action_id] = []
                order.append(action_id)
            blocks[action_id].append(message)
            if h.get("event") == "QueueStatusComplete":
                first_status_done = True
            continue
        if first_status_done and "event" in h:
            events.append(message)
    status_blocks = [
        [retag(m, ACTION_ID_PLACEHOLDER) for m in blocks[a]]
        for a in order
        if any(headers(m).get("event") == "QueueParams" for m in blocks[a])
    ]
    return Capture(banner=banner, messages=messages, status_blocks=status_blocks, events=events)


def status_response(items: list[bytes], legacy: bool = False) -> list[bytes]:
    """A whole QueueStatus response around list items (ActionID left as a placeholder)."""
    if legacy:
        head = b"Response: Success\r\nActionID: @ACTIONID@\r\nMessage: Queue status will follow"
        tail = b"Event: QueueStatusComplete\r\nActionID: @ACTIONID@"
    else:
        head = (
            b"Response: Success\r\nActionID: @ACTIONID@\r\nEventList: start\r\n"
            b"Message: Queue status will follow"
        )
        tail = (
            b"Event: QueueStatusComplete\r\nActionID: @ACTIONID@\r\nEventList: Complete\r\n"
            b"ListItems: " + str(len(items)).encode()
        )
    return [head, *(retag(i, ACTION_ID_PLACEHOLDER) for i in items), tail]


class AmiReplayServer:
    """The fake Asterisk. `status`: messages answering QueueStatus; `stream`: bytes sent after it."""

    def __init__(
        self,
        *,
        username: str = "wallboard",
        secret: str = "secret",
        banner: bytes = b"Asterisk Call Manager/11.0.0",
        status: list[bytes] | None = None,
        stream: list[bytes] | bytes = b"",
        seed: int = 1,
        max_chunk: int = 1500,
        answer_pings: bool = True,
    ) -> None:
        self.username = username
        self.secret = secret
        self.banner = banner
        self.status = status or status_response([])
        self.stream = stream
        self.max_chunk = max_chunk
        self.answer_pings = answer_pings
        self.port = 0
        self.connections = 0
        self.login_attempts = 0
        self.logins = 0
        self.login_events: list[str] = []
        self.actions: list[str] = []
        self.streamed = asyncio.Event()  # set when the current connection's stream was sent
        self._random = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._clients: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._clients:  # they end by themselves once their socket is cut
            await asyncio.wait(list(self._clients), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    async def cut(self) -> None:
        """Drop every client socket at once (no goodbye), as a dead link or a crash would."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0)

    def stream_bytes(self) -> bytes:
        if isinstance(self.stream, bytes):
            return self.stream
        return b"".join(m + b"\r\n\r\n" for m in self.stream)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        self.streamed.clear()
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        logged_in = False
        try:
            writer.write(self.banner + b"\r\n")
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = headers(raw)
                name = action.get("action", "").lower()
                action_id = action.get("actionid", "")
                self.actions.append(name)
                if name == "login":
                    self.login_attempts += 1
                    self.login_events.append(action.get("events", ""))
                    if (
                        action.get("username") == self.username
                        and action.get("secret") == self.secret
                    ):
                        logged_in = True
                        self.logins += 1
                        self._send(
                            writer,
                            [
                                f"Response: Success\r\nActionID: {action_id}\r\n"
                                "Message: Authentication accepted".encode(),
                                b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 2\r\n"
                                b"LastReload: 2\r\nStatus: Fully Booted",
                            ],
                        )
                    else:
                        self._send(
                            writer,
                            [
                                f"Response: Error\r\nActionID: {action_id}\r\n"
                                "Message: Authentication failed".encode()
                            ],
                        )
                        await writer.drain()
                        break
                elif not logged_in:
                    self._send(
                        writer,
                        [
                            f"Response: Error\r\nActionID: {action_id}\r\n"
                            "Message: Permission denied".encode()
                        ],
                    )
                elif name == "ping":
                    if self.answer_pings:
                        self._send(
                            writer,
                            [
                                f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n"
                                f"Timestamp: {time.time():.6f}".encode()
                            ],
                        )
                elif name == "queuestatus":
                    aid = action_id.encode()
                    self._send(writer, [m.replace(ACTION_ID_PLACEHOLDER, aid) for m in self.status])
                    await writer.drain()
                    streamer = asyncio.create_task(self._stream(writer, self.stream_bytes()))
                    self._tasks.add(streamer)
                    streamer.add_done_callback(self._tasks.discard)
                elif name == "logoff":
                    self._send(
                        writer,
                        [
                            f"Response: Goodbye\r\nActionID: {action_id}\r\n"
                            "Message: Thanks for all the fish.".encode()
                        ],
                    )
                    await writer.drain()
                    break
                else:
                    self._send(
                        writer,
                        [
                            f"Response: Error\r\nActionID: {action_id}\r\n"
                            f"Message: Invalid/unknown command: {name}.".encode()
                        ],
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            self._clients.discard(task)

    @staticmethod
    def _send(writer: asyncio.StreamWriter, messages: list[bytes]) -> None:
        writer.write(b"".join(m + b"\r\n\r\n" for m in messages))

    async def _stream(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Send `data` in random-size chunks, yielding between them so reads split messages."""
        try:
            offset = 0
            while offset < len(data):
                size = self._random.randint(1, self.max_chunk)
                writer.write(data[offset : offset + size])
                offset += size
                await writer.drain()
                if self._random.random() < 0.3:
                    await asyncio.sleep(0)
            self.streamed.set()
        except (ConnectionError, RuntimeError):
            pass
