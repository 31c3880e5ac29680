"""Building, caching and point placement of the Guangzhou city model, against a plain STRtree baseline.

Times, in one run: a fresh build of the H3 resolution-8 model (no cache), loading it back from a cache
file (best of five), and ``CityModel.assign`` on 1,000,000 GCJ-02 points (two thirds drawn around the
urban core, one third uniform over the city's bounding box, so some fall outside). The baseline places
every 4th of the same points with a shapely ``STRtree`` point-in-polygon query over the 11 district
polygons (district only, no grid). Best of three runs each. The last line printed is the JSON summary:
``{"cells": ..., "build_s": ..., "load_cached_s": ..., "assign_points_per_s": ...,
"baseline_points_per_s": ..., "ratio": ..., "district_agreement": ...}``.

``district_agreement`` is the share of points where both give the same district (they differ only in
cells split by a district border, where the model gives the cell's majority district on purpose).

Run: ``python benchmarks/city.py`` (from anywhere; no services needed).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.city import CitySources, open_city
from kapok.settings import DEFAULT_DATA_DIR

N_POINTS = 1_000_000
BASELINE_STRIDE = 4
URBAN_CORE = (113.32, 23.13)  # Tianhe / Yuexiu, where most events happen


def best_of(runs: int, fn):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    sources = CitySources(
        districts_file=DEFAULT_DATA_DIR / "districts.geojson",
        district_name_en_column="name_en",
        population_column="population_approx",
        city_file=DEFAULT_DATA_DIR / "city.geojson",
        h3_resolution=8,
    )
    with tempfile.TemporaryDirectory(prefix="rk-city-bench-") as tmp:
        cache_dir = Path(tmp)
        print("building the Guangzhou model (H3 res 8, no cache) ...", flush=True)
        start = time.perf_counter()
        city = open_city(sources, cache_dir, memo=False)  # builds, then writes the cache
        build_s = time.perf_counter() - start
        print(f"  {len(city.grids)} cells, {int(city.grids['boundary'].sum())} on the city edge, "
              f"built in {build_s:.2f} s", flush=True)
        print("loading it back from the cache (best of 5) ...", flush=True)
        load_s, _ = best_of(5, lambda: open_city(sources, cache_dir, memo=False))
        print(f"  {load_s * 1000:.1f} ms", flush=True)

    rng = np.random.default_rng(20240601)
    xmin, ymin, xmax, ymax = shapely.bounds(city.region)
    n_core = N_POINTS * 2 // 3
    lon = np.concatenate([rng.normal(URBAN_CORE[0], 0.08, n_core),
                          rng.uniform(xmin, xmax, N_POINTS - n_core)])
    lat = np.concatenate([rng.normal(URBAN_CORE[1], 0.06, n_core),
                          rng.uniform(ymin, ymax, N_POINTS - n_core)])

    print(f"placing {N_POINTS:,} points with CityModel.assign (best of 3) ...", flush=True)
    assign_s, (_grid_id, district_code) = best_of(3, lambda: city.assign(lon, lat))
    placed = np.array([c is not None for c in district_code])
    print(f"  {N_POINTS / assign_s:,.0f} points/s; {placed.mean():.1%} inside the city", flush=True)

    # the baseline is ~10x slower: time it on every 4th point (same mix) to keep the run short
    sub_lon, sub_lat = lon[::BASELINE_STRIDE], lat[::BASELINE_STRIDE]
    n_sub = sub_lon.shape[0]
    print(f"baseline: shapely STRtree point-in-polygon over the districts, {n_sub:,} of the points "
          "(best of 3) ...", flush=True)
    tree = shapely.STRtree(city.district_shapes.to_numpy())
    codes = np.append(city.district_shapes.index.to_numpy(dtype=object), None)

    def baseline() -> np.ndarray:
        point, polygon = tree.query(shapely.points(sub_lon, sub_lat), predicate="within")
        hit = np.full(n_sub, -1, dtype=np.int64)
        hit[point] = polygon
        return codes[hit]

    baseline_s, baseline_code = best_of(3, baseline)
    baseline_rate = n_sub / baseline_s
    print(f"  {baseline_rate:,.0f} points/s", flush=True)
    agreement = float(np.mean(baseline_code == district_code[::BASELINE_STRIDE]))

    print(json.dumps({
        "cells": len(city.grids),
        "build_s": round(build_s, 3),
        "load_cached_s": round(load_s, 4),
        "assign_points_per_s": round(N_POINTS / assign_s),
        "baseline_points_per_s": round(baseline_rate),
        "ratio": round(N_POINTS / assign_s / baseline_rate, 2),
        "district_agreement": round(agreement, 4),
    }))


if __name__ == "__main__":
    main()
