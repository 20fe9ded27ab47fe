"""The AMI shell: a panoramisk connection feeding CallCenterState, resynced after every login.

panoramisk 1.4 is used for what it does well (action futures, ActionID routing) and subclassed
where it gets in the way (protocol.md §5): our framer decodes whole messages, queue events go
straight to the state in stream order (a raising handler cannot kill the link), the QueueStatus
bootstrap is applied exactly where its `QueueStatusComplete` sits in the stream, our own ping
has a timeout, and reconnection uses capped exponential backoff (slow after a refused login).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from wallboard.history.naming import Naming
from wallboard.live.events import (
    ChannelEvent,
    Connection,
    Malformed,
    MemberEvent,
    QueueEntry,
    QueueParams,
    QueueStatusComplete,
    Shutdown,
    parse_event,
)
from wallboard.live.framing import AmiFramer, AmiMessage
from wallboard.live.state import CallCenterState

log = logging.getLogger(__name__)

_COUNTERS = (
    "connects",
    "logins",
    "auth_failures",
    "resyncs",
    "disconnects",
    "messages",
    "events",
    "ignored",
    "malformed",
    "handler_errors",
    "callback_errors",
)
_MALFORMED_LOG_FIRST = 20
_EVENT_TYPES_MAX = 500


class _LinkError(Exception):
    """The session must end (lost link, ping timeout, refused action); the text says why."""


class _Manager(Manager):
    """panoramisk's Manager minus its reconnect loop: AmiListener owns (re)connection."""

    def connection_lost(self, exc: Any) -> None:
        self._connected = False


class _AmiProtocol(AMIProtocol):
    """AMIProtocol reading through AmiFramer and handing every message to the listener in order."""

    def __init__(self, listener: AmiListener) -> None:
        super().__init__()
        self.listener = listener
        loop = asyncio.get_running_loop()
        self.banner: asyncio.Future[str] = loop.create_future()
        self.lost: asyncio.Future[Any] = loop.create_future()
        self.bootstrap_id: str | None = None
        self.shutdown_seen = False

    def data_received(self, data: bytes) -> None:
        listener = self.listener
        try:
            messages = listener._framer.feed(data)
        except Exception:  # the framer is not supposed to raise; never let it kill the link
            log.exception("AMI framer failed on %d bytes", len(data))
            return
        if not self.banner.done() and listener._framer.version is not None:
            self.banner.set_result(listener._framer.version)
        for message in messages:
            listener._on_message(self, message)

    def connection_lost(self, exc: Any) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        if getattr(self, "factory", None) is None:
            self.closed = True
            return
        super().connection_lost(exc)


class AmiListener:
    """Keeps `state` in step with one Asterisk over AMI and reports every change to `on_patch`.

    `on_patch(patch)` is called synchronously with each non-empty merge patch (including the
    resync patch after every login and the `connection` changes). `synced` is set once the
    state reflects a QueueStatus of the current connection.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 5038,
        user: str,
        secret: str,
        state: CallCenterState,
        on_patch: Callable[[dict[str, Any]], None],
        tls: bool | ssl.SSLContext = False,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        connect_timeout: float = 10.0,
        action_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        auth_retry: float = 30.0,
        events: str = "agent,system",
        naming: Naming | None = None,
        history: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.secret = secret
        self.state = state
        self.on_patch = on_patch
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.clock = clock
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.auth_retry = auth_retry
        # The PBX this link is to (its names qualified when there are several), and where its
        # events go as history when it has no queue_log (live/amihistory.py: event, synced,
        # lost); that needs the caller channels' `call` events too.
        self.naming = naming or Naming()
        self.history = history
        if history is not None and "call" not in events.split(","):
            events += ",call"
        self.events = events
        if tls is True:
            self._ssl: ssl.SSLContext | None = ssl.create_default_context()
        else:
            self._ssl = tls or None
        self.synced = asyncio.Event()
        self.retry_delay = 0.0  # the wait before the current/last reconnection attempt
        self.last_error = ""
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self.event_types: Counter[str] = Counter()  # events received, by name
        self.malformed_types: Counter[str] = Counter()  # malformed events, by name
        self.connected = False
        self._framer = AmiFramer()
        self._action_ids = itertools.count(1)
        self._bootstrap_items: list[Any] = []
        self._synced_id: str | None = None
        self._protocol: _AmiProtocol | None = None
        self._manager: _Manager | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        state: CallCenterState,
        on_patch: Callable[[dict[str, Any]], None],
        clock: Callable[[], float] = time.time,
        pbx: Any = None,
        naming: Naming | None = None,
        history: Any = None,
    ) -> AmiListener:
        """Build from a `wallboard.config.Settings` (ping settings) and one of its PBXs
        (`PbxSettings`: ami_host, ami_port, ami_user, ...; the flat settings by default)."""
        source = pbx if pbx is not None else settings
        return cls(
            host=source.ami_host,
            port=source.ami_port,
            user=source.ami_user or "",
            secret=source.ami_secret or "",
            tls=source.ami_tls,
            ping_interval=settings.ami_ping_interval,
            ping_timeout=settings.ami_ping_timeout,
            state=state,
            on_patch=on_patch,
            clock=clock,
            naming=naming,
            history=history,
        )

    @property
    def stats(self) -> dict[str, int]:
        """Counts since start: connections, logins, messages, events, malformed, oversized..."""
        counts = dict(self._counts)
        counts["oversized"] = self._framer.oversized
        counts["too_many_headers"] = self._framer.too_many_headers
        return counts

    # ---------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start connecting in the background (returns at once; see `synced`)."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._manager = _Manager(
            loop=loop,
            host=self.host,
            port=self.port,
            ssl=bool(self._ssl),
            forgetable_actions=("ping", "login", "queuestatus"),
        )
        self._task = asyncio.create_task(self._run(), name="ami-listener")

    async def stop(self) -> None:
        """Close the connection and stop reconnecting."""
        task, self._task = self._task, None
        self._stopping = True
        try:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._set_connection(False, "stopped")
        finally:
            self._stopping = False

    # ---------------------------------------------------------------------------- supervisor

    async def _run(self) -> None:
        delay = self.backoff_initial
        while True:
            outcome = await self._session()
            if outcome == "auth":
                wait = max(self.auth_retry, delay)
            else:
                if outcome == "lost":  # we had logged in: start the backoff again
                    delay = self.backoff_initial
                wait = delay
                delay = min(delay * 2, self.backoff_max)
            self.retry_delay = wait
            log.info("AMI: reconnecting to %s:%s in %.1f s", self.host, self.port, wait)
            await asyncio.sleep(wait)

    async def _session(self) -> str:
        """One connection: connect, login, resync, watch. Returns "auth", "lost" or "failed"."""
        loop = asyncio.get_running_loop()
        self._framer.reset()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _AmiProtocol(self), self.host, self.port, ssl=self._ssl
                ),
                self.connect_timeout,
            )
        except (TimeoutError, OSError) as exc:
            self._set_connection(False, f"cannot connect to {self.host}:{self.port}: {exc!r}")
            return "failed"
        self._counts["connects"] += 1
        self._attach(protocol)
        logged_in = False
        outcome = "failed"
        error = "connection lost"
        try:
            version = await self._wait(protocol, protocol.banner, self.action_timeout, "banner")
            events = self.events
            if _is_legacy(version) and "call" not in events.split(","):
                events += ",call"  # 1.8/11 sent Join/Leave in the `call` class
            reply = await self._request(
                protocol,
                {"Action": "Login", "Username": self.user, "Secret": self.secret, "Events": events},
                self.action_timeout,
            )
            if not reply.success:
                self._counts["auth_failures"] += 1
                error = f"authentication failed: {reply.message or reply.response or 'refused'}"
                log.error("AMI %s:%s: %s", self.host, self.port, error)
                outcome = "auth"
                return outcome
            logged_in = True
            outcome = "lost"
            self._counts["logins"] += 1
            self._set_connection(True, "")
            await self._resync(protocol)
            await self._watch(protocol)
        except _LinkError as exc:
            error = str(exc)
            if logged_in:
                log.warning("AMI %s:%s: %s", self.host, self.port, error)
        finally:
            self._detach(protocol)
            if protocol.shutdown_seen and error == "connection lost":
                error = "Asterisk shut down"
            self._set_connection(False, error)
        return outcome

    def _attach(self, protocol: _AmiProtocol) -> None:
        manager = self._manager
        assert manager is not None
        manager.awaiting_actions.clear()
        manager.protocol = protocol
        protocol.factory = manager
        protocol.encoding = "utf8"
        protocol.log = log
        protocol.config = manager.config
        manager.responses = protocol.responses
        self._protocol = protocol

    def _detach(self, protocol: _AmiProtocol) -> None:
        protocol.bootstrap_id = None
        protocol.close()
        if self._manager is not None:
            self._manager.awaiting_actions.clear()
        self._protocol = None
        if self.synced.is_set():
            self._counts["disconnects"] += 1
        self.synced.clear()

    async def _wait(
        self, protocol: _AmiProtocol, future: asyncio.Future[Any], timeout: float, what: str
    ) -> Any:
        """The future's result, unless the link drops or `timeout` passes first (_LinkError)."""
        done, _ = await asyncio.wait(
            {future, protocol.lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if future in done:
            return future.result()
        if protocol.lost in done:
            raise _LinkError(f"connection lost while waiting for {what}")
        raise _LinkError(f"no answer to {what} within {timeout:g} s")

    async def _request(self, protocol: _AmiProtocol, action: dict[str, str], timeout: float) -> Any:
        assert self._manager is not None
        future = self._manager.send_action(action)
        return await self._wait(protocol, future, timeout, action["Action"])

    async def _resync(self, protocol: _AmiProtocol) -> None:
        """QueueStatus; the state is reset synchronously when its Complete event arrives."""
        action_id = f"wallboard-queuestatus-{next(self._action_ids)}"
        self._bootstrap_items = []
        protocol.bootstrap_id = action_id
        reply = await self._request(
            protocol, {"Action": "QueueStatus", "ActionID": action_id}, self.action_timeout
        )
        if self._synced_id != action_id:
            message = getattr(reply, "message", "") or "no QueueStatusComplete"
            raise _LinkError(f"QueueStatus failed: {message}")

    async def _watch(self, protocol: _AmiProtocol) -> None:
        """Ping every `ping_interval`; a missing pong within `ping_timeout` ends the session."""
        while True:
            done, _ = await asyncio.wait({protocol.lost}, timeout=self.ping_interval)
            if done:
                raise _LinkError("connection lost")
            await self._request(protocol, {"Action": "Ping"}, self.ping_timeout)

    # ---------------------------------------------------------------------------- messages

    def _on_message(self, protocol: _AmiProtocol, message: AmiMessage) -> None:
        """Route one framed message: action replies to panoramisk, events to the state."""
        counts = self._counts
        counts["messages"] += 1
        action_id = message.get("actionid")
        if action_id is not None and action_id.__class__ is str and action_id in protocol.responses:
            try:
                if action_id == protocol.bootstrap_id:
                    self._bootstrap_message(protocol, message)
                protocol.handle_message(Message(message))
            except Exception:
                counts["handler_errors"] += 1
                log.exception("AMI: failed to handle a reply to %s", action_id)
            return
        if "event" not in message:
            counts["ignored"] += 1
            return
        counts["events"] += 1
        name = message["event"]
        if name not in self.event_types and len(self.event_types) >= _EVENT_TYPES_MAX:
            name = "other"  # a hostile peer inventing names must not grow the table
        self.event_types[name] += 1
        try:
            event = parse_event(message)
            if event is None:
                counts["ignored"] += 1
                return
            if event.__class__ is Malformed:
                self._malformed(event)
                return
            if event.__class__ is Shutdown:
                protocol.shutdown_seen = True
                if protocol.transport is not None:
                    protocol.transport.close()
                return
            now = self.clock()
            if self.history is not None:
                self._record(event, message, now)
            if event.__class__ is ChannelEvent:
                return
            patch = self.state.apply(self.naming.event(event), now)
            if patch:
                self._emit(patch)
        except Exception:
            counts["handler_errors"] += 1
            log.exception("AMI: failed to apply %r", message.get("event"))

    def _record(self, event: Any, message: AmiMessage, now: float) -> None:
        """Hand an event to the history, at Asterisk's time when the event carries it."""
        when = now
        stamp = message.get("timestamp")
        if stamp.__class__ is str:
            try:
                when = float(stamp)
            except ValueError:
                pass
        try:
            self.history.event(event, when)
        except Exception:
            self._counts["handler_errors"] += 1
            log.exception("AMI: could not record %r as history", message.get("event"))

    def _bootstrap_message(self, protocol: _AmiProtocol, message: AmiMessage) -> None:
        if "event" not in message:
            return  # the "Queue status will follow" response
        event = parse_event(message)
        if isinstance(event, (QueueParams, MemberEvent, QueueEntry)):
            self._bootstrap_items.append(event)
        elif isinstance(event, Malformed):
            self._malformed(event)
        elif isinstance(event, QueueStatusComplete):
            items, self._bootstrap_items = self._bootstrap_items, []
            now = self.clock()
            if self.history is not None:
                try:
                    self.history.synced(items, now)
                except Exception:
                    self._counts["handler_errors"] += 1
                    log.exception("AMI: could not reconcile the history with QueueStatus")
            naming = self.naming
            self._emit(self.state.reset([naming.event(i) for i in items], now, naming.pbx))
            self._synced_id = protocol.bootstrap_id
            protocol.bootstrap_id = None
            self._counts["resyncs"] += 1
            self.synced.set()

    def _malformed(self, event: Malformed) -> None:
        self.malformed_types[str(event.event)[:64]] += 1
        count = self._counts["malformed"] = self._counts["malformed"] + 1
        if count <= _MALFORMED_LOG_FIRST or count % 1000 == 0:
            log.warning("AMI: malformed %s event (%s); %d so far", event.event, event.reason, count)

    def _emit(self, patch: dict[str, Any]) -> None:
        if not patch:
            return
        try:
            self.on_patch(patch)
        except Exception:
            self._counts["callback_errors"] += 1
            log.exception("on_patch callback failed")

    def _set_connection(self, connected: bool, error: str) -> None:
        self.connected = connected
        if error:
            self.last_error = error
        now = self.clock()
        if not connected and self.history is not None:
            try:
                self.history.lost(now, "wallboard stopped" if self._stopping else error)
            except Exception:
                log.exception("AMI: could not record the outage in the history")
        self._emit(self.state.apply(Connection(connected, error, self.naming.pbx), now))


def _is_legacy(version: str | None) -> bool:
    """AMI 1.x (Asterisk 1.8/11) as told by the banner."""
    if not version:
        return False
    try:
        return int(version.split(".", 1)[0]) < 2
    except ValueError:
        return False
