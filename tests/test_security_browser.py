"""In headless Chromium, with login on: the login form works under the CSP, every page renders with no
CSP violation, and hostile hotline text sent through the real pipeline (Kafka → consumer → Redis) is shown
as text on the grid drill-down: no script runs and no element is created from it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard.app import create_app
from kapok.settings import Settings
from metrics.store import MetricsStore
from metrics.users import UserStore
from streams.consumer import StreamConsumer
from streams.kafka_io import make_producer
from tests.browser.server import serving
from tests.helpers import pipeline_settings

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "browser test password"
TIANHE = (113.3245, 23.1385)
#: Each payload would leave a trace if it ran: a global set, or an element with a known id.
PAYLOADS = (
    '<script>window.__rk_xss = "script"</script>',
    '<img id="rk-xss-img" src="x" onerror="window.__rk_xss = \'img\'">',
    '"><svg id="rk-xss-svg" onload="window.__rk_xss=\'svg\'">',
    "{{7*7}} javascript:window.__rk_xss='js'",
)
#: Records every CSP violation the page reports (console messages can be missed on navigation).
WATCH_CSP = """
window.__rk_csp = [];
document.addEventListener('securitypolicyviolation', e => window.__rk_csp.push(
    e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + (e.lineNumber || '')));
"""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


@pytest.fixture(scope="module")
def hostile_site(kafka_bootstrap: str, redis_url: str, city: Any) -> Iterator[dict[str, Any]]:
    import uuid

    import redis

    from kapok.embedded import create_topics

    prefix = "tx" + uuid.uuid4().hex[:10]
    topics = {s: f"{prefix}-{s}" for s in ("incidents", "surveillance", "hotline", "hazards", "deadletter")}
    create_topics(kafka_bootstrap, list(topics.values()), 2)
    settings: Settings = pipeline_settings(kafka_bootstrap, redis_url, prefix, topics).model_copy(
        update={"auth": "login", "cookie_secure": False, "password_hash_time_cost": 1,
                "password_hash_memory_kib": 8192})
    producer = make_producer(settings)
    now = time.time()
    for i, text in enumerate(PAYLOADS):
        record = {"id": f"xss-{i}", "ts": _iso(now - 300 - i), "lon": TIANHE[0], "lat": TIANHE[1],
                  "category": "noise", "text": text, "caller_phone": "13812345678"}
        producer.send(topics["hotline"], key=record["id"].encode(), value=json.dumps(record).encode())
    producer.flush()
    producer.close()
    client = redis.Redis.from_url(redis_url)
    store = MetricsStore(client, prefix=prefix, text_retention_days=settings.text_retention_days)
    StreamConsumer(settings, city, store, group_id=f"{prefix}-g").run(idle_exit_s=3.0)
    assert store.stats()["accepted"]["hotline"] == len(PAYLOADS)
    grid_id = city.assign([TIANHE[0]], [TIANHE[1]])[0][0]
    assert {e["text"] for e in store.recent_events(grid_id=grid_id)} == set(PAYLOADS)
    users = UserStore(client, store.keys, time_cost=1, memory_kib=8192)
    users.add("analyst-b", "analyst", PASSWORD)
    app = create_app(settings, store, city)
    with serving(app) as base:
        yield {"base": base, "grid": grid_id}
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def logged_in(hostile_site: dict[str, Any]) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        context.add_init_script(WATCH_CSP)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(hostile_site["base"] + "/grids")
        assert "/login" in page.url
        page.fill("#rk-user", "analyst-b")
        page.fill("#rk-password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(hostile_site["base"] + "/grids")
        yield page, errors
        browser.close()


@pytest.mark.parametrize("path", ["/", "/rankings", "/warnings", "/grids"])
def test_pages_render_under_the_csp(hostile_site: dict[str, Any], logged_in: Any, path: str) -> None:
    page, errors = logged_in
    errors.clear()
    page.goto(hostile_site["base"] + path)
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#rk-shell", timeout=15000)
    assert page.evaluate("window.__rk_csp") == []
    assert [e for e in errors if "Content Security Policy" in e or "Refused" in e] == []
    assert "Login is OFF" not in page.content()


def test_hostile_text_is_shown_as_text(hostile_site: dict[str, Any], logged_in: Any) -> None:
    page, errors = logged_in
    errors.clear()
    page.goto(f"{hostile_site['base']}/grids/{hostile_site['grid']}")
    page.wait_for_load_state("networkidle")
    detail = page.locator(".grid-detail")
    detail.get_by_text("window.__rk_xss", exact=False).first.wait_for(timeout=20000)
    text = detail.inner_text()
    for payload in PAYLOADS:
        assert payload[:40] in text  # shown literally (the row keeps 200 characters)
    assert page.evaluate("window.__rk_xss") is None
    assert page.evaluate("document.querySelectorAll('#rk-xss-img, #rk-xss-svg, img[src=\"x\"]').length") == 0
    assert page.evaluate("window.__rk_csp") == []
    assert "13812345678" not in page.content()  # the caller's number never reaches the page


def test_csp_is_enforced_and_watched(hostile_site: dict[str, Any], logged_in: Any) -> None:
    """The checks above would pass vacuously without a CSP: an injected inline script must be refused."""
    page, _ = logged_in
    page.goto(hostile_site["base"] + "/rankings")
    page.wait_for_load_state("networkidle")
    page.evaluate("document.body.appendChild(Object.assign(document.createElement('script'), "
                  "{textContent: 'window.__rk_inline = 1'}))")
    assert page.evaluate("window.__rk_inline") is None
    assert any(v.startswith("script-src") for v in page.evaluate("window.__rk_csp"))
