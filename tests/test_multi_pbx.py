"""Several PBXs in one product: `[[pbx]]` settings, names qualified by PBX, one PBX killed and
restarted while the other's screen keeps updating (two simulators over real TCP, the product on
a real uvicorn, a real websocket client), restrictions naming a PBX, the entities carrying it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.browser_support import Replica, Served, cheap_hasher, session_cookie
from tests.test_ingest import until
from wallboard.app import build_live, create_app
from wallboard.auth import Authenticator
from wallboard.config import PbxSettings, SettingsError, load_settings
from wallboard.history.store import open_store
from wallboard.simulator.model import CallCenterModel, default_config
from wallboard.simulator.server import SimulatorServer

START = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
DAY = "2026-11-18"
TIMEOUT = 30


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- settings -------------------------------------------------------------------------------------


def test_flat_settings_are_one_pbx_named_default(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"ami_host": "10.0.0.5", "queue_log": "/q"})
    (pbx,) = settings.pbxs
    assert (pbx.name, pbx.ami_host, pbx.queue_log, pbx.history) == ("default", "10.0.0.5", "/q",
                                                                    "queue_log")  # fmt: skip
    assert not settings.qualified
    assert load_settings(environ={}).pbxs == ()
    ami_only = load_settings(environ={}, overrides={"ami_host": "10.0.0.5"}).pbxs[0]
    assert ami_only.history == "ami"


def test_pbx_tables(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "w.toml", """
[wallboard]
timezone = "UTC"

[[pbx]]
name = "site-a"
ami_host = "10.0.0.1"
ami_secret = "hush"
queue_log = "/var/log/asterisk/queue_log"

[[pbx]]
name = "site-b"
ami_host = "10.0.0.2"
queue_log_db = "mysql://qm:pa55@db.example:3306/asterisk"
queue_log_table = "asterisk.queue_log"
queue_log_timezone = "Europe/Madrid"
""")
    settings = load_settings(path, environ={})
    a, b = settings.pbxs
    assert settings.qualified and (a.name, b.name) == ("site-a", "site-b")
    assert (a.history, b.history, b.queue_log_timezone) == ("queue_log", "table", "Europe/Madrid")
    assert "hush" not in repr(a) and "pa55" not in repr(b)
    assert b.masked_db() == "mysql://qm:********@db.example:3306/asterisk"


@pytest.mark.parametrize(("body", "message"), [
    ('[[pbx]]\nname = "a"\nami_host = "h"\n[[pbx]]\nname = "a"\nami_host = "i"\n', "twice"),
    ('[wallboard]\nami_host = "h"\n[[pbx]]\nname = "a"\nami_host = "i"\n', "do not mix"),
    ('[[pbx]]\nname = "a"\nami_hots = "h"\n', "unknown setting"),
    ('[[pbx]]\nname = "a/b"\nami_host = "h"\n', "pbx name"),
    ('[[pbx]]\nname = "a"\n', "give ami_host, queue_log or queue_log_db"),
    ('[[pbx]]\nname = "a"\nqueue_log_db = "sqlite:///x"\n', "mysql:// or postgresql://"),
    ('[[pbx]]\nname = "a"\nqueue_log = "/q"\nqueue_log_db = "mysql://h/db"\n', "exclude"),
    ('[[pbx]]\nname = "a"\nqueue_log_db = "mysql://h/db"\nqueue_log_table = "x; drop"\n',
     "table name"),
    ('[[pbx]]\nname = "a"\nami_host = "h"\nqueue_log_timezone = "Mars/Base"\n', "timezone"),
])  # fmt: skip
def test_bad_pbx_tables_are_refused_with_the_reason(tmp_path: Path, body: str,
                                                    message: str) -> None:  # fmt: skip
    with pytest.raises(SettingsError, match=message):
        load_settings(write_toml(tmp_path / "w.toml", body), environ={})


# -- two PBXs, one killed and restarted -------------------------------------------------------


class TwoSites:
    """site-a: a simulator whose queue_log file the product follows; site-b: a simulator the
    product follows through AMI alone. The product serves on a real uvicorn."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.models = {
            "site-a": CallCenterModel(default_config(seed=3), start_time=START),
            "site-b": CallCenterModel(default_config(seed=4), start_time=START),
        }
        self.sims: dict[str, SimulatorServer] = {}
        self.ports: dict[str, int] = {}

    def simulator(self, name: str) -> SimulatorServer:
        queue_log = self.tmp / f"{name}.queue_log"
        return SimulatorServer(self.models[name], port=self.ports.get(name, 0), speed=0,
                               secret=f"pw-{name}", queue_log_path=queue_log, auth_delay=0)  # fmt: skip

    async def start(self) -> None:
        for name in self.models:
            sim = self.sims[name] = self.simulator(name)
            await sim.start()
            self.ports[name] = sim.port
        path = write_toml(self.tmp / "w.toml", f"""
[wallboard]
db = "{self.tmp / 'w.db'}"
timezone = "UTC"
follow_interval = 0.05
ws_heartbeat = 1.0

[[pbx]]
name = "site-a"
ami_host = "127.0.0.1"
ami_port = {self.ports['site-a']}
ami_user = "wallboard"
ami_secret = "pw-site-a"
queue_log = "{self.tmp / 'site-a.queue_log'}"

[[pbx]]
name = "site-b"
ami_host = "127.0.0.1"
ami_port = {self.ports['site-b']}
ami_user = "wallboard"
ami_secret = "pw-site-b"
""")
        self.settings = load_settings(path, environ={})
        self.store = open_store(self.settings.db)

        def now() -> float:  # the PBXs' virtual time: both clocks step together
            return self.models["site-a"].now

        self.app = create_app(self.settings, self.store, services=False)
        self.app.state.auth = Authenticator(self.store, self.settings, hasher=cheap_hasher())
        self.app.state.clock = now
        self.live = self.app.state.live = build_live(self.settings, self.store, clock=now)
        self.users = {
            "boss": self.app.state.auth.users.add("boss", "pw-boss", admin=True),
            "a-only": self.app.state.auth.users.add("a-only", "pw-a", queues="site-a"),
        }
        await self.live.start()
        self.served = await Served(self.app).start()
        await until(lambda: all(link.synced.is_set() for link in self.live.listeners.values()),
                    "both AMI links")  # fmt: skip

    async def step(self, seconds: float, names: tuple[str, ...] = ("site-a", "site-b")) -> None:
        for name in names:
            await self.sims[name].step(seconds)
        for name in set(self.models) - set(names):  # a PBX down keeps its clock
            self.models[name].advance(self.models[name].now + seconds)

    async def open(self, user: str) -> Any:
        cookie = session_cookie(self.app, self.users[user])
        return await connect(f"ws://{self.served.base}/ws", additional_headers={"Cookie": cookie},
                             open_timeout=TIMEOUT, max_size=None)  # fmt: skip

    async def open_display(self, token: str) -> Any:
        """A TV's screen: nobody logged in, the display link's token in the URL."""
        return await connect(f"ws://{self.served.base}/ws?display={token}", open_timeout=TIMEOUT,
                             max_size=None)  # fmt: skip

    async def get(self, entity: str, user: str = "boss", **params: str) -> dict:
        password = {"boss": "pw-boss", "a-only": "pw-a"}[user]
        async with httpx.AsyncClient(base_url=f"http://{self.served.base}",
                                     auth=(user, password)) as client:  # fmt: skip
            response = await client.get("/stats/rest/index.php", params={"entity": entity, **params})
        assert response.status_code == 200, response.text
        return response.json()

    async def stop(self) -> None:
        await self.served.stop()
        await self.live.stop()
        for sim in self.sims.values():
            await sim.stop()


async def follow(conn: Any, replica: Replica) -> None:
    try:
        async for raw in conn:
            replica.feed(raw)
    except Exception:  # noqa: BLE001 - the connection closed
        return


def received(state: dict, queue: str) -> int:
    return state["queues"][queue]["counters"]["received"]


async def test_one_pbx_down_never_blanks_the_other(tmp_path: Path) -> None:
    sites = TwoSites(tmp_path)
    await sites.start()
    screen, restricted, tv = Replica(), Replica(), Replica()
    token = sites.app.state.auth.displays.add("tv-b", "boss", "site-b")  # a PBX's name: its queues
    conns = [await sites.open("boss"), await sites.open("a-only"), await sites.open_display(token)]
    readers = [asyncio.create_task(follow(conn, replica))
               for conn, replica in zip(conns, (screen, restricted, tv), strict=True)]  # fmt: skip
    try:
        for _ in range(30):
            await sites.step(60)
        truth = sites.live.state.snapshot
        await until(lambda: received(truth(), "site-b/2000") > 0, "site-b's AMI-derived history")
        await until(lambda: screen.state == truth(), "the screen to show the state")
        queues = set(screen.state["queues"])
        assert {"site-a/2000", "site-a/2001", "site-b/2000", "site-b/2002"} <= queues
        assert {q: screen.state["queues"][q]["pbx"] for q in ("site-a/2000", "site-b/2000")} == {
            "site-a/2000": "site-a", "site-b/2000": "site-b"}  # fmt: skip
        assert all(p["connected"] for p in screen.state["pbxs"].values())
        assert screen.state["pbxs"]["site-b"]["history"] == "ami"
        assert received(screen.state, "site-b/2000") > 0  # AMI-derived history counts
        # Members are qualified too: the same interface on two PBXs is two agents.
        members = screen.state["queues"]["site-b/2000"]["members"]
        assert all(interface.startswith("site-b/") for interface in members)

        # The restricted screen: site-a only, its link status only.
        await until(lambda: restricted.state is not None
                    and set(restricted.state["queues"]) == {q for q in queues if q.startswith("site-a/")},
                    "the restricted screen")  # fmt: skip
        assert set(restricted.state["pbxs"]) == {"site-a"}
        await until(lambda: tv.state is not None
                    and set(tv.state["queues"]) == {q for q in queues if q.startswith("site-b/")},
                    "the TV showing site-b")  # fmt: skip
        assert set(tv.state["pbxs"]) == {"site-b"}

        # site-b's Asterisk dies: its link goes down, site-a's screen keeps updating.
        await sites.sims["site-b"].stop()
        await until(lambda: not screen.state["pbxs"]["site-b"]["connected"], "site-b down")
        assert screen.state["pbxs"]["site-a"]["connected"]
        before = received(screen.state, "site-a/2000")
        kept = received(screen.state, "site-b/2000")
        for _ in range(10):
            await sites.step(60, names=("site-a",))
        await until(lambda: received(screen.state, "site-a/2000") > before, "site-a to go on")
        assert received(screen.state, "site-b/2000") == kept  # kept, not blanked
        assert "site-b" in screen.state["connection"]["error"]
        assert restricted.state["pbxs"] == {"site-a": screen.state["pbxs"]["site-a"]}

        # It comes back on the same port: the link resyncs, history resumes.
        sites.sims["site-b"] = sites.simulator("site-b")
        await sites.sims["site-b"].start()
        await until(lambda: screen.state["pbxs"]["site-b"]["connected"], "site-b back")
        for _ in range(10):
            await sites.step(60)
        await until(lambda: received(truth(), "site-b/2000") > kept, "site-b's history to resume")
        await until(lambda: screen.state == truth(), "the screen to catch up")

        # The REST entities carry the PBX; a PBX's name stands for its queues.
        realtime = await sites.get("realtime")
        assert set(realtime["pbxs"]) == {"site-a", "site-b"}
        assert realtime["summary"]["queue"]["site-b/2001"]["pbx"] == "site-b"
        listed = {q["queue"]: q["pbx"] for q in (await sites.get("queues"))["data"]}
        assert listed["site-a/2000"] == "site-a" and listed["site-b/2002"] == "site-b"
        assert "2000" not in listed  # no unqualified twin
        agents = {a["agent"]: a["pbx"] for a in (await sites.get("agents"))["data"]}
        assert agents["site-a/Alice"] == "site-a" and agents["site-b/Alice"] == "site-b"
        mine = await sites.get("realtime", "a-only")
        assert set(mine["summary"]["queue"]) <= {q for q in queues if q.startswith("site-a/")}
        assert set(mine["pbxs"]) == {"site-a"}
        report = await sites.get("reports/distribution_by_queue", queue="site-b", start=DAY, end=DAY)
        assert {r["Queue"] for r in report["rows"]} <= {q for q in queues if q.startswith("site-b/")}
        assert [g["pbx"] for g in report["gaps"]] == ["site-b"] and report["gaps"][0]["end"]
        only_a = await sites.get("reports/distribution_by_queue", queue="site-a", start=DAY, end=DAY)
        assert only_a["gaps"] == []  # site-a's history is its queue_log: nothing missed
        denied = await _status(sites, "reports/distribution_by_queue", "a-only", queue="site-b")
        assert denied == 403
    finally:
        for conn in conns:
            await conn.close()
        for reader in readers:
            reader.cancel()
        await sites.stop()


async def _status(sites: TwoSites, entity: str, user: str, **params: str) -> int:
    async with httpx.AsyncClient(base_url=f"http://{sites.served.base}", auth=(user, "pw-a")) as client:
        response = await client.get("/stats/rest/index.php", params={"entity": entity, **params})
    assert json.loads(response.text)["error"]
    return response.status_code


def test_pbx_settings_defaults() -> None:
    pbx = PbxSettings("x", queue_log_db="postgresql://h/db")
    assert (pbx.queue_log_table, pbx.history, pbx.ami_port) == ("queue_log", "table", 5038)


# -- a PBX whose history is a database table ---------------------------------------------------


async def test_history_from_a_table_and_a_source_that_cannot_be_reached(
    tmp_path: Path, mysql_url: str
) -> None:
    """site-a's queue_log is a MariaDB table (read through build_live, as serve does); site-b's
    database is unreachable: its error is on the board and in realtime, site-a's figures are
    those of the same lines imported from a file."""
    from tests.test_table_follower import ddl, insert, lab_rows, mysql_connect
    from wallboard.history.ingest import import_files
    from wallboard.history.naming import Naming

    conn = mysql_connect(mysql_url)
    with conn.cursor() as cursor:
        cursor.execute(ddl("DATETIME(6)", "data5", with_id=True))
    insert(conn, lab_rows("datetime", "data5", tz="Europe/Madrid"))
    unreachable = "mysql://qlog:hush@127.0.0.1:9/asterisk"  # nothing listens on the discard port
    path = write_toml(tmp_path / "w.toml", f"""
[wallboard]
db = "{tmp_path / 'w.db'}"
timezone = "Europe/Madrid"
follow_interval = 0.05

[[pbx]]
name = "site-a"
queue_log_db = "{mysql_url}"

[[pbx]]
name = "site-b"
queue_log_db = "{unreachable}"
""")
    settings = load_settings(path, environ={})
    store = open_store(settings.db)
    store_users = Authenticator(store, settings, hasher=cheap_hasher()).users
    store_users.add("boss", "pw-boss", admin=True)
    live = build_live(settings, store)
    app = create_app(settings, store, services=False)
    app.state.live = live
    await live.start()
    try:
        lab = Path(__file__).parent / "fixtures" / "lab_queue_log"
        lines = len(lab.read_text().splitlines())
        await until(lambda: live.sources["site-a"].summary.lines == lines, "site-a's table read")
        await until(lambda: not live.state.snapshot()["pbxs"]["site-b"]["history_ok"],
                    "site-b's error on the board")  # fmt: skip
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://wallboard", auth=("boss", "pw-boss")) as http:  # fmt: skip
            realtime = (await http.get("/stats/rest/index.php?entity=realtime")).json()
            span = {"start": "2026-11-28", "end": "2026-11-30"}
            got = (await http.get("/stats/rest/index.php",
                                  params={"entity": "reports/distribution_by_queue", **span})).json()  # fmt: skip
    finally:
        await live.stop()
        conn.close()
    b = realtime["pbxs"]["site-b"]
    assert (b["history"], b["historyOk"]) == ("table", "0")
    assert "cannot reach" in b["historyError"] and "hush" not in b["historyError"]
    assert realtime["pbxs"]["site-a"]["historyOk"] == "1"
    truth_store = open_store(str(tmp_path / "file.db"))
    import_files(truth_store, [lab], naming=Naming("site-a", qualified=True))
    truth_users = Authenticator(truth_store, settings, hasher=cheap_hasher()).users
    truth_users.add("boss", "pw-boss", admin=True)
    truth_app = create_app(settings.replace(db=str(tmp_path / "file.db"), pbx=()), truth_store,
                           services=False)  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=truth_app),
                                 base_url="http://wallboard", auth=("boss", "pw-boss")) as http:  # fmt: skip
        truth = (await http.get("/stats/rest/index.php",
                                params={"entity": "reports/distribution_by_queue", **span})).json()  # fmt: skip
    assert got["rows"] == truth["rows"] and {r["Queue"] for r in got["rows"]} == {
        "site-a/2000", "site-a/2001", "site-a/2002"}  # fmt: skip
