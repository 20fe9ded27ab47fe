"""Asterisk's realtime queue_log table as a database to read: the driver (MySQL/MariaDB through
PyMySQL, PostgreSQL through psycopg), the layout found at connect and the few parameterised
queries the table follower runs. Blocking: used from worker threads only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from wallboard.config import PbxSettings

CONNECT_TIMEOUT = 10  # seconds to reach the server
READ_TIMEOUT = 30  # seconds one query may take before the connection counts as lost
IN_CHUNK = 500  # ids per `IN (...)` list
DATA_COLUMNS = tuple(f"data{i}" for i in range(1, 6))

# How each driver describes a column's type (pymysql FIELD_TYPE codes, PostgreSQL type oids).
_MYSQL_TYPES = {
    0: ("DECIMAL", "epoch"), 246: ("DECIMAL", "epoch"), 1: ("TINYINT", "epoch"),
    2: ("SMALLINT", "epoch"), 3: ("INT", "epoch"), 8: ("BIGINT", "epoch"), 9: ("MEDIUMINT", "epoch"),
    4: ("FLOAT", "epoch"), 5: ("DOUBLE", "epoch"), 7: ("TIMESTAMP", "datetime"),
    12: ("DATETIME", "datetime"), 15: ("VARCHAR", "text"), 253: ("VARCHAR", "text"),
    254: ("CHAR", "text"), 252: ("TEXT", "text"),
}  # fmt: skip
_PG_TYPES = {
    20: ("BIGINT", "epoch"), 21: ("SMALLINT", "epoch"), 23: ("INTEGER", "epoch"),
    700: ("REAL", "epoch"), 701: ("DOUBLE PRECISION", "epoch"), 1700: ("NUMERIC", "epoch"),
    1114: ("TIMESTAMP", "datetime"), 1184: ("TIMESTAMPTZ", "datetime"), 25: ("TEXT", "text"),
    1043: ("VARCHAR", "text"), 1042: ("CHAR", "text"),
}  # fmt: skip
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT"}


class SourceError(Exception):
    """The table cannot be read now: the database is unreachable, or the table is not a
    queue_log table (`reachable` tells which); the message names the database masked."""

    def __init__(self, message: str, reachable: bool = False) -> None:
        super().__init__(message)
        self.reachable = reachable


@dataclass(frozen=True)
class Layout:
    """The columns of a queue_log table: what is selected, in order, under canonical names."""

    dialect: str  # "mysql" | "postgresql"
    table: str  # quoted, schema-qualified as given
    columns: tuple[str, ...]  # quoted column names, in select order
    keys: tuple[str, ...]  # canonical names, same order: id, time, callid, ..., data*, server
    time_type: str  # "DATETIME", "CHAR", "BIGINT", ...
    time_kind: str  # "datetime" | "text" | "epoch"
    has_id: bool
    data: str  # "data1..data5" | "data" | "none"
    server: str | None  # "serverid" | "node" | None

    def quoted(self, key: str) -> str:
        return self.columns[self.keys.index(key)]

    def describe(self) -> str:
        """The layout in a few words, for logs and `check`."""
        parts = ["id" if self.has_id else "no id", f"time {self.time_type}", self.data]
        if self.server:
            parts.append(self.server)
        return ", ".join(parts)


def dialect_of(url: str) -> str:
    return "postgresql" if url.startswith(("postgresql://", "postgres://")) else "mysql"


def quote_name(name: str, dialect: str) -> str:
    """A table name (`table` or `schema.table`) or column name quoted for the dialect."""
    mark = '"' if dialect == "postgresql" else "`"
    return ".".join(mark + part.replace(mark, mark * 2) + mark for part in name.split("."))


def source_key(pbx: PbxSettings) -> str:
    """The table's identity (no credentials): its key in ingest_positions and the `source`
    of its rejected rows."""
    url = urlsplit(pbx.queue_log_db or "")
    default = 5432 if dialect_of(pbx.queue_log_db or "") == "postgresql" else 3306
    where = f"{url.hostname or 'localhost'}:{url.port or default}{url.path}"
    server = f"@{pbx.queue_log_server}" if pbx.queue_log_server else ""
    return f"table:{pbx.name}:{where}/{pbx.queue_log_table}{server}"


class TableSource:
    """One connection to the queue_log table's database (opened by `connect`)."""

    def __init__(self, pbx: PbxSettings) -> None:
        self.pbx = pbx
        self.dialect = dialect_of(pbx.queue_log_db or "")
        self.table = quote_name(pbx.queue_log_table, self.dialect)
        self.layout: Layout | None = None
        self._conn: Any = None
        self._password = unquote(urlsplit(pbx.queue_log_db or "").password or "")

    # -- the connection -------------------------------------------------------------------

    def connect(self) -> Layout:
        """Open the connection and find the table's layout (SourceError when either fails)."""
        self.close()
        try:
            self._conn = self._open()
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error means "not reachable"
            raise self._error(exc) from exc
        try:
            self.layout = self._discover()
        except SourceError:
            self.close()
            raise
        return self.layout

    def _open(self) -> Any:
        url = self.pbx.queue_log_db or ""
        if self.dialect == "postgresql":
            try:
                import psycopg
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise SourceError(
                    "a PostgreSQL queue_log table needs `pip install wallboard[postgres]`",
                    reachable=True,
                ) from exc
            return psycopg.connect(
                url, connect_timeout=CONNECT_TIMEOUT, autocommit=True,
                options=f"-c statement_timeout={READ_TIMEOUT * 1000}",
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
            )  # fmt: skip
        import pymysql

        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        options: dict[str, Any] = {}
        if "unix_socket" in query:
            options["unix_socket"] = query["unix_socket"]
        return pymysql.connect(
            host=parts.hostname or "localhost", port=parts.port or 3306,
            user=unquote(parts.username or "root"), password=self._password,
            database=unquote(parts.path.lstrip("/")) or None,
            charset=query.get("charset", "utf8mb4"), autocommit=True,
            connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, write_timeout=READ_TIMEOUT,
            **options,
        )  # fmt: skip

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a dead connection may fail to say goodbye
                pass

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _error(self, exc: BaseException, reachable: bool = False) -> SourceError:
        detail = str(exc) or type(exc).__name__
        if self._password and len(self._password) >= 3:
            detail = detail.replace(self._password, "********")
        where = self.pbx.masked_db()
        if reachable:
            return SourceError(f"cannot read {self.pbx.queue_log_table} in {where}: {detail}", True)
        return SourceError(f"cannot reach {where}: {detail}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[tuple], list[tuple]]:
        """(rows, description) of one statement; SourceError (the connection closed) on failure."""
        if self._conn is None:
            raise SourceError(f"cannot reach {self.pbx.masked_db()}: not connected")
        try:
            cursor = self._conn.cursor()
            try:
                cursor.execute(sql, tuple(params))
                rows = list(cursor.fetchall()) if cursor.description else []
                return rows, list(cursor.description or ())
            finally:
                cursor.close()
        except Exception as exc:  # noqa: BLE001 - classified below
            reachable = self._still_reachable(exc)
            if not reachable:
                self.close()
            raise self._error(exc, reachable) from exc

    def _still_reachable(self, exc: BaseException) -> bool:
        """Whether a failed statement was refused by a working server (a missing table or
        column) rather than lost with the connection."""
        if self.dialect == "postgresql":
            import psycopg

            broken = getattr(self._conn, "broken", False) or getattr(self._conn, "closed", True)
            return isinstance(exc, psycopg.ProgrammingError) and not broken
        import pymysql

        return isinstance(exc, pymysql.err.ProgrammingError | pymysql.err.InternalError)

    # -- the layout -----------------------------------------------------------------------

    def _discover(self) -> Layout:
        _, description = self.execute(f"SELECT * FROM {self.table} WHERE 1 = 0")
        found = {str(d[0]).lower(): (str(d[0]), d[1]) for d in description}
        missing = [c for c in ("time", "event") if c not in found]
        if missing:
            raise self._error(ValueError(f"no column {', '.join(missing)}: not a queue_log table"),
                              reachable=True)  # fmt: skip
        types = _PG_TYPES if self.dialect == "postgresql" else _MYSQL_TYPES
        time_type, time_kind = types.get(found["time"][1], (f"type {found['time'][1]}", "text"))
        id_type = types.get(found["id"][1], ("", ""))[0] if "id" in found else ""
        has_id = id_type in _INTEGER_TYPES
        if all(c in found for c in DATA_COLUMNS):
            data, data_keys = "data1..data5", list(DATA_COLUMNS)
        elif "data" in found:
            data, data_keys = "data", ["data"]
        else:
            data, data_keys = "none", []
        server = next((c for c in ("serverid", "node") if c in found), None)
        if self.pbx.queue_log_server and server is None:
            raise self._error(ValueError("queue_log_server is set but the table has no serverid"
                                         " or node column"), reachable=True)  # fmt: skip
        keys = ["id"] if has_id else []
        keys += ["time", "callid", "queuename", "agent", "event", *data_keys]
        names = [found[k][0] if k in found else None for k in keys]
        absent = [k for k, n in zip(keys, names, strict=True) if n is None]
        if absent:
            raise self._error(ValueError(f"no column {', '.join(absent)}"), reachable=True)
        if server is not None:
            keys.append("server")
            names.append(found[server][0])
        return Layout(
            self.dialect, self.table, tuple(quote_name(str(n), self.dialect) for n in names),
            tuple(keys), time_type, time_kind, has_id, data, server,
        )  # fmt: skip

    # -- the queries ----------------------------------------------------------------------

    def _select(self, where: str = "", order: str = "", limit: bool = False) -> str:
        layout = self._layout()
        sql = f"SELECT {', '.join(layout.columns)} FROM {layout.table}"
        if where:
            sql += f" WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        return sql + (" LIMIT %s" if limit else "")

    def _layout(self) -> Layout:
        if self.layout is None:
            raise SourceError(f"cannot reach {self.pbx.masked_db()}: not connected")
        return self.layout

    def rows_by_id(self, after: int | None, limit: int, inclusive: bool = False) -> list[tuple]:
        """Rows in id order from `after` (every row when None), at most `limit`."""
        ident = self._layout().quoted("id")
        if after is None:
            return self.execute(self._select(order=ident, limit=True), (limit,))[0]
        where = f"{ident} {'>=' if inclusive else '>'} %s"
        return self.execute(self._select(where, ident, limit=True), (after, limit))[0]

    def rows_with_ids(self, ids: Sequence[int]) -> list[tuple]:
        """The rows of these ids that exist now."""
        ident = self._layout().quoted("id")
        out: list[tuple] = []
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            where = f"{ident} IN ({', '.join('%s' for _ in chunk)})"
            out += self.execute(self._select(where), chunk)[0]
        return out

    def rows_between_ids(self, low: int, high: int) -> list[tuple]:
        """Rows with low < id <= high."""
        ident = self._layout().quoted("id")
        return self.execute(self._select(f"{ident} > %s AND {ident} <= %s"), (low, high))[0]

    def max_id(self) -> int | None:
        layout = self._layout()
        rows, _ = self.execute(f"SELECT max({layout.quoted('id')}) FROM {layout.table}")
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def rows_by_time(self, since: Any, limit: int) -> list[tuple]:
        """Rows with time >= since (every row when None) in time order, at most `limit`."""
        layout = self._layout()
        stamp = layout.quoted("time")
        if since is None:
            nulls = " NULLS FIRST" if self.dialect == "postgresql" else ""  # MySQL: first anyway
            return self.execute(self._select(order=stamp + nulls, limit=True), (limit,))[0]
        return self.execute(self._select(f"{stamp} >= %s", stamp, limit=True), (since, limit))[0]

    def count_by_time(self, since: Any, inclusive: bool = True) -> int:
        """How many rows have time >= since (> since when not inclusive; all when None)."""
        layout = self._layout()
        sql = f"SELECT count(*) FROM {layout.table}"
        if since is None:
            return int(self.execute(sql)[0][0][0])
        where = f" WHERE {layout.quoted('time')} {'>=' if inclusive else '>'} %s"
        return int(self.execute(sql + where, (since,))[0][0][0])

    def stats(self) -> tuple[int, Any]:
        """(rows, newest row's time) of this PBX's rows, for `check`."""
        layout = self._layout()
        where, params = "", cast("tuple[str, ...]", ())
        if layout.server is not None and self.pbx.queue_log_server:
            where, params = f" WHERE {layout.quoted('server')} = %s", (self.pbx.queue_log_server,)
        stamp = layout.quoted("time")
        count = self.execute(f"SELECT count(*) FROM {layout.table}{where}", params)[0][0][0]
        if layout.has_id:
            sql = (f"SELECT {stamp} FROM {layout.table}{where}"
                   f" ORDER BY {layout.quoted('id')} DESC LIMIT 1")  # fmt: skip
        else:
            sql = f"SELECT max({stamp}) FROM {layout.table}{where}"
        newest = self.execute(sql, params)[0]
        return int(count), newest[0][0] if newest else None

