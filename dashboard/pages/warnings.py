"""Warnings (``/warnings``): filters by level, status, district and stream; the list with lifecycle
actions (acknowledge, dispatch, resolve through ``POST /api/v1/warnings/ID/<action>``, so the API's user
checks apply); and a map of where they are."""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html

from dashboard import context, ids, theme
from dashboard.components import make_dropdown, make_shell, request_lang, server_option
from dashboard.data import ALL_STREAMS
from dashboard.i18n import lang_of, t
from dashboard.views import warnings as view
from dashboard.views.common import district_names

dash.register_page(__name__, path="/warnings", name="Warnings", title="红棉 Red Kapok — 预警", order=3)


def layout(
    level: str | None = None,
    status: str | None = None,
    district: str | None = None,
    stream: str | None = None,
    lang: str | None = None,
    **_query: Any,
) -> html.Div:
    page_lang = request_lang(lang)
    data = context.data()
    names = district_names(data.city.districts, page_lang)
    filters = html.Div(
        [
            make_dropdown(
                ids.WARN_LEVEL,
                [(lv, t(f"wlevel.{lv}", page_lang)) for lv in theme.WARNING_LEVELS],
                level if level in theme.WARNING_LEVELS else None,
                label=t("warnings.filter.level", page_lang),
                clearable=True,
            ),
            make_dropdown(
                ids.WARN_STATUS,
                [(s, t(f"status.{s}", page_lang)) for s in view.STATUSES],
                status if status in view.STATUSES else "open",
                label=t("warnings.filter.status", page_lang),
            ),
            make_dropdown(
                ids.WARN_DISTRICT,
                list(names.items()),
                district if district in names else None,
                label=t("warnings.filter.district", page_lang),
                clearable=True,
            ),
            make_dropdown(
                ids.WARN_STREAM,
                [(s, t(f"stream.{s}", page_lang)) for s in ALL_STREAMS],
                stream if stream in ALL_STREAMS else None,
                label=t("warnings.filter.stream", page_lang),
                clearable=True,
            ),
        ],
        className="controls",
        role="search",
    )
    body = html.Div(
        [
            dcc.Interval(id=ids.WARN_TICK, interval=max(server_option("RK_REFRESH_MS", 5000), 10_000)),
            dcc.Store(id=ids.WARN_ACTION_RESULT),
            html.H1(t("warnings.title", page_lang), className="page-title"),
            filters,
            html.Div("", id=ids.WARN_MESSAGE, className="warn-message", role="status"),
            html.Div(
                [
                    html.Section(html.Div(id=ids.WARN_TABLE), className="panel"),
                    html.Section(
                        [
                            html.H2(t("warnings.map", page_lang), className="panel-title"),
                            html.Div(
                                dcc.Graph(
                                    id=ids.WARN_MAP,
                                    config={
                                        "displaylogo": False,
                                        "scrollZoom": True,
                                        "toImageButtonOptions": {"filename": "warnings"},
                                    },
                                    className="warn-map-graph",
                                    responsive=True,
                                ),
                                className="graph-box warn-map-box",
                            ),
                            html.Div(id="warn-legend"),
                        ],
                        className="panel",
                    ),
                ],
                className="warn-body",
            ),
        ]
    )
    return make_shell(
        body,
        lang=page_lang,
        path="/warnings",
        page_class="warnings-page",
        query={"level": level, "status": status, "district": district, "stream": stream},
    )


@callback(
    Output(ids.WARN_TABLE, "children"),
    Output(ids.WARN_MAP, "figure"),
    Output("warn-legend", "children"),
    Output(ids.WARN_MESSAGE, "children"),
    Input(ids.WARN_LEVEL, "value"),
    Input(ids.WARN_STATUS, "value"),
    Input(ids.WARN_DISTRICT, "value"),
    Input(ids.WARN_STREAM, "value"),
    Input(ids.WARN_TICK, "n_intervals"),
    Input(ids.WARN_ACTION_RESULT, "data"),
    State(ids.LANG, "data"),
)
def refresh(
    level: str | None,
    status: str | None,
    district: str | None,
    stream: str | None,
    _tick: int | None,
    result: dict[str, Any] | None,
    lang: str | None,
) -> tuple[Any, ...]:
    page_lang = lang_of(lang)
    data = context.data()
    now = time.time()
    found = view.filtered(data, level, status, district, stream)
    figure, legend = view.warning_map(data, found, page_lang)
    table = view.warning_table(found, district_names(data.city.districts, page_lang), now, page_lang)
    return table, figure, legend, view.action_message(result, page_lang)


clientside_callback(
    ClientsideFunction(namespace="rk", function_name="warnAction"),
    Output(ids.WARN_ACTION_RESULT, "data"),
    Input({"type": ids.WARN_ACTION, "id": ALL, "action": ALL}, "n_clicks"),
    State({"type": ids.WARN_ACTION, "id": ALL, "action": ALL}, "id"),
    prevent_initial_call=True,
)
