"""Hardening of every response, and the one call that wires access, audit and operations into the app:
:func:`install_security`.

Headers: a Content-Security-Policy that Dash 4 and plotly.js work under (scripts only from this server
plus the hashes of Dash's own inline scripts; no ``'unsafe-eval'``: the browser tests check that no page
logs a CSP violation), ``frame-ancestors`` from settings, ``X-Content-Type-Options: nosniff``, a strict
``Referrer-Policy``, no caching of data answers, and no server banner details.
"""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash
from flask import Response, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

from dashboard import audit as audit_module
from dashboard import auth, prom
from geo.city import CityModel
from kapok.settings import Settings
from metrics.audit import AuditLog
from metrics.store import MetricsStore
from metrics.users import UserStore

log = logging.getLogger(__name__)

#: What the banner says on every page when login is off (also in the log at start).
AUTH_OFF_BANNER = ("登录已关闭 (RK_AUTH=none)：任何能访问本页的人都能看到全部内容 · "
                   "Login is OFF (RK_AUTH=none): anyone who reaches this page sees everything")
BANNER_ID = "rk-auth-off-banner"
#: Answers holding data or session state: never kept by a browser or a shared cache.
NO_STORE_PREFIXES = ("/api/", "/_dash-update-component", "/_dash-layout", "/metrics", "/login", "/logout")


class QuietRequestHandler(WSGIRequestHandler):
    """The werkzeug server's request handler without its ``Server: Werkzeug/x Python/y`` banner (pass it
    as ``make_server(..., request_handler=QuietRequestHandler)``)."""

    def version_string(self) -> str:
        return "red-kapok"


def content_security_policy(script_hashes: list[str], frame_ancestors: str) -> str:
    """The CSP header value. Dash's renderer runs one inline script (hashed here); plotly.js and Dash
    components write inline styles, so styles (which cannot run code) allow ``'unsafe-inline'``. Map
    workers may be created from blob URLs."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "frame-ancestors": frame_ancestors.split() or ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def install_headers(app: Dash, settings: Settings) -> None:
    """Security headers on every response of ``app``."""
    frame_ancestors = settings.frame_ancestors.strip() or "'none'"
    cached: dict[str, Any] = {"n": -1, "csp": ""}

    def csp() -> str:
        # Dash adds an inline script when the first request sets up the page router: recompute the
        # hashes whenever the set of inline scripts grew.
        hashes = app.csp_hashes()
        if len(hashes) != cached["n"]:
            cached["n"], cached["csp"] = len(hashes), content_security_policy(list(hashes), frame_ancestors)
        return str(cached["csp"])

    @app.server.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = csp()
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
        if frame_ancestors == "'none'":
            headers["X-Frame-Options"] = "DENY"  # for browsers older than CSP frame-ancestors
        if request.is_secure:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        path = request.path
        if "Cache-Control" not in headers and path.startswith(NO_STORE_PREFIXES):
            headers["Cache-Control"] = "no-store"
        headers.pop("Server", None)
        headers.pop("X-Powered-By", None)
        return response


def install_banner(app: Dash) -> None:
    """A static banner above every page (kiosk pages too) saying that login is off."""
    banner = (f'<div id="{BANNER_ID}" role="alert" style="background:#b71c1c;color:#fff;padding:4px 12px;'
              f'font:600 14px/1.4 sans-serif;text-align:center">{AUTH_OFF_BANNER}</div>')
    if BANNER_ID not in app.index_string:
        app.index_string = app.index_string.replace("{%app_entry%}", banner + "{%app_entry%}", 1)


def install_security(app: Dash, settings: Settings, store: MetricsStore, city: CityModel) -> None:
    """Access control, audit log, security headers, /metrics and /api/v1/ready for one app. Call once
    from ``create_app`` after the pages and the API are registered."""
    server = app.server
    if settings.proxy_hops:
        # trust X-Forwarded-For/-Proto/-Host from exactly that many proxies (the audit's "from where")
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=settings.proxy_hops,  # type: ignore[method-assign]
                                   x_proto=settings.proxy_hops, x_host=settings.proxy_hops)
    audit_log = AuditLog(store.client, store.keys, retention_days=settings.audit_retention_days)
    server.config[audit_module.CONFIG_KEY] = audit_log
    users = UserStore(store.client, store.keys, time_cost=settings.password_hash_time_cost,
                      memory_kib=settings.password_hash_memory_kib)
    auth.install_auth(app, settings, users, city)
    if settings.auth == "none":
        install_banner(app)
    install_headers(app, settings)
    server.register_blueprint(audit_module.make_audit_api(audit_log))
    server.register_blueprint(prom.make_ops_routes(store, city, settings))
