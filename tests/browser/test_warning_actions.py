"""In headless Chromium: acknowledging a warning on the warnings page changes its status in the API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from dashboard.app import create_app
from kapok.settings import load_settings
from metrics.store import MetricsStore
from metrics.warnings.config import load_config
from metrics.warnings.engine import WarningsEngine
from metrics.warnings.store import WarningStore
from tests.browser.server import serving, wait_until
from tests.browser.test_dashboard_pages import CHROMIUM, CHROMIUM_ARGS

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

YUEXIU = "440104"


@pytest.fixture
def site(redis_url: str, city) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    prefix = "tk" + uuid.uuid4().hex[:10]
    settings = load_settings(redis_url=redis_url, key_prefix=prefix, auth="none", refresh_s=2.0)
    client = redis.Redis.from_url(redis_url)
    store = MetricsStore(client, prefix=prefix)
    engine = WarningsEngine(store, WarningStore(client, keys=store.keys), city, load_config())
    record = engine.raise_warning({
        "fingerprint": ("hazard_overdue", "gas", "hz-browser"), "level": "red", "scope": "district",
        "target": YUEXIU, "stream": "hazards", "category": "gas", "detector": "hazard_overdue",
        "explanation": "hazard hz-browser is overdue",
    })
    assert record is not None
    app = create_app(settings, store, city)
    with serving(app) as base:
        yield {"base": base, "id": record.id, "client": app.server.test_client()}
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def test_acknowledging_a_warning_changes_its_status_in_the_api(site: dict[str, Any]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    api = site["client"]
    before = api.get(f"/api/v1/warnings/{site['id']}").json
    assert before["status"] == "raised"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(site["base"] + "/warnings")
            page.wait_for_load_state("networkidle")
            button = page.locator(f"[id*='\"action\":\"ack\"'][id*='{site['id']}']")
            wait_until(page, "document.querySelectorAll('.warn-actions button').length > 0")
            assert button.count() == 1
            button.click()
            for _ in range(100):
                if api.get(f"/api/v1/warnings/{site['id']}").json["status"] != "raised":
                    break
                page.wait_for_timeout(100)
            assert errors == []
        finally:
            browser.close()
    after = api.get(f"/api/v1/warnings/{site['id']}").json
    assert after["status"] == "acknowledged"
    assert after["transitions"][-1]["by"]
