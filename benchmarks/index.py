"""Governance index: pure computation for every cell, district and the city, and its Monte Carlo ranks.

Builds realistic synthetic counter frames (``metrics.index.synthetic``: Guangzhou-like rates per 10,000
residents, Gamma hot spots per cell) over the real Guangzhou H3 cells when the city model can be built
(``geo.city.load_city``), else over ~10,300 synthetic cells of the 11 districts. Times, best of five:

- ``pure_ms``: ``compute_index`` for the windows ending now (frames -> snapshots of ~10,300 cells, 11
  districts, the city: indicators, shrinkage, scores, levels, ranks, explanations), goal < 250 ms;
  also printed, not in the summary: the same with the previous day and week (changes and their
  explanation), as the engine runs it;
- ``monte_carlo_ms``: the districts' rank intervals from 1,000 draws, goal < 2,000 ms;
- ``with_redis_ms``: null for now (the store's snapshot writer is not wired yet; see the report).

Run: ``python benchmarks/index.py`` (no services needed). The last line is the JSON summary.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this directory heads sys.path, and benchmarks/warnings.py would shadow the standard
# library's warnings module: drop the directory and put the project root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import dataclasses  # noqa: E402
import json  # noqa: E402
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


def main() -> None:
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
    print("with Redis: not measured yet (needs the store's write_snapshot); printing null", flush=True)
    print(
        json.dumps(
            {
                "cells": len(grids),
                "pure_ms": round(pure_ms, 1),
                "with_redis_ms": None,
                "monte_carlo_ms": round(mc_ms, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
