"""District rankings (``/rankings``; ``/rankings/<code>`` for one district): the table with rank
intervals and dimension scores, CSV and Excel export, and the what-if of dimension weights."""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html

from dashboard import context, ids
from dashboard.components import make_notice, make_shell, request_lang
from dashboard.i18n import lang_of, t
from dashboard.views import rankings as view

dash.register_page(__name__, path="/rankings", name="Rankings", title="红棉 Red Kapok — 区排名", order=1)


def _whatif_panel(lang: str) -> html.Section:
    page_lang = lang_of(lang)
    weights = view.default_weights()
    rows = []
    for name, label in view.dimensions(page_lang):
        slider_id = {"type": ids.RANK_WEIGHT, "dim": name}
        rows.append(
            html.Div(
                [
                    html.Label(label, className="control-label"),
                    dcc.Slider(
                        id=slider_id,
                        min=0,
                        max=1,
                        step=0.05,
                        value=round(weights[name], 2),
                        marks=None,
                        tooltip={"placement": "bottom", "always_visible": False},
                        updatemode="mouseup",
                    ),
                ],
                className="whatif-row",
            )
        )
    return html.Section(
        [
            html.H2(t("rankings.whatif", page_lang), className="panel-title"),
            html.P(t("rankings.whatif.help", page_lang), className="muted"),
            *rows,
            html.Button(t("rankings.whatif.reset", page_lang), id=ids.RANK_WHATIF_RESET, className="button"),
            html.Div(id=ids.RANK_WHATIF),
        ],
        className="panel",
    )


def layout(code: str | None = None, lang: str | None = None, **_query: Any) -> html.Div:
    page_lang = request_lang(lang)
    data = context.data()
    now = time.time()
    if code is not None:
        return make_shell(
            view.district_detail(data, code, page_lang, now),
            lang=page_lang,
            path=f"/rankings/{code}",
            page_class="rankings-page",
        )
    rows = view.ranking_rows(data, page_lang, now)
    notice = [] if data.index_latest("district") else [make_notice(t("no_index.long", page_lang))]
    body = html.Div(
        [
            html.H1(t("rankings.title", page_lang), className="page-title"),
            *notice,
            html.Div(
                [
                    html.Section(
                        [
                            html.Div(
                                [
                                    html.Button(
                                        t("rankings.export.csv", page_lang),
                                        id=ids.RANK_CSV,
                                        className="button",
                                    ),
                                    html.Button(
                                        t("rankings.export.xlsx", page_lang),
                                        id=ids.RANK_XLSX,
                                        className="button",
                                    ),
                                    dcc.Download(id=ids.RANK_DOWNLOAD),
                                ],
                                className="rank-actions",
                            ),
                            html.Div(view.ranking_table(rows, page_lang), id=ids.RANK_TABLE),
                        ],
                        className="panel",
                    ),
                    _whatif_panel(page_lang),
                ],
                className="rank-body",
            ),
        ]
    )
    return make_shell(body, lang=page_lang, path="/rankings", page_class="rankings-page")


dash.register_page(
    "dashboard.pages.rankings_district",
    path_template="/rankings/<code>",
    name="District",
    title="红棉 Red Kapok — 区",
    layout=layout,
)


@callback(
    Output(ids.RANK_DOWNLOAD, "data"),
    Input(ids.RANK_CSV, "n_clicks"),
    Input(ids.RANK_XLSX, "n_clicks"),
    State(ids.LANG, "data"),
    prevent_initial_call=True,
)
def export(_csv: int | None, _xlsx: int | None, lang: str | None) -> dict[str, Any]:
    return view.export_download(
        context.data(), excel=ctx.triggered_id == ids.RANK_XLSX, lang=lang_of(lang), now=time.time()
    )


@callback(
    Output(ids.RANK_WHATIF, "children"),
    Input({"type": ids.RANK_WEIGHT, "dim": ALL}, "value"),
    State({"type": ids.RANK_WEIGHT, "dim": ALL}, "id"),
    State(ids.LANG, "data"),
)
def recompute(values: list[float | None], slider_ids: list[dict[str, str]], lang: str | None) -> list[Any]:
    weights = {sid["dim"]: float(v or 0.0) for sid, v in zip(slider_ids, values, strict=True)}
    return view.whatif_table(context.data(), weights, lang_of(lang))


@callback(
    Output({"type": ids.RANK_WEIGHT, "dim": ALL}, "value"),
    Input(ids.RANK_WHATIF_RESET, "n_clicks"),
    State({"type": ids.RANK_WEIGHT, "dim": ALL}, "id"),
    prevent_initial_call=True,
)
def reset(_n: int | None, slider_ids: list[dict[str, str]]) -> list[float]:
    weights = view.default_weights()
    return [round(weights.get(sid["dim"], 0.0), 2) for sid in slider_ids]
