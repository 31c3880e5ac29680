"""Grid map budgets in headless Chromium: first load (bytes, time to a painted map), a refresh (bytes,
time to repaint) and the server time of the map callback.

Starts an embedded Redis, writes events into every district's cells through the ingestion pipeline,
serves the dashboard in-process and drives /usr/bin/chromium with Playwright. Budgets (issue 7): first load
< 3 MB and painted within 4 s; refresh < 300 KB and repainted within 1 s; map callback p95 < 200 ms.
Prints progress, then one JSON object on the last line.
"""

from __future__ import annotations

import os
import sys

# benchmarks/warnings.py would shadow the standard library's warnings module: run from the project root
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

# ruff: noqa: E402 (the imports below come after the path fix above)
import json
import logging
import statistics
import threading
import time
from datetime import UTC, datetime

import numpy as np
import redis
from werkzeug.serving import make_server

from dashboard.app import create_app
from dashboard.data import Dashboard
from dashboard.views import grids as grids_view
from geo.city import load_city
from kapok.embedded import EmbeddedRedis
from kapok.settings import load_settings
from metrics.store import MetricsStore
from tests.browser.seed import ingest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EVENTS = 40_000
HOURS = 48
BUDGET = {
    "first_load_bytes": 3_000_000,
    "first_paint_s": 4.0,
    "refresh_bytes": 300_000,
    "refresh_repaint_s": 1.0,
    "map_callback_p95_ms": 200.0,
}
CATEGORIES = {
    "incidents": ("theft", "fight", "dispute", "traffic_accident"),
    "surveillance": ("crowd_gathering", "illegal_parking"),
    "hotline": ("noise", "sanitation"),
}


def say(text: str) -> None:
    print(text, flush=True)


def fill(settings, city, store, now: float) -> int:  # type: ignore[no-untyped-def]
    """EVENTS events over the last HOURS hours at cell centres, hot cells more often (Gamma intensities)."""
    rng = np.random.default_rng(20250101)
    cells = city.grids
    weight = rng.gamma(0.6, 1.0, len(cells))
    pick = rng.choice(len(cells), EVENTS, p=weight / weight.sum())
    items: list[tuple[str, str, dict]] = []
    streams = list(CATEGORIES)
    for k, i in enumerate(pick):
        stream = streams[k % len(streams)]
        ts = now - rng.uniform(60, HOURS * 3600)
        record = {
            "id": f"b{k}",
            "ts": datetime.fromtimestamp(ts, tz=UTC).isoformat(),
            "lon": float(cells.lon.iloc[i]),
            "lat": float(cells.lat.iloc[i]),
            "category": CATEGORIES[stream][k % len(CATEGORIES[stream])],
        }
        if stream == "incidents":
            record["severity"] = 1 + k % 4
        elif stream == "surveillance":
            record.update(camera_id=f"cam{k % 500}", confidence=0.8)
        items.append((stream, record["id"], record))
    accepted = 0
    for start in range(0, len(items), 10_000):  # batches of the consumers' usual size
        accepted += ingest(settings, city, store, items[start : start + 10_000])
    return accepted


def callback_times(data: Dashboard, runs: int = 40) -> list[float]:
    """Milliseconds per map refresh as the callback does it: read, classify, serialise."""
    variants = [
        ("events", "raw", "24h"),
        ("stream:incidents", "km2", "7d"),
        ("category:hotline.noise", "raw", "1h"),
        ("events", "10k", "24h"),
        ("index", "raw", "24h"),
    ]
    out = []
    for k in range(runs):
        metric, scale, window = variants[k % len(variants)]
        t0 = time.perf_counter()
        view = grids_view.map_view(data, metric, scale, window, None, k % 3, "zh", time.time())
        json.dumps(view.payload)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def wait_until(page, expression: str, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    """Poll an expression through the DevTools protocol (the page's CSP forbids in-page eval)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression!r} still false after {timeout_s} s")
        time.sleep(0.02)


def browser_run(base: str) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        responses: list = []
        page.on("requestfinished", lambda r: responses.append(r))
        say("first load of /grids (empty cache)")
        page.goto(base + "/grids")
        wait_until(
            page,
            "document.querySelector('#grid-map image') !== null && performance.now()",
            timeout_s=60,
        )
        first_paint = page.evaluate("performance.now()") / 1000
        page.wait_for_load_state("networkidle")

        def transferred(reqs: list) -> int:
            total = 0
            for r in reqs:
                sizes = r.sizes()
                total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            return total

        first_bytes = transferred(responses)
        timeline = page.evaluate(
            "() => performance.getEntriesByType('resource').map(e => [e.name.split('/').slice(-1)[0]"
            ".slice(0, 40), Math.round(e.startTime), Math.round(e.responseEnd)])"
        )
        for name, start, end in timeline:
            say(f"    {start:6d} → {end:6d} ms  {name}")
        marks = page.evaluate(
            "performance.getEntriesByType('mark').map(m => [m.name, Math.round(m.startTime)])"
        )
        for name, at in marks:
            say(f"    {at:6d} ms  {name}")
        say(f"  {len(responses)} requests, {first_bytes / 1e6:.2f} MB, painted at {first_paint:.2f} s")
        repaints, refresh_bytes = [], []
        for window in ("1h", "7d", "24h", "30d"):
            responses.clear()
            page.evaluate("""() => {
                const gd = document.querySelector('#grid-map .js-plotly-plot');
                window.__painted = 0;
                gd.on('plotly_afterplot', () => { window.__painted = performance.now(); });
            }""")
            t0 = page.evaluate(f"""() => {{
                const t = performance.now();
                const inputs = [...document.querySelectorAll('#grid-window input')];
                inputs.find(i => i.value === '{window}').click();
                return t;
            }}""")
            wait_until(page, f"window.__painted > {t0}", timeout_s=30)
            repaints.append((page.evaluate("window.__painted") - t0) / 1000)
            page.wait_for_load_state("networkidle")
            refresh_bytes.append(transferred(responses))
            say(f"  refresh to {window}: {refresh_bytes[-1] / 1e3:.1f} KB, repainted in {repaints[-1]:.2f} s")
        browser.close()
    return {
        "first_load_bytes": first_bytes,
        "first_paint_s": round(first_paint, 2),
        "refresh_bytes": max(refresh_bytes),
        "refresh_repaint_s": round(max(repaints), 2),
        "refresh_repaint_median_s": round(statistics.median(repaints), 2),
    }


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with EmbeddedRedis() as embedded:
        url = embedded.start()
        settings = load_settings(redis_url=url, key_prefix="bench", auth="none")
        city = load_city(settings)
        store = MetricsStore(redis.Redis.from_url(url), prefix="bench")
        now = time.time()
        say(f"writing {EVENTS} events into {len(city.grids)} cells through the pipeline")
        accepted = fill(settings, city, store, now)
        say(f"  accepted {accepted}")
        app = create_app(settings, store, city)
        data = Dashboard(store, city)
        say("timing the map callback")
        callback_times(data, 3)  # warm the store's parsed-hash cache, as a running server has it
        times = callback_times(data)
        p95 = float(np.percentile(times, 95))
        say(f"  p50 {statistics.median(times):.0f} ms, p95 {p95:.0f} ms")
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            figures = browser_run(f"http://127.0.0.1:{server.server_port}")
        finally:
            server.shutdown()
    figures.update(
        map_callback_p95_ms=round(p95, 1),
        map_callback_p50_ms=round(statistics.median(times), 1),
        cells=len(city.grids),
        events=accepted,
    )
    figures["within_budget"] = all(figures[k] <= v for k, v in BUDGET.items())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
