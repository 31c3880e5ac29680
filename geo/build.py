"""Building the city model's parts from boundary files (what :mod:`geo.city` caches)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import shapely

from geo.boundaries import (
    LayerSpec,
    codes_as_text,
    district_codes,
    names_as_text,
    population_counts,
    read_layer,
    require_column,
)
from geo.grid import EqualArea, cell_polygons, h3_cover, majority_region
from kapok.errors import ConfigError

if TYPE_CHECKING:
    from kapok.settings import Settings

log = logging.getLogger(__name__)

DISTRICTS = LayerSpec("districts", "districts_file")
CITY = LayerSpec("city outline", "city_file")
STREETS = LayerSpec("streets", "streets_file")
GRID = LayerSpec("grid", "grid_file")
# districts may overlap by digitising slivers; more than this share of the smaller one is a broken layer
MAX_OVERLAP_SHARE = 0.001


@dataclass(frozen=True)
class CitySources:
    """Everything a city model is built from: the boundary files and which columns hold what.

    ``district_name_en_column`` and ``population_column`` are optional: None (or a column the file lacks,
    with a warning) gives the Chinese name and population 0 (unknown). ``h3_resolution`` is ignored when
    ``grid_file`` names a polygon grid.
    """

    districts_file: Path
    district_code_column: str = "code"
    district_name_column: str = "name_zh"
    district_name_en_column: str | None = None
    population_column: str | None = None
    city_file: Path | None = None
    streets_file: Path | None = None
    street_code_column: str = "code"
    street_name_column: str = "name"
    grid_file: Path | None = None
    grid_id_column: str = "id"
    h3_resolution: int = 8

    @classmethod
    def from_settings(cls, settings: Settings) -> CitySources:
        """The sources the settings name (empty optional column names count as unset)."""
        return cls(
            districts_file=Path(settings.districts_file),
            district_code_column=settings.district_code_column,
            district_name_column=settings.district_name_column,
            district_name_en_column=settings.district_name_en_column or None,
            population_column=settings.population_column or None,
            city_file=settings.city_file,
            streets_file=settings.streets_file,
            street_code_column=settings.street_code_column,
            street_name_column=settings.street_name_column,
            grid_file=settings.grid_file,
            grid_id_column=settings.grid_id_column,
            h3_resolution=settings.h3_resolution,
        )

    def files(self) -> list[tuple[LayerSpec, Path]]:
        """Every configured file, with what it holds."""
        named = [(DISTRICTS, self.districts_file), (CITY, self.city_file), (STREETS, self.streets_file),
                 (GRID, self.grid_file)]
        return [(spec, Path(path)) for spec, path in named if path is not None]


def build_parts(sources: CitySources) -> dict[str, Any]:
    """Read and check the files, then build every field of a CityModel except ``version``."""
    district_frame = read_layer(sources.districts_file, DISTRICTS)
    districts, district_geoms = _districts(district_frame, sources)
    _check_overlaps(district_geoms, districts.index.to_numpy(), sources.districts_file)
    region = shapely.union_all(district_geoms)
    if sources.city_file is not None:
        outline = shapely.union_all(read_layer(sources.city_file, CITY).geometry.to_numpy())
        if not shapely.intersects(outline, region):
            raise ConfigError(
                f"city outline file {sources.city_file} (setting city_file) does not meet any district of "
                f"{sources.districts_file}; are they the same city and datum?"
            )
    else:
        outline = region
    area = EqualArea(tuple(shapely.bounds(region)))  # type: ignore[arg-type]
    districts["area_km2"] = area.area_km2(district_geoms)

    if sources.grid_file is None:
        cells = h3_cover(region, sources.h3_resolution)
        grid_geoms = cell_polygons(cells)
        grid_ids = np.array([h3i.int_to_str(int(c)) for c in cells], dtype=object)
        centres = np.array([h3i.cell_to_latlng(int(c)) for c in cells]).reshape(-1, 2)
        grid_lon, grid_lat = centres[:, 1], centres[:, 0]
    else:
        grid_frame = read_layer(sources.grid_file, GRID)
        column = require_column(grid_frame, sources.grid_id_column, sources.grid_file, GRID, "grid_id_column")
        grid_ids = codes_as_text(column, sources.grid_file, GRID, "grid_id_column")
        grid_geoms = grid_frame.geometry.to_numpy()
        centres = shapely.centroid(grid_geoms)
        grid_lon, grid_lat = shapely.get_x(centres), shapely.get_y(centres)

    member = majority_region(grid_geoms, district_geoms, area)
    keep = member.region >= 0
    if sources.grid_file is not None and not keep.any():
        raise ConfigError(
            f"grid file {sources.grid_file} (setting grid_file): no cell overlaps any district of "
            f"{sources.districts_file}; are both in GCJ-02 lon/lat?"
        )
    if sources.grid_file is not None and not keep.all():
        log.warning("grid file %s: %d cell(s) lie outside every district and are left out",
                    sources.grid_file, int((~keep).sum()))
    shapely.prepare(region)
    grids = pd.DataFrame(
        {
            "district_code": districts.index.to_numpy()[member.region[keep]],
            "street_code": np.full(int(keep.sum()), None, dtype=object),
            "lon": grid_lon[keep],
            "lat": grid_lat[keep],
            "area_km2": member.covered_km2[keep],
            "boundary": ~shapely.within(grid_geoms[keep], region),
            "district_share": member.share[keep],
        },
        index=pd.Index(grid_ids[keep], name="grid_id"),
    )
    grid_geoms = grid_geoms[keep]

    streets = street_shapes = None
    if sources.streets_file is not None:
        streets, street_geoms = _streets(sources, districts, district_geoms, area)
        district_pos = pd.Index(districts.index).get_indexer(grids["district_code"])
        street_district_pos = pd.Index(districts.index).get_indexer(streets["district_code"])
        in_street = majority_region(
            grid_geoms, street_geoms, area, groups=(district_pos, street_district_pos)
        )
        codes = streets.index.to_numpy(dtype=object)
        grids["street_code"] = np.where(in_street.region >= 0, codes[np.maximum(in_street.region, 0)], None)
        street_shapes = gpd.GeoSeries(street_geoms, index=streets.index)

    return {
        "districts": districts,
        "district_shapes": gpd.GeoSeries(district_geoms, index=districts.index),
        "streets": streets,
        "street_shapes": street_shapes,
        "grids": grids,
        "city_outline": outline,
        "region": region,
        "h3_resolution": sources.h3_resolution if sources.grid_file is None else None,
        "grid_polygons": grid_geoms if sources.grid_file is not None else None,
    }


def _districts(frame: gpd.GeoDataFrame, sources: CitySources) -> tuple[pd.DataFrame, np.ndarray]:
    path = sources.districts_file
    codes = district_codes(
        require_column(frame, sources.district_code_column, path, DISTRICTS, "district_code_column"),
        path, DISTRICTS, "district_code_column",
    )
    names = names_as_text(
        require_column(frame, sources.district_name_column, path, DISTRICTS, "district_name_column"),
        path, DISTRICTS, "district_name_column",
    )
    names_en = names
    if sources.district_name_en_column is not None:
        if sources.district_name_en_column in frame.columns:
            names_en = names_as_text(frame[sources.district_name_en_column], path, DISTRICTS,
                                     "district_name_en_column")
        else:
            log.warning("districts file %s has no column %r (district_name_en_column); using %r",
                        path, sources.district_name_en_column, sources.district_name_column)
    population = np.zeros(len(frame), dtype=np.int64)
    if sources.population_column is not None:
        if sources.population_column in frame.columns:
            population = population_counts(frame[sources.population_column], path, DISTRICTS,
                                           "population_column")
        else:
            log.warning("districts file %s has no column %r (population_column); population unknown (0)",
                        path, sources.population_column)
    districts = pd.DataFrame(
        {"name_zh": names, "name_en": names_en, "population": population},
        index=pd.Index(codes, name="district_code"),
    )
    geoms = frame.geometry.to_numpy()
    order = np.argsort(codes, kind="stable")
    return districts.iloc[order], np.asarray(geoms[order], dtype=object)


def _check_overlaps(geoms: np.ndarray, codes: np.ndarray, path: Path) -> None:
    left, right = shapely.STRtree(geoms).query(geoms, predicate="overlaps")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    if not len(left):
        return
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    bad = np.flatnonzero(shared > MAX_OVERLAP_SHARE * smaller)
    if len(bad):
        i = int(bad[0])
        raise ConfigError(
            f"districts file {path} (setting districts_file): districts {codes[left[i]]} and "
            f"{codes[right[i]]} overlap ({shared[i] / smaller[i]:.1%} of the smaller one); district "
            "polygons must not overlap"
        )


def _streets(
    sources: CitySources, districts: pd.DataFrame, district_geoms: np.ndarray, area: EqualArea
) -> tuple[pd.DataFrame, np.ndarray]:
    path = sources.streets_file
    assert path is not None
    frame = read_layer(path, STREETS)
    code_column = require_column(frame, sources.street_code_column, path, STREETS, "street_code_column")
    codes = codes_as_text(code_column, path, STREETS, "street_code_column")
    name_column = require_column(frame, sources.street_name_column, path, STREETS, "street_name_column")
    names = names_as_text(name_column, path, STREETS, "street_name_column")
    geoms = np.asarray(frame.geometry.to_numpy(), dtype=object)
    member = majority_region(geoms, district_geoms, area)
    outside = np.flatnonzero(member.region < 0)
    if len(outside):
        raise ConfigError(
            f"streets file {path} (setting streets_file): street(s) "
            f"{', '.join(str(codes[i]) for i in outside[:8])} lie outside every district; "
            "streets must fall within the districts (same city, GCJ-02 lon/lat)"
        )
    streets = pd.DataFrame(
        {"name": names, "district_code": districts.index.to_numpy()[member.region],
         "area_km2": area.area_km2(geoms)},
        index=pd.Index(codes, name="street_code"),
    )
    return streets, geoms
