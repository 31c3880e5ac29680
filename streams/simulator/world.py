"""The simulated city: where events happen, the fixed places and cameras, and how districts perform.

Built once per run from the city model's ``districts`` and ``grids`` frames and the seed; pure numpy and
pandas. Everything is ordered by sorted ids, so the result depends on the seed and the input tables
only (never on dict order or the clock).

- Cell weight: each district's share of events is its population (times a per-district rate factor);
  inside a district the share falls off around a few urban cores (a mixture of Gaussian kernels over the
  cell centroids, plus a small rural floor), so centres are dense and the rural north is sparse.
  Guangzhou's cores are listed in ``GUANGZHOU_CORES``; districts without listed cores get one at their
  middle cell and two smaller ones at seeded cells.
- Places: markets, transit hubs, construction sites and industrial parks, sited on cells by weight.
- Cameras: sited at places and on busy cells; each has an alert rate and a false-alarm share.
- District performance: seeded latent factors that shift response, resolution, satisfaction, arrival
  times and the share of hazards rectified late, so districts really differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from streams.simulator.profiles import (
    CAMERA_AFFINITY,
    CATEGORY_ORDER,
    PLACE_AFFINITY,
    PLACE_GAMMA,
    PLACE_KINDS,
    PLACES_PER_100K,
    SPATIAL_GAMMA,
)

__all__ = ["GUANGZHOU_CORES", "KM_PER_DEG_LAT", "LocationTable", "World", "build_world", "km_offsets"]

KM_PER_DEG_LAT: Final[float] = 110.574
KM_PER_DEG_LON_EQ: Final[float] = 111.320

GUANGZHOU_CORES: Final[dict[str, tuple[tuple[float, float, float, float], ...]]] = {
    # district code -> (lon, lat GCJ-02, amplitude, sigma km); approximate centres of dense areas
    "440103": ((113.245, 23.120, 1.0, 1.8), (113.235, 23.085, 0.6, 1.5)),  # Shangxiajiu, Fangcun
    "440104": ((113.270, 23.125, 1.0, 2.0), (113.260, 23.148, 0.8, 1.5)),  # Beijing Rd, railway station
    "440105": ((113.270, 23.095, 1.0, 2.0), (113.320, 23.100, 0.7, 1.5), (113.365, 23.100, 0.6, 1.8)),
    "440106": ((113.325, 23.120, 1.0, 2.0), (113.330, 23.140, 0.9, 1.5), (113.380, 23.130, 0.6, 2.0)),
    "440111": (
        (113.265, 23.170, 1.0, 2.5),
        (113.320, 23.190, 0.6, 2.0),
        (113.270, 23.250, 0.5, 2.5),
        (113.290, 23.370, 0.25, 3.0),
    ),  # Jingxi, Tonghe, Jiahe, Renhe
    "440112": ((113.460, 23.100, 0.8, 2.5), (113.440, 23.170, 0.8, 2.5), (113.550, 23.200, 0.3, 2.5)),
    "440113": ((113.360, 22.940, 1.0, 3.0), (113.310, 23.010, 0.9, 2.5), (113.390, 23.060, 0.4, 1.5)),
    "440114": ((113.220, 23.400, 1.0, 3.0), (113.150, 23.450, 0.4, 2.0), (113.300, 23.390, 0.4, 2.0)),
    "440115": ((113.550, 22.800, 1.0, 3.0), (113.600, 22.730, 0.5, 2.5), (113.450, 22.810, 0.4, 2.5)),
    "440117": ((113.590, 23.550, 1.0, 3.0), (113.470, 23.440, 0.5, 2.5)),  # Jiekou, Taiping
    "440118": ((113.830, 23.290, 1.0, 3.0), (113.610, 23.130, 1.0, 3.0), (113.630, 23.300, 0.3, 2.5)),
}
"""Urban cores of Guangzhou's districts: (lon, lat, amplitude, sigma km)."""

RURAL_FLOOR: Final[float] = 0.02
"""Floor of the within-district kernel relative to its peak, so rural cells still see some events."""

CAMERAS_PER_100K: Final[float] = 20.0
CAMERA_AT_PLACE_SHARE: Final[float] = 0.35


def km_offsets(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """East and north offsets (km) of points from (lon0, lat0), equirectangular (fine at city scale)."""
    dx = (lon - lon0) * KM_PER_DEG_LON_EQ * np.cos(np.radians(lat0))
    dy = (lat - lat0) * KM_PER_DEG_LAT
    return dx, dy


@dataclass(frozen=True)
class LocationTable:
    """Points events can be placed at: a cell, a place or a camera, each with its own jitter radius.

    Attributes:
        lon, lat: GCJ-02 degrees of each location.
        cell: index into ``World.cell_ids`` of the cell holding it.
        jitter_km: radius of the uniform disc an event is scattered in (0 keeps it on the point).
        camera: index into ``World.cameras`` or -1.
        cum: stream category index -> cumulative (unnormalised) probability over the locations.
    """

    lon: np.ndarray
    lat: np.ndarray
    cell: np.ndarray
    jitter_km: np.ndarray
    camera: np.ndarray
    cum: tuple[np.ndarray, ...]

    def probabilities(self, category: int) -> np.ndarray:
        """Probability of each location for events of a category (sums to 1)."""
        cum = self.cum[category]
        p = np.diff(cum, prepend=0.0)
        return p / cum[-1]


@dataclass(frozen=True)
class World:
    """Everything static in a simulation run; see the module docstring.

    Attributes:
        seed: the run's seed.
        districts: indexed by district_code (sorted): name_zh, name_en, population, area_km2,
            rate_factor, perf, resp_median_h, resolve_median_h, sat_shift, late_share, travel_factor.
        cell_ids, cell_district (index into ``districts``), cell_lon, cell_lat, cell_jitter_km,
        cell_weight: the grid cells in sorted id order; weights sum to 1 over the city.
        places: place_id, kind, district_code, grid_id, cell, lon, lat, weight (sorted by place_id).
        cameras: camera_id, site_kind, district_code, grid_id, cell, lon, lat, rate, false_share.
        locations: stream -> LocationTable (surveillance: cameras; others: cells then places).
        callers: a pool of fake phone numbers; caller_cum their cumulative pick weights.
    """

    seed: int
    districts: pd.DataFrame
    cell_ids: np.ndarray
    cell_district: np.ndarray
    cell_lon: np.ndarray
    cell_lat: np.ndarray
    cell_jitter_km: np.ndarray
    cell_weight: np.ndarray
    places: pd.DataFrame
    cameras: pd.DataFrame
    locations: dict[str, LocationTable]
    callers: np.ndarray
    caller_cum: np.ndarray

    def district_shares(self, stream: str, category: int) -> pd.Series:
        """Expected share of a category's baseline events per district_code (sums to 1)."""
        table = self.locations[stream]
        p = table.probabilities(category)
        by_district = np.bincount(self.cell_district[table.cell], weights=p, minlength=len(self.districts))
        return pd.Series(by_district, index=self.districts.index)

    def cells_within(self, lon: float, lat: float, radius_km: float) -> np.ndarray:
        """Indexes of cells whose centroid lies within ``radius_km`` of a point (nearest if none)."""
        dx, dy = km_offsets(self.cell_lon, self.cell_lat, lon, lat)
        d2 = dx * dx + dy * dy
        inside = np.flatnonzero(d2 <= radius_km * radius_km)
        return inside if len(inside) else np.array([int(np.argmin(d2))])


def _rng(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *tags]))


def _populations(districts: pd.DataFrame) -> np.ndarray:
    """Population per district; unknown (0) ones get the median density of the known ones × area."""
    pop = districts["population"].to_numpy(dtype=float)
    area = districts["area_km2"].to_numpy(dtype=float)
    known = pop > 0
    if not known.any():
        return np.maximum(area, 1e-6)
    density = float(np.median(pop[known] / np.maximum(area[known], 1e-6)))
    return np.where(known, pop, density * area)


def _district_params(districts: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Seeded per-district rates and performance (one latent factor plus per-measure noise)."""
    rng = _rng(seed, 0xD157)
    n = len(districts)
    perf = rng.standard_normal(n)
    noise = rng.standard_normal((5, n))
    area = districts["area_km2"].to_numpy(dtype=float)
    z = 0.8 * perf + 0.6 * noise  # >0: worse than typical
    out = pd.DataFrame(index=districts.index)
    out["rate_factor"] = np.exp(0.12 * rng.standard_normal(n))
    out["perf"] = perf
    out["resp_median_h"] = 3.0 * np.exp(0.55 * z[0])
    out["resolve_median_h"] = 20.0 * np.exp(0.45 * z[1])
    out["sat_shift"] = -0.35 * z[2]
    out["late_share"] = np.clip(0.15 * np.exp(0.6 * z[3]), 0.03, 0.5)
    # bigger, more rural districts take longer to reach
    rel_area = area / max(float(np.median(area)), 1e-6)
    out["travel_factor"] = np.clip(rel_area, 0.2, 20.0) ** 0.25 * np.exp(0.2 * z[4])
    return out


def _within_district_weight(
    grids: pd.DataFrame, cell_district: np.ndarray, codes: np.ndarray, seed: int
) -> np.ndarray:
    """Kernel-mixture weight of each cell inside its district, normalised to sum 1 per district."""
    rng = _rng(seed, 0xC0E5)
    lon = grids["lon"].to_numpy(dtype=float)
    lat = grids["lat"].to_numpy(dtype=float)
    out = np.zeros(len(grids))
    for d, code in enumerate(codes):
        members = np.flatnonzero(cell_district == d)
        if len(members) == 0:
            continue
        cores = GUANGZHOU_CORES.get(str(code))
        if cores is None:
            mid = members[
                np.argmin(
                    (lon[members] - lon[members].mean()) ** 2 + (lat[members] - lat[members].mean()) ** 2
                )
            ]
            extra = rng.choice(members, size=min(2, len(members)), replace=False)
            cores = ((lon[mid], lat[mid], 1.0, 2.5), *((lon[c], lat[c], 0.4, 2.0) for c in np.sort(extra)))
        w = np.zeros(len(members))
        for c_lon, c_lat, amp, sigma in cores:
            dx, dy = km_offsets(lon[members], lat[members], c_lon, c_lat)
            w += amp * np.exp(-0.5 * (dx * dx + dy * dy) / (sigma * sigma))
        w += RURAL_FLOOR * max(float(w.max()), 1e-9)
        area = grids["area_km2"].to_numpy(dtype=float)[members]
        w *= area / max(float(area.mean()), 1e-9)  # clipped boundary cells hold fewer people
        out[members] = w / w.sum()
    return out


def _jitter_radius(grids: pd.DataFrame) -> np.ndarray:
    """80 % of the inradius of a regular hexagon of the cell's area; 0 for cells crossing the outline.

    Keeps scattered points inside their H3 cell, so the consumer places them where the simulator meant.
    """
    area = grids["area_km2"].to_numpy(dtype=float)
    edge = np.sqrt(np.maximum(area, 0.0) / (1.5 * np.sqrt(3.0)))
    radius = 0.8 * edge * np.sqrt(3.0) / 2.0
    if "boundary" in grids.columns:
        radius = np.where(grids["boundary"].to_numpy(dtype=bool), 0.0, radius)
    return radius


def _sample(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    cum = np.cumsum(weights)
    return np.minimum(np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), len(cum) - 1)


def _scatter(
    rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray, radius_km: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in discs of ``radius_km`` around (lon, lat)."""
    r = radius_km * np.sqrt(rng.random(len(lon)))
    theta = rng.random(len(lon)) * 2 * np.pi
    d_lon = r * np.cos(theta) / (KM_PER_DEG_LON_EQ * np.cos(np.radians(lat)))
    d_lat = r * np.sin(theta) / KM_PER_DEG_LAT
    return lon + d_lon, lat + d_lat


def _places(
    world_cells: dict[str, np.ndarray], codes: np.ndarray, population: float, seed: int
) -> pd.DataFrame:
    rng = _rng(seed, 0x91AC)
    rows = []
    for k, kind in enumerate(PLACE_KINDS):
        count = max(1, round(population / 1e5 * PLACES_PER_100K[kind]))
        w = world_cells["weight"] ** PLACE_GAMMA[kind]
        cells = _sample(rng, w, count)
        # keep places well inside their cell: half the scatter radius
        lon, lat = _scatter(
            rng, world_cells["lon"][cells], world_cells["lat"][cells], 0.5 * world_cells["jitter"][cells]
        )
        busy = rng.lognormal(0.0, 0.7, count)
        for i in range(count):
            code = str(codes[world_cells["district"][cells[i]]])
            rows.append(
                (
                    f"{kind[:3].upper()}-{code}-{k}{i:04d}",
                    kind,
                    code,
                    int(cells[i]),
                    float(lon[i]),
                    float(lat[i]),
                    float(busy[i]),
                )
            )
    places = pd.DataFrame(rows, columns=["place_id", "kind", "district_code", "cell", "lon", "lat", "weight"])
    return places.sort_values("place_id", kind="stable").reset_index(drop=True)


def _cameras(
    cells: dict[str, np.ndarray], places: pd.DataFrame, codes: np.ndarray, population: float, seed: int
) -> pd.DataFrame:
    rng = _rng(seed, 0xCA3E)
    count = max(10, round(population / 1e5 * CAMERAS_PER_100K))
    at_place = rng.random(count) < CAMERA_AT_PLACE_SHARE
    n_place = int(at_place.sum())
    pidx = _sample(rng, places["weight"].to_numpy(), n_place)
    cidx = _sample(rng, cells["weight"] ** 0.8, count - n_place)
    cell = np.concatenate([places["cell"].to_numpy()[pidx], cidx])
    site = np.concatenate([places["kind"].to_numpy()[pidx], np.full(count - n_place, "street", dtype=object)])
    base_lon = np.concatenate([places["lon"].to_numpy()[pidx], cells["lon"][cidx]])
    base_lat = np.concatenate([places["lat"].to_numpy()[pidx], cells["lat"][cidx]])
    radius = np.concatenate([np.full(n_place, 0.0), 0.7 * cells["jitter"][cidx]])
    lon, lat = _scatter(rng, base_lon, base_lat, radius)
    # a few badly tuned cameras raise mostly false alarms
    bad = rng.random(count) < 0.06
    false_share = np.where(bad, rng.beta(6.0, 3.0, count), rng.beta(2.0, 5.0, count))
    district = cells["district"][cell]
    order = np.lexsort((np.arange(count), district))
    cam = pd.DataFrame(
        {
            "site_kind": site[order],
            "district_code": codes[district[order]].astype(object),
            "cell": cell[order],
            "lon": lon[order],
            "lat": lat[order],
            "rate": rng.lognormal(0.0, 0.6, count)[order],
            "false_share": false_share[order],
        }
    )
    seq = cam.groupby("district_code").cumcount().to_numpy()
    cam.insert(0, "camera_id", [f"CAM-{d}-{s:04d}" for d, s in zip(cam["district_code"], seq, strict=True)])
    return cam


def _generic_locations(
    cells: dict[str, np.ndarray], cell_district: np.ndarray, places: pd.DataFrame, stream: str
) -> LocationTable:
    n_cells = len(cells["lon"])
    cum = []
    place_kind = places["kind"].to_numpy()
    place_w = places["weight"].to_numpy()
    for cat in CATEGORY_ORDER[stream]:
        gamma = SPATIAL_GAMMA.get(stream, {}).get(cat, 1.0)
        within = cells["within"] ** gamma
        # keep district totals at the base weight when gamma reshapes the inside of a district
        district_base = np.bincount(cell_district, weights=cells["weight"])
        district_new = np.bincount(cell_district, weights=within)
        cw = within * (district_base / np.where(district_new > 0, district_new, 1))[cell_district]
        affinity = PLACE_AFFINITY.get(stream, {}).get(cat, {})
        p = np.concatenate([cw * (1 - sum(affinity.values())), np.zeros(len(places))])
        for kind, share in sorted(affinity.items()):
            mask = place_kind == kind
            if mask.any():
                p[n_cells:][mask] += share * place_w[mask] / place_w[mask].sum()
            else:
                p[:n_cells] += share * cw
        cum.append(np.cumsum(p))
    return LocationTable(
        lon=np.concatenate([cells["lon"], places["lon"].to_numpy()]),
        lat=np.concatenate([cells["lat"], places["lat"].to_numpy()]),
        cell=np.concatenate([np.arange(n_cells), places["cell"].to_numpy()]),
        # events at a place scatter over 50 m (one site), inside the place's cell
        jitter_km=np.concatenate(
            [cells["jitter"], np.minimum(0.05, cells["jitter"][places["cell"].to_numpy()])]
        ),
        camera=np.full(n_cells + len(places), -1),
        cum=tuple(cum),
    )


def _camera_locations(cameras: pd.DataFrame) -> LocationTable:
    rate = cameras["rate"].to_numpy()
    site = cameras["site_kind"].to_numpy()
    cum = []
    for cat in CATEGORY_ORDER["surveillance"]:
        mult = np.ones(len(cameras))
        for kind, table in CAMERA_AFFINITY.items():
            if cat in table:
                mult[site == kind] = table[cat]
        cum.append(np.cumsum(rate * mult))
    return LocationTable(
        lon=cameras["lon"].to_numpy(),
        lat=cameras["lat"].to_numpy(),
        cell=cameras["cell"].to_numpy(),
        jitter_km=np.zeros(len(cameras)),
        camera=np.arange(len(cameras)),
        cum=tuple(cum),
    )


def _callers(seed: int, population: float) -> tuple[np.ndarray, np.ndarray]:
    """Fake mobile numbers (random digits behind common prefixes) with heavy-tailed call frequency."""
    rng = _rng(seed, 0xCA11)
    n = max(1000, round(population / 400))
    prefixes = np.array(
        [
            "138",
            "139",
            "135",
            "136",
            "137",
            "150",
            "151",
            "158",
            "159",
            "186",
            "187",
            "188",
            "189",
            "177",
            "180",
            "181",
            "133",
            "153",
            "199",
        ]
    )
    pre = prefixes[rng.integers(0, len(prefixes), n)]
    rest = rng.integers(0, 10**8, n)
    numbers = np.array(
        [f"{p}{r:08d}" for p, r in zip(pre.tolist(), rest.tolist(), strict=True)], dtype=object
    )
    # a few frequent callers, many one-off ones
    weights = 1.0 / np.arange(1, n + 1) ** 0.9
    return numbers, np.cumsum(weights)


def build_world(districts: pd.DataFrame, grids: pd.DataFrame, seed: int) -> World:
    """Build the static part of a simulation from the city model's frames and a seed.

    Args:
        districts: indexed by district_code; columns population (0 = unknown), area_km2, name_zh, name_en.
        grids: indexed by grid_id; columns district_code, lon, lat (GCJ-02 centroid), area_km2, and
            optionally boundary (cell crosses the city outline) and placeable (False: the centroid does not
            place back into the cell, so no event is put there).
        seed: the run's seed; the same seed and tables give the same world.
    """
    districts = districts.sort_index()
    grids = grids[grids["district_code"].isin(districts.index)]
    if "placeable" in grids.columns:
        grids = grids[grids["placeable"].to_numpy(dtype=bool)]
    grids = grids.sort_index()
    if grids.empty:
        raise ValueError("the city model has no grid cell inside a district; cannot place events")
    codes = districts.index.to_numpy().astype(str).astype(object)
    code_pos = {c: i for i, c in enumerate(codes)}
    cell_district = np.array([code_pos[str(c)] for c in grids["district_code"]], dtype=np.int64)
    params = _district_params(districts, seed)
    pop = _populations(districts)
    within = _within_district_weight(grids, cell_district, codes, seed)
    district_w = pop * params["rate_factor"].to_numpy()
    has_cells = np.bincount(cell_district, minlength=len(codes)) > 0
    district_w = np.where(has_cells, district_w, 0.0)
    district_w /= district_w.sum()
    weight = within * district_w[cell_district]
    cells = {
        "lon": grids["lon"].to_numpy(dtype=float),
        "lat": grids["lat"].to_numpy(dtype=float),
        "jitter": _jitter_radius(grids),
        "weight": weight,
        "within": within,
        "district": cell_district,
    }
    population = float(pop.sum())
    places = _places(cells, codes, population, seed)
    cameras = _cameras(cells, places, codes, population, seed)
    cell_ids = grids.index.to_numpy().astype(object)
    places.insert(4, "grid_id", cell_ids[places["cell"].to_numpy()])
    cameras.insert(4, "grid_id", cell_ids[cameras["cell"].to_numpy()])
    locations = {
        s: _generic_locations(cells, cell_district, places, s) for s in ("incidents", "hotline", "hazards")
    }
    locations["surveillance"] = _camera_locations(cameras)
    callers, caller_cum = _callers(seed, population)
    table = districts.copy()
    table["population"] = pop
    for col in params.columns:
        table[col] = params[col]
    return World(
        seed=seed,
        districts=table,
        cell_ids=cell_ids,
        cell_district=cell_district,
        cell_lon=cells["lon"],
        cell_lat=cells["lat"],
        cell_jitter_km=cells["jitter"],
        cell_weight=weight,
        places=places,
        cameras=cameras,
        locations=locations,
        callers=callers,
        caller_cum=caller_cum,
    )
