"""A little real data for the dashboard tests: hand-written records at known Guangzhou places, written
into the store through the consumers' own pipeline (validate → place → plan → apply)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from geo.city import CityModel
from kapok.settings import Settings
from metrics.store import MetricsStore
from streams.pipeline import Ingestor, RawRecord

#: (name, lon, lat), GCJ-02.
PLACES = (
    ("tianhe_sports_centre", 113.3245, 23.1385),
    ("beijing_road", 113.2695, 23.1252),
    ("canton_tower", 113.3245, 23.1064),
    ("shangxiajiu", 113.2441, 23.1183),
    ("panyu_square", 113.3840, 22.9375),
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def records(now: float) -> list[tuple[str, str, dict]]:
    """(stream, key, record): incidents, camera alerts and hotline tickets over the last two days and
    the same hour a week ago, with a hotline caller and free text (personal data the pages must mask)."""
    out: list[tuple[str, str, dict]] = []
    for i, (name, lon, lat) in enumerate(PLACES):
        for k in range(6):
            ts = now - 600 - k * 3 * 3600 - i * 300
            out.append(
                (
                    "incidents",
                    f"inc-{name}-{k}",
                    {
                        "id": f"inc-{name}-{k}",
                        "ts": _iso(ts),
                        "lon": lon,
                        "lat": lat,
                        "category": ("theft", "fight", "traffic_accident", "dispute")[k % 4],
                        "severity": 1 + (k % 4),
                    },
                )
            )
        out.append(
            (
                "surveillance",
                f"cam-{name}",
                {
                    "id": f"cam-{name}",
                    "ts": _iso(now - 900 - i * 60),
                    "lon": lon,
                    "lat": lat,
                    "category": "crowd_gathering",
                    "camera_id": f"cam-{i}",
                    "confidence": 0.93,
                },
            )
        )
        out.append(
            (
                "hotline",
                f"tk-{name}",
                {
                    "id": f"tk-{name}",
                    "ts": _iso(now - 1800 - i * 120),
                    "lon": lon,
                    "lat": lat,
                    "category": "noise",
                    "caller_phone": f"1381234{i:04d}",
                    "text": "<script>alert('x')</script> 楼下装修噪音",
                },
            )
        )
        out.append(
            (
                "incidents",
                f"inc-{name}-lastweek",
                {
                    "id": f"inc-{name}-lastweek",
                    "ts": _iso(now - 7 * 86400 - 1200),
                    "lon": lon,
                    "lat": lat,
                    "category": "theft",
                    "severity": 2,
                },
            )
        )
    return out


def seed(settings: Settings, city: CityModel, store: MetricsStore, now: float) -> int:
    """Write :func:`records` into ``store`` (one partition per stream, as the direct backfill does:
    validate → place → plan → apply without an offset check); returns the number accepted."""
    return ingest(settings, city, store, records(now))


def ingest(
    settings: Settings, city: CityModel, store: MetricsStore, items: list[tuple[str, str, dict]]
) -> int:
    """Ingest (stream, key, record) items through the pipeline; returns the number accepted."""
    ingestor = Ingestor(settings, city, store)
    by_stream: dict[str, list[RawRecord]] = {}
    for stream, key, record in items:
        batch = by_stream.setdefault(stream, [])
        batch.append(RawRecord(len(batch), key.encode(), json.dumps(record, ensure_ascii=False).encode()))
    accepted = 0
    for stream, batch in by_stream.items():
        prepared = ingestor.prepare(stream, batch)
        _, plan = ingestor.plan(prepared, 0)
        store.register_partition(stream, 0)
        ingestor.apply(prepared, 0, expected_offset="*", plan=plan)
        accepted += plan.accepted
    return accepted


def hazard_records(now: float) -> list[tuple[str, str, dict]]:
    """(stream, key, record) of a small hazard register: two overdue (A, B) and two on-time open hazards
    in cells, an overdue B one known by its district only, and a D one verified (closed)."""
    day = 86400.0

    def report(hazard_id: str, place: int | None, grade: str, category: str, reported: float, due: float,
               stage: str = "reported") -> tuple[str, str, dict]:
        record: dict = {"id": hazard_id, "ts": _iso(reported), "category": category, "grade": grade,
                        "stage": stage}
        if place is None:
            record["district"] = "440104"
        else:
            record["lon"], record["lat"] = PLACES[place][1], PLACES[place][2]
        if stage in ("reported", "assessed"):
            record["due"] = _iso(due)
        return ("hazards", hazard_id, record)

    return [
        report("hz-a-late", 0, "A", "gas", now - 5 * day, now - day),
        report("hz-b-late", 1, "B", "fire_safety", now - 4 * day, now - 2 * 3600),
        report("hz-a-fine", 2, "A", "structural", now - day, now + 3 * day),
        report("hz-c-open", 3, "C", "electrical", now - 2 * day, now + 5 * day),
        report("hz-d-closed", 4, "D", "other", now - 3 * day, now + day),
        report("hz-d-closed", 4, "D", "other", now - day, now + day, stage="verified"),
        report("hz-b-district", None, "B", "flood_prone", now - 3 * day, now - 1.5 * day),
    ]
