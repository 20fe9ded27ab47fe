"""The realtime queue_log table follower against real MariaDB and PostgreSQL: every layout
Asterisk writes, exactly once across restarts, out-of-order ids, truncation, outages."""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from wallboard.auth import User
from wallboard.config import PbxSettings, Settings
from wallboard.history.ingest import Ingester, import_files
from wallboard.history.naming import Naming
from wallboard.history.reports import CATALOGUE, ReportParams, run_report
from wallboard.history.store import CALL_COLUMNS, data_columns, open_store
from wallboard.history.tablefollow import QueueLogTableFollower, probe_table
from wallboard.history.tableposition import IdPosition, TimePosition, load_position

LAB = Path(__file__).parent / "fixtures" / "lab_queue_log"
LAB_LINES = LAB.read_text().splitlines()
MADRID = "Europe/Madrid"
TIME_TYPES = {"datetime": "DATETIME(6)", "char": "CHAR(26)", "epoch": "BIGINT"}
ADMIN = User("admin", admin=True)


# -- helpers ------------------------------------------------------------------------------------


def mysql_connect(url: str, **options):
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname, port=parts.port, user=parts.username or "root",
        password=parts.password or "", database=parts.path.lstrip("/"), autocommit=True,
        **options,
    )  # fmt: skip


def sql(conn, statement: str, params=None) -> list[tuple]:
    with conn.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def ddl(time_type: str, data: str, with_id: bool, server: bool = False, pg: bool = False) -> str:
    cols = []
    if with_id:
        cols.append("id BIGSERIAL PRIMARY KEY" if pg else
                    "id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY")  # fmt: skip
    cols += [f"time {time_type}", "callid VARCHAR(80)", "queuename VARCHAR(256)",
             "agent VARCHAR(80)", "event VARCHAR(32)"]  # fmt: skip
    cols += [f"data{i} VARCHAR(100)" for i in range(1, 6)] if data == "data5" else ["data VARCHAR(100)"]
    if server:
        cols.append("serverid VARCHAR(40)")
    return f"CREATE TABLE queue_log ({', '.join(cols)})"


def table_row(line: str, kind: str, data: str, tz: str = "UTC", micro: int = 0) -> dict:
    """A queue_log line as the row Asterisk writes into its table (`micro`: the microseconds
    Asterisk adds, which order the rows of one second when the table has no id)."""
    epoch, callid, queue, agent, event, *rest = line.split("|", 5)
    local = datetime.fromtimestamp(int(epoch), ZoneInfo(tz)).replace(tzinfo=None, microsecond=micro)
    stamp = {"datetime": local, "char": local.strftime("%Y-%m-%d %H:%M:%S.%f"),
             "epoch": int(epoch), "text": local.strftime("%Y-%m-%d %H:%M:%S")}[kind]  # fmt: skip
    row = {"time": stamp, "callid": callid, "queuename": queue, "agent": agent, "event": event}
    fields = rest[0] if rest else ""
    if data == "data5":
        row.update(zip(("data1", "data2", "data3", "data4", "data5"), data_columns(fields), strict=True))
    else:
        row["data"] = fields
    return row


def lab_rows(kind: str, data: str, tz: str = "UTC", lines: list[str] = LAB_LINES) -> list[dict]:
    return [table_row(line, kind, data, tz, n) for n, line in enumerate(lines)]


def stored_lines(store) -> list[str]:
    return sorted("|".join(map(str, e[1:])) for e in store.events_between(0, 2**40))


def insert(conn, rows: list[dict], table: str = "queue_log") -> None:
    if not rows:
        return
    names = list(rows[0])
    statement = (f"INSERT INTO {table} ({', '.join(names)})"
                 f" VALUES ({', '.join('%s' for _ in names)})")  # fmt: skip
    with conn.cursor() as cursor:
        cursor.executemany(statement, [tuple(r[n] for n in names) for r in rows])


def pbx_for(url: str, tz: str = "UTC", **options) -> PbxSettings:
    return PbxSettings(name="default", queue_log_db=url, queue_log_timezone=tz, **options)


def follower_for(store, pbx: PbxSettings, **options) -> QueueLogTableFollower:
    return QueueLogTableFollower(Ingester(store), pbx, Naming(), "UTC", **options)


def drain(follower: QueueLogTableFollower) -> None:
    """Poll until a poll reads to the table's end."""
    follower.poll()
    while follower.lag()[0] or follower._more:
        follower.poll()


def calls(store) -> list[tuple]:
    return store.query(f"SELECT {', '.join(CALL_COLUMNS)} FROM queue_calls ORDER BY id")


def events(store) -> int:
    return store.query_one("SELECT coalesce(sum(count), 0) FROM queue_log_blocks")[0]


def file_store(tmp_path: Path, lines: list[str], name: str = "file.db"):
    log = tmp_path / f"{name}.queue_log"
    log.write_text("".join(line + "\n" for line in lines))
    store = open_store(str(tmp_path / name))
    import_files(store, [log])
    return store


def reports(store, tz: str) -> dict:
    """Every report of the catalogue over the lab's days, as the API gives them."""
    settings = Settings(timezone=tz)
    params = ReportParams(start=date(2026, 11, 27), end=date(2026, 11, 30), now=1795990000)
    return {r.name: run_report(store, settings, r.name, params, ADMIN) for r in CATALOGUE}


async def until(condition, what: str, timeout: float = 60.0) -> None:
    """Wait for a condition (the timeout only stops a broken test from hanging)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def lab_file_store(tmp_path):
    store = file_store(tmp_path, LAB_LINES)
    yield store
    store.close()


# -- every layout Asterisk writes -------------------------------------------------------------


@pytest.mark.parametrize("with_id", [True, False], ids=["id", "no-id"])
@pytest.mark.parametrize("kind", ["datetime", "char", "epoch"])
@pytest.mark.parametrize("data", ["data5", "data"])
def test_every_layout_gives_what_the_file_import_gives(
    mysql_url, tmp_path, lab_file_store, data, kind, with_id
):
    conn = mysql_connect(mysql_url)
    sql(conn, ddl(TIME_TYPES[kind], data, with_id))
    insert(conn, lab_rows(kind, data, MADRID))
    store = open_store(str(tmp_path / "w.db"))
    follower = follower_for(store, pbx_for(mysql_url, MADRID), batch_rows=40)
    drain(follower)
    assert (follower.summary.records, sum(follower.summary.rejected.values())) == (len(LAB_LINES), 0)
    assert stored_lines(store) == stored_lines(lab_file_store)
    if with_id or kind != "epoch":
        assert calls(store) == calls(lab_file_store)
    else:  # whole seconds and no id: the order of one second's rows is the database's
        assert len(calls(store)) == len(calls(lab_file_store))
    drain(follower)  # nothing new: nothing more
    assert follower.summary.records == len(LAB_LINES) and events(store) == len(LAB_LINES)
    ok, said = probe_table(pbx_for(mysql_url, MADRID), "UTC")
    assert ok, said
    shape = "data1..data5" if data == "data5" else "data"
    assert f"{'id' if with_id else 'no id'}, time " in said and shape in said
    assert f"{len(LAB_LINES):,} rows" in said and "newest 2026-11-28" in said
    conn.close()


def test_the_lab_log_in_madrid_time_gives_the_file_import_s_calls_and_reports(
    mysql_url, tmp_path, lab_file_store
):
    """The key one: a real Asterisk 22 queue_log in a MariaDB table written in local time."""
    conn = mysql_connect(mysql_url)
    sql(conn, ddl("DATETIME(6)", "data5", True))
    insert(conn, lab_rows("datetime", "data5", MADRID))
    store = open_store(str(tmp_path / "w.db"))
    follower = follower_for(store, pbx_for(mysql_url, MADRID), batch_rows=50)
    drain(follower)
    assert calls(store) == calls(lab_file_store)
    assert len(calls(store)) > 50
    assert reports(store, MADRID) == reports(lab_file_store, MADRID)
    between = (1795904000, 1795910000)
    assert store.calls_between(*between) == lab_file_store.calls_between(*between)
    # the stored position says where the follower is: every id read, nothing pending
    position = load_position(store.source_position(follower.key))
    assert isinstance(position, IdPosition)
    assert (position.settled, position.read, position.anchor[0]) == (len(LAB_LINES), [], len(LAB_LINES))
    conn.close()


# -- following a table that grows --------------------------------------------------------------


@pytest.mark.parametrize("with_id", [True, False], ids=["id", "no-id"])
async def test_rows_written_while_it_runs_and_a_restart_lose_and_double_nothing(
    mysql_url, tmp_path, lab_file_store, with_id
):
    conn = mysql_connect(mysql_url)
    sql(conn, ddl("CHAR(26)" if not with_id else "DATETIME(6)", "data", with_id))
    kind = "char" if not with_id else "datetime"
    rows = lab_rows(kind, "data", MADRID)
    store = open_store(str(tmp_path / "w.db"))
    pbx = pbx_for(mysql_url, MADRID)
    seen, statuses = [], []
    follower = QueueLogTableFollower(
        Ingester(store, keep_changes=True), pbx, Naming(), "UTC", interval=0.02,
        on_changes=seen.extend, on_status=lambda ok, why: statuses.append((ok, why)), batch_rows=30,
    )  # fmt: skip
    try:
        await follower.start()
        await asyncio.to_thread(insert, conn, rows[:100])
        await until(lambda: events(store) == 100, "the first 100 rows")
        await asyncio.to_thread(insert, conn, rows[100:180])
        await until(lambda: events(store) == 180, "rows written while it runs")
        await until(lambda: follower.lag() == (0, 0.0), "the follower to be at the end")
        assert follower.connected
        await follower.stop()
        await asyncio.to_thread(insert, conn, rows[180:240])  # written while it is down
        follower = follower_for(store, pbx, interval=0.02, batch_rows=30)
        await follower.start()
        await asyncio.to_thread(insert, conn, rows[240:])
        await until(lambda: events(store) == len(LAB_LINES), "every row after the restart")
    finally:
        await follower.stop()
    assert calls(store) == calls(lab_file_store)
    assert statuses[0] == (True, "") and all(ok for ok, _ in statuses)
    assert seen and all(change.after.callid for change in seen if hasattr(change, "after"))
    assert follower.errors == 0
    conn.close()


@pytest.mark.parametrize("with_id", [True, False], ids=["id", "no-id"])
def test_a_failure_right_after_a_commit_doubles_nothing(mysql_url, tmp_path, with_id):
    conn = mysql_connect(mysql_url)
    sql(conn, ddl("DATETIME(6)", "data5", with_id))
    insert(conn, lab_rows("datetime", "data5"))
    store = open_store(str(tmp_path / "w.db"))
    commits = []

    def crash_once(position: int) -> None:
        commits.append(position)
        if len(commits) == 3:
            raise RuntimeError("the process died here")

    follower = QueueLogTableFollower(
        Ingester(store, fail_after_commit=crash_once), pbx_for(mysql_url), Naming(), "UTC",
        batch_rows=25,
    )  # fmt: skip
    with pytest.raises(RuntimeError):
        drain(follower)
    assert events(store) == 75  # three batches stored with their position
    drain(follower)  # the same follower goes on from the stored position
    assert events(store) == len(LAB_LINES)
    assert stored_lines(store) == stored_lines(file_store(tmp_path, LAB_LINES))
    conn.close()


@pytest.mark.parametrize("gap_list", [None, 1], ids=["gaps-by-id", "gaps-by-range"])
def test_an_id_that_becomes_visible_after_a_higher_one_is_read_once(
    mysql_url, tmp_path, monkeypatch, gap_list
):
    if gap_list is not None:  # more gaps than are looked up by id: the range is read again
        monkeypatch.setattr("wallboard.history.tableposition.GAP_LIST", gap_list)
    writer, late = mysql_connect(mysql_url), mysql_connect(mysql_url)
    sql(writer, ddl("DATETIME(6)", "data5", True))
    lines = LAB_LINES[:40]
    rows = lab_rows("datetime", "data5", lines=lines)
    insert(writer, rows[:10])
    store = open_store(str(tmp_path / "w.db"))
    pbx = pbx_for(mysql_url)
    follower = follower_for(store, pbx)
    drain(follower)
    late.autocommit(False)
    insert(late, rows[10:12])  # ids 11 and 12 taken, not committed
    insert(writer, rows[12:20])  # ids 13..20 committed
    drain(follower)
    assert follower.summary.records == 18
    position = load_position(store.source_position(follower.key))
    assert (position.settled, position.read) == (10, [[13, 20]])
    # a restart while the gap is open: the new follower still waits for 11 and 12
    follower = follower_for(store, pbx)
    drain(follower)
    assert follower.summary.records == 0
    late.commit()
    insert(writer, rows[20:])
    drain(follower)
    assert follower.summary.records == 22
    stored = sql(writer, "SELECT id FROM queue_log ORDER BY id")
    assert [r[0] for r in stored] == list(range(1, 41))
    position = load_position(store.source_position(follower.key))
    assert (position.settled, position.read) == (40, [])
    assert events(store) == 40
    other = file_store(tmp_path, lines[:10] + lines[12:20] + lines[10:12] + lines[20:], "o.db")
    assert calls(store) == calls(other)  # the late rows were tracked when they came
    writer.close()
    late.close()


def test_without_an_id_late_rows_in_the_window_and_identical_rows_are_each_read_once(
    mysql_url, tmp_path
):
    conn = mysql_connect(mysql_url)
    sql(conn, ddl("DATETIME(6)", "data", False))
    lines = LAB_LINES[:60]
    rows = lab_rows("datetime", "data", lines=lines)
    insert(conn, rows[:30] + rows[31:40])  # row 30 is written late by a slower writer
    store = open_store(str(tmp_path / "w.db"))
    follower = follower_for(store, pbx_for(mysql_url), window=30)
    drain(follower)
    assert follower.summary.records == 39
    insert(conn, [rows[30]])  # 7 s older than the newest row read: inside the window
    insert(conn, [rows[39], rows[39]])  # the same row written twice more: two new rows
    drain(follower)
    assert follower.summary.records == 42
    follower = follower_for(store, pbx_for(mysql_url), window=30)  # a restart
    insert(conn, rows[40:])
    drain(follower)
    assert follower.summary.records == 20
    assert events(store) == 62
    expected = lines[:30] + lines[31:40] + [lines[30], lines[39], lines[39]] + lines[40:]
    assert stored_lines(store) == stored_lines(file_store(tmp_path, expected))
    position = load_position(store.source_position(follower.key))
    assert isinstance(position, TimePosition) and position.rows == 62
    conn.close()


def test_a_rolled_back_id_is_given_up_after_the_gap_timeout(mysql_url, tmp_path, caplog):
    writer, aborted = mysql_connect(mysql_url), mysql_connect(mysql_url)
    sql(writer, ddl("DATETIME(6)", "data", True))
    rows = lab_rows("datetime", "data", lines=LAB_LINES[:20])
    insert(writer, rows[:5])
    aborted.autocommit(False)
    insert(aborted, rows[5:6])  # id 6
    aborted.rollback()
    insert(writer, rows[6:10])  # ids 7..10
    now = [1000.0]
    store = open_store(str(tmp_path / "w.db"))
    follower = follower_for(store, pbx_for(mysql_url), gap_timeout=60, clock=lambda: now[0])
    drain(follower)
    drain(follower)
    assert follower.summary.records == 9
    assert load_position(store.source_position(follower.key)).settled == 5
    now[0] += 60
    insert(writer, rows[10:])  # ids 11..20
    with caplog.at_level(logging.INFO, logger="wallboard.history.tablefollow"):
        drain(follower)
    assert "id 6 never appeared" in caplog.text
    position = load_position(store.source_position(follower.key))
    assert (position.settled, position.read, follower.summary.records) == (20, [], 19)


# -- the table changing under the follower -----------------------------------------------------


@pytest.mark.parametrize("with_id", [True, False], ids=["id", "no-id"])
def test_a_truncated_table_is_read_again_from_its_start(mysql_url, tmp_path, caplog, with_id):
    conn = mysql_connect(mysql_url)
    sql(conn, ddl("DATETIME(6)", "data5", with_id))
    rows = lab_rows("datetime", "data5")
    insert(conn, rows[:50])
    store = open_store(str(tmp_path / "w.db"))
    follower = follower_for(store, pbx_for(mysql_url))
    drain(follower)
    assert follower.summary.records == 50
    sql(conn, "TRUNCATE TABLE queue_log")
    insert(conn, rows[50:60])  # ids start again at 1
    with caplog.at_level(logging.WARNING, logger="wallboard.history.tablefollow"):
        drain(follower)
    assert "truncated or recreated" in caplog.text
    assert follower.summary.records == 60
    insert(conn, rows[60:])
    drain(follower)
    assert follower.summary.records == len(LAB_LINES) and events(store) == len(LAB_LINES)
    conn.close()


def test_rows_of_another_server_sharing_the_table_are_left_alone(mysql_url, tmp_path):
    conn = mysql_connect(mysql_url)
    sql(conn, ddl("DATETIME(6)", "data5", True, server=True))
    rows = []
    for n, line in enumerate(LAB_LINES):
        mine = dict(table_row(line, "datetime", "data5", micro=n), serverid="pbx-a")
        other = dict(table_row(line, "datetime", "data5", micro=n), serverid="pbx-b")
        rows += [mine, other] if n % 2 else [other, mine]
    insert(conn, rows)
    store = open_store(str(tmp_path / "w.db"))
    pbx = pbx_for(mysql_url, queue_log_server="pbx-a")
    naming = Naming("pbx-a", qualified=True)  # one of several PBXs: its names carry it
    follower = QueueLogTableFollower(Ingester(store), pbx, naming, "UTC", batch_rows=64)
    drain(follower)
    assert follower.summary.records == len(LAB_LINES)
    log = tmp_path / "lab_queue_log"
    log.write_text("".join(line + "\n" for line in LAB_LINES))
    reference = open_store(str(tmp_path / "file.db"))
    import_files(reference, [log], naming=naming)
    assert calls(store) == calls(reference)
    assert {q for (q,) in store.query("SELECT DISTINCT queue FROM queue_calls")} == {
        "pbx-a/2000", "pbx-a/2001", "pbx-a/2002"
    }
    ok, said = probe_table(pbx, "UTC")
    assert ok and f"{len(LAB_LINES):,} rows of server pbx-a" in said and "serverid" in said
    conn.close()


def test_corrupt_rows_are_set_aside_and_the_follower_goes_on(mysql_url, tmp_path):
    conn = mysql_connect(mysql_url)
    sql(conn, ddl("CHAR(26)", "data", True))
    good = lab_rows("char", "data", lines=LAB_LINES[:10])
    bad = [dict(good[0], time="yesterday"), dict(good[1], event=""),
           dict(good[2], data="x|y"), dict(good[3], callid="a\x01b")]  # fmt: skip
    bad[2]["event"] = "CONNECT"  # holdtime "x" is not a number
    insert(conn, good[:5] + bad + good[5:])
    store = open_store(str(tmp_path / "w.db"))
    follower = follower_for(store, pbx_for(mysql_url))
    drain(follower)
    assert follower.summary.records == 10 and follower.errors == 0
    assert dict(follower.summary.rejected) == {"bad_epoch": 1, "field_count": 1, "bad_number": 1,
                                               "binary": 1}  # fmt: skip
    stored = store.query("SELECT source, position, reason FROM rejected_lines ORDER BY position")
    assert [(p, r) for _, p, r in stored] == [
        (6, "bad_epoch"), (7, "field_count"), (8, "bad_number"), (9, "binary")
    ]
    assert stored[0][0] == follower.key and "root" not in follower.key
    conn.close()


# -- the database going away -------------------------------------------------------------------


class Forwarder:
    """A TCP forwarder on 127.0.0.1 in front of a server, which a test can cut and restore."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        """Stop listening and break every link (the database went away)."""
        assert self.server is not None
        self.server.close()
        for link in self.links:
            link.transport.abort()
        self.links.clear()
        await self.server.wait_closed()

    async def restore(self) -> None:
        await self.start()


async def test_the_database_going_away_and_coming_back(mysql_url, tmp_path, caplog):
    admin = mysql_connect(mysql_url)
    sql(admin, ddl("DATETIME(6)", "data5", True))
    user, password = "wb_" + uuid.uuid4().hex[:8], "s3cret-" + uuid.uuid4().hex[:8]
    database = urlsplit(mysql_url).path.lstrip("/")
    for host in ("%", "localhost", "127.0.0.1"):
        sql(admin, f"CREATE USER '{user}'@'{host.replace('%', '%%')}' IDENTIFIED BY %s", (password,))
        sql(admin, f"GRANT SELECT ON `{database}`.* TO '{user}'@'{host}'")
    forwarder = Forwarder(urlsplit(mysql_url).port)
    await forwarder.start()
    url = f"mysql://{user}:{password}@127.0.0.1:{forwarder.port}/{database}"
    rows = lab_rows("datetime", "data5")
    store = open_store(str(tmp_path / "w.db"))
    statuses: list[tuple[bool, str]] = []
    follower = QueueLogTableFollower(
        Ingester(store), pbx_for(url), Naming(), "UTC", interval=0.02,
        on_status=lambda ok, why: statuses.append((ok, why)),
    )  # fmt: skip
    try:
        with caplog.at_level(logging.INFO):
            await follower.start()
            insert(admin, rows[:100])
            await until(lambda: events(store) == 100, "rows before the outage")
            await forwarder.cut()
            await until(lambda: statuses and not statuses[-1][0], "the outage to be seen")
            assert not follower.connected and follower.errors >= 1
            insert(admin, rows[100:200])  # written while the follower cannot reach it
            await forwarder.restore()
            await until(lambda: events(store) == 200 and statuses[-1][0], "the recovery")
            insert(admin, rows[200:])
            await until(lambda: events(store) == len(LAB_LINES), "rows after the outage")
            assert follower.connected and follower.last_error == ""
    finally:
        await follower.stop()
        await forwarder.cut()
        for host in ("%", "localhost", "127.0.0.1"):
            sql(admin, f"DROP USER IF EXISTS '{user}'@'{host}'")
        admin.close()
    down = [why for ok, why in statuses if not ok]
    masked = f"cannot reach mysql://{user}:********@127.0.0.1:{forwarder.port}/{database}: "
    assert down and all(why.startswith(masked) for why in down)
    assert statuses[0] == (True, "") and statuses[-1] == (True, "")
    assert password not in caplog.text and "s3cret" not in "".join(why for _, why in statuses)
    assert calls(store) == calls(file_store(tmp_path, LAB_LINES))


def test_probe_says_what_is_wrong_with_the_password_masked(mysql_url):
    port = urlsplit(mysql_url).port
    ok, said = probe_table(pbx_for(f"mysql://root:hunter22@127.0.0.1:{port}/nowhere_db"), "UTC")
    assert not ok and said.startswith("cannot reach mysql://root:********@127.0.0.1:")
    assert "hunter22" not in said
    ok, said = probe_table(pbx_for(mysql_url, queue_log_table="missing_table"), "UTC")
    assert not ok and said.startswith("cannot read missing_table in mysql://") and "1146" in said
    ok, said = probe_table(pbx_for("mysql://root@127.0.0.1:1/x"), "UTC")
    assert not ok and said.startswith("cannot reach mysql://root@127.0.0.1:1/x: ")


def test_a_postgresql_table_without_psycopg_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails
    ok, said = probe_table(pbx_for("postgresql://u:pw@127.0.0.1:5432/x"), "UTC")
    assert not ok and "pip install wallboard[postgres]" in said


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "data, time_type, with_id",
    [("data5", "TIMESTAMP(6)", True), ("data", "VARCHAR(26)", False), ("data", "BIGINT", True),
     ("data5", "TIMESTAMP(6)", False)],
)  # fmt: skip
def test_a_postgresql_table(pg_url, tmp_path, lab_file_store, data, time_type, with_id):
    import psycopg

    kind = {"TIMESTAMP(6)": "datetime", "TIMESTAMP": "datetime", "VARCHAR(26)": "char",
            "BIGINT": "epoch"}[time_type]  # fmt: skip
    conn = psycopg.connect(pg_url, autocommit=True)
    conn.execute("CREATE SCHEMA asterisk")
    conn.execute(ddl(time_type, data, with_id, pg=True).replace("queue_log", "asterisk.queue_log", 1))
    rows = lab_rows(kind, data, MADRID)
    with conn.cursor() as cursor:
        names = list(rows[0])
        cursor.executemany(
            f"INSERT INTO asterisk.queue_log ({', '.join(names)})"
            f" VALUES ({', '.join('%s' for _ in names)})",
            [tuple(r[n] for n in names) for r in rows[:200]],
        )
    store = open_store(str(tmp_path / "w.db"))
    pbx = pbx_for(pg_url, MADRID, queue_log_table="asterisk.queue_log")
    follower = follower_for(store, pbx, batch_rows=64)
    drain(follower)
    assert follower.summary.records == 200
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO asterisk.queue_log ({', '.join(names)})"
            f" VALUES ({', '.join('%s' for _ in names)})",
            [tuple(r[n] for n in names) for r in rows[200:]],
        )
    follower = follower_for(store, pbx, batch_rows=64)  # a restart, then the rest
    drain(follower)
    assert follower.summary.records == len(LAB_LINES) - 200
    assert calls(store) == calls(lab_file_store)
    ok, said = probe_table(pbx, "UTC")
    assert ok and f"{len(LAB_LINES):,} rows" in said, said
    conn.close()


# -- the position, alone -----------------------------------------------------------------------


def test_the_id_position_settles_waits_for_gaps_and_gives_them_up():
    position = IdPosition()
    position.add([5, 6, 7], now=0.0)
    assert (position.settled, position.read, position.gaps()) == (7, [], [])
    position.add([10, 11], now=1.0)
    position.add([13], now=2.0)
    assert (position.settled, position.read, position.gaps()) == (7, [[10, 11], [13, 13]], [8, 9, 12])
    assert position.is_read(11) and not position.is_read(12) and position.is_read(3)
    again = load_position(position.to_text())
    assert again == position
    position.add([9], now=3.0)
    assert position.expire(now=30.0, timeout=60) == []
    assert position.expire(now=61.5, timeout=60) == [(8, 8)]  # seen at 1.0: gone by 61.0
    assert (position.settled, position.read, position.gaps()) == (11, [[13, 13]], [12])
    position.add([12], now=62.0)
    assert (position.settled, position.read, position.seen) == (13, [], [])


def test_the_time_position_counts_copies_and_comes_back_from_its_text():
    position = TimePosition()
    rows = [("a", 10), ("a", 10), ("b", 11)]
    fresh, fetched = position.take(rows)
    assert fresh == [0, 1, 2]
    position.advance(rows, fetched, 11, 5)
    again = load_position(position.to_text())
    assert isinstance(again, TimePosition) and again.known == position.known
    fresh, fetched = again.take([("a", 10), ("a", 10), ("a", 10), ("b", 11)])
    assert fresh == [2]  # a third copy of the same row is a new row
    stamp = datetime(2026, 11, 30, 10, 0, 1, tzinfo=UTC)
    assert load_position(TimePosition(boundary=stamp).to_text()).boundary == stamp
