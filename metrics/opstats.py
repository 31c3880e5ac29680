"""Operational figures that processes other than the dashboard produce and ``/metrics`` reads: the
consumers' batch-latency histogram (key in :mod:`metrics.keys`; the engines' run times are written by
``kapok.engines`` to ``Keys.engine_timings``)."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from metrics.keys import Keys

#: Upper bounds (s) of the batch-latency histogram buckets; ``+Inf`` is implied.
LATENCY_BOUNDS_S: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def bound_label(bound: float) -> str:
    """A bucket bound as Prometheus writes it (``0.005``, ``1.0``, ``+Inf``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def latency_fields(seconds: Sequence[float]) -> dict[str, float]:
    """The histogram increments of some batch latencies: cumulative ``le:<bound>`` counts, ``sum``,
    ``count`` (pure, so the consumer adds them in one round trip)."""
    out: dict[str, float] = {}
    for bound in (*LATENCY_BOUNDS_S, float("inf")):
        n = sum(1 for s in seconds if s <= bound)
        if n:
            out[f"le:{bound_label(bound)}"] = n
    if seconds:
        out["sum"] = float(sum(seconds))
        out["count"] = len(seconds)
    return out


def record_batch_latency(client: redis.Redis, keys: Keys, seconds: Sequence[float]) -> None:
    """Add batch latencies (s, poll to applied) to the shared histogram. Hook for streams.consumer: call
    it after each applied batch (or every few, with the latencies collected in between)."""
    fields = latency_fields(seconds)
    if not fields:
        return
    pipe = client.pipeline(transaction=False)
    for name, value in fields.items():
        if name == "sum":
            pipe.hincrbyfloat(keys.batch_latency(), name, value)
        else:
            pipe.hincrby(keys.batch_latency(), name, int(value))
    pipe.execute()
