"""An asyncio AMI server around `CallCenterModel`: the simulated Asterisk on a TCP port.

It speaks the manager protocol as Asterisk 22 does (banner, CRLF framing, Login, Events mask,
Ping, Logoff, the queue actions), broadcasts the model's events to every logged-in client and
appends its queue_log lines to a file. The model runs on wall time x `speed`, or, with
`speed=0`, only when a test calls `step()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

from wallboard.simulator.model import CallCenterModel, Event, Output

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
EVENT_CLASSES = frozenset({
    "system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
    "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
    "message",
})
MAX_HEADERS = 128  # AST_MAX_MANHEADERS
MAX_LINE = 1025  # Asterisk's input buffer
MAX_BACKLOG = 4 * 1024 * 1024  # bytes queued for a client before it is dropped as too slow


def parse_event_mask(value: str | None) -> frozenset[str]:
    """The event classes a Login/Events `Events:` value asks for (on, off, a number, a list)."""
    text = (value or "on").strip().lower()
    if text in ("on", "yes", "true", "all", ""):
        return EVENT_CLASSES
    if text in ("off", "no", "false", "none"):
        return frozenset()
    if text.isdigit():
        return EVENT_CLASSES if int(text) else frozenset()
    words = {word.strip() for word in text.split(",")}
    return EVENT_CLASSES if "all" in words else frozenset(words & EVENT_CLASSES)


def encode_message(fields: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """One AMI message on the wire: `Key: Value` CRLF lines and a blank line."""
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    return "".join(f"{key}: {value}\r\n" for key, value in pairs).encode() + b"\r\n"


class _Session:
    """One connected manager client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.authenticated = False
        self.mask: frozenset[str] = frozenset()

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def wants(self, classes: frozenset[str]) -> bool:
        return self.authenticated and bool(self.mask) and classes <= self.mask


class SimulatorServer:
    """The AMI shell: accepts clients, runs the model's clock, writes the queue_log."""

    def __init__(
        self,
        model: CallCenterModel,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "wallboard",
        secret: str = "wallboard",
        queue_log_path: str | Path | None = None,
        speed: float = 1.0,
        auth_delay: float = 1.0,
        auth_timeout: float = 30.0,
        read: frozenset[str] = EVENT_CLASSES,
        write: frozenset[str] = EVENT_CLASSES,
        version: str = "22.10.1",
        ping_clock: Callable[[], float] | None = None,
    ) -> None:
        self.model = model
        # The AMI user's manager.conf `read` and `write` classes: events outside `read` are
        # never sent, whatever the Events mask asks; CoreSettings needs `system` or
        # `reporting` in `write`.
        self.read = frozenset(read)
        self.write = frozenset(write)
        self.version = version
        # The PBX's wall clock as Ping answers tell it (default: the model's virtual time).
        self.ping_clock = ping_clock
        self.host = host
        self.username = username
        self.secret = secret
        self.queue_log_path = Path(queue_log_path) if queue_log_path else None
        self.speed = speed
        self.auth_delay = auth_delay
        self.auth_timeout = auth_timeout
        self.bad_input = 0  # malformed lines and messages received, for tests and logs
        self._port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._clock: asyncio.Task[None] | None = None
        self._log_file: IO[str] | None = None
        self._wall_origin = 0.0
        self._model_origin = model.now

    @property
    def port(self) -> int:
        return self._port

    @property
    def client_count(self) -> int:
        return sum(1 for s in self._sessions if s.authenticated)

    async def start(self) -> None:
        """Listen, write what the model has produced so far (its QUEUESTART), start the clock."""
        if self.queue_log_path is not None:
            self._log_file = self.queue_log_path.open("a", encoding="utf-8", newline="")
        self._server = await asyncio.start_server(
            self._handle, self.host, self._port, limit=MAX_LINE
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._wall_origin = asyncio.get_running_loop().time()
        self._model_origin = self.model.now
        self._publish(self.model.advance(self.model.now))
        if self.speed > 0:
            self._clock = asyncio.create_task(self._run_clock())

    async def stop(self) -> None:
        """Stop listening and the clock, cut every client, close the queue_log."""
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        if self._server is not None:
            self._server.close()
        await self.disconnect_clients()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    async def disconnect_clients(self) -> None:
        """Cut every client socket, as an Asterisk restart or a network failure would."""
        for session in list(self._sessions):
            session.writer.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        self._sessions.clear()

    async def step(self, seconds: float) -> list[Output]:
        """Advance the model `seconds` of virtual time now and deliver what it produced."""
        outputs = self.model.advance(self.model.now + seconds)
        self._publish(outputs)
        await asyncio.sleep(0)
        return outputs

    async def flush(self) -> list[Output]:
        """Deliver what scripting hooks produced, at the current virtual time."""
        outputs = self.model.advance(self._virtual_now())
        self._publish(outputs)
        await asyncio.sleep(0)
        return outputs

    # ---- clock --------------------------------------------------------------------------------

    def _virtual_now(self) -> float:
        if self.speed <= 0:
            return self.model.now
        elapsed = asyncio.get_running_loop().time() - self._wall_origin
        return self._model_origin + elapsed * self.speed

    async def _run_clock(self) -> None:
        while True:
            self._publish(self.model.advance(self._virtual_now()))
            upcoming = self.model.next_event_time()
            delay = 0.25
            if upcoming is not None:
                delay = (upcoming - self._virtual_now()) / self.speed
            await asyncio.sleep(min(max(delay, 0.002), 0.25))

    def _publish(self, outputs: list[Output]) -> None:
        """Append the queue_log lines (one flush per batch) and broadcast the events."""
        lines = [item for item in outputs if isinstance(item, str)]
        if lines and self._log_file is not None:
            self._log_file.write("".join(line + "\n" for line in lines))
            self._log_file.flush()
        for item in outputs:
            if isinstance(item, dict):
                self._broadcast(item)

    def _broadcast(self, event: Event) -> None:
        classes = frozenset(event.get("Privilege", "").split(",")) - {"all"}
        data = encode_message(event)
        for session in list(self._sessions):
            if session.wants(classes):
                session.send(data)
                self._check_backlog(session)

    def _check_backlog(self, session: _Session) -> None:
        transport = session.writer.transport
        if transport.get_write_buffer_size() > MAX_BACKLOG:
            log.warning("dropping a manager client that does not read its events")
            transport.abort()

    # ---- sessions -----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._sessions.add(session)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.auth_timeout
        try:
            session.send(BANNER)
            while True:
                timeout = None if session.authenticated else deadline - loop.time()
                message = await asyncio.wait_for(self._read_message(session), timeout)
                if message is None:
                    break
                if not await self._serve(session, message):
                    break
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # a bug must cost one connection, never the server
            log.exception("manager session failed")
        finally:
            self._sessions.discard(session)
            self._handlers.discard(task)
            writer.close()

    async def _read_message(self, session: _Session) -> dict[str, str] | None:
        """The next message's headers (keys lower-cased, first one wins); None at EOF."""
        headers: dict[str, str] = {}
        count = 0
        while True:
            try:
                raw = await session.reader.readline()
            except ValueError:  # longer than the input buffer: Asterisk drops the line
                self._bad("line too long")
                session.send(encode_message(
                    {"Response": "Error", "Message": "Failed to parse message: line too long"}
                ))
                continue
            if not raw:
                return None
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                if headers or count:
                    break
                continue
            count += 1
            key, colon, value = line.partition(":")
            if not colon or not key.strip():
                self._bad(f"not a header: {line[:80]!r}")
                continue
            headers.setdefault(key.strip().lower(), value.lstrip(" "))
        if count > MAX_HEADERS:
            self._bad("too many header lines")
            headers = {"__error__": "Too many lines in message or allocation failure"}
        return headers

    async def _serve(self, session: _Session, headers: dict[str, str]) -> bool:
        """Answer one action; False when the connection must close."""
        action_id = headers.get("actionid")
        if "__error__" in headers:
            session.send(self._reply("Error", action_id, headers["__error__"]))
            return True
        action = headers.get("action", "").strip()
        name = action.lower()
        if not action:
            self._bad("message without Action")
            session.send(self._reply("Error", action_id, "Missing action in request"))
            return True
        if name == "login":
            return await self._login(session, headers, action_id)
        if name == "logoff":
            session.send(self._reply("Goodbye", action_id, "Thanks for all the fish."))
            return False
        if not session.authenticated:
            session.send(self._reply("Error", action_id, "Permission denied"))
            return True
        if name == "ping":
            fields = {"Response": "Success"}
            if action_id is not None:
                fields["ActionID"] = action_id
            now = self.ping_clock() if self.ping_clock is not None else self._virtual_now()
            fields.update({"Ping": "Pong", "Timestamp": f"{now:.6f}"})
            session.send(encode_message(fields))
            return True
        if name == "events":
            session.mask = parse_event_mask(headers.get("eventmask")) & self.read
            fields = {"Response": "Success"}
            if action_id is not None:
                fields["ActionID"] = action_id
            fields["Events"] = "On" if session.mask else "Off"
            session.send(encode_message(fields))
            return True
        if name == "coresettings":
            if not self.write & {"system", "reporting"}:
                session.send(self._reply("Error", action_id, "Permission denied"))
                return True
            fields = {"Response": "Success"}
            if action_id is not None:
                fields["ActionID"] = action_id
            fields.update({
                "AMIversion": BANNER.decode().split("/")[1].strip(),
                "AsteriskVersion": self.version, "SystemName": "", "CoreMaxCalls": "0",
                "CoreMaxLoadAvg": "0.000000", "CoreRunUser": "asterisk",
                "CoreRunGroup": "asterisk", "CoreMaxFilehandles": "0",
                "CoreRealTimeEnabled": "No", "CoreCDRenabled": "Yes", "CoreHTTPenabled": "No",
            })  # fmt: skip
            session.send(encode_message(fields))
            return True
        # Catch the model up first, so a QueueStatus is the truth after the events already sent.
        self._publish(self.model.advance(self._virtual_now()))
        answer = self.model.action({**headers, "action": action})
        if answer is None:
            message = (
                f"Invalid/unknown command: {action}. "
                "Use Action: ListCommands to show available commands."
            )
            session.send(self._reply("Error", action_id, message))
            return True
        session.send(b"".join(encode_message(item) for item in answer))
        self._publish(self.model.advance(self._virtual_now()))
        return True

    async def _login(
        self, session: _Session, headers: dict[str, str], action_id: str | None
    ) -> bool:
        username = headers.get("username", "")
        if username.lower() != self.username.lower() or headers.get("secret") != self.secret:
            await asyncio.sleep(self.auth_delay)
            session.send(self._reply("Error", action_id, "Authentication failed"))
            await session.writer.drain()
            return False
        session.authenticated = True
        session.mask = parse_event_mask(headers.get("events")) & self.read
        session.send(self._reply("Success", action_id, "Authentication accepted"))
        if "system" in session.mask:
            uptime = str(int(self.model.now - self.model.start_time))
            session.send(encode_message({
                "Event": "FullyBooted", "Privilege": "system,all", "Uptime": uptime,
                "LastReload": uptime, "Status": "Fully Booted",
            }))
        return True

    def _bad(self, what: str) -> None:
        self.bad_input += 1
        log.info("bad manager input: %s", what)

    @staticmethod
    def _reply(kind: str, action_id: str | None, message: str) -> bytes:
        fields = {"Response": kind}
        if action_id is not None:
            fields["ActionID"] = action_id
        fields["Message"] = message
        return encode_message(fields)
