"""Warnings: the filtered list with lifecycle actions, and where they are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import dcc, html

from dashboard import figures, theme
from dashboard.components import make_legend, make_table, make_warning_badge
from dashboard.data import Dashboard
from dashboard.i18n import Lang, category_label, fmt_duration, fmt_num, fmt_time, t
from dashboard.views.common import district_names, district_warning_levels, epoch_of, warning_order
from dashboard.views.wall import city_bounds, district_polygons

STATUSES = ("open", "raised", "acknowledged", "dispatched", "resolved", "closed", "auto_recovered")
#: The lifecycle actions a warning in each status allows (metrics.warnings.lifecycle): API verb per status.
ACTIONS: dict[str, tuple[str, ...]] = {
    "raised": ("ack",),
    "acknowledged": ("dispatch", "resolve"),
    "dispatched": ("resolve",),
}
ALL_ACTIONS = ("ack", "dispatch", "resolve")


def filtered(
    data: Dashboard, level: str | None, status: str | None, district: str | None, stream: str | None
) -> list[Mapping[str, Any]]:
    """The warnings matching the filters (status ``open`` by default), most severe and newest first."""
    found = data.warnings(
        status=status or "open", district=district or None, level=level or None, stream=stream or None
    )
    return warning_order(found)


def action_buttons(warning: Mapping[str, Any], lang: Lang) -> html.Div:
    """Acknowledge / dispatch / resolve, enabled as the warning's status allows (the API checks the user)."""
    allowed = ACTIONS.get(str(warning.get("status")), ())
    return html.Div(
        [
            html.Button(
                t(f"action.{a}", lang),
                id={"type": "warn-action", "id": str(warning["id"]), "action": a},
                className="button",
                disabled=a not in allowed,
                n_clicks=0,
            )
            for a in ALL_ACTIONS
        ],
        className="warn-actions",
    )


def target_cell(warning: Mapping[str, Any], names: Mapping[str, str], lang: Lang) -> Any:
    target = str(warning.get("target") or "")
    if warning.get("scope") == "grid":
        return dcc.Link(f"{t('scope.grid', lang)} {target}", href=f"/grids/{target}")
    if warning.get("scope") == "district":
        return dcc.Link(names.get(target, target), href=f"/rankings/{target}")
    return t(f"scope.{warning.get('scope')}", lang) if warning.get("scope") else target


def warning_table(
    warnings: Sequence[Mapping[str, Any]], names: Mapping[str, str], now: float, lang: Lang
) -> html.Table | html.P:
    if not warnings:
        return html.P(t("warnings.none", lang), className="muted", role="status")
    rows = []
    for w in warnings:
        raised = epoch_of(w.get("raised_at"))
        stream = str(w.get("stream") or "")
        what = " · ".join(
            x
            for x in (
                t(f"stream.{stream}", lang) if stream else "",
                category_label(stream, str(w.get("category") or ""), lang),
                str(w.get("detector") or ""),
            )
            if x
        )
        observed = w.get("observed")
        expected = w.get("expected")
        rows.append(
            [
                make_warning_badge(w.get("level"), lang),
                t(f"status.{w.get('status')}", lang),
                fmt_time(raised, lang) if raised else "–",
                fmt_duration(now - raised, lang) if raised else "–",
                target_cell(w, names, lang),
                html.Div([html.Div(what), html.Div(str(w.get("explanation") or ""), className="muted")]),
                f"{fmt_num(observed, lang, 0)} / {fmt_num(expected, lang, 1)}"
                if observed is not None
                else "–",
                action_buttons(w, lang),
            ]
        )
    header = [
        t("level", lang),
        t("warnings.filter.status", lang),
        t("warnings.col.raised", lang),
        t("warnings.col.age", lang),
        t("warnings.col.target", lang),
        t("warnings.col.what", lang),
        t("warnings.col.observed", lang),
        t("warnings.col.actions", lang),
    ]
    return make_table(header, rows, caption=t("warnings.title", lang), class_name="table warn-table")


def warning_map(
    data: Dashboard, warnings: Sequence[Mapping[str, Any]], lang: Lang
) -> tuple[dict[str, Any], Any]:
    """Districts coloured by their most severe listed warning, cell warnings as markers; and the legend."""
    grid_districts = data.city.grids["district_code"]
    levels = district_warning_levels(warnings, grid_districts)
    names = district_names(data.city.districts, lang)
    fills = {code: theme.WARNING_COLOURS[lv] for code, lv in levels.items()}
    hover = {
        code: f"{name}: {t(f'wlevel.{levels[code]}' if code in levels else 'wlevel.none', lang)}"
        for code, name in names.items()
    }
    figure = figures.district_map(
        district_polygons(data), fills, hover, city_bounds(data), uirevision="warn-map"
    )
    cells = [w for w in warnings if w.get("scope") == "grid" and w.get("target") in data.city.grids.index]
    if cells:
        grids = data.city.grids.loc[[w["target"] for w in cells]]
        figure["data"].append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": grids["lon"].round(5).tolist(),
                "y": grids["lat"].round(5).tolist(),
                "hoverinfo": "text",
                "showlegend": False,
                "text": [t(f"wlevel.{w.get('level')}", lang) + f" · {w['target']}" for w in cells],
                "marker": {
                    "size": 14,
                    "symbol": "diamond",
                    "line": {"color": theme.BACKGROUND, "width": 2},
                    "color": [theme.WARNING_COLOURS.get(w.get("level"), theme.NO_DATA) for w in cells],
                },
            }
        )
    legend = make_legend(
        [(theme.NO_DATA, t("wlevel.none", lang))]
        + [(theme.WARNING_COLOURS[lv], t(f"wlevel.{lv}", lang)) for lv in theme.WARNING_LEVELS],
        title=t("legend", lang),
    )
    return figure, legend


def action_message(result: Mapping[str, Any] | None, lang: Lang) -> str:
    """What the last lifecycle action did, in words."""
    if not result:
        return ""
    if result.get("ok"):
        status = result.get("status")
        return t(
            "action.done", lang, id=result.get("id"), status=t(f"status.{status}", lang) if status else ""
        )
    return t("action.failed", lang, error=result.get("error") or "")
