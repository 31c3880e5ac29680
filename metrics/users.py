"""The users of a store, their login sessions and the lock-out counters, all in Redis so that every
dashboard worker (and the ``users`` command) shares them.

Passwords are kept only as argon2id hashes (salted, memory-hard); a session cookie is kept only as its
SHA-256, so a copy of Redis holds neither a usable password nor a usable cookie.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kapok.errors import RedKapokError
from metrics.keys import Keys

Role = Literal["wall", "leader", "analyst", "officer", "admin"]
#: Roles from least to most privileged (docs/security.md has what each may do).
ROLES: tuple[Role, ...] = ("wall", "leader", "analyst", "officer", "admin")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_DISTRICT = re.compile(r"^\d{6}$")
MIN_PASSWORD_CHARS = 10


class UserError(RedKapokError):
    """A user operation was refused (unknown or duplicate name, bad role, weak password)."""


@dataclass(frozen=True)
class User:
    """One user: ``districts`` empty means every district (no scope)."""

    name: str
    role: Role
    districts: tuple[str, ...] = ()

    @property
    def scoped(self) -> bool:
        return bool(self.districts)


@dataclass(frozen=True)
class Session:
    """A live login session: its user (as stored now, so role changes apply at once) and CSRF token."""

    user: User
    csrf: str
    digest: str


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """A user name: lower case letters, digits and ``._@-``, 1–64 chars, starting with a letter or digit."""
    if not _NAME.match(name or ""):
        raise UserError(f"user name {name!r} is not allowed: use 1-64 lower-case letters, digits and ._@- "
                        f"(e.g. zhang.wei)")
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise UserError(f"role {role!r} is unknown: use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def check_districts(codes: Iterable[str]) -> tuple[str, ...]:
    """Sorted unique 6-digit district codes."""
    out = sorted({c.strip() for c in codes})
    bad = [c for c in out if not _DISTRICT.match(c)]
    if bad:
        raise UserError(f"district code(s) {', '.join(map(repr, bad))} are not 6-digit codes (e.g. 440106)")
    return tuple(out)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"the password has {len(password)} characters: use at least {MIN_PASSWORD_CHARS}")
    return password


class UserStore:
    """Users, sessions and lock-out counters of one store (one key prefix)."""

    def __init__(self, client: redis.Redis, keys: Keys, *, time_cost: int = 3,
                 memory_kib: int = 65536) -> None:
        self.client = client
        self.keys = keys
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=4)
        # Verified against when the name is unknown, so an unknown name costs as much time as a known one.
        self._dummy = self.hasher.hash(secrets.token_hex(16))

    # ------------------------------------------------------------------ users
    def add(self, name: str, role: str, password: str, districts: Iterable[str] = ()) -> User:
        user = User(check_name(name), check_role(role), check_districts(districts))
        hashed = self.hasher.hash(check_password(password))
        now = str(int(time.time()))
        if not self.client.sadd(self.keys.users(), user.name):
            raise UserError(f"user {name!r} exists already: use `users passwd` or `users remove` first")
        self.client.hset(self.keys.user(user.name), mapping={
            "role": user.role, "districts": ",".join(user.districts), "pw": hashed, "created": now,
            "updated": now})
        return user

    def get(self, name: str) -> User | None:
        fields = self.client.hmget(self.keys.user(name), ["role", "districts"])
        return self._user(name, fields)

    @staticmethod
    def _user(name: str, fields: list[bytes | str | None]) -> User | None:
        role, districts = _text(fields[0]), _text(fields[1])
        if role not in ROLES:
            return None
        return User(name, role, tuple(d for d in districts.split(",") if d))  # type: ignore[arg-type]

    def list(self) -> list[User]:
        names = sorted(_text(n) for n in self.client.smembers(self.keys.users()))
        users = [self.get(n) for n in names]
        return [u for u in users if u is not None]

    def set_password(self, name: str, password: str) -> None:
        """Replace the password and end every session of the user."""
        if self.get(name) is None:
            raise UserError(f"no user {name!r}: see `users list`")
        self.client.hset(self.keys.user(name), mapping={"pw": self.hasher.hash(check_password(password)),
                                                         "updated": str(int(time.time()))})
        self.end_sessions(name)

    def remove(self, name: str) -> None:
        """Delete the user and end every session of it."""
        if not self.client.srem(self.keys.users(), name):
            raise UserError(f"no user {name!r}: see `users list`")
        self.end_sessions(name)
        self.client.delete(self.keys.user(name))

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None. Rehashes on success when the cost settings
        grew since the hash was made."""
        fields = self.client.hmget(self.keys.user(name), ["role", "districts", "pw"]) if _NAME.match(
            name or "") else [None, None, None]
        stored = _text(fields[2])
        try:
            self.hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if not stored:
            return None
        if self.hasher.check_needs_rehash(stored):
            self.client.hset(self.keys.user(name), "pw", self.hasher.hash(password))
        return self._user(name, fields[:2])

    # ------------------------------------------------------------------ sessions
    def start_session(self, user: User, *, ip: str, ttl_s: int) -> tuple[str, str]:
        """A new session: (cookie token, CSRF token). Only the token's digest is stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        digest = _digest(token)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.keys.session(digest), mapping={"user": user.name, "csrf": csrf,
                                                      "created": str(int(time.time())), "ip": ip})
        pipe.expire(self.keys.session(digest), ttl_s)
        pipe.sadd(self.keys.user_sessions(user.name), digest)
        pipe.expire(self.keys.user_sessions(user.name), ttl_s)
        pipe.execute()
        return token, csrf

    def session(self, token: str) -> Session | None:
        """The live session of a cookie token, with its user as stored now; None when ended or expired,
        or when its user was removed."""
        if not token or len(token) > 128:
            return None
        digest = _digest(token)
        name, csrf = (_text(v) for v in self.client.hmget(self.keys.session(digest), ["user", "csrf"]))
        if not name:
            return None
        user = self.get(name)
        return Session(user, csrf, digest) if user is not None else None

    def end_session(self, token: str) -> None:
        digest = _digest(token)
        name = _text(self.client.hget(self.keys.session(digest), "user"))
        self.client.delete(self.keys.session(digest))
        if name:
            self.client.srem(self.keys.user_sessions(name), digest)

    def end_sessions(self, name: str) -> int:
        """End every session of a user; returns how many were live."""
        digests = [_text(d) for d in self.client.smembers(self.keys.user_sessions(name))]
        ended = int(self.client.delete(*(self.keys.session(d) for d in digests))) if digests else 0
        self.client.delete(self.keys.user_sessions(name))
        return ended


class LoginThrottle:
    """Counts failed logins per user name and per client address; past a limit, refuses attempts until
    ``lockout_s`` has passed since the last failure. Counters live in Redis, shared by every worker."""

    def __init__(self, client: redis.Redis, keys: Keys, *, max_user_failures: int, max_ip_failures: int,
                 lockout_s: int) -> None:
        self.client = client
        self.keys = keys
        self.limits = {"user": max_user_failures, "ip": max_ip_failures}
        self.lockout_s = lockout_s

    def _idents(self, name: str, ip: str) -> list[tuple[str, str]]:
        # user names are matched case-insensitively here so that "Admin" and "admin" share a counter
        return [("user", (name or "").lower()[:64]), ("ip", ip or "unknown")]

    def locked_for(self, name: str, ip: str) -> int:
        """Seconds until the name or the address may try again (0: it may try now)."""
        idents = self._idents(name, ip)
        pipe = self.client.pipeline(transaction=False)
        for kind, ident in idents:
            key = self.keys.login_failures(kind, ident)
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        wait = 0
        for (kind, _), count, ttl in zip(idents, replies[0::2], replies[1::2], strict=True):
            if count is not None and int(count) >= self.limits[kind]:
                wait = max(wait, int(ttl) if ttl and int(ttl) > 0 else self.lockout_s)
        return wait

    def failed(self, name: str, ip: str) -> bool:
        """Count a failure; True when it locked the name or the address out."""
        pipe = self.client.pipeline(transaction=False)
        idents = self._idents(name, ip)
        for kind, ident in idents:
            pipe.incr(self.keys.login_failures(kind, ident))
            pipe.expire(self.keys.login_failures(kind, ident), self.lockout_s)
        counts = pipe.execute()[0::2]
        return any(int(c) == self.limits[kind] for (kind, _), c in zip(idents, counts, strict=True))

    def succeeded(self, name: str) -> None:
        """A good login clears the name's count (not the address's: one good account must not reset a
        password-spraying client)."""
        self.client.delete(self.keys.login_failures("user", (name or "").lower()[:64]))

    def unlock(self, name: str) -> bool:
        return bool(self.client.delete(self.keys.login_failures("user", name.lower()[:64])))
