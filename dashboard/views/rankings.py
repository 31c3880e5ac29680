"""District rankings: the table, its exports, the what-if, and one district's page."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import pandas as pd
from dash import dcc, html

from dashboard import figures
from dashboard.components import make_level_badge, make_notice, make_table
from dashboard.data import ALL_STREAMS, Dashboard
from dashboard.i18n import (
    CITY_TZ,
    Lang,
    category_label,
    fmt_int,
    fmt_num,
    fmt_rank,
    fmt_signed,
    fmt_time,
    label_or,
    t,
)
from dashboard.views.common import csv_bytes, xlsx_bytes
from dashboard.views.grids import indicator_labels
from metrics.index.config import IndexConfig, load_config
from metrics.index.whatif import what_if

DETAIL_DAYS = 7


@lru_cache(maxsize=1)
def index_config() -> IndexConfig:
    return load_config()


def dimensions(lang: Lang) -> list[tuple[str, str]]:
    """(name, label in ``lang``) of the scoring dimensions."""
    return [(d.name, label_or(f"dim.{d.name}", lang, d.label)) for d in index_config().score_dimensions()]


@dataclass(frozen=True)
class RankingRow:
    """One district in the ranking."""

    code: str
    name: str
    score: float | None
    level: str | None
    rank: int | None
    rank_lo: int | None
    rank_hi: int | None
    change_day: float | None
    change_week: float | None
    insufficient: bool
    dimensions: Mapping[str, float | None] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)


def ranking_rows(data: Dashboard, lang: Lang, now: float) -> list[RankingRow]:
    """Every district with its index fields (None before the engine's first run) and 24-hour counts; by
    rank, unranked last (by code)."""
    index = data.index_latest("district")
    counts = data.window_counts("district", 86400, now)
    rows = []
    for code, info in data.city.districts.iterrows():
        s = index.get(code) or {}
        rows.append(
            RankingRow(
                code=str(code),
                name=str(info["name_zh"] if lang == "zh" else info["name_en"]),
                score=s.get("score"),
                level=s.get("level"),
                rank=s.get("rank"),
                rank_lo=s.get("rank_lo"),
                rank_hi=s.get("rank_hi"),
                change_day=s.get("change_day"),
                change_week=s.get("change_week"),
                insufficient=bool(s.get("insufficient", False)),
                dimensions=dict(s.get("dimensions") or {}),
                counts={
                    st: int(counts.at[code, st]) if code in counts.index and st in counts.columns else 0
                    for st in counts.columns
                },
            )
        )
    return sorted(rows, key=lambda r: (r.rank is None, r.rank or 0, r.code))


def ranking_table(rows: Sequence[RankingRow], lang: Lang) -> html.Table:
    dims = dimensions(lang)
    header = [
        t("rank.interval", lang),
        t("district", lang),
        t("index", lang),
        t("level", lang),
        t("change.day", lang),
        t("change.week", lang),
        *(label for _, label in dims),
        t("rankings.counts", lang),
    ]
    body = []
    for r in rows:
        index_cell: Any = fmt_num(r.score, lang) if not r.insufficient else t("insufficient", lang)
        body.append(
            [
                fmt_rank(r.rank, r.rank_lo, r.rank_hi, lang),
                dcc.Link(r.name, href=f"/rankings/{r.code}"),
                index_cell,
                make_level_badge(r.level, lang),
                fmt_signed(r.change_day, lang),
                fmt_signed(r.change_week, lang),
                *(fmt_num(r.dimensions.get(name), lang) for name, _ in dims),
                fmt_int(sum(r.counts.values()), lang),
            ]
        )
    return make_table(header, body, caption=t("rankings.title", lang), class_name="table rank-table")


def export_frame(rows: Sequence[RankingRow], lang: Lang) -> pd.DataFrame:
    """The ranking as a flat table with headers in ``lang`` (numbers stay numbers)."""
    dims = dimensions(lang)
    records = []
    for r in rows:
        rec: dict[str, Any] = {
            t("rank", lang): r.rank,
            t("rank.interval", lang): fmt_rank(r.rank, r.rank_lo, r.rank_hi, lang),
            "code": r.code,
            t("district", lang): r.name,
            t("index", lang): None if r.score is None else round(float(r.score), 2),
            t("level", lang): r.level,
            t("change.day", lang): r.change_day,
            t("change.week", lang): r.change_week,
        }
        for name, label in dims:
            value = r.dimensions.get(name)
            rec[label] = None if value is None else round(float(value), 2)
        for stream in ALL_STREAMS:
            if stream in r.counts:
                rec[f"{t(f'stream.{stream}', lang)} (24h)"] = r.counts[stream]
        records.append(rec)
    return pd.DataFrame.from_records(records)


def export_download(data: Dashboard, *, excel: bool, lang: Lang, now: float) -> dict[str, Any]:
    """The ranking as a ``dcc.Download`` payload: Excel (``.xlsx``) or CSV."""
    frame = export_frame(ranking_rows(data, lang, now), lang)
    stamp = datetime.fromtimestamp(now, tz=CITY_TZ).strftime("%Y%m%d-%H%M")
    if excel:
        return dcc.send_bytes(xlsx_bytes(frame, t("rankings.title", lang)), f"rankings-{stamp}.xlsx")
    return dcc.send_bytes(csv_bytes(frame), f"rankings-{stamp}.csv")


# ------------------------------------------------------------------------------------------ what-if


def default_weights() -> dict[str, float]:
    return {d.name: float(d.weight) for d in index_config().score_dimensions()}


def whatif_table(data: Dashboard, weights: Mapping[str, float], lang: Lang) -> list[Any]:
    """Scores and ranks recomputed from the stored snapshot's indicator scores with ``weights``
    (``metrics.index.whatif.what_if``), next to the official rank."""
    found = data.index_frame("district")
    if found is None or found[0].empty:
        return [make_notice(t("no_index.long", lang))]
    snapshot = found[0]
    if sum(max(0.0, float(w)) for w in weights.values()) <= 0:
        weights = default_weights()
    try:
        result = what_if(
            snapshot, index_config(), dimension_weights={k: max(0.0, float(v)) for k, v in weights.items()}
        )
    except ValueError:
        # a snapshot of another indicator system (its index version moved on): nothing to recompute
        return [make_notice(t("no_index.long", lang))]
    names = {
        str(c): str(r["name_zh"] if lang == "zh" else r["name_en"]) for c, r in data.city.districts.iterrows()
    }
    result = result.assign(_order=result["rank"].fillna(math.inf)).sort_values(["_order"])
    rows = []
    for code, r in result.iterrows():
        change = r["rank_change"]
        arrow = "" if pd.isna(change) or change == 0 else ("▲" if change > 0 else "▼") + str(int(abs(change)))
        rows.append(
            [
                "–" if pd.isna(r["rank"]) else str(int(r["rank"])),
                names.get(str(code), str(code)),
                fmt_num(None if pd.isna(r["score"]) else float(r["score"]), lang),
                "–" if pd.isna(r["rank_before"]) else str(int(r["rank_before"])),
                html.Span(
                    arrow,
                    className="rank-move-up" if (not pd.isna(change) and change > 0) else "rank-move-down",
                ),
            ]
        )
    return [
        make_table(
            [
                t("rankings.whatif.rank", lang),
                t("district", lang),
                t("rankings.whatif.score", lang),
                t("rank", lang),
                "±",
            ],
            rows,
            class_name="table",
        )
    ]


# ------------------------------------------------------------------------------------------ one district


def district_detail(data: Dashboard, code: str, lang: Lang, now: float) -> list[Any]:
    """A district's page body: index, level, rank, trend, drivers, hourly events and latest events."""
    if code not in data.city.districts.index:
        return [
            make_notice(t("rankings.unknown", lang, code=code), kind="warn"),
            dcc.Link(t("rankings.back", lang), href="/rankings"),
        ]
    info = data.city.districts.loc[code]
    scored = data.index_latest("district").get(code) or {}
    history = data.index_history("district", code, "1h", hours=DETAIL_DAYS * 24)
    hourly = data.district_hourly(code, now - DETAIL_DAYS * 86400, now)
    labels = {k: label_or(f"ind.{k}", lang, v) for k, v in indicator_labels().items()}
    name = str(info["name_zh"] if lang == "zh" else info["name_en"])
    summary: list[Any] = [
        dcc.Link(t("rankings.back", lang), href="/rankings"),
        html.H1(name, className="page-title"),
    ]
    if scored:
        summary.append(
            html.P(
                [
                    f"{t('index', lang)} {fmt_num(scored.get('score'), lang)} ",
                    make_level_badge(scored.get("level"), lang),
                    f" · {t('rank.interval', lang)} "
                    + fmt_rank(scored.get("rank"), scored.get("rank_lo"), scored.get("rank_hi"), lang),
                    f" · {t('change.day', lang)} {fmt_signed(scored.get('change_day'), lang)}",
                    f" · {t('change.week', lang)} {fmt_signed(scored.get('change_week'), lang)}",
                ]
            )
        )
    else:
        summary.append(make_notice(t("no_index.long", lang)))
    recent = data.store.recent_events(district_code=code, limit=15)
    recent_rows = [
        [
            fmt_time(e.get("ts"), lang),
            t(f"stream.{e.get('stream')}", lang),
            category_label(str(e.get("stream")), str(e.get("category")), lang),
            str(e.get("stage", "")),
            str(e.get("caller_mask") or ""),
        ]
        for e in recent
    ]
    return [
        *summary,
        html.Div(
            [
                html.Section(
                    [
                        html.H2(t("rankings.trend", lang), className="panel-title"),
                        dcc.Graph(
                            figure=figures.index_trend(
                                history, lang, thresholds=index_config().levels.thresholds
                            ),
                            config={
                                "displaylogo": False,
                                "toImageButtonOptions": {"filename": f"index-{code}"},
                            },
                            className="detail-graph",
                        ),
                    ],
                    className="panel",
                ),
                html.Section(
                    [
                        html.H2(t("rankings.drivers", lang), className="panel-title"),
                        dcc.Graph(
                            figure=figures.contributions_bar(scored.get("contributions") or {}, labels, lang),
                            config={
                                "displaylogo": False,
                                "toImageButtonOptions": {"filename": f"drivers-{code}"},
                            },
                            className="detail-graph",
                        ),
                    ],
                    className="panel",
                ),
                html.Section(
                    [
                        html.H2(t("grids.trend", lang), className="panel-title"),
                        dcc.Graph(
                            figure=figures.stream_trend(hourly, lang, uirevision=f"district-{code}"),
                            config={
                                "displaylogo": False,
                                "toImageButtonOptions": {"filename": f"events-{code}"},
                            },
                            className="detail-graph",
                        ),
                    ],
                    className="panel",
                ),
                html.Section(
                    [
                        html.H2(t("rankings.recent", lang), className="panel-title"),
                        make_table(
                            [
                                t("time", lang),
                                t("warnings.filter.stream", lang),
                                t("category", lang),
                                t("stage", lang),
                                t("details", lang),
                            ],
                            recent_rows,
                        )
                        if recent_rows
                        else html.P(t("no_data", lang), className="muted"),
                    ],
                    className="panel",
                ),
            ],
            className="district-body",
        ),
    ]
