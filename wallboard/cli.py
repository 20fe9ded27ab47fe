"""The `wallboard` command line: serve, demo, check, import, users, displays, agents, schedules,
alerts.

Every command takes `--config FILE` and the setting flags that concern it, so an install
configured by a TOML file is managed with that same file.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from wallboard.config import Settings, SettingsError, load_settings

log = logging.getLogger("wallboard")

# Flags that map onto settings (the contract in architecture.md), by what they concern.
STORE_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--db", "db", str, "SQLite file or postgresql:// URL of the history store"),
    ("--timezone", "timezone", str, "IANA timezone of the reports (default: the machine's)"),
]
PBX_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--queue-log", "queue_log", str, "Asterisk's queue_log file to follow"),
    ("--ami-host", "ami_host", str, "Asterisk Manager Interface host"),
    ("--ami-port", "ami_port", int, "AMI port (default 5038)"),
    ("--ami-user", "ami_user", str, "AMI user name (manager.conf)"),
    ("--ami-secret", "ami_secret", str, "AMI secret (better: WALLBOARD_AMI_SECRET or the file)"),
]
WEB_FLAGS: list[tuple[str, str, Any, str]] = [
    ("--host", "host", str, "address to listen on (default 127.0.0.1)"),
    ("--port", "port", int, "port to listen on (default 8000)"),
    ("--base-path", "base_path", str, "serve everything under this path prefix"),
    ("--public-url", "public_url", str, "the URL users reach the product at (printed links)"),
]
SETTING_FLAGS = STORE_FLAGS + PBX_FLAGS + WEB_FLAGS


def _settings_parent(*groups: list[tuple[str, str, Any, str]]) -> argparse.ArgumentParser:
    """A parent parser holding --config, --log-level and the given setting flags.

    Defaults are suppressed, so a flag left out never hides the environment or the file."""
    parent = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parent.add_argument_group("settings (flag > WALLBOARD_* environment > config file)")
    group.add_argument("--config", metavar="FILE", help="TOML file with a [wallboard] section")
    for flags in groups:
        for flag, name, kind, text in flags:
            group.add_argument(flag, dest=name, type=kind, metavar=name.upper(), help=text)
    group.add_argument("--log-level", dest="log_level", metavar="LEVEL",
                       help="debug, info, warning or error")  # fmt: skip
    return parent


def _examples(*lines: str) -> str:
    """A --help epilog; tests run every example line exactly as printed."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wallboard",
        description="Real-time wallboard and Asternic-compatible statistics for Asterisk queues.",
        epilog=_examples(
            "wallboard demo",
            "wallboard check --config wallboard.toml",
            "wallboard users add admin --admin --password-stdin --config wallboard.toml",
        ),
        formatter_class=_Formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    store = _settings_parent(STORE_FLAGS)
    everything = _settings_parent(STORE_FLAGS, PBX_FLAGS, WEB_FLAGS)
    web = _settings_parent(STORE_FLAGS, WEB_FLAGS)

    def command(name: str, help: str, parents: list[Any], *examples: str, into: Any = sub) -> Any:
        return into.add_parser(
            name, help=help, description=help[0].upper() + help[1:] + ".", parents=parents,
            epilog=_examples(*examples) if examples else None, formatter_class=_Formatter,
        )  # fmt: skip

    serve = command(
        "serve", "run the web server, the AMI listener and the queue_log follower", [everything],
        "wallboard serve --config wallboard.toml",
        "wallboard serve --queue-log ./queue_log --port 8080",
    )
    serve.add_argument("--metrics", action="store_true", default=argparse.SUPPRESS,
                       help="serve Prometheus metrics at /metrics")  # fmt: skip

    demo = command(
        "demo", "run a simulated call center and the full product against it", [web],
        "wallboard demo",
        "wallboard demo --port 8080 --speed 2",
        "wallboard demo --pbxs 2",
    )
    demo.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    demo.add_argument("--seed", type=int, default=1, help="random seed of the simulated traffic")
    demo.add_argument("--data-dir", help="keep the demo's database and queue_log here")
    demo.add_argument("--pbxs", type=int, default=1, choices=range(1, 9), metavar="N",
                      help="simulate N PBXs (site-a, site-b...): the first followed through its"
                      " queue_log, the others through AMI alone")  # fmt: skip

    check = command(
        "check", "check the settings, the database, the queue_log and the AMI link", [everything],
        "wallboard check",
        "wallboard check --queue-log ./queue_log --ami-host 127.0.0.1 --wait 2",
    )
    check.add_argument("--wait", type=float, default=5.0, metavar="SECONDS",
                       help="how long to watch for AMI events (default 5)")  # fmt: skip

    imp = command(
        "import", "import queue_log files into the history store", [store],
        "wallboard import ./queue_log",
        "wallboard import ./queue_log --db ./wallboard.db --timezone Europe/Madrid",
    )
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--pbx", metavar="NAME",
                     help="the [[pbx]] the files are of (needed with several PBXs: their queues"
                     " and agents are named site-a/...)")  # fmt: skip

    users = sub.add_parser("users", help="manage the users of the web UI and REST API",
                           parents=[store])  # fmt: skip
    usub = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = command(
        "add", "add a user", [store],
        "wallboard users add boss --admin --password-stdin",
        "wallboard users add alice --queues 2000,2001 --password-stdin",
        into=usub,
    )
    add.add_argument("name")
    add.add_argument("--queues", default="", help="comma-separated queues the user may see (default all)")
    add.add_argument("--agents", default="", help="comma-separated agents the user may see (default all)")
    add.add_argument("--admin", action="store_true", help="may manage users and see everything")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command("list", "list users", [store], "wallboard users list", into=usub)
    pw = command("passwd", "change a user's password (ends the user's sessions)", [store],
                 "wallboard users passwd boss --password-stdin", into=usub)  # fmt: skip
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    rm = command("remove", "remove a user (ends its sessions and display links)", [store],
                 "wallboard users remove alice", into=usub)  # fmt: skip
    rm.add_argument("name")

    agents = sub.add_parser("agents", help="the agents and the names Asterisk logs them under",
                            parents=[store])  # fmt: skip
    asub = agents.add_subparsers(dest="action", metavar="ACTION", required=True)
    command("list", "list agents with their aliases and membership", [store],
            "wallboard agents list", into=asub)  # fmt: skip
    alias = command(
        "alias", "record that INTERFACE (or another name) is the agent NAME", [store],
        "wallboard agents alias Judy PJSIP/2001",
        into=asub,
    )
    alias.add_argument("name", help="the agent's name, as reports show it")
    alias.add_argument("interface", help="the other name: an interface, Agent/NNN, ...")

    displays = sub.add_parser("displays", help="manage display links for TV wallboards",
                              parents=[web])  # fmt: skip
    dsub = displays.add_subparsers(dest="action", metavar="ACTION", required=True)
    dadd = command(
        "add", "create a display link (prints its URL)", [web],
        "wallboard displays add lobby-tv --user boss",
        "wallboard displays add support-tv --user boss --queues 2001",
        into=dsub,
    )
    dadd.add_argument("name")
    dadd.add_argument("--user", required=True, help="the user whose restrictions the display has")
    dadd.add_argument("--queues", default="", help="narrow the display to these queues")
    command("list", "list display links", [store], "wallboard displays list", into=dsub)
    drev = command("revoke", "revoke a display link (its screen stops within seconds)", [store],
                   "wallboard displays revoke lobby-tv", into=dsub)  # fmt: skip
    drev.add_argument("name")

    schedules = sub.add_parser("schedules", help="e-mail reports on a schedule (needs smtp_host)",
                               parents=[store])  # fmt: skip
    ssub = schedules.add_subparsers(dest="action", metavar="ACTION", required=True)
    sadd = command(
        "add", "e-mail a report every day (yesterday), Monday (last_week) or 1st (last_month)",
        [store],
        "wallboard schedules add daily --report distribution_by_queue --period yesterday"
        " --to boss@example.com --at 07:00 --user boss",
        "wallboard schedules add weekly --report answered_calls_by_queue --period last_week"
        " --to boss@example.com,team@example.com --format csv",
        into=ssub,
    )  # fmt: skip
    sadd.add_argument("name")
    sadd.add_argument("--report", required=True, help="a report's name (entity=reports), or search")
    sadd.add_argument("--period", required=True, metavar="PERIOD",
                      help="yesterday, last_week (Monday to Sunday) or last_month")  # fmt: skip
    sadd.add_argument("--to", required=True, metavar="ADDRESSES",
                      help="comma-separated e-mail addresses")  # fmt: skip
    sadd.add_argument("--format", default="xlsx", help="xlsx (default) or csv")
    sadd.add_argument("--at", default="07:00", metavar="HH:MM",
                      help="local time (the timezone setting) to send at (default 07:00)")  # fmt: skip
    sadd.add_argument("--user", help="whose restrictions the report has (default: the first admin)")
    command("list", "list schedules and how they last went", [store], "wallboard schedules list",
            into=ssub)  # fmt: skip
    srm = command("remove", "remove a schedule", [store], "wallboard schedules remove weekly",
                  into=ssub)  # fmt: skip
    srm.add_argument("name")

    alerts = sub.add_parser("alerts", help="the alert rules' messages ([[alert]] settings)",
                            parents=[store])  # fmt: skip
    asub = alerts.add_subparsers(dest="action", metavar="ACTION", required=True)
    alog = command("log", "the webhooks and e-mails alerts sent (or could not)", [store],
                   "wallboard alerts log", "wallboard alerts log --rule long-wait --limit 20",
                   into=asub)  # fmt: skip
    alog.add_argument("--rule", help="only this rule's messages")
    alog.add_argument("--limit", type=int, default=50, help="how many of the newest (default 50)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {name: getattr(args, name, None) for _, name, _, _ in SETTING_FLAGS}
    overrides["log_level"] = getattr(args, "log_level", None)
    if getattr(args, "metrics", False):
        overrides["metrics"] = True
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
    level = settings.log_level.upper()
    if args.command not in ("serve", "demo") and settings.source_of("log_level") == "default":
        level = "WARNING"  # one-shot commands print what they did; their log is for problems
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler = {
        "serve": _serve,
        "demo": _demo,
        "check": _check,
        "import": _import,
        "users": _users,
        "displays": _displays,
        "agents": _agents,
        "schedules": _schedules,
        "alerts": _alerts,
    }[args.command]
    try:
        return handler(settings, args)
    except KeyboardInterrupt:
        return 130


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.history.ingest import IngestBusy, Ingester, import_files, process_owner
    from wallboard.history.naming import Naming
    from wallboard.history.store import StoreError, open_store

    names = [p.name for p in settings.pbx]
    if args.pbx is not None and args.pbx not in names:
        known = ", ".join(names) or "none: the settings have no [[pbx]] tables"
        print(f"wallboard: no PBX named {args.pbx!r} (PBXs: {known})", file=sys.stderr)
        return 2
    if settings.qualified and args.pbx is None:
        print(f"wallboard: several PBXs are set up: say which one the files are of with --pbx"
              f" ({', '.join(names)})", file=sys.stderr)  # fmt: skip
        return 2
    naming = Naming(args.pbx, settings.qualified) if args.pbx else None
    try:
        store = open_store(settings.db)
        ingester = Ingester(store, settings.stale_call_timeout, owner=process_owner("wallboard import"))
    except (StoreError, IngestBusy) as exc:
        print(f"wallboard: {exc}", file=sys.stderr)
        return 1
    progress = _ProgressBar() if sys.stderr.isatty() else None
    started = time.perf_counter()
    try:
        summary = import_files(store, args.files, progress=progress, ingester=ingester,
                               naming=naming)  # fmt: skip
    except (OSError, IngestBusy) as exc:
        print(f"\nwallboard: {exc}", file=sys.stderr)
        return 1
    finally:
        ingester.release()
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
    from wallboard.serving import run_server

    return run_server(settings)


def _check(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.check import run_check

    return run_check(settings, wait=args.wait)


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.demo import run_demo

    return run_demo(settings, speed=args.speed, seed=args.seed, data_dir=args.data_dir,
                    pbxs=args.pbxs)  # fmt: skip


def _users(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.admin import users_command

    return users_command(settings, args)


def _agents(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.admin import agents_command

    return agents_command(settings, args)


def _displays(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.admin import displays_command

    return displays_command(settings, args)


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.admin import alerts_command

    return alerts_command(settings, args)


def _schedules(settings: Settings, args: argparse.Namespace) -> int:
    from wallboard.admin import schedules_command

    return schedules_command(settings, args)
