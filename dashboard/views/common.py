"""Helpers shared by the views: time parsing, warning ordering, district names."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from dashboard import theme
from dashboard.i18n import Lang, district_name


def epoch_of(value: Any) -> float | None:
    """Epoch seconds from a number or an ISO 8601 string with offset; None when absent or unreadable."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def warning_order(warnings: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Most severe first, then newest first (ties by id, so the order is stable between refreshes)."""
    return sorted(
        warnings,
        key=lambda w: (
            -theme.warning_rank(w.get("level")),
            -(epoch_of(w.get("raised_at")) or 0.0),
            str(w.get("id")),
        ),
    )


def district_names(districts: pd.DataFrame, lang: Lang) -> dict[str, str]:
    """District code -> name in ``lang``."""
    return {str(code): district_name(row, lang) for code, row in districts.iterrows()}


def warning_district(warning: Mapping[str, Any], grid_districts: Mapping[str, str]) -> str | None:
    """The district a warning concerns: its target when the scope is a district, the target cell's
    district when it is a cell."""
    target = warning.get("target")
    if warning.get("scope") == "district":
        return str(target) if target is not None else None
    if warning.get("scope") == "grid":
        return grid_districts.get(str(target))
    return None


def district_warning_levels(
    warnings: Iterable[Mapping[str, Any]],
    grid_districts: Mapping[str, str],
) -> dict[str, str]:
    """District code -> the most severe level among the given warnings that concern it."""
    out: dict[str, str] = {}
    for w in warnings:
        code = warning_district(w, grid_districts)
        level = w.get("level")
        if code is None or level not in theme.WARNING_COLOURS:
            continue
        if theme.warning_rank(level) > theme.warning_rank(out.get(code)):
            out[code] = level
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese names right."""
    return frame.to_csv(index=False).encode("utf-8-sig")


def xlsx_bytes(frame: pd.DataFrame, sheet: str) -> bytes:
    """An Excel workbook of one sheet (names are cut to Excel's 31 characters)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.to_excel(writer, index=False, sheet_name=sheet[:31])
    return buffer.getvalue()
