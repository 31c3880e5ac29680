"""Warnings as JSON: the stored form of a :class:`~metrics.warnings.lifecycle.WarningRecord` and the API form.

Pure. The stored form keeps everything the lifecycle needs to rebuild the record (epoch seconds, the
fingerprint, every transition); it also carries the contract's top-level fields (``level`` as a name,
``status``) so simple readers (``/metrics``) need no decoding. The API form (:func:`to_api`) is the
``/api/v1/warnings`` shape: ISO times, names instead of numbers, ``null`` for figures a warning has
not got (a rule or hazard warning has no expected count or p-value).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from metrics.warnings.config import LEVEL_ORDER
from metrics.warnings.detect import Explanation
from metrics.warnings.errors import WarningsError
from metrics.warnings.levels import LEVEL_NAMES
from metrics.warnings.lifecycle import Fingerprint, Outcome, Status, Transition, WarningRecord

#: Outcomes that say the warning was right (the precision's numerator).
TRUE_OUTCOMES = frozenset({Outcome.TRUE_EVENT, Outcome.KNOWN_CAUSE})
#: The API's level order, most severe first.
SEVERITY = {name: i for i, name in enumerate(LEVEL_ORDER, start=1)}


def _num(value: float) -> float | None:
    """A finite float, else None (JSON has no NaN or infinity)."""
    return float(value) if value is not None and math.isfinite(value) else None


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 with offset (UTC), None for None."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def explanation_to_dict(e: Explanation) -> dict[str, Any]:
    return {
        "detector": e.detector,
        "observed": _num(e.observed),
        "expected": _num(e.expected),
        "p_value": _num(e.p_value),
        "recurrence_days": _num(e.recurrence_days),
        "window_start": e.window_start,
        "window_end": e.window_end,
        "area": e.area,
        "series_ids": list(e.series_ids),
        "cells": list(e.cells),
        "counters": list(e.counters),
        "baseline": e.baseline,
        "summary": e.summary,
    }


def explanation_from_dict(d: Mapping[str, Any]) -> Explanation:
    return Explanation(
        detector=str(d["detector"]),
        observed=_float(d.get("observed")),
        expected=_float(d.get("expected")),
        p_value=_float(d.get("p_value")),
        recurrence_days=_float(d.get("recurrence_days")),
        window_start=float(d["window_start"]),
        window_end=float(d["window_end"]),
        area=str(d["area"]),
        series_ids=tuple(d.get("series_ids", ())),
        cells=tuple(d.get("cells", ())),
        counters=tuple(d.get("counters", ())),
        baseline=str(d.get("baseline", "")),
        summary=str(d.get("summary", "")),
    )


def _transition_to_dict(t: Transition) -> dict[str, Any]:
    return {"at": t.at, "by": t.by, "action": t.action, "status": t.status.value, "level": t.level,
            "note": t.note}


def _transition_from_dict(d: Mapping[str, Any]) -> Transition:
    return Transition(float(d["at"]), str(d["by"]), str(d["action"]), Status(d["status"]), int(d["level"]),
                      str(d.get("note", "")))


def record_to_dict(w: WarningRecord) -> dict[str, Any]:
    """The stored form (see the module docstring)."""
    fp = w.fingerprint
    return {
        "id": w.id,
        "level": w.level_name,
        "current_level": LEVEL_NAMES[w.current_level] if 0 <= w.current_level < len(LEVEL_NAMES) else None,
        "status": w.status.value,
        "fingerprint": {"detector": fp.detector, "stream": fp.stream, "category": fp.category,
                        "scope": fp.scope, "target": fp.target, "subject": fp.subject},
        "raised_at": w.raised_at,
        "updated_at": w.updated_at,
        "tier": w.tier,
        "tier_since": w.tier_since,
        "outcome": w.outcome.value if w.outcome is not None else None,
        "suppressed_by": w.suppressed_by,
        "explanation": explanation_to_dict(w.explanation),
        "history": [_transition_to_dict(t) for t in w.history],
    }


def record_from_dict(d: Mapping[str, Any]) -> WarningRecord:
    fp = d["fingerprint"]
    current = d.get("current_level")
    return WarningRecord(
        id=str(d["id"]),
        fingerprint=Fingerprint(fp["detector"], fp["stream"], fp["category"], fp["scope"], fp["target"],
                                fp.get("subject", "")),
        level=SEVERITY[d["level"]],
        current_level=LEVEL_NAMES.index(current) if current in LEVEL_NAMES else 0,
        status=Status(d["status"]),
        raised_at=float(d["raised_at"]),
        updated_at=float(d["updated_at"]),
        tier=str(d["tier"]),
        tier_since=float(d["tier_since"]),
        explanation=explanation_from_dict(d["explanation"]),
        history=tuple(_transition_from_dict(t) for t in d.get("history", ())),
        outcome=Outcome(d["outcome"]) if d.get("outcome") else None,
        suppressed_by=d.get("suppressed_by"),
    )


def dumps(w: WarningRecord) -> str:
    return json.dumps(record_to_dict(w), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(raw: bytes | str) -> WarningRecord:
    try:
        return record_from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise WarningsError(f"stored warning is not readable ({exc}); it was written by another version?") \
            from exc


def warning_district(w: WarningRecord, district_of: Mapping[str, str]) -> str | None:
    """The district a warning concerns: its target for district scope, the district holding the cell or
    street otherwise, None for the city."""
    fp = w.fingerprint
    if fp.scope == "district":
        return fp.target
    if fp.scope in ("grid", "street"):
        return district_of.get(fp.target)
    return None


def to_api(w: WarningRecord, district_of: Mapping[str, str]) -> dict[str, Any]:
    """The ``/api/v1/warnings`` shape of one warning (contracts §2, plus the explanation and transitions)."""
    fp, e = w.fingerprint, w.explanation
    return {
        "id": w.id,
        "level": w.level_name,
        "current_level": LEVEL_NAMES[w.current_level] if 0 <= w.current_level < len(LEVEL_NAMES) else None,
        "scope": fp.scope,
        "target": fp.target,
        "district": warning_district(w, district_of),
        "stream": fp.stream,
        "category": fp.category,
        "detector": fp.detector,
        "subject": fp.subject or None,
        "raised_at": iso(w.raised_at),
        "updated_at": iso(w.updated_at),
        "status": w.status.value,
        "tier": w.tier,
        "outcome": w.outcome.value if w.outcome is not None else None,
        "suppressed_by": w.suppressed_by,
        "observed": _num(e.observed),
        "expected": _num(e.expected),
        "p_value": _num(e.p_value),
        "recurrence_days": _num(e.recurrence_days),
        "relative_risk": _num(e.relative_risk) if math.isfinite(e.expected) else None,
        "explanation": e.text(),
        "details": {
            "area": e.area,
            "baseline": e.baseline or None,
            "window_start": iso(e.window_start),
            "window_end": iso(e.window_end),
            "counters": list(e.counters),
            "series": list(e.series_ids),
            "cells": list(e.cells),
        },
        "transitions": [
            {"at": iso(t.at), "by": t.by, "action": t.action, "status": t.status.value,
             "level": LEVEL_NAMES[t.level] if 0 <= t.level < len(LEVEL_NAMES) else None, "note": t.note}
            for t in w.history
        ],
    }


def api_order_key(item: Mapping[str, Any]) -> tuple[int, float, str]:
    """Most severe first, then newest first, then by id (stable between calls)."""
    raised = item.get("raised_at")
    ts = datetime.fromisoformat(raised).timestamp() if isinstance(raised, str) else 0.0
    return (-SEVERITY.get(str(item.get("level")), 0), -ts, str(item.get("id")))


def precision_table(records: list[WarningRecord]) -> dict[str, dict[str, Any]]:
    """Per detector: resolved warnings by outcome and the share judged right.

    ``precision`` = (true_event + known_cause) / every outcome (false_alarm, data_artefact and
    duplicate count against the detector); None while a detector has no resolved warning.
    """
    table: dict[str, dict[str, Any]] = {}
    for w in records:
        row = table.setdefault(w.fingerprint.detector, {
            "raised": 0, "open": 0, "auto_recovered": 0, "outcomes": {o.value: 0 for o in Outcome}})
        row["raised"] += 1
        row["open"] += int(w.is_open)
        row["auto_recovered"] += int(w.status is Status.AUTO_RECOVERED)
        if w.outcome is not None:
            row["outcomes"][w.outcome.value] += 1
    for row in table.values():
        judged = sum(row["outcomes"].values())
        right = sum(row["outcomes"][o.value] for o in TRUE_OUTCOMES)
        row["judged"] = judged
        row["precision"] = round(right / judged, 4) if judged else None
    return dict(sorted(table.items()))


__all__ = [
    "SEVERITY",
    "TRUE_OUTCOMES",
    "api_order_key",
    "dumps",
    "explanation_from_dict",
    "explanation_to_dict",
    "iso",
    "loads",
    "precision_table",
    "record_from_dict",
    "record_to_dict",
    "to_api",
    "warning_district",
]
