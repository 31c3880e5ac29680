"""Hazard register sweep benchmark: 100,000 open hazards, goal under 1 s per sweep.

Runs with no argument (well under a minute) and prints one JSON object on its last line.

The register holds 100,000 open hazards (grades in the simulator's overall mix, deadlines spread from 10
days past to 30 days ahead, so about a third are overdue; 85 % placed in one of 20,000 cells, the rest
district-only). Two sweeps are timed, each from the stored JSON entries to the steps and warnings:

- ``cold``: nothing recorded yet (every reminder, escalation and warning is new);
- ``steady``: five minutes later, with the first sweep's steps recorded — what runs every cycle.

``sweep_ms`` is the steady sweep (decode + vectorised sweep, median of 5). ``baseline_ms`` is the same
work as a plain Python loop over ``json.loads`` dicts in the same run (same policy, same step ids, checked
equal). ``ratio`` = sweep_ms / baseline_ms (below 1: the vectorised sweep is faster).
"""

from __future__ import annotations

import os
import sys

# Run as a script, this directory heads sys.path, and benchmarks/warnings.py would shadow the standard
# library's ``warnings``; put the project root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Collection  # noqa: E402
from typing import Any  # noqa: E402

import msgspec  # noqa: E402
import numpy as np  # noqa: E402

from metrics.hazards.config import TIERS, HazardsConfig, default_config  # noqa: E402
from metrics.hazards.register import HazardEntry, entries_frame  # noqa: E402
from metrics.hazards.sweep import sweep  # noqa: E402

N = 100_000
NOW = 1_760_000_000.0
H = 3600.0
DAY = 86400.0
DISTRICTS = [f"4401{n:02d}" for n in (3, 4, 5, 6, 11, 12, 13, 14, 15, 17, 18)]
GRADE_MIX = (0.08, 0.22, 0.40, 0.30)


def make_entries(n: int, seed: int = 7) -> list[bytes]:
    """``n`` open hazards as the register stores them."""
    rng = np.random.default_rng(seed)
    grades = rng.choice(list("ABCD"), n, p=GRADE_MIX)
    due = NOW + rng.uniform(-10 * DAY, 30 * DAY, n)
    reported = due - rng.uniform(3 * DAY, 30 * DAY, n)
    cells = np.where(rng.random(n) < 0.85, [f"88411c{i:06x}fff" for i in rng.integers(0, 20_000, n)], "")
    districts = rng.choice(DISTRICTS, n)
    categories = rng.choice(["gas", "fire_safety", "structural", "electrical", "flood_prone"], n)
    stages = rng.choice(["reported", "assessed", "rectifying", "rectified", "reopened"], n)
    out = []
    for i in range(n):
        out.append(msgspec.json.encode(HazardEntry(
            id=f"HZ{i:07d}", category=str(categories[i]), district=str(districts[i]),
            grid=str(cells[i]) or None,
            grade=str(grades[i]), due=float(due[i]), stage=str(stages[i]), stage_at=float(reported[i] + H),
            open=True, reported_at=float(reported[i]), closed_at=None, updated_at=float(reported[i] + H),
            stages={"reported": float(reported[i])}, assessments=[],
        )))
    return out


def baseline(entries: list[bytes], now: float, config: HazardsConfig,
             recorded: Collection[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The sweep as a plain loop over dicts: steps and warning descriptors (as dicts)."""
    steps: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    for raw in entries:
        hz = json.loads(raw)
        policy = config.grades[hz["grade"]]
        due = hz["due"] if hz["due"] is not None else hz["reported_at"] + policy.limit_days * DAY
        if hz["open"] is not True:
            continue
        key = str(round(due))
        found: list[tuple[str, str]] = []
        for hours in policy.remind_hours:
            if due - hours * H <= now < due:
                found.append(("remind", f"{hours:g}h"))
        overdue = now > due
        tier_reached = "none"
        if overdue:
            for tier in TIERS:
                after = policy.escalate_after_h(tier)
                if after is not None and now - due >= after * H:
                    found.append(("escalate", tier))
                    tier_reached = tier
            if policy.warning:
                found.append(("warn", policy.warning))
        for kind, detail in found:
            sid = f"{hz['id']}|{kind}:{detail}|{key}"
            if sid in recorded:
                continue
            step = {"step": sid, "hazard": hz["id"], "kind": kind, "detail": detail, "grade": hz["grade"],
                    "category": hz["category"], "district": hz["district"], "grid": hz["grid"], "due": due,
                    "at": now}
            steps.append(step)
            if kind == "warn":
                cell = hz["grid"]
                warnings.append({
                    "fingerprint": ("hazard_overdue", hz["category"], hz["id"]), "level": detail,
                    "scope": "grid" if cell else "district", "target": cell or hz["district"],
                    "explanation": f"Hazard {hz['id']} is {(now - due) / H:.1f} h past due; {tier_reached}",
                })
    return steps, warnings


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times), result


def main() -> None:
    config = default_config()
    print(f"building {N:,} open hazard entries ...", flush=True)
    entries = make_entries(N)
    print(f"  {sum(map(len, entries)) / 1e6:.1f} MB of JSON", flush=True)

    def ours(now: float, recorded: Collection[str]) -> Any:
        return sweep(entries_frame(entries), now, config, recorded)

    decode_ms, _ = timed(lambda: entries_frame(entries), 3)
    print(f"decode: {decode_ms:.0f} ms", flush=True)
    cold_ms, cold = timed(lambda: ours(NOW, frozenset()), 3)
    print(f"cold sweep (everything new): {cold_ms:.0f} ms, {len(cold.steps):,} steps, "
          f"{len(cold.warnings):,} warnings, {int(cold.status['overdue'].sum()):,} overdue", flush=True)
    recorded = {s["step"] for s in cold.steps}
    later = NOW + 300
    steady_ms, steady = timed(lambda: ours(later, recorded), 5)
    print(f"steady sweep (5 min later, {len(recorded):,} steps recorded): {steady_ms:.0f} ms, "
          f"{len(steady.steps):,} new steps", flush=True)

    base_cold_ms, (base_cold, base_warn) = timed(lambda: baseline(entries, NOW, config, frozenset()), 3)
    print(f"baseline cold: {base_cold_ms:.0f} ms", flush=True)
    base_steady_ms, (base_steady, _) = timed(lambda: baseline(entries, later, config, recorded), 5)
    print(f"baseline steady: {base_steady_ms:.0f} ms", flush=True)
    if {s["step"] for s in base_cold} != recorded or len(base_warn) != len(cold.warnings):
        raise SystemExit("the baseline and the sweep disagree on the cold steps")
    if {s["step"] for s in base_steady} != {s["step"] for s in steady.steps}:
        raise SystemExit("the baseline and the sweep disagree on the steady steps")
    print(json.dumps({
        "hazards": N,
        "sweep_ms": round(steady_ms, 1),
        "baseline_ms": round(base_steady_ms, 1),
        "ratio": round(steady_ms / base_steady_ms, 3),
        "cold_sweep_ms": round(cold_ms, 1),
        "cold_baseline_ms": round(base_cold_ms, 1),
        "decode_ms": round(decode_ms, 1),
        "overdue": int(cold.status["overdue"].sum()),
        "cold_steps": len(cold.steps),
        "goal_ms": 1000,
    }))


if __name__ == "__main__":
    main()
