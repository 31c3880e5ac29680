"""Security headers on every response, the CSP's content, no stack traces and no server banner."""

from __future__ import annotations

import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from dashboard.security import NO_STORE_PREFIXES, QuietRequestHandler, content_security_policy
from tests.test_auth_access import Site, drop_keys, make_site, session_client

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(redis_url: str, city: Any) -> Iterator[Site]:
    prefix = "th" + uuid.uuid4().hex[:10]
    built = make_site(redis_url, city, prefix)
    built.users.add("admin1", "admin", PASSWORD)

    @built.app.server.get("/api/v1/_test_boom")
    def boom() -> Any:
        raise RuntimeError("secret internals /etc/passwd line 42")

    yield built
    drop_keys(built.store.client, prefix)


PATHS = ["/", "/login", "/api/v1/health", "/api/v1/stats", "/api/v1/no-such-thing", "/assets/style.css",
         "/_dash-layout", "/metrics", "/grids"]


@pytest.mark.parametrize("path", PATHS)
def test_headers_on_every_response(site: Site, path: str) -> None:
    client = session_client(site, "admin1")
    answer = client.get(path)
    headers = answer.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    csp = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert "'unsafe-eval'" not in csp["script-src"] and "'unsafe-inline'" not in csp["script-src"]
    assert "Server" not in headers and "X-Powered-By" not in headers
    if path.startswith(NO_STORE_PREFIXES):
        assert headers["Cache-Control"] == "no-store"


def test_headers_even_without_login(site: Site) -> None:
    answer = site.app.server.test_client().get("/api/v1/stats")
    assert answer.status_code == 401 and answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in answer.headers


def test_dash_inline_script_is_hashed(site: Site) -> None:
    client = session_client(site, "admin1")
    client.get("/")
    script_src = next(p for p in client.get("/").headers["Content-Security-Policy"].split(";")
                      if p.strip().startswith("script-src"))
    assert site.app.csp_hashes() and all(h in script_src for h in site.app.csp_hashes())


def test_frame_ancestors_configurable(redis_url: str, city: Any) -> None:
    prefix = "th" + uuid.uuid4().hex[:10]
    walled = make_site(redis_url, city, prefix, frame_ancestors="https://wall.example.gov.cn", auth="none")
    try:
        answer = walled.app.server.test_client().get("/")
        assert "frame-ancestors https://wall.example.gov.cn;" in answer.headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in answer.headers
    finally:
        drop_keys(walled.store.client, prefix)


@pytest.mark.parametrize(("hashes", "ancestors", "fragment"), [
    ([], "'none'", "script-src 'self';"),
    (["'sha256-abc='"], "'none'", "script-src 'self' 'sha256-abc=';"),
    ([], "https://a.example https://b.example", "frame-ancestors https://a.example https://b.example;"),
    ([], "", "frame-ancestors 'none';"),
])
def test_content_security_policy(hashes: list[str], ancestors: str, fragment: str) -> None:
    assert fragment in content_security_policy(hashes, ancestors)


def test_no_stack_trace_to_clients(site: Site) -> None:
    client = session_client(site, "admin1")
    answer = client.get("/api/v1/_test_boom")
    body = answer.get_data(as_text=True)
    assert answer.status_code == 500
    assert answer.json == {"error": "internal error; the server log has the details"}
    assert "Traceback" not in body and "passwd" not in body and "RuntimeError" not in body


def test_login_page_escapes_what_it_echoes(site: Site) -> None:
    answer = site.app.server.test_client().get('/login?next=/"><script>alert(1)</script>')
    page = answer.get_data(as_text=True)
    assert "<script>alert(1)" not in page


def test_quiet_server_has_no_banner(site: Site) -> None:
    server = make_server("127.0.0.1", 0, site.app.server, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/api/v1/health", timeout=10) as r:
            assert r.headers["Server"] == "red-kapok"
            assert len(r.headers.get_all("Server")) == 1
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
