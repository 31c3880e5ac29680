"""The user store on a real Redis: names, roles, scopes, password hashes, sessions, lock-out."""

from __future__ import annotations

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from metrics.keys import Keys
from metrics.users import (
    LoginThrottle,
    UserError,
    UserStore,
    check_districts,
    check_name,
    check_role,
)

PASSWORD = "a long enough password"


@pytest.fixture
def users(redis_client: redis.Redis, key_prefix: str) -> UserStore:
    return UserStore(redis_client, Keys(key_prefix), time_cost=1, memory_kib=8192)


@pytest.mark.parametrize(("name", "ok"), [
    ("zhang.wei", True), ("a", True), ("ops@gz", True), ("wall-01", True), ("x" * 64, True),
    ("", False), ("Zhang", False), ("-lead", False), ("a b", False), ("x" * 65, False), ("名字", False),
    ("a:b", False), ("a*", False),
])
def test_check_name(name: str, ok: bool) -> None:
    if ok:
        assert check_name(name) == name
    else:
        with pytest.raises(UserError, match="not allowed"):
            check_name(name)


@pytest.mark.parametrize(("role", "ok"), [("wall", True), ("admin", True), ("root", False), ("Admin", False)])
def test_check_role(role: str, ok: bool) -> None:
    if ok:
        assert check_role(role) == role
    else:
        with pytest.raises(UserError, match="unknown"):
            check_role(role)


@pytest.mark.parametrize(("codes", "expected"), [
    ([], ()), (["440106", "440104", "440106"], ("440104", "440106")), ([" 440106 "], ("440106",))])
def test_check_districts(codes: list[str], expected: tuple[str, ...]) -> None:
    assert check_districts(codes) == expected


@given(st.text(max_size=8))
def test_check_districts_accepts_only_six_digits(code: str) -> None:
    stripped = code.strip()
    if len(stripped) == 6 and stripped.isascii() and stripped.isdigit():
        assert check_districts([code]) == (stripped,)
    else:
        with pytest.raises(UserError):
            check_districts([code])


def test_passwords_are_salted_argon2id(users: UserStore, redis_client: redis.Redis) -> None:
    users.add("a1", "leader", PASSWORD)
    users.add("a2", "leader", PASSWORD)
    h1, h2 = (redis_client.hget(users.keys.user(n), "pw") for n in ("a1", "a2"))
    assert h1 is not None and h2 is not None
    assert h1.startswith(b"$argon2id$") and h1 != h2  # same password, different salt
    assert PASSWORD.encode() not in h1


def test_verify(users: UserStore) -> None:
    user = users.add("b1", "officer", PASSWORD, ["440106"])
    assert users.verify("b1", PASSWORD) == user
    assert users.verify("b1", PASSWORD + "x") is None
    assert users.verify("nobody", PASSWORD) is None
    assert users.verify("../etc", PASSWORD) is None


def test_verify_upgrades_old_hashes(redis_client: redis.Redis, key_prefix: str) -> None:
    weak = UserStore(redis_client, Keys(key_prefix), time_cost=1, memory_kib=8192)
    weak.add("c1", "wall", PASSWORD)
    strong = UserStore(redis_client, Keys(key_prefix), time_cost=2, memory_kib=8192)
    assert strong.verify("c1", PASSWORD) is not None
    assert b"t=2" in (redis_client.hget(strong.keys.user("c1"), "pw") or b"")


def test_sessions(users: UserStore) -> None:
    user = users.add("d1", "analyst", PASSWORD)
    token, csrf = users.start_session(user, ip="10.1.2.3", ttl_s=60)
    session = users.session(token)
    assert session is not None and session.user == user and session.csrf == csrf
    assert users.session(token + "x") is None and users.session("") is None
    users.end_session(token)
    assert users.session(token) is None


def test_role_change_applies_to_live_sessions(users: UserStore, redis_client: redis.Redis) -> None:
    token, _ = users.start_session(users.add("e1", "officer", PASSWORD), ip="x", ttl_s=60)
    redis_client.hset(users.keys.user("e1"), "role", "wall")
    session = users.session(token)
    assert session is not None and session.user.role == "wall"


def test_list_and_remove(users: UserStore) -> None:
    users.add("f2", "wall", PASSWORD)
    users.add("f1", "admin", PASSWORD, ["440103"])
    assert [(u.name, u.role, u.districts) for u in users.list()] == [("f1", "admin", ("440103",)),
                                                                       ("f2", "wall", ())]
    users.remove("f2")
    assert [u.name for u in users.list()] == ["f1"]
    with pytest.raises(UserError, match="no user"):
        users.remove("f2")


@pytest.mark.parametrize(("failures", "locked"), [(0, False), (2, False), (3, True), (5, True)])
def test_throttle(redis_client: redis.Redis, key_prefix: str, failures: int, locked: bool) -> None:
    throttle = LoginThrottle(redis_client, Keys(key_prefix), max_user_failures=3, max_ip_failures=100,
                             lockout_s=30)
    for _ in range(failures):
        throttle.failed("Zhang", "10.0.0.1")
    assert (throttle.locked_for("zhang", "10.0.0.2") > 0) is locked
    assert 0 <= throttle.locked_for("zhang", "10.0.0.2") <= 30
    throttle.succeeded("zhang")
    assert throttle.locked_for("zhang", "10.0.0.2") == 0


def test_throttle_by_address(redis_client: redis.Redis, key_prefix: str) -> None:
    throttle = LoginThrottle(redis_client, Keys(key_prefix), max_user_failures=100, max_ip_failures=4,
                             lockout_s=30)
    for n in range(4):
        throttle.failed(f"user{n}", "10.9.9.9")  # spraying many names from one address
    assert throttle.locked_for("someone-else", "10.9.9.9") > 0
    assert throttle.locked_for("someone-else", "10.9.9.8") == 0
