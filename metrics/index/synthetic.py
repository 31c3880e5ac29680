"""Realistic synthetic counter frames for tests, benchmarks and demos (no store needed).

Rates are per 10,000 residents per day and roughly Guangzhou-like; each cell gets a Gamma-distributed
intensity multiplier so a few cells are hot spots and most are quiet, as in real incident maps.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from metrics.index.indicators import CityData, LevelData, entity_attributes
from metrics.index.vocabulary import CATEGORIES, WINDOWS

#: events per 10,000 residents per day, per stream (spread over the stream's categories)
_BASE_RATE = {"incidents": 1.6, "surveillance": 2.0, "hotline": 4.0, "hazards": 0.05}

#: Guangzhou's 11 districts: code, residents, km² (for synthetic city models without boundary files)
GUANGZHOU_DISTRICTS = (
    ("440103", 1_123_312, 59.1),
    ("440104", 1_038_863, 33.8),
    ("440105", 1_819_509, 90.4),
    ("440106", 2_241_826, 137.4),
    ("440111", 3_740_264, 795.8),
    ("440112", 1_264_386, 484.2),
    ("440113", 2_658_401, 529.9),
    ("440114", 1_642_360, 970.0),
    ("440115", 846_000, 783.9),
    ("440117", 667_400, 1_974.5),
    ("440118", 1_466_019, 1_616.5),
)
_CELL_KM2 = 0.737  # H3 resolution 8 average hexagon area


def synthetic_attributes(cell_km2: float = _CELL_KM2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(districts, grids) frames shaped like ``CityModel.districts`` / ``.grids`` (~10,300 cells)."""
    districts = pd.DataFrame(
        [(c, p, a) for c, p, a in GUANGZHOU_DISTRICTS], columns=["district_code", "population", "area_km2"]
    ).set_index("district_code")
    rows = []
    for code, _, area in GUANGZHOU_DISTRICTS:
        n = max(1, round(area / cell_km2))
        rows += [(f"{code}-{k:05d}", code, area / n) for k in range(n)]
    grids = pd.DataFrame(rows, columns=["grid_id", "district_code", "area_km2"]).set_index("grid_id")
    return districts, grids


def _binom(rng: np.random.Generator, n: np.ndarray, p: float) -> np.ndarray:
    return rng.binomial(n.astype(np.int64), p).astype(float)


def _counters(rng: np.random.Generator, lam: dict[str, np.ndarray], days: float) -> dict[str, np.ndarray]:
    """Counters of one window from per-cell daily intensities per stream."""
    cols: dict[str, np.ndarray] = {}
    for stream, base in lam.items():
        cats = sorted(CATEGORIES[stream])
        share = rng.dirichlet(np.full(len(cats), 3.0))
        for cat, s in zip(cats, share, strict=True):
            n = rng.poisson(base * s * days).astype(float)
            key = f"{stream}.{cat}."
            cols[key + "n"] = n
            if stream == "incidents":
                s4 = _binom(rng, n, 0.02)
                cols[key + "s4"] = s4
                cols[key + "sev"] = n + _binom(rng, n, 0.6) + _binom(rng, n, 0.3) + 0 * s4
                disp = _binom(rng, n, 0.92)
                arr = _binom(rng, disp, 0.9)
                cols[key + "disp_n"], cols[key + "disp_s"] = disp, disp * rng.gamma(4, 75, n.size)
                cols[key + "arr_n"], cols[key + "arr_s"] = arr, arr * rng.gamma(6, 150, n.size)
                cols[key + "closed_n"] = _binom(rng, arr, 0.9)
                cols[key + "rec"] = n + disp + arr + cols[key + "closed_n"]
            elif stream == "surveillance":
                rev = _binom(rng, n, 0.6)
                true = _binom(rng, rev, 0.7)
                cols[key + "conf90"] = _binom(rng, n, 0.5)
                cols[key + "rev_n"], cols[key + "rev_true"], cols[key + "rev_false"] = rev, true, rev - true
                cols[key + "rec"] = n + rev
            elif stream == "hotline":
                resp = _binom(rng, n, 0.95)
                res = _binom(rng, n, 0.85)
                rated = _binom(rng, res, 0.6)
                cols[key + "resp_n"], cols[key + "resp_sla"] = resp, _binom(rng, resp, 0.9)
                cols[key + "resp_s"] = resp * rng.gamma(4, 3600, n.size)
                cols[key + "res_n"], cols[key + "res_intime"] = res, _binom(rng, res, 0.85)
                cols[key + "rate_n"], cols[key + "rate_ok"] = rated, _binom(rng, rated, 0.8)
                cols[key + "rate_sum"] = rated * 4.1
                cols[key + "reopen_n"] = _binom(rng, res, 0.05)
                cols[key + "rec"] = n + resp + res + rated + cols[key + "reopen_n"]
            else:
                grades = rng.multinomial(1, [0.1, 0.2, 0.3, 0.4], size=n.size) * n[:, None]
                for g, col in zip("ABCD", grades.T, strict=True):
                    cols[key + f"g{g}"] = col.astype(float)
                cols[key + "rec"] = n
    return cols


def synthetic_city(
    districts: pd.DataFrame, grids: pd.DataFrame, seed: int = 0, as_of: float = 1_767_225_600.0
) -> CityData:
    """Counters for the windows 1h, 24h, 7d, 30d and the surge baseline, at cell, district and city level.

    Args:
        districts: indexed by district code, with ``population`` and ``area_km2``.
        grids: indexed by grid id, with ``district_code`` and ``area_km2``.
    """
    rng = np.random.default_rng(seed)
    pop = entity_attributes(districts, grids)["grid"]["population"].to_numpy()
    hot = rng.gamma(0.7, 1 / 0.7, len(pop))  # hot spots: mean 1, long tail
    district_mult = rng.uniform(0.6, 1.5, len(districts))  # districts differ
    dm = pd.Series(district_mult, index=districts.index).reindex(grids["district_code"]).to_numpy()
    lam = {s: r * pop / 10_000 * hot * dm for s, r in _BASE_RATE.items()}
    frames: dict[str, dict[str, pd.DataFrame]] = {"grid": {}}
    for name, seconds in WINDOWS.items():
        frames["grid"][name] = pd.DataFrame(_counters(rng, lam, seconds / 86_400), index=grids.index)
    baseline = pd.DataFrame(_counters(rng, lam, 1 / 24), index=grids.index)
    frames["grid"]["1h_baseline"] = baseline * 0.9  # a mean over weeks, not integers
    return city_from_grid_frames(frames["grid"], districts, grids, as_of)


def city_from_grid_frames(
    grid_frames: Mapping[str, pd.DataFrame],
    districts: pd.DataFrame,
    grids: pd.DataFrame,
    as_of: float | None = None,
) -> CityData:
    """CityData whose district and city frames are the sums of the given cell frames.

    Args:
        grid_frames: window -> counters per cell (index = grid ids of ``grids``).
        districts: indexed by district code, with ``population`` and ``area_km2``.
        grids: indexed by grid id, with ``district_code`` and ``area_km2``.
    """
    attrs = entity_attributes(districts, grids)
    frames: dict[str, dict[str, pd.DataFrame]] = {"grid": {}, "district": {}, "city": {}}
    for name, grid in grid_frames.items():
        grid = grid.reindex(grids.index, fill_value=0.0)
        frames["grid"][name] = grid
        by_district = grid.groupby(grids["district_code"]).sum().reindex(districts.index, fill_value=0.0)
        frames["district"][name] = by_district
        frames["city"][name] = pd.DataFrame([by_district.sum()], index=pd.Index(["city"]))
    return CityData(
        grid=LevelData(frames["grid"], attrs["grid"]),
        district=LevelData(frames["district"], attrs["district"]),
        city=LevelData(frames["city"], attrs["city"]),
        as_of=as_of,
    )
