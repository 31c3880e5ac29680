"""Reading and checking boundary files (districts, streets, city outline, a polygon grid).

Every problem with a file becomes one :class:`kapok.errors.ConfigError` that names the file, the setting
that points at it, what is wrong (which feature, which column) and what to do. Files may be GeoJSON,
GeoPackage or Shapefile (anything GDAL reads through pyogrio); coordinates must be longitude/latitude
(the project's boundary layer is GCJ-02).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio.errors
import shapely

from kapok.errors import ConfigError

DISTRICT_CODE = re.compile(r"^\d{6}$")
POLYGONAL = ("Polygon", "MultiPolygon")
_MAX_LISTED = 8


@dataclass(frozen=True)
class LayerSpec:
    """How one boundary file is named in messages: what it holds and which setting points at it."""

    kind: str  # "districts", "streets", "city outline", "grid"
    setting: str  # e.g. "districts_file"


def _where(path: Path, spec: LayerSpec) -> str:
    return f"{spec.kind} file {path} (setting {spec.setting})"


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _MAX_LISTED else "")


def check_file(path: Path, spec: LayerSpec) -> None:
    """ConfigError unless ``path`` is an existing file."""
    where = _where(path, spec)
    if not path.exists():
        raise ConfigError(f"{where} does not exist; point the setting at an existing boundary file")
    if path.is_dir():
        raise ConfigError(f"{where} is a directory; expected a GeoJSON, GeoPackage or Shapefile")


def read_layer(path: Path, spec: LayerSpec) -> gpd.GeoDataFrame:
    """Read a polygon layer and check its geometries: present, polygonal, valid, in lon/lat.

    Returns the layer with a fresh 0..n-1 index; raises ConfigError on any problem.
    """
    where = _where(path, spec)
    check_file(path, spec)
    try:
        frame = gpd.read_file(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, RuntimeError, OSError,
            ValueError) as exc:
        raise ConfigError(
            f"{where} cannot be read as GeoJSON, GeoPackage or Shapefile: {exc}"
        ) from exc
    if len(frame) == 0:
        raise ConfigError(f"{where} holds no features; expected polygons of {spec.kind}")
    if frame.crs is not None and not frame.crs.is_geographic:
        raise ConfigError(
            f"{where} is in the projected CRS {frame.crs.name!r}; expected longitude/latitude "
            "(GCJ-02, as Amap publishes it). Export the layer in geographic coordinates."
        )
    frame = frame.reset_index(drop=True)
    _check_geometries(frame, where)
    return frame


def _check_geometries(frame: gpd.GeoDataFrame, where: str) -> None:
    geoms = frame.geometry.to_numpy()
    missing = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(missing):
        raise ConfigError(
            f"{where}: feature(s) {_listing([str(i) for i in missing])} have no geometry (empty or null); "
            "every feature needs a polygon"
        )
    kinds = shapely.get_type_id(geoms)
    # type ids 3 and 6 are Polygon and MultiPolygon
    wrong = np.flatnonzero((kinds != 3) & (kinds != 6))
    if len(wrong):
        first = int(wrong[0])
        raise ConfigError(
            f"{where}: feature {first} is a {geoms[first].geom_type}; expected Polygon or MultiPolygon "
            f"({len(wrong)} feature(s) are not polygons)"
        )
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        first = int(invalid[0])
        raise ConfigError(
            f"{where}: feature {first} has an invalid geometry ({shapely.is_valid_reason(geoms[first])}); "
            f"{len(invalid)} invalid feature(s) in all. Repair them (e.g. shapely.make_valid or QGIS "
            "'Fix geometries') and try again"
        )
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise ConfigError(
            f"{where}: coordinates span x {xmin:.6g}..{xmax:.6g}, y {ymin:.6g}..{ymax:.6g}, which is not "
            "longitude/latitude (x in -180..180, y in -90..90). Reproject the layer to GCJ-02 lon/lat"
        )


def require_column(frame: pd.DataFrame, column: str, path: Path, spec: LayerSpec, setting: str) -> pd.Series:
    """The named column, or a ConfigError listing the columns the file does have."""
    if column not in frame.columns:
        have = [str(c) for c in frame.columns if c != frame.geometry.name]
        raise ConfigError(
            f"{_where(path, spec)} has no column {column!r} (setting {setting}); its columns are: "
            f"{', '.join(have) or '(none)'}"
        )
    return frame[column]


def codes_as_text(values: pd.Series, path: Path, spec: LayerSpec, setting: str) -> np.ndarray:
    """Identifiers as strings (integral numbers lose any '.0'), unique and non-empty."""
    where = _where(path, spec)
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            raise ConfigError(f"{where}: feature {i} has no value in column {values.name!r} ({setting})")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        if not text:
            raise ConfigError(
                f"{where}: feature {i} has an empty value in column {values.name!r} ({setting})"
            )
        out[i] = text
    counts = pd.Series(out).value_counts()
    dupes = counts[counts > 1]
    if len(dupes):
        raise ConfigError(
            f"{where}: column {values.name!r} ({setting}) must be unique; repeated: "
            f"{_listing([f'{code} ({n} times)' for code, n in dupes.items()])}"
        )
    return out


def district_codes(values: pd.Series, path: Path, spec: LayerSpec, setting: str) -> np.ndarray:
    """District codes: unique 6-digit administrative codes, as the event contract requires."""
    codes = codes_as_text(values, path, spec, setting)
    bad = [f"{i}: {c!r}" for i, c in enumerate(codes) if not DISTRICT_CODE.match(c)]
    if bad:
        raise ConfigError(
            f"{_where(path, spec)}: district codes must be 6-digit administrative codes (e.g. 440106); "
            f"column {values.name!r} ({setting}) has {_listing(bad)}"
        )
    return codes


def names_as_text(values: pd.Series, path: Path, spec: LayerSpec, setting: str) -> np.ndarray:
    """Names as non-empty strings."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values.tolist()):
        text = "" if value is None or (isinstance(value, float) and not np.isfinite(value)) else str(value)
        if not text.strip():
            raise ConfigError(
                f"{_where(path, spec)}: feature {i} has no name in column {values.name!r} ({setting})"
            )
        out[i] = text.strip()
    return out


def population_counts(values: pd.Series, path: Path, spec: LayerSpec, setting: str) -> np.ndarray:
    """Resident population per feature as int64 (missing -> 0, meaning unknown)."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero((numbers.isna() & values.notna()).to_numpy() | (numbers < 0).to_numpy())
    if len(bad):
        i = int(bad[0])
        raise ConfigError(
            f"{_where(path, spec)}: feature {i} has population {values.iloc[i]!r} in column {values.name!r} "
            f"({setting}); expected a non-negative number or nothing"
        )
    return numbers.fillna(0).round().astype("int64").to_numpy()
