"""The hazard register (``/hazards``): filters by status, grade and district (within the user's district
scope), the table, and CSV / Excel export for users who may export (every export is audited).

Query: ``status``, ``grade``, ``district`` preset the filters.
"""

from __future__ import annotations

import time
from typing import Any

import dash
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import context, theme
from dashboard.audit import audit
from dashboard.auth import allowed_districts, user_can
from dashboard.components import make_dropdown, make_shell, request_lang, server_option
from dashboard.i18n import lang_of, t
from dashboard.views import hazards as view
from dashboard.views.common import district_names

dash.register_page(__name__, path="/hazards", name="Hazards", title="红棉 Red Kapok — 隐患台账", order=4)


def layout(
    status: str | None = None,
    grade: str | None = None,
    district: str | None = None,
    lang: str | None = None,
    **_query: Any,
) -> html.Div:
    page_lang = request_lang(lang)
    data = context.data()
    allowed = allowed_districts()
    names = district_names(data.city.districts, page_lang)
    choices = view.scoped_districts(names, allowed)
    filters = html.Div(
        [
            make_dropdown(
                view.HAZ_STATUS,
                [(s, t(f"hazstatus.{s}", page_lang)) for s in view.STATUSES],
                status if status in view.STATUSES else "open",
                label=t("hazards.filter.status", page_lang),
            ),
            make_dropdown(
                view.HAZ_GRADE,
                [(g, t(f"grade.{g}", page_lang)) for g in theme.HAZARD_GRADES],
                grade if grade in theme.HAZARD_GRADES else None,
                label=t("hazards.filter.grade", page_lang),
                clearable=True,
            ),
            make_dropdown(
                view.HAZ_DISTRICT,
                [(code, names[code]) for code in choices],
                district if district in choices else None,
                label=t("hazards.filter.district", page_lang),
                clearable=True,
            ),
        ],
        className="controls",
        role="search",
    )
    exports: list[Any] = []
    if user_can("export"):
        exports = [
            html.Button(t("hazards.export.csv", page_lang), id=view.HAZ_CSV, className="button"),
            html.Button(t("hazards.export.xlsx", page_lang), id=view.HAZ_XLSX, className="button"),
        ]
    body = html.Div(
        [
            dcc.Interval(id=view.HAZ_TICK, interval=max(server_option("RK_REFRESH_MS", 5000), 30_000)),
            html.H1(t("hazards.title", page_lang), className="page-title"),
            filters,
            html.Section(
                [
                    html.Div(
                        [
                            html.Span("", id=view.HAZ_COUNT, className="muted", role="status"),
                            *exports,
                            dcc.Download(id=view.HAZ_DOWNLOAD),
                            html.Span("", id=view.HAZ_MESSAGE, className="muted", role="status"),
                        ],
                        className="rank-actions hazard-actions",
                    ),
                    html.Div(id=view.HAZ_TABLE),
                ],
                className="panel",
            ),
        ]
    )
    return make_shell(
        body,
        lang=page_lang,
        path="/hazards",
        page_class="hazards-page",
        query={"status": status, "grade": grade, "district": district},
    )


@callback(
    Output(view.HAZ_TABLE, "children"),
    Output(view.HAZ_COUNT, "children"),
    Input(view.HAZ_STATUS, "value"),
    Input(view.HAZ_GRADE, "value"),
    Input(view.HAZ_DISTRICT, "value"),
    Input(view.HAZ_TICK, "n_intervals"),
    State("rk-lang", "data"),
)
def refresh(
    status: str | None, grade: str | None, district: str | None, _tick: int | None, lang: str | None
) -> tuple[Any, str]:
    page_lang = lang_of(lang)
    data = context.data()
    rows = view.register_rows(data, status, grade, district, allowed_districts())
    names = district_names(data.city.districts, page_lang)
    return view.hazard_table(rows, names, page_lang), view.count_text(len(rows), page_lang)


@callback(
    Output(view.HAZ_DOWNLOAD, "data"),
    Output(view.HAZ_MESSAGE, "children"),
    Input(view.HAZ_CSV, "n_clicks"),
    Input(view.HAZ_XLSX, "n_clicks"),
    State(view.HAZ_STATUS, "value"),
    State(view.HAZ_GRADE, "value"),
    State(view.HAZ_DISTRICT, "value"),
    State("rk-lang", "data"),
    prevent_initial_call=True,
)
def export(
    _csv: int | None,
    _xlsx: int | None,
    status: str | None,
    grade: str | None,
    district: str | None,
    lang: str | None,
) -> tuple[Any, str]:
    page_lang = lang_of(lang)
    # the buttons are only drawn for users who may export, but a callback can be called without them
    if not user_can("export"):
        return no_update, t("hazards.export.denied", page_lang)
    excel = ctx.triggered_id == view.HAZ_XLSX
    data = context.data()
    rows = view.register_rows(data, status, grade, district, allowed_districts())
    fmt = "xlsx" if excel else "csv"
    audit("export.hazards", format=fmt, status=status or "open", grade=grade or "", district=district or "",
          rows=len(rows))
    names = district_names(data.city.districts, page_lang)
    sent = view.export_download(rows, names, excel=excel, lang=page_lang, now=time.time())
    return sent, t("hazards.export.done", page_lang, n=len(rows), format=fmt.upper())
