"""All data access of the dashboard and the API: plain functions over the store, returning plain data.

Callbacks and routes call these and never touch Redis or aggregate raw events themselves.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from geo.city import CityModel
from metrics.keys import TIERS
from metrics.snapshots import SnapshotStore
from metrics.store import MetricsStore

EVENT_STREAMS = ("incidents", "surveillance", "hotline")
_WINDOW = re.compile(r"^(\d{1,4})(m|h|d)$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
#: The longest window the counters can answer (daily buckets are kept 400 days).
MAX_WINDOW_S = 400 * 86400


class BadRequest(ValueError):
    """A request parameter is wrong; the message says what was received and what is expected."""


def parse_window(text: str | None, default: str = "24h") -> tuple[str, int]:
    """``"24h"`` -> ("24h", 86400). Accepts minutes (m, multiples of 5), hours (h) and days (d)."""
    raw = (text or default).strip()
    match = _WINDOW.match(raw)
    if not match:
        raise BadRequest(f"window {raw!r} is not understood: use a number and a unit, e.g. 1h, 24h, 7d, 30d")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0 or seconds > MAX_WINDOW_S:
        raise BadRequest(f"window {raw!r} is out of range: from 5m to 400d")
    if match.group(2) == "m" and seconds % 300:
        raise BadRequest(f"window {raw!r}: minute windows must be multiples of 5 (the finest bucket)")
    return raw, seconds


def iso(ts: float) -> str:
    """Epoch seconds as ISO 8601 with offset (UTC)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def event_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Per entity, the number of events (first-stage records) of each event stream."""
    out = pd.DataFrame(index=frame.index)
    for stream in EVENT_STREAMS:
        cols = [c for c in frame.columns if c.startswith(f"{stream}.") and c.endswith(".n")]
        out[stream] = frame[cols].sum(axis=1) if cols else 0.0
    return out.astype(int)


@dataclass
class Dashboard:
    """The read side of one store and city: what pages and API routes ask for."""

    store: MetricsStore
    city: CityModel
    snapshots: SnapshotStore = field(init=False)

    def __post_init__(self) -> None:
        self.snapshots = SnapshotStore(self.store.client, prefix=self.store.keys.root.split(":")[0])

    def window_counts(self, level: str, seconds: int, now: float | None = None) -> pd.DataFrame:
        now = time.time() if now is None else now
        frame = self.store.window_frame(level, now - seconds, now, streams=EVENT_STREAMS)  # type: ignore[arg-type]
        return event_counts(frame)

    def districts(self, window: str | None) -> dict[str, Any]:
        label, seconds = parse_window(window)
        now = time.time()
        counts = self.window_counts("district", seconds, now)
        index = self.index_latest("district")
        rows = []
        for code, info in self.city.districts.iterrows():
            scored = index.get(code, {})
            rows.append({
                "code": code,
                "name_zh": info["name_zh"],
                "name_en": info["name_en"],
                "index": scored.get("score"),
                "rank": scored.get("rank"),
                "level": scored.get("level"),
                "counts": {s: int(counts.at[code, s]) if code in counts.index else 0 for s in EVENT_STREAMS},
                "dimensions": scored.get("dimensions", {}),
                "rank_interval": [scored.get("rank_lo"), scored.get("rank_hi")] if scored else None,
                "change_day": scored.get("change_day"),
                "change_week": scored.get("change_week"),
                "status": scored.get("status", "no_index_yet"),
            })
        return {"as_of": iso(now), "window": label, "districts": rows}

    def grids(self, window: str | None, district: str | None) -> dict[str, Any]:
        label, seconds = parse_window(window)
        self._check_district(district)
        now = time.time()
        counts = self.window_counts("grid", seconds, now)
        cells = self.city.grids if district is None else self.city.grids[self.city.grids.district_code == district]
        counts = counts.reindex(cells.index, fill_value=0)
        index = self.index_latest("grid")
        grids = [
            {
                "id": grid_id,
                "district": district_code,
                "index": index.get(grid_id, {}).get("score"),
                "level": index.get(grid_id, {}).get("level"),
                "counts": {s: int(c) for s, c in zip(EVENT_STREAMS, row, strict=True)},
            }
            for grid_id, district_code, row in zip(
                cells.index, cells.district_code, counts[list(EVENT_STREAMS)].to_numpy(), strict=True)
        ]
        return {"as_of": iso(now), "window": label, "grids": grids}

    def grid(self, grid_id: str, window: str | None) -> dict[str, Any] | None:
        if grid_id not in self.city.grids.index:
            return None
        label, seconds = parse_window(window)
        now = time.time()
        counts = self.window_counts("grid", seconds, now)
        cell = self.city.grids.loc[grid_id]
        scored = self.index_latest("grid").get(grid_id, {})
        return {
            "id": grid_id,
            "district": cell["district_code"],
            "street": cell.get("street_code"),
            "lon": float(cell["lon"]),
            "lat": float(cell["lat"]),
            "window": label,
            "as_of": iso(now),
            "index": scored.get("score"),
            "level": scored.get("level"),
            "counts": {s: int(counts.at[grid_id, s]) if grid_id in counts.index else 0 for s in EVENT_STREAMS},
            "dimensions": scored.get("dimensions", {}),
            "contributions": scored.get("contributions", {}),
            "status": scored.get("status", "no_index_yet"),
            "history": [
                {"as_of": iso(ts.timestamp()), "score": _number(row.get("score")), "level": row.get("level")}
                for ts, row in self.index_history("grid", grid_id, "1h", 48).iterrows()
            ],
            "recent_events": self.store.recent_events(grid_id=grid_id, limit=20),
        }

    def index_frame(self, level: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The index engine's latest full snapshot of a level (None until the engine has run)."""
        return self.snapshots.latest(level)

    def index_latest(self, level: str) -> dict[str, dict[str, Any]]:
        """The latest snapshot of a level as entity -> fields (empty until the engine has run):
        ``score``, ``level``, ``rank``, ``rank_lo``/``rank_hi`` (5th–95th percentile rank, districts),
        ``change_day``, ``change_week``, ``dimensions``, ``contributions`` (indicator -> points),
        ``insufficient`` (the data-coverage gates failed)."""
        found = self.index_frame(level)
        if found is None:
            return {}
        frame, _meta = found
        return {str(entity): _index_fields(row) for entity, row in zip(frame.index, frame.to_dict("records"),
                                                                        strict=True)}

    def index_history(self, level: str, entity: str, tier: str = "1h",
                      hours: float = 48.0) -> pd.DataFrame:
        """An entity's score history (time-indexed ``score``, ``level``…), from the engine's snapshots."""
        now = time.time()
        return self.snapshots.history(level, entity, tier, now - hours * 3600, now)

    def stats(self) -> dict[str, Any]:
        stats = self.store.stats()
        last = stats.pop("last_event_ts")
        stats["freshness"] = {s: iso(ts) for s, ts in last.items()}
        return stats

    def hourly_city(self, hours: int = 48) -> pd.DataFrame:
        """Events per hour and stream over the last ``hours``, city-wide."""
        now = time.time()
        frame = self.store.series("district", now - hours * 3600, now, "1h", streams=EVENT_STREAMS)
        return event_counts(frame) if not frame.empty else pd.DataFrame(columns=list(EVENT_STREAMS))


    # ---------------------------------------------------------------------------- dashboard pages
    def newest_event_ts(self) -> float | None:
        """Event time (epoch s) of the newest accepted record of any stream; None before the first."""
        last = self.store.stats()["last_event_ts"]
        return max(last.values()) if last else None

    def stream_counts(self, start: float, end: float) -> dict[str, int]:
        """City-wide events (first-stage records) per stream over ``[start, end)``, hazards included.
        Within the last 48 h from the 5-minute totals (a true sliding window, as the wall's counters
        need), else from the hourly and daily counters."""
        if time.time() - start <= TIERS["5m"].retention_s:
            frame = self.store.series("district", start, end, "5m", streams=ALL_STREAMS)
        else:
            frame = self.store.window_frame("city", start, end, streams=ALL_STREAMS)
        events = _stream_events(frame)
        return {s: int(events[s].sum()) for s in ALL_STREAMS}

    def grid_frame(self, start: float, end: float) -> pd.DataFrame:
        """Grid counters summed over ``[start, end)`` (cells x ``stream.category.measure``)."""
        return self.store.window_frame("grid", start, end)

    def grid_hourly(self, grid_id: str, start: float, end: float) -> pd.DataFrame:
        """Events per hour and stream of one cell (time-indexed, one column per stream)."""
        frame = self.store.series("grid", start, end, "1h", entity=grid_id, streams=ALL_STREAMS)
        return _stream_events(frame)

    def district_hourly(self, district_code: str, start: float, end: float) -> pd.DataFrame:
        """Events per hour and stream of one district (time-indexed, one column per stream)."""
        frame = self.store.series("district", start, end, "1h", entity=district_code, streams=ALL_STREAMS)
        return _stream_events(frame)

    def warnings(self, status: str | None = None, district: str | None = None, level: str | None = None,
                 stream: str | None = None) -> list[dict[str, Any]]:
        """Warnings with the contract fields (``id``, ``level``, ``scope``, ``target``, ``stream``,
        ``category``, ``detector``, ``raised_at``, ``status``, ``observed``, ``expected``, ``p_value``,
        ``explanation``, ``district``, ``transitions``, ``details``), filtered (``status`` ``open`` by
        default, or ``all`` or one status), most severe and then newest first. Empty until the warnings
        engine has run."""
        from metrics.warnings.errors import InvalidAction
        from metrics.warnings.store import WarningStore

        district_of = {str(g): str(d) for g, d in self.city.grids["district_code"].items()}
        try:
            return WarningStore(self.store.client, keys=self.store.keys).query(
                district_of, status=status, district=district, level=level, stream=stream)
        except InvalidAction as exc:
            raise BadRequest(str(exc)) from exc

    def hazards(self, status: str | None = "open", district: str | None = None,
                limit: int | None = None, now: float | None = None) -> list[dict[str, Any]]:
        """Hazards of the register (``id``, ``grade``, ``category``, ``district``, ``grid``, ``stage``,
        ``due``, ``overdue``, ``escalation``), most overdue first, judged at ``now`` (default: the clock).
        Raises BadRequest for a bad filter."""
        return self.hazard_listing(status, district, limit, now=now)["hazards"]

    def _hazard_entries(self) -> list[bytes]:
        keys = [self.store.keys.hazard_register(p) for s, p in self.store.partitions() if s == "hazards"]
        entries: list[bytes] = []
        for key in keys:
            entries.extend(self.store.client.hvals(key))
        return entries

    def _check_district(self, district: str | None) -> None:
        if district is not None and district not in self.city.districts.index:
            raise BadRequest(f"district {district!r} is not a district code of this city "
                             f"(known: {', '.join(self.city.districts.index)})")

    def hazard_listing(self, status: str | None, district: str | None,
                       limit: int | None = None, *, now: float | None = None) -> dict[str, Any]:
        """``/api/v1/hazards``: the register judged at the current clock."""
        from metrics.hazards.errors import HazardQueryError
        from metrics.hazards.views import list_hazards

        self._check_district(district)
        try:
            return list_hazards(self._hazard_entries(), time.time() if now is None else now, status or "open",
                                district, limit=limit)
        except HazardQueryError as exc:
            raise BadRequest(str(exc)) from exc

    def hazard_summary(self, district: str | None) -> dict[str, Any]:
        """``/api/v1/hazards/summary``: open and overdue hazards per grade."""
        from metrics.hazards.views import summary

        self._check_district(district)
        return summary(self._hazard_entries(), time.time(), district)


ALL_STREAMS = (*EVENT_STREAMS, "hazards")


def _stream_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row, events (``.n`` counters) of each of :data:`ALL_STREAMS`."""
    out = pd.DataFrame(index=frame.index)
    for stream in ALL_STREAMS:
        cols = [c for c in frame.columns if c.startswith(f"{stream}.") and c.endswith(".n")]
        out[stream] = frame[cols].sum(axis=1) if cols else 0.0
    return out


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else round(number, 2)


def _index_fields(row: dict[str, Any]) -> dict[str, Any]:
    def rank(name: str) -> int | None:
        value = _number(row.get(name))
        return None if value is None else int(value)

    insufficient = not bool(row.get("data_ok", True))
    return {
        # A score computed from too little data is not shown as if it were known.
        "score": None if insufficient else _number(row.get("score")),
        "level": row.get("level") if isinstance(row.get("level"), str) else None,
        "rank": rank("rank"),
        "rank_lo": rank("rank_p05"),
        "rank_hi": rank("rank_p95"),
        "change_day": _number(row.get("change_1d")),
        "change_week": _number(row.get("change_7d")),
        "dimensions": {k[4:]: _number(v) for k, v in row.items() if k.startswith("dim.")},
        "contributions": {k[8:]: _number(v) for k, v in row.items() if k.startswith("contrib.")},
        "insufficient": insufficient,
        "status": "insufficient_data" if insufficient else "ok",
    }


__all__ = ["BadRequest", "Dashboard", "iso", "parse_window"]
