"""The city model: districts, optional streets, grid cells, and vectorised placement of points.

Hierarchy: city → district → (street) → grid cell. Every cell belongs to exactly one district (the one
holding most of its area) and, when a street layer is configured, to the street of that district holding
most of its area. The default grid layer is H3 (resolution ``h3_resolution``) computed on GCJ-02 lon/lat;
a configured polygon grid (``grid_file``) replaces it. Areas are km² in an Albers equal-area projection
(:class:`geo.grid.EqualArea`).

Built once from the boundary files and cached under ``cache_dir`` keyed by a hash of the files' bytes and
the settings that shape the model (:func:`load_city`), and memoised per process.

Example::

    city = load_city(settings)
    grid_id, district_code = city.assign(np.array([113.3245]), np.array([23.1064]))
    # -> (array(['88...ffff'], dtype=object), array(['440105'], dtype=object))
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from geo.boundaries import check_file
from geo.build import CitySources, build_parts
from kapok.errors import ConfigError

if TYPE_CHECKING:
    from kapok.settings import Settings

__all__ = ["CityModel", "CitySources", "build_city", "load_city", "open_city"]

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
GEOJSON_DECIMALS = 5  # ~1 m: plenty for a map, keeps the payload small
_MEMO: dict[str, CityModel] = {}


@dataclass(frozen=True, eq=False)
class CityModel:
    """Districts, streets and grid cells of one city, and point placement.

    Attributes:
        districts: indexed by ``district_code`` (6-digit str): ``name_zh``, ``name_en``, ``population``
            (int, 0 when unknown), ``area_km2``.
        district_shapes: district polygons (GCJ-02 lon/lat), same index.
        streets: indexed by ``street_code``: ``name``, ``district_code``, ``area_km2``; None without a
            street layer.
        street_shapes: street polygons, same index; None without a street layer.
        grids: indexed by ``grid_id`` (H3 hex string or the configured id): ``district_code``,
            ``street_code`` (str or None), ``lon``, ``lat`` (centre), ``area_km2`` (the part inside the
            districts), ``boundary`` (the cell crosses the edge of the districts' union),
            ``district_share`` (fraction of the cell's covered area in its district).
        city_outline: the city polygon (``city_file``, else the union of the districts).
        region: the union of the district polygons: where a point can be placed.
        h3_resolution: the H3 resolution of the grid; None for a configured polygon grid.
        version: hash of the inputs (file bytes and settings); changes whenever the model would.
        grid_polygons: the polygons of a configured grid (same order as ``grids``); None for H3, whose
            cell polygons are computed on demand.
    """

    districts: pd.DataFrame
    district_shapes: gpd.GeoSeries
    streets: pd.DataFrame | None
    street_shapes: gpd.GeoSeries | None
    grids: pd.DataFrame
    city_outline: shapely.Geometry
    region: shapely.Geometry
    h3_resolution: int | None
    version: str
    grid_polygons: np.ndarray | None = None
    _lookup: _Lookup = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lookup", _Lookup.of(self))

    def assign(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Place GCJ-02 points: ``(grid_id, district_code)``, object arrays, None outside every district.

        Args:
            lon, lat: 1-d arrays (degrees) of equal length; NaN or out-of-range values give None.

        A point takes its cell's district (the cell's majority district), so every count of a cell lands
        in one district. Points in a ``boundary`` cell are tested against the districts' union, since
        that cell reaches past the city; points in interior cells need no polygon test.
        """
        lon_a = np.asarray(lon, dtype=float).ravel()
        lat_a = np.asarray(lat, dtype=float).ravel()
        if lon_a.shape != lat_a.shape:
            raise ValueError(f"lon and lat differ in length: {lon_a.shape[0]} and {lat_a.shape[0]}")
        lk = self._lookup
        xmin, ymin, xmax, ymax = lk.bounds
        # the bounding-box test also drops NaN; points far away never reach H3
        candidate = np.flatnonzero((lon_a >= xmin) & (lon_a <= xmax) & (lat_a >= ymin) & (lat_a <= ymax))
        pos = np.full(lon_a.shape[0], -1, dtype=np.int64)
        if self.h3_resolution is not None:
            # H3 costs about half a microsecond a point, so each distinct point is placed once: a batch
            # repeats positions (every stage of an event is sent from where the event is).
            points, first = np.unique(lon_a[candidate] + 1j * lat_a[candidate], return_inverse=True)
            cells = np.fromiter(
                map(h3i.latlng_to_cell, points.imag.tolist(), points.real.tolist(), repeat(self.h3_resolution)),
                dtype=np.uint64,
                count=points.shape[0],
            )
            pos[candidate] = lk.cell_keys.get_indexer(cells)[first]
        else:
            pos[candidate] = _first_hit(lk.grid_tree, lon_a[candidate], lat_a[candidate])
        placed = np.flatnonzero(pos >= 0)
        check = placed[lk.boundary[pos[placed]]]
        if check.shape[0]:
            outside = ~shapely.intersects_xy(self.region, lon_a[check], lat_a[check])
            pos[check[outside]] = -1
        grid_id = lk.grid_ids[pos]  # position -1 picks the trailing None
        district_code = lk.grid_districts[pos]
        if self.h3_resolution is None:
            # a configured grid need not cover every district: such points keep their district
            loose = candidate[pos[candidate] < 0]
            if loose.shape[0]:
                hit = _first_hit(lk.district_tree, lon_a[loose], lat_a[loose])
                district_code[loose] = lk.district_codes[hit]
        return grid_id, district_code

    def grid_geojson(self) -> dict[str, Any]:
        """The grid cells as a GeoJSON FeatureCollection (feature id = grid_id; coordinates to 5 decimals).

        Properties: ``district_code`` (and ``street_code`` with a street layer). Treat the result as
        read-only: it is computed once per model and shared.
        """
        memo = self._lookup.geojson
        if "grid" not in memo:
            if self.h3_resolution is not None:
                geometries = [_h3_polygon(int(c)) for c in self._lookup.cell_keys]
            else:
                geometries = [_rounded(g) for g in self.grid_polygons]  # type: ignore[union-attr]
            has_streets = self.streets is not None
            features = []
            for grid_id, row, geometry in zip(
                self.grids.index, self.grids.itertuples(index=False), geometries, strict=True
            ):
                properties = {"district_code": row.district_code}
                if has_streets:
                    properties["street_code"] = row.street_code
                features.append({"type": "Feature", "id": grid_id, "properties": properties,
                                 "geometry": geometry})
            memo["grid"] = {"type": "FeatureCollection", "features": features}
        return memo["grid"]

    def district_geojson(self) -> dict[str, Any]:
        """The districts as a GeoJSON FeatureCollection (id = district_code; properties names, population)."""
        memo = self._lookup.geojson
        if "district" not in memo:
            features = [
                {
                    "type": "Feature",
                    "id": code,
                    "properties": {"name_zh": row.name_zh, "name_en": row.name_en,
                                   "population": int(row.population)},
                    "geometry": _rounded(self.district_shapes.loc[code]),
                }
                for code, row in zip(self.districts.index, self.districts.itertuples(index=False),
                                     strict=True)
            ]
            memo["district"] = {"type": "FeatureCollection", "features": features}
        return memo["district"]


@dataclass(frozen=True)
class _Lookup:
    """Arrays behind :meth:`CityModel.assign`, derived from the public fields."""

    bounds: tuple[float, float, float, float]
    cell_keys: pd.Index  # uint64 H3 indexes in grid order (empty for a polygon grid)
    grid_ids: np.ndarray  # object, one per grid plus a trailing None
    grid_districts: np.ndarray  # object, one per grid plus a trailing None
    boundary: np.ndarray  # bool, one per grid plus a trailing False
    district_codes: np.ndarray  # object, one per district plus a trailing None
    district_tree: STRtree
    grid_tree: STRtree | None
    geojson: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, city: CityModel) -> _Lookup:
        grids = city.grids
        if city.h3_resolution is not None:
            cell_keys = pd.Index(np.array([int(g, 16) for g in grids.index], dtype=np.uint64))
            grid_tree = None
        else:
            cell_keys = pd.Index(np.zeros(0, dtype=np.uint64))
            grid_tree = STRtree(city.grid_polygons)
        shapely.prepare(city.region)
        return cls(
            bounds=tuple(float(b) for b in shapely.bounds(city.region)),  # type: ignore[arg-type]
            cell_keys=cell_keys,
            grid_ids=np.append(grids.index.to_numpy(dtype=object), None),
            grid_districts=np.append(grids["district_code"].to_numpy(dtype=object), None),
            boundary=np.append(grids["boundary"].to_numpy(dtype=bool), False),
            district_codes=np.append(city.districts.index.to_numpy(dtype=object), None),
            district_tree=STRtree(city.district_shapes.to_numpy()),
            grid_tree=grid_tree,
            geojson={},
        )


def _first_hit(tree: STRtree, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Index of the first tree polygon holding each point (edges count), -1 for none."""
    out = np.full(lon.shape[0], -1, dtype=np.int64)
    if lon.shape[0] == 0:
        return out
    point, polygon = tree.query(shapely.points(lon, lat), predicate="intersects")
    # a point on an edge shared by two polygons hits both: keep the lower index
    order = np.lexsort((polygon, point))
    point, polygon = point[order], polygon[order]
    first = np.r_[True, point[1:] != point[:-1]]
    out[point[first]] = polygon[first]
    return out


def _h3_polygon(cell: int) -> dict[str, Any]:
    ring = [[round(lng, GEOJSON_DECIMALS), round(lat, GEOJSON_DECIMALS)]
            for lat, lng in h3i.cell_to_boundary(cell)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def _rounded(geometry: shapely.Geometry) -> dict[str, Any]:
    rounded = shapely.transform(geometry, lambda xy: np.round(xy, GEOJSON_DECIMALS))
    return json.loads(shapely.to_geojson(rounded))


# --- building, caching ---------------------------------------------------------------------------------


def build_city(
    districts_file: Path | str,
    *,
    district_code_column: str = "code",
    district_name_column: str = "name_zh",
    district_name_en_column: str | None = None,
    population_column: str | None = None,
    city_file: Path | str | None = None,
    streets_file: Path | str | None = None,
    street_code_column: str = "code",
    street_name_column: str = "name",
    grid_file: Path | str | None = None,
    grid_id_column: str = "id",
    h3_resolution: int = 8,
    cache_dir: Path | str | None = None,
) -> CityModel:
    """Build (or load from ``cache_dir``) the city model from boundary files; see :class:`CitySources`."""
    sources = CitySources(
        districts_file=Path(districts_file),
        district_code_column=district_code_column,
        district_name_column=district_name_column,
        district_name_en_column=district_name_en_column,
        population_column=population_column,
        city_file=None if city_file is None else Path(city_file),
        streets_file=None if streets_file is None else Path(streets_file),
        street_code_column=street_code_column,
        street_name_column=street_name_column,
        grid_file=None if grid_file is None else Path(grid_file),
        grid_id_column=grid_id_column,
        h3_resolution=h3_resolution,
    )
    return open_city(sources, None if cache_dir is None else Path(cache_dir))


def load_city(settings: Settings) -> CityModel:
    """The city model the settings describe, from the process memo, the cache, or built."""
    return open_city(CitySources.from_settings(settings), settings.cache_dir)


def open_city(sources: CitySources, cache_dir: Path | None = None, *, memo: bool = True) -> CityModel:
    """The city model of ``sources``: process memo, then ``cache_dir``, then a fresh build (then cached).

    ``memo=False`` skips the process memo (to time or test the cache).
    """
    version = fingerprint(sources)
    if memo and version in _MEMO:
        return _MEMO[version]
    path = None if cache_dir is None else cache_dir / f"city-{version[:24]}.pickle"
    city = _read_cache(path, version) if path is not None else None
    if city is None:
        city = CityModel(**build_parts(sources), version=version)
        if path is not None:
            _write_cache(path, city)
    if memo:
        _MEMO[version] = city
    return city


def fingerprint(sources: CitySources) -> str:
    """sha256 of everything the model depends on: file bytes, column settings, resolution, library."""
    digest = hashlib.sha256()
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in sources.__dict__.items()}
    options["format"] = CACHE_FORMAT
    options["h3"] = h3.__version__
    digest.update(json.dumps(options, sort_keys=True).encode())
    for spec, path in sources.files():
        check_file(path, spec)
        digest.update(spec.setting.encode())
        for part in _file_parts(path):
            try:
                digest.update(part.name.encode() + b"\0" + part.read_bytes())
            except OSError as exc:
                raise ConfigError(
                    f"{spec.kind} file {part} (setting {spec.setting}) cannot be read "
                    f"({exc.strerror or exc}); make it readable or point the setting elsewhere"
                ) from exc
    return digest.hexdigest()


def _file_parts(path: Path) -> list[Path]:
    """The file and, for a Shapefile, its side files (attributes, index, projection, encoding)."""
    if path.suffix.lower() != ".shp":
        return [path]
    sides = [path.with_suffix(s) for s in (".dbf", ".shx", ".prj", ".cpg")]
    return [path, *(p for p in sides if p.exists())]


def _to_payload(city: CityModel) -> dict[str, Any]:
    def wkb(geoms: Any) -> list[bytes] | None:
        return None if geoms is None else list(shapely.to_wkb(np.asarray(geoms, dtype=object)))

    return {
        "format": CACHE_FORMAT,
        "version": city.version,
        "districts": city.districts,
        "district_shapes": wkb(city.district_shapes.to_numpy()),
        "streets": city.streets,
        "street_shapes": None if city.street_shapes is None else wkb(city.street_shapes.to_numpy()),
        "grids": city.grids,
        "city_outline": shapely.to_wkb(city.city_outline),
        "region": shapely.to_wkb(city.region),
        "h3_resolution": city.h3_resolution,
        "grid_polygons": wkb(city.grid_polygons),
    }


def _from_payload(payload: dict[str, Any]) -> CityModel:
    def shapes(blobs: list[bytes] | None, index: pd.Index) -> gpd.GeoSeries | None:
        return None if blobs is None else gpd.GeoSeries(shapely.from_wkb(blobs), index=index)

    streets = payload["streets"]
    return CityModel(
        districts=payload["districts"],
        district_shapes=shapes(payload["district_shapes"], payload["districts"].index),  # type: ignore[arg-type]
        streets=streets,
        street_shapes=None if streets is None else shapes(payload["street_shapes"], streets.index),
        grids=payload["grids"],
        city_outline=shapely.from_wkb(payload["city_outline"]),
        region=shapely.from_wkb(payload["region"]),
        h3_resolution=payload["h3_resolution"],
        version=payload["version"],
        grid_polygons=(
            None if payload["grid_polygons"] is None else shapely.from_wkb(payload["grid_polygons"])
        ),
    )


def _read_cache(path: Path, version: str) -> CityModel | None:
    try:
        with path.open("rb") as fh:
            payload = pickle.load(fh)  # our own file under cache_dir, named by the input hash
    except FileNotFoundError:
        return None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError,
            ValueError) as exc:
        log.warning("city model cache %s is unreadable (%s); rebuilding it", path, exc)
        return None
    if not isinstance(payload, dict) or (payload.get("format"), payload.get("version")) != (
        CACHE_FORMAT, version
    ):
        log.warning("city model cache %s does not match the inputs; rebuilding it", path)
        return None
    return _from_payload(payload)


def _write_cache(path: Path, city: CityModel) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # write then rename, so a concurrent reader never sees half a file
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(_to_payload(city), fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write the city model cache %s (%s); it will be rebuilt next time", path, exc)
