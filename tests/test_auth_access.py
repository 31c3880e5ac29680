"""Access control against a real store: login and sessions, HTTP Basic, every role against every page
and endpoint, district scope, CSRF, lock-out, and login turned off.

The role table is also written to ``test-artifacts/role_table.md``; endpoints still missing (404 where
the role is allowed) are listed there for the lead.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from dash import Dash
from flask.testing import FlaskClient

from dashboard import auth
from dashboard.app import create_app
from kapok.settings import PROJECT_ROOT, Settings, load_settings
from metrics.store import MetricsStore
from metrics.users import ROLES, UserStore

PASSWORD = "correct horse battery"
METRICS_TOKEN = "metrics-token-" + "x" * 20
TIANHE, YUEXIU = "440106", "440104"
GRID_TIANHE, GRID_YUEXIU = "8841188491fffff", "884118b0dbfffff"
#: Endpoints the lead is writing now: a 404 there is reported, not failed.
PENDING = {"/api/v1/hazards", "/api/v1/hazards/summary", "/api/v1/warnings", "/api/v1/warnings/w-test/ack",
           "/api/v1/warnings/w-test/dispatch", "/api/v1/warnings/w-test/resolve"}


@dataclass
class Site:
    app: Dash
    settings: Settings
    store: MetricsStore
    users: UserStore


def make_site(redis_url: str, city: Any, prefix: str, **extra: Any) -> Site:
    options: dict[str, Any] = {"auth": "login", "cookie_secure": False, "password_hash_time_cost": 1,
                               "password_hash_memory_kib": 8192, "metrics_token": METRICS_TOKEN,
                               "login_max_failures": 3, "login_lockout_s": 60}
    settings = load_settings(redis_url=redis_url, key_prefix=prefix, **(options | extra))
    store = MetricsStore(redis.Redis.from_url(redis_url), prefix=prefix)
    users = UserStore(store.client, store.keys, time_cost=1, memory_kib=8192)
    app = create_app(settings, store, city)
    app.server.testing = False  # errors answer as in production (no exception propagation)
    return Site(app, settings, store, users)


def drop_keys(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def site(redis_url: str, city: Any) -> Iterator[Site]:
    prefix = "ta" + uuid.uuid4().hex[:10]
    built = make_site(redis_url, city, prefix)
    for role in ROLES:
        built.users.add(f"{role}1", role, PASSWORD)
    built.users.add("officer-th", "officer", PASSWORD, [TIANHE])
    built.users.add("analyst-th", "analyst", PASSWORD, [TIANHE])
    yield built
    drop_keys(built.store.client, prefix)
    built.store.client.close()


def login(client: FlaskClient, name: str, password: str = PASSWORD, next_path: str = "/") -> Any:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf, page.get_data(as_text=True)
    return client.post("/login", data={"username": name, "password": password, "csrf": csrf.group(1),
                                       "next": next_path})


def session_client(site: Site, name: str) -> FlaskClient:
    client = site.app.server.test_client()
    answer = login(client, name)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return client


def csrf_headers(client: FlaskClient) -> dict[str, str]:
    cookie = client.get_cookie(auth.CSRF_COOKIE)
    assert cookie is not None
    return {auth.CSRF_HEADER: cookie.value}


def basic(name: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


# ------------------------------------------------------------------------------------------ role table
#: (method, path, capability or None for public)
ENDPOINTS: tuple[tuple[str, str, str | None], ...] = (
    ("GET", "/api/v1/health", None),
    ("GET", "/api/v1/ready", None),
    ("GET", "/api/v1/stats", "view"),
    ("GET", "/api/v1/districts", "view"),
    ("GET", "/api/v1/grids", "view"),
    ("GET", f"/api/v1/grids/{GRID_TIANHE}", "view_events"),
    ("GET", "/api/v1/hazards", "view"),
    ("GET", "/api/v1/hazards/summary", "view"),
    ("GET", "/api/v1/warnings", "view"),
    ("POST", "/api/v1/warnings/w-test/ack", "act"),
    ("POST", "/api/v1/warnings/w-test/dispatch", "act"),
    ("POST", "/api/v1/warnings/w-test/resolve", "act"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/api/v1/audit", "audit"),
    ("GET", "/", "view"),
    ("GET", "/rankings", "view"),
    ("GET", "/grids", "view_events"),
    ("GET", f"/grids/{GRID_TIANHE}", "view_events"),
    ("GET", "/warnings", "view"),
)
#: The capability table of the issue, written out by hand (not derived from the code under test).
EXPECTED_CAPS = {
    "wall": {"view"},
    "leader": {"view", "export"},
    "analyst": {"view", "export", "view_events"},
    "officer": {"view", "export", "view_events", "act"},
    "admin": {"view", "export", "view_events", "act", "audit", "metrics"},
}
_table: dict[tuple[str, str], dict[str, int]] = {}


def test_role_capabilities_match_the_issue() -> None:
    assert {role: set(caps) for role, caps in auth.ROLE_CAPS.items()} == EXPECTED_CAPS


@pytest.mark.parametrize("role", ROLES)
def test_role_table(site: Site, role: str) -> None:
    client = session_client(site, f"{role}1")
    problems = []
    for method, path, capability in ENDPOINTS:
        headers = csrf_headers(client) if method == "POST" else {}
        status = client.open(path, method=method, headers=headers).status_code
        _table.setdefault((method, path), {})[role] = status
        allowed = capability is None or capability in EXPECTED_CAPS[role]
        if not allowed and status != 403:
            problems.append(f"{method} {path}: {role} got {status}, expected 403")
        if allowed and (status in (401, 403) or (status >= 500 and path != "/api/v1/ready")):
            problems.append(f"{method} {path}: {role} got {status}, expected access")
        if allowed and status == 404 and path not in PENDING:
            problems.append(f"{method} {path}: 404 (endpoint missing)")
    _write_table()
    assert not problems, "\n".join(problems)


def _write_table() -> None:
    out = PROJECT_ROOT / "test-artifacts" / "role_table.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    roles = [r for r in ROLES if any(r in v for v in _table.values())]
    lines = ["# Role table (HTTP status per role; generated by tests/test_auth_access.py)", "",
             "| endpoint | " + " | ".join(roles) + " |", "| --- |" + " --- |" * len(roles)]
    missing = []
    for (method, path), by_role in _table.items():
        lines.append(f"| {method} {path} | " + " | ".join(str(by_role.get(r, "")) for r in roles) + " |")
        if 404 in by_role.values():
            missing.append(f"{method} {path}")
    lines += ["", "Missing (404 for an allowed role): " + (", ".join(missing) or "none")]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(("method", "path", "capability"), ENDPOINTS)
def test_without_login(site: Site, method: str, path: str, capability: str | None) -> None:
    answer = site.app.server.test_client().open(path, method=method)
    if capability is None:
        assert answer.status_code in (200, 503)  # ready: 503 until an engine beats
    elif path.startswith(("/api/", "/metrics")):
        assert answer.status_code == 401
        assert answer.json == {"error": answer.json["error"]} and "login" in answer.json["error"]
        assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    else:
        assert answer.status_code == 303
        assert answer.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(("name", "path", "expected"), [
    ("wall1", "/api/v1/stats", 200),
    ("wall1", f"/api/v1/grids/{GRID_TIANHE}", 403),
    ("analyst1", f"/api/v1/grids/{GRID_TIANHE}", 200),
    ("admin1", "/metrics", 200),
    ("officer1", "/metrics", 403),
])
def test_basic_auth_same_users_same_checks(site: Site, name: str, path: str, expected: int) -> None:
    assert site.app.server.test_client().get(path, headers=basic(name)).status_code == expected


def test_basic_auth_wrong_password(site: Site) -> None:
    answer = site.app.server.test_client().get("/api/v1/stats", headers=basic("leader1", "nope nope nope"))
    assert answer.status_code == 401 and answer.json["error"]


def test_basic_auth_post_needs_no_csrf(site: Site) -> None:
    status = site.app.server.test_client().post("/api/v1/warnings/w-test/ack", headers=basic("officer1"),
                                                json={}).status_code
    assert status not in (401, 403)


def test_metrics_token(site: Site) -> None:
    client = site.app.server.test_client()
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    # the token opens /metrics only
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert client.get("/api/v1/stats", headers=bearer).status_code == 401


# ------------------------------------------------------------------------------------------ sessions
def test_session_cookie_flags(redis_url: str, city: Any) -> None:
    prefix = "ta" + uuid.uuid4().hex[:10]
    secure_site = make_site(redis_url, city, prefix, cookie_secure=True, session_hours=2.0)
    try:
        secure_site.users.add("leader9", "leader", PASSWORD)
        client = secure_site.app.server.test_client()
        answer = login(client, "leader9")
        assert answer.status_code == 303
        cookies = {c.split("=", 1)[0]: c for c in answer.headers.getlist("Set-Cookie")}
        session = cookies[auth.SESSION_COOKIE]
        assert "HttpOnly" in session and "Secure" in session and "SameSite=Lax" in session
        assert "Max-Age=7200" in session
        assert "HttpOnly" not in cookies[auth.CSRF_COOKIE]  # Dash's renderer reads it
        # only a digest of the cookie is stored
        token = session.split("=", 1)[1].split(";", 1)[0]
        assert not list(secure_site.store.client.scan_iter(match=f"*{token}*"))
        ttl = secure_site.store.client.ttl(secure_site.store.keys.session(
            __import__("hashlib").sha256(token.encode()).hexdigest()))
        assert 7000 < ttl <= 7200
    finally:
        drop_keys(secure_site.store.client, prefix)


def test_logout_ends_the_session(site: Site) -> None:
    client = session_client(site, "leader1")
    assert client.get("/api/v1/stats").status_code == 200
    assert client.post("/logout", data={}).status_code == 403  # no CSRF token
    form = client.get("/logout").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    answer = client.post("/logout", data={"csrf": token})
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert client.get("/api/v1/stats").status_code == 401


def test_passwd_and_remove_end_sessions(site: Site) -> None:
    site.users.add("temp1", "leader", PASSWORD)
    client = session_client(site, "temp1")
    assert client.get("/api/v1/stats").status_code == 200
    site.users.set_password("temp1", "another long password")
    assert client.get("/api/v1/stats").status_code == 401
    client = session_client(site, "temp1") if False else site.app.server.test_client()
    assert login(client, "temp1", "another long password").status_code == 303
    site.users.remove("temp1")
    assert client.get("/api/v1/stats").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_never_redirects_off_site(site: Site, target: str) -> None:
    client = site.app.server.test_client()
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    answer = client.post("/login", data={"username": "leader1", "password": PASSWORD, "csrf": csrf,
                                         "next": target})
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_login_form_needs_its_csrf_token(site: Site) -> None:
    answer = site.app.server.test_client().post("/login", data={"username": "leader1", "password": PASSWORD})
    assert answer.status_code == 400
    assert auth.SESSION_COOKIE not in answer.headers.get("Set-Cookie", "")


def test_lockout_after_failures_shared_in_redis(site: Site) -> None:
    site.users.add("victim1", "leader", PASSWORD)
    worker_a, worker_b = site.app.server.test_client(), site.app.server.test_client()
    statuses = [login(worker_a, "victim1", "wrong password!").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    # the right password from another client is refused while locked (the counter is in Redis)
    answer = login(worker_b, "victim1")
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert site.app.server.test_client().get("/api/v1/stats", headers=basic("victim1")).status_code == 429
    assert site.store.client.ttl(site.store.keys.login_failures("user", "victim1")) <= 60
    site.store.client.delete(site.store.keys.login_failures("user", "victim1"))
    assert login(worker_b, "victim1").status_code == 303


# ------------------------------------------------------------------------------------------ CSRF
def test_session_post_needs_csrf_header(site: Site) -> None:
    client = session_client(site, "officer1")
    no_token = client.post("/api/v1/warnings/w-test/ack", json={})
    assert no_token.status_code == 403 and "CSRF" in no_token.json["error"]
    wrong = client.post("/api/v1/warnings/w-test/ack", json={}, headers={auth.CSRF_HEADER: "forged"})
    assert wrong.status_code == 403
    right = client.post("/api/v1/warnings/w-test/ack", json={}, headers=csrf_headers(client))
    assert right.status_code not in (401, 403)


def test_cross_origin_post_refused(site: Site) -> None:
    client = session_client(site, "officer1")
    answer = client.post("/api/v1/warnings/w-test/ack", json={},
                         headers={**csrf_headers(client), "Origin": "https://evil.example"})
    assert answer.status_code == 403


def _router_body(pathname: str) -> dict[str, Any]:
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"},
                        {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}


def test_dash_callbacks_need_csrf_header(site: Site) -> None:
    client = session_client(site, "leader1")
    client.get("/")  # Dash sets up its page router on the first request
    assert client.post("/_dash-update-component", json=_router_body("/rankings")).status_code == 403
    answer = client.post("/_dash-update-component", json=_router_body("/rankings"),
                         headers=csrf_headers(client))
    assert answer.status_code == 200


@pytest.mark.parametrize(("name", "pathname", "allowed"), [
    ("wall1", "/grids", False),
    ("wall1", f"/grids/{GRID_TIANHE}", False),
    ("wall1", "/rankings", True),
    ("analyst1", "/grids", True),
    ("analyst-th", f"/grids/{GRID_YUEXIU}", False),
    ("analyst-th", f"/grids/{GRID_TIANHE}", True),
    ("analyst-th", f"/rankings/{YUEXIU}", False),
])
def test_in_app_navigation_is_checked(site: Site, name: str, pathname: str, allowed: bool) -> None:
    client = session_client(site, name)
    client.get("/")
    answer = client.post("/_dash-update-component", json=_router_body(pathname), headers=csrf_headers(client))
    assert answer.status_code == 200
    assert ("Not allowed" not in answer.get_data(as_text=True)) is allowed


def test_grid_callbacks_need_view_events(site: Site) -> None:
    client = session_client(site, "wall1")
    client.get("/")
    body = {"output": "grid-detail.children", "outputs": {"id": "grid-detail", "property": "children"},
            "inputs": [{"id": "grid-selected", "property": "data", "value": GRID_TIANHE}],
            "changedPropIds": ["grid-selected.data"],
            "state": [{"id": "rk-lang", "property": "data", "value": "en"}]}
    assert client.post("/_dash-update-component", json=body, headers=csrf_headers(client)).status_code == 403
    scoped = session_client(site, "analyst-th")
    scoped.get("/")
    body["inputs"][0]["value"] = GRID_YUEXIU  # type: ignore[index]
    assert scoped.post("/_dash-update-component", json=body, headers=csrf_headers(scoped)).status_code == 403
    body["inputs"][0]["value"] = GRID_TIANHE  # type: ignore[index]
    assert scoped.post("/_dash-update-component", json=body, headers=csrf_headers(scoped)).status_code == 200


# ------------------------------------------------------------------------------------------ scope
@pytest.mark.parametrize(("path", "expected"), [
    (f"/api/v1/grids/{GRID_TIANHE}", 200),
    (f"/api/v1/grids/{GRID_YUEXIU}", 403),
    (f"/api/v1/grids?district={TIANHE}", 200),
    (f"/api/v1/grids?district={YUEXIU}", 403),
    (f"/api/v1/hazards/summary?district={YUEXIU}", 403),
    ("/api/v1/stats", 200),  # city-level aggregates stay visible
    (f"/grids/{GRID_YUEXIU}", 403),
])
def test_district_scope(site: Site, path: str, expected: int) -> None:
    client = session_client(site, "officer-th")
    answer = client.get(path)
    assert answer.status_code == expected
    if expected == 403 and path.startswith("/api/"):
        assert YUEXIU in answer.json["error"]


def test_scoped_grid_list_holds_only_own_districts(site: Site) -> None:
    """Needs the lead's ``scope_filter_rows(current_user(), grids)`` in ``/api/v1/grids``."""
    client = session_client(site, "officer-th")
    grids = client.get("/api/v1/grids").json["grids"]
    outside = {g["district"] for g in grids} - {TIANHE}
    if outside:
        pytest.xfail(f"/api/v1/grids lists districts {sorted(outside)} to a user scoped to {TIANHE}: "
                     f"the API does not filter by scope yet (lead: call dashboard.auth.scope_filter_rows)")
    assert grids


@pytest.mark.parametrize(("districts", "codes", "expected"), [
    ((), ["440103", "440106"], ["440103", "440106"]),
    ((TIANHE,), ["440103", "440106"], ["440106"]),
    ((TIANHE, YUEXIU), ["440106", "440103", "440104"], ["440106", "440104"]),
    ((TIANHE,), [], []),
])
def test_scope_filter_districts(districts: tuple[str, ...], codes: list[str], expected: list[str]) -> None:
    from metrics.users import User

    assert auth.scope_filter_districts(User("u", "officer", districts), codes) == expected


def test_scope_filter_rows_keeps_city_level_rows() -> None:
    from metrics.users import User

    rows = [{"id": 1, "district": TIANHE}, {"id": 2, "district": YUEXIU}, {"id": 3, "district": None}]
    kept = auth.scope_filter_rows(User("u", "officer", (TIANHE,)), rows)
    assert [r["id"] for r in kept] == [1, 3]
    by_fn = auth.scope_filter_rows(User("u", "officer", (YUEXIU,)), rows, lambda r: r["district"])
    assert [r["id"] for r in by_fn] == [2, 3]


@pytest.mark.parametrize(("method", "path", "capability"), [
    ("POST", "/api/v1/warnings/x/ack", "act"),
    ("POST", "/api/v1/warnings/x/close", "audit"),  # an unlisted write: admin only until a rule names it
    ("DELETE", "/api/v1/grids/x", "audit"),
    ("GET", "/api/v1/grids/x", "view_events"),
    ("GET", "/api/v1/grids", "view"),
    ("GET", "/api/v1/audit", "audit"),
    ("GET", "/api/v1/anything-new", "view"),
])
def test_api_capability_table(method: str, path: str, capability: str) -> None:
    assert auth.api_capability(method, path) == capability


# ------------------------------------------------------------------------------------------ login off
@pytest.fixture(scope="module")
def open_site(redis_url: str, city: Any) -> Iterator[Site]:
    prefix = "ta" + uuid.uuid4().hex[:10]
    built = make_site(redis_url, city, prefix, auth="none")
    yield built
    drop_keys(built.store.client, prefix)


def test_login_off_opens_everything_and_says_so(open_site: Site, caplog: pytest.LogCaptureFixture) -> None:
    client = open_site.app.server.test_client()
    for path in ("/", "/grids", "/warnings", "/rankings", "/?kiosk=1"):
        page = client.get(path)
        assert page.status_code == 200
        assert "Login is OFF" in page.get_data(as_text=True)
    assert client.get("/api/v1/audit").status_code == 200
    assert client.get(f"/api/v1/grids/{GRID_TIANHE}").status_code == 200
    assert client.get("/login").status_code == 303


def test_login_off_is_logged(redis_url: str, city: Any, caplog: pytest.LogCaptureFixture) -> None:
    prefix = "ta" + uuid.uuid4().hex[:10]
    with caplog.at_level("WARNING"):
        built = make_site(redis_url, city, prefix, auth="none")
    assert any("login is OFF" in r.getMessage() for r in caplog.records)
    drop_keys(built.store.client, prefix)


def test_login_on_has_no_banner(site: Site) -> None:
    client = session_client(site, "leader1")
    assert "Login is OFF" not in client.get("/").get_data(as_text=True)


def test_unknown_user_costs_a_hash_too(site: Site) -> None:
    # the dummy hash keeps "no such user" from answering measurably faster than "wrong password"
    def timed(name: str) -> float:
        started = time.perf_counter()
        site.users.verify(name, "wrong password!")
        return time.perf_counter() - started

    known = min(timed("leader1") for _ in range(3))
    unknown = min(timed("nobody-at-all") for _ in range(3))
    assert unknown > known * 0.3


def test_json_errors_only(site: Site) -> None:
    client = session_client(site, "wall1")
    answer = client.get(f"/api/v1/grids/{GRID_TIANHE}")
    assert answer.status_code == 403 and answer.mimetype == "application/json"
    assert json.loads(answer.get_data(as_text=True))["error"].startswith("role wall may not")
