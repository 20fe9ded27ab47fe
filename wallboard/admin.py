"""`wallboard users ...`, `displays ...`, `agents ...` and `schedules ...`: the command-line side
of `auth`, of the agent registry and of the report schedules."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from wallboard.auth import AuthError, DisplayTokens, UserStore, new_user, parse_list
from wallboard.config import Settings
from wallboard.history.store import StoreError, open_store


def _fail(message: object) -> int:
    print(f"wallboard: {message}", file=sys.stderr)
    return 1


def _read_password(from_stdin: bool) -> str:
    """One line of stdin, or two matching getpass prompts."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise AuthError("no password on standard input")
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Password (again): ")
        except EOFError:
            raise AuthError("no password given") from None
        if password != again:
            raise AuthError("the passwords do not match")
    if not password:
        raise AuthError("the password must not be empty")
    return password


def _shown(names: Iterable[str]) -> str:
    return ",".join(sorted(names)) or "all"


def users_command(settings: Settings, args: argparse.Namespace) -> int:
    """`wallboard users add|list|passwd|remove`; returns the exit code."""
    try:
        store = open_store(settings.db)
    except StoreError as exc:
        return _fail(exc)
    users = UserStore(store)
    try:
        if args.action == "add":
            new_user(args.name, args.queues, args.agents, args.admin)  # complain before prompting
            if users.get(args.name) is not None:
                raise AuthError(f"user {args.name!r} already exists")
            user = users.add(
                args.name, _read_password(args.password_stdin),
                args.queues, args.agents, args.admin,
            )  # fmt: skip
            print(f"added user {user.name}" + (" (admin)" if user.admin else ""))
        elif args.action == "list":
            rows = [
                (u.name, "yes" if u.admin else "no", _shown(u.queues), _shown(u.agents))
                for u in users.list()
            ]
            _print_table(("NAME", "ADMIN", "QUEUES", "AGENTS"), rows, "no users yet")
        elif args.action == "passwd":
            if users.get(args.name) is None:
                raise AuthError(f"no user {args.name!r}")
            users.set_password(args.name, _read_password(args.password_stdin))
            print(f"password changed for {args.name}")
        elif args.action == "remove":
            if not users.remove(args.name):
                raise AuthError(f"no user {args.name!r}")
            print(f"removed user {args.name} (and revoked its display links)")
        else:
            print(f"wallboard: unknown users action {args.action!r}", file=sys.stderr)
            return 2
    except AuthError as exc:
        return _fail(exc)
    finally:
        store.close()
    return 0


def displays_command(settings: Settings, args: argparse.Namespace) -> int:
    """`wallboard displays add|list|revoke`; returns the exit code."""
    try:
        store = open_store(settings.db)
    except StoreError as exc:
        return _fail(exc)
    displays = DisplayTokens(store)
    try:
        if args.action == "add":
            token = displays.add(args.name, args.user, args.queues)
            queues = _shown(parse_list(args.queues))
            print(f"display {args.name} added for user {args.user} (queues: {queues})")
            print(f"{settings.public_base}/wallboard?display={token}")
            print(f"on a TV nobody scrolls (everything fits; &rotate=20 turns pages):"
                  f" {settings.public_base}/wallboard?display={token}&view=tv")  # fmt: skip
            print(
                "The links are shown only this once. Users reach the server at another address?"
                " Set public_url (or give --public-url) and the link says it."
            )
        elif args.action == "list":
            zone = ZoneInfo(settings.timezone)
            rows = [
                (
                    d["name"], d["user"], _shown(d["queues"]),
                    datetime.fromtimestamp(d["created"], zone).strftime("%Y-%m-%d %H:%M"),
                    "revoked" if d["revoked"] else "active",
                )
                for d in displays.list()
            ]  # fmt: skip
            _print_table(("NAME", "USER", "QUEUES", "CREATED", "STATUS"), rows, "no displays yet")
        elif args.action == "revoke":
            if not displays.revoke(args.name):
                raise AuthError(f"no active display {args.name!r}")
            print(f"revoked display {args.name}")
        else:
            print(f"wallboard: unknown displays action {args.action!r}", file=sys.stderr)
            return 2
    except AuthError as exc:
        return _fail(exc)
    finally:
        store.close()
    return 0


def schedules_command(settings: Settings, args: argparse.Namespace) -> int:
    """`wallboard schedules add|list|remove`; returns the exit code (2: bad input)."""
    from wallboard.history import schedules

    try:
        store = open_store(settings.db)
    except StoreError as exc:
        return _fail(exc)
    zone = ZoneInfo(settings.timezone)

    def shown(epoch: int | None) -> str:
        return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M") if epoch else "-"

    try:
        if args.action == "add":
            found = schedules.add(store, args.name, args.report, args.period, args.to,
                                  args.format, args.at, args.user)  # fmt: skip
            print(f"schedule {found.name} added: {found.report} for {found.period}, at"
                  f" {found.at} ({settings.timezone}), to {', '.join(found.recipients)} as"
                  f" {found.format}, as user {found.user_name} may see it")  # fmt: skip
            print(f"first due {shown(schedules.next_due(found, time.time(), zone))}" + (
                "" if settings.smtp_host else "; nothing is sent until smtp_host is set"))  # fmt: skip
        elif args.action == "list":
            rows = [
                (s.name, s.report, s.period, ",".join(s.recipients), s.format, s.at,
                 s.user_name, shown(s.last_sent), (s.last_error or "-")[:60])
                for s in schedules.list_schedules(store)
            ]  # fmt: skip
            _print_table(("NAME", "REPORT", "PERIOD", "TO", "FORMAT", "AT", "USER", "LAST SENT",
                          "LAST ERROR"), rows, "no schedules yet")  # fmt: skip
        elif args.action == "remove":
            if not schedules.remove(store, args.name):
                return _fail(f"no schedule {args.name!r}")
            print(f"removed schedule {args.name}")
    except schedules.ScheduleError as exc:
        print(f"wallboard: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def alerts_command(settings: Settings, args: argparse.Namespace) -> int:
    """`wallboard alerts log`: what the alert notifier sent, newest last."""
    from wallboard.history import alertlog

    if args.limit < 1:
        return _fail("--limit must be at least 1")
    try:
        store = open_store(settings.db)
    except StoreError as exc:
        return _fail(exc)
    zone = ZoneInfo(settings.timezone)
    try:
        rows = [
            (datetime.fromtimestamp(r.at, zone).strftime("%Y-%m-%d %H:%M:%S"), r.rule, r.subject,
             r.kind, r.channel, r.target[:40], r.status, str(r.attempts), (r.error or "-")[:60])
            for r in alertlog.recent(store, args.limit, args.rule)
        ]  # fmt: skip
    finally:
        store.close()
    rules = ", ".join(rule.name for rule in settings.alert) or "none in these settings"
    _print_table(("AT", "RULE", "SUBJECT", "STATE", "CHANNEL", "TO", "STATUS", "TRIES", "ERROR"),
                 rows, f"no alert messages yet (rules: {rules})")  # fmt: skip
    return 0


def agents_command(settings: Settings, args: argparse.Namespace) -> int:
    """`wallboard agents list|alias`; returns the exit code."""
    try:
        store = open_store(settings.db)
    except StoreError as exc:
        return _fail(exc)
    try:
        if args.action == "alias":
            name, other = args.name.strip(), args.interface.strip()
            if not name or not other or name == other:
                return _fail("give the agent's name and another name for it (two different names)")
            known = store.registry()
            if known.resolve(other) == known.resolve(name):
                print(f"{other} already names agent {known.resolve(name)}")
                return 0
            if known.canonical.get(other) and known.canonical[other] != known.resolve(name):
                print(f"(it named agent {known.canonical[other]} until now)")
            store.learn_names([(other, name)], "admin")
            agent = store.registry().resolve(other)
            print(f"{other} is agent {agent} now; its history counts as {agent}'s")
        else:
            names = store.registry()
            aliases = names.aliases()
            agents = sorted(
                name for (name,) in store.query("SELECT name FROM agents")
                if names.resolve(name) == name
            )  # fmt: skip
            rows = [
                (agent, names.shown(agent), names.membership_of(agent) or "?",
                 ", ".join(aliases.get(agent, ())) or "-")
                for agent in agents
            ]  # fmt: skip
            _print_table(("AGENT", "DISPLAY", "MEMBERSHIP", "ALIASES"), rows, "no agents yet")
    finally:
        store.close()
    return 0


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]], empty: str) -> None:
    if not rows:
        print(empty)
        return
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
