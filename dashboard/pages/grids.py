"""The grid map (``/grids``, ``/grids/<grid_id>``): every cell coloured by a chosen metric; click a cell
(or type its id) for its drill-down.

The cell geometry is fetched once from a cacheable route and kept by the browser; a refresh sends each
cell's class and value only, and ``assets/rk.js`` assembles the figure.
Query: ``metric``, ``scale``, ``window``, ``district`` preset the controls.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html

from dashboard import context, figures, ids
from dashboard.auth import allowed_districts
from dashboard.components import (
    graph_config,
    make_dropdown,
    make_shell,
    request_lang,
    server_option,
)
from dashboard.i18n import lang_of, t
from dashboard.views import grids as view
from dashboard.views import hazards as hazards_view
from dashboard.views.common import district_names

dash.register_page(__name__, path="/grids", name="Grids", title="红棉 Red Kapok — 网格地图", order=2)


def layout(
    grid_id: str | None = None,
    metric: str | None = None,
    scale: str | None = None,
    window: str | None = None,
    district: str | None = None,
    lang: str | None = None,
    hazards: str | None = None,
    **_query: Any,
) -> html.Div:
    page_lang = request_lang(lang)
    data = context.data()
    geometry = server_option("RK_GEOMETRY", None)
    spec = {"url": geometry.url, "version": geometry.version} if geometry is not None else None
    names = district_names(data.city.districts, page_lang)
    metric_value = metric if metric in dict(view.metric_options(page_lang)) else "events"
    marks = {
        h: (t("grids.now", page_lang) if h == 0 else t("grids.hours_ago", page_lang, n=h))
        for h in range(0, view.REPLAY_HOURS + 1, 24)
    }
    controls = html.Div(
        [
            make_dropdown(
                ids.GRID_METRIC,
                view.metric_options(page_lang),
                metric_value,
                label=t("grids.metric", page_lang),
            ),
            html.Div(
                [
                    html.Label(
                        t("grids.scale", page_lang), className="control-label", htmlFor=ids.GRID_SCALE
                    ),
                    dcc.RadioItems(
                        id=ids.GRID_SCALE,
                        value=scale if scale in view.SCALES else "raw",
                        options=[
                            {"value": s, "label": t(f"grids.scale.{s}", page_lang)} for s in view.SCALES
                        ],
                        className="radio",
                        inline=True,
                    ),
                ],
                className="control",
            ),
            html.Div(
                [
                    html.Label(
                        t("grids.window", page_lang), className="control-label", htmlFor=ids.GRID_WINDOW
                    ),
                    dcc.RadioItems(
                        id=ids.GRID_WINDOW,
                        value=window if window in view.WINDOWS else "24h",
                        options=[{"value": w, "label": t(f"window.{w}", page_lang)} for w in view.WINDOWS],
                        className="radio",
                        inline=True,
                    ),
                ],
                className="control",
            ),
            html.Div(
                dcc.Checklist(
                    id=hazards_view.GRID_HAZARD_LAYER,
                    options=[{"value": "on", "label": t("grids.hazard_layer", page_lang)}],
                    value=["on"] if hazards in ("1", "on", "true") else [],
                    className="radio",
                    inline=True,
                ),
                className="control",
            ),
            make_dropdown(
                ids.GRID_DISTRICT,
                list(names.items()),
                district if district in names else None,
                label=t("district", page_lang),
                clearable=True,
            ),
            html.Div(
                [
                    html.Label(
                        t("grids.time", page_lang), className="control-label", htmlFor=ids.GRID_REPLAY
                    ),
                    html.Div(
                        [
                            html.Button(
                                f"{t('grids.play', page_lang)} / {t('grids.pause', page_lang)}",
                                id=ids.GRID_PLAY,
                                className="button",
                                n_clicks=0,
                            ),
                            dcc.Slider(
                                id=ids.GRID_REPLAY,
                                min=0,
                                max=view.REPLAY_HOURS,
                                step=1,
                                value=0,
                                marks=marks,
                                className="slider",
                                updatemode="mouseup",
                            ),
                        ],
                        className="replay",
                    ),
                ],
                className="control control-wide",
            ),
            html.Div(
                [
                    html.Label(t("grids.goto", page_lang), className="control-label", htmlFor=ids.GRID_GOTO),
                    html.Div(
                        [
                            dcc.Input(
                                id=ids.GRID_GOTO,
                                type="text",
                                debounce=True,
                                className="input",
                                placeholder="88411c…",
                                value=grid_id or "",
                            ),
                            html.Button(
                                t("grids.goto.button", page_lang), id=ids.GRID_GOTO_BUTTON, className="button"
                            ),
                        ],
                        className="goto",
                    ),
                ],
                className="control",
            ),
        ],
        className="controls",
        role="search",
    )
    body = html.Div(
        [
            dcc.Store(id=ids.GRID_GEOMETRY, data=spec),
            dcc.Store(id=ids.GRID_GEOMETRY_READY),
            dcc.Store(id=ids.GRID_PAYLOAD),
            dcc.Store(id=ids.GRID_SELECTED, data=grid_id),
            dcc.Store(id=ids.GRID_URL_SYNC),
            dcc.Interval(id=ids.GRID_TICK, interval=max(server_option("RK_REFRESH_MS", 5000), 15_000)),
            dcc.Interval(id=ids.GRID_PLAY_TICK, interval=1500, disabled=True),
            html.H1(t("grids.title", page_lang), className="page-title"),
            controls,
            html.Div(
                [
                    html.Section(
                        [
                            html.Div(
                                dcc.Graph(
                                    id=ids.GRID_MAP,
                                    figure=figures.empty_figure("…"),
                                    config={**graph_config("grid-map"), "scrollZoom": True},
                                    className="grid-map-graph",
                                    responsive=True,
                                ),
                                className="graph-box grid-map-box",
                            ),
                            html.Div(id=ids.GRID_SUMMARY, className="map-summary"),
                        ],
                        className="panel grid-map",
                    ),
                    html.Aside(
                        view.cell_detail(data, grid_id, page_lang, time.time()),
                        id=ids.GRID_DETAIL,
                        className="panel grid-detail",
                        **{"aria-live": "polite"},
                    ),
                ],
                className="grid-body",
            ),
        ],
        className="grids",
    )
    query = {"metric": metric, "scale": scale, "window": window, "district": district, "hazards": hazards}
    path = f"/grids/{grid_id}" if grid_id else "/grids"
    return make_shell(body, lang=page_lang, path=path, query=query, page_class="grids-page")


dash.register_page(
    "dashboard.pages.grid_cell",
    path_template="/grids/<grid_id>",
    name="Grid cell",
    title="红棉 Red Kapok — 网格",
    layout=layout,
    order=None,
)


@callback(
    Output(ids.GRID_PAYLOAD, "data"),
    Output(ids.GRID_SUMMARY, "children"),
    Input(ids.GRID_METRIC, "value"),
    Input(ids.GRID_SCALE, "value"),
    Input(ids.GRID_WINDOW, "value"),
    Input(ids.GRID_DISTRICT, "value"),
    Input(ids.GRID_REPLAY, "value"),
    Input(ids.GRID_TICK, "n_intervals"),
    Input(hazards_view.GRID_HAZARD_LAYER, "value"),
    State(ids.LANG, "data"),
)
def refresh_values(
    metric: str | None,
    scale: str | None,
    window: str | None,
    district: str | None,
    hours_ago: int | None,
    _tick: int | None,
    layers: list[str] | None,
    lang: str | None,
) -> tuple[Any, Any]:
    v = view.map_view(
        context.data(),
        metric,
        scale,
        window,
        district,
        hours_ago,
        lang_of(lang),
        time.time(),
        hazards="on" in (layers or []),
        allowed=allowed_districts(),
    )
    return v.payload, v.summary


@callback(
    Output(ids.GRID_DETAIL, "children"),
    Input(ids.GRID_SELECTED, "data"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
def show_cell(grid_id: str | None, lang: str | None) -> list[Any]:
    return view.cell_detail(context.data(), grid_id, lang_of(lang), time.time())


@callback(
    Output(ids.GRID_SELECTED, "data"),
    Input(ids.GRID_GOTO_BUTTON, "n_clicks"),
    Input(ids.GRID_GOTO, "n_submit"),
    State(ids.GRID_GOTO, "value"),
    prevent_initial_call=True,
)
def go_to_cell(_clicks: int | None, _submit: int | None, value: str | None) -> str | None:
    return (value or "").strip() or None


clientside_callback(
    ClientsideFunction(namespace="rk", function_name="gridGeometry"),
    Output(ids.GRID_GEOMETRY_READY, "data"),
    Input(ids.GRID_GEOMETRY, "data"),
)

clientside_callback(
    ClientsideFunction(namespace="rk", function_name="gridDraw"),
    Output(ids.GRID_MAP, "figure"),
    Input(ids.GRID_PAYLOAD, "data"),
    Input(ids.GRID_GEOMETRY_READY, "data"),
    Input(ids.GRID_SELECTED, "data"),
    State(ids.GRID_GEOMETRY, "data"),
)

clientside_callback(
    ClientsideFunction(namespace="rk", function_name="gridUrl"),
    Output(ids.GRID_URL_SYNC, "data"),
    Input(ids.GRID_SELECTED, "data"),
)

clientside_callback(
    "function(n, disabled) { return n ? !disabled : disabled; }",
    Output(ids.GRID_PLAY_TICK, "disabled"),
    Input(ids.GRID_PLAY, "n_clicks"),
    State(ids.GRID_PLAY_TICK, "disabled"),
)

clientside_callback(
    ClientsideFunction(namespace="rk", function_name="gridPlay"),
    Output(ids.GRID_REPLAY, "value"),
    Input(ids.GRID_PLAY_TICK, "n_intervals"),
    State(ids.GRID_REPLAY, "value"),
    State(ids.GRID_REPLAY, "max"),
    State(ids.GRID_PLAY_TICK, "disabled"),
    prevent_initial_call=True,
)
