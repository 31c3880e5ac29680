"""The command-center wall (``/``): counters, district map, open warnings, ranking strip, 48-hour trend.

Query: ``?kiosk=1`` hides navigation; ``?rotate=N`` alternates the map between index and warning colours
every N seconds; ``?map=warnings`` starts on warning colours. Refreshes patch values only; a client-side
watchdog says when the server has not answered for a while, and the refresh resumes on its own when it
answers again.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html

from dashboard import context, ids
from dashboard.components import is_on, make_counter, make_legend, make_shell, request_lang, server_option
from dashboard.data import ALL_STREAMS
from dashboard.i18n import lang_of, t
from dashboard.views import hazards as hazards_view
from dashboard.views import wall as view

dash.register_page(__name__, path="/", name="Wall", title="红棉 Red Kapok — 指挥大屏", order=0)


def _rotate_ms(rotate: str | None) -> int:
    try:
        seconds = int(rotate or 0)
    except ValueError:
        return 0
    return max(seconds, 5) * 1000 if seconds > 0 else 0


def layout(
    kiosk: str | None = None,
    rotate: str | None = None,
    map: str | None = None,
    lang: str | None = None,
    **_query: Any,
) -> html.Div:
    page_lang = request_lang(lang)
    data = context.data()
    mode = "warnings" if map == "warnings" else "index"
    now = time.time()
    v = view.wall_view(data, mode, page_lang, now)
    rotate_ms = _rotate_ms(rotate)
    refresh_ms = server_option("RK_REFRESH_MS", 5000)
    counters = html.Section(
        [
            *(make_counter(c.stream, page_lang, value=c.text, change=c.change, trend=c.trend) for c in v.counters),
            hazards_view.hazard_counter_card(v.hazards, page_lang),
        ],
        className="counters",
        **{"aria-label": t("wall.past_hour", page_lang)},
    )
    body = html.Div(
        [
            dcc.Interval(id=ids.WALL_TICK, interval=refresh_ms),
            dcc.Interval(id=ids.WALL_ROTATE, interval=rotate_ms or 60_000, disabled=not rotate_ms),
            dcc.Store(id=ids.WALL_MODE, data=mode),
            dcc.Store(id=ids.WALL_LAST_OK, data=now * 1000),
            dcc.Store(id="wall-link-text", data=t("stale.link", page_lang)),
            html.Div(
                [
                    counters,
                    html.Div(
                        [
                            html.Div("", id=ids.WALL_CLOCK, className="clock"),
                            html.Div(
                                v.freshness,
                                id=ids.WALL_STALE,
                                className="stale" if v.stale else "fresh",
                                role="status",
                            ),
                            html.Div("", id=ids.WALL_LINK, className="link-ok", role="alert"),
                        ],
                        className="wall-status",
                    ),
                ],
                className="wall-top",
            ),
            html.Section(
                [
                    html.H2(v.map_title, id=ids.WALL_MAP_TITLE, className="panel-title"),
                    dcc.Graph(
                        id=ids.WALL_MAP,
                        figure=view.map_figure(data, v.fills, v.hover),
                        config={"displayModeBar": False, "scrollZoom": False},
                        className="wall-map-graph",
                        responsive=True,
                    ),
                    html.Div(make_legend(v.legend, title=t("legend", page_lang)), id=ids.WALL_MAP_LEGEND),
                ],
                className="panel wall-map",
            ),
            html.Section(
                [
                    html.H2(t("wall.open_warnings", page_lang), className="panel-title"),
                    html.Ul(v.warnings, id=ids.WALL_WARNINGS, className="warning-list"),
                ],
                className="panel wall-warnings",
            ),
            html.Section(
                [
                    html.H2(t("wall.ranking", page_lang), className="panel-title"),
                    html.Ul(v.ranking, id=ids.WALL_RANKING, className="ranking-strip")
                    if isinstance(v.ranking, list)
                    else html.Div(v.ranking, id=ids.WALL_RANKING),
                ],
                className="panel wall-ranking",
            ),
            html.Section(
                [
                    html.H2(t("wall.trend", page_lang), className="panel-title"),
                    dcc.Graph(
                        id=ids.WALL_TREND,
                        figure=view.trend_figure(v.trend, page_lang),
                        config={"displayModeBar": False},
                        className="wall-trend-graph",
                        responsive=True,
                    ),
                ],
                className="panel wall-trend",
            ),
        ],
        className="wall",
    )
    return make_shell(
        body,
        lang=page_lang,
        path="/",
        query={"kiosk": kiosk, "rotate": rotate, "map": map},
        kiosk=is_on(kiosk),
        page_class="wall-page",
    )


@callback(
    *(Output(ids.wall_count(s), "children") for s in ALL_STREAMS),
    *(Output(ids.wall_change(s), "children") for s in ALL_STREAMS),
    *(Output(ids.wall_change(s), "className") for s in ALL_STREAMS),
    Output(ids.WALL_MAP, "figure"),
    Output(ids.WALL_MAP_TITLE, "children"),
    Output(ids.WALL_MAP_LEGEND, "children"),
    Output(ids.WALL_WARNINGS, "children"),
    Output(ids.WALL_RANKING, "children"),
    Output(ids.WALL_TREND, "figure"),
    Output(ids.WALL_STALE, "children"),
    Output(ids.WALL_STALE, "className"),
    Output(ids.WALL_LAST_OK, "data"),
    Output(hazards_view.WALL_HAZARD_VALUE, "children"),
    Output(hazards_view.WALL_HAZARD_DETAIL, "children"),
    Output(hazards_view.WALL_HAZARD_CARD, "className"),
    Input(ids.WALL_TICK, "n_intervals"),
    Input(ids.WALL_MODE, "data"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
def refresh(_n: int | None, mode: str | None, lang: str | None) -> tuple[Any, ...]:
    return view.refresh_outputs(context.data(), mode or "index", lang_of(lang), time.time())


clientside_callback(
    ClientsideFunction(namespace="rk", function_name="wallRotate"),
    Output(ids.WALL_MODE, "data"),
    Input(ids.WALL_ROTATE, "n_intervals"),
    State(ids.WALL_MODE, "data"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction(namespace="rk", function_name="wallWatchdog"),
    Output(ids.WALL_LINK, "children"),
    Output(ids.WALL_LINK, "className"),
    Output(ids.WALL_CLOCK, "children"),
    Input(ids.WALL_TICK, "n_intervals"),
    Input(ids.WALL_LAST_OK, "data"),
    State(ids.WALL_TICK, "interval"),
    State("wall-link-text", "data"),
    State(ids.LANG, "data"),
)
