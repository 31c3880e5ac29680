"""The event model: how many events of each category happen in an hour, where, and how they unfold.

Pure (numpy only). An hour chunk is generated from random streams seeded by ``(seed, hour, stream,
purpose)`` alone, so an hour's events do not depend on where a run starts or how far it goes; the same
seed gives the same hour byte for byte.

Intensity of category *c* of stream *s* in the local hour *h* of date *d*::

    events_per_day × STREAM_SHARES[s] × CATEGORY_SHARES[s][c] / 24 × HOURLY[s][c][h] × day_factor(s, c, d)

where ``day_factor`` is the weekly shape (or the holiday factor, see :mod:`.holidays`). Counts are
Poisson, times uniform within the hour, positions drawn from the stream's :class:`LocationTable`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from streams.schemas import STREAMS
from streams.simulator.holidays import day_factors
from streams.simulator.lifecycle import EventFrame, StageRecords, unfold
from streams.simulator.profiles import CATEGORY_ORDER, CATEGORY_SHARES, HOURLY, STREAM_SHARES
from streams.simulator.world import KM_PER_DEG_LAT, KM_PER_DEG_LON_EQ, World

if TYPE_CHECKING:
    from streams.simulator.scenarios import ScenarioPlan

__all__ = [
    "HOUR",
    "LOCAL_OFFSET_S",
    "STREAM_CODE",
    "HourStream",
    "SimParams",
    "generate_hour",
    "hour_intensity",
    "hour_rng",
    "local_date",
    "scatter_in_cells",
]

HOUR: Final[int] = 3600
LOCAL_OFFSET_S: Final[int] = 8 * HOUR
"""Asia/Shanghai is UTC+8 all year (no daylight saving); event times are written in local time."""

STREAM_CODE: Final[dict[str, int]] = {s: i for i, s in enumerate(STREAMS)}

# purposes of the per-hour random streams
P_BASELINE, P_LIFECYCLE, P_DEFECTS, P_SCENARIO = 1, 2, 3, 4


@dataclass(frozen=True)
class SimParams:
    """Volume and feed-quality parameters of a run (shares are fractions of records unless noted)."""

    events_per_day: float = 60000.0
    """City-wide first-stage records per day on average (stage updates come on top)."""
    malformed_share: float = 0.002
    """Records replaced by a broken version (not JSON, bad value, unknown category, missing field…)."""
    duplicate_share: float = 0.005
    """Records sent twice, byte for byte (a producer's retry)."""
    late_share: float = 0.01
    """Records sent minutes to hours after their event time."""
    wgs84_share: float = 0.015
    """Positioned records sent in WGS-84 (converted, ``crs: wgs84``)."""
    bd09_share: float = 0.01
    """Positioned records sent in BD-09 (converted, ``crs: bd09``)."""
    district_only_share: float = 0.04
    """Hotline tickets with no position, only ``district`` (calls whose address was not geocoded)."""
    phone_share: float = 0.7
    """Hotline tickets (created) carrying a fake ``caller_phone``."""
    text_share: float = 0.4
    """Hotline tickets (created) carrying a ``text``."""
    omit_stage_share: float = 0.1
    """First-stage records that leave ``stage`` out (it defaults to the first stage)."""

    def __post_init__(self) -> None:
        if not self.events_per_day >= 0:
            raise ValueError(f"events_per_day must be ≥ 0, got {self.events_per_day}")
        for name in (
            "malformed_share",
            "duplicate_share",
            "late_share",
            "wgs84_share",
            "bd09_share",
            "district_only_share",
            "phone_share",
            "text_share",
            "omit_stage_share",
        ):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")


@dataclass
class HourStream:
    """One stream's part of an hour chunk: its events and all their stage records."""

    stream: str
    hour: int
    events: EventFrame
    stages: list[StageRecords]


def hour_rng(seed: int, hour: int, stream: str, purpose: int, extra: int = 0) -> np.random.Generator:
    """The random stream of one hour chunk (``hour`` = epoch seconds // 3600) for one purpose."""
    return np.random.default_rng(np.random.SeedSequence([seed, hour, STREAM_CODE[stream], purpose, extra]))


def local_date(hour: int) -> tuple[dt.date, int]:
    """Local (UTC+8) date and hour of day of an hour chunk."""
    t = hour * HOUR + LOCAL_OFFSET_S
    return dt.datetime.fromtimestamp(t, dt.UTC).date(), (t // HOUR) % 24


_SHARES: Final = {
    s: np.array([STREAM_SHARES[s] * CATEGORY_SHARES[s][c] for c in CATEGORY_ORDER[s]]) for s in STREAMS
}
_HOURLY: Final = {s: np.array(HOURLY[s]) for s in STREAMS}


def hour_intensity(params: SimParams, stream: str, hour: int) -> np.ndarray:
    """Expected baseline events per category (CATEGORY_ORDER) of ``stream`` in an hour chunk."""
    day, hod = local_date(hour)
    return params.events_per_day / 24.0 * _SHARES[stream] * _HOURLY[stream][:, hod] * day_factors(stream, day)


def scatter_in_cells(
    rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray, radius_km: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in discs of ``radius_km`` around each (lon, lat), rounded to 6 decimals (~0.1 m)."""
    n = len(lon)
    r = radius_km * np.sqrt(rng.random(n))
    theta = rng.random(n) * (2 * np.pi)
    out_lon = lon + r * np.cos(theta) / (KM_PER_DEG_LON_EQ * np.cos(np.radians(lat)))
    out_lat = lat + r * np.sin(theta) / KM_PER_DEG_LAT
    return np.round(out_lon, 6), np.round(out_lat, 6)


def _baseline(world: World, params: SimParams, stream: str, hour: int) -> EventFrame:
    rng = hour_rng(world.seed, hour, stream, P_BASELINE)
    counts = rng.poisson(hour_intensity(params, stream, hour))
    table = world.locations[stream]
    category = np.repeat(np.arange(len(counts)), counts)
    loc = np.empty(len(category), dtype=np.int64)
    start = 0
    for c, k in enumerate(counts.tolist()):
        if k:
            cum = table.cum[c]
            picks = np.searchsorted(cum, rng.random(k) * cum[-1], side="right")
            loc[start : start + k] = np.minimum(picks, len(cum) - 1)
            start += k
    ts = hour * HOUR + rng.integers(0, HOUR, len(category))
    lon, lat = scatter_in_cells(rng, table.lon[loc], table.lat[loc], table.jitter_km[loc])
    cell = table.cell[loc]
    n = len(category)
    return EventFrame(
        stream=stream,
        ts=ts.astype(np.int64),
        category=category,
        lon=lon,
        lat=lat,
        cell=cell,
        district=world.cell_district[cell],
        camera=table.camera[loc],
        scenario=np.full(n, -1),
        caller=np.full(n, -1),
    )


def generate_hour(
    world: World, params: SimParams, hour: int, scenarios: tuple[ScenarioPlan, ...] = ()
) -> list[HourStream]:
    """Every event of one hour chunk (baseline plus scenario injections) with all its stage records.

    Args:
        world: the static city of the run.
        params: volumes and shares.
        hour: the chunk, as epoch seconds // 3600 (UTC hour; Asia/Shanghai hours align with it).
        scenarios: resolved scenario plans; each adds its events for the hours it covers.
    """
    out = []
    for stream in STREAMS:
        parts = [_baseline(world, params, stream, hour)]
        for position, plan in enumerate(scenarios):
            frame = plan.events(world, stream, hour, position)
            if frame is not None and len(frame):
                parts.append(frame)
        events = EventFrame.concat(stream, parts)
        stages = unfold(hour_rng(world.seed, hour, stream, P_LIFECYCLE), events, world)
        out.append(HourStream(stream, hour, events, stages))
    return out
