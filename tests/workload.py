"""A mixed workload with known ground truth, for fault tests and the ingestion benchmark.

Independent of the simulator and of the ledger: the truth is computed here from what was generated, so a
test comparing the store against it checks the whole write path.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from geo.city import CityModel

#: The eleven district codes of Guangzhou (GB/T 2260), for tests that validate without the city model.
DISTRICT_CODES = frozenset(
    {"440103", "440104", "440105", "440106", "440111", "440112", "440113", "440114", "440115", "440117", "440118"}
)

STAGES = {
    "incidents": ["reported", "dispatched", "arrived", "closed"],
    "surveillance": ["detected", "reviewed"],
    "hotline": ["created", "responded", "resolved", "rated"],
}
CATEGORY = {"incidents": "theft", "surveillance": "illegal_parking", "hotline": "noise"}
BAD_VALUES = [
    (b"{not json", "not_json"),
    (b"[1, 2, 3]", "not_object"),
    (b"", "not_json"),
    (b'{"id": "x", "ts": "2026-01-01T00:00:00+08:00", "category": "theft"}', "missing_field"),
]


@dataclass
class Truth:
    """What a correct pipeline must end with."""

    accepted: Counter = field(default_factory=Counter)  # stream -> accepted records
    duplicates: int = 0
    deadletter: Counter = field(default_factory=Counter)  # reason -> records
    events_by_district: Counter = field(default_factory=Counter)  # (stream, district) -> events
    bad_values: list[bytes] = field(default_factory=list)


def mixed_workload(city: CityModel, n: int, *, seed: int, now: float, dup_share: float = 0.02,
                   bad_share: float = 0.01) -> tuple[list[tuple[str, str, bytes]], Truth]:
    """About ``n`` records of three streams with stage updates, resends and bad records."""
    rng = np.random.default_rng(seed)
    cells = city.grids[~city.grids.boundary]
    picks = rng.integers(0, len(cells), size=n)
    lon = cells.lon.to_numpy()[picks]
    lat = cells.lat.to_numpy()[picks]
    districts = cells.district_code.to_numpy()[picks]
    records: list[tuple[str, str, bytes]] = []
    truth = Truth()
    seen: set[tuple[str, str, str]] = set()
    streams = list(STAGES)
    i = 0
    while len(records) < n:
        stream = streams[int(rng.integers(0, 3))]
        event_id = f"{stream[:3]}-{seed}-{i}"
        ts0 = now - float(rng.uniform(60, 20 * 3600))
        n_stages = int(rng.integers(1, len(STAGES[stream]) + 1))
        k = i % len(picks)
        for s, stage in enumerate(STAGES[stream][:n_stages]):
            rec: dict[str, object] = {
                "id": event_id, "ts": datetime.fromtimestamp(ts0 + 60 * s, tz=UTC).isoformat(),
                "lon": round(float(lon[k]), 6), "lat": round(float(lat[k]), 6),
                "category": CATEGORY[stream], "stage": stage,
            }
            if stream == "incidents":
                rec["severity"] = int(rng.integers(1, 5))
            elif stream == "surveillance":
                rec.update(camera_id=f"cam-{k % 97}", confidence=round(float(rng.uniform(0.3, 1)), 3))
                if stage == "reviewed":
                    rec["verified"] = bool(rng.random() < 0.7)
            elif stage == "rated":
                rec["satisfaction"] = int(rng.integers(1, 6))
            value = json.dumps(rec, separators=(",", ":")).encode()
            records.append((stream, event_id, value))
            truth.accepted[stream] += 1
            seen.add((stream, event_id, stage))
            if s == 0:
                truth.events_by_district[(stream, str(districts[k]))] += 1
            if rng.random() < dup_share:
                records.append((stream, event_id, value))
                truth.duplicates += 1
        if rng.random() < bad_share * n_stages:
            value, reason = BAD_VALUES[int(rng.integers(0, len(BAD_VALUES)))]
            value = value if value else b""
            tagged = value if not value.startswith(b"{not") else value + f" {i}".encode()
            records.append((stream, f"bad-{seed}-{i}", tagged))
            truth.deadletter[reason] += 1
            truth.bad_values.append(tagged)
        i += 1
    return records, truth
