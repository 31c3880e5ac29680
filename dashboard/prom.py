"""Operations endpoints: ``GET /metrics`` (Prometheus text format 0.0.4; admin or the metrics token) and
``GET /api/v1/ready`` (readiness: Redis reachable, city model loaded, engine heartbeat fresh; public,
like ``/api/v1/health``).

Figures come from the store, so any dashboard worker answers for the whole deployment: consumer
counts (``MetricsStore.stats``), lag, the consumers' batch-latency histogram and the engines' run times
(:mod:`metrics.opstats`, ``Keys.engine_timings``), and open warnings by level.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Blueprint, Response, jsonify

from geo.city import CityModel
from kapok.settings import Settings
from metrics.opstats import LATENCY_BOUNDS_S, bound_label
from metrics.store import MetricsStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPEN_STATUSES = frozenset({"raised", "acknowledged", "dispatched"})
WARNING_LEVELS = ("blue", "yellow", "orange", "red")


@dataclass
class Family:
    """One metric family: name, type (counter, gauge, histogram), help, and samples
    ``(suffix, labels, value)``."""

    name: str
    kind: str
    help: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> Family:
        self.samples.append((suffix, labels, value))
        return self


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The Prometheus text exposition of ``families`` (pure)."""
    lines: list[str] = []
    for fam in families:
        lines.append(f"# HELP {fam.name} {fam.help}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for suffix, labels, value in fam.samples:
            label_text = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
            lines.append(f"{fam.name}{suffix}{{{label_text}}} {_number(value)}" if label_text
                         else f"{fam.name}{suffix} {_number(value)}")
    return "\n".join(lines) + "\n"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def consumer_families(stats: Mapping[str, Any], lag: Mapping[str, int]) -> list[Family]:
    """Counts from ``MetricsStore.stats()`` and per-partition lag."""
    accepted = Family("rk_records_accepted_total", "counter", "Records accepted by the consumers, by stream.")
    for stream, n in sorted(stats["accepted"].items()):
        accepted.add(n, stream=stream)
    rejected = Family("rk_records_rejected_total", "counter",
                      "Records sent to the dead-letter topic, by reason code.")
    for reason, n in sorted(stats["deadletter"].items()):
        rejected.add(n, reason=reason)
    duplicates = Family("rk_records_duplicate_total", "counter",
                        "Records ignored as duplicates (same stream, id and stage).").add(stats["duplicates"])
    consumed = Family("rk_records_consumed_total", "counter",
                      "Records the consumers processed: accepted, rejected and duplicate.").add(
        sum(stats["accepted"].values()) + sum(stats["deadletter"].values()) + stats["duplicates"])
    lag_family = Family("rk_consumer_lag_records", "gauge",
                        "Records not yet consumed, by stream partition (absent when no consumer reported "
                        "in the last minute).")
    for name, n in sorted(lag.items()):
        stream, _, partition = name.rpartition(".")
        lag_family.add(n, stream=stream, partition=partition)
    newest = Family("rk_newest_event_timestamp_seconds", "gauge", "Event time of the newest accepted record.")
    for stream, ts in sorted(stats.get("last_event_ts", {}).items()):
        newest.add(ts, stream=stream)
    return [accepted, rejected, duplicates, consumed, lag_family, newest]


def latency_family(fields: Mapping[str, str]) -> Family:
    """The batch-latency histogram from the consumers' shared hash (cumulative buckets)."""
    fam = Family("rk_batch_latency_seconds", "histogram",
                 "Seconds from poll to applied batch, over every consumer process.")
    count = float(fields.get("count", 0))
    for bound in LATENCY_BOUNDS_S:
        fam.add(float(fields.get(f"le:{bound_label(bound)}", 0)), "_bucket", le=bound_label(bound))
    fam.add(count, "_bucket", le="+Inf")
    fam.add(float(fields.get("sum", 0.0)), "_sum")
    fam.add(count, "_count")
    return fam


def engine_families(timings: Mapping[str, str], heartbeat: float | None, now: float) -> list[Family]:
    """Run times (engine name -> seconds of its last run, as ``kapok.engines`` stores them) and the
    heartbeat's age."""
    last = Family("rk_engine_last_run_seconds", "gauge", "Seconds the engine's last run took, by engine.")
    for engine, seconds in sorted(timings.items()):
        try:
            last.add(float(seconds), engine=engine)
        except ValueError:
            continue
    age = Family("rk_engine_heartbeat_age_seconds", "gauge",
                 "Seconds since the engine loop's last heartbeat (absent: none in the last 10 minutes).")
    if heartbeat is not None:
        age.add(max(0.0, now - heartbeat))
    return [last, age]


def warning_family(warnings: Iterable[Mapping[str, Any]]) -> Family:
    counts = dict.fromkeys(WARNING_LEVELS, 0)
    for w in warnings:
        if w.get("status") in OPEN_STATUSES and w.get("level") in counts:
            counts[w["level"]] += 1
    fam = Family("rk_warnings_open", "gauge", "Open warnings (raised, acknowledged, dispatched) by level.")
    for level in WARNING_LEVELS:
        fam.add(counts[level], level=level)
    return fam


def collect(store: MetricsStore, now: float | None = None) -> list[Family]:
    """Every family, read from the store."""
    now = time.time() if now is None else now
    client, keys = store.client, store.keys
    stats = store.stats()
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.consumer_lag())
    pipe.hgetall(keys.batch_latency())
    pipe.hgetall(keys.engine_timings())
    pipe.get(keys.engine_heartbeat("engine"))
    pipe.hvals(keys.warnings())
    lag_raw, latency_raw, timing_raw, heartbeat, warning_raw = pipe.execute()
    lag = {_text(k): int(v) for k, v in lag_raw.items()}
    warnings = []
    for raw in warning_raw:
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            warnings.append(item)
    return [
        *consumer_families(stats, lag),
        latency_family({_text(k): _text(v) for k, v in latency_raw.items()}),
        *engine_families({_text(k): _text(v) for k, v in timing_raw.items()},
                         float(heartbeat) if heartbeat is not None else None, now),
        warning_family(warnings),
    ]


def readiness(store: MetricsStore, city: CityModel, max_heartbeat_age_s: float,
              now: float | None = None) -> tuple[bool, dict[str, str]]:
    """(ready, state of each check)."""
    now = time.time() if now is None else now
    checks: dict[str, str] = {}
    try:
        store.client.ping()
        checks["redis"] = "ok"
        beat = store.client.get(store.keys.engine_heartbeat("engine"))
        if beat is None:
            checks["engine"] = "no heartbeat (is `engine` running?)"
        else:
            age = now - float(beat)
            checks["engine"] = "ok" if age <= max_heartbeat_age_s else f"heartbeat {age:.0f} s old"
    except redis.RedisError as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
        checks["engine"] = "unknown (no Redis)"
    checks["city"] = "ok" if len(city.grids) and len(city.districts) else "not loaded"
    return all(v == "ok" for v in checks.values()), checks


def make_ops_routes(store: MetricsStore, city: CityModel, settings: Settings) -> Blueprint:
    """``/metrics`` and ``/api/v1/ready`` (access is decided by :mod:`dashboard.auth`)."""
    ops = Blueprint("rk_ops", __name__)

    @ops.get("/metrics")
    def metrics() -> Any:
        return Response(render(collect(store)), mimetype=None, content_type=CONTENT_TYPE)

    @ops.get("/api/v1/ready")
    def ready() -> Any:
        ok, checks = readiness(store, city, settings.ready_heartbeat_max_s)
        body = {"status": "ready" if ok else "not ready", **checks}
        return (jsonify(body), 200) if ok else (jsonify(body), 503)

    return ops
