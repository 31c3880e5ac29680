"""Pure figure builders: prepared data in, Plotly figure dicts out (no store access here)."""

from __future__ import annotations

from typing import Any

import pandas as pd

#: Colour-blind-safe sequential scale (cividis) for counts.
COUNT_SCALE = "Cividis"
DARK_BG = "#0b1220"


def district_count_map(geojson: dict[str, Any], codes: list[str], names: list[str], counts: list[int],
                       *, title: str) -> dict[str, Any]:
    """A choropleth of the districts on a plain background (no map tiles: works offline)."""
    return {
        "data": [{
            "type": "choropleth",
            "geojson": geojson,
            "featureidkey": "id",
            "locations": codes,
            "z": counts,
            "text": names,
            "colorscale": COUNT_SCALE,
            "marker": {"line": {"color": "#e5e7eb", "width": 1}},
            "hovertemplate": "%{text}: %{z}<extra></extra>",
            "colorbar": {"title": {"text": title}},
        }],
        "layout": {
            "geo": {"fitbounds": "locations", "visible": False, "bgcolor": DARK_BG},
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "paper_bgcolor": DARK_BG,
            "font": {"color": "#e5e7eb"},
            "uirevision": "districts",
        },
    }


def hourly_trend(frame: pd.DataFrame) -> dict[str, Any]:
    """Events per hour per stream."""
    x = [ts.isoformat() for ts in frame.index]
    return {
        "data": [{"type": "scatter", "mode": "lines", "name": col, "x": x, "y": frame[col].tolist()}
                 for col in frame.columns],
        "layout": {"margin": {"l": 40, "r": 10, "t": 10, "b": 30}, "paper_bgcolor": DARK_BG,
                   "plot_bgcolor": DARK_BG, "font": {"color": "#e5e7eb"}, "uirevision": "trend",
                   "legend": {"orientation": "h"}},
    }
