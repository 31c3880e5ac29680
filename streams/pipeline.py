"""From raw record values to an applied batch: validate, place, plan, apply.

The consumer and the direct backfill share this code, so history written straight into the store is
counted by exactly the rules live records are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from geo.city import CityModel
from kapok.settings import Settings
from metrics.hazards.register import register_entry
from metrics.ledger import BatchPlan, PlacedEvent, optional_floats, plan_batch
from metrics.store import ApplyResult, MetricsStore
from streams.schemas import Event
from streams.validate import validate_batch


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record as the pipeline needs it."""

    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Rejected:
    """A record that goes to the dead-letter topic, with its reason code and a short explanation."""

    record: RawRecord
    reason: str
    detail: str


@dataclass
class Prepared:
    """A batch after validation and placement, ready to be planned against stored state."""

    stream: str
    placed: list[PlacedEvent] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    first_offset: int = 0
    next_offset: int = 0


_offset_of = attrgetter("offset")


class Ingestor:
    """Validates and places batches of one city, and applies them to one store."""

    def __init__(self, settings: Settings, city: CityModel, store: MetricsStore) -> None:
        self.settings = settings
        self.city = city
        self.store = store
        self._district_codes = frozenset(city.districts.index)
        self._pii_key = settings.pii_hash_key.encode()
        #: Streams that keep a register beside their counters: stream -> entry builder (see metrics.ledger).
        self.registers: dict[str, Callable[[Mapping[str, str], Event], bytes]] = {"hazards": register_entry}

    def prepare(self, stream: str, records: Sequence[RawRecord], *, now: float | None = None) -> Prepared:
        """Validate and place records (in offset order). Rejections keep their original bytes."""
        return self.prepare_columns(stream, [r.offset for r in records], [r.key for r in records],
                                    [r.value for r in records], now=now)

    def prepare_columns(self, stream: str, offsets: Sequence[int], keys: Sequence[bytes | None],
                        values: Sequence[bytes | None], *, now: float | None = None) -> Prepared:
        """:meth:`prepare` of records given as columns (as a consumer hands them to a worker process):
        no object per record until it is placed or rejected."""
        now = time.time() if now is None else now
        prepared = Prepared(stream)
        if not offsets:
            return prepared
        prepared.first_offset = offsets[0]
        prepared.next_offset = offsets[-1] + 1
        accepted, rejections = validate_batch(
            stream,
            values,
            now=now,
            retention_s=self.settings.retention_days * 86400,
            future_tolerance_s=self.settings.future_tolerance_s,
            district_codes=self._district_codes,
            pii_key=self._pii_key,
        )
        for rej in rejections:
            i = rej.index
            prepared.rejected.append(Rejected(RawRecord(offsets[i], keys[i], values[i]), rej.reason, rej.detail))
        # Every accepted record is placed in one call; one without a position has NaN there, which places
        # nowhere, like a position outside every district.
        lon, has_lon = optional_floats([ev.lon for _, ev in accepted])
        lat, has_lat = optional_floats([ev.lat for _, ev in accepted])
        positioned = has_lon & has_lat
        if positioned.any():
            grid_array, district_array = self.city.assign(np.where(positioned, lon, np.nan),
                                                          np.where(positioned, lat, np.nan))
        else:
            grid_array = district_array = np.full(len(accepted), None, dtype=object)
        placed = prepared.placed
        for (i, ev), grid_id, district_code in zip(accepted, grid_array.tolist(), district_array.tolist(),
                                                   strict=True):
            if district_code is None:
                if ev.district is None:
                    prepared.rejected.append(Rejected(
                        RawRecord(offsets[i], keys[i], values[i]), "outside_city",
                        f"position ({ev.lon}, {ev.lat}) lies outside every district and no district is given",
                    ))
                    continue
                # The contract's fallback: no usable position, so the record counts at district level.
                grid_id, district_code = None, ev.district
            placed.append(PlacedEvent(offsets[i], ev, grid_id, district_code))
        placed.sort(key=_offset_of)  # already in order from Kafka: one linear pass
        prepared.rejected.sort(key=lambda rej: rej.record.offset)
        return prepared

    def plan(self, prepared: Prepared, partition: int) -> tuple[int | None, BatchPlan]:
        """Read the stored offset and lifecycle states, and plan the batch's writes against them."""
        stored, states = self.store.read_states(prepared.stream, partition,
                                                [pe.event.id for pe in prepared.placed])
        return stored, self.plan_with(prepared, states)

    def plan_with(self, prepared: Prepared, states: Mapping[str, Mapping[str, str]], *,
                  now: float | None = None) -> BatchPlan:
        """Plan the batch against the given lifecycle states."""
        now = time.time() if now is None else now
        plan = plan_batch(
            prepared.placed, states,
            keep_text=self.settings.text_retention_days > 0,
            now=now,
            recent_since=now - self.store.recent_retention_s,
            register=self.registers.get(prepared.stream),
        )
        for rej in prepared.rejected:
            plan.rejected[rej.reason] += 1
        return plan

    def apply(self, prepared: Prepared, partition: int, *, expected_offset: int | str | None,
              plan: BatchPlan) -> ApplyResult:
        """Apply a planned batch (``expected_offset="*"``: backfill, no offset check or move)."""
        return self.store.apply_batch(
            prepared.stream, partition, expected_offset=expected_offset,
            new_offset=prepared.next_offset, plan=plan,
        )
