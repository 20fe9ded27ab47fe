"""One typed Settings object, built once from a TOML file, `WALLBOARD_*` variables and flags.

Precedence: command-line flag > environment > `[wallboard]` section of the file > default.
Nothing else in the package reads the environment; the settings are passed down.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting has a value of the wrong type or form."""


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
        if "Mapping" in text_kind:
            if isinstance(value, Mapping):
                return {str(k): int(v) for k, v in value.items()}
            pairs = [p for p in str(value).split(",") if p.strip()]
            return {k.strip(): int(v) for k, v in (p.split("=", 1) for p in pairs)}
        if "tuple" in text_kind:
            if isinstance(value, (list, tuple)):
                return tuple(str(v) for v in value)
            return tuple(v.strip() for v in str(value).split(",") if v.strip())
        if text_kind.startswith("int"):
            return int(value)
        if text_kind.startswith("float"):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name!r}: invalid value {value!r}") from exc


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the Settings: defaults, then the file's `[wallboard]`, then env, then overrides."""
    values: dict[str, Any] = {}
    known = {f.name: f.type for f in fields(Settings)}
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
    env = os.environ if environ is None else environ
    for key, kind in known.items():
        var = "WALLBOARD_" + key.upper()
        if var in env:
            values[key] = _coerce(key, kind, env[var])
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in known:
            raise SettingsError(f"unknown setting {key!r}")
        values[key] = _coerce(key, known[key], value)
    settings = Settings(**values)
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
