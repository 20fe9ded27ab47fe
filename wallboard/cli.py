"""The `wallboard` command line: serve, demo, import, users, displays."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from wallboard.config import Settings, SettingsError, load_settings

log = logging.getLogger("wallboard")

# Flags that map onto settings (the contract in architecture.md).
SETTING_FLAGS: list[tuple[str, str, type]] = [
    ("--db", "db", str),
    ("--queue-log", "queue_log", str),
    ("--ami-host", "ami_host", str),
    ("--ami-port", "ami_port", int),
    ("--ami-user", "ami_user", str),
    ("--ami-secret", "ami_secret", str),
    ("--timezone", "timezone", str),
    ("--host", "host", str),
    ("--port", "port", int),
]


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (flag > WALLBOARD_* environment > config file)")
    group.add_argument("--config", metavar="FILE", help="TOML file with a [wallboard] section")
    for flag, name, kind in SETTING_FLAGS:
        group.add_argument(flag, dest=name, type=kind, default=None, metavar=name.upper())
    group.add_argument("--log-level", dest="log_level", default=None, help="debug, info, warning")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wallboard",
        description="Real-time wallboard and Asternic-compatible statistics for Asterisk queues.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web server, the AMI listener and the queue_log tailer")
    _add_settings_flags(serve)

    demo = sub.add_parser("demo", help="run a simulated call center and the full product against it")
    _add_settings_flags(demo)
    demo.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--data-dir", help="keep the demo's database and queue_log here")

    imp = sub.add_parser("import", help="import queue_log files into the history store")
    _add_settings_flags(imp)
    imp.add_argument("files", nargs="+", metavar="FILE")

    users = sub.add_parser("users", help="manage the users of the web UI and REST API")
    _add_settings_flags(users)
    usub = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = usub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--queues", default="", help="comma-separated queues the user may see (default all)")
    add.add_argument("--agents", default="", help="comma-separated agents the user may see (default all)")
    add.add_argument("--admin", action="store_true", help="may manage users and see everything")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    usub.add_parser("list", help="list users")
    pw = usub.add_parser("passwd", help="change a user's password")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    rm = usub.add_parser("remove", help="remove a user")
    rm.add_argument("name")

    displays = sub.add_parser("displays", help="manage display links for TV wallboards")
    _add_settings_flags(displays)
    dsub = displays.add_subparsers(dest="action", metavar="ACTION", required=True)
    dadd = dsub.add_parser("add", help="create a display link (prints its URL)")
    dadd.add_argument("name")
    dadd.add_argument("--user", required=True, help="the user whose restrictions the display has")
    dadd.add_argument("--queues", default="", help="narrow the display to these queues")
    dsub.add_parser("list", help="list display links")
    drev = dsub.add_parser("revoke", help="revoke a display link")
    drev.add_argument("name")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {name: getattr(args, name, None) for _, name, _ in SETTING_FLAGS}
    overrides["log_level"] = getattr(args, "log_level", None)
    return load_settings(getattr(args, "config", None), overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(f"wallboard: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler = {
        "serve": _serve,
        "demo": _demo,
        "import": _import,
        "users": _users,
        "displays": _displays,
    }[args.command]
    try:
        return handler(settings, args)
    except KeyboardInterrupt:
        return 130


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.history.ingest import Ingester, import_files
    from wallboard.history.store import StoreError, open_store

    try:
        store = open_store(settings.db)
    except StoreError as exc:
        print(f"wallboard: {exc}", file=sys.stderr)
        return 1
    progress = _ProgressBar() if sys.stderr.isatty() else None
    started = time.perf_counter()
    try:
        summary = import_files(
            store, args.files, progress=progress, ingester=Ingester(store, settings.stale_call_timeout)
        )
    except OSError as exc:
        print(f"\nwallboard: {exc}", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.done()
    if store.dialect == "sqlite" and summary.records:
        store.execute("PRAGMA optimize")  # fresh statistics for the report queries' planner
    elapsed = time.perf_counter() - started
    rejected = sum(summary.rejected.values())
    print(
        f"imported {summary.files} file(s) in {elapsed:.1f} s: {summary.lines} lines,"
        f" {summary.records} events stored, {summary.calls} queue calls,"
        f" {summary.duplicates} duplicates skipped, {rejected} lines rejected"
    )
    for reason, count in sorted(summary.rejected.items()):
        print(f"  rejected ({reason}): {count}")
    if rejected:
        print("  (rejected lines are kept in the rejected_lines table)")
    return 0


class _ProgressBar:
    """A one-line progress bar on stderr for terminal imports."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, name: str, position: int, size: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.2 and position < size:
            return
        self._last = now
        share = position / size if size else 1.0
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r{name[-30:]:30} [{bar:30}] {share * 100:5.1f}%")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.app import run_server

    return run_server(settings)


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.demo import run_demo

    return run_demo(settings, speed=args.speed, seed=args.seed, data_dir=args.data_dir)


def _users(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.admin import users_command

    return users_command(settings, args)


def _displays(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.admin import displays_command

    return displays_command(settings, args)
