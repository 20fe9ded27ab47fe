"""Websocket fan-out of live-state merge patches: filtered and encoded once per view.

A *view* is what a group of clients may see (invariant 5). `publish(patch)` is synchronous and
never awaits a socket. Patches published in one go (one AMI read) are coalesced: at the end of
the loop iteration their combined patch is filtered once per view, encoded once, and the same
string is appended to the bounded queue of every client of that view; each client's own writer
task drains its queue. A client whose queue overflows gets one fresh snapshot instead of its
backlog; one that overflows again before catching up, or whose send blocks longer than
`send_timeout`, is closed with 1013. Must be used from the event loop's thread.

Messages: snapshot {type, epoch, seq, now, state}, patch {type, epoch, seq, now, patch},
ping {type, epoch, seq, now} (heartbeat of a quiet view), pong (answer to a client's ping) and
error {type, code, message}. `epoch` changes on `reset()`; `seq` counts a view's patches within
an epoch, so a client seeing a gap (or a new epoch) asks for a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any

from wallboard.live.patch import merge_patch
from wallboard.live.views import View, filter_patch, filter_state

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[Any]]
CloseSocket = Callable[[int, str], Awaitable[Any]]

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013
_CLOSE_COUNTERS = {
    CLOSE_GOING_AWAY: "closed_idle",
    CLOSE_POLICY: "closed_policy",
    CLOSE_TRY_AGAIN: "closed_slow",
}

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


_MISSING = object()


def changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch from `old` to `new`, skipping subtrees they share (copy-on-write
    documents, as `merge_patch` makes them, share everything a patch did not touch)."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if value is before:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            inner = changes(before, value)
            if inner:
                patch[key] = inner
        elif before is _MISSING or before != value or type(before) is not type(value):
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


# ------------------------------------------------------------------------------------ clients


class Client:
    """One subscriber: its bounded queue of encoded messages and its writer's bookkeeping."""

    __slots__ = (
        "stream",
        "send",
        "close_socket",
        "queue",
        "wake",
        "done",
        "behind",
        "closing",
        "close_code",
        "close_reason",
        "task",
        "closer",
        "last_seen",
        "sending_since",
        "sent",
    )

    def __init__(self, stream: _Stream, send: Send, close_socket: CloseSocket, now: float) -> None:
        self.stream = stream
        self.send = send
        self.close_socket = close_socket
        self.queue: deque[str] = deque()
        self.wake = asyncio.Event()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.behind = False  # overflowed, and has not drained its queue since
        self.closing = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.task: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None
        self.last_seen = now  # monotonic time of the last message from the client
        self.sending_since: float | None = None
        self.sent = 0

    @property
    def view(self) -> View:
        return self.stream.view

    async def wait_closed(self) -> None:
        """Return once the hub has closed (or dropped) this client."""
        await asyncio.shield(self.done)

    def finish(self) -> None:
        """Mark the hub done with this client (its socket closed or gone)."""
        if not self.done.done():
            self.done.set_result(None)


class _Stream:
    """The clients sharing one view, with the view's seq and its cached encoded state."""

    __slots__ = ("view", "clients", "seq", "state_text", "last_message")

    def __init__(self, view: View, now: float) -> None:
        self.view = view
        self.clients: dict[Client, None] = {}
        self.seq = 0
        self.state_text: str | None = None
        self.last_message = now


# ---------------------------------------------------------------------------------------- hub


class Hub:
    """Fans merge patches out to websocket clients, one encoding per distinct view."""

    def __init__(
        self,
        snapshot: Callable[[], dict[str, Any]],
        clock: Callable[[], float] = time.time,
        *,
        heartbeat: float = 15.0,
        queue_size: int = 256,
        send_timeout: float = 10.0,
        idle_timeout: float | None = 300.0,
        close_timeout: float = 2.0,
        tick: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.heartbeat = heartbeat
        self.queue_size = queue_size
        self.send_timeout = send_timeout
        self.idle_timeout = idle_timeout
        self.close_timeout = close_timeout
        self.tick = tick
        self.counters: Counter[str] = Counter()
        self._snapshot = snapshot
        self._clock = clock
        self._monotonic = monotonic
        self.epoch = int(clock() * 1000)
        self._mirror: dict[str, Any] | None = None  # the state after every published patch
        self._sent: dict[str, Any] | None = None  # the state as of the last flush (= seq)
        self._flush_at: float | None = None  # `now` of the first patch awaiting its flush
        self._streams: dict[View, _Stream] = {}
        self._clients: dict[Client, None] = {}
        self._maintainer: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the heartbeat and reaper loop (every `tick` seconds)."""
        if self._maintainer is None:
            self._maintainer = asyncio.create_task(self._maintain(), name="hub maintenance")

    async def stop(self) -> None:
        """Stop the loop and every writer (sockets are the server's to close at shutdown)."""
        if self._maintainer is not None:
            self._maintainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintainer
            self._maintainer = None
        for client in list(self._clients):
            self.unsubscribe(client)

    # ---------------------------------------------------------------------------- clients

    def subscribe(self, view: View, send: Send, close_socket: CloseSocket) -> Client:
        """Add a client: it is sent a snapshot of its view, then that view's messages."""
        now = self._monotonic()
        client = Client(self._stream(view, now), send, close_socket, now)
        client.stream.clients[client] = None
        self._clients[client] = None
        client.queue.append(self._snapshot_message(client.stream))
        client.task = asyncio.get_running_loop().create_task(self._write(client))
        self.counters["subscribed"] += 1
        self.counters["snapshots"] += 1
        return client

    def unsubscribe(self, client: Client) -> None:
        """Forget a client (its socket is gone or its handler is done); stops its tasks."""
        self._detach(client)
        current = asyncio.current_task()
        for task in (client.task, client.closer):
            if task is not None and task is not current:
                task.cancel()
        client.queue.clear()
        client.finish()

    def move(self, client: Client, view: View) -> None:
        """Switch a client to another view (its permissions changed): it gets a snapshot."""
        if client.closing or view == client.view:
            return
        self._detach(client)
        client.stream = self._stream(view, self._monotonic())
        client.stream.clients[client] = None
        self._clients[client] = None
        self.resync(client)

    def resync(self, client: Client) -> None:
        """Replace whatever a client has queued by one fresh snapshot (it asked, or fell behind)."""
        if client.closing:
            return
        client.queue.clear()
        client.queue.append(self._snapshot_message(client.stream))
        client.behind = False
        client.wake.set()
        self.counters["snapshots"] += 1

    def pong(self, client: Client) -> None:
        """Answer a client's ping, with its view's epoch and seq so it can check it is current."""
        stream = client.stream
        self._reply(
            client, {"type": "pong", "epoch": self.epoch, "seq": stream.seq, "now": self._now()}
        )

    def error(self, client: Client, code: str, message: str) -> None:
        """Tell a client its message was not understood (the socket stays open)."""
        self._reply(client, {"type": "error", "code": code, "message": message})

    def touch(self, client: Client) -> None:
        """The client sent something: it is alive."""
        client.last_seen = self._monotonic()

    def close(self, client: Client, code: int, reason: str) -> None:
        """Close a client's socket with `code` in the background; it is sent nothing more."""
        if client.closing:
            return
        client.closing = True
        client.close_code, client.close_reason = code, reason
        self.counters[_CLOSE_COUNTERS.get(code, "closed_other")] += 1
        self._detach(client)
        client.queue.clear()
        if client.task is not None and client.task is not asyncio.current_task():
            client.task.cancel()
        try:
            client.closer = asyncio.get_running_loop().create_task(self._close_socket(client))
        except RuntimeError:  # no running loop: nothing can be sent anyway
            client.finish()

    # ---------------------------------------------------------------------------- publishing

    def publish(self, patch: dict[str, Any]) -> None:
        """Take one merge patch of the live state; it goes out, filtered per view, when the
        current loop iteration ends (with any other patch published meanwhile)."""
        if not patch:
            return
        self.counters["published"] += 1
        if not self._streams:
            self._mirror = self._sent = None  # nobody listens: fetch a snapshot when someone does
            return
        self._mirror = merge_patch(self._state(), patch)
        if self._flush_at is None:
            self._flush_at = self._now()
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (a synchronous caller): flush at once
                self.flush()

    def flush(self) -> None:
        """Send what was published since the last flush: one patch message per view."""
        now, self._flush_at = self._flush_at or self._now(), None
        before, after = self._sent, self._mirror
        if before is None or after is None or before is after:
            return
        self._sent = after
        patch = changes(before, after)
        if not patch:
            return
        mono = self._monotonic()
        for stream in list(self._streams.values()):
            try:
                filtered = filter_patch(patch, before, after, stream.view)
            except Exception:
                self.counters["filter_errors"] += 1
                log.exception("could not filter a patch for %s; resyncing its clients", stream.view)
                self._resync_stream(stream, mono)
                continue
            if not filtered:
                continue
            stream.seq += 1
            stream.state_text = None
            stream.last_message = mono
            text = _encode(
                {
                    "type": "patch",
                    "epoch": self.epoch,
                    "seq": stream.seq,
                    "now": now,
                    "patch": filtered,
                }
            )
            self.counters["patches"] += 1
            self.counters["patch_bytes"] += len(text)
            self._deliver(stream, text)

    def reset(self) -> None:
        """Start a new epoch (after an AMI resync or a day rollover): everyone gets a snapshot."""
        self.epoch = max(self.epoch + 1, int(self._clock() * 1000))
        self._mirror = self._sent = None
        self._flush_at = None
        self.counters["resets"] += 1
        mono = self._monotonic()
        for stream in list(self._streams.values()):
            stream.seq = 0
            self._resync_stream(stream, mono)

    # ---------------------------------------------------------------------------- observability

    @property
    def stats(self) -> dict[str, int]:
        """Counters since start, plus the current number of clients and views."""
        stats = dict(self.counters)
        stats["clients"] = len(self._clients)
        stats["views"] = len(self._streams)
        stats["queued"] = sum(len(c.queue) for c in self._clients)
        return stats

    def clients_per_view(self) -> dict[str, int]:
        """Connected clients by view, named `all` or by the queues and agents it shows."""
        counts: Counter[str] = Counter()
        for view, stream in self._streams.items():
            counts[view.label] += len(stream.clients)
        return dict(counts)

    def filtered_snapshot(self, view: View) -> dict[str, Any]:
        """What a client of `view` holds once it has read everything queued for it."""
        self._state()
        return filter_state(self._sent or {}, view)

    # ---------------------------------------------------------------------------- maintenance

    def maintain(self) -> None:
        """Heartbeats for quiet views; close clients whose send is stuck or who went silent."""
        mono = self._monotonic()
        for stream in list(self._streams.values()):
            if mono - stream.last_message >= self.heartbeat:
                stream.last_message = mono
                self.counters["pings"] += 1
                ping = {"type": "ping", "epoch": self.epoch, "seq": stream.seq, "now": self._now()}
                self._deliver(stream, _encode(ping))
        stuck = []
        for client in self._clients:
            if client.sending_since is not None and mono - client.sending_since > self.send_timeout:
                stuck.append((client, CLOSE_TRY_AGAIN, "too slow: a send timed out"))
            elif self.idle_timeout is not None and mono - client.last_seen > self.idle_timeout:
                stuck.append((client, CLOSE_GOING_AWAY, "idle"))
        for client, code, reason in stuck:
            log.info("closing a websocket client (%d %s)", code, reason)
            self.close(client, code, reason)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                self.maintain()
            except Exception:
                log.exception("hub maintenance failed")

    # ---------------------------------------------------------------------------- internals

    def _now(self) -> float:
        return round(self._clock(), 3)

    def _state(self) -> dict[str, Any]:
        if self._mirror is None:
            self._mirror = self._sent = self._snapshot()
        return self._mirror

    def _stream(self, view: View, now: float) -> _Stream:
        stream = self._streams.get(view)
        if stream is None:
            stream = self._streams[view] = _Stream(view, now)
        return stream

    def _detach(self, client: Client) -> None:
        self._clients.pop(client, None)
        stream = client.stream
        stream.clients.pop(client, None)
        if not stream.clients and self._streams.get(stream.view) is stream:
            del self._streams[stream.view]

    def _snapshot_message(self, stream: _Stream) -> str:
        if stream.state_text is None:
            self._state()
            stream.state_text = _encode(filter_state(self._sent or {}, stream.view))
        head = _encode(
            {"type": "snapshot", "epoch": self.epoch, "seq": stream.seq, "now": self._now()}
        )
        return head[:-1] + ',"state":' + stream.state_text + "}"

    def _resync_stream(self, stream: _Stream, mono: float) -> None:
        stream.state_text = None
        stream.last_message = mono
        for client in list(stream.clients):
            self.resync(client)

    def _deliver(self, stream: _Stream, text: str) -> None:
        """Queue one encoded message for every client of a view (the overflow policy)."""
        limit = self.queue_size
        too_slow = []
        for client in stream.clients:
            queue = client.queue
            if len(queue) < limit:
                queue.append(text)
            elif client.behind:
                too_slow.append(client)
                continue
            else:
                self.counters["overflows"] += 1
                self.counters["dropped"] += len(queue)
                queue.clear()
                queue.append(self._snapshot_message(stream))
                self.counters["snapshots"] += 1
                client.behind = True
            client.wake.set()
        for client in too_slow:
            log.info("closing a websocket client that fell behind twice")
            self.close(client, CLOSE_TRY_AGAIN, "too slow: fell behind twice")

    def _reply(self, client: Client, message: dict[str, Any]) -> None:
        if client.closing:
            return
        if len(client.queue) >= self.queue_size:
            self.counters["replies_dropped"] += 1
            return
        client.queue.append(_encode(message))
        client.wake.set()

    async def _write(self, client: Client) -> None:
        """The client's writer: sends its queue in order, one message at a time."""
        queue, wake = client.queue, client.wake
        try:
            while True:
                while queue:
                    message = queue.popleft()
                    client.sending_since = self._monotonic()
                    await client.send(message)
                    client.sending_since = None
                    client.sent += 1
                    self.counters["messages_sent"] += 1
                    self.counters["bytes_sent"] += len(message)
                client.behind = False
                wake.clear()
                await wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket is gone
            self.counters["send_errors"] += 1
            log.debug("websocket send failed: %r", exc)
            self._detach(client)
            client.finish()

    async def _close_socket(self, client: Client) -> None:
        try:
            async with asyncio.timeout(self.close_timeout):
                await client.close_socket(
                    client.close_code or CLOSE_GOING_AWAY, client.close_reason
                )
        except Exception as exc:  # a blocked or vanished peer: the server drops the connection
            log.debug("websocket close failed: %r", exc)
        finally:
            client.finish()
