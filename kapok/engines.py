"""The engine loop (``python app.py engine``): recompute the index and run the detectors on a schedule."""

from __future__ import annotations

import logging
import threading
import time

from geo.city import CityModel
from kapok.settings import Settings
from metrics.store import MetricsStore

log = logging.getLogger(__name__)


def run_engines(settings: Settings, store: MetricsStore, city: CityModel, stop: threading.Event) -> None:
    """Run each engine on its own period until ``stop`` is set; a failed run is logged and retried."""
    engines: list[tuple[str, float, object]] = []
    next_run = {name: 0.0 for name, _, _ in engines}
    while not stop.is_set():
        now = time.monotonic()
        for name, period, run_once in engines:
            if now >= next_run[name]:
                started = time.perf_counter()
                try:
                    run_once()  # type: ignore[operator]
                except Exception:
                    log.exception("%s engine run failed; retrying next period", name)
                next_run[name] = now + period
                log.debug("%s engine run took %.2fs", name, time.perf_counter() - started)
        store.client.set(store.keys.engine_heartbeat("engine"), int(time.time()), ex=600)
        stop.wait(1.0)
