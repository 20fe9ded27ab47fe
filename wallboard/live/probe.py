"""A one-shot AMI probe for `wallboard check`: what the live side will meet on this PBX.

Connects, reads the banner, logs in, pings (the answer's own Timestamp gives the PBX's clock),
asks CoreSettings for the Asterisk version when the user may, runs QueueStatus, then watches
for queue events for a while and runs QueueStatus again: when the queues changed but no queue
event arrived, the AMI user lacks `read = agent`. Touches nothing on the PBX.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from wallboard.live.framing import AmiFramer, AmiMessage

# AMI version (banner) -> Asterisk release, from protocol.md §1.1.
AMI_RELEASES = {
    "1.1": "1.8", "1.3": "11", "2": "13", "3": "14", "4": "15", "5": "16", "6": "17",
    "7": "18", "8": "19", "9": "20", "10": "21", "11": "22", "12": "23", "13": "23",
}  # fmt: skip


def asterisk_release(ami_version: str | None) -> str | None:
    """The Asterisk major release an AMI banner version belongs to, when known."""
    if not ami_version:
        return None
    parts = ami_version.split(".")
    return AMI_RELEASES.get(".".join(parts[:2])) or AMI_RELEASES.get(parts[0])


@dataclass
class ProbeReport:
    """What the probe saw; `error` says where it stopped, if it did."""

    reachable: bool = False
    error: str = ""
    ami_version: str | None = None
    asterisk_version: str | None = None  # from CoreSettings, when allowed
    logged_in: bool = False
    login_message: str = ""
    fully_booted: bool = False  # FullyBooted after login: the user reads `system`
    clock_offset: float | None = None  # PBX clock minus this host's, seconds
    queue_status: bool = False
    queue_status_message: str = ""
    queues: int = 0
    members: int = 0
    callers: int = 0
    events: Counter[str] = field(default_factory=Counter)  # queue events seen, by name
    changed: bool = False  # the second QueueStatus differs from the first
    watched: float = 0.0


class _Link:
    """One AMI connection: framed messages, actions answered by ActionID, events kept."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = AmiFramer()
        self.pending: list[AmiMessage] = []
        self.events: list[AmiMessage] = []
        self._ids = itertools.count(1)

    async def _more(self, deadline: float) -> bool:
        loop = asyncio.get_running_loop()
        try:
            data = await asyncio.wait_for(self.reader.read(65536), max(0.0, deadline - loop.time()))
        except TimeoutError:
            return False
        if not data:
            raise ConnectionError("the PBX closed the connection")
        for message in self.framer.feed(data):
            if "actionid" in message:
                self.pending.append(message)
            elif "event" in message:
                self.events.append(message)
            else:
                self.pending.append(message)
        return True

    async def banner(self, timeout: float) -> str | None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.framer.version is None:
            if not await self._more(deadline):
                return None
        return self.framer.version

    async def action(self, fields: dict[str, str], timeout: float, until: str = "") -> list[AmiMessage]:
        """Send an action; its messages (response, then list events up to the `until` event)."""
        action_id = f"wallboard-check-{next(self._ids)}"
        text = "".join(f"{k}: {v}\r\n" for k, v in {**fields, "ActionID": action_id}.items())
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()
        deadline = asyncio.get_running_loop().time() + timeout
        got: list[AmiMessage] = []
        while True:
            for message in list(self.pending):
                if message.get("actionid") in (action_id, None):
                    self.pending.remove(message)
                    got.append(message)
            if got and (not until or got[0].get("response", "").lower() != "success"
                        or any(m.get("event", "").lower() == until for m in got)):  # fmt: skip
                return got
            if not await self._more(deadline):
                raise TimeoutError(f"no answer to {fields['Action']} within {timeout:g} s")

    async def watch(self, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        with contextlib.suppress(TimeoutError):
            while await self._more(deadline):
                pass


def _queue_picture(messages: list[AmiMessage]) -> frozenset[tuple[str, ...]]:
    """What QueueStatus says, reduced to what changes when queue events would fire."""
    seen = set()
    for m in messages:
        kind = m.get("event", "").lower()
        if kind == "queuemember":
            seen.add(("member", m.get("queue", ""), m.get("location") or m.get("interface", ""),
                      m.get("status", ""), m.get("paused", ""), m.get("incall", ""),
                      m.get("callstaken", ""), m.get("lastcall", ""), m.get("lastpause", "")))  # fmt: skip
        elif kind == "queueentry":
            seen.add(("caller", m.get("queue", ""), m.get("uniqueid", "")))
    return frozenset(seen)


async def probe_ami(
    host: str,
    port: int,
    user: str,
    secret: str,
    tls: bool = False,
    watch: float = 5.0,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> ProbeReport:
    """Probe one AMI; never raises for what the PBX does (the report says it)."""
    report = ProbeReport()
    context = ssl.create_default_context() if tls else None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context), timeout
        )
    except (OSError, TimeoutError) as exc:
        report.error = f"cannot connect to {host}:{port}: {exc or type(exc).__name__}"
        return report
    report.reachable = True
    link = _Link(reader, writer)
    try:
        await _run(link, report, user, secret, watch, timeout, clock)
    except (ConnectionError, TimeoutError, OSError) as exc:
        report.error = str(exc) or type(exc).__name__
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return report


async def _run(link: _Link, report: ProbeReport, user: str, secret: str, watch: float,
               timeout: float, clock: Callable[[], float]) -> None:  # fmt: skip
    report.ami_version = await link.banner(timeout)
    if report.ami_version is None:
        raise TimeoutError(f"no AMI banner within {timeout:g} s: is this an Asterisk manager port?")
    if report.ami_version == "":
        raise ConnectionError("this port does not speak AMI (no 'Asterisk Call Manager' banner)")
    try:
        login = await link.action(
            {"Action": "Login", "Username": user, "Secret": secret, "Events": "agent,system"},
            timeout,
        )
    except ConnectionError:
        report.login_message = "the PBX closed the connection at login"
        return
    reply = login[0]
    report.login_message = reply.get("message", "")
    if reply.get("response", "").lower() != "success":
        return
    report.logged_in = True
    sent = clock()
    pong = (await link.action({"Action": "Ping"}, timeout))[0]
    received = clock()
    stamp = pong.get("timestamp")
    if stamp:
        with contextlib.suppress(ValueError):
            report.clock_offset = float(stamp) - (sent + received) / 2
    settings = (await link.action({"Action": "CoreSettings"}, timeout))[0]
    if settings.get("response", "").lower() == "success":
        report.asterisk_version = settings.get("asteriskversion") or None
    first = await link.action({"Action": "QueueStatus"}, timeout, until="queuestatuscomplete")
    report.queue_status_message = first[0].get("message", "")
    if first[0].get("response", "").lower() != "success":
        return
    report.queue_status = True
    kinds = Counter(m.get("event", "").lower() for m in first)
    report.queues, report.members, report.callers = (
        kinds["queueparams"], kinds["queuemember"], kinds["queueentry"]
    )
    started = asyncio.get_running_loop().time()
    await link.watch(watch)
    report.watched = asyncio.get_running_loop().time() - started
    second = await link.action({"Action": "QueueStatus"}, timeout, until="queuestatuscomplete")
    report.changed = _queue_picture(first) != _queue_picture(second)
    for event in link.events:
        name = event.get("event", "")
        if name == "FullyBooted":
            report.fully_booted = True
        elif "agent" in event.get("privilege", "").split(","):
            report.events[name] += 1
