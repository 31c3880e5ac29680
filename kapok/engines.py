"""The engine loop (``python app.py engine``): the index, the detectors and the hazard sweep, each on its
own period. A failed run is logged and retried next period; the loop stops when ``stop`` is set."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from geo.city import CityModel
from kapok.settings import Settings
from metrics.store import MetricsStore

log = logging.getLogger(__name__)


#: How often engines run while a backfill is writing history.
BACKFILL_PERIOD_S = 300.0


@dataclass
class Engine:
    """One periodic job."""

    name: str
    period_s: float
    run_once: Callable[[], object]
    #: Whether it runs (slowly) while a backfill writes history. Detectors and the hazard sweep wait: on
    #: half-written history they would warn about hazards whose rectification is not written yet.
    during_backfill: bool = False
    next_at: float = 0.0
    last_seconds: float | None = None


def hazard_register(store: MetricsStore):  # type: ignore[no-untyped-def]
    """The hazard register's reader over every partition of the hazards stream."""
    from metrics.hazards.redis_io import RedisRegister

    return RedisRegister(store.client, lambda: [store.keys.hazard_register(p)
                                                for s, p in store.partitions() if s == "hazards"])


def hazards_engine(settings: Settings, store: MetricsStore, city: CityModel,
                   raise_warning: Callable[[object], None]):  # type: ignore[no-untyped-def]
    from metrics.hazards.config import load_config
    from metrics.hazards.engine import HazardsEngine
    from metrics.hazards.redis_io import RedisStepLog

    register = hazard_register(store)
    return HazardsEngine(
        register, RedisStepLog(store.client, store.keys.hazard_steps()), raise_warning,
        config=load_config(settings.hazards_config), drop_hazards=register.drop_hazards,
        district_codes=city.districts.index, grid_ids=city.grids.index,
    )


def index_engine(settings: Settings, store: MetricsStore, city: CityModel,
                 extra_attributes: Callable[[float], object] | None = None) -> Engine:
    from metrics.index import entity_attributes, load_config
    from metrics.index.engine import IndexEngine
    from metrics.snapshots import SnapshotStore

    engine = IndexEngine(
        store,
        SnapshotStore(store.client, prefix=settings.key_prefix),
        load_config(settings.index_config),
        entity_attributes(city.districts, city.grids),
        extra_attributes=extra_attributes,  # type: ignore[arg-type]
    )
    return Engine("index", settings.index_interval_s, engine.run_once, during_backfill=True)


def warnings_detector(settings: Settings, store: MetricsStore, city: CityModel):  # type: ignore[no-untyped-def]
    """The warnings engine object (``run_once`` each cycle; ``raise_warning`` takes hazard descriptors)."""
    from metrics.warnings.config import load_config as load_warnings_config
    from metrics.warnings.engine import WarningsEngine
    from metrics.warnings.store import WarningStore

    return WarningsEngine(store, WarningStore(store.client, keys=store.keys), city,
                          load_warnings_config(settings.warnings_config))


def warnings_engine(settings: Settings, store: MetricsStore, city: CityModel,
                    detector: object | None = None) -> Engine:
    """The detection cycle as a periodic job (of ``detector`` when given, else a new one)."""
    found = detector if detector is not None else warnings_detector(settings, store, city)
    return Engine("warnings", settings.warnings_interval_s, found.run_once)  # type: ignore[attr-defined]


def build_engines(settings: Settings, store: MetricsStore, city: CityModel) -> list[Engine]:
    """Every engine, wired together: hazard warnings go through the warnings lifecycle, and the hazard
    register feeds the index's public-safety dimension."""
    detector = warnings_detector(settings, store, city)
    engines: list[Engine] = []
    hazards = hazards_engine(settings, store, city, detector.raise_warning)
    engines.append(Engine("hazards", settings.hazards_interval_s, hazards.run_once))
    engines.append(index_engine(settings, store, city, extra_attributes=hazards.attributes))
    engines.append(warnings_engine(settings, store, city, detector))
    return engines


def run_engines(settings: Settings, store: MetricsStore, city: CityModel, stop: threading.Event) -> None:
    """Run each engine on its own period until ``stop`` is set."""
    engines = build_engines(settings, store, city)
    while not stop.is_set():
        now = time.monotonic()
        # While history is being written every window changes under the engines: run them rarely then,
        # leaving the cores to the backfill.
        slow = bool(store.client.exists(store.keys.backfill_running()))
        for engine in engines:
            if slow and not engine.during_backfill:
                continue
            if now < engine.next_at or (slow and now < engine.next_at + BACKFILL_PERIOD_S - engine.period_s):
                continue
            started = time.perf_counter()
            try:
                engine.run_once()
            except Exception:
                log.exception("%s engine run failed; retrying next period", engine.name)
            engine.last_seconds = time.perf_counter() - started
            engine.next_at = now + engine.period_s
            store.client.hset(store.keys.engine_timings(), engine.name, f"{engine.last_seconds:.3f}")
            log.info("%s engine run took %.2fs", engine.name, engine.last_seconds)
        store.client.set(store.keys.engine_heartbeat("engine"), int(time.time()), ex=600)
        stop.wait(1.0)
