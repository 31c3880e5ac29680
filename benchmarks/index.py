"""Governance index: pure computation for every cell, district and the city, its Monte Carlo ranks, and
the engine's run against a real Redis holding simulated history.

Pure part: realistic synthetic counter frames (``metrics.index.synthetic``: Guangzhou-like rates per 10,000
residents, Gamma hot spots per cell) over the real Guangzhou H3 cells when the city model can be built
(``geo.city.load_city``), else over ~10,300 synthetic cells of the 11 districts. Times, best of five:

- ``pure_ms``: ``compute_index`` for the windows ending now (frames -> snapshots of ~10,300 cells, 11
  districts, the city: indicators, shrinkage, scores, levels, ranks, explanations), goal < 250 ms;
  also printed, not in the summary: the same with the previous day and week (changes and their
  explanation), as the engine runs it;
- ``monte_carlo_ms``: the districts' rank intervals from 1,000 draws, goal < 2,000 ms.

With Redis (embedded redis-server; ``--days`` of simulated history, default 30, written as the demo writes
it, ``streams.history.write_history``), the engine exactly as ``python app.py engine``
builds it (``kapok.engines.index_engine``) runs ``run_once``: read every window of every level from
the counter hashes (now, a day and a week ago: 24 h, 7 d, 30 d, the hour and its four-week baseline),
compute the full index with Monte Carlo ranks, write the latest snapshot and its history.

- ``with_redis_ms``: the engine's steady run (median of ``--runs``), the work it does every
  ``RK_INDEX_INTERVAL_S``: before each run a few minutes of new events (simulated, another seed) are
  ingested, so the current hour's buckets change and are re-read; goal < 1,000 ms;
- ``cold_start_ms``: the first run of a fresh engine process, which reads every bucket of its windows
  once (the steady runs then update the kept window sums from the buckets whose version moved).

Run: ``python benchmarks/index.py [--days N] [--runs N] [--no-redis]``. The last line is the JSON summary.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this directory heads sys.path, and benchmarks/warnings.py would shadow the standard
# library's warnings module: drop the directory and put the project root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

from metrics.index import compute_index, load_config, rank_intervals  # noqa: E402
from metrics.index.synthetic import synthetic_attributes, synthetic_city  # noqa: E402


def city_model() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(districts, grids, source): the real city model if it builds here, else the synthetic one."""
    try:
        from geo.city import load_city
        from kapok.settings import load_settings

        city = load_city(load_settings())
        return city.districts, city.grids, "geo.city.load_city (H3 resolution-8 cells of Guangzhou)"
    except Exception as exc:
        print(f"city model unavailable ({type(exc).__name__}: {exc}); using synthetic cells", flush=True)
        districts, grids = synthetic_attributes()
        return districts, grids, "synthetic cells (metrics.index.synthetic)"


def best_ms(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - started) * 1e3)
    return best


def with_redis(days: float, runs: int) -> tuple[float, float, dict[str, float]]:
    """(steady run ms (median), cold run ms, other figures) of the index engine over a real Redis."""
    from geo.city import load_city
    from kapok.commands import _simulator_args
    from kapok.embedded import embedded_services
    from kapok.engines import index_engine
    from kapok.settings import load_settings
    from metrics.connect import make_redis
    from metrics.store import MetricsStore
    from streams import simulator
    from streams.backfill import StoreSink
    from streams.history import write_history
    from streams.pipeline import Ingestor
    from streams.simulator.model import SimParams
    from streams.simulator.runner import make_world
    from streams.simulator.scenarios import DEFAULT_SCENARIOS_FILE, load_scenarios, plan_scenarios
    from streams.simulator.sinks import MemorySink

    with embedded_services(kafka=False) as svc:
        settings = load_settings(redis_url=svc.redis_url)
        city = load_city(settings)
        store = MetricsStore(make_redis(settings))
        sink = StoreSink(Ingestor(settings, city, store), partitions=settings.topic_partitions)
        now = time.time()
        live_s = 5 * 60 * runs  # five simulated minutes of new events before each steady run
        history_end = int(now - live_s)
        started = time.perf_counter()
        world = make_world(settings, 11, city)
        plans = plan_scenarios(load_scenarios(DEFAULT_SCENARIOS_FILE), world, history_end)
        history = write_history(settings, city, store, world, SimParams(), plans,
                                start=history_end - int(days * 86400), until=history_end,
                                partitions=settings.topic_partitions)
        written = time.perf_counter() - started
        print(f"{days:g} days of history written in {written:.0f} s ({history.records:,} records)", flush=True)
        trickle = MemorySink()
        simulator.run(_simulator_args(seed=12, backfill_days=live_s / 86400, live_minutes=0.0,
                                      until=str(int(now))), settings, trickle, city=city)
        records = [r for r in trickle.records if not r[3]]
        chunks = [records[i * len(records) // runs:(i + 1) * len(records) // runs] for i in range(runs)]

        engine = index_engine(settings, MetricsStore(make_redis(settings)), city)
        started = time.perf_counter()
        engine.run_once()
        cold_ms = (time.perf_counter() - started) * 1e3
        print(f"cold start (fresh engine, every bucket read once): {cold_ms:.0f} ms", flush=True)
        steady = []
        for chunk in chunks:
            for stream, key, value, _ in chunk:
                sink.send(stream, key, value)
            sink.flush()
            started = time.perf_counter()
            engine.run_once()
            steady.append((time.perf_counter() - started) * 1e3)
        print(f"steady runs, {len(chunks[0]):,} new records before each: "
              + ", ".join(f"{ms:.0f}" for ms in steady) + " ms (goal < 1000 ms)", flush=True)
        return statistics.median(steady), cold_ms, {"history_s": written, "records": history.records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30.0, help="days of history in Redis (default 30)")
    parser.add_argument("--runs", type=int, default=5, help="steady engine runs (default 5)")
    parser.add_argument("--no-redis", action="store_true", help="only the pure computation")
    args = parser.parse_args()
    config = load_config()
    print(f"index version {config.version}: {len(config.indicators)} indicators", flush=True)
    districts, grids, source = city_model()
    print(f"entities: {len(grids)} cells, {len(districts)} districts, the city ({source})", flush=True)
    started = time.perf_counter()
    now = synthetic_city(districts, grids, seed=1)
    day = synthetic_city(districts, grids, seed=2)
    week = synthetic_city(districts, grids, seed=3)
    print(
        f"synthetic frames built in {time.perf_counter() - started:.1f} s "
        f"({now.grid.frames['24h'].shape[1]} counters per frame)",
        flush=True,
    )

    def fresh(data):  # type: ignore[no-untyped-def]
        # a new CityData without the cached matrices: every run pays the frame conversion, as the engine does
        return dataclasses.replace(data, matrices={})

    pure_ms = best_ms(5, lambda: compute_index(config, fresh(now), monte_carlo=False))
    print(f"pure computation, windows ending now: {pure_ms:.0f} ms (goal < 250 ms)", flush=True)
    changes_ms = best_ms(
        3,
        lambda: compute_index(
            config, fresh(now), previous_day=fresh(day), previous_week=fresh(week), monte_carlo=False
        ),
    )
    print(f"with previous day and week (changes, their explanation): {changes_ms:.0f} ms", flush=True)
    mc_ms = best_ms(3, lambda: rank_intervals(config, fresh(now), draws=1000))
    print(
        f"Monte Carlo rank intervals, 1000 draws x {len(districts)} districts: {mc_ms:.0f} ms "
        "(goal < 2000 ms)",
        flush=True,
    )
    result = compute_index(config, now, monte_carlo=True).snapshots["district"]
    print(result[["score", "level", "rank", "rank_p05", "rank_p95"]].round(1).to_string(), flush=True)
    summary: dict[str, object] = {
        "cells": len(grids),
        "pure_ms": round(pure_ms, 1),
        "with_redis_ms": None,
        "monte_carlo_ms": round(mc_ms, 1),
    }
    if not args.no_redis:
        steady_ms, cold_ms, extra = with_redis(args.days, args.runs)
        summary.update(with_redis_ms=round(steady_ms, 1), cold_start_ms=round(cold_ms, 1),
                       history_days=args.days, history_records=extra["records"],
                       baseline_pure_with_changes_ms=round(changes_ms, 1),
                       ratio_redis_to_pure=round(steady_ms / changes_ms, 2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
