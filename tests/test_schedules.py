"""Scheduled report e-mail: the schedules table and its time rules, and the mailer against a real
SMTP server (aiosmtpd on 127.0.0.1), with the files checked against the REST API's rows."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import logging
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.testclient import TestClient

from tests.smtp_support import SmtpServer
from tests.test_reports import DAY_ONE, DAY_TWO, D
from wallboard.app import create_app
from wallboard.auth import UserStore
from wallboard.check import check_mail
from wallboard.config import Settings, SettingsError, load_settings, shown_value
from wallboard.history import schedules
from wallboard.history.ingest import import_files
from wallboard.history.mailer import ReportMailer, start_mailer
from wallboard.history.schedules import Schedule, ScheduleError
from wallboard.history.store import Store, open_store
from wallboard.mail import deliver

ROOT = Path(__file__).resolve().parent.parent
UTC_ZONE = ZoneInfo("UTC")
MADRID = ZoneInfo("Europe/Madrid")
URL = "/stats/rest/index.php"
DAY2_7AM = D + 86400 + 7 * 3600  # 2024-03-06 07:00 UTC: yesterday is 2024-03-05 (DAY_ONE)
CREATED = D + 12 * 3600  # the schedules are made on 2024-03-05 at noon
PASSWORDS = {"admin": "admin-pw", "sup": "sup-pw", "alice": "alice-pw", "seller": "seller-pw"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# -- a real SMTP server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def store(tmp_path: Path):
    log = tmp_path / "queue_log"
    log.write_text("".join(DAY_ONE + DAY_TWO))
    found = open_store(str(tmp_path / "wallboard.db"))
    import_files(found, [log])
    users = UserStore(found)
    users.add("admin", PASSWORDS["admin"], admin=True)
    users.add("sup", PASSWORDS["sup"], queues=["support"])
    users.add("seller", PASSWORDS["seller"], queues=["sales"])
    yield found
    found.close()


def mail_settings(server: SmtpServer, **changes: object) -> Settings:
    values: dict[str, object] = {"timezone": "UTC", "smtp_host": "127.0.0.1",
                                 "smtp_port": server.port, "smtp_tls": "none",
                                 "smtp_from": "wallboard@pbx.example"}  # fmt: skip
    return Settings(**(values | changes))


def mailer(settings: Settings, store: Store, **options: object) -> ReportMailer:
    return ReportMailer(settings, store, UserStore(store).get, **options)


def attachment(message: EmailMessage) -> tuple[str, str, bytes]:
    (part,) = list(message.iter_attachments())
    return part.get_filename(), part.get_content_type(), part.get_content()


def api_rows(settings: Settings, store: Store, entity: str, user: str, day: str) -> list[dict]:
    app = create_app(settings, store, services=False)
    app.state.clock = lambda: DAY2_7AM
    client = TestClient(app)
    token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    response = client.get(URL, params={"entity": entity, "start": day, "end": day},
                          headers={"Authorization": f"Basic {token}"})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["rows"]


def as_cell(value: str) -> object:
    """What a JSON value is as an XLSX cell: a number when it reads as one, else the text."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value or None


# -- the mailer against the server ----------------------------------------------------------------


async def test_a_due_xlsx_schedule_is_sent_once_with_only_the_users_queues(smtp, store) -> None:
    settings = mail_settings(smtp)
    schedules.add(store, "daily", "distribution_by_queue", "yesterday", "boss@example.com,b@x.org",
                  "xlsx", "07:00", "sup", now=CREATED)  # fmt: skip
    assert await mailer(settings, store).run_due(DAY2_7AM + 20) == ["daily"]
    (mail_from, rcpt_tos, message), = smtp.inbox.received
    assert mail_from == "wallboard@pbx.example" and rcpt_tos == ["boss@example.com", "b@x.org"]
    assert message["Subject"] == "distribution_by_queue 2024-03-05..2024-03-05 (daily)"
    assert message["To"] == "boss@example.com, b@x.org"
    assert "distribution_by_queue" in message.get_body(("plain",)).get_content()
    name, kind, data = attachment(message)
    assert (name, kind) == ("distribution_by_queue_2024-03-05.xlsx", XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    header, *cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    expected = api_rows(settings, store, "reports/distribution_by_queue", "sup", "2024-03-05")
    assert [r["Queue"] for r in expected] == ["support"]  # sup sees only support
    assert header == list(expected[0])
    assert cells == [[as_cell(row[c]) for c in header] for row in expected]
    assert isinstance(cells[0][1], int) and cells[0][1] == 3  # numbers as numbers: 3 received
    found = schedules.get(store, "daily")
    assert found.last_due == DAY2_7AM and found.last_sent == DAY2_7AM + 20
    assert found.last_error is None
    # Again in the same process, and in a fresh one (a restart): nothing more for that due time.
    assert await mailer(settings, store).run_due(DAY2_7AM + 50) == []
    assert await mailer(settings, store).run_due(DAY2_7AM + 3600) == []
    assert len(smtp.inbox.messages) == 1


@pytest.mark.parametrize(("report", "user", "queue"), [
    ("answered_calls_detail", "seller", "sales"),
    ("search", "sup", "support"),
])  # fmt: skip
async def test_a_csv_schedule_holds_the_rest_apis_rows(smtp, store, report, user, queue) -> None:
    settings = mail_settings(smtp)
    schedules.add(store, "rows", report, "yesterday", "boss@example.com", "csv", "07:00", user,
                  now=CREATED)  # fmt: skip
    assert await mailer(settings, store).run_due(DAY2_7AM) == ["rows"]
    name, kind, data = attachment(smtp.inbox.messages[0])
    assert (name, kind) == (f"{report}_2024-03-05.csv", "text/csv")
    entity = "search" if report == "search" else f"reports/{report}"
    expected = api_rows(settings, store, entity, user, "2024-03-05")
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    got = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(got) >= 2 and {row["queue"] for row in got} == {queue}
    assert got == [{c: str(row.get(c, "")) for c in got[0]} for row in expected]


async def test_nothing_is_sent_before_its_time_nor_for_a_time_before_the_schedule(smtp, store) -> None:
    settings = mail_settings(smtp)
    schedules.add(store, "later", "transfers", "yesterday", "a@example.com", at="08:00",
                  now=CREATED)  # fmt: skip
    schedules.add(store, "new", "transfers", "yesterday", "a@example.com", at="07:00",
                  now=DAY2_7AM + 600)  # added at 07:10: its first due time is tomorrow's
    sender = mailer(settings, store)
    assert await sender.run_due(DAY2_7AM + 3599) == []
    assert schedules.get(store, "later").last_due is None
    assert await sender.run_due(DAY2_7AM + 3600) == ["later"]
    assert await sender.run_due(DAY2_7AM + 86400) == ["new"]
    assert await sender.run_due(DAY2_7AM + 86400 + 3600) == ["later"]
    assert schedules.get(store, "later").user_name == "admin"  # the first admin by default


async def test_a_process_down_over_due_times_sends_the_latest_once_at_start(smtp, store) -> None:
    settings = mail_settings(smtp)
    schedules.add(store, "daily", "distribution_by_queue", "yesterday", "a@example.com",
                  now=CREATED)  # fmt: skip
    later = DAY2_7AM + 2 * 86400 + 3600  # 2024-03-08 08:00: three due times went by
    sender = mailer(settings, store, clock=lambda: later, interval=0.02)
    await sender.start()
    try:
        for _ in range(500):
            if smtp.inbox.messages:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # ten more looks
    finally:
        await sender.stop()
    (message,) = smtp.inbox.messages
    assert message["Subject"] == "distribution_by_queue 2024-03-07..2024-03-07 (daily)"
    assert schedules.get(store, "daily").last_due == DAY2_7AM + 2 * 86400


async def test_a_refused_send_is_recorded_and_retried_when_the_server_is_back(smtp, store) -> None:
    settings = mail_settings(smtp)
    schedules.add(store, "daily", "distribution_by_queue", "yesterday", "a@example.com",
                  now=CREATED)  # fmt: skip
    sender = mailer(settings, store)
    smtp.stop()
    assert await sender.run_due(DAY2_7AM) == []
    failed = schedules.get(store, "daily")
    assert failed.last_due == DAY2_7AM and failed.last_sent is None
    assert "ConnectionRefusedError" in failed.last_error
    smtp.start()
    assert await sender.run_due(DAY2_7AM + 30) == []  # the first retry waits a minute
    assert await mailer(settings, store).run_due(DAY2_7AM + 30) == []  # others: claimed
    assert await sender.run_due(DAY2_7AM + 61) == ["daily"]
    sent = schedules.get(store, "daily")
    assert sent.last_sent == DAY2_7AM + 61 and sent.last_error is None
    assert len(smtp.inbox.messages) == 1
    assert await sender.run_due(DAY2_7AM + 3600) == []


async def test_failed_sends_are_given_up_after_the_retries(smtp, store, caplog) -> None:
    settings = mail_settings(smtp)
    schedules.add(store, "daily", "transfers", "yesterday", "a@example.com", now=CREATED)
    sender = mailer(settings, store, retry_after=(10.0, 20.0))
    smtp.stop()
    with caplog.at_level(logging.WARNING, "wallboard.history.mailer"):
        for offset in (0, 10, 30):
            assert await sender.run_due(DAY2_7AM + offset) == []
    assert "given up after 3 attempt(s)" in caplog.text
    smtp.start()
    assert await sender.run_due(DAY2_7AM + 3600) == []  # that due time is over
    assert await sender.run_due(DAY2_7AM + 86400) == ["daily"]  # the next one is sent
    assert smtp.inbox.messages[0]["Subject"].startswith("transfers 2024-03-06..2024-03-06")


async def test_two_processes_send_a_due_time_once(smtp, store, tmp_path) -> None:
    settings = mail_settings(smtp)
    schedules.add(store, "daily", "transfers", "yesterday", "a@example.com", now=CREATED)
    other = open_store(str(tmp_path / "wallboard.db"))  # a second process's connections
    try:
        results = await asyncio.gather(*(mailer(settings, s).run_due(DAY2_7AM)
                                         for s in (store, other, store, other)))  # fmt: skip
    finally:
        other.close()
    assert sorted(map(len, results)) == [0, 0, 0, 1]
    assert len(smtp.inbox.messages) == 1


async def test_one_failing_schedule_does_not_stop_the_others(smtp, store, caplog) -> None:
    settings = mail_settings(smtp)
    schedules.add(store, "a-gone", "transfers", "yesterday", "a@example.com", user="sup",
                  now=CREATED)  # fmt: skip
    schedules.add(store, "b-fine", "transfers", "yesterday", "a@example.com", now=CREATED)
    UserStore(store).remove("sup")
    assert await mailer(settings, store).run_due(DAY2_7AM) == ["b-fine"]
    assert "no longer exists" in schedules.get(store, "a-gone").last_error
    assert "given up" in caplog.text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_a_login_is_made_with_smtp_user(store) -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, data) -> AuthResult:
        assert isinstance(data, LoginPassword)
        seen.append((data.login, data.password))
        return AuthResult(success=data.password == b"pa55", handled=False)

    server = SmtpServer(auth_required=True, auth_require_tls=False, authenticator=authenticator)
    server.start()
    try:
        schedules.add(store, "daily", "transfers", "yesterday", "a@example.com", now=CREATED)
        wrong = mail_settings(server, smtp_user="mailer", smtp_password="wrong")
        assert await mailer(wrong, store).run_due(DAY2_7AM) == []
        error = schedules.get(store, "daily").last_error
        assert "SMTPAuthenticationError" in error and "wrong" not in error
        right = mail_settings(server, smtp_user="mailer", smtp_password="pa55")
        schedules.remove(store, "daily")
        schedules.add(store, "daily", "transfers", "yesterday", "a@example.com", now=CREATED)
        assert await mailer(right, store).run_due(DAY2_7AM) == ["daily"]
    finally:
        server.stop()
    assert seen[-1] == (b"mailer", b"pa55") and len(server.inbox.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_check_tries_the_mail_server_as_a_send_would_and_sends_nothing() -> None:
    def authenticator(server, session, envelope, mechanism, data) -> AuthResult:
        return AuthResult(success=data.password == b"pa55", handled=False)

    server = SmtpServer(auth_required=True, auth_require_tls=False, authenticator=authenticator)
    server.start()
    try:
        (found,) = check_mail(mail_settings(server, smtp_user="mailer", smtp_password="pa55"))
        assert found.status == "ok" and "logged in as mailer" in found.text, found
        (found,) = check_mail(mail_settings(server, smtp_user="mailer", smtp_password="wrong"))
        assert found.status == "fail" and "login as 'mailer' was refused: 535" in found.text
        assert "wrong" not in found.text
        (found,) = check_mail(mail_settings(server, smtp_tls="starttls"))
        assert found.status == "fail" and "STARTTLS" in found.text, found
    finally:
        server.stop()
    (found,) = check_mail(mail_settings(server))  # stopped: nothing listens on the port
    assert found.status == "fail" and f"127.0.0.1:{server.port} (none)" in found.text
    assert "ConnectionRefusedError" in found.text
    (found,) = check_mail(Settings())
    assert found.status == "ok" and "no smtp_host" in found.text
    assert server.inbox.messages == []


async def test_starttls_is_never_skipped_when_the_server_lacks_it(smtp, store) -> None:
    schedules.add(store, "daily", "transfers", "yesterday", "a@example.com", now=CREATED)
    assert await mailer(mail_settings(smtp, smtp_tls="starttls"), store).run_due(DAY2_7AM) == []
    assert "STARTTLS" in schedules.get(store, "daily").last_error
    assert smtp.inbox.messages == []


def test_serve_sends_from_its_lifespan_with_the_loop_guard_on(smtp, tmp_path) -> None:
    guarded = open_store(str(tmp_path / "guarded.db"), loop_guard=True)
    UserStore(guarded).add("admin", "pw", admin=True)
    schedules.add(guarded, "daily", "transfers", "yesterday", "a@example.com",
                  now=time.time() - 3 * 86400)  # fmt: skip
    app = create_app(mail_settings(smtp), guarded, services=True)
    with TestClient(app):
        for _ in range(500):
            if smtp.inbox.messages:
                break
            time.sleep(0.01)
    guarded.close()
    assert len(smtp.inbox.messages) == 1


async def test_without_smtp_host_serve_says_once_that_schedules_wait(store, caplog) -> None:
    assert await start_mailer(Settings(timezone="UTC"), store, UserStore(store).get) is None
    assert "not sent" not in caplog.text  # no schedule: nothing to say
    schedules.add(store, "daily", "transfers", "yesterday", "a@example.com", now=CREATED)
    with caplog.at_level(logging.WARNING):
        assert await start_mailer(Settings(timezone="UTC"), store, UserStore(store).get) is None
    assert "1 report schedule(s) are not sent: no smtp_host is set" in caplog.text


# -- the SMTP options -----------------------------------------------------------------------------


class FakeSmtp:
    """smtplib's stand-in: records the calls, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        fake = self

        class Client:
            def __init__(self, kind: str, host: str, port: int, **options: object) -> None:
                fake.calls.append((kind, host, port, sorted(options)))

            def __enter__(self):
                return self

            def __exit__(self, *exc: object) -> None:
                fake.calls.append(("quit",))

            def starttls(self, context=None) -> None:
                fake.calls.append(("starttls", context is not None))

            def login(self, user: str, password: str) -> None:
                fake.calls.append(("login", user, password))

            def send_message(self, message) -> None:
                fake.calls.append(("send",))

        self.SMTP = lambda host, port, **kw: Client("SMTP", host, port, **kw)
        self.SMTP_SSL = lambda host, port, **kw: Client("SMTP_SSL", host, port, **kw)


@pytest.mark.parametrize(("tls", "user", "expected"), [
    ("none", None, [("SMTP", "mx", 25, ["timeout"]), ("send",), ("quit",)]),
    ("starttls", None, [("SMTP", "mx", 25, ["timeout"]), ("starttls", True), ("send",), ("quit",)]),
    ("starttls", "u", [("SMTP", "mx", 25, ["timeout"]), ("starttls", True), ("login", "u", "pw"),
                       ("send",), ("quit",)]),
    ("tls", "u", [("SMTP_SSL", "mx", 25, ["context", "timeout"]), ("login", "u", "pw"), ("send",),
                  ("quit",)]),
])  # fmt: skip
def test_the_tls_and_login_options(tls, user, expected) -> None:
    fake = FakeSmtp()
    settings = Settings(smtp_host="mx", smtp_tls=tls, smtp_user=user, smtp_password="pw")
    deliver(settings, EmailMessage(), smtp=fake)
    assert fake.calls == expected


def test_the_smtp_settings_load_validate_and_mask_the_password(tmp_path: Path) -> None:
    env = {"WALLBOARD_SMTP_HOST": "mail.example", "WALLBOARD_SMTP_PORT": "465",
           "WALLBOARD_SMTP_TLS": "tls", "WALLBOARD_SMTP_USER": "wb",
           "WALLBOARD_SMTP_PASSWORD": "s3cret", "WALLBOARD_SMTP_FROM": "wb@pbx.example"}  # fmt: skip
    loaded = load_settings(environ=env)
    assert (loaded.smtp_host, loaded.smtp_port, loaded.smtp_tls, loaded.smtp_user,
            loaded.smtp_from) == ("mail.example", 465, "tls", "wb", "wb@pbx.example")  # fmt: skip
    assert shown_value(loaded, "smtp_password") == "********" and "s3cret" not in repr(loaded)
    defaults = load_settings(environ={})
    assert (defaults.smtp_host, defaults.smtp_port, defaults.smtp_tls) == (None, 25, "starttls")
    for bad in ({"WALLBOARD_SMTP_TLS": "ssl"}, {"WALLBOARD_SMTP_PORT": "0"},
                {"WALLBOARD_SMTP_FROM": "nobody"}):  # fmt: skip
        with pytest.raises(SettingsError, match="smtp_"):
            load_settings(environ=bad)


# -- time rules -----------------------------------------------------------------------------------


def madrid(*parts: int) -> float:
    return datetime(*parts, tzinfo=MADRID).timestamp()


def test_period_days() -> None:
    now = madrid(2026, 3, 30, 7, 0)  # a Monday, the day after the clocks went forward
    assert schedules.period_days("yesterday", now, MADRID) == (date(2026, 3, 29),) * 2
    assert schedules.period_days("last_week", now, MADRID) == (date(2026, 3, 23), date(2026, 3, 29))
    assert schedules.period_days("last_month", now, MADRID) == (date(2026, 2, 1), date(2026, 2, 28))
    sunday = madrid(2026, 3, 29, 23, 30)  # 21:30 UTC: still Sunday in Madrid
    assert schedules.period_days("yesterday", sunday, MADRID) == (date(2026, 3, 28),) * 2
    assert schedules.period_days("last_week", sunday, MADRID) == (date(2026, 3, 16), date(2026, 3, 22))
    new_year = madrid(2026, 1, 1, 0, 5)
    assert schedules.period_days("last_month", new_year, MADRID) == (date(2025, 12, 1), date(2025, 12, 31))
    assert schedules.period_days("yesterday", new_year, MADRID) == (date(2025, 12, 31),) * 2
    assert schedules.period_days("yesterday", madrid(2026, 10, 26, 0, 30), MADRID) == (
        date(2026, 10, 25),) * 2  # the 25-hour day  # fmt: skip


def utc(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


def test_due_at_across_the_changes_of_time_in_madrid() -> None:
    assert schedules.due_at("07:00", date(2026, 3, 28), MADRID) == utc(2026, 3, 28, 6, 0)  # CET
    assert schedules.due_at("07:00", date(2026, 3, 29), MADRID) == utc(2026, 3, 29, 5, 0)  # CEST
    # 02:30 does not exist on 29 March (02:00 -> 03:00): it moves forward to 03:30 CEST.
    skipped = schedules.due_at("02:30", date(2026, 3, 29), MADRID)
    assert skipped == utc(2026, 3, 29, 1, 30)
    assert datetime.fromtimestamp(skipped, MADRID).strftime("%H:%M") == "03:30"
    # 02:30 happens twice on 25 October (03:00 -> 02:00): the first one, in CEST.
    assert schedules.due_at("02:30", date(2026, 10, 25), MADRID) == utc(2026, 10, 25, 0, 30)
    assert schedules.due_at("07:00", date(2026, 10, 25), MADRID) == utc(2026, 10, 25, 6, 0)  # CET
    assert schedules.due_at("7:05", date(2026, 10, 26), MADRID) == utc(2026, 10, 26, 6, 5)


def schedule(period: str, at: str, **extra: object) -> Schedule:
    return Schedule("s", "transfers", period, ("a@example.com",), "csv", at, "admin",
                    **({"created": 0} | extra))  # fmt: skip


def test_latest_and_next_due_across_the_changes_of_time() -> None:
    daily = schedule("yesterday", "02:30")
    before = utc(2026, 3, 29, 1, 15)  # 03:15 CEST: the skipped 02:30 is 03:30
    assert schedules.latest_due(daily, before, MADRID) == utc(2026, 3, 28, 1, 30)
    assert schedules.next_due(daily, before, MADRID) == utc(2026, 3, 29, 1, 30)
    assert schedules.latest_due(daily, utc(2026, 3, 29, 1, 30), MADRID) == utc(2026, 3, 29, 1, 30)
    # Fall back: once, at the first 02:30; the second 02:30 an hour later is no due time.
    second = utc(2026, 10, 25, 1, 45)  # 02:45 CET, after the repeated 02:30
    assert schedules.latest_due(daily, second, MADRID) == utc(2026, 10, 25, 0, 30)
    assert schedules.next_due(daily, second, MADRID) == utc(2026, 10, 26, 1, 30)
    weekly = schedule("last_week", "07:00")
    assert schedules.latest_due(weekly, madrid(2026, 4, 1, 12, 0), MADRID) == madrid(2026, 3, 30, 7, 0)
    assert schedules.next_due(weekly, madrid(2026, 3, 30, 7, 0), MADRID) == madrid(2026, 4, 6, 7, 0)
    monthly = schedule("last_month", "07:00")
    assert schedules.latest_due(monthly, madrid(2026, 3, 31, 23, 0), MADRID) == madrid(2026, 3, 1, 7, 0)
    assert schedules.latest_due(monthly, madrid(2026, 4, 1, 7, 0), MADRID) == madrid(2026, 4, 1, 7, 0)


def test_pending_is_the_latest_unclaimed_due_time_after_the_schedules_creation() -> None:
    now = madrid(2026, 4, 3, 9, 0)
    due = madrid(2026, 4, 3, 7, 0)
    assert schedules.pending(schedule("yesterday", "07:00"), now, MADRID) == due
    assert schedules.pending(schedule("yesterday", "07:00", last_due=due - 86400), now, MADRID) == due
    assert schedules.pending(schedule("yesterday", "07:00", last_due=due), now, MADRID) is None
    assert schedules.pending(schedule("yesterday", "07:00", created=due + 1), now, MADRID) is None


def test_bad_schedules_are_refused_with_clear_messages(store) -> None:
    good = {"name": "x", "report": "transfers", "period": "yesterday",
            "recipients": "a@example.com"}  # fmt: skip
    for change, message in [
        ({"report": "nope"}, "unknown report 'nope'"),
        ({"period": "weekly"}, "unknown period 'weekly'"),
        ({"recipients": "a@example.com,not-an-address"}, "'not-an-address' is not an e-mail"),
        ({"recipients": " , "}, "at least one address"),
        ({"fmt": "pdf"}, "unknown format 'pdf'"),
        ({"at": "24:00"}, "not HH:MM"),
        ({"at": "7"}, "not HH:MM"),
        ({"user": "nobody"}, "no user 'nobody'"),
        ({"name": ""}, "1 to 64 characters"),
    ]:
        with pytest.raises(ScheduleError, match=message):
            schedules.add(store, **(good | change))
    assert schedules.list_schedules(store) == []
    schedules.add(store, **good)
    with pytest.raises(ScheduleError, match="already exists"):
        schedules.add(store, **good)


# -- the command line -----------------------------------------------------------------------------


def wallboard(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLBOARD_")}
    return subprocess.run([sys.executable, "-m", "wallboard", *args, "--db", str(db)], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, env=env | {"TZ": "UTC"},
                          timeout=60)  # fmt: skip


def test_the_schedules_command(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    assert wallboard(db, "schedules", "list").stdout == "no schedules yet\n"
    no_admin = wallboard(db, "schedules", "add", "d", "--report", "transfers", "--period",
                         "yesterday", "--to", "a@example.com")  # fmt: skip
    assert no_admin.returncode == 2 and "no admin user" in no_admin.stderr
    assert wallboard(db, "users", "add", "boss", "--admin", "--password-stdin", stdin="pw\n").returncode == 0
    added = wallboard(db, "schedules", "add", "daily", "--report", "distribution_by_queue",
                      "--period", "yesterday", "--to", "boss@example.com,team@example.com",
                      "--at", "7:30")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "schedule daily added: distribution_by_queue for yesterday, at 07:30" in added.stdout
    assert "as xlsx, as user boss" in added.stdout and "until smtp_host is set" in added.stdout
    listed = wallboard(db, "schedules", "list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "REPORT", "PERIOD", "TO", "FORMAT", "AT", "USER", "LAST",
                                 "SENT", "LAST", "ERROR"]  # fmt: skip
    assert listed[1].split() == ["daily", "distribution_by_queue", "yesterday",
                                 "boss@example.com,team@example.com", "xlsx", "07:30", "boss", "-",
                                 "-"]  # fmt: skip
    for args, message in [
        (["--report", "nope", "--period", "yesterday", "--to", "a@b.c"], "unknown report 'nope'"),
        (["--report", "search", "--period", "daily", "--to", "a@b.c"], "unknown period 'daily'"),
        (["--report", "search", "--period", "yesterday", "--to", "a@@b"], "'a@@b' is not an e-mail"),
        (["--report", "search", "--period", "yesterday", "--to", "a@b.c", "--format", "pdf"],
         "unknown format 'pdf'"),
        (["--report", "search", "--period", "yesterday", "--to", "a@b.c", "--at", "25:00"],
         "not HH:MM"),
        (["--report", "search", "--period", "yesterday", "--to", "a@b.c", "--user", "eve"],
         "no user 'eve'"),
    ]:  # fmt: skip
        refused = wallboard(db, "schedules", "add", "x", *args)
        assert refused.returncode == 2 and refused.stdout == "", refused
        assert refused.stderr.count("\n") == 1 and message in refused.stderr, refused.stderr
    again = wallboard(db, "schedules", "add", "daily", "--report", "search", "--period",
                      "yesterday", "--to", "a@b.c")  # fmt: skip
    assert again.returncode == 2 and "already exists" in again.stderr
    missing = wallboard(db, "schedules", "remove", "nope")
    assert missing.returncode == 1 and missing.stderr == "wallboard: no schedule 'nope'\n"
    removed = wallboard(db, "schedules", "remove", "daily")
    assert removed.returncode == 0 and removed.stdout == "removed schedule daily\n"
    assert wallboard(db, "schedules", "list").stdout == "no schedules yet\n"


def test_the_list_shows_the_last_send_and_error(tmp_path: Path, store) -> None:
    schedules.add(store, "daily", "transfers", "yesterday", "a@example.com", now=CREATED)
    schedules.claim(store, "daily", DAY2_7AM)
    schedules.record_sent(store, "daily", DAY2_7AM + 5)
    schedules.record_error(store, "daily", "ConnectionRefusedError: [Errno 111] refused")
    row = wallboard(Path(store.url), "schedules", "list").stdout.splitlines()[1]
    assert "2024-03-06 07:00" in row and row.endswith("ConnectionRefusedError: [Errno 111] refused")
    assert schedules.claim(store, "daily", DAY2_7AM) is False  # a due time is claimed once

