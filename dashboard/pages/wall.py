"""The command-center wall (``/``): district map, live counters, hourly trend; refreshes on its own."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import context, figures
from dashboard.data import EVENT_STREAMS

dash.register_page(__name__, path="/", name="Wall", title="红棉 Red Kapok — wall")

STREAM_LABELS = {"incidents": "事件 Incidents", "surveillance": "视频告警 Camera alerts",
                 "hotline": "12345 热线 Hotline"}


def layout(**_query: Any) -> html.Div:
    return html.Div(
        [
            dcc.Interval(id="wall-tick", interval=5000),
            html.Div([html.Div([html.Div(STREAM_LABELS[s], className="counter-label"),
                                html.Div("–", id=f"wall-count-{s}", className="counter-value")],
                               className="counter") for s in EVENT_STREAMS], className="counters"),
            html.Div([
                dcc.Graph(id="wall-map", config={"displayModeBar": False}, className="wall-map"),
                dcc.Graph(id="wall-trend", config={"displayModeBar": False}, className="wall-trend"),
            ], className="wall-body"),
            html.Div(id="wall-stale", className="stale"),
        ],
        className="wall",
    )


def wall_view() -> tuple[Any, ...]:
    """Everything the wall shows, from prepared data (a plain function: tests call it directly)."""
    data = context.data()
    districts = data.districts("24h")["districts"]
    geo = data.city.district_geojson()
    codes = [d["code"] for d in districts]
    totals = [sum(d["counts"].values()) for d in districts]
    names = [d["name_zh"] for d in districts]
    city_counts = {s: sum(d["counts"][s] for d in districts) for s in EVENT_STREAMS}
    map_fig = figures.district_count_map(geo, codes, names, totals, title="24h")
    trend = figures.hourly_trend(data.hourly_city(48))
    return (*(f"{city_counts[s]:,}" for s in EVENT_STREAMS), map_fig, trend)


@callback(
    *(Output(f"wall-count-{s}", "children") for s in EVENT_STREAMS),
    Output("wall-map", "figure"),
    Output("wall-trend", "figure"),
    Input("wall-tick", "n_intervals"),
)
def refresh(_n: int | None) -> tuple[Any, ...]:
    return wall_view()
