"""Redis adapters for the hazards engine: the per-partition register hashes and the step log.

They are handed their client and key names (built by :mod:`metrics.keys`), so no key string is made here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import redis


class RedisRegister:
    """The register: HASHes (one per partition) of hazard id -> entry JSON.

    ``register_keys`` is called at each read, so partitions that appear later are picked up (e.g.
    ``lambda: [keys.hazard_register(p) for s, p in store.partitions() if s == "hazards"]``).
    """

    def __init__(self, client: redis.Redis, register_keys: Callable[[], Sequence[str]]) -> None:
        self.client = client
        self.register_keys = register_keys

    def hazard_entries(self) -> Iterator[bytes]:
        """Every entry of every partition (HSCAN, so a large register is read in pieces)."""
        for key in self.register_keys():
            for _, value in self.client.hscan_iter(key, count=5000):
                yield value if isinstance(value, bytes) else value.encode()

    def drop_hazards(self, hazard_ids: Iterable[str]) -> None:
        """Delete hazards from whichever partition holds them (HDEL of an absent field is a no-op)."""
        ids = list(hazard_ids)
        if not ids:
            return
        pipe = self.client.pipeline(transaction=False)
        for key in self.register_keys():
            for start in range(0, len(ids), 1000):
                pipe.hdel(key, *ids[start:start + 1000])
        pipe.execute()


class RedisStepLog:
    """The step log: one HASH step id -> step JSON (kept until its hazard is dropped)."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client = client
        self.key = key

    def recorded_steps(self) -> set[str]:
        return {k.decode() if isinstance(k, bytes) else k for k in self.client.hkeys(self.key)}

    def record_steps(self, steps: list[dict[str, Any]]) -> None:
        for start in range(0, len(steps), 5000):
            chunk = steps[start:start + 5000]
            mapping = {s["step"]: json.dumps(s, separators=(",", ":")) for s in chunk}
            self.client.hset(self.key, mapping=mapping)

    def steps(self) -> list[dict[str, Any]]:
        """Every recorded step, oldest first (for the dashboard's hazard history)."""
        found = [json.loads(v) for v in self.client.hvals(self.key)]
        return sorted(found, key=lambda s: (s["at"], s["step"]))

    def forget_steps(self, hazard_ids: Iterable[str]) -> None:
        """Drop the steps of hazards that left the register."""
        gone = set(hazard_ids)
        stale = [k for k in self.recorded_steps() if k.rsplit("|", 2)[0] in gone]
        for start in range(0, len(stale), 1000):
            self.client.hdel(self.key, *stale[start:start + 1000])
