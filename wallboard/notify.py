"""Alerts out of the product: each rule's fires and clears (live/alerts.py) sent by webhook and
e-mail, off the live path.

`AlertNotifier.submit` only puts the transitions on a bounded queue (never blocks, drops and
counts when full); a worker sends each message with retries and backoff, at most
`max_per_hour` firing messages per rule (a clear always goes when its firing did), and records
every outcome in the store (`wallboard alerts log`). Webhooks are JSON signed with HMAC-SHA256
of the body (`X-Wallboard-Signature: sha256=<hex>`, key `webhook_secret`), or Slack/Teams
`{"text": ...}` payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

import httpx

from wallboard.config import ALERT_METRICS, AlertRule, Settings
from wallboard.history import alertlog
from wallboard.history.store import Store
from wallboard.live.alerts import Transition
from wallboard.mail import deliver, sender

log = logging.getLogger(__name__)

QUEUE_MAX = 1000  # transitions waiting to be sent; more are dropped (and logged)
RETRY_AFTER = (5.0, 30.0, 120.0)  # seconds before each retry of a failed message
HTTP_TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Wallboard-Signature"
UNITS = {"waiting": "", "longest_wait": " s", "service_level": " %", "abandon_rate": " %",
         "available": "", "paused": " min", "pbx_down": " s"}  # fmt: skip


@dataclass(frozen=True)
class Message:
    """One transition for one channel ("webhook" or "email") and target."""

    transition: Transition
    channel: str
    target: str
    limited: bool = False  # held back by the rule's rate limit: only recorded


def describe(t: Transition, names: dict[str, str]) -> str:
    """One line a person reads: "Sales: longest wait 185 s, above 120 (since 10:02:11)"."""
    rule = t.rule
    where = t.agent or names.get(t.queue, t.queue) or t.pbx
    if t.agent and t.queue:
        where = f"{t.agent} ({names.get(t.queue, t.queue)})"
    what = rule.metric.replace("_", " ")
    level = f"{rule.op} {rule.threshold:g}{UNITS[rule.metric]}"
    value = f"{t.value:g}{UNITS[rule.metric]}"
    if t.kind == "firing":
        return f"[{rule.name}] {where}: {what} {value}, {level}"
    return f"[{rule.name}] cleared: {where}: {what} back to {value} (clears at {rule.clear:g})"


def payload(t: Transition, text: str, fmt: str) -> dict[str, object]:
    """The webhook body: Slack/Teams `{"text"}`, or the generic JSON of the transition."""
    if fmt == "slack":
        return {"text": text}
    return {
        "rule": t.rule.name, "state": t.kind, "metric": t.rule.metric,
        "metric_means": ALERT_METRICS[t.rule.metric], "op": t.rule.op,
        "threshold": t.rule.threshold, "clear": t.rule.clear, "value": t.value,
        "subject": t.subject, "queue": t.queue, "agent": t.agent, "pbx": t.pbx,
        "at": int(t.at), "since": int(t.since), "text": text,
    }  # fmt: skip


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class AlertNotifier:
    """The sender of alert messages; `submit` is called on the event loop by the live side."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        retry_after: Sequence[float] = RETRY_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._store = store
        self._retry_after = tuple(retry_after)
        self._clock = clock
        self._queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_MAX)
        self._fired: dict[str, deque[float]] = {}  # rule -> times of its firing messages
        self._limited: set[tuple[str, str]] = set()  # (rule, subject) whose firing was held back
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.dropped = 0
        self.outcomes: dict[tuple[str, str, str], int] = {}  # (rule, channel, status) -> messages

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        self._task = asyncio.create_task(self._work(), name="alert notifier")
        rules = [r.name for r in self._settings.alert if r.webhook or r.email]
        log.info("alerts: %d rule(s), %d sending messages", len(self._settings.alert), len(rules))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drained(self) -> None:
        """Wait until every submitted message has been sent or given up (tests, shutdown)."""
        await self._queue.join()

    def submit(self, transitions: Sequence[Transition]) -> None:
        """Queue the messages of these transitions; never blocks."""
        for t in transitions:
            targets = [("webhook", t.rule.webhook)] if t.rule.webhook else []
            targets += [("email", address) for address in t.rule.email]
            if not targets:
                continue
            limited = not self._admit(t)
            for channel, target in targets:
                try:
                    self._queue.put_nowait(Message(t, channel, target, limited))
                except asyncio.QueueFull:
                    self.dropped += 1
                    log.error("alerts: the send queue is full; dropped %s %s of %r to %s",
                              t.kind, t.subject, t.rule.name, target)  # fmt: skip

    async def _work(self) -> None:
        while True:
            message = await self._queue.get()
            try:
                await self._handle(message)
            except Exception:
                log.exception("alerts: failed to handle a message of %r", message.transition.rule.name)
            finally:
                self._queue.task_done()

    def _admit(self, t: Transition) -> bool:
        """The rate limit: `max_per_hour` firings per rule; a clear goes when its firing did."""
        key = (t.rule.name, t.subject)
        if t.kind == "cleared":
            if key in self._limited:
                self._limited.discard(key)
                return False
            return True
        times = self._fired.setdefault(t.rule.name, deque())
        now = self._clock()
        while times and times[0] <= now - 3600:
            times.popleft()
        if len(times) >= t.rule.max_per_hour:
            self._limited.add(key)
            return False
        times.append(now)
        return True

    async def _handle(self, message: Message) -> None:
        t = message.transition
        if message.limited:
            await self._record(message, "rate-limited", 0, f"over {t.rule.max_per_hour} an hour")
            log.warning("alerts: %r %s for %s not sent: over %d an hour", t.rule.name, t.kind,
                        t.subject, t.rule.max_per_hour)  # fmt: skip
            return
        error = ""
        for attempt in range(1, len(self._retry_after) + 2):
            try:
                await self._send(message)
            except (httpx.HTTPError, OSError, RuntimeError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
                if attempt > len(self._retry_after):
                    break
                wait = self._retry_after[attempt - 1]
                log.warning("alerts: %r %s to %s failed (%s); again in %g s", t.rule.name,
                            t.kind, message.target, error, wait)  # fmt: skip
                await asyncio.sleep(wait)
                continue
            await self._record(message, "sent", attempt)
            log.info("alerts: %r %s for %s sent to %s", t.rule.name, t.kind, t.subject,
                     message.target)  # fmt: skip
            return
        await self._record(message, "failed", len(self._retry_after) + 1, error)
        log.error("alerts: %r %s to %s given up: %s", t.rule.name, t.kind, message.target, error)

    async def _send(self, message: Message) -> None:
        t = message.transition
        text = describe(t, dict(self._settings.queues))
        if message.channel == "webhook":
            body = json.dumps(payload(t, text, t.rule.webhook_format)).encode()
            headers = {"Content-Type": "application/json", "User-Agent": "wallboard"}
            if self._settings.webhook_secret:
                headers[SIGNATURE_HEADER] = signature(self._settings.webhook_secret, body)
            assert self._client is not None
            answer = await self._client.post(message.target, content=body, headers=headers)
            if answer.status_code >= 300:
                raise RuntimeError(f"the webhook answered {answer.status_code}")
            return
        mail = EmailMessage()
        mail["Subject"] = text[:200]
        mail["From"] = sender(self._settings)
        mail["To"] = message.target
        mail["Date"] = format_datetime(datetime.fromtimestamp(t.at, ZoneInfo(self._settings.timezone)))
        mail["Message-ID"] = make_msgid("wallboard-alert")
        started = datetime.fromtimestamp(t.since, ZoneInfo(self._settings.timezone))
        mail.set_content(f"{text}\n\nFiring since {started:%Y-%m-%d %H:%M:%S} ({self._settings.timezone}).\n"
                         "Sent by the wallboard's alert rules; see `wallboard alerts log`.\n")  # fmt: skip
        await asyncio.to_thread(deliver, self._settings, mail)

    async def _record(self, message: Message, status: str, attempts: int, error: str = "") -> None:
        t = message.transition
        key = (t.rule.name, message.channel, status)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        sent = alertlog.Sent(int(self._clock()), t.rule.name, t.subject, t.kind, message.channel,
                             message.target, status, attempts, error)  # fmt: skip
        try:
            await asyncio.to_thread(alertlog.record, self._store, sent)
        except Exception:
            log.exception("alerts: could not record a message in the alert log")


def wants_notifier(rules: Sequence[AlertRule]) -> bool:
    """Whether any rule sends anything (else no notifier runs)."""
    return any(rule.webhook or rule.email for rule in rules)
