"""The command-center wall: live counters, the district map, open warnings, the ranking strip, the trend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd
from dash import Patch, html

from dashboard import figures, theme
from dashboard.components import make_legend, make_warning_badge
from dashboard.data import ALL_STREAMS, EVENT_STREAMS, Dashboard
from dashboard.i18n import Lang, category_label, fmt_age, fmt_int, fmt_num, fmt_pct_change, fmt_time, t
from dashboard.views.common import district_names, district_warning_levels, epoch_of, warning_order
from dashboard.views.hazards import HazardCounter, hazard_counter
from geo.city import CityModel

WEEK_S = 7 * 86400
#: The wall says the data is stale when the newest event is older than this.
STALE_AFTER_S = 15 * 60
MODES = ("index", "warnings")
MAX_WARNINGS = 8


@dataclass(frozen=True)
class Counter:
    """One stream's live counter: events in the past hour, and the change against the same hour a week
    earlier (None when that hour had no events)."""

    stream: str
    value: int
    week_before: int
    text: str
    change: str
    trend: str  # "up" | "down" | "flat" | "none"


def counters(data: Dashboard, now: float, lang: Lang) -> list[Counter]:
    current = data.stream_counts(now - 3600, now)
    before = data.stream_counts(now - WEEK_S - 3600, now - WEEK_S)
    out = []
    for stream in ALL_STREAMS:
        value, base = current[stream], before[stream]
        change = fmt_pct_change(value, base, lang)
        trend = "none" if change is None else "up" if value > base else "down" if value < base else "flat"
        text = f"{t('wall.vs_last_week', lang)} {change}" if change else t("wall.no_baseline", lang)
        out.append(Counter(stream, value, base, fmt_int(value, lang), text, trend))
    return out


def map_colours(
    data: Dashboard,
    mode: str,
    open_warnings: Sequence[Mapping[str, Any]],
    lang: Lang,
) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str]], str]:
    """District fills, hover texts, legend entries and the title for the map in ``mode``."""
    names = district_names(data.city.districts, lang)
    fills: dict[str, str] = {}
    hover: dict[str, str] = {}
    if mode == "warnings":
        levels = district_warning_levels(open_warnings, data.city.grids["district_code"])
        for code, name in names.items():
            level = levels.get(code)
            fills[code] = theme.WARNING_COLOURS.get(level, theme.NO_DATA) if level else theme.NO_DATA
            hover[code] = f"{name}: {t(f'wlevel.{level}' if level else 'wlevel.none', lang)}"
        legend = [(theme.NO_DATA, t("wlevel.none", lang))] + [
            (theme.WARNING_COLOURS[lv], t(f"wlevel.{lv}", lang)) for lv in theme.WARNING_LEVELS
        ]
        return fills, hover, legend, t("wall.map.warnings", lang)
    index = data.index_latest("district")
    for code, name in names.items():
        scored = index.get(code) or {}
        level = scored.get("level")
        fills[code] = theme.INDEX_LEVEL_COLOURS.get(level, theme.NO_DATA) if level else theme.NO_DATA
        score = scored.get("score")
        hover[code] = (
            f"{name}: {fmt_num(score, lang)} {t(f'level.{level}', lang) if level else ''}".strip()
            if score is not None
            else f"{name}: {t('no_index', lang)}"
        )
    legend = [(colour, t(f"level.{lv}", lang)) for lv, colour in theme.INDEX_LEVEL_COLOURS.items()]
    legend.append((theme.NO_DATA, t("no_index", lang) if not index else t("no_data", lang)))
    return fills, hover, legend, t("wall.map.index", lang)


def warning_items(
    open_warnings: Sequence[Mapping[str, Any]],
    names: Mapping[str, str],
    now: float,
    lang: Lang,
    limit: int = MAX_WARNINGS,
) -> list[html.Li]:
    """The open warnings, most severe and newest first, each with its age (plain text only)."""
    items = []
    for w in warning_order(open_warnings)[:limit]:
        raised = epoch_of(w.get("raised_at"))
        target = str(w.get("target") or "")
        where = names.get(target, target)
        what = category_label(str(w.get("stream") or ""), str(w.get("category") or ""), lang)
        stream = t(f"stream.{w.get('stream')}", lang) if w.get("stream") else ""
        items.append(
            html.Li(
                [
                    make_warning_badge(w.get("level"), lang),
                    html.Span(f"{where} · {stream} {what}".strip(), className="warning-what"),
                    html.Span(fmt_age(now - raised, lang) if raised else "–", className="warning-age"),
                ],
                className=f"warning-item wl-{w.get('level')}",
            )
        )
    return items


def ranking_strip(data: Dashboard, lang: Lang) -> list[html.Li] | html.Div:
    """Districts by rank as chips (rank, name, score), coloured by level."""
    index = data.index_latest("district")
    if not index:
        return html.Div(t("no_index", lang), className="notice", role="status")
    names = district_names(data.city.districts, lang)
    ranked = sorted(
        ((code, s) for code, s in index.items() if s.get("rank") is not None), key=lambda cs: cs[1]["rank"]
    )
    chips = []
    for code, scored in ranked:
        fill = theme.INDEX_LEVEL_COLOURS.get(scored.get("level") or "", theme.NO_DATA)
        chips.append(
            html.Li(
                [
                    html.Span(str(scored["rank"]), className="chip-rank"),
                    html.Span(names.get(code, code), className="chip-name"),
                    html.Span(fmt_num(scored.get("score"), lang), className="chip-score"),
                ],
                className="chip",
                style={"background": fill, "color": theme.text_on(fill)},
            )
        )
    return chips


def staleness(newest_ts: float | None, now: float, lang: Lang) -> tuple[str, bool]:
    """The freshness line and whether it is a staleness alarm."""
    if newest_ts is None:
        return t("stale.none", lang), True
    age = now - newest_ts
    if age > STALE_AFTER_S:
        return t("stale.data", lang, age=fmt_age(age, lang)), True
    return t("fresh", lang, time=fmt_time(now, lang, date=False)), False


def district_polygons(data: Dashboard) -> dict[str, tuple[list, list]]:
    """District code -> simplified outline (x, y lists), computed once per city model."""
    return _polygons(data.city)


@lru_cache(maxsize=4)
def _polygons(city: CityModel) -> dict[str, tuple[list, list]]:
    return {str(code): figures.polygon_xy(shape) for code, shape in city.district_shapes.items()}


def city_bounds(data: Dashboard) -> list[float]:
    x0, y0, x1, y1 = data.city.district_shapes.total_bounds
    return [float(x0), float(y0), float(x1), float(y1)]


def open_warnings(data: Dashboard) -> list[dict[str, Any]]:
    return data.warnings(status="open")


def hourly_frame(data: Dashboard, now: float, hours: int = 48) -> pd.DataFrame:
    """City events per hour and stream over the last ``hours``, every hour present (0 when none), so the
    trend always has the same traces and a refresh can patch their values."""
    frame = data.hourly_city(hours)
    start = (int(now - hours * 3600) // 3600) * 3600
    expected = pd.to_datetime(list(range(start, int(now), 3600)), unit="s", utc=True)
    frame = frame.reindex(columns=list(EVENT_STREAMS), fill_value=0)
    return frame.reindex(expected, fill_value=0).astype(float)


def trend_figure(frame: pd.DataFrame, lang: Lang) -> dict[str, Any]:
    return figures.stream_trend(frame, lang, uirevision="wall-trend")


def map_figure(data: Dashboard, fills: Mapping[str, str], hover: Mapping[str, str]) -> dict[str, Any]:
    return figures.district_map(
        district_polygons(data), fills, hover, city_bounds(data), uirevision="wall-map"
    )


@dataclass(frozen=True)
class WallView:
    """Everything one refresh of the wall shows."""

    counters: list[Counter]
    fills: dict[str, str]
    hover: dict[str, str]
    legend: list[tuple[str, str]]
    map_title: str
    warnings: list[html.Li]
    ranking: list[html.Li] | html.Div
    trend: pd.DataFrame
    freshness: str
    stale: bool
    hazards: HazardCounter


def wall_view(data: Dashboard, mode: str, lang: Lang, now: float) -> WallView:
    """Read everything the wall shows once, at ``now``."""
    warnings = open_warnings(data)
    fills, hover, legend, title = map_colours(data, mode if mode in MODES else "index", warnings, lang)
    names = district_names(data.city.districts, lang)
    items = warning_items(warnings, names, now, lang) or [
        html.Li(t("wall.no_warnings", lang), className="muted")
    ]
    freshness, stale = staleness(data.newest_event_ts(), now, lang)
    return WallView(
        counters(data, now, lang),
        fills,
        hover,
        legend,
        title,
        items,
        ranking_strip(data, lang),
        hourly_frame(data, now),
        freshness,
        stale,
        hazard_counter(data.hazard_summary(None), lang),
    )


def map_patch(data: Dashboard, view: WallView) -> Patch:
    """Only the district colours and hover texts change on a refresh; the outlines stay in the browser."""
    patch = Patch()
    for i, code in enumerate(district_polygons(data)):
        patch["data"][i]["fillcolor"] = view.fills.get(code, theme.NO_DATA)
        patch["data"][i]["text"] = view.hover.get(code, code)
    return patch


def trend_patch(frame: pd.DataFrame) -> Patch:
    """New hourly values (the trend keeps its traces, axes and styling)."""
    patch = Patch()
    x = figures.local_times(frame.index)
    for i, stream in enumerate(frame.columns):
        patch["data"][i]["x"] = x
        patch["data"][i]["y"] = [float(v) for v in frame[stream].tolist()]
    return patch


def refresh_outputs(data: Dashboard, mode: str, lang: Lang, now: float) -> tuple[Any, ...]:
    """The wall refresh callback's outputs, in its output order: counter texts, changes and their classes;
    the map patch, title and legend; warnings; ranking; the trend patch; freshness text and class; the
    time of this refresh (ms) for the client-side watchdog; and the hazard card's value, detail and
    class."""
    v = wall_view(data, mode, lang, now)
    return (
        *(c.text for c in v.counters),
        *(c.change for c in v.counters),
        *(f"counter-change trend-{c.trend}" for c in v.counters),
        map_patch(data, v),
        v.map_title,
        make_legend(v.legend, title=t("legend", lang)),
        v.warnings,
        v.ranking,
        trend_patch(v.trend),
        v.freshness,
        "stale" if v.stale else "fresh",
        now * 1000,
        v.hazards.text,
        v.hazards.detail,
        v.hazards.class_name,
    )
