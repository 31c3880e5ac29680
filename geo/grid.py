"""Grid geometry: H3 cover of a region, cell polygons, equal-area areas, majority-area membership.

Everything here is planar in lon/lat (GCJ-02) except areas, which are measured in an Albers equal-area
conic projection fitted to the layer (see :class:`EqualArea`). H3 cell edges are great-circle arcs; as
planar lon/lat segments between the same vertices they differ by millimetres at resolution 8, which is
far below the precision of any boundary file.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3.api.basic_int as h3i
import numpy as np
import pyproj
import shapely
from shapely import STRtree

M2_PER_KM2 = 1e6


class EqualArea:
    """Areas in km² via an Albers equal-area conic on the WGS-84 ellipsoid, fitted to given bounds.

    GCJ-02 coordinates are treated as geographic lon/lat: their offset of a few hundred metres changes an
    area by far less than 0.01 %. Standard parallels at 1/6 and 5/6 of the latitude range keep the scale
    error negligible for a city-sized layer.
    """

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        xmin, ymin, xmax, ymax = bounds
        span = max(ymax - ymin, 0.1)
        lat_1, lat_2 = ymin + span / 6, ymax - span / 6
        crs = pyproj.CRS.from_proj4(
            f"+proj=aea +lat_1={lat_1:.6f} +lat_2={lat_2:.6f} +lat_0={(ymin + ymax) / 2:.6f} "
            f"+lon_0={(xmin + xmax) / 2:.6f} +ellps=WGS84 +units=m +no_defs"
        )
        self._transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def _project(self, coords: np.ndarray) -> np.ndarray:
        x, y = self._transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def area_km2(self, geoms: np.ndarray) -> np.ndarray:
        """Area of each lon/lat geometry in km² (0 for empty geometries)."""
        geoms = np.asarray(geoms, dtype=object)
        if len(geoms) == 0:
            return np.zeros(0)
        projected = shapely.transform(geoms, self._project)
        return shapely.area(projected) / M2_PER_KM2


def cell_polygons(cells: np.ndarray) -> np.ndarray:
    """Planar lon/lat polygons of H3 cells (integer indexes), vertices as ``h3.cell_to_boundary`` gives."""
    rings = [h3i.cell_to_boundary(int(c)) for c in cells]
    sizes = {len(r) for r in rings}
    if len(sizes) == 1:
        # (lat, lng) -> (lng, lat), all hexagons: one vectorised constructor call
        coords = np.asarray(rings, dtype=float)[:, :, ::-1]
        return shapely.polygons(np.ascontiguousarray(coords))
    # pentagons or cells split by an icosahedron edge have other vertex counts
    return np.array([shapely.Polygon([(lng, lat) for lat, lng in r]) for r in rings], dtype=object)


def h3_cover(region: shapely.Geometry, resolution: int) -> np.ndarray:
    """Every H3 cell (uint64, sorted) whose planar polygon intersects ``region``.

    H3's own 'overlap' fill works on the sphere; adding the ring of neighbours around it and then keeping
    the cells that intersect in the plane makes the cover agree exactly with shapely's planar geometry,
    which is what point placement tests against.
    """
    shape = h3i.geo_to_h3shape(region)
    core = np.array(h3i.h3shape_to_cells_experimental(shape, resolution, "overlap"), dtype=np.uint64)
    if len(core) == 0:
        # a region smaller than one cell: start from the cell under a point on its surface
        p = shapely.point_on_surface(region)
        core = np.array([h3i.latlng_to_cell(p.y, p.x, resolution)], dtype=np.uint64)
    ring = np.fromiter(
        (n for c in core.tolist() for n in h3i.grid_disk(c, 1)), dtype=np.uint64
    )
    candidates = np.unique(np.concatenate([core, ring]))
    shapely.prepare(region)
    keep = shapely.intersects(region, cell_polygons(candidates))
    return candidates[keep]


@dataclass(frozen=True)
class Membership:
    """Which region holds most of each cell's area.

    ``region``: index into the regions per cell, -1 when no region overlaps it; ``share``: that region's
    fraction of the cell's covered area; ``covered_km2``: the cell's area inside any region.
    """

    region: np.ndarray
    share: np.ndarray
    covered_km2: np.ndarray


def majority_region(
    cells: np.ndarray,
    regions: np.ndarray,
    area: EqualArea,
    groups: tuple[np.ndarray, np.ndarray] | None = None,
) -> Membership:
    """For each cell polygon, the region (of non-overlapping ``regions``) covering most of its area.

    ``groups``: optional ``(cell_group, region_group)`` arrays; a cell may then only join a region of its
    own group (a grid cell joins a street of its own district). Ties go to the lower region index, so the
    result does not depend on query order. Vectorised: one STRtree query, one overlay call for the cells
    that are not wholly inside a region.
    """
    n = len(cells)
    tree = STRtree(regions)
    # cells wholly inside one region need no overlay: their piece is the whole cell
    within_cell, within_region = tree.query(cells, predicate="within")
    hit_cell, hit_region = tree.query(cells, predicate="intersects")
    whole = np.zeros(n, dtype=bool)
    whole[within_cell] = True
    partial = ~whole[hit_cell]
    pair_cell = np.concatenate([within_cell, hit_cell[partial]])
    pair_region = np.concatenate([within_region, hit_region[partial]])
    pieces = np.concatenate([
        cells[within_cell],
        shapely.intersection(cells[hit_cell[partial]], regions[hit_region[partial]]),
    ]) if len(pair_cell) else np.empty(0, dtype=object)
    piece_km2 = area.area_km2(pieces) if len(pieces) else np.zeros(0)
    covered = np.bincount(pair_cell, weights=piece_km2, minlength=n)
    if groups is not None:
        cell_group, region_group = groups
        ok = cell_group[pair_cell] == region_group[pair_region]
        pair_cell, pair_region, piece_km2 = pair_cell[ok], pair_region[ok], piece_km2[ok]
    # best piece per cell: sort by (cell, -area, region) and take each cell's first row
    order = np.lexsort((pair_region, -piece_km2, pair_cell))
    first = order[np.r_[True, pair_cell[order][1:] != pair_cell[order][:-1]]] if len(order) else order
    region = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n)
    positive = piece_km2[first] > 0
    first = first[positive]
    region[pair_cell[first]] = pair_region[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        share[pair_cell[first]] = piece_km2[first] / covered[pair_cell[first]]
    return Membership(region=region, share=share, covered_km2=covered)
