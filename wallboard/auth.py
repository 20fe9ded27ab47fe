"""Users, password hashes, restrictions, display tokens and the per-request authenticator.

Passwords are stored as argon2id hashes; display tokens are high-entropy, so only their SHA-256 is
stored. `Authenticator.check` is what the web layer awaits on every request and websocket.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import math
import os
import secrets
import threading
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wallboard.config import Settings
from wallboard.errors import TOO_MANY_REQUESTS, UNAUTHORIZED, WallboardError
from wallboard.history.database import Transaction
from wallboard.history.naming import pbx_of
from wallboard.history.store import Store

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

log = logging.getLogger(__name__)

SESSION_COOKIE = "wallboard_session"
BASIC_CHALLENGE = 'Basic realm="wallboard", charset="UTF-8"'
NAME_MAX = 64
LIST_ITEM_MAX = 128
RATE_WINDOW = 60.0  # seconds over which failed logins are counted
CREDENTIAL_TTL = 60.0  # how long a verified (name, password) pair skips argon2
ROW_TTL = 2.0  # how long a user, display or session row read from the database is trusted
SESSION_TOUCH = 60.0  # a session's last_seen is written at most this often
CACHE_MAX = 10_000  # entries per in-memory table before it is swept
TOKEN_MAX = 256  # longer display tokens are rejected without a database look-up


@dataclass(frozen=True, slots=True)
class User:
    """Someone let in, with the queues and agents they may see (empty = all)."""

    name: str
    admin: bool = False
    queues: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    display: str | None = None  # set when authenticated through a display token

    def sees_queue(self, queue: str) -> bool:
        """Allowed this queue: named, or on a PBX named ("site-a" for site-a/2000)."""
        return not self.queues or queue in self.queues or pbx_of(queue) in self.queues

    def sees_agent(self, agent: str) -> bool:
        return not self.agents or agent in self.agents


class AuthError(WallboardError):
    """A user or display cannot be added, changed or found (the message says why)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_account", message)


class AuthFailure(WallboardError):
    """A request is not let in: 401 (no or wrong credentials) or 429 (rate limited)."""

    @classmethod
    def unauthorized(cls, message: str) -> AuthFailure:
        return cls("unauthorized", message, UNAUTHORIZED, {"WWW-Authenticate": BASIC_CHALLENGE})

    @classmethod
    def rate_limited(cls, retry_after: float) -> AuthFailure:
        seconds = max(1, math.ceil(retry_after))
        return cls(
            "rate_limited",
            f"too many failed logins from this address; try again in {seconds} s",
            TOO_MANY_REQUESTS,
            {"Retry-After": str(seconds)},
        )


# -- names and lists --------------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def check_name(name: str, kind: str = "user") -> str:
    """A valid user or display name, or AuthError: 1-64 characters, no control characters,
    and for users no ':' (HTTP Basic splits on it)."""
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        raise AuthError(f"a {kind} name must be 1 to {NAME_MAX} characters")
    if _has_control(name):
        raise AuthError(f"a {kind} name must not contain control characters")
    if kind == "user" and ":" in name:
        raise AuthError("a user name must not contain ':'")
    return name


def parse_list(value: str | Iterable[str]) -> frozenset[str]:
    """Queue or agent names from a comma-separated string or an iterable; blanks dropped."""
    items = value.split(",") if isinstance(value, str) else value
    names = frozenset(str(item).strip() for item in items) - {""}
    for name in names:
        if "," in name or len(name) > LIST_ITEM_MAX or _has_control(name):
            raise AuthError(f"invalid queue or agent name {name!r}")
    return names


def new_user(
    name: str,
    queues: str | Iterable[str] = (),
    agents: str | Iterable[str] = (),
    admin: bool = False,
) -> User:
    """A validated User (AuthError otherwise); an admin has no restrictions."""
    user = User(check_name(name), bool(admin), parse_list(queues), parse_list(agents))
    if user.admin and (user.queues or user.agents):
        raise AuthError("an admin sees every queue and agent: give either admin or restrictions")
    return user


def _join(names: Iterable[str]) -> str:
    return ",".join(sorted(names))


def _split(text: str) -> frozenset[str]:
    return frozenset(text.split(",")) - {""} if text else frozenset()


def token_digest(token: str) -> str:
    """The SHA-256 (hex) stored for a display token or kept for a session id."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# -- users ------------------------------------------------------------------------------------


class UserStore:
    """The users table: add, list, change passwords, remove, verify (argon2id)."""

    def __init__(
        self,
        store: Store,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self._on_change = on_change
        self._dummy_hash: str | None = None

    def add(
        self,
        name: str,
        password: str,
        queues: str | Iterable[str] = (),
        agents: str | Iterable[str] = (),
        admin: bool = False,
    ) -> User:
        user = new_user(name, queues, agents, admin)
        if self.get(name) is not None:
            raise AuthError(f"user {name!r} already exists")
        password_hash = self._hash(password)
        added = self._store.execute(
            "INSERT INTO users (name, password_hash, admin, queues, agents, created)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
            (name, password_hash, int(user.admin), _join(user.queues), _join(user.agents),
             int(self._clock())),
        )  # fmt: skip
        if not added:
            raise AuthError(f"user {name!r} already exists")
        log.info("user %r added", name)
        return user

    def credentials(self, name: str) -> tuple[User, str] | None:
        """The user and their current password hash, or None when there is no such user."""
        row = self._store.query_one(
            "SELECT name, admin, queues, agents, password_hash FROM users WHERE name = ?", (name,)
        )
        if row is None:
            return None
        return User(row[0], bool(row[1]), _split(row[2]), _split(row[3])), row[4]

    def get(self, name: str) -> User | None:
        found = self.credentials(name)
        return found[0] if found else None

    def list(self) -> list[User]:
        return [
            User(name, bool(admin), _split(queues), _split(agents))
            for name, admin, queues, agents in self._store.query(
                "SELECT name, admin, queues, agents FROM users ORDER BY name"
            )
        ]

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session of the user ends."""
        password_hash = self._hash(password)

        def change(tx: Transaction) -> None:
            if not tx.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name)
            ):
                raise AuthError(f"no user {name!r}")
            tx.execute("DELETE FROM sessions WHERE user_name = ?", (name,))

        self._store.write(change)
        log.info("password of user %r changed", name)
        self._changed(name)

    def remove(self, name: str) -> bool:
        """Delete a user, end their sessions and revoke their display links (so re-adding the
        name revives none)."""

        def delete(tx: Transaction) -> int:
            removed = tx.execute("DELETE FROM users WHERE name = ?", (name,))
            if removed:
                tx.execute(
                    "UPDATE displays SET revoked = ? WHERE user_name = ? AND revoked = 0",
                    (max(1, int(self._clock())), name),
                )
                tx.execute("DELETE FROM sessions WHERE user_name = ?", (name,))
            return removed

        removed = self._store.write(delete)
        if removed:
            log.info("user %r removed", name)
            self._changed(name)
        return bool(removed)

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is theirs; unknown users cost the same argon2 work."""
        found = self.credentials(name)
        return found[0] if self.check_password(found, password) else None

    def check_password(self, found: tuple[User, str] | None, password: str) -> bool:
        """Argon2-verify against a `credentials()` result (None: verify a dummy, fail)."""
        if found is None:
            self._verify(self._dummy(), password)
            return False
        user, stored = found
        if not self._verify(stored, password):
            return False
        if self._hasher.check_needs_rehash(stored):
            self._store.execute(
                "UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?",
                (self._hasher.hash(_secret(password)), user.name, stored),
            )
            self._changed(user.name)  # cached rows hold the old hash: a session made now must match
        return True

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, _secret(password))
        except VerificationError:
            return False
        except InvalidHashError:
            log.warning("a stored password hash is not a valid argon2 hash")
            return False

    def _hash(self, password: str) -> str:
        if not isinstance(password, str) or not password:
            raise AuthError("the password must not be empty")
        return self._hasher.hash(_secret(password))

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _changed(self, name: str) -> None:
        if self._on_change is not None:
            self._on_change(name)


def _secret(password: str) -> bytes:
    """A password's bytes for argon2 (lone surrogates from odd terminals included)."""
    return password.encode("utf-8", "surrogatepass")


# -- display tokens ---------------------------------------------------------------------------


class DisplayTokens:
    """Display links for TV wallboards: a secret token standing for a user, maybe narrowed."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def add(self, name: str, user_name: str, queues: str | Iterable[str] = ()) -> str:
        """Create a display link and return its token (shown once; only its SHA-256 is kept)."""
        check_name(name, "display")
        row = self._store.query_one("SELECT queues FROM users WHERE name = ?", (user_name,))
        if row is None:
            raise AuthError(f"no user {user_name!r}")
        wanted, allowed = parse_list(queues), _split(row[0])
        if allowed and not wanted <= allowed:
            hidden = ", ".join(sorted(wanted - allowed))
            raise AuthError(f"user {user_name!r} cannot see queue(s) {hidden}")
        token = secrets.token_urlsafe(32)

        def insert(tx: Transaction) -> int:
            tx.execute("DELETE FROM displays WHERE name = ? AND revoked <> 0", (name,))
            return tx.execute(
                "INSERT INTO displays (name, token_hash, user_name, queues, created, revoked)"
                " VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
                (name, token_digest(token), user_name, _join(wanted), int(self._clock())),
            )

        added = self._store.write(insert)
        if not added:
            raise AuthError(f"display {name!r} already exists (revoke it first)")
        log.info("display %r added for user %r", name, user_name)
        return token

    def resolve(self, token: str) -> User | None:
        """The user a token stands for, narrowed to the display's queues; None if revoked/unknown."""
        if not isinstance(token, str) or not token or len(token) > TOKEN_MAX:
            return None
        return self.resolve_hash(token_digest(token))

    def resolve_hash(self, digest: str) -> User | None:
        """Like `resolve`, from the token's stored SHA-256 (what a display's session keeps)."""
        row = self._store.query_one(
            "SELECT d.name, d.token_hash, d.queues, u.name, u.queues, u.agents"
            " FROM displays d JOIN users u ON u.name = d.user_name"
            " WHERE d.token_hash = ? AND d.revoked = 0",
            (digest,),
        )
        if row is None or not hmac.compare_digest(row[1], digest):
            return None
        display, _, display_queues, user_name, user_queues, agents = row
        return display_user(display, _split(display_queues), user_name, _split(user_queues),
                            _split(agents))  # fmt: skip

    def current_hash(self, name: str) -> str | None:
        """The token hash of an active display, or None."""
        row = self._store.query_one(
            "SELECT token_hash FROM displays WHERE name = ? AND revoked = 0", (name,)
        )
        return row[0] if row else None

    def list(self) -> list[dict[str, Any]]:
        """Every display link: name, user, queues, created, revoked (never the token)."""
        return [
            {
                "name": name,
                "user": user_name,
                "queues": sorted(_split(queues)),
                "created": created,
                "revoked": bool(revoked),
                "revoked_at": revoked or None,
            }
            for name, user_name, queues, created, revoked in self._store.query(
                "SELECT name, user_name, queues, created, revoked FROM displays ORDER BY name"
            )
        ]

    def revoke(self, name: str) -> bool:
        """Revoke a display link and end the sessions its screens hold."""

        def revoke(tx: Transaction) -> int:
            revoked = tx.execute(
                "UPDATE displays SET revoked = ? WHERE name = ? AND revoked = 0",
                (max(1, int(self._clock())), name),
            )
            tx.execute("DELETE FROM sessions WHERE display = ?", (name,))
            return revoked

        revoked = self._store.write(revoke)
        if revoked:
            log.info("display %r revoked", name)
        return bool(revoked)


def display_user(
    display: str,
    display_queues: frozenset[str],
    user_name: str,
    user_queues: frozenset[str],
    agents: frozenset[str],
) -> User | None:
    """A display's view: the user's queues narrowed to the display's, never widened, never admin.
    None when the two share no queue (an empty set would mean every queue)."""
    if display_queues and user_queues:
        queues = display_queues & user_queues
        if not queues:
            return None
    else:
        queues = display_queues or user_queues
    return User(user_name, False, queues, agents, display)


# -- rate limiting ----------------------------------------------------------------------------


class FailureWindow:
    """Failed attempts per key over a sliding window: who is over the limit, and for how long."""

    def __init__(self, limit: int, window: float = RATE_WINDOW, max_keys: int = CACHE_MAX) -> None:
        self.limit = limit  # <= 0 turns the limit off
        self.window = window
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until `key` may try again, or None when it may try now."""
        if self.limit <= 0:
            return None
        hits = self._recent(key, now)
        if len(hits) < self.limit:
            return None
        return hits[-self.limit] + self.window - now

    def add(self, key: str, now: float) -> None:
        if self.limit <= 0:
            return
        if key not in self._hits and len(self._hits) >= self._max_keys:
            for other in list(self._hits):
                self._recent(other, now)
            if len(self._hits) >= self._max_keys:  # still full: forget the oldest address
                del self._hits[next(iter(self._hits))]
        self._hits.setdefault(key, deque()).append(now)

    def remove(self, key: str, stamp: float) -> None:
        """Take back one attempt recorded at `stamp` (it turned out to succeed)."""
        hits = self._hits.get(key)
        if hits and stamp in hits:
            hits.remove(stamp)
            if not hits:
                del self._hits[key]

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits


# -- the per-request shell --------------------------------------------------------------------


@dataclass(slots=True)
class _Session:
    """A session row as last read from the database, and when it was read."""

    name: str
    display: str | None
    credential: str  # the password hash or display token hash it was created under
    created: float
    last_seen: float  # as stored
    read_at: float


class SessionStore:
    """The sessions table: login sessions that outlive a restart (keyed by the id's SHA-256)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, digest: str, name: str, display: str | None, credential: str, now: float) -> None:
        self._store.execute(
            "INSERT INTO sessions (id_hash, user_name, display, credential, created, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (digest, name, display or "", credential, int(now), int(now)),
        )

    def get(self, digest: str, now: float) -> _Session | None:
        row = self._store.query_one(
            "SELECT user_name, display, credential, created, last_seen FROM sessions"
            " WHERE id_hash = ?",
            (digest,),
        )
        if row is None:
            return None
        return _Session(row[0], row[1] or None, row[2], float(row[3]), float(row[4]), now)

    def touch(self, digest: str, now: float) -> None:
        self._store.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (int(now), digest))

    def remove(self, digest: str) -> None:
        self._store.execute("DELETE FROM sessions WHERE id_hash = ?", (digest,))

    def sweep(self, now: float, idle: float, max_age: float) -> int:
        """Delete expired sessions; returns how many."""
        return self._store.execute(
            "DELETE FROM sessions WHERE last_seen < ? OR created < ?",
            (int(now - idle), int(now - max_age)),
        )


def parse_basic(value: str) -> tuple[str, str]:
    """(name, password) from the credentials of an `Authorization: Basic` header."""
    try:
        if len(value) > 4096:
            raise ValueError("too long")
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise AuthFailure.unauthorized("malformed Basic credentials") from exc
    name, colon, password = text.partition(":")
    if not colon:
        raise AuthFailure.unauthorized("malformed Basic credentials")
    return name, password


def session_cookie_kwargs(
    session_id: str, secure: bool = False, max_age: int = 7 * 24 * 3600, path: str = "/"
) -> dict[str, Any]:
    """Keyword arguments for Starlette's `Response.set_cookie` carrying a session id."""
    return {
        "key": SESSION_COOKIE,
        "value": session_id,
        "max_age": max_age,
        "path": path,
        "httponly": True,
        "samesite": "lax",
        "secure": secure,
    }


class Authenticator:
    """Lets requests in by HTTP Basic, a session cookie or a display token, in that order."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.users = UserStore(store, hasher=hasher, on_change=self.invalidate)
        self.displays = DisplayTokens(store)
        self.sessions = SessionStore(store)
        self.session_idle = float(settings.session_idle)
        self.session_max_age = float(settings.session_max_age)
        self.counters: Counter[str] = Counter()
        self._clock = clock
        self._failures = FailureWindow(settings.login_rate_limit)
        self._key = secrets.token_bytes(32)  # keys the verified-credentials cache
        self._verified: dict[bytes, tuple[float, str, str]] = {}  # -> (until, name, hash)
        self._rows: dict[str, tuple[float, tuple[User, str] | None]] = {}
        self._display_rows: dict[str, tuple[float, User | None]] = {}
        self._sessions: dict[str, _Session] = {}  # rows read, keyed by the session id's SHA-256
        # argon2 takes 64 MiB per verification: bound how many run at once.
        self._argon2_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

    async def check(self, conn: HTTPConnection) -> User:
        """The user behind a request or websocket, or AuthFailure (401/429)."""
        client = conn.client.host if conn.client else "unknown"
        scheme, _, credentials = conn.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                name, password = parse_basic(credentials)
            except AuthFailure:
                self.counters["malformed"] += 1
                raise
            return await self.login(client, name, password)
        session_id = conn.cookies.get(SESSION_COOKIE)
        if session_id:
            user = await self.session_user_async(session_id)
            if user is not None:
                return user
            self.counters["session_unknown"] += 1
        token = conn.query_params.get("display")
        if token:
            user = await self._display_user_async(token)
            if user is not None:
                return user
            self.counters["display_rejected"] += 1
            log.info("unknown or revoked display link used from %s", client)
            raise AuthFailure.unauthorized("unknown or revoked display link")
        raise AuthFailure.unauthorized("authentication required")

    async def login(self, client: str, name: str, password: str) -> User:
        """Check a name and password from a client address (Basic, or a login form).
        Only password failures count towards the rate limit: tokens and session ids are
        256-bit secrets, and a TV with a revoked link must not lock out its office."""
        now = self._clock()
        wait = self._failures.retry_after(client, now)
        if wait is not None:
            self.counters["rate_limited"] += 1
            raise AuthFailure.rate_limited(wait)
        self._failures.add(client, now)  # charged before any wait: parallel guesses count
        found = await self._user_row_async(name, now)
        key = hmac.digest(
            self._key, f"{name}\0{password}".encode("utf-8", "surrogatepass"), "sha256"
        )
        hit = self._verified.get(key)
        if found is not None and hit is not None and hit[0] > now and hit[2] == found[1]:
            self._failures.remove(client, now)
            self.counters["login_cached"] += 1
            return found[0]
        verified = await asyncio.to_thread(self.verify_password_sync, found, password)
        if verified and found is not None:
            self._failures.remove(client, now)
            if len(self._verified) >= CACHE_MAX:
                self._verified.clear()
            self._verified[key] = (self._clock() + CREDENTIAL_TTL, name, found[1])
            self.counters["login_ok"] += 1
            return found[0]
        self.counters["login_failed"] += 1
        who = f"user {name!r}" if found is not None else "an unknown user"
        log.warning("failed login for %s from %s", who, client)
        raise AuthFailure.unauthorized("wrong user name or password")

    def verify_password_sync(self, found: tuple[User, str] | None, password: str) -> bool:
        """The argon2 check (run in a worker thread), at most a few at a time."""
        with self._argon2_slots:
            return self.users.check_password(found, password)

    def create_session(self, user: User) -> str:
        """A new random session id (the cookie value) for a user who just proved who they are.
        Stored (as its SHA-256) so it outlives a restart; it ends on logout, after
        `session_idle` without use or `session_max_age` in all, and when the password
        changes, the user is removed or the display is revoked."""
        if user.display is not None:
            credential = self.displays.current_hash(user.display)
        else:
            found = self.users.credentials(user.name)
            credential = found[1] if found else None
        if credential is None:
            raise AuthError(f"no such user or display for {user.name!r}")
        now = self._clock()
        if len(self._sessions) >= CACHE_MAX:
            self._sweep_sessions(now)
        session_id = secrets.token_urlsafe(32)
        digest = token_digest(session_id)
        self.sessions.add(digest, user.name, user.display, credential, now)
        self._sessions[digest] = _Session(user.name, user.display, credential, now, now, now)
        return session_id

    def end_session(self, session_id: str) -> None:
        digest = token_digest(session_id)
        self._sessions.pop(digest, None)
        self.sessions.remove(digest)

    def session_user(self, session_id: str) -> User | None:
        """The user of a live session (re-checked against the database), or None."""
        if not session_id or len(session_id) > TOKEN_MAX:
            return None
        key = token_digest(session_id)
        now = self._clock()
        session = self._sessions.get(key)
        if session is None or now - session.read_at > ROW_TTL:
            session = self.sessions.get(key, now)
            if session is None:
                self._sessions.pop(key, None)
                return None
            self._sessions[key] = session
        user: User | None = None
        if (
            now - session.last_seen <= self.session_idle
            and now - session.created <= self.session_max_age
        ):
            if session.display is not None:
                user = self._display_row(session.credential, now)
            else:
                found = self._user_row(session.name, now)
                if found is not None and hmac.compare_digest(found[1], session.credential):
                    user = found[0]
        if user is None:
            self._sessions.pop(key, None)
            self.sessions.remove(key)
            return None
        if now - session.last_seen >= SESSION_TOUCH:
            session.last_seen = now
            self.sessions.touch(key, now)
        return user

    async def session_user_async(self, session_id: str) -> User | None:
        """`session_user` without a database read on the event loop: from the caches when all
        the rows it needs are fresh, else in a worker thread."""
        key = token_digest(session_id) if session_id and len(session_id) <= TOKEN_MAX else ""
        now = self._clock()
        session = self._sessions.get(key)
        if (
            session is not None
            and now - session.read_at <= ROW_TTL
            and now - session.last_seen < SESSION_TOUCH
            and self._fresh(session, now)
        ):
            return self.session_user(session_id)
        return await asyncio.to_thread(self.session_user, session_id)

    def _fresh(self, session: _Session, now: float) -> bool:
        rows: dict[str, Any] = self._display_rows if session.display else self._rows
        cached = rows.get(session.credential if session.display else session.name)
        return cached is not None and cached[0] > now

    async def _display_user_async(self, token: str) -> User | None:
        if not token or len(token) > TOKEN_MAX:
            return None
        cached = self._display_rows.get(token_digest(token))
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        return await asyncio.to_thread(self.display_user, token)

    async def _user_row_async(self, name: str, now: float) -> tuple[User, str] | None:
        cached = self._rows.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        return await asyncio.to_thread(self._user_row, name, now)

    def display_user(self, token: str) -> User | None:
        """The user a display token stands for (cached a couple of seconds), or None."""
        if not token or len(token) > TOKEN_MAX:
            return None
        return self._display_row(token_digest(token), self._clock())

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached rows and verified passwords (of one user, or all) after a change."""
        if name is None:
            self._verified.clear()
            self._rows.clear()
            self._sessions.clear()
        else:
            self._rows.pop(name, None)
            self._verified = {k: v for k, v in self._verified.items() if v[1] != name}
            self._sessions = {k: s for k, s in self._sessions.items() if s.name != name}
        self._display_rows.clear()

    def _user_row(self, name: str, now: float) -> tuple[User, str] | None:
        cached = self._rows.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = self.users.credentials(name)
        if len(self._rows) >= CACHE_MAX:
            self._rows.clear()
        self._rows[name] = (now + ROW_TTL, found)
        return found

    def _display_row(self, digest: str, now: float) -> User | None:
        cached = self._display_rows.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        user = self.displays.resolve_hash(digest)
        if len(self._display_rows) >= CACHE_MAX:
            self._display_rows.clear()
        self._display_rows[digest] = (now + ROW_TTL, user)
        return user

    def _sweep_sessions(self, now: float) -> None:
        """Forget cached session rows (they are re-read on use) and delete expired ones."""
        self._sessions.clear()
        self.sessions.sweep(now, self.session_idle, self.session_max_age)
