"""Sends the scheduled reports (history/schedules.py) by e-mail: a task of `wallboard serve`.

Every CHECK_INTERVAL seconds it claims each schedule's due time that no sender has (one claim
per due time across restarts and processes), builds the file as the REST export does for the
schedule's user, and sends it (wallboard/mail.py) in worker threads: the event loop never waits on
the database or the mail server. A failed send is retried after RETRY_AFTER by its claimer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import IO, Any
from zoneinfo import ZoneInfo

from wallboard.config import Settings
from wallboard.history import schedules
from wallboard.history.reports import (
    ReportParams,
    SearchParams,
    Viewer,
    export,
    report_chunks,
    search_chunks,
)
from wallboard.history.schedules import Schedule, ScheduleError
from wallboard.history.store import Store
from wallboard.mail import deliver, sender

log = logging.getLogger(__name__)

CHECK_INTERVAL = 30.0  # seconds between looks for due schedules
RETRY_AFTER = (60.0, 300.0, 900.0)  # a failed send is tried again after these, then given up
REPORT_TIME_FACTOR = 10  # a report of a whole period may take this many report_time_limits
STOP_WAIT = 10.0  # seconds a send under way may take to finish at shutdown
SPOOL_MAX = 8 << 20  # bytes of a file kept in memory before it goes to disk


@dataclass(frozen=True)
class _Retry:
    """A claimed due time whose send failed: how often, and when to try next."""

    due: int
    failures: int
    next_try: float


class ReportMailer:
    """The schedules' sender; `users(name)` is the user a schedule runs as (None: gone)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        users: Callable[[str], Viewer | None],
        clock: Callable[[], float] = time.time,
        interval: float = CHECK_INTERVAL,
        retry_after: tuple[float, ...] = RETRY_AFTER,
    ) -> None:
        self._settings = settings
        self._store = store
        self._users = users
        self._clock = clock
        self._interval = interval
        self._retry_after = retry_after
        self._tz = ZoneInfo(settings.timezone)
        self._retries: dict[str, _Retry] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="report mailer")
        log.info("scheduled reports: sent through %s:%d (%s)", self._settings.smtp_host,
                 self._settings.smtp_port, self._settings.smtp_tls)  # fmt: skip

    async def stop(self) -> None:
        """Stop looking; a send under way gets STOP_WAIT seconds to finish."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(task, STOP_WAIT)
        except TimeoutError:
            log.warning("scheduled reports: a send was still under way at shutdown")
        except asyncio.CancelledError:
            pass

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_due(self._clock())
            except Exception:
                log.exception("scheduled reports: could not look for due schedules")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def run_due(self, now: float) -> list[str]:
        """Send every schedule due at `now` (and the retries whose time has come); the names
        of those sent. One schedule's failure never stops the others."""
        found = await asyncio.to_thread(schedules.list_schedules, self._store)
        names = {s.name for s in found}
        for name in set(self._retries) - names:  # removed meanwhile
            del self._retries[name]
        sent = []
        for schedule in found:
            if self._stopping.is_set():
                break
            try:
                if await self._run_one(schedule, now):
                    sent.append(schedule.name)
            except Exception:
                log.exception("scheduled report %r: unexpected failure", schedule.name)
        return sent

    async def _run_one(self, schedule: Schedule, now: float) -> bool:
        due = schedules.pending(schedule, now, self._tz)
        if due is not None:
            self._retries.pop(schedule.name, None)
            if not await asyncio.to_thread(schedules.claim, self._store, schedule.name, due):
                return False  # another sender claimed it first
            return await self._attempt(schedule, due, now, 0)
        retry = self._retries.get(schedule.name)
        if retry is None or retry.due != schedule.last_due or now < retry.next_try:
            return False
        return await self._attempt(schedule, retry.due, now, retry.failures)

    async def _attempt(self, schedule: Schedule, due: int, now: float, failures: int) -> bool:
        try:
            rows = await self._send(schedule, due, now)
        except Exception as exc:  # noqa: BLE001 - recorded, logged, retried
            await self._failed(schedule, due, now, failures + 1, exc)
            return False
        self._retries.pop(schedule.name, None)
        await asyncio.to_thread(schedules.record_sent, self._store, schedule.name, now)
        log.info("scheduled report %r sent to %s (%d rows)", schedule.name,
                 ", ".join(schedule.recipients), rows)  # fmt: skip
        return True

    async def _failed(
        self, schedule: Schedule, due: int, now: float, failures: int, exc: Exception
    ) -> None:
        error = f"{type(exc).__name__}: {exc}".strip()
        # A mail server's refusal is a message; anything else is a bug worth its traceback.
        trace = not isinstance(exc, (smtplib.SMTPException, OSError, ScheduleError))
        await asyncio.to_thread(schedules.record_error, self._store, schedule.name, error)
        if isinstance(exc, ScheduleError) or failures > len(self._retry_after):
            self._retries.pop(schedule.name, None)
            log.error("scheduled report %r: not sent, given up after %d attempt(s): %s",
                      schedule.name, failures, error, exc_info=trace)  # fmt: skip
            return
        wait = self._retry_after[failures - 1]
        self._retries[schedule.name] = _Retry(due, failures, now + wait)
        log.warning("scheduled report %r: not sent (%s); trying again in %g s",
                    schedule.name, error, wait, exc_info=trace)  # fmt: skip

    async def _send(self, schedule: Schedule, due: int, now: float) -> int:
        """Build the schedule's file for its due time and mail it; how many rows it holds."""
        user = await asyncio.to_thread(self._users, schedule.user_name)
        if user is None:
            raise ScheduleError(f"user {schedule.user_name!r} no longer exists")
        start, end = schedules.period_days(schedule.period, due, self._tz)
        params = ReportParams(start=start, end=end, now=int(now))
        limit = self._settings.report_time_limit * REPORT_TIME_FACTOR
        spool, rows = await self._store.read(build_file, self._store, self._settings, schedule,
                                             params, user, time_limit=limit)  # fmt: skip
        try:
            message = await asyncio.to_thread(
                build_message, self._settings, schedule, params, spool, rows, now
            )
        finally:
            spool.close()
        await asyncio.to_thread(deliver, self._settings, message)
        return rows


def build_file(
    store: Store, settings: Settings, schedule: Schedule, params: ReportParams, user: Viewer
) -> tuple[IO[bytes], int]:
    """The schedule's report as the REST export writes it, for `user` (a spooled temporary
    file at its start, and its number of rows)."""
    if schedule.report == "search":
        columns, chunks = search_chunks(store, settings, params, SearchParams(), user)
    else:
        columns, chunks = report_chunks(store, settings, schedule.report, params, user)
    spool: Any = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)  # noqa: SIM115 - returned
    try:
        rows = export.write(schedule.format, columns, chunks, spool, schedule.report)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, rows


def filename(schedule: Schedule, params: ReportParams) -> str:
    """`answered_calls_by_queue_2026-11-30.xlsx`, or with the last day after the first."""
    span = params.start.isoformat() + ("" if params.end == params.start else f"_{params.end}")
    return f"{schedule.report}_{span}.{schedule.format}"


def build_message(
    settings: Settings, schedule: Schedule, params: ReportParams, file: IO[bytes], rows: int,
    now: float,
) -> EmailMessage:  # fmt: skip
    """The e-mail: subject "<report> <start>..<end> (<schedule>)", a short text, the file."""
    message = EmailMessage()
    message["Subject"] = f"{schedule.report} {params.start}..{params.end} ({schedule.name})"
    message["From"] = sender(settings)
    message["To"] = ", ".join(schedule.recipients)
    message["Date"] = format_datetime(datetime.fromtimestamp(now, ZoneInfo(settings.timezone)))
    message["Message-ID"] = make_msgid("wallboard", sender(settings).rpartition("@")[2].strip(">"))
    days = str(params.start) if params.end == params.start else f"{params.start} to {params.end}"
    message.set_content(
        f"The {schedule.report} report for {days} ({rows} rows, times in {settings.timezone})"
        f" is attached, as user {schedule.user_name} may see it.\n\n"
        f"Sent by the wallboard's schedule {schedule.name!r} ({schedule.period} at"
        f" {schedule.at}); see `wallboard schedules list`.\n"
    )
    kind, _, parameters = export.FORMATS[schedule.format].partition(";")
    maintype, subtype = kind.split("/")
    extra = dict(p.strip().split("=", 1) for p in parameters.split(";") if "=" in p)
    message.add_attachment(file.read(), maintype=maintype, subtype=subtype,
                           filename=filename(schedule, params), params=extra)  # fmt: skip
    return message


async def start_mailer(
    settings: Settings, store: Store, users: Callable[[str], Viewer | None]
) -> ReportMailer | None:
    """The running mailer of `serve`; None without `smtp_host`, said once in the log when
    there are schedules it leaves unsent."""
    if not settings.smtp_host:
        waiting = await asyncio.to_thread(schedules.count, store)
        if waiting:
            log.warning("%d report schedule(s) are not sent: no smtp_host is set", waiting)
        return None
    mailer = ReportMailer(settings, store, users)
    await mailer.start()
    return mailer
