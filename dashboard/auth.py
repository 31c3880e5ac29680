"""Who may see and do what: login and sessions, HTTP Basic for the API, roles, district scope and CSRF.

Every request passes :func:`_gate` (a Flask ``before_request``): it finds the user (session cookie, or
HTTP Basic under ``/api/`` and ``/metrics``), checks the role's capability for the path (for Dash
callbacks, for their outputs), the district scope of ``?district=`` and of grid ids, and the CSRF token
of state-changing requests. Pages and the data layer call the helpers below for what the gate cannot
see (filtering lists down to a user's districts).

Roles and capabilities (docs/security.md has the table):

========  =====================================================================================
wall      ``view``: the wall, rankings, warnings (read), aggregate API
leader    ``view``, ``export``
analyst   ``view``, ``export``, ``view_events`` (grid map and drill-down, ``/api/v1/grids/ID``)
officer   the analyst's, and ``act`` (acknowledge, dispatch, resolve warnings)
admin     everything, and ``audit`` (audit export) and ``metrics`` (``/metrics``)
========  =====================================================================================

With ``RK_AUTH=none`` there is no login: every request acts as :data:`ANONYMOUS` (an unscoped admin) and
every page carries a banner saying so.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import flask
from dash import Dash, html
from flask import Response, g, jsonify, redirect, request
from markupsafe import escape
from werkzeug.exceptions import Forbidden

from dashboard.audit import audit, client_ip
from geo.city import CityModel
from kapok.settings import Settings
from metrics.users import ROLES, LoginThrottle, User, UserStore

log = logging.getLogger(__name__)

Capability = Literal["view", "export", "view_events", "act", "audit", "metrics"]
CAPABILITIES: tuple[Capability, ...] = ("view", "export", "view_events", "act", "audit", "metrics")
ROLE_CAPS: dict[str, frozenset[Capability]] = {
    "wall": frozenset({"view"}),
    "leader": frozenset({"view", "export"}),
    "analyst": frozenset({"view", "export", "view_events"}),
    "officer": frozenset({"view", "export", "view_events", "act"}),
    "admin": frozenset(CAPABILITIES),
}
assert set(ROLE_CAPS) == set(ROLES)

SESSION_COOKIE = "rk_session"
#: Readable by scripts on purpose: Dash's renderer copies it into :data:`CSRF_HEADER` on every callback,
#: and page scripts must do the same on their POSTs (double submit; the session holds the true value).
CSRF_COOKIE = "rk_csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_CSRF_COOKIE = "rk_login_csrf"
ANONYMOUS = User("anonymous", "admin", ())
#: Paths anyone may fetch: liveness and readiness, the login page, and static code (no data in it).
PUBLIC_PREFIXES = ("/_dash-component-suites/", "/assets/")
PUBLIC_PATHS = frozenset({"/api/v1/health", "/api/v1/ready", "/login", "/_favicon.ico", "/favicon.ico"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_STATE = "RK_AUTH_STATE"

#: (method or "*", path pattern, capability) of the API; the first match decides.
API_RULES: tuple[tuple[str, re.Pattern[str], Capability], ...] = (
    ("POST", re.compile(r"/api/v1/warnings/[^/]+/(ack|dispatch|resolve)"), "act"),
    ("GET", re.compile(r"/api/v1/grids/[^/]+"), "view_events"),
    ("*", re.compile(r"/api/v1/audit(/.*)?"), "audit"),
    ("GET", re.compile(r"/api/.*"), "view"),
    ("HEAD", re.compile(r"/api/.*"), "view"),
)
#: A state-changing API path no rule names (a future endpoint) is refused to all but admins until a
#: rule says otherwise: a new write endpoint must not open to ``wall`` by default.
API_DEFAULT_WRITE: Capability = "audit"

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------- helpers
def current_user() -> User | None:
    """The user of this request (``ANONYMOUS`` when login is off; None outside a request or before the
    gate ran, e.g. in a unit test calling a callback directly)."""
    if not flask.has_request_context():
        return None
    return g.get("rk_user")


def auth_is_off() -> bool:
    """True when ``RK_AUTH=none`` (pages show a banner)."""
    state = _state_or_none()
    return state is None or state.off


def user_can(capability: Capability, user: User | None = None) -> bool:
    """Whether ``user`` (default: the current one) has a capability. Outside a request with login off,
    or with no app (unit tests of views), everything is allowed."""
    user = user if user is not None else current_user()
    if user is None:
        return auth_is_off()
    return capability in ROLE_CAPS.get(user.role, frozenset())


def user_can_act(user: User | None = None) -> bool:
    """Whether the user may acknowledge, dispatch and resolve warnings (officer, admin)."""
    return user_can("act", user)


def allowed_districts(user: User | None = None) -> frozenset[str] | None:
    """The district codes the user may see, or None for every district (unscoped users, login off)."""
    user = user if user is not None else current_user()
    if user is None or not user.districts:
        return None
    return frozenset(user.districts)


def district_allowed(code: str | None, user: User | None = None) -> bool:
    """Whether the user may see district ``code`` (None, the city level, is always visible)."""
    allowed = allowed_districts(user)
    return allowed is None or code is None or code in allowed


def scope_filter_districts(user: User | None, codes: Iterable[str]) -> list[str]:
    """``codes`` the user may see, in their order (all of them for an unscoped user)."""
    allowed = allowed_districts(user)
    return [c for c in codes if allowed is None or c in allowed]


def scope_filter_rows(user: User | None, rows: Iterable[T],
                      district_of: Callable[[T], str | None] | str = "district") -> list[T]:
    """Rows (grids, events, hazards, warnings) of the user's districts. ``district_of`` is the row's key
    holding its district code, or a function giving it (e.g. a warning's target mapped to its district).
    Rows with no district (city level) are kept."""
    allowed = allowed_districts(user)
    if allowed is None:
        return list(rows)
    get: Callable[[Any], str | None] = (
        (lambda row: row.get(district_of)) if isinstance(district_of, str) else district_of)
    return [row for row in rows if (code := get(row)) is None or code in allowed]


def require_district(user: User | None, code: str | None) -> None:
    """Raise 403 (answered as JSON ``{"error": ...}`` under /api) when the user may not see ``code``."""
    if not district_allowed(code, user):
        raise Forbidden(f"district {code} is outside your scope "
                        f"({', '.join(sorted(allowed_districts(user) or ()))})")


def require(capability: Capability, user: User | None = None) -> None:
    """Raise 403 when the user lacks ``capability``."""
    user = user if user is not None else current_user()
    if not user_can(capability, user):
        role = user.role if user is not None else "nobody"
        raise Forbidden(f"role {role} may not {capability.replace('_', ' ')}")


def csrf_token() -> str | None:
    """The CSRF token of the current session, for a form field or a script's ``X-CSRF-Token``."""
    return g.get("rk_csrf") if flask.has_request_context() else None


def grid_district(city: CityModel, grid_id: str) -> str | None:
    """The district holding a grid cell (None for an unknown cell)."""
    if grid_id in city.grids.index:
        return str(city.grids.at[grid_id, "district_code"])
    return None


# ---------------------------------------------------------------------------------------------- rules
def page_capability(path: str) -> Capability:
    """The capability a dashboard page needs: the grid map and its drill-down show events (personal
    data), the other pages aggregates."""
    return "view_events" if path == "/grids" or path.startswith("/grids/") else "view"


def api_capability(method: str, path: str) -> Capability:
    for rule_method, pattern, capability in API_RULES:
        if rule_method in ("*", method) and pattern.fullmatch(path):
            return capability
    return API_DEFAULT_WRITE


def callback_components(body: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(component id, value) of a Dash callback request's outputs (value None) and inputs and states; a
    pattern-matching id is named by its ``type``."""
    out: list[tuple[str, str | None]] = []

    def name(cid: Any) -> str:
        return str(cid.get("type", "")) if isinstance(cid, dict) else str(cid)

    def walk(items: Any, with_value: bool) -> None:
        if isinstance(items, dict):
            items = [items]
        for item in items or []:
            if isinstance(item, list):
                walk(item, with_value)
            elif isinstance(item, dict) and "id" in item:
                value = item.get("value") if with_value else None
                out.append((name(item["id"]), value if isinstance(value, str) else None))

    walk(body.get("outputs"), False)
    walk(body.get("inputs"), True)
    walk(body.get("state"), True)
    return out


def callback_capability(outputs: Sequence[str]) -> Capability:
    """What a Dash callback needs, by what it writes: anything on the grid page shows events; the
    rankings and hazard-register downloads are exports; the page router is checked per page by the wrapped layouts."""
    if any(o.startswith("grid-") for o in outputs):
        return "view_events"
    if "rank-download" in outputs or "hazard-download" in outputs:
        return "export"
    return "view"


# ---------------------------------------------------------------------------------------------- state
class AuthState:
    """What the gate needs, kept in the Flask config of one app."""

    def __init__(self, settings: Settings, users: UserStore, throttle: LoginThrottle,
                 city: CityModel) -> None:
        self.off = settings.auth == "none"
        self.settings = settings
        self.users = users
        self.throttle = throttle
        self.city = city
        self.metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        self.session_s = int(settings.session_hours * 3600)


def _state_or_none() -> AuthState | None:
    return flask.current_app.config.get(_STATE) if flask.has_app_context() else None


def _state() -> AuthState:
    state = _state_or_none()
    assert state is not None, "install_auth was not called"
    return state


# ---------------------------------------------------------------------------------------------- answers
def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/_dash-", "/metrics"))


def _deny(status: int, message: str, *, audit_it: bool = True) -> Response:
    if audit_it and status == 403:
        audit("access.denied", method=request.method, path=request.path, reason=message)
    if _wants_json():
        response = jsonify({"error": message})
        response.status_code = status
        if status == 401 and request.path.startswith(("/api/", "/metrics")):
            response.headers["WWW-Authenticate"] = 'Basic realm="Red Kapok", charset="UTF-8"'
        return response
    return _page(status, "Not allowed" if status == 403 else "Error", [f"<p>{escape(message)}</p>",
                 '<p><a href="/">Home</a> · <a href="/logout">Log out</a></p>'])


def _page(status: int, title: str, parts: Sequence[str]) -> Response:
    body = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
            f"{escape(title)} · 红棉 Red Kapok</title><link rel=\"stylesheet\" href=\"/assets/style.css\">"
            "</head><body class=\"auth-page\"><main class=\"auth-box\"><h1>红棉 Red Kapok</h1>"
            f"<h2>{escape(title)}</h2>{''.join(parts)}</main></body></html>")
    return Response(body, status=status, mimetype="text/html")


def _safe_next(target: str | None) -> str:
    """Only a local path: an open redirect to another site after login is a phishing aid."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _set_session_cookies(response: Response, token: str, csrf: str, max_age: int) -> None:
    secure = _state().settings.cookie_secure
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, secure=secure, samesite="Lax",
                        path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, secure=secure, samesite="Lax",
                        path="/")


def _clear_session_cookies(response: Response) -> None:
    secure = _state().settings.cookie_secure
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, samesite="Lax")


# ---------------------------------------------------------------------------------------------- gate
def _basic_user(state: AuthState) -> User | Response | None:
    """The user of an HTTP Basic header (None without one); a 401/429 answer when it is wrong."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    name, password, ip = auth.username or "", auth.password or "", client_ip()
    wait = state.throttle.locked_for(name, ip)
    if wait:
        audit("login.locked", user=name, via="basic")
        response = _deny(429, f"too many failed logins: try again in {wait} s", audit_it=False)
        response.headers["Retry-After"] = str(wait)
        return response
    user = state.users.verify(name, password)
    if user is None:
        locked = state.throttle.failed(name, ip)
        audit("login.failed", user=name, via="basic", locked=locked)
        return _deny(401, "wrong user name or password")
    state.throttle.succeeded(name)
    return user


def _resolve_user(state: AuthState) -> User | Response | None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        session = state.users.session(token)
        if session is not None:
            g.rk_via, g.rk_csrf, g.rk_session_token = "session", session.csrf, token
            return session.user
    if request.path.startswith(("/api/", "/metrics")):
        found = _basic_user(state)
        if found is not None:
            g.rk_via = "basic"
        return found
    return None


def _cross_origin() -> bool:
    """A state-changing request whose Origin names another site (browsers send Origin on POST)."""
    origin = request.headers.get("Origin")
    return bool(origin) and origin != request.host_url.rstrip("/")


def _check_csrf(state: AuthState) -> Response | None:
    if request.method in _SAFE_METHODS or request.path in ("/login",):
        return None
    if _cross_origin():
        return _deny(403, "cross-site request refused (Origin does not match this site)")
    if g.get("rk_via") != "session":
        return None  # Basic auth and login-off carry no ambient credential a forged request could use
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.path == "/logout":
        sent = request.form.get("csrf")  # the logout form cannot set a header
    if not sent or not hmac.compare_digest(sent, g.rk_csrf):
        return _deny(403, f"missing or wrong CSRF token: send the {CSRF_COOKIE} cookie's value in the "
                          f"{CSRF_HEADER} header")
    return None


def _dash_callback_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except Exception:  # a malformed body is Dash's to refuse; the gate only reads what it can
        return {}
    return body if isinstance(body, dict) else {}


def _check_scope(state: AuthState, user: User) -> Response | None:
    """District scope of what the gate can see: ``?district=``, ``/api/v1/grids/ID``, a grid cell
    selected on the grid page."""
    district = request.args.get("district")
    if district and not district_allowed(district, user):
        return _deny(403, f"district {district} is outside your scope")
    match = re.fullmatch(r"/api/v1/grids/([^/]+)", request.path)
    if match:
        code = grid_district(state.city, match.group(1))
        if code is not None and not district_allowed(code, user):
            return _deny(403, f"grid cell {match.group(1)} lies in district {code}, outside your scope")
    return None


def _gate() -> Response | None:
    state = _state()
    path = request.path
    if state.off:
        g.rk_user, g.rk_via = ANONYMOUS, "none"
        return _check_csrf(state)
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    if path == "/metrics" and state.metrics_token:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip(), state.metrics_token):
            g.rk_user, g.rk_via = User("metrics-token", "wall", ()), "token"
            return None
    found = _resolve_user(state)
    if isinstance(found, Response):
        return found
    if found is None:
        if _wants_json():
            return _deny(401, "login required: log in at /login, or send HTTP Basic credentials to the API")
        if request.method == "GET":
            full = request.full_path if request.query_string else path
            return redirect("/login?" + urlencode({"next": full}), code=303)
        return _deny(401, "login required")
    g.rk_user = found
    if path == "/logout":
        return _check_csrf(state)
    if path == "/metrics":
        needed: Capability = "metrics"
    elif path.startswith("/api/"):
        needed = api_capability(request.method, path)
    elif path == "/_dash-update-component":
        body = _dash_callback_body()
        g.rk_callback = body
        outputs = [cid for cid, value in callback_components({"outputs": body.get("outputs")})]
        needed = callback_capability(outputs)
    elif path.startswith("/_dash-") or path.startswith("/geo/"):
        needed = "view"
    else:
        needed = page_capability(path)
        grid = re.fullmatch(r"/grids/([^/]+)", path)
        code = grid_district(state.city, grid.group(1)) if grid else None
        if code is not None and not district_allowed(code, found):
            return _deny(403, f"grid cell {grid.group(1)} lies in district {code}, outside your scope")  # type: ignore[union-attr]
    if not user_can(needed, found):
        return _deny(403, f"role {found.role} may not {needed.replace('_', ' ')} here "
                          f"({request.method} {path})")
    denied = _check_csrf(state) or _check_scope(state, found)
    if denied is not None:
        return denied
    if path == "/_dash-update-component":
        return _callback_scope_and_audit(state, found)
    return None


def _callback_scope_and_audit(state: AuthState, user: User) -> Response | None:
    """The drill-down of a selected cell (events, personal data) and the rankings export: scope and
    audit, by the components the callback reads."""
    body: dict[str, Any] = g.get("rk_callback") or {}
    outputs = {cid for cid, _ in callback_components({"outputs": body.get("outputs")})}
    values = dict(callback_components({"inputs": body.get("inputs"), "state": body.get("state")}))
    if "grid-detail" in outputs and values.get("grid-selected"):
        grid_id = values["grid-selected"] or ""
        code = grid_district(state.city, grid_id)
        if code is not None and not district_allowed(code, user):
            return _deny(403, f"grid cell {grid_id} lies in district {code}, outside your scope")
        if code is not None:
            audit("view.grid", grid=grid_id, district=code, via="page")
    if "rank-download" in outputs:
        changed = " ".join(body.get("changedPropIds") or [])
        audit("export.rankings", format="xlsx" if "rank-xlsx" in changed else "csv")
    return None


# ---------------------------------------------------------------------------------------------- pages
def _forbidden_layout(message: str) -> html.Div:
    return html.Div([html.H1("Not allowed · 无权访问"), html.P(message, className="notice notice-warn")],
                    className="page forbidden")


def guard_layout(path: str, layout: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a page's layout function: role and scope checks, and the audit of a grid drill-down, for
    pages reached by in-app navigation (which never passes the gate's page check)."""
    if getattr(layout, "_rk_guarded", False):
        return layout

    def guarded(**kwargs: Any) -> Any:
        state = _state_or_none()
        user = current_user()
        if state is not None and not state.off and flask.has_request_context():
            if user is None or not user_can(page_capability(path), user):
                return _forbidden_layout(f"role {user.role if user else 'nobody'} may not open {path}")
            grid_id, code = kwargs.get("grid_id"), kwargs.get("code")
            district = grid_district(state.city, grid_id) if grid_id else code
            if district is not None and not district_allowed(district, user):
                return _forbidden_layout(f"district {district} is outside your scope")
            if grid_id and district is not None:
                audit("view.grid", grid=grid_id, district=district, via="page")
        return layout(**kwargs)

    guarded._rk_guarded = True  # type: ignore[attr-defined]
    return guarded


def _guard_pages() -> None:
    import dash

    for page in dash.page_registry.values():
        layout = page.get("layout")
        if callable(layout):
            page["layout"] = guard_layout(str(page.get("path_template") or page.get("path") or "/"), layout)


# ---------------------------------------------------------------------------------------------- routes
def _login_form(next_path: str, csrf: str, message: str = "") -> list[str]:
    note = f'<p class="notice notice-warn" role="alert">{escape(message)}</p>' if message else ""
    return [note, '<form method="post" action="/login" class="auth-form">',
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">',
            f'<input type="hidden" name="next" value="{escape(next_path)}">',
            '<label for="rk-user">用户名 User name</label>',
            '<input id="rk-user" name="username" autocomplete="username" required autofocus>',
            '<label for="rk-password">密码 Password</label>',
            '<input id="rk-password" name="password" type="password" autocomplete="current-password" '
            'required>',
            '<button type="submit" class="button">登录 Log in</button></form>']


def _login_page(status: int, next_path: str, message: str = "") -> Response:
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _page(status, "Log in · 登录", _login_form(next_path, csrf, message))
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, max_age=3600, httponly=True,
                        secure=_state().settings.cookie_secure, samesite="Strict", path="/login")
    return response


def login() -> Any:
    state = _state()
    if state.off:
        return redirect("/", code=303)
    next_path = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return _login_page(200, next_path)
    sent, expected = request.form.get("csrf", ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        return _login_page(400, next_path, "The form expired: please log in again. 表单已过期，请重新登录。")
    name, password, ip = request.form.get("username", "").strip(), request.form.get("password", ""), \
        client_ip()
    wait = state.throttle.locked_for(name, ip)
    if wait:
        audit("login.locked", user=name, via="form")
        response = _login_page(429, next_path, f"Too many failed attempts: try again in {wait // 60 + 1} "
                                               f"min. 失败次数过多，请稍后再试。")
        response.headers["Retry-After"] = str(wait)
        return response
    user = state.users.verify(name, password)
    if user is None:
        locked = state.throttle.failed(name, ip)
        audit("login.failed", user=name, via="form", locked=locked)
        return _login_page(401, next_path, "Wrong user name or password. 用户名或密码错误。")
    state.throttle.succeeded(name)
    token, csrf = state.users.start_session(user, ip=ip, ttl_s=state.session_s)
    g.rk_user = user
    audit("login", user=user.name, via="form", role=user.role)
    response = redirect(next_path, code=303)
    _set_session_cookies(response, token, csrf, state.session_s)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def logout() -> Any:
    state = _state()
    if state.off:
        return redirect("/", code=303)
    if request.method == "GET":
        return _page(200, "Log out · 退出", [
            '<form method="post" action="/logout" class="auth-form">',
            f'<input type="hidden" name="csrf" value="{escape(csrf_token() or "")}">',
            '<button type="submit" class="button">退出 Log out</button></form>'])
    token = g.get("rk_session_token")
    if token:
        state.users.end_session(token)
        audit("logout")
    response = redirect("/login", code=303)
    _clear_session_cookies(response)
    return response


# ---------------------------------------------------------------------------------------------- install
def install_auth(app: Dash, settings: Settings, users: UserStore, city: CityModel) -> None:
    """Put the gate, the login and logout routes and the page guards on ``app``."""
    server = app.server
    throttle = LoginThrottle(users.client, users.keys, max_user_failures=settings.login_max_failures,
                             max_ip_failures=settings.login_ip_max_failures,
                             lockout_s=settings.login_lockout_s)
    state = AuthState(settings, users, throttle, city)
    server.config[_STATE] = state
    if state.off:
        log.warning("login is OFF (RK_AUTH=none): every visitor acts as an unscoped admin; every page "
                    "says so")
    elif settings.cookie_secure is False:
        log.warning("session cookies are sent over plain HTTP (RK_COOKIE_SECURE=false): use only on "
                    "localhost")
    server.before_request(_gate)
    server.add_url_rule("/login", "rk_login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "rk_logout", logout, methods=["GET", "POST"])
    _guard_pages()  # Dash imported the pages in its constructor

    @server.after_request
    def keep_csrf_cookie(response: Response) -> Response:
        # a session that outlived its CSRF cookie (cleared by the user) gets it back
        csrf = g.get("rk_csrf")
        if csrf and request.cookies.get(CSRF_COOKIE) != csrf and g.get("rk_via") == "session":
            response.set_cookie(CSRF_COOKIE, csrf, max_age=state.session_s, httponly=False,
                                secure=settings.cookie_secure, samesite="Lax", path="/")
        return response

    @server.after_request
    def audit_api_views(response: Response) -> Response:
        # event details and personal data read through the API; warning actions, whatever their outcome
        path = request.path
        viewed = re.fullmatch(r"/api/v1/grids/[^/]+", path)
        if viewed and request.method == "GET" and response.status_code == 200:
            audit("view.grid", grid=path.rsplit("/", 1)[1], via="api", status=response.status_code)
        action = re.fullmatch(r"/api/v1/warnings/([^/]+)/(ack|dispatch|resolve)", path)
        if action and request.method == "POST" and response.status_code != 403:
            audit(f"warning.{action.group(2)}", warning=action.group(1), status=response.status_code)
        return response

