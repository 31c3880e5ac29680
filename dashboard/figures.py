"""Pure figure builders: prepared data in, Plotly figure dicts out (no store access here).

Maps are drawn on plain Cartesian axes (longitude, latitude, with the latitude's aspect) as filled
polygons: no map tiles, no geo base layers, so nothing is fetched from outside the server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import shapely

from dashboard import theme
from dashboard.i18n import CITY_TZ, Lang, t

#: Simplification of district outlines for the wall map (degrees; ~100 m, invisible at wall scale).
DISTRICT_TOLERANCE = 0.001
_TIME_FORMAT = {"zh": "%-m月%-d日 %H:%M", "en": "%-d %b %H:%M"}
_TICK_FORMAT = {"zh": "%-m月%-d日<br>%H时", "en": "%-d %b<br>%Hh"}


def base_layout(*, margin: Mapping[str, int] | None = None, legend: bool = True) -> dict[str, Any]:
    """The dark theme every figure shares."""
    return {
        "paper_bgcolor": theme.BACKGROUND,
        "plot_bgcolor": theme.BACKGROUND,
        "font": {"color": theme.TEXT, "family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"},
        "margin": dict(margin or {"l": 48, "r": 12, "t": 12, "b": 40}),
        "showlegend": legend,
        "legend": {"orientation": "h", "y": -0.18, "font": {"size": 12}},
        "separators": ".,",
        "hoverlabel": {"namelength": -1},
    }


def empty_figure(message: str) -> dict[str, Any]:
    """A figure that says, in the middle, why there is nothing to draw."""
    layout = base_layout(legend=False)
    layout.update(
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 18, "color": theme.MUTED},
            }
        ],
    )
    return {"data": [], "layout": layout}


# ------------------------------------------------------------------------------------------ maps


def polygon_xy(shape: shapely.Geometry, tolerance: float = DISTRICT_TOLERANCE) -> tuple[list, list]:
    """A (multi)polygon's outer rings as x and y lists, rings separated by None (``fill: toself``)."""
    simple = shapely.simplify(shape, tolerance, preserve_topology=True)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for part in getattr(simple, "geoms", [simple]):
        coords = list(part.exterior.coords)
        if xs:
            xs.append(None)
            ys.append(None)
        xs += [round(x, 5) for x, _ in coords]
        ys += [round(y, 5) for _, y in coords]
    return xs, ys


def map_axes(bounds: Sequence[float]) -> dict[str, Any]:
    """Hidden lon/lat axes with the true aspect at the map's mean latitude."""
    x0, y0, x1, y1 = bounds
    ratio = 1.0 / math.cos(math.radians((y0 + y1) / 2))
    hidden = {"visible": False, "showgrid": False, "zeroline": False, "fixedrange": False}
    return {
        "xaxis": {**hidden, "range": [x0, x1], "constrain": "domain"},
        "yaxis": {
            **hidden,
            "range": [y0, y1],
            "scaleanchor": "x",
            "scaleratio": ratio,
            "constrain": "domain",
        },
    }


def district_map(
    polygons: Mapping[str, tuple[list, list]],
    fills: Mapping[str, str],
    hover: Mapping[str, str],
    bounds: Sequence[float],
    *,
    uirevision: str,
) -> dict[str, Any]:
    """Districts as filled polygons, one trace per district (so a refresh patches only ``fillcolor``).

    ``fills`` and ``hover``: district code -> colour and hover text; trace ``i`` is the ``i``-th code of
    ``polygons``.
    """
    data = []
    for code, (xs, ys) in polygons.items():
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "fill": "toself",
                "fillcolor": fills.get(code, theme.NO_DATA),
                "line": {"color": theme.BACKGROUND, "width": 1.5},
                "hoveron": "fills",
                "name": hover.get(code, code),
                "text": hover.get(code, code),
                "hoverinfo": "text",
                "showlegend": False,
            }
        )
    layout = base_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, legend=False)
    layout.update(map_axes(bounds), uirevision=uirevision, dragmode=False)
    return {"data": data, "layout": layout}


# ------------------------------------------------------------------------------------------ series


def local_times(index: pd.Index) -> list[str]:
    """UTC timestamps as city-time strings (Plotly draws date strings as given, without time zones)."""
    return [
        ts.tz_convert(CITY_TZ).strftime("%Y-%m-%d %H:%M") if ts.tzinfo else ts.strftime("%Y-%m-%d %H:%M")
        for ts in pd.DatetimeIndex(index)
    ]


def local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=CITY_TZ).strftime("%Y-%m-%d %H:%M")


def _time_axis(lang: Lang) -> dict[str, Any]:
    return {
        "type": "date",
        "tickformat": _TICK_FORMAT[lang],
        "hoverformat": _TIME_FORMAT[lang],
        "gridcolor": theme.GRIDLINE,
        "linecolor": theme.GRIDLINE,
    }


def stream_trend(
    frame: pd.DataFrame, lang: Lang, *, uirevision: str, y_title: str | None = None, stacked: bool = False
) -> dict[str, Any]:
    """Events per time bucket, one line per stream column of ``frame`` (time-indexed, UTC)."""
    if frame.empty:
        return empty_figure(t("no_data", lang))
    x = local_times(frame.index)
    data = []
    for stream in frame.columns:
        trace = {
            "type": "scatter",
            "mode": "lines",
            "name": t(f"stream.{stream}", lang),
            "x": x,
            "y": [float(v) for v in frame[stream].tolist()],
            "line": {"color": theme.STREAM_COLOURS.get(stream, theme.TEXT), "width": 2},
            "hovertemplate": "%{y:,.0f}",
        }
        if stacked:
            trace["stackgroup"] = "events"
        data.append(trace)
    layout = base_layout()
    layout.update(
        xaxis=_time_axis(lang),
        uirevision=uirevision,
        hovermode="x unified",
        yaxis={
            "gridcolor": theme.GRIDLINE,
            "rangemode": "tozero",
            "tickformat": ",~g",
            "title": {"text": y_title} if y_title else None,
        },
    )
    return {"data": data, "layout": layout}


def index_trend(
    history: pd.DataFrame,
    lang: Lang,
    *,
    thresholds: Sequence[float] = (80.0, 65.0, 50.0),
) -> dict[str, Any]:
    """An entity's index over time with the level thresholds as dotted lines; ``history`` is indexed by
    time (UTC) with a ``score`` column."""
    if history.empty or "score" not in history.columns:
        return empty_figure(t("no_history", lang))
    x = local_times(pd.DatetimeIndex(history.index))
    layout = base_layout(legend=False)
    layout.update(
        xaxis=_time_axis(lang),
        yaxis={"range": [0, 100], "gridcolor": theme.GRIDLINE, "title": {"text": t("index", lang)}},
        shapes=[
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": v,
                "y1": v,
                "line": {"color": theme.MUTED, "width": 1, "dash": "dot"},
            }
            for v in thresholds
        ],
        uirevision="index-trend",
    )
    trace = {
        "type": "scatter",
        "mode": "lines+markers",
        "x": x,
        "y": [None if pd.isna(v) else round(float(v), 1) for v in history["score"]],
        "line": {"color": theme.INDEX_LEVEL_COLOURS["A"], "width": 2},
        "name": t("index", lang),
        "hovertemplate": "%{y:.1f}<extra></extra>",
    }
    return {"data": [trace], "layout": layout}


def contributions_bar(
    contributions: Mapping[str, float],
    labels: Mapping[str, str],
    lang: Lang,
) -> dict[str, Any]:
    """Horizontal bars of each indicator's points in the score, largest at the top."""
    items = sorted(
        ((k, float(v)) for k, v in contributions.items() if v is not None and not math.isnan(v)),
        key=lambda kv: kv[1],
    )
    if not items:
        return empty_figure(t("no_index", lang))
    layout = base_layout(margin={"l": 260, "r": 20, "t": 10, "b": 40}, legend=False)
    layout.update(
        xaxis={"gridcolor": theme.GRIDLINE, "zeroline": True, "zerolinecolor": theme.MUTED},
        yaxis={"automargin": True},
        uirevision="drivers",
    )
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [labels.get(k, k) for k, _ in items],
        "x": [round(v, 2) for _, v in items],
        "marker": {
            "color": [theme.SCORE_CLASSES[-1] if v >= 0 else theme.SCORE_CLASSES[0] for _, v in items]
        },
        "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
    }
    return {"data": [trace], "layout": layout}
