"""`wallboard check`: the first command an admin runs.

Prints every setting with where it came from (secrets masked), then one line per check: the
database, the queue_log file, the AMI link (banner, login, clock, QueueStatus, events), the
timezone, the mail server and the users. Exit status 1 when any check fails.
"""

from __future__ import annotations

import asyncio
import os
import pwd
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from zoneinfo import ZoneInfo

from wallboard.config import PbxSettings, Settings, setting_names, shown_value
from wallboard.history.queuelog import Rejected, parse_line

TAIL_LINES = 1000
TAIL_BYTES = 2 * 1024 * 1024
CLOCK_WARN = 2.0  # seconds of clock difference with the PBX worth a warning
NOT_A_QUEUE_LOG = 0.5  # share of unreadable lines above which a file is not a queue_log


@dataclass(frozen=True)
class Finding:
    """One line of the report: ok, warn or fail, about what, and what was found."""

    status: str
    topic: str
    text: str


def ok(topic: str, text: str) -> Finding:
    return Finding("ok", topic, text)


def warn(topic: str, text: str) -> Finding:
    return Finding("warn", topic, text)


def fail(topic: str, text: str) -> Finding:
    return Finding("fail", topic, text)


# ------------------------------------------------------------------------------------ checks


def check_database(settings: Settings) -> list[Finding]:
    from wallboard.history.store import SCHEMA_VERSION, StoreError, inspect_database

    try:
        current, where = inspect_database(settings.db)
    except StoreError as exc:
        return [fail("database", str(exc))]
    if current is None:
        return [ok("database", f"{where} does not exist yet; it is created (schema v"
                               f"{SCHEMA_VERSION}) on the first start")]  # fmt: skip
    if current == SCHEMA_VERSION:
        return [ok("database", f"{where}: schema v{current}, current")]
    if current < SCHEMA_VERSION:
        return [ok("database", f"{where}: schema v{current}; a migration to v{SCHEMA_VERSION}"
                               " runs on the next start (a few seconds per year of history)")]  # fmt: skip
    return [fail("database", f"{where}: schema v{current} is newer than this wallboard knows"
                             f" (v{SCHEMA_VERSION}): was it downgraded?")]  # fmt: skip


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


def _ago(seconds: float) -> str:
    if seconds < 0:
        return f"{-seconds:.0f} s in the future (clock?)"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def check_queue_log(
    settings: Settings, now: float, path: str | None = None, topic: str = "queue_log"
) -> list[Finding]:
    """The queue_log file (`path`, the flat setting by default): there, readable, parsing."""
    path = path if path is not None else settings.queue_log
    if not path:
        return [warn(topic, "none set: today's counters (answered, abandoned, service"
                                  " level) and the reports get no new calls")]  # fmt: skip
    try:
        os.stat(path)
    except FileNotFoundError:
        return [fail(topic, f"{path} does not exist (Asterisk writes it when"
                                  " logger.conf has queue_log = yes)")]  # fmt: skip
    except PermissionError:
        return [fail(topic, f"{path} cannot be reached by user {_user_name()}: a folder on"
                                  " its path is not searchable (docs/deploy.md)")]  # fmt: skip
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
    except PermissionError:
        return [fail(topic, f"{path} is not readable by user {_user_name()}: add that user"
                                  " to the file's group (docs/deploy.md)")]  # fmt: skip
    except OSError as exc:
        return [fail(topic, f"{path}: {exc.strerror or exc}")]
    lines = tail.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first may be cut
    lines = [line for line in lines if line.strip()][-TAIL_LINES:]
    if not lines:
        return [warn(topic, f"{path}: readable, empty ({_size(size)})")]
    parsed = [parse_line(line) for line in lines]
    rejected = [r for r in parsed if isinstance(r, Rejected)]
    times = [r.time for r in parsed if not isinstance(r, Rejected)]
    head = f"{path}: {_size(size)}"
    if times:
        head += f", last line {_ago(now - max(times))}"
    if len(rejected) > NOT_A_QUEUE_LOG * len(lines):
        example = rejected[0]
        return [fail(topic, f"{head}; not a queue_log: {len(rejected)} of the last"
                                  f" {len(lines)} lines do not parse ({example.reason}:"
                                  f" {example.raw[:60]!r})")]  # fmt: skip
    if rejected:
        reasons = sorted({r.reason for r in rejected})
        return [warn(topic, f"{head}; {len(rejected)} of the last {len(lines)} lines do not"
                                  f" parse ({', '.join(reasons)}): they are kept as rejected")]  # fmt: skip
    return [ok(topic, f"{head}; the last {len(lines)} lines parse")]


def check_ami(
    settings: Settings, wait: float, pbx: PbxSettings | None = None, prefix: str = ""
) -> list[Finding]:
    """One PBX's AMI link (the flat settings by default); topics start with `prefix`."""
    source: Any = pbx if pbx is not None else settings
    found = [Finding(f.status, prefix + f.topic, f.text) for f in _check_ami(source, wait)]
    return found


def _check_ami(settings: Any, wait: float) -> list[Finding]:
    from wallboard.live.probe import asterisk_release, probe_ami

    if not settings.ami_host:
        return [warn("ami", "no ami_host set: the board shows no live queues, callers or agents")]
    where = f"{settings.ami_host}:{settings.ami_port}"
    report = asyncio.run(probe_ami(
        settings.ami_host, settings.ami_port, settings.ami_user or "", settings.ami_secret or "",
        settings.ami_tls, watch=wait,
    ))  # fmt: skip
    if not report.reachable:
        return [fail("ami", f"{report.error} (is Asterisk running, manager.conf enabled = yes,"
                            " bindaddr and the firewall open for this host?)")]  # fmt: skip
    found: list[Finding] = []
    if report.ami_version is None or report.ami_version == "":
        return [fail("ami", f"{where}: {report.error}")]
    release = report.asterisk_version or asterisk_release(report.ami_version)
    found.append(ok("ami", f"{where} reachable: AMI {report.ami_version}"
                           + (f" (Asterisk {release})" if release else "")))  # fmt: skip
    if not report.logged_in:
        found.append(fail("ami login", f"refused for user {settings.ami_user!r}:"
                                       f" {report.login_message or report.error or 'no answer'}"
                                       " (check [user] and secret in manager.conf, and permit=)"))  # fmt: skip
        return found
    found.append(ok("ami login", f"accepted for user {settings.ami_user!r}"))
    if report.error:
        found.append(fail("ami", f"after login: {report.error}"))
        return found
    if report.clock_offset is None:
        found.append(warn("ami clock", "the PBX sent no time in its Ping answer"))
    else:
        offset = report.clock_offset
        side = "ahead of" if offset > 0 else "behind"
        text = f"PBX clock {abs(offset):.1f} s {side} this host"
        if abs(offset) > CLOCK_WARN:
            found.append(warn("ami clock", text + ": live timers and reports will disagree;"
                                                  " run NTP on both"))  # fmt: skip
        else:
            found.append(ok("ami clock", text))
    if not report.queue_status:
        found.append(fail("queues", f"QueueStatus refused: {report.queue_status_message}"))
        return found
    found.append(ok("queues", f"QueueStatus: {report.queues} queues, {report.members} members,"
                              f" {report.callers} callers waiting"))  # fmt: skip
    total = sum(report.events.values())
    if total:
        names = ", ".join(name for name, _ in report.events.most_common(4))
        found.append(ok("events", f"{total} queue events in {report.watched:.0f} s ({names})"))
    elif report.changed:
        found.append(fail("events", f"the queues changed during the {report.watched:.0f} s watched"
                                    " but no queue event arrived: give the AMI user"
                                    " read = agent (plus system) in manager.conf"))  # fmt: skip
    else:
        found.append(warn("events", f"no queue activity in the {report.watched:.0f} s watched:"
                                    " events not verified (run again while calls come in, or"
                                    " with a longer --wait)"))  # fmt: skip
    if not report.fully_booted:
        found.append(warn("events", "no FullyBooted after login: the AMI user may lack"
                                    " read = system (restarts are then seen only as a lost link)"))  # fmt: skip
    return found


def check_pbxs(settings: Settings, wait: float, now: float) -> list[Finding]:
    """Each PBX's history source and AMI link (topics named after the PBX when there are
    several); the flat settings' warnings when there is none."""
    if not settings.pbx:
        return [*check_queue_log(settings, now), *check_ami(settings, wait)]
    found: list[Finding] = []
    for pbx in settings.pbx:
        prefix = f"{pbx.name} " if len(settings.pbx) > 1 else ""
        found += check_history(settings, pbx, now, prefix)
        found += check_ami(settings, wait, pbx, prefix)
    return found


def check_history(settings: Settings, pbx: PbxSettings, now: float, prefix: str) -> list[Finding]:
    """Where one PBX's history comes from, and whether it can be read."""
    if pbx.history == "queue_log":
        return check_queue_log(settings, now, pbx.queue_log, prefix + "queue_log")
    if pbx.history == "table":
        from wallboard.history.tablefollow import probe_table

        readable, text = probe_table(pbx, settings.timezone)
        return [(ok if readable else fail)(prefix + "queue_log", text)]
    return [ok(prefix + "history", "derived from AMI (no queue_log, no table): give the AMI user"
                                   " read = call (and dialplan) so abandons are told from timeouts;"
                                   " outages are reported as gaps")]  # fmt: skip


def check_timezone(settings: Settings, now: float) -> list[Finding]:
    local = datetime.fromtimestamp(now, ZoneInfo(settings.timezone))
    offset = local.strftime("%z")
    return [ok("timezone", f"{settings.timezone} ({settings.source_of('timezone')}): now"
                           f" {local:%Y-%m-%d %H:%M} {local.tzname()}, UTC{offset[:3]}:{offset[3:]};"
                           " days in the reports run midnight to midnight here")]  # fmt: skip


def check_mail(settings: Settings) -> list[Finding]:
    """The mail server of scheduled reports: connected, upgraded and logged in as a send would
    be; nothing is sent."""
    import smtplib

    from wallboard.mail import probe

    if not settings.smtp_host:
        return [ok("mail", "no smtp_host: scheduled reports are not e-mailed")]
    where = f"{settings.smtp_host}:{settings.smtp_port} ({settings.smtp_tls})"
    try:
        greeting = probe(settings)
    except smtplib.SMTPAuthenticationError as exc:
        return [fail("mail", f"{where}: the login as {settings.smtp_user!r} was refused:"
                             f" {exc.smtp_code} {exc.smtp_error.decode('utf-8', 'replace')}")]  # fmt: skip
    except (smtplib.SMTPException, OSError) as exc:
        return [fail("mail", f"{where}: {type(exc).__name__}: {exc}")]
    login = f", logged in as {settings.smtp_user}" if settings.smtp_user else ""
    return [ok("mail", f"{where}: ready{login} ({greeting[:80]})")]


def check_users(settings: Settings) -> list[Finding]:
    """Users and agents, read without migrating anything."""
    from wallboard.history import aliases
    from wallboard.history.store import ReadOnly, StoreError, inspect_database
    from wallboard.serving import users_add_advice

    try:
        current, _ = inspect_database(settings.db)
        if not current:
            return [fail("users", f"none yet; add one with: {users_add_advice(settings)}")]
        db = ReadOnly(settings.db)
    except (StoreError, Exception) as exc:  # noqa: BLE001 - reported, not raised
        return [fail("users", f"cannot be read: {exc}")]
    try:
        users = db.query("SELECT admin FROM users")
        found: list[Finding] = []
        if not users:
            found.append(fail("users", f"none yet; add one with: {users_add_advice(settings)}"))
        else:
            admins = sum(1 for (admin,) in users if admin)
            found.append(ok("users", f"{len(users)} user{'s' if len(users) != 1 else ''}"
                                     f" ({admins} admin)"))  # fmt: skip
        found += _agents_finding(db, aliases, settings)
        return found
    finally:
        db.close()


def _agents_finding(db: Any, aliases: Any, settings: Settings) -> list[Finding]:
    """The agents known and the other names they are logged under (history/registry.py)."""
    try:
        names = aliases.load(db)
        agents = [n for (n,) in db.query("SELECT name FROM agents") if names.resolve(n) == n]
    except Exception:  # noqa: BLE001 - a database older than the registry
        return [ok("agents", "the registry of agent names is created by the next start")]
    known = names.aliases()
    for alias, agent in settings.agents.items():  # the settings' map, applied on start
        if names.resolve(alias) != agent:
            known.setdefault(agent, []).append(f"{alias} (from the settings)")
    if not agents and not known:
        return [ok("agents", "none met yet")]
    shown = "; ".join(f"{agent} = {', '.join(names_)}" for agent, names_ in sorted(known.items()))
    text = f"{len(agents)} agents" + (f"; aliases: {shown}" if shown else "; no aliases")
    return [ok("agents", text[:600] + (" ..." if len(text) > 600 else ""))]


# ------------------------------------------------------------------------------------ report


def _version() -> str:
    try:
        return version("wallboard")
    except PackageNotFoundError:
        return "unknown"


def settings_lines(settings: Settings) -> list[str]:
    names = setting_names()
    width = max(map(len, names))
    rows = [(name, shown_value(settings, name), settings.source_of(name)) for name in names]
    value_width = min(48, max(len(value) for _, value, _ in rows))
    return [f"  {name:<{width}}  {value:<{value_width}}  {source}" for name, value, source in rows]


def run_check(settings: Settings, wait: float = 5.0) -> int:
    """Print the settings and every check; 1 when any failed."""
    import time

    now = time.time()
    source = f" from {settings.config_file}" if settings.config_file else ""
    print(f"wallboard {_version()}: settings{source} (flag > environment > file > default)")
    print("\n".join(settings_lines(settings)))
    findings = [
        *check_database(settings),
        *check_pbxs(settings, wait, now),
        *check_timezone(settings, now),
        *check_mail(settings),
        *check_users(settings),
    ]
    print("\nchecks")
    for finding in findings:
        print(f"  {finding.status.upper():<4}  {finding.topic:<9}  {finding.text}")
    failed = sum(1 for f in findings if f.status == "fail")
    warned = sum(1 for f in findings if f.status == "warn")
    print(f"\n{failed} failed, {warned} warning{'s' if warned != 1 else ''},"
          f" {len(findings) - failed - warned} ok")  # fmt: skip
    return 1 if failed else 0
