"""The grid map's data, pure: compact cell geometry (sent once), metric values and colour classes (sent on
every refresh).

The browser fetches the geometry once from a cacheable route (``/geo/<version>.json``) and draws the map
itself (``assets/gridmap.js``): one filled-polygon trace per colour class, so a refresh carries only a
class and a value per cell, never coordinates.

Geometry encoding: coordinates are integers of 1e-5 degrees (~1 m). Each cell has a list of rings; a ring
is a flat list ``[x0 - cx, y0 - cy, x1 - x0, y1 - y0, ...]`` (the first vertex relative to the cell's
centre ``cx, cy``, each next one relative to the previous), without the closing vertex. District
outlines use the same ring encoding with ``cx = cy = 0``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import shapely

from dashboard import theme
from dashboard.i18n import Lang, fmt_num, t

SCALE: Final = 100_000
#: Simplification of district outlines for display (degrees; ~50 m).
OUTLINE_TOLERANCE: Final = 0.0005
#: Class code of a cell with no value, and of a cell hidden by the district filter.
NO_VALUE: Final = -1
HIDDEN: Final = -2
SCORE_EDGES: Final[tuple[float, ...]] = (0.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0)
COUNT_CLASSES: Final = 8
STREAMS: Final[tuple[str, ...]] = ("incidents", "surveillance", "hotline", "hazards")


# ------------------------------------------------------------------------------------------ geometry


def _encode_ring(coords: Sequence[Sequence[float]], cx: int = 0, cy: int = 0) -> list[int]:
    pts = [(round(x * SCALE), round(y * SCALE)) for x, y in coords]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    out: list[int] = []
    px, py = cx, cy
    for x, y in pts:
        out += [x - px, y - py]
        px, py = x, y
    return out


def decode_ring(ring: Sequence[int], cx: int = 0, cy: int = 0) -> list[tuple[float, float]]:
    """The inverse of the ring encoding, in degrees (used by tests and by nothing at run time)."""
    x, y = cx, cy
    out = []
    for i in range(0, len(ring), 2):
        x += ring[i]
        y += ring[i + 1]
        out.append((x / SCALE, y / SCALE))
    return out


def _outer_rings(geometry: Mapping[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry["type"] == "MultiPolygon":
        return [polygon[0] for polygon in geometry["coordinates"]]
    raise ValueError(f"cell geometry of type {geometry['type']!r}: expected Polygon or MultiPolygon")


def encode_geometry(
    grid_geojson: Mapping[str, Any],
    district_shapes: Mapping[str, shapely.Geometry],
) -> dict[str, Any]:
    """The map's static geometry: cell ids, centres and rings, district outlines, and the bounds.

    ``version`` is a hash of the content, so the route serving it can be cached for good.
    """
    ids: list[str] = []
    cx: list[int] = []
    cy: list[int] = []
    rings: list[list[list[int]]] = []
    for feature in grid_geojson["features"]:
        outer = _outer_rings(feature["geometry"])
        pts = np.asarray([p for ring in outer for p in ring[:-1]], dtype=float)
        x0, y0 = round(float(pts[:, 0].mean()) * SCALE), round(float(pts[:, 1].mean()) * SCALE)
        ids.append(str(feature["id"]))
        cx.append(x0)
        cy.append(y0)
        rings.append([_encode_ring(ring, x0, y0) for ring in outer])
    outlines: list[list[int]] = []
    codes: list[str] = []
    for code, shape in district_shapes.items():
        simple = shapely.simplify(shape, OUTLINE_TOLERANCE, preserve_topology=True)
        for part in getattr(simple, "geoms", [simple]):
            outlines.append(_encode_ring(list(part.exterior.coords)))
            codes.append(str(code))
    all_x = np.asarray(cx, dtype=float) / SCALE
    all_y = np.asarray(cy, dtype=float) / SCALE
    body = {
        "scale": SCALE,
        "ids": ids,
        "cx": cx,
        "cy": cy,
        "rings": rings,
        "outline_districts": codes,
        "outlines": outlines,
        "bounds": [float(all_x.min()), float(all_y.min()), float(all_x.max()), float(all_y.max())]
        if ids
        else [0.0, 0.0, 0.0, 0.0],
    }
    digest = hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()[:16]
    return {"version": digest, **body}


def district_bounds(grids: pd.DataFrame, district_code: str | None) -> list[float] | None:
    """``[lon_min, lat_min, lon_max, lat_max]`` of a district's cell centres, padded by ~1 km."""
    if district_code is None:
        return None
    cells = grids[grids.district_code == district_code]
    if cells.empty:
        return None
    pad = 0.01
    return [
        float(cells.lon.min()) - pad,
        float(cells.lat.min()) - pad,
        float(cells.lon.max()) + pad,
        float(cells.lat.max()) + pad,
    ]


# ------------------------------------------------------------------------------------------ classes


@dataclass(frozen=True)
class Classes:
    """Colour classes of a map: class ``k`` holds values in ``[edges[k], edges[k + 1])`` (the last one
    closed), drawn in ``colours[k]`` and named ``labels[k]`` in the legend. ``categorical``: the value
    is the class code itself (index levels)."""

    edges: tuple[float, ...]
    colours: tuple[str, ...]
    labels: tuple[str, ...]
    categorical: bool = False

    def classify(self, values: np.ndarray) -> np.ndarray:
        """Class code per value; :data:`NO_VALUE` for NaN."""
        v = np.asarray(values, dtype=float)
        out = np.full(v.shape, NO_VALUE, dtype=np.int64)
        ok = ~np.isnan(v)
        if self.categorical:
            out[ok] = v[ok].astype(np.int64)
            return out
        if len(self.colours) == 0:
            return out
        inner = np.asarray(self.edges[1:-1], dtype=float)
        out[ok] = np.searchsorted(inner, v[ok], side="right")
        return out


def _nice(x: float) -> float:
    """``x`` rounded to 2 significant digits (for readable class edges)."""
    if x <= 0:
        return 0.0
    magnitude = 10 ** math.floor(math.log10(x))
    return round(x / magnitude, 1) * magnitude


def _edge_label(lo: float, hi: float, integral: bool, last: bool, lang: Lang) -> str:
    if integral:
        top = int(hi) if last else int(hi) - 1
        return fmt_num(lo, lang, 0) if top <= lo else f"{fmt_num(lo, lang, 0)}–{fmt_num(top, lang, 0)}"
    digits = 0 if hi >= 100 else 1 if hi >= 10 else 2
    return f"{fmt_num(lo, lang, digits)}–{fmt_num(hi, lang, digits)}"


def count_classes(values: np.ndarray, lang: Lang, *, integral: bool, n: int = COUNT_CLASSES) -> Classes:
    """Classes for counts or rates: a class of its own for zero, then up to ``n - 1`` quantile classes of
    the positive values with rounded edges (cividis)."""
    v = np.asarray(values, dtype=float)
    positive = np.sort(v[~np.isnan(v) & (v > 0)])
    if positive.size == 0:
        return Classes((0.0, 1.0), (theme.COUNT_CLASSES[0],), ("0",))
    qs = np.quantile(positive, np.linspace(0.0, 1.0, n))
    smallest, largest = float(positive[0]), float(positive[-1])
    inner = [math.ceil(q) if integral else _nice(float(q)) for q in qs[1:-1]]
    start = math.ceil(smallest) if integral else smallest
    edges = [0.0, start]
    for e in inner:
        if e > edges[-1] and e < largest:
            edges.append(float(e))
    edges.append(largest if largest > edges[-1] else edges[-1] + 1.0)
    k = len(edges) - 1
    # spread the classes over the whole scale, zero always at the dark end
    palette = [
        theme.COUNT_CLASSES[round(i * (len(theme.COUNT_CLASSES) - 1) / max(k - 1, 1))] for i in range(k)
    ]
    labels = ["0", *(_edge_label(edges[i], edges[i + 1], integral, i == k - 1, lang) for i in range(1, k))]
    return Classes(tuple(edges), tuple(palette), tuple(labels))


def score_classes(lang: Lang) -> Classes:
    """Eight fixed classes of a 0–100 score, red (low) to blue (high)."""
    e = SCORE_EDGES
    labels = tuple(f"{e[i]:.0f}–{e[i + 1]:.0f}" for i in range(len(e) - 1))
    return Classes(e, theme.SCORE_CLASSES, labels)


def level_classes(lang: Lang) -> Classes:
    """The index levels A–D (value = 0..3)."""
    return Classes(
        (0.0, 1.0, 2.0, 3.0, 4.0),
        tuple(theme.INDEX_LEVEL_COLOURS.values()),
        tuple(t(f"level.{x}", lang) for x in theme.INDEX_LEVEL_COLOURS),
        categorical=True,
    )


# ------------------------------------------------------------------------------------------ metrics


@dataclass(frozen=True)
class Metric:
    """What the map shows: ``kind`` is ``index``, ``level``, ``dim`` (``name`` = dimension), ``events``
    (all streams), ``stream`` (``name`` = stream) or ``category`` (``name`` = ``stream.category``)."""

    kind: str
    name: str = ""

    @classmethod
    def parse(cls, text: str | None) -> Metric:
        """``"index"``, ``"level"``, ``"events"``, ``"dim:service"``, ``"stream:hotline"``,
        ``"category:hotline.noise"``; anything else is ``events``."""
        raw = text or "events"
        kind, _, name = raw.partition(":")
        if kind in ("index", "level", "events") and not name:
            return cls(kind)
        if kind == "dim" and name:
            return cls(kind, name)
        if kind == "stream" and name in STREAMS:
            return cls(kind, name)
        if kind == "category" and name.partition(".")[0] in STREAMS and "." in name:
            return cls(kind, name)
        return cls("events")

    @property
    def key(self) -> str:
        return self.kind if not self.name else f"{self.kind}:{self.name}"

    @property
    def from_index(self) -> bool:
        return self.kind in ("index", "level", "dim")

    @property
    def counts(self) -> bool:
        return not self.from_index


def event_columns(columns: Iterable[str], metric: Metric) -> list[str]:
    """The counter columns (``stream.category.n``) that a count metric sums."""
    cols = [c for c in columns if c.endswith(".n")]
    if metric.kind == "events":
        return [c for c in cols if c.split(".", 1)[0] in STREAMS]
    if metric.kind == "stream":
        return [c for c in cols if c.startswith(metric.name + ".")]
    if metric.kind == "category":
        return [c for c in cols if c == f"{metric.name}.n"]
    return []


def metric_values(
    metric: Metric, grid_ids: pd.Index, frame: pd.DataFrame, index: Mapping[str, Mapping[str, Any]]
) -> np.ndarray:
    """One value per cell of ``grid_ids`` (NaN = no value): counts from the window ``frame``, or
    scores from the index snapshot (``index_latest`` shape)."""
    if metric.counts:
        cols = event_columns(frame.columns, metric)
        summed = frame[cols].sum(axis=1) if cols else pd.Series(0.0, index=frame.index)
        return summed.reindex(grid_ids, fill_value=0.0).to_numpy(dtype=float)
    out = np.full(len(grid_ids), np.nan)
    for i, grid_id in enumerate(grid_ids):
        scored = index.get(grid_id)
        if not scored:
            continue
        if metric.kind == "index":
            value = scored.get("score")
        elif metric.kind == "level":
            level = scored.get("level")
            value = "ABCD".index(level) if isinstance(level, str) and level in "ABCD" and level else None
        else:
            value = (scored.get("dimensions") or {}).get(metric.name)
        if value is not None:
            out[i] = float(value)
    return out


def cell_population(grids: pd.DataFrame, districts: pd.DataFrame) -> np.ndarray:
    """Residents per cell estimated by area from its district's population (areal weighting); NaN where
    the district's population is unknown."""
    pop = districts["population"].reindex(grids.district_code).to_numpy(dtype=float)
    area = districts["area_km2"].reindex(grids.district_code).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = pop * grids["area_km2"].to_numpy(dtype=float) / area
    return np.where((pop > 0) & (area > 0), est, np.nan)


def scaled(values: np.ndarray, scale: str, area_km2: np.ndarray, population: np.ndarray) -> np.ndarray:
    """Counts as ``raw``, per km² (``km2``) or per 10,000 residents (``10k``); NaN where the divisor is
    unknown or zero."""
    if scale == "raw":
        return values
    divisor = area_km2 if scale == "km2" else population / 10_000.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(divisor > 0, values / divisor, np.nan)


def map_payload(
    values: np.ndarray,
    classes: Classes,
    *,
    visible: np.ndarray | None,
    title: str,
    bounds: list[float] | None,
    digits: int,
    lang: Lang,
) -> dict[str, Any]:
    """What one refresh sends to the browser: a class and a value per cell (in geometry order), the
    legend, and the view. No coordinates."""
    codes = classes.classify(values)
    if visible is not None:
        codes = np.where(visible, codes, HIDDEN)
    rounded = np.round(values, digits)
    return {
        "classes": codes.tolist(),
        "values": [
            None if math.isnan(v) else (int(v) if digits == 0 else float(v)) for v in rounded.tolist()
        ],
        "colours": list(classes.colours),
        "labels": list(classes.labels),
        "no_data": t("no_data", lang),
        "no_data_colour": theme.NO_DATA,
        "title": title,
        "bounds": bounds,
    }


def top_cells(grid_ids: pd.Index, values: np.ndarray, n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` cells with the highest values (ties by id), for the map's text alternative."""
    ok = ~np.isnan(values)
    order = np.lexsort((np.asarray(grid_ids, dtype=str), -np.where(ok, values, -np.inf)))
    return [(str(grid_ids[i]), float(values[i])) for i in order[:n] if ok[i]]
