"""The hazard register in the dashboard: the analysts' table and its export, the wall's overdue card and
the grid map's hazard layer. Every value from the register is shown as a plain string (never markup)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from dash import dcc, html

from dashboard import theme
from dashboard.components import make_hazard_badge, make_table
from dashboard.data import Dashboard
from dashboard.i18n import CITY_TZ, Lang, category_label, fmt_duration, fmt_int, fmt_time, t
from dashboard.views.common import csv_bytes, district_names, epoch_of, xlsx_bytes

STATUSES = ("open", "overdue", "closed", "all")
#: Rows the page's table shows (the export holds every matching hazard).
TABLE_ROWS = 500
#: Markers the grid map draws at most (the most overdue first); the register holds a few thousand open.
MAX_MARKERS = 5000

# Component ids of the hazard widgets (assets/rk.js reads none of them).
WALL_HAZARD_CARD = "wall-hazard-card"
WALL_HAZARD_VALUE = "wall-hazard-value"
WALL_HAZARD_DETAIL = "wall-hazard-detail"
GRID_HAZARD_LAYER = "grid-hazard-layer"
HAZ_STATUS = "hazard-status"
HAZ_GRADE = "hazard-grade"
HAZ_DISTRICT = "hazard-district"
HAZ_TABLE = "hazard-table"
HAZ_COUNT = "hazard-count"
HAZ_CSV = "hazard-csv"
HAZ_XLSX = "hazard-xlsx"
HAZ_DOWNLOAD = "hazard-download"
HAZ_MESSAGE = "hazard-message"
HAZ_TICK = "hazard-tick"


# ------------------------------------------------------------------------------------------ register


def scoped_districts(codes: Iterable[str], allowed: frozenset[str] | None) -> list[str]:
    """The district codes a user may pick: all of ``codes`` for an unscoped user (``allowed`` None)."""
    return [c for c in codes if allowed is None or c in allowed]


def register_rows(
    data: Dashboard,
    status: str | None,
    grade: str | None,
    district: str | None,
    allowed: frozenset[str] | None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """The hazards matching the filters (status ``open`` by default), most overdue first, restricted to
    the ``allowed`` districts (None: every district). A district outside the scope matches nothing."""
    status = status if status in STATUSES else "open"
    if district and allowed is not None and district not in allowed:
        return []
    rows = data.hazards(status, district or None, now=now)
    if grade in theme.HAZARD_GRADES:
        rows = [h for h in rows if h.get("grade") == grade]
    if allowed is not None:
        rows = [h for h in rows if h.get("district") in allowed]
    return rows


def _due_text(hazard: Mapping[str, Any], lang: Lang) -> str:
    due = epoch_of(hazard.get("due"))
    text = fmt_time(due, lang) if due is not None else "–"
    return text + t("hazards.due.estimated", lang) if hazard.get("due_estimated") else text


def _overdue_text(hazard: Mapping[str, Any], lang: Lang) -> str:
    if not hazard.get("overdue"):
        return t("hazards.overdue.no", lang)
    return t("hazards.overdue.yes", lang, age=fmt_duration(float(hazard.get("overdue_hours") or 0) * 3600, lang))


def _stage_text(stage: Any, lang: Lang) -> str:
    return t(f"hzstage.{stage}", lang) if stage else "–"


def hazard_table(
    rows: Sequence[Mapping[str, Any]], names: Mapping[str, str], lang: Lang, *, limit: int = TABLE_ROWS
) -> html.Table | html.P:
    """The register as a plain table (grade badge with its letter and name; every other cell text)."""
    if not rows:
        return html.P(t("hazards.none", lang), className="muted", role="status")
    body = []
    for h in rows[:limit]:
        district = str(h.get("district") or "")
        grid = h.get("grid")
        body.append(
            [
                str(h.get("id") or ""),
                make_hazard_badge(h.get("grade"), lang),
                category_label("hazards", str(h.get("category") or ""), lang),
                names.get(district, district),
                dcc.Link(str(grid), href=f"/grids/{grid}") if grid else "–",
                _stage_text(h.get("stage"), lang),
                fmt_time(epoch_of(h.get("reported_at")), lang) if h.get("reported_at") else "–",
                _due_text(h, lang),
                html.Span(_overdue_text(h, lang), className="overdue" if h.get("overdue") else "on-time"),
                t(f"escalation.{h.get('escalation') or 'none'}", lang),
            ]
        )
    header = [
        t(f"hazards.col.{c}", lang)
        for c in ("id", "grade", "category", "district", "grid", "stage", "reported", "due", "overdue",
                  "escalation")
    ]
    return make_table(header, body, caption=t("hazards.title", lang), class_name="table hazard-table")


def count_text(n: int, lang: Lang, *, limit: int = TABLE_ROWS) -> str:
    if n > limit:
        return t("hazards.count.cut", lang, n=fmt_int(n, lang), shown=fmt_int(limit, lang))
    return t("hazards.count", lang, n=fmt_int(n, lang))


def export_frame(rows: Sequence[Mapping[str, Any]], names: Mapping[str, str], lang: Lang) -> pd.DataFrame:
    """The register rows as a flat table with headers in ``lang`` (times in city time, hours a number)."""

    def local(value: Any) -> str:
        ts = epoch_of(value)
        return datetime.fromtimestamp(ts, tz=CITY_TZ).isoformat(timespec="minutes") if ts is not None else ""

    columns = ("id", "grade", "category", "district", "grid", "stage", "reported", "due", "overdue",
               "overdue_hours", "escalation")
    records = [
        (
            _inert(str(h.get("id") or "")),
            str(h.get("grade") or ""),
            category_label("hazards", str(h.get("category") or ""), lang),
            names.get(str(h.get("district") or ""), str(h.get("district") or "")),
            str(h.get("grid") or ""),
            _stage_text(h.get("stage"), lang),
            local(h.get("reported_at")),
            local(h.get("due")),
            t("hazards.overdue", lang) if h.get("overdue") else t("hazards.overdue.no", lang),
            float(h.get("overdue_hours") or 0.0),
            t(f"escalation.{h.get('escalation') or 'none'}", lang),
        )
        for h in rows
    ]
    return pd.DataFrame.from_records(records, columns=[t(f"hazards.col.{c}", lang) for c in columns])


def _inert(text: str) -> str:
    """A text a spreadsheet will not run as a formula (ids come from outside)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_download(
    rows: Sequence[Mapping[str, Any]], names: Mapping[str, str], *, excel: bool, lang: Lang, now: float
) -> dict[str, Any]:
    """The filtered register as a ``dcc.Download`` payload: Excel (``.xlsx``) or CSV (UTF-8 with BOM)."""
    frame = export_frame(rows, names, lang)
    stamp = datetime.fromtimestamp(now, tz=CITY_TZ).strftime("%Y%m%d-%H%M")
    if excel:
        return dcc.send_bytes(xlsx_bytes(frame, t("hazards.title", lang)), f"hazards-{stamp}.xlsx")
    return dcc.send_bytes(csv_bytes(frame), f"hazards-{stamp}.csv")


# ------------------------------------------------------------------------------------------ wall card


@dataclass(frozen=True)
class HazardCounter:
    """The wall's hazard card: overdue and open A and B hazards; an alarm when an A one is overdue."""

    overdue_a: int
    overdue_b: int
    open_a: int
    open_b: int
    text: str
    detail: str
    alarm: bool

    @property
    def class_name(self) -> str:
        return "counter hazard-counter alarm" if self.alarm else "counter hazard-counter"


def hazard_counter(summary: Mapping[str, Mapping[str, int]], lang: Lang) -> HazardCounter:
    """The card's numbers and texts from ``Dashboard.hazard_summary`` (``open``/``overdue`` per grade)."""
    overdue, opened = summary.get("overdue", {}), summary.get("open", {})
    oa, ob = int(overdue.get("A", 0)), int(overdue.get("B", 0))
    a, b = int(opened.get("A", 0)), int(opened.get("B", 0))
    alarm = oa > 0
    detail = t("wall.hazards.detail", lang, oa=fmt_int(oa, lang), ob=fmt_int(ob, lang), a=fmt_int(a, lang),
               b=fmt_int(b, lang))
    if alarm:  # said in words too, not by the red alone
        detail = f"⚠ {t('wall.hazards.alarm', lang)} · {detail}"
    return HazardCounter(oa, ob, a, b, fmt_int(oa + ob, lang), detail, alarm)


def hazard_counter_card(counter: HazardCounter, lang: Lang) -> html.Div:
    """The card as the wall shows it (the refresh updates its value, detail and class)."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span(className="stream-dot", style={"background": theme.HAZARD_GRADE_COLOURS["A"]}),
                    t("wall.hazards", lang),
                ],
                className="counter-label",
            ),
            html.Div(counter.text, id=WALL_HAZARD_VALUE, className="counter-value"),
            html.Div(counter.detail, id=WALL_HAZARD_DETAIL, className="counter-change"),
        ],
        id=WALL_HAZARD_CARD,
        className=counter.class_name,
        role="status",
    )


# ------------------------------------------------------------------------------------------ map layer


def hazard_layer(
    data: Dashboard,
    district: str | None,
    allowed: frozenset[str] | None,
    lang: Lang,
    *,
    limit: int = MAX_MARKERS,
) -> dict[str, Any]:
    """Open hazards as markers at their cell's centre: positions, grade colour and shape, overdue ones
    bigger with a light outline, and a hover text each; plus the legend entries and a summary line."""
    rows = register_rows(data, "open", None, district, allowed)
    grids = data.city.grids
    placed = [h for h in rows if h.get("grid") in grids.index]
    unplaced = len(rows) - len(placed)
    cut = len(placed) > limit
    placed = placed[:limit]  # most overdue first: the ones that matter most stay on the map
    cells = grids.loc[[h["grid"] for h in placed]] if placed else grids.iloc[:0]
    names = district_names(data.city.districts, lang)
    texts = []
    for h in placed:
        district_code = str(h.get("district") or "")
        texts.append(
            " · ".join(
                (
                    str(h.get("id") or ""),
                    t(f"grade.{h.get('grade')}", lang),
                    category_label("hazards", str(h.get("category") or ""), lang),
                    names.get(district_code, district_code),
                    f"{t('hazards.col.due', lang)} {_due_text(h, lang)}",
                    _overdue_text(h, lang),
                )
            )
        )
    late = [bool(h.get("overdue")) for h in placed]
    grades = [str(h.get("grade") or "") for h in placed]
    summary = t("grids.hazard_summary", lang, n=fmt_int(len(placed), lang), late=fmt_int(sum(late), lang))
    if cut:
        summary += t("grids.hazard_summary.cut", lang, n=fmt_int(limit, lang))
    if unplaced:
        summary += " " + t("grids.hazard_summary.no_cell", lang, n=fmt_int(unplaced, lang))
    return {
        "x": cells["lon"].round(5).tolist(),
        "y": cells["lat"].round(5).tolist(),
        "colour": [theme.HAZARD_GRADE_COLOURS.get(g, theme.NO_DATA) for g in grades],
        "symbol": [theme.HAZARD_GRADE_SYMBOLS.get(g, "circle") for g in grades],
        "size": [theme.HAZARD_OVERDUE_SIZE if x else theme.HAZARD_MARKER_SIZE for x in late],
        "line_colour": [theme.HAZARD_OVERDUE_OUTLINE if x else theme.HAZARD_OUTLINE for x in late],
        "line_width": [3 if x else 1 for x in late],
        "text": texts,
        "legend": [
            {
                "name": t(f"grade.{g}", lang),
                "colour": theme.HAZARD_GRADE_COLOURS[g],
                "symbol": theme.HAZARD_GRADE_SYMBOLS[g],
            }
            for g in theme.HAZARD_GRADES
        ],
        "legend_overdue": t("grids.hazard_legend.overdue", lang),
        "overdue_size": theme.HAZARD_OVERDUE_SIZE,
        "overdue_outline": theme.HAZARD_OVERDUE_OUTLINE,
        "summary": summary,
    }
