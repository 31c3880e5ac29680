"""The grid map: the per-refresh values payload, and one cell's drill-down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import h3
import numpy as np
import pandas as pd
from dash import dcc, html

from dashboard import figures, gridmap
from dashboard.components import make_level_badge, make_notice, make_table
from dashboard.data import ALL_STREAMS, Dashboard, parse_window
from dashboard.gridmap import Metric
from dashboard.i18n import Lang, category_label, fmt_int, fmt_num, fmt_time, label_or, t
from dashboard.views.hazards import hazard_layer
from geo.city import CityModel
from metrics.index.config import load_config
from streams.schemas import CATEGORIES

WINDOWS = ("1h", "24h", "7d", "30d")
SCALES = ("raw", "km2", "10k")
#: How far back the replay slider reaches (hours).
REPLAY_HOURS = 72
DETAIL_DAYS = 7
RECENT_EVENTS = 12


@lru_cache(maxsize=1)
def dimension_names() -> tuple[tuple[str, str], ...]:
    """(name, configured label) of the index's scoring dimensions (shipped configuration)."""
    return tuple((d.name, d.label) for d in load_config().score_dimensions())


@lru_cache(maxsize=1)
def indicator_labels() -> dict[str, str]:
    return {i.name: i.label for i in load_config().indicators}


def metric_label(metric: Metric, lang: Lang) -> str:
    if metric.kind in ("index", "level", "events"):
        return t(f"metric.{metric.kind}", lang)
    if metric.kind == "dim":
        return label_or(f"dim.{metric.name}", lang, dict(dimension_names()).get(metric.name, metric.name))
    if metric.kind == "stream":
        return t(f"stream.{metric.name}", lang)
    stream, _, category = metric.name.partition(".")
    return f"{t(f'stream.{stream}', lang)} · {category_label(stream, category, lang)}"


def metric_options(lang: Lang) -> list[tuple[str, str]]:
    """Every metric the map can show, as (key, label)."""
    metrics = [
        Metric("index"),
        Metric("level"),
        *(Metric("dim", name) for name, _ in dimension_names()),
        Metric("events"),
        *(Metric("stream", s) for s in ALL_STREAMS),
    ]
    metrics += [Metric("category", f"{s}.{c}") for s in ALL_STREAMS for c in sorted(CATEGORIES[s])]
    return [(m.key, metric_label(m, lang)) for m in metrics]


@dataclass(frozen=True)
class MapView:
    """One refresh of the map: the payload for the browser and its text alternative."""

    payload: dict[str, Any]
    summary: list[Any]


@lru_cache(maxsize=4)
def _static(city: CityModel) -> tuple[np.ndarray, np.ndarray]:
    return city.grids["area_km2"].to_numpy(dtype=float), gridmap.cell_population(city.grids, city.districts)


def map_view(
    data: Dashboard,
    metric_key: str | None,
    scale: str | None,
    window: str | None,
    district: str | None,
    hours_ago: int | None,
    lang: Lang,
    now: float,
    *,
    hazards: bool = False,
    allowed: frozenset[str] | None = None,
) -> MapView:
    """Values and colour classes of every cell for the chosen metric, window and time (``hours_ago``
    before ``now``), cells outside ``district`` hidden; with ``hazards``, the open hazards of the
    ``allowed`` districts (None: all) as markers (``payload["hazards"]``, see :func:`hazard_layer`)."""
    metric = Metric.parse(metric_key)
    scale = scale if scale in SCALES and metric.counts else "raw"
    label, seconds = parse_window(window if window in WINDOWS else "24h")
    end = now - 3600 * max(0, min(int(hours_ago or 0), REPLAY_HOURS))
    grids = data.city.grids
    if metric.counts:
        frame = data.grid_frame(end - seconds, end)
        index: Mapping[str, Mapping[str, Any]] = {}
    else:
        frame = pd.DataFrame()
        index = data.index_latest("grid")
    values = gridmap.metric_values(metric, grids.index, frame, index)
    area, population = _static(data.city)
    if metric.counts:
        values = gridmap.scaled(values, scale, area, population)
    district = district if district in data.city.districts.index else None
    visible = None if district is None else (grids["district_code"] == district).to_numpy()
    shown = values if visible is None else np.where(visible, values, np.nan)
    if metric.kind == "level":
        classes = gridmap.level_classes(lang)
    elif metric.from_index:
        classes = gridmap.score_classes(lang)
    else:
        classes = gridmap.count_classes(shown, lang, integral=scale == "raw")
    title = (
        f"{metric_label(metric, lang)} · {t(f'window.{label}', lang)}"
        if metric.counts
        else metric_label(metric, lang)
    )
    if metric.counts and scale != "raw":
        title += f" · {t(f'grids.scale.{scale}', lang)}"
    digits = 0 if metric.counts and scale == "raw" else 2 if metric.counts else 1
    payload = gridmap.map_payload(
        values,
        classes,
        visible=visible,
        title=title,
        bounds=gridmap.district_bounds(grids, district),
        digits=digits,
        lang=lang,
    )
    described = summary(metric, grids.index, shown, title, lang, no_index=not metric.counts and not index)
    if hazards:
        layer = hazard_layer(data, district, allowed, lang)
        payload["hazards"] = layer
        described = [*described, html.P(layer["summary"], className="hazard-summary", role="status")]
    return MapView(payload, described)


def summary(
    metric: Metric, grid_ids: pd.Index, values: np.ndarray, title: str, lang: Lang, *, no_index: bool
) -> list[Any]:
    """The map in words (and keyboard links to its top cells)."""
    if no_index:
        return [make_notice(t("no_index.long", lang))]
    top = gridmap.top_cells(grid_ids, values) if metric.kind != "level" else []
    n = int((~np.isnan(values)).sum()) if metric.from_index else int(np.nansum(values > 0))
    if n == 0:
        return [html.P(t("grids.summary.none", lang, metric=title), role="status")]
    digits = 0 if metric.counts and float(np.nanmax(values)).is_integer() else 1
    text = t(
        "grids.summary",
        lang,
        metric=title,
        n=fmt_int(n, lang),
        top=", ".join(f"{gid} ({fmt_num(v, lang, digits)})" for gid, v in top[:1]),
    )
    links = [html.Li(dcc.Link(f"{gid}: {fmt_num(v, lang, digits)}", href=f"/grids/{gid}")) for gid, v in top]
    return [html.P(text, role="status"), html.Ol(links, className="top-cells")]


# ------------------------------------------------------------------------------------------ drill-down


def neighbours(city: CityModel, grid_id: str) -> list[str]:
    """The cell's neighbours that belong to the city: H3 ring 1, or polygons touching a configured cell."""
    if city.h3_resolution is not None:
        ring = [c for c in h3.grid_disk(grid_id, 1) if c != grid_id]
        return sorted(c for c in ring if c in city.grids.index)
    assert city.grid_polygons is not None
    import shapely

    pos = city.grids.index.get_loc(grid_id)
    touching = shapely.touches(city.grid_polygons, city.grid_polygons[pos])
    return sorted(str(g) for g in city.grids.index[touching])


def _recent_row(event: Mapping[str, Any], lang: Lang) -> list[str]:
    """A recent event as table cells: time, stream, category, stage, and masked details (plain text)."""
    stream = str(event.get("stream", ""))
    details = []
    for name in ("severity", "confidence", "satisfaction", "grade", "caller_mask", "camera_id"):
        if event.get(name) is not None:
            details.append(f"{name}={event[name]}")
    if event.get("text"):
        details.append(str(event["text"])[:200])  # untrusted: shown as a plain string, never as markup
    return [
        fmt_time(event.get("ts"), lang),
        t(f"stream.{stream}", lang),
        category_label(stream, str(event.get("category", "")), lang),
        str(event.get("stage", "")),
        " · ".join(details),
    ]


def cell_detail(data: Dashboard, grid_id: str | None, lang: Lang, now: float) -> list[Any]:
    """The drill-down panel of one cell: index, counts, trend, contributions, recent events, neighbours."""
    if not grid_id:
        return [html.P(t("grids.hint", lang), className="muted")]
    city = data.city
    if grid_id not in city.grids.index:
        return [make_notice(t("grids.unknown", lang, id=grid_id), kind="warn")]
    cell = city.grids.loc[grid_id]
    district = city.districts.loc[cell["district_code"]]
    scored = data.index_latest("grid").get(grid_id) or {}
    counts_24h = data.grid_frame(now - 86400, now)
    row = counts_24h.loc[grid_id] if grid_id in counts_24h.index else pd.Series(dtype=float)
    count_items = []
    for stream in ALL_STREAMS:
        cols = [c for c in row.index if c.startswith(f"{stream}.") and c.endswith(".n")]
        count_items.append(
            html.Li(f"{t(f'stream.{stream}', lang)}: {fmt_int(float(row[cols].sum()) if cols else 0, lang)}")
        )
    hourly = data.grid_hourly(grid_id, now - DETAIL_DAYS * 86400, now)
    labels = {k: label_or(f"ind.{k}", lang, v) for k, v in indicator_labels().items()}
    header = [
        html.H2(t("grids.cell", lang, id=grid_id), className="panel-title"),
        html.P(
            [
                district["name_zh"] if lang == "zh" else district["name_en"],
                " · ",
                f"{fmt_num(float(cell['area_km2']), lang, 2)} km²",
            ],
            className="muted",
        ),
    ]
    if scored:
        header.append(
            html.P(
                [
                    f"{t('index', lang)}: {fmt_num(scored.get('score'), lang)} ",
                    make_level_badge(scored.get("level"), lang),
                    f" {t('rank', lang)} {scored.get('rank', '–')}",
                ]
            )
        )
    else:
        header.append(make_notice(t("no_index", lang)))
    recent = data.store.recent_events(grid_id=grid_id, limit=RECENT_EVENTS)
    neighbour_links = [html.Li(dcc.Link(gid, href=f"/grids/{gid}")) for gid in neighbours(city, grid_id)]
    return [
        *header,
        html.H3(t("rankings.counts", lang)),
        html.Ul(count_items, className="inline-list"),
        html.H3(t("grids.trend", lang)),
        dcc.Graph(
            figure=figures.stream_trend(hourly, lang, uirevision=f"cell-{grid_id}"),
            config={"displayModeBar": True, "displaylogo": False},
            className="detail-graph",
        ),
        html.H3(t("grids.contributions", lang)),
        dcc.Graph(
            figure=figures.contributions_bar(scored.get("contributions") or {}, labels, lang),
            config={"displayModeBar": False},
            className="detail-graph",
        ),
        html.H3(t("grids.recent", lang)),
        make_table(
            [
                t("time", lang),
                t("warnings.filter.stream", lang),
                t("category", lang),
                t("stage", lang),
                t("details", lang),
            ],
            [_recent_row(e, lang) for e in recent],
        )
        if recent
        else html.P(t("no_data", lang), className="muted"),
        html.H3(t("grids.neighbours", lang)),
        html.Ul(neighbour_links, className="inline-list"),
    ]
