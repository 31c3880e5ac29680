"""Throughput of streams.validate.validate_batch on typical valid records, against bare msgspec decoding.

Builds 200,000 valid records spread over the four streams (mixed stages, datums, district-only records,
hotline records with Chinese text and a caller number), then times, in the same run, validate_batch in
consumer-sized batches and a baseline of plain ``msgspec.json.decode`` of the same bytes. Best of five
runs each, interleaved. The last line printed is the JSON summary:
``{"records_per_s": ..., "baseline_records_per_s": ..., "ratio": ...}``.

Run: ``python benchmarks/validate.py`` (from the repository root; no services needed).
"""

from __future__ import annotations

import os
import sys

# Run as a script, Python puts benchmarks/ first on sys.path, where a sibling module can shadow the
# standard library (benchmarks/warnings.py shadows `warnings`, which pathlib and random import); so
# before anything else is imported, look in the repository root instead.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import msgspec  # noqa: E402

from streams.schemas import CATEGORIES, STAGES, STREAMS  # noqa: E402
from streams.validate import validate_batch  # noqa: E402
from tests.workload import DISTRICT_CODES  # noqa: E402

N_RECORDS = 200_000
BATCH = 10000  # the consumer's default batch_max_records
RUNS = 5
TEXTS = (
    "楼下餐馆油烟很大，晚上十点后仍有噪音，请处理。",
    "小区垃圾两天没有清运。",
    "Street light out near the metro exit.",
)


def make_record(stream: str, i: int, rng: random.Random, now: datetime) -> dict[str, Any]:
    ts = now - timedelta(seconds=rng.uniform(0, 6 * 86400))
    rec: dict[str, Any] = {
        "id": f"{stream[:3]}-{i:08d}",
        "ts": ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if rng.random() < 0.5
        else ts.astimezone().isoformat(timespec="milliseconds"),
        "category": rng.choice(sorted(CATEGORIES[stream])),
        "stage": rng.choice(STAGES[stream]),
    }
    if rng.random() < 0.1:
        rec["district"] = rng.choice(sorted(DISTRICT_CODES))
    else:
        rec["lon"] = round(rng.uniform(113.2, 113.5), 6)
        rec["lat"] = round(rng.uniform(23.0, 23.3), 6)
        crs = rng.random()
        if crs < 0.15:
            rec["crs"] = "wgs84"
        elif crs < 0.2:
            rec["crs"] = "bd09"
    if stream == "incidents":
        rec["severity"] = rng.randint(1, 4)
    elif stream == "surveillance":
        rec["camera_id"] = f"cam-{rng.randint(1, 40000):05d}"
        rec["confidence"] = round(rng.random(), 3)
        if rec["stage"] == "reviewed":
            rec["verified"] = rng.random() < 0.7
    elif stream == "hotline":
        if rec["stage"] == "rated":
            rec["satisfaction"] = rng.randint(1, 5)
        if rec["stage"] == "created":
            rec["sla_hours"] = rng.choice((24, 48, 72))
            rec["caller_phone"] = f"13{rng.randint(0, 999_999_999):09d}"
            rec["text"] = rng.choice(TEXTS)
    else:
        rec["grade"] = rng.choice("ABCD")
        if rec["stage"] in ("reported", "assessed"):
            rec["due"] = (ts + timedelta(days=rng.randint(1, 30))).isoformat()
    return rec


def main() -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    print(f"building {N_RECORDS} valid records over {len(STREAMS)} streams ...", flush=True)
    per_stream = {
        stream: [
            msgspec.json.encode(make_record(stream, i, rng, now)) for i in range(N_RECORDS // len(STREAMS))
        ]
        for stream in STREAMS
    }
    total = sum(len(v) for v in per_stream.values())
    kwargs: dict[str, Any] = {
        "now": now.timestamp(),
        "retention_s": 35 * 86400.0,
        "future_tolerance_s": 600.0,
        "district_codes": DISTRICT_CODES,
        "pii_key": b"benchmark-key",
    }

    def run_validate() -> int:
        n_ok = 0
        for stream, values in per_stream.items():
            for start in range(0, len(values), BATCH):
                accepted, rejected = validate_batch(stream, values[start : start + BATCH], **kwargs)
                if rejected:
                    raise SystemExit(f"benchmark record rejected: {rejected[0]}")
                n_ok += len(accepted)
        return n_ok

    def run_baseline() -> int:
        decode = msgspec.json.decode
        n = 0
        for values in per_stream.values():
            for value in values:
                decode(value)
                n += 1
        return n

    # the two are interleaved so that both see the same load on a shared machine
    best: dict[str, float] = {}
    for run in range(RUNS):
        for name, fn in (("validate_batch", run_validate), ("baseline msgspec.json.decode", run_baseline)):
            t0 = time.perf_counter()
            n = fn()
            elapsed = time.perf_counter() - t0
            assert n == total, (name, n, total)
            rate = n / elapsed
            best[name] = max(best.get(name, 0.0), rate)
            print(f"run {run + 1}/{RUNS} {name}: {n} in {elapsed:.3f} s = {rate:,.0f} records/s", flush=True)

    records_per_s = best["validate_batch"]
    baseline = best["baseline msgspec.json.decode"]
    print(
        json.dumps(
            {
                "records_per_s": round(records_per_s),
                "baseline_records_per_s": round(baseline),
                "ratio": round(records_per_s / baseline, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
