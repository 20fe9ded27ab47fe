"""Users, argon2 hashes, restrictions, display tokens, the request authenticator and the CLI."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from wallboard.auth import (
    SESSION_COOKIE,
    Authenticator,
    AuthError,
    AuthFailure,
    DisplayTokens,
    FailureWindow,
    User,
    UserStore,
    display_user,
    parse_basic,
)
from wallboard.cli import main
from wallboard.config import Settings
from wallboard.history.store import Store, open_store


class CountingHasher(PasswordHasher):
    """The real argon2id hasher, counting verifications (to see the work done)."""

    verifications = 0

    def verify(self, hash, password):
        self.verifications += 1
        return super().verify(hash, password)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "w.db"))
    yield s
    s.close()


# -- pure parts -------------------------------------------------------------------------------


def test_restrictions() -> None:
    everyone = User("boss")
    assert everyone.sees_queue("sales") and everyone.sees_agent("Agent/1")
    sales = User("sue", queues=frozenset({"sales"}), agents=frozenset({"Agent/1"}))
    assert sales.sees_queue("sales") and not sales.sees_queue("support")
    assert sales.sees_agent("Agent/1") and not sales.sees_agent("Agent/2")


def test_display_narrowing() -> None:
    ab, bc = frozenset({"a", "b"}), frozenset({"b", "c"})
    assert display_user("tv", bc, "u", ab, frozenset()).queues == {"b"}
    assert display_user("tv", bc, "u", frozenset(), frozenset()).queues == bc
    assert display_user("tv", frozenset(), "u", ab, frozenset()).queues == ab
    # no common queue: refused, never widened to "every queue"
    assert display_user("tv", frozenset({"c"}), "u", frozenset({"a"}), frozenset()) is None


def test_failure_window() -> None:
    window = FailureWindow(limit=2, window=60)
    window.add("a", 0)
    assert window.retry_after("a", 1) is None
    window.add("a", 10)
    assert window.retry_after("a", 10) == 50
    assert window.retry_after("b", 10) is None
    window.remove("a", 10)
    assert window.retry_after("a", 10) is None
    window.add("a", 20)
    assert window.retry_after("a", 59) == 1
    assert window.retry_after("a", 60) is None  # the first attempt left the window
    assert FailureWindow(limit=0).retry_after("a", 0) is None


def test_parse_basic() -> None:
    encoded = base64.b64encode("zoë:pa:ss".encode()).decode()
    assert parse_basic(encoded) == ("zoë", "pa:ss")
    for bad in (
        "not base64!",
        base64.b64encode(b"nocolon").decode(),
        base64.b64encode(b"\xff:x").decode(),
    ):
        with pytest.raises(AuthFailure) as failure:
            parse_basic(bad)
        assert failure.value.status == 401


# -- users ------------------------------------------------------------------------------------


def test_users_crud(store: Store) -> None:
    users = UserStore(store)
    added = users.add("alice", "s3cret", queues="sales, support", agents=["Agent/1"])
    assert added == User("alice", False, frozenset({"sales", "support"}), frozenset({"Agent/1"}))
    users.add("bob", "hunter2", admin=True)
    assert users.get("alice") == added
    assert users.get("nobody") is None
    assert [u.name for u in users.list()] == ["alice", "bob"]
    assert users.list()[1].admin

    hashes = dict(store.query("SELECT name, password_hash FROM users"))
    assert all(h.startswith("$argon2id$") for h in hashes.values())
    assert "s3cret" not in hashes["alice"] and "hunter2" not in hashes["bob"]

    with pytest.raises(AuthError, match="already exists"):
        users.add("alice", "other")
    for bad in ("", "x" * 65, "a:b", "tab\there", "new\nline", "del\x7f"):
        with pytest.raises(AuthError):
            users.add(bad, "pw")
    with pytest.raises(AuthError, match="empty"):
        users.add("carol", "")
    with pytest.raises(AuthError, match="admin"):
        users.add("carol", "pw", queues="sales", admin=True)
    assert users.add("x" * 64, "pw").name == "x" * 64

    users.set_password("alice", "n3w")
    assert users.verify("alice", "n3w") is not None and users.verify("alice", "s3cret") is None
    with pytest.raises(AuthError):
        users.set_password("nobody", "pw")
    assert users.remove("bob") is True
    assert users.remove("bob") is False
    assert users.get("bob") is None


def test_verify_costs_the_same_for_unknown_users(store: Store) -> None:
    hasher = CountingHasher()
    users = UserStore(store, hasher=hasher)
    users.add("alice", "right")
    assert users.verify("alice", "right") == User("alice")
    assert users.verify("alice", "wrong") is None
    assert hasher.verifications == 2
    assert users.verify("mallory", "right") is None
    assert hasher.verifications == 3  # a dummy hash was verified too


def test_weaker_hashes_are_upgraded_on_login(store: Store) -> None:
    UserStore(store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)).add(
        "old", "pw"
    )
    users = UserStore(store)
    assert users.verify("old", "pw") is not None
    upgraded = store.query_one("SELECT password_hash FROM users WHERE name = 'old'")[0]
    assert upgraded.startswith("$argon2id$") and "m=65536" in upgraded
    assert users.verify("old", "pw") is not None
    odd = "caf\udce9"  # a lone surrogate, as a non-UTF-8 terminal may hand over
    users.set_password("old", odd)
    assert users.verify("old", odd) is not None and users.verify("old", "pw") is None


# -- display tokens ---------------------------------------------------------------------------


def test_display_tokens(store: Store) -> None:
    users = UserStore(store)
    users.add("sue", "pw", queues="sales,support", agents="Agent/1")
    users.add("boss", "pw", admin=True)
    displays = DisplayTokens(store)

    token = displays.add("lobby", "sue", queues="support,")
    assert len(token) >= 43
    stored = store.query_one("SELECT token_hash FROM displays WHERE name = 'lobby'")[0]
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored
    assert displays.resolve(token) == User(
        "sue", False, frozenset({"support"}), frozenset({"Agent/1"}), display="lobby"
    )
    wide = displays.add("wall", "sue")
    assert displays.resolve(wide).queues == {"sales", "support"}
    boss_tv = displays.add("boss-tv", "boss")
    assert displays.resolve(boss_tv) == User("boss", admin=False, display="boss-tv")

    assert displays.resolve("nope") is None and displays.resolve("") is None
    assert displays.resolve("x" * 10_000) is None
    with pytest.raises(AuthError, match="cannot see"):
        displays.add("other", "sue", queues="billing")
    with pytest.raises(AuthError, match="no user"):
        displays.add("other", "ghost")
    with pytest.raises(AuthError, match="already exists"):
        displays.add("lobby", "sue")

    listed = displays.list()
    assert [d["name"] for d in listed] == ["boss-tv", "lobby", "wall"]
    assert listed[1]["user"] == "sue" and listed[1]["queues"] == ["support"]
    assert all(token not in repr(d) for d in listed)

    assert displays.revoke("lobby") is True and displays.revoke("lobby") is False
    assert displays.resolve(token) is None
    assert next(d for d in displays.list() if d["name"] == "lobby")["revoked"] is True
    again = displays.add("lobby", "sue")  # a revoked name can be reused, with a new token
    assert displays.resolve(again) is not None and displays.resolve(token) is None

    # removing the user revokes their displays, so re-adding the name revives nothing
    users.remove("sue")
    users.add("sue", "pw")
    assert displays.resolve(wide) is None and displays.resolve(again) is None


# -- the authenticator over HTTP --------------------------------------------------------------


def make_app(auth: Authenticator) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        try:
            user = await auth.check(request)
        except AuthFailure as failure:
            return JSONResponse(
                {"error": failure.code, "message": failure.message, "status": failure.status},
                status_code=failure.status,
                headers=failure.headers,
            )
        return JSONResponse(
            {"name": user.name, "queues": sorted(user.queues), "display": user.display}
        )

    return Starlette(routes=[Route("/whoami", whoami)])


def client(app: Starlette, address: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={session_id}"}


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


@pytest.fixture
def setup(store: Store) -> tuple[Authenticator, Clock, CountingHasher]:
    clock, hasher = Clock(), CountingHasher()
    auth = Authenticator(store, Settings(login_rate_limit=3), clock=clock, hasher=hasher)
    auth.users.add("alice", "right", queues="sales")
    return auth, clock, hasher


async def test_basic_auth(setup, store: Store) -> None:
    auth, clock, hasher = setup
    async with client(make_app(auth)) as http:
        ok = await http.get("/whoami", headers=basic("alice", "right"))
        assert ok.status_code == 200 and ok.json() == {
            "name": "alice",
            "queues": ["sales"],
            "display": None,
        }

        # a verified pair is cached: no argon2 work on the next requests
        before = hasher.verifications
        for _ in range(3):
            assert (await http.get("/whoami", headers=basic("alice", "right"))).status_code == 200
        assert hasher.verifications == before

        for headers in (
            basic("alice", "wrong"),
            basic("ghost", "right"),
            {},
            {"Authorization": "Basic !!"},
        ):
            denied = await http.get("/whoami", headers=headers)
            assert denied.status_code == 401
            assert denied.headers["www-authenticate"] == 'Basic realm="wallboard", charset="UTF-8"'
            assert denied.json()["error"] == "unauthorized"
        clock.now += 61  # past the rate-limit window of those failures

        # a change through this process forgets the cache at once
        auth.users.set_password("alice", "fresh")
        assert (await http.get("/whoami", headers=basic("alice", "right"))).status_code == 401
        assert (await http.get("/whoami", headers=basic("alice", "fresh"))).status_code == 200

        # a change from another process (the CLI) is seen once the row cache expires
        UserStore(store).set_password("alice", "cli")
        clock.now += 5
        assert (await http.get("/whoami", headers=basic("alice", "fresh"))).status_code == 401
        assert (await http.get("/whoami", headers=basic("alice", "cli"))).status_code == 200
        UserStore(store).remove("alice")
        clock.now += 5
        assert (await http.get("/whoami", headers=basic("alice", "cli"))).status_code == 401


async def test_rate_limit_per_address(setup) -> None:
    auth, clock, _ = setup
    app = make_app(auth)
    async with client(app, "10.0.0.1") as attacker, client(app, "10.0.0.2") as other:
        for _ in range(3):
            assert (
                await attacker.get("/whoami", headers=basic("alice", "guess"))
            ).status_code == 401
        clock.now += 30
        limited = await attacker.get("/whoami", headers=basic("alice", "right"))
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert limited.headers["retry-after"] == "30"
        assert (await other.get("/whoami", headers=basic("alice", "right"))).status_code == 200
        clock.now += 31
        assert (await attacker.get("/whoami", headers=basic("alice", "right"))).status_code == 200
    assert auth.counters["rate_limited"] == 1 and auth.counters["login_failed"] == 3


class GatedHasher(PasswordHasher):
    """argon2 that waits for the test's go-ahead, so requests pile up deterministically."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def verify(self, hash, password):
        assert self.gate.wait(10)
        return super().verify(hash, password)


async def test_parallel_guesses_are_counted_before_the_slow_check(store: Store) -> None:
    hasher = GatedHasher()
    auth = Authenticator(store, Settings(login_rate_limit=3), clock=Clock(), hasher=hasher)
    UserStore(store).add("alice", "right")
    async with client(make_app(auth)) as http:
        tasks = [
            asyncio.create_task(http.get("/whoami", headers=basic("alice", f"guess{n}")))
            for n in range(5)
        ]
        done, pending = await asyncio.wait(tasks, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        while len(done) < 2 and pending:
            more, pending = await asyncio.wait(
                pending, timeout=10, return_when=asyncio.FIRST_COMPLETED
            )
            done |= more
        assert sorted(t.result().status_code for t in done) == [429, 429]
        hasher.gate.set()
        statuses = sorted(r.status_code for r in await asyncio.gather(*tasks))
    assert statuses == [401, 401, 401, 429, 429]


async def test_sessions_and_display_tokens(setup, store: Store) -> None:
    auth, clock, _ = setup
    async with client(make_app(auth)) as http:
        session = auth.create_session(User("alice", queues=frozenset({"sales"})))
        ok = await http.get("/whoami", headers=cookie(session))
        assert ok.status_code == 200 and ok.json()["name"] == "alice"
        assert (await http.get("/whoami", headers=cookie("forged"))).status_code == 401
        auth.end_session(session)
        assert (await http.get("/whoami", headers=cookie(session))).status_code == 401

        session = auth.create_session(User("alice"))
        auth.users.set_password("alice", "changed")  # a password change ends sessions
        assert (await http.get("/whoami", headers=cookie(session))).status_code == 401

        token = auth.displays.add("tv", "alice")
        shown = await http.get("/whoami", params={"display": token})
        assert shown.status_code == 200
        assert shown.json() == {"name": "alice", "queues": ["sales"], "display": "tv"}
        tv_session = auth.create_session(auth.display_user(token))
        assert (await http.get("/whoami", headers=cookie(tv_session))).json()["display"] == "tv"

        DisplayTokens(store).revoke("tv")  # e.g. from the CLI: effective within seconds
        clock.now += 5
        assert (await http.get("/whoami", params={"display": token})).status_code == 401
        assert (await http.get("/whoami", headers=cookie(tv_session))).status_code == 401
        assert (await http.get("/whoami", params={"display": "x" * 5000})).status_code == 401


# -- command line -----------------------------------------------------------------------------


def run(monkeypatch, capsys, argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_users_cli(tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    db = ["--db", str(tmp_path / "w.db")]
    add = ["users", *db, "add"]
    assert (
        run(
            monkeypatch,
            capsys,
            [*add, "alice", "--queues", "sales", "--password-stdin"],
            "Pa55 word\n",
        )[0]
        == 0
    )
    assert (
        run(monkeypatch, capsys, [*add, "root", "--admin", "--password-stdin"], "toor\r\n")[0] == 0
    )

    code, out, err = run(monkeypatch, capsys, ["users", *db, "list"])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ADMIN", "QUEUES", "AGENTS"]
    assert lines[1].split() == ["alice", "no", "sales", "all"]
    assert lines[2].split() == ["root", "yes", "all", "all"]
    assert "argon2" not in out

    store = open_store(str(tmp_path / "w.db"))
    users = UserStore(store)
    assert (
        users.verify("alice", "Pa55 word") is not None and users.verify("root", "toor") is not None
    )

    code, _, err = run(monkeypatch, capsys, [*add, "alice", "--password-stdin"], "x\n")
    assert code == 1 and "already exists" in err
    code, _, err = run(monkeypatch, capsys, [*add, "bob", "--password-stdin"], "\n")
    assert code == 1 and "empty" in err
    code, _, err = run(monkeypatch, capsys, [*add, "bob", "--password-stdin"], "")
    assert code == 1 and "no password" in err
    code, _, err = run(monkeypatch, capsys, [*add, "a:b", "--password-stdin"], "x\n")
    assert code == 1 and "':'" in err

    prompts = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(prompts))
    code, _, err = run(monkeypatch, capsys, [*add, "bob"])
    assert code == 1 and "do not match" in err
    prompts = iter(["same", "same"])
    assert run(monkeypatch, capsys, [*add, "bob"])[0] == 0
    assert users.verify("bob", "same") is not None

    assert (
        run(monkeypatch, capsys, ["users", *db, "passwd", "alice", "--password-stdin"], "n3w\n")[0]
        == 0
    )
    assert users.verify("alice", "n3w") is not None and users.verify("alice", "Pa55 word") is None
    code, _, err = run(
        monkeypatch, capsys, ["users", *db, "passwd", "ghost", "--password-stdin"], "x\n"
    )
    assert code == 1 and "no user" in err

    assert run(monkeypatch, capsys, ["users", *db, "remove", "bob"])[0] == 0
    code, _, err = run(monkeypatch, capsys, ["users", *db, "remove", "bob"])
    assert code == 1 and "no user" in err
    assert users.get("bob") is None
    store.close()

    for secret in ("Pa55 word", "toor", "same", "n3w"):
        assert secret not in caplog.text


def test_displays_cli(tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    db = ["--db", str(tmp_path / "w.db")]
    run(
        monkeypatch,
        capsys,
        ["users", *db, "add", "sue", "--queues", "sales,support", "--password-stdin"],
        "pw\n",
    )

    code, out, _ = run(
        monkeypatch,
        capsys,
        ["displays", *db, "--port", "8123", "add", "lobby", "--user", "sue", "--queues", "sales"],
    )
    assert code == 0
    link = next(line for line in out.splitlines() if "/wallboard?display=" in line)
    assert link.startswith("http://127.0.0.1:8123/wallboard?display=")  # a whole, working URL
    token = link.split("?display=", 1)[1]

    store = open_store(str(tmp_path / "w.db"))
    assert DisplayTokens(store).resolve(token) == User(
        "sue", queues=frozenset({"sales"}), display="lobby"
    )

    code, _, err = run(monkeypatch, capsys, ["displays", *db, "add", "tv", "--user", "ghost"])
    assert code == 1 and "no user" in err
    code, _, err = run(
        monkeypatch, capsys, ["displays", *db, "add", "tv", "--user", "sue", "--queues", "billing"]
    )
    assert code == 1 and "cannot see" in err

    code, out, _ = run(monkeypatch, capsys, ["displays", *db, "list"])
    assert code == 0 and token not in out
    assert out.splitlines()[1].split()[:3] == ["lobby", "sue", "sales"]
    assert out.splitlines()[1].split()[-1] == "active"

    assert run(monkeypatch, capsys, ["displays", *db, "revoke", "lobby"])[0] == 0
    code, _, err = run(monkeypatch, capsys, ["displays", *db, "revoke", "lobby"])
    assert code == 1 and "no active display" in err
    assert DisplayTokens(store).resolve(token) is None
    assert (
        run(monkeypatch, capsys, ["displays", *db, "list"])[1].splitlines()[1].split()[-1]
        == "revoked"
    )
    store.close()
    assert token not in caplog.text


def test_cli_bad_database(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = run(
        monkeypatch, capsys, ["users", "--db", str(tmp_path / "missing" / "w.db"), "list"]
    )
    assert code == 1 and "cannot open" in err
