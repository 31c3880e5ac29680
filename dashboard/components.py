"""Shared widgets as ``make_*`` factories: the page shell (navigation, language switch), badges, legends,
counters, tables. Every text they show is a plain string child (never HTML)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import flask
from dash import dcc, html

from dashboard import ids, theme
from dashboard.i18n import COOKIE, Lang, lang_of, t

#: Navigation entries: (path, label key).
NAV: tuple[tuple[str, str], ...] = (
    ("/", "nav.wall"),
    ("/rankings", "nav.rankings"),
    ("/grids", "nav.grids"),
    ("/warnings", "nav.warnings"),
    ("/hazards", "nav.hazards"),
)


def request_lang(query_lang: str | None = None) -> Lang:
    """The page language: ``?lang=``, else the ``rk_lang`` cookie, else Chinese."""
    if query_lang:
        return lang_of(query_lang)
    if flask.has_request_context():
        return lang_of(flask.request.cookies.get(COOKIE))
    return lang_of(None)


def server_option(name: str, default: Any) -> Any:
    """A dashboard option that ``create_app`` put in the Flask config (defaults outside a request)."""
    if flask.has_app_context():
        return flask.current_app.config.get(name, default)
    return default


def is_on(value: str | None) -> bool:
    """A query flag: ``1``, ``true``, ``yes``, ``on``."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def make_shell(
    body: Any,
    *,
    lang: Lang,
    path: str,
    query: Mapping[str, str] | None = None,
    kiosk: bool = False,
    page_class: str = "",
) -> html.Div:
    """A page: top bar (navigation, language switch, login note) unless ``kiosk``, and the body."""
    query = {k: v for k, v in (query or {}).items() if v is not None and k != "lang"}
    other: Lang = "en" if lang == "zh" else "zh"
    children: list[Any] = [dcc.Store(id=ids.LANG, data=lang)]
    if not kiosk:
        children.append(
            html.Header(
                [
                    html.Span(t("brand", lang), className="brand"),
                    html.Nav(
                        [
                            dcc.Link(
                                t(key, lang),
                                href=href,
                                className="nav-link active" if _active(href, path) else "nav-link",
                            )
                            for href, key in NAV
                        ],
                        id=ids.NAV,
                        **{"aria-label": t("brand", lang)},
                    ),
                        html.A(
                        t("lang.switch", lang),
                        id=ids.LANG_SWITCH,
                        className="lang-switch",
                        href=f"{path}?{urlencode({**query, 'lang': other})}",
                        lang=other,
                        title=t("lang.switch.label", lang),
                    ),
                ],
                className="topbar",
            )
        )
    children.append(html.Main(body, className=f"page {page_class}".strip()))
    return html.Div(
        children, id=ids.SHELL, className="shell kiosk" if kiosk else "shell", lang=_html_lang(lang)
    )


def _html_lang(lang: Lang) -> str:
    return "zh-CN" if lang == "zh" else "en"


def _active(href: str, path: str) -> bool:
    return path == href if href == "/" else path.startswith(href)


def make_level_badge(level: str | None, lang: Lang) -> html.Span:
    """An index level A–D as a coloured badge with its name (the letter is always shown)."""
    if level not in theme.INDEX_LEVEL_COLOURS:
        return html.Span("–", className="badge badge-none")
    fill = theme.INDEX_LEVEL_COLOURS[level]
    return html.Span(
        t(f"level.{level}", lang), className="badge", style={"background": fill, "color": theme.text_on(fill)}
    )


def make_warning_badge(level: str | None, lang: Lang) -> html.Span:
    """A warning level as a coloured badge with its name."""
    if level not in theme.WARNING_COLOURS:
        return html.Span(t("wlevel.none", lang), className="badge badge-none")
    fill = theme.WARNING_COLOURS[level]
    return html.Span(
        t(f"wlevel.{level}", lang),
        className=f"badge wbadge-{level}",
        style={"background": fill, "color": theme.text_on(fill)},
    )


def make_hazard_badge(grade: str | None, lang: Lang) -> html.Span:
    """A hazard grade A–D as a coloured badge with its letter and name (readable without the colour)."""
    if grade not in theme.HAZARD_GRADE_COLOURS:
        return html.Span("–", className="badge badge-none")
    fill = theme.HAZARD_GRADE_COLOURS[grade]
    return html.Span(
        t(f"grade.{grade}", lang),
        className=f"badge hbadge-{grade}",
        style={"background": fill, "color": theme.text_on(fill)},
    )


def make_legend(entries: Sequence[tuple[str, str]], *, title: str, element_id: str | None = None) -> html.Div:
    """A legend of (colour, label) swatches: the map's colours said in words."""
    kwargs = {"id": element_id} if element_id else {}
    return html.Div(
        [
            html.Span(title, className="legend-title"),
            *(
                html.Span(
                    [html.Span(className="swatch", style={"background": colour}), html.Span(label)],
                    className="legend-item",
                )
                for colour, label in entries
            ),
        ],
        className="legend",
        role="list",
        **kwargs,
    )


def make_counter(
    stream: str,
    lang: Lang,
    *,
    value: str = "–",
    change: str = "",
    trend: str = "none",
) -> html.Div:
    """A big live counter of a stream: its value and its change (the page's refresh updates both)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span(className="stream-dot", style={"background": theme.STREAM_COLOURS[stream]}),
                    t(f"stream.{stream}", lang),
                ],
                className="counter-label",
            ),
            html.Div(value, id=ids.wall_count(stream), className="counter-value"),
            html.Div(change, id=ids.wall_change(stream), className=f"counter-change trend-{trend}"),
        ],
        className="counter",
    )


def make_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    caption: str | None = None,
    element_id: str | None = None,
    class_name: str = "table",
) -> html.Table:
    """A plain, accessible HTML table (header cells with scope, optional caption)."""
    kwargs = {"id": element_id} if element_id else {}
    parts: list[Any] = []
    if caption:
        parts.append(html.Caption(caption))
    parts.append(html.Thead(html.Tr([html.Th(h, scope="col") for h in header])))
    parts.append(html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows]))
    return html.Table(parts, className=class_name, **kwargs)


def make_notice(text: str, *, kind: str = "info") -> html.Div:
    """A one-line notice (e.g. "no index yet"), announced politely to screen readers."""
    return html.Div(text, className=f"notice notice-{kind}", role="status")


def make_dropdown(
    element_id: str,
    options: Sequence[tuple[str, str]],
    value: str | None,
    *,
    label: str,
    clearable: bool = False,
) -> html.Div:
    """A labelled dropdown of (value, label) options."""
    return html.Div(
        [
            html.Label(label, htmlFor=element_id, className="control-label"),
            dcc.Dropdown(
                id=element_id,
                options=[{"value": v, "label": lab} for v, lab in options],
                value=value,
                clearable=clearable,
                className="dropdown",
            ),
        ],
        className="control",
    )


def graph_config(filename: str, *, modebar: bool = True) -> dict[str, Any]:
    """dcc.Graph config: PNG export by the modebar (drawn client-side, works offline), no Plotly logo."""
    return {
        "displayModeBar": modebar,
        "displaylogo": False,
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    }
