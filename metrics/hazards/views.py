"""Read views of the register: the ``/api/v1/hazards`` answers and the index attributes. Pure.

The route handlers fetch the stored entries and pass them here (bytes, or a frame already decoded with
:func:`metrics.hazards.register.entries_frame`); nothing here touches Redis.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from metrics.hazards.config import HazardsConfig, default_config
from metrics.hazards.errors import HazardQueryError
from metrics.hazards.register import entries_frame
from metrics.hazards.sweep import evaluate, iso
from streams.schemas import GRADES

#: ``status`` values of ``/api/v1/hazards``.
STATUSES: tuple[str, ...] = ("open", "overdue", "closed", "all")

Entries = Iterable[bytes | str] | pd.DataFrame


def _frame(entries: Entries) -> pd.DataFrame:
    return entries if isinstance(entries, pd.DataFrame) else entries_frame(entries)


def _in_district(frame: pd.DataFrame, district: str | None) -> pd.DataFrame:
    if district is None:
        return frame
    return frame[frame["district"].to_numpy(dtype=object) == district]


def list_hazards(entries: Entries, now: float, status: str = "open", district: str | None = None, *,
                 config: HazardsConfig | None = None, limit: int | None = None) -> dict[str, Any]:
    """``GET /api/v1/hazards?status=…&district=…``: the matching hazards, most overdue first.

    Args:
        entries: stored register entries, or their frame.
        now: the clock (epoch s) overdue and escalation are judged at.
        status: ``open`` (not verified), ``overdue`` (open and past due), ``closed`` (verified) or ``all``.
        district: a 6-digit district code to keep only its hazards (the route checks the code exists).
        limit: keep at most this many (after sorting).

    Each hazard: ``id``, ``grade``, ``category``, ``district``, ``grid`` (None without position),
    ``stage``, ``due`` (ISO 8601 UTC), ``overdue`` (bool), ``escalation`` (``none``, ``street``,
    ``district``, ``city``), and the extensions ``due_estimated``, ``overdue_hours``, ``reported_at``.
    Raises :class:`HazardQueryError` for an unknown ``status``.
    """
    if status not in STATUSES:
        raise HazardQueryError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    if limit is not None and limit < 0:
        raise HazardQueryError(f"limit must be a non-negative integer, got {limit!r}")
    frame = _in_district(_frame(entries), district)
    st = evaluate(frame, now, config or default_config())
    keep = {
        "open": st["open"].to_numpy(dtype=bool),
        "overdue": st["overdue"].to_numpy(dtype=bool),
        "closed": ~st["open"].to_numpy(dtype=bool),
        "all": np.ones(len(st), dtype=bool),
    }[status]
    st = st[keep]
    # most overdue first, then nearest deadline; id for a stable order
    order = np.lexsort((st["id"].to_numpy(dtype=str), st["due_at"].to_numpy(), -st["overdue_s"].to_numpy()))
    st = st.iloc[order[:limit] if limit is not None else order]
    hazards = []
    for row in st.itertuples(index=False):
        hazards.append({
            "id": row.id,
            "grade": row.grade,
            "category": row.category,
            "district": row.district,
            "grid": row.grid if isinstance(row.grid, str) and row.grid else None,
            "stage": row.stage,
            "due": iso(row.due_at),
            "overdue": bool(row.overdue),
            "escalation": row.escalation,
            "due_estimated": bool(row.due_estimated),
            "overdue_hours": round(float(row.overdue_s) / 3600.0, 2),
            "reported_at": iso(row.reported_at),
        })
    return {"hazards": hazards}


def summary(entries: Entries, now: float, district: str | None = None, *,
            config: HazardsConfig | None = None) -> dict[str, dict[str, int]]:
    """``GET /api/v1/hazards/summary?district=…``: open and overdue hazards per grade (every grade listed)."""
    st = evaluate(_in_district(_frame(entries), district), now, config or default_config())
    grade = st["grade"].to_numpy(dtype=object)
    is_open = st["open"].to_numpy(dtype=bool)
    overdue = st["overdue"].to_numpy(dtype=bool)
    return {
        "open": {g: int((is_open & (grade == g)).sum()) for g in GRADES},
        "overdue": {g: int((overdue & (grade == g)).sum()) for g in GRADES},
    }


def index_attributes(entries: Entries, now: float, *, config: HazardsConfig | None = None,
                     district_codes: Iterable[str] | None = None,
                     grid_ids: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """The register's index attributes per level (the index engine's ``extra_attributes``).

    Returns ``{"district": …, "grid": …, "city": …}``, frames indexed by ``district_code`` / ``grid_id`` /
    ``"city"`` with columns ``hazards_open_weighted`` (sum over open hazards of the grade weight, A=8,
    B=4, C=2, D=1 by default), ``hazards_overdue_share`` (overdue / open, 0 where nothing is open),
    ``hazards_open`` and ``hazards_overdue`` (counts). Hazards without a cell count for their district
    and the city only. Given ``district_codes`` / ``grid_ids``, every one of them gets a row (zeros where
    the register has nothing), so the index reads "no open hazard", not "unknown".
    """
    st = evaluate(_frame(entries), now, config or default_config())
    st = st[st["open"].to_numpy(dtype=bool)]
    parts = pd.DataFrame({
        "district": pd.Series(st["district"].to_numpy(dtype=object), dtype=object),
        "grid": pd.Series([g if isinstance(g, str) and g else None for g in st["grid"]], dtype=object),
        "w": st["weight"].to_numpy(dtype=float),
        "n": np.ones(len(st)),
        "late": st["overdue"].to_numpy(dtype=float),
    })

    def level(key: str | None, name: str, wanted: Iterable[str] | None) -> pd.DataFrame:
        if key is None:
            sums = parts[["w", "n", "late"]].sum().to_frame("city").T
        else:
            sums = parts.dropna(subset=[key]).groupby(key, sort=True)[["w", "n", "late"]].sum()
        if wanted is not None:
            sums = sums.reindex(pd.Index(list(wanted), dtype=object), fill_value=0.0)
        n = sums["n"].to_numpy(dtype=float)
        out = pd.DataFrame({
            "hazards_open_weighted": sums["w"].to_numpy(dtype=float),
            "hazards_overdue_share": np.divide(sums["late"].to_numpy(dtype=float), n,
                                               out=np.zeros(len(n)), where=n > 0),
            "hazards_open": n,
            "hazards_overdue": sums["late"].to_numpy(dtype=float),
        }, index=pd.Index(sums.index.to_numpy(dtype=object), name=name, dtype=object))
        return out

    return {
        "district": level("district", "district_code", district_codes),
        "grid": level("grid", "grid_id", grid_ids),
        "city": level(None, "city", None),
    }
