"""Every dashboard page in headless Chromium against a real store: no console errors, nothing loaded
from outside the server, language switching, the grid drill-down, kiosk mode; screenshots at 1920×1080
are written to ``test-artifacts/screenshots``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from dashboard.app import create_app
from kapok.settings import PROJECT_ROOT, load_settings
from metrics.store import MetricsStore
from tests.browser.seed import PLACES, hazard_records, ingest, seed
from tests.browser.server import serving, wait_until

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
#: Screenshots the documentation shows (rewritten by each run).
DOC_SHOTS = PROJECT_ROOT / "docs" / "screenshots"
PAGES = {
    "wall": "/",
    "rankings": "/rankings",
    "district": "/rankings/440106",
    "grids": "/grids",
    "warnings": "/warnings",
    "hazards": "/hazards",
    "wall-kiosk": "/?kiosk=1",
}


@pytest.fixture(scope="module")
def site(redis_url: str, city) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    prefix = "tb" + uuid.uuid4().hex[:10]
    settings = load_settings(redis_url=redis_url, key_prefix=prefix, auth="none", refresh_s=2.0)
    client = redis.Redis.from_url(redis_url)
    store = MetricsStore(client, prefix=prefix)
    now = time.time()
    seed(settings, city, store, now)
    ingest(settings, city, store, hazard_records(now))
    app = create_app(settings, store, city)
    with serving(app) as base:
        yield {"base": base, "city": city}
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page that records console errors and every URL it requests."""

    def __init__(self, browser: Any, base: str) -> None:
        self.page = browser.new_page(viewport={"width": 1920, "height": 1080})
        self.base = base
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, path: str) -> Any:
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def outside(self) -> list[str]:
        return [
            u for u in self.requests if not u.startswith("http://127.0.0.1:") and not u.startswith("data:")
        ]


@pytest.fixture
def watched(browser: Any, site: dict[str, Any]) -> Iterator[Watched]:
    w = Watched(browser, site["base"])
    yield w
    w.page.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_without_errors_and_fetches_nothing_from_outside(watched: Watched, name: str) -> None:
    page = watched.open(PAGES[name])
    page.wait_for_selector(".shell")
    if name == "grids":
        wait_until(page, "document.querySelector('#grid-map image') !== null")
    page.wait_for_timeout(800)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    assert watched.errors == []
    assert watched.outside() == []


def test_wall_fits_one_screen_without_scrolling(watched: Watched) -> None:
    for width, height in ((1920, 1080), (3840, 2160)):
        watched.page.set_viewport_size({"width": width, "height": height})
        page = watched.open("/?kiosk=1")
        page.wait_for_selector("#wall-map .main-svg")
        size = page.evaluate("[document.documentElement.scrollHeight, document.documentElement.scrollWidth]")
        assert size[0] <= height and size[1] <= width
    assert watched.errors == []


def test_kiosk_mode_hides_navigation(watched: Watched) -> None:
    page = watched.open("/")
    assert page.locator("#rk-nav").count() == 1
    page = watched.open("/?kiosk=1")
    page.wait_for_selector("#wall-map")
    assert page.locator("#rk-nav").count() == 0 and page.locator(".topbar").count() == 0


def test_switching_language_changes_the_labels(watched: Watched) -> None:
    page = watched.open("/rankings")
    page.wait_for_selector(".page-title")
    assert page.inner_text(".page-title") == "各区治理指数排名"
    page.click("#rk-lang-switch")
    wait_until(
        page,
        "document.querySelector('.page-title') && "
        "document.querySelector('.page-title').innerText === 'District governance index ranking'",
    )
    assert "Rankings" in page.inner_text("#rk-nav")
    page = watched.open("/warnings")  # the cookie keeps the language on the next page
    page.wait_for_selector(".page-title")
    assert page.inner_text(".page-title") == "Warnings"
    page.click("#rk-lang-switch")
    wait_until(
        page,
        "document.querySelector('.page-title') && document.querySelector('.page-title').innerText === '预警'",
    )
    assert watched.errors == []


def test_clicking_a_grid_cell_opens_its_drill_down(watched: Watched, site: dict[str, Any]) -> None:
    city_model = site["city"]
    _, lon, lat = PLACES[0]
    grid_id = str(city_model.assign(np.array([lon]), np.array([lat]))[0][0])
    centre = city_model.grids.loc[grid_id]
    page = watched.open("/grids")
    wait_until(page, "document.querySelector('#grid-map image') !== null")
    # zoom on the cell so it is many pixels wide, then click its centre
    page.evaluate(
        """([x, y]) => {
        const gd = document.querySelector('#grid-map .js-plotly-plot');
        return window.Plotly.relayout(gd, {'xaxis.range': [x - 0.02, x + 0.02],
                                           'yaxis.range': [y - 0.02, y + 0.02]});
    }""",
        [float(centre["lon"]), float(centre["lat"])],
    )
    point = page.evaluate(
        """([x, y]) => {
        const gd = document.querySelector('#grid-map .js-plotly-plot');
        const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
        return [box.left + gd._fullLayout.xaxis.l2p(x), box.top + gd._fullLayout.yaxis.l2p(y)];
    }""",
        [float(centre["lon"]), float(centre["lat"])],
    )
    page.mouse.click(point[0], point[1])
    wait_until(page, f"document.querySelector('#grid-detail').innerText.includes('{grid_id}')")
    assert page.evaluate("window.location.pathname") == f"/grids/{grid_id}"
    assert "138****" in page.inner_text("#grid-detail")
    assert "13812340000" not in page.content()
    page.screenshot(path=str(SHOTS / "grids-drilldown.png"))
    assert watched.errors == []


def test_grid_refresh_sends_values_not_geometry(watched: Watched) -> None:
    page = watched.open("/grids")
    wait_until(page, "document.querySelector('#grid-map image') !== null")
    geometry = [u for u in watched.requests if "/geo/grid-" in u]
    assert len(geometry) == 1
    with page.expect_response(lambda r: "_dash-update-component" in r.url) as answer:
        page.click("#grid-window label:nth-child(1)")  # 1 hour window
    body = answer.value.body()
    assert b"coordinates" not in body and len(body) < 300_000
    page.wait_for_timeout(500)
    assert len([u for u in watched.requests if "/geo/grid-" in u]) == 1
    assert watched.errors == []


def test_hazard_register_page_lists_filters_and_exports(watched: Watched) -> None:
    page = watched.open("/hazards?lang=en")
    wait_until(page, "document.querySelectorAll('#hazard-table tbody tr').length === 5")
    assert page.inner_text("#hazard-table tbody tr:first-child td:first-child") == "hz-b-district"
    assert page.inner_text("#hazard-count") == "5 hazards"
    assert "Hazards" in page.inner_text("#rk-nav")
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SHOTS / "hazards.png"))
    page = watched.open("/hazards?status=overdue&lang=en")  # the query presets the filters
    wait_until(page, "document.querySelectorAll('#hazard-table tbody tr').length === 3")
    with page.expect_download() as download:
        page.click("#hazard-csv")
    body = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert download.value.suggested_filename.endswith(".csv")
    assert body.splitlines()[0].startswith("ID,Grade,Category") and len(body.splitlines()) == 4
    wait_until(page, "document.querySelector('#hazard-message').innerText.includes('Exported 3')")
    assert watched.errors == []


def test_grid_map_hazard_layer_draws_markers(watched: Watched) -> None:
    page = watched.open("/grids?hazards=1&lang=en")
    wait_until(page, "document.querySelector('#grid-map image') !== null")
    count = wait_until(
        page,
        """(() => {
        const gd = document.querySelector('#grid-map .js-plotly-plot');
        const trace = gd && gd.data && gd.data.find(d => d.name === 'hazards');
        return trace ? trace.x.length : 0;
    })()""",
    )
    assert count == 4
    assert "4 open hazards, 2 of them overdue" in page.inner_text("#grid-summary")
    page.screenshot(path=str(SHOTS / "grids-hazards.png"))
    page.click(f"#{'grid-hazard-layer'} input")  # the layer off again
    wait_until(
        page,
        "!document.querySelector('#grid-map .js-plotly-plot').data.some(d => d.name === 'hazards')",
    )
    assert watched.errors == []
