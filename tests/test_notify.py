"""Alert messages to a real local HTTP receiver (uvicorn) and a real SMTP server (aiosmtpd):
exactly one firing and one clearing message per channel, the HMAC signature, the Slack
payload, retries with backoff, the rate limit, `wallboard alerts log`; never blocking."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.browser_support import Served
from tests.smtp_support import SmtpServer
from tests.test_alerts import T0, Script, join
from wallboard.config import AlertRule, Settings
from wallboard.history import alertlog
from wallboard.history.store import open_store
from wallboard.live.events import CallerLeave
from wallboard.notify import SIGNATURE_HEADER, AlertNotifier

SECRET = "hook-secret"


class Receiver:
    """A webhook endpoint that records what it gets; answers `failures` 500s first."""

    def __init__(self, failures: int = 0) -> None:
        self.got: list[tuple[dict, dict[str, str]]] = []
        self.failures = failures

        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            if self.failures:
                self.failures -= 1
                return JSONResponse({"error": "busy"}, status_code=500)
            self.got.append((json.loads(body), dict(request.headers) | {"raw": body.decode()}))
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
async def receiver():
    found = Receiver()
    server = await Served(found.app).start()
    found.url = f"http://{server.base}/hook"
    yield found
    await server.stop()


def settings_for(smtp: SmtpServer, *rules: AlertRule) -> Settings:
    return Settings(timezone="UTC", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
                    smtp_from="wallboard@pbx.example", webhook_secret=SECRET, alert=rules,
                    queues={"sales": "Sales"})  # fmt: skip


def fire_and_clear(rule: AlertRule, notifier: AlertNotifier, rounds: int = 1) -> Script:
    """Waiting above 0 in sales: a caller joins (fires), leaves (clears), `rounds` times."""
    s = Script(rule)
    for n in range(rounds):
        for when, event in ((10 * n + 1, join("sales", f"c{n}")),
                            (10 * n + 5, CallerLeave("sales", f"c{n}"))):  # fmt: skip
            s.state.apply(event, T0 + when)
            notifier.submit(s.state.take_transitions())
    return s


@contextlib.asynccontextmanager
async def sending(tmp_path: Path, smtp: SmtpServer, rule: AlertRule, **options: object):
    """A running notifier over a fresh store; on leaving, every message sent or given up."""
    store = open_store(str(tmp_path / "w.db"))
    notifier = AlertNotifier(settings_for(smtp, rule), store, **options)
    await notifier.start()
    try:
        yield store, notifier
        await asyncio.wait_for(notifier.drained(), 20)
    finally:
        await notifier.stop()


async def test_one_firing_and_one_clearing_message_on_each_channel(tmp_path, receiver, smtp) -> None:
    rule = AlertRule("queue-busy", "waiting", "above", 0, 0, webhook=receiver.url,
                     email=("boss@example.com",))  # fmt: skip
    async with sending(tmp_path, smtp, rule, retry_after=(0.01,)) as (store, notifier):
        fire_and_clear(rule, notifier)
    bodies = [body for body, _ in receiver.got]
    assert [b["state"] for b in bodies] == ["firing", "cleared"]
    assert bodies[0] | {"at": 0, "since": 0} == {
        "rule": "queue-busy", "state": "firing", "metric": "waiting",
        "metric_means": "callers waiting", "op": "above", "threshold": 0, "clear": 0,
        "value": 1, "subject": "sales", "queue": "sales", "agent": "", "pbx": "default",
        "at": 0, "since": 0, "text": "[queue-busy] Sales: waiting 1, above 0",
    }  # fmt: skip
    assert bodies[0]["at"] == int(T0 + 1) and bodies[1]["since"] == int(T0 + 1)
    for _, headers in receiver.got:  # signed: HMAC-SHA256 of the exact body
        expected = hmac.new(SECRET.encode(), headers["raw"].encode(), hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    mails = smtp.inbox.messages
    assert [m["Subject"] for m in mails] == [
        "[queue-busy] Sales: waiting 1, above 0",
        "[queue-busy] cleared: Sales: waiting back to 0 (clears at 0)",
    ]
    assert all(m["To"] == "boss@example.com" for m in mails)
    logged = alertlog.recent(store)
    assert [(r.kind, r.channel, r.status, r.attempts) for r in logged] == [
        ("firing", "webhook", "sent", 1), ("firing", "email", "sent", 1),
        ("cleared", "webhook", "sent", 1), ("cleared", "email", "sent", 1),
    ]  # fmt: skip
    store.close()


async def test_slack_payload_and_retries_with_backoff(tmp_path, receiver, smtp) -> None:
    receiver.failures = 2
    rule = AlertRule("busy", "waiting", "above", 0, 0, webhook=receiver.url, webhook_format="slack")
    async with sending(tmp_path, smtp, rule, retry_after=(0.01, 0.02, 0.03)) as (store, notifier):
        fire_and_clear(rule, notifier)
    assert [body for body, _ in receiver.got] == [
        {"text": "[busy] Sales: waiting 1, above 0"},
        {"text": "[busy] cleared: Sales: waiting back to 0 (clears at 0)"},
    ]
    assert [(r.kind, r.status, r.attempts) for r in alertlog.recent(store)] == [
        ("firing", "sent", 3), ("cleared", "sent", 1)]  # fmt: skip
    store.close()


async def test_a_dead_receiver_is_given_up_and_logged(tmp_path, smtp) -> None:
    rule = AlertRule("busy", "waiting", "above", 0, 0, webhook="http://127.0.0.1:9/hook")
    async with sending(tmp_path, smtp, rule, retry_after=(0.01, 0.01)) as (store, notifier):
        fire_and_clear(rule, notifier)
    logged = alertlog.recent(store)
    assert [(r.kind, r.status, r.attempts) for r in logged] == [("firing", "failed", 3),
                                                                ("cleared", "failed", 3)]  # fmt: skip
    assert "ConnectError" in logged[0].error
    store.close()


async def test_the_rate_limit_holds_back_firings_and_their_clears(tmp_path, receiver, smtp) -> None:
    rule = AlertRule("busy", "waiting", "above", 0, 0, webhook=receiver.url, max_per_hour=2)
    async with sending(tmp_path, smtp, rule, retry_after=(0.01,), clock=lambda: T0) as (store, notifier):
        fire_and_clear(rule, notifier, rounds=4)
    assert [body["state"] for body, _ in receiver.got] == ["firing", "cleared"] * 2
    statuses = [(r.kind, r.status) for r in alertlog.recent(store)]
    assert statuses == [("firing", "sent"), ("cleared", "sent")] * 2 + [
        ("firing", "rate-limited"), ("cleared", "rate-limited")] * 2  # fmt: skip
    store.close()
    db = str(tmp_path / "w.db")
    listed = subprocess.run([sys.executable, "-m", "wallboard", "alerts", "log", "--db", db,
                             "--rule", "busy", "--limit", "3"], capture_output=True, text=True)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["AT", "RULE", "SUBJECT"] and len(lines) == 4
    assert "rate-limited" in lines[-1] and "over 2 an hour" in lines[-1]


def test_submit_never_blocks_and_counts_what_it_drops(tmp_path, smtp) -> None:
    rule = AlertRule("busy", "waiting", "above", 0, 0, webhook="http://127.0.0.1:9/hook",
                     max_per_hour=10**6)  # fmt: skip

    async def run() -> int:
        store = open_store(str(tmp_path / "w.db"))
        notifier = AlertNotifier(settings_for(smtp, rule), store)  # not started: nothing sends
        fire_and_clear(rule, notifier, rounds=600)  # 1200 messages, the queue holds 1000
        store.close()
        return notifier.dropped

    assert asyncio.run(run()) == 200
    assert Path(tmp_path / "w.db").exists()


async def test_the_metrics_count_what_fires_and_what_was_sent(tmp_path, receiver, smtp) -> None:
    from types import SimpleNamespace

    from prometheus_client.parser import text_string_to_metric_families

    from wallboard.web.metrics import Metrics

    rule = AlertRule("busy", "waiting", "above", 0, 0, webhook=receiver.url, max_per_hour=1)
    async with sending(tmp_path, smtp, rule, retry_after=(0.01,), clock=lambda: T0) as (store, notifier):
        script = fire_and_clear(rule, notifier, rounds=2)  # the second round is rate-limited
        script.state.apply(join("sales", "still-waiting"), T0 + 100)  # fires again, now
        notifier.submit(script.state.take_transitions())
    live = SimpleNamespace(state=script.state, listeners={}, sources={}, hub=None)
    text = Metrics(SimpleNamespace(live=live, notifier=notifier, store=None, started=T0)).render()
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    assert [(s.labels["rule"], s.value) for s in families["wallboard_alerts_firing"].samples] == [
        ("busy", 1.0)]  # fmt: skip
    sent = {(s.labels["channel"], s.labels["status"]): s.value
            for s in families["wallboard_alert_messages"].samples if s.name.endswith("_total")}  # fmt: skip
    assert sent == {("webhook", "sent"): 2.0, ("webhook", "rate-limited"): 3.0}
    store.close()
