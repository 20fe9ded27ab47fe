"""One typed Settings object, built once from a TOML file, `WALLBOARD_*` variables and flags.

Precedence: command-line flag > environment > `[wallboard]` section of the file > default.
Nothing else in the package reads the environment; the settings are passed down.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting has a value of the wrong type or form."""


# Where a setting's value came from, weakest first (shown by `wallboard check`).
SOURCES = ("default", "file", "environment", "flag")
# Settings never printed in full.
SECRETS = frozenset({"ami_secret", "smtp_password", "webhook_secret"})
# Settings that are tables of their own at the top of the file, beside [wallboard].
TABLES = ("agents", "queues", "pbx", "alert")
# A PBX's name: it prefixes its queues and agents ("site-a/2000") when there are several.
_PBX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")
HISTORY_SCHEMES = ("mysql://", "mariadb://", "postgresql://", "postgres://")
SMTP_TLS = ("none", "starttls", "tls")
# Fields of Settings that describe the settings rather than being settings.
_META = frozenset({"sources", "config_file"})


def _machine_timezone() -> str:
    """The machine's IANA timezone name, or UTC when it cannot be told."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz or tz == "UTC":
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "zoneinfo/"
        if marker in target:
            return target.split(marker, 1)[1]
    except OSError:
        pass
    try:
        name = Path("/etc/timezone").read_text().strip()
        if name:
            return name
    except OSError:
        pass
    return "UTC"


@dataclass(frozen=True)
class PbxSettings:
    """One Asterisk: its AMI link and its history source (the queue_log file, the realtime
    queue_log table, or neither: history derived from AMI). A `[[pbx]]` table of the file."""

    name: str = "default"
    ami_host: str | None = None
    ami_port: int = 5038
    ami_user: str | None = None
    ami_secret: str | None = field(default=None, repr=False)
    ami_tls: bool = False
    queue_log: str | None = None
    # Asterisk's realtime queue_log table: "mysql://user:pass@host:3306/asterisk" or
    # "postgresql://..."; `time` is the PBX's local time in `queue_log_timezone`.
    queue_log_db: str | None = field(default=None, repr=False)
    queue_log_table: str = "queue_log"
    queue_log_timezone: str | None = None  # default: the product's timezone
    # Of a table several Asterisk servers write, the rows of this one (its serverid/node).
    queue_log_server: str | None = None

    @property
    def history(self) -> str:
        """Where this PBX's history comes from: "queue_log", "table", "ami" or "none"."""
        if self.queue_log:
            return "queue_log"
        if self.queue_log_db:
            return "table"
        return "ami" if self.ami_host else "none"

    def masked_db(self) -> str:
        """`queue_log_db` with its password hidden, for logs and `check`."""
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1********@", self.queue_log_db or "")


_PBX_FIELDS = {f.name: f.type for f in fields(PbxSettings)}


def _tables(value: Any, name: str, built: type, keys: str) -> list[tuple[int, Any]]:
    """The `[[name]]` tables of a setting, numbered from 1: each a mapping, or already `built`
    (Settings made in code); SettingsError for anything else."""
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise SettingsError(f"{name}: give [[{name}]] tables ({keys})")
    for n, table in enumerate(value, start=1):
        if not isinstance(table, (Mapping, built)):
            raise SettingsError(f"{name} #{n}: not a table")
    return list(enumerate(value, start=1))


def _pbx_list(value: Any) -> tuple[PbxSettings, ...]:
    """`[[pbx]]` tables as PbxSettings (SettingsError on an unknown key or a bad value)."""
    out = []
    for n, table in _tables(value, "pbx", PbxSettings, "name, ami_host, queue_log, ..."):
        if isinstance(table, PbxSettings):
            out.append(table)
            continue
        unknown = sorted(set(table) - set(_PBX_FIELDS))
        if unknown:
            raise SettingsError(f"pbx #{n}: unknown setting(s) {', '.join(unknown)}")
        out.append(PbxSettings(**{
            key: _coerce(f"pbx.{key}", _PBX_FIELDS[key], item) for key, item in table.items()
        }))  # fmt: skip
    return tuple(out)


ALERT_METRICS = {  # metric -> what its value is
    "waiting": "callers waiting", "longest_wait": "seconds the longest caller has waited",
    "service_level": "% of today's answered calls within the service level",
    "abandon_rate": "% of today's calls abandoned", "available": "agents available",
    "paused": "minutes an agent has been paused", "pbx_down": "seconds the AMI link is down",
}  # fmt: skip
WEBHOOK_FORMATS = ("json", "slack")


@dataclass(frozen=True)
class AlertRule:
    """One `[[alert]]` table: fires when `metric` goes above (or below) `threshold`, clears
    only once it is back at `clear` (the hysteresis: a rule cannot flap around its level)."""

    name: str
    metric: str
    op: str  # "above" or "below"
    threshold: float
    clear: float
    queues: tuple[str, ...] = ()  # empty: every queue
    webhook: str | None = None
    webhook_format: str = "json"
    email: tuple[str, ...] = ()
    max_per_hour: int = 12  # firing messages per rule and hour; clears always go
    # service_level and abandon_rate: no value before this many calls today (the first calls of
    # the morning would make a rate swing from 0 % to 100 %).
    min_calls: int = 10

    def fires(self, value: float) -> bool:
        return value > self.threshold if self.op == "above" else value < self.threshold

    def clears(self, value: float) -> bool:
        return value <= self.clear if self.op == "above" else value >= self.clear


_ALERT_KEYS = frozenset({"name", "metric", "above", "below", "clear", "queues", "webhook",
                         "webhook_format", "email", "max_per_hour", "min_calls"})  # fmt: skip


def _alert_list(value: Any) -> tuple[AlertRule, ...]:
    """`[[alert]]` tables as AlertRules (SettingsError saying which rule and why)."""
    out: list[AlertRule] = []
    for n, table in _tables(value, "alert", AlertRule, "name, metric, above or below, ..."):
        if isinstance(table, AlertRule):
            out.append(table)
            continue
        where = f"alert {table.get('name', f'#{n}')!r}"
        unknown = sorted(set(table) - _ALERT_KEYS)
        if unknown:
            raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)}")
        name = table.get("name")
        if not isinstance(name, str) or not _PBX_NAME.fullmatch(name):
            raise SettingsError(f"{where}: a name of letters, digits, '.', '_' or '-' is needed")
        metric = table.get("metric")
        if metric not in ALERT_METRICS:
            raise SettingsError(f"{where}: metric must be one of {', '.join(ALERT_METRICS)}")
        if ("above" in table) == ("below" in table):
            raise SettingsError(f"{where}: give either above = N or below = N")
        op = "above" if "above" in table else "below"
        threshold = _coerce(f"{where}.{op}", "float", table[op])
        clear = _coerce(f"{where}.clear", "float", table.get("clear", threshold))
        if (op == "above" and clear > threshold) or (op == "below" and clear < threshold):
            raise SettingsError(f"{where}: clear must be {'at or below' if op == 'above' else 'at or above'}"
                                f" the {op} level ({threshold:g}), or the rule could never clear")  # fmt: skip
        webhook = table.get("webhook")
        if webhook is not None and not (isinstance(webhook, str)
                                        and re.fullmatch(r"https?://[^\s]+", webhook)):  # fmt: skip
            raise SettingsError(f"{where}: webhook must be an http:// or https:// URL")
        fmt = table.get("webhook_format", "json")
        if fmt not in WEBHOOK_FORMATS:
            raise SettingsError(f"{where}: webhook_format must be json or slack")
        email = _coerce(f"{where}.email", "tuple[str, ...]", table.get("email", ()))
        per_hour = _coerce(f"{where}.max_per_hour", "int", table.get("max_per_hour", 12))
        if per_hour < 1:
            raise SettingsError(f"{where}: max_per_hour must be at least 1")
        min_calls = _coerce(f"{where}.min_calls", "int", table.get("min_calls", 10))
        if min_calls < 0:
            raise SettingsError(f"{where}: min_calls must be 0 or more")
        if any(rule.name == name for rule in out):
            raise SettingsError(f"{where} is given twice")
        out.append(AlertRule(name, metric, op, threshold, clear,
                             _coerce(f"{where}.queues", "tuple[str, ...]", table.get("queues", ())),
                             webhook, fmt, email, per_hour, min_calls))  # fmt: skip
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    """Every setting of the product; see the architecture's settings contract for the names."""

    db: str = "./wallboard.db"
    queue_log: str | None = None
    ami_host: str | None = None
    ami_port: int = 5038
    ami_user: str | None = None
    ami_secret: str | None = None
    ami_tls: bool = False
    ami_ping_interval: float = 10.0
    ami_ping_timeout: float = 5.0
    timezone: str = field(default_factory=_machine_timezone)
    host: str = "127.0.0.1"
    port: int = 8000
    service_level: int = 20
    # Per-queue service-level thresholds (seconds) overriding `service_level`.
    service_levels: Mapping[str, int] = field(default_factory=dict)
    # Per-queue wrap-up seconds after a call (queues.conf `wrapuptime`, which AMI does not
    # report; a member's own Wrapuptime wins), for the board's wrap-up countdown.
    wrapup_times: Mapping[str, int] = field(default_factory=dict)
    # Queue calls with no outcome after this many seconds are closed as unanswered (PBX restart).
    stale_call_timeout: int = 4 * 3600
    # Ingest follow mode: how often the tailer looks for appended lines (seconds).
    follow_interval: float = 0.25
    ingest_batch_lines: int = 5000
    # Allowed websocket Origins besides the server's own (comma list in the environment).
    allowed_origins: tuple[str, ...] = ()
    # Wallboard threshold colours: longest wait (s), service level (%), abandon rate (%).
    warn_wait: int = 60
    alert_wait: int = 120
    warn_sl: float = 80.0
    alert_sl: float = 60.0
    warn_abandon: float = 5.0
    alert_abandon: float = 10.0
    # Websocket heartbeat: a ping to every idle browser this often (seconds).
    ws_heartbeat: float = 15.0
    # Failed HTTP Basic logins allowed per client address per minute.
    login_rate_limit: int = 10
    log_level: str = "info"
    # Serve everything under this path prefix ("/wallboard"), as a reverse proxy forwards it.
    base_path: str = ""
    # The address users reach the product at, for printed links ("https://pbx.example/wallboard").
    public_url: str | None = None
    # Proxies (addresses or networks) whose X-Forwarded-Proto/For/Host headers are believed.
    trusted_proxies: tuple[str, ...] = ()
    # Serve HTTPS directly with this certificate and key (PEM files).
    tls_certfile: str | None = None
    tls_keyfile: str | None = None
    # Prometheus metrics at /metrics (off by default); `metrics_port` serves them on a port
    # of their own (on `host`) instead of the main one.
    metrics: bool = False
    metrics_port: int | None = None
    # A REST request's queries stop after this many seconds (JSON 503 report_timeout).
    report_time_limit: float = 30.0
    # Login sessions end after this long without a request, and this long after the login.
    session_idle: int = 24 * 3600
    session_max_age: int = 7 * 24 * 3600
    # The mail server scheduled reports go through (`wallboard schedules`); none: none are sent.
    # `smtp_tls`: none, starttls or tls (from the first byte); a login when smtp_user is set.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_tls: str = "starttls"
    smtp_from: str | None = None  # default: wallboard@<this host's name>
    # Agent names for interfaces: {"PJSIP/2001": "Judy"} (the `[agents]` table of the file, beside
    # `[wallboard]`); for interfaces whose member name Asterisk does not log (history/registry.py).
    agents: Mapping[str, str] = field(default_factory=dict)
    # Queue display names: {"2000": "Sales"} (the `[queues]` table); the API keeps the ids.
    queues: Mapping[str, str] = field(default_factory=dict)
    # Alert rules (`[[alert]]` tables); webhooks are signed with `webhook_secret` (HMAC-SHA256).
    alert: tuple[AlertRule, ...] = ()
    webhook_secret: str | None = field(default=None, repr=False)
    # Several Asterisks (`[[pbx]]` tables beside `[wallboard]`); without them the flat
    # ami_*/queue_log settings are one PBX named "default" (see `pbxs`).
    pbx: tuple[PbxSettings, ...] = ()
    # Where each value came from: setting name -> "file" | "environment" | "flag" (else default).
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # The TOML file the settings were read from, if any.
    config_file: str | None = field(default=None, compare=False, repr=False)

    def source_of(self, name: str) -> str:
        """Where a setting's value came from: default, file, environment or flag."""
        return self.sources.get(name, "default")

    @property
    def public_base(self) -> str:
        """The URL the product's pages live under, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_certfile else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{self.base_path}"

    @property
    def pbxs(self) -> tuple[PbxSettings, ...]:
        """The PBXs to follow: the `[[pbx]]` tables, else the flat settings as "default"
        (none when they name neither an AMI host nor a queue_log)."""
        if self.pbx:
            return self.pbx
        if not self.ami_host and not self.queue_log:
            return ()
        return (PbxSettings(
            "default", self.ami_host, self.ami_port, self.ami_user, self.ami_secret,
            self.ami_tls, self.queue_log,
        ),)  # fmt: skip

    @property
    def qualified(self) -> bool:
        """Whether queue and agent names carry their PBX ("site-a/2000"): with several PBXs."""
        return len(self.pbx) > 1

    def service_level_for(self, queue: str) -> int:
        """The service-level threshold (seconds) of one queue."""
        return int(self.service_levels.get(queue, self.service_level))

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Turn a file/env/flag value into the field's type, or raise SettingsError."""
    if value is None:
        return None
    text_kind = str(kind)
    try:
        if "bool" in text_kind:
            if isinstance(value, bool):
                return value
            low = str(value).strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if "PbxSettings" in text_kind:
            return _pbx_list(value)
        if "AlertRule" in text_kind:
            return _alert_list(value)
        if "Mapping" in text_kind:
            kind = str if "Mapping[str, str]" in text_kind else int
            if isinstance(value, Mapping):
                return {str(k): kind(v) for k, v in value.items()}
            pairs = [p for p in str(value).split(",") if p.strip()]
            return {k.strip(): kind(v.strip()) for k, v in (p.split("=", 1) for p in pairs)}
        if "tuple" in text_kind:
            if isinstance(value, (list, tuple)):
                return tuple(str(v) for v in value)
            return tuple(v.strip() for v in str(value).split(",") if v.strip())
        if text_kind.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if text_kind.startswith("float"):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if isinstance(value, (dict, list, bool)):
            raise ValueError(value)
        return str(value)
    except SettingsError:
        raise
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name!r}: invalid value {value!r}") from exc


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the Settings: defaults, then the file's `[wallboard]`, then env, then overrides."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    known = {f.name: f.type for f in fields(Settings) if f.name not in _META}
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {path}: {exc}") from exc
        section = data.get("wallboard", {})
        for key, value in section.items():
            if key not in known:
                raise SettingsError(f"unknown setting {key!r} in {path}")
            values[key] = _coerce(key, known[key], value)
            sources[key] = "file"
        for table in TABLES:  # top-level tables beside [wallboard]
            if table in data:
                if table in section:
                    raise SettingsError(f"{table!r} is given twice in {path}")
                values[table] = _coerce(table, known[table], data[table])
                sources[table] = "file"
        unknown = set(data) - {"wallboard", *TABLES}
        if unknown:
            raise SettingsError(f"unknown section(s) {', '.join(sorted(unknown))} in {path}")
    env = os.environ if environ is None else environ
    for key, kind in known.items():
        var = "WALLBOARD_" + key.upper()
        if var in env:
            values[key] = _coerce(key, kind, env[var])
            sources[key] = "environment"
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in known:
            raise SettingsError(f"unknown setting {key!r}")
        values[key] = _coerce(key, known[key], value)
        sources[key] = "flag"
    if "base_path" in values:
        values["base_path"] = normalise_base_path(values["base_path"])
    settings = Settings(
        **values, sources=sources, config_file=str(config_file) if config_file else None
    )
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"unknown timezone {settings.timezone!r}") from exc
    if not 0 < settings.port < 65536 or not 0 < settings.ami_port < 65536:
        raise SettingsError("ports must be between 1 and 65535")
    if settings.service_level < 0:
        raise SettingsError("service_level must be >= 0")
    if settings.metrics_port is not None and not 0 < settings.metrics_port < 65536:
        raise SettingsError("metrics_port must be between 1 and 65535")
    if settings.metrics_port is not None and settings.metrics_port == settings.port:
        raise SettingsError("metrics_port must differ from port (leave it out to share the port)")
    if bool(settings.tls_certfile) != bool(settings.tls_keyfile):
        raise SettingsError("tls_certfile and tls_keyfile go together: give both or neither")
    for proxy in settings.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError as exc:
            raise SettingsError(f"trusted_proxies: {proxy!r} is not an address or network") from exc
    if settings.public_url and not settings.public_url.startswith(("http://", "https://")):
        raise SettingsError("public_url must start with http:// or https://")
    if settings.session_idle <= 0 or settings.session_max_age <= 0:
        raise SettingsError("session_idle and session_max_age must be positive (seconds)")
    if settings.smtp_tls not in SMTP_TLS:
        raise SettingsError("smtp_tls must be none, starttls or tls")
    if not 0 < settings.smtp_port < 65536:
        raise SettingsError("smtp_port must be between 1 and 65535")
    for rule in settings.alert:
        if rule.email and not settings.smtp_host:
            raise SettingsError(f"alert {rule.name!r} sends e-mail, but no smtp_host is set")
    if settings.smtp_from is not None and "@" not in settings.smtp_from:
        raise SettingsError("smtp_from must be an e-mail address (\"wallboard@pbx.example\")")
    _validate_pbxs(settings)
    if settings.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
        raise SettingsError("log_level must be debug, info, warning, error or critical")


def _validate_pbxs(settings: Settings) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if settings.pbx and (settings.ami_host or settings.queue_log):
        raise SettingsError(
            "ami_host/queue_log under [wallboard] and [[pbx]] tables do not mix: move them"
            " into a [[pbx]] table"
        )
    seen: set[str] = set()
    for pbx in settings.pbx:
        if not _PBX_NAME.fullmatch(pbx.name):
            raise SettingsError(f"pbx name {pbx.name!r}: letters, digits, '.', '_' or '-'")
        if pbx.name in seen:
            raise SettingsError(f"pbx {pbx.name!r} is given twice")
        seen.add(pbx.name)
        where = f"pbx {pbx.name!r}"
        if pbx.history == "none":
            raise SettingsError(f"{where}: give ami_host, queue_log or queue_log_db")
        if pbx.queue_log and pbx.queue_log_db:
            raise SettingsError(f"{where}: queue_log and queue_log_db exclude each other")
        if pbx.queue_log_db and not pbx.queue_log_db.startswith(HISTORY_SCHEMES):
            raise SettingsError(f"{where}: queue_log_db must be a mysql:// or postgresql:// URL")
        if not _TABLE_NAME.fullmatch(pbx.queue_log_table):
            raise SettingsError(f"{where}: queue_log_table {pbx.queue_log_table!r} is not a"
                                " table name")  # fmt: skip
        if not 0 < pbx.ami_port < 65536:
            raise SettingsError(f"{where}: ami_port must be between 1 and 65535")
        if pbx.queue_log_timezone:
            try:
                ZoneInfo(pbx.queue_log_timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise SettingsError(f"{where}: unknown queue_log_timezone"
                                    f" {pbx.queue_log_timezone!r}") from exc  # fmt: skip


def normalise_base_path(value: str) -> str:
    """"/wallboard" from "wallboard", "/wallboard/" or "//wallboard"; "" for the root."""
    text = str(value).strip()
    parts = [part for part in text.split("/") if part]
    if any(part in (".", "..") or not re.fullmatch(r"[A-Za-z0-9._~!$&'()*+,;=:@%-]+", part)
           for part in parts):
        raise SettingsError(f"base_path {value!r} is not a plain URL path")
    return "/" + "/".join(parts) if parts else ""


def shown_value(settings: Settings, name: str) -> str:
    """A setting's value as `check` prints it: secrets masked, None as "(none)"."""
    value = getattr(settings, name)
    if name in SECRETS and value:
        return "********"
    if value is None or value == "":
        return "(none)"
    if name in ("pbx", "alert"):
        return ", ".join(p.name for p in value) or "(none)"
    if isinstance(value, tuple):
        return ", ".join(value) or "(none)"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "(none)"
    return str(value)


def setting_names() -> list[str]:
    """Every setting's name, in declaration order."""
    return [f.name for f in fields(Settings) if f.name not in _META]
