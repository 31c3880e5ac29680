"""How events unfold: stage records with delays, per stream, vectorised over one hour's events.

Each function takes the hour's :class:`EventFrame` of a stream and returns one :class:`StageRecords`
per stage (the first stage included), holding the event indexes that reach the stage, the stage's event
time (epoch seconds) and its stream-specific fields. Delays are log-normal around medians that depend
on the district (``World.districts``), so districts differ in response, resolution and satisfaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

from streams.simulator.profiles import (
    CATEGORY_ORDER,
    GRADE_DEADLINE_DAYS,
    GRADE_PROBS,
    RESOLVE_FACTOR,
    SEVERITY_PROBS,
    SLA_HOURS,
    SURVEILLANCE_FALSE_FACTOR,
)
from streams.simulator.world import World

__all__ = ["EventFrame", "StageRecords", "unfold"]

HOUR: Final[int] = 3600
DAY: Final[int] = 86400
GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D")


@dataclass
class EventFrame:
    """One hour's events of one stream, sorted by first-stage time (epoch seconds, int64).

    ``cell``/``district`` index ``World.cell_ids``/``World.districts``; ``camera`` indexes
    ``World.cameras`` (-1 when not a camera alert); ``scenario`` is -1 for baseline events, else the
    position of the injecting scenario; ``caller`` indexes ``World.callers`` (-1: draw one).
    """

    stream: str
    ts: np.ndarray
    category: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    cell: np.ndarray
    district: np.ndarray
    camera: np.ndarray
    scenario: np.ndarray
    caller: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def concat(cls, stream: str, parts: list[EventFrame]) -> EventFrame:
        """Join frames and sort by time (stable, so equal times keep the order of ``parts``)."""
        names = ("ts", "category", "lon", "lat", "cell", "district", "camera", "scenario", "caller")
        joined = {n: np.concatenate([getattr(p, n) for p in parts]) for n in names}
        order = np.argsort(joined["ts"], kind="stable")
        return cls(stream=stream, **{n: a[order] for n, a in joined.items()})


@dataclass
class StageRecords:
    """The records of one stage: which events reach it, when, and with which extra fields."""

    stage: str
    stage_no: int
    idx: np.ndarray
    ts: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)


def _lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: float, n: int) -> np.ndarray:
    return np.asarray(median, dtype=float) * np.exp(sigma * rng.standard_normal(n))


def _categorical(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw a column index per row from ``table[rows]`` (rows of probabilities)."""
    cum = np.cumsum(table, axis=1)[rows]
    u = rng.random(len(rows))[:, None]
    return np.minimum((u >= cum).sum(axis=1), table.shape[1] - 1)


_SEVERITY: Final = np.array([SEVERITY_PROBS[c] for c in CATEGORY_ORDER["incidents"]])
_GRADE: Final = np.array([GRADE_PROBS[c] for c in CATEGORY_ORDER["hazards"]])
_SLA: Final = np.array([SLA_HOURS[c] for c in CATEGORY_ORDER["hotline"]])
_RESOLVE: Final = np.array([RESOLVE_FACTOR.get(c, 1.0) for c in CATEGORY_ORDER["hotline"]])
_FALSE: Final = np.array([SURVEILLANCE_FALSE_FACTOR[c] for c in CATEGORY_ORDER["surveillance"]])
_DEADLINE: Final = np.array([GRADE_DEADLINE_DAYS[g] * DAY for g in GRADES])


def _incidents(rng: np.random.Generator, ev: EventFrame, world: World) -> list[StageRecords]:
    n = len(ev)
    params = world.districts
    severity = _categorical(rng, _SEVERITY, ev.category) + 1
    quality = np.exp(0.2 * params["perf"].to_numpy()[ev.district])
    travel = params["travel_factor"].to_numpy()[ev.district]
    dispatched = rng.random(n) < 0.96
    t_disp = ev.ts + np.maximum(20, _lognormal(rng, 90.0 * (1.25 - 0.1 * severity) * quality, 0.6, n))
    arrived = dispatched & (rng.random(n) < 0.94)
    t_arr = t_disp + np.maximum(
        60, _lognormal(rng, 600.0 * travel * (1.1 - 0.05 * severity) * quality, 0.5, n)
    )
    last = np.where(arrived, t_arr, np.where(dispatched, t_disp, ev.ts))
    t_close = last + np.maximum(120, _lognormal(rng, 2700.0 * (0.7 + 0.3 * severity), 0.9, n))
    all_idx = np.arange(n)
    return [
        StageRecords("reported", 0, all_idx, ev.ts, {"severity": severity}),
        # severity is required on every incident record, stage updates included
        StageRecords(
            "dispatched",
            1,
            np.flatnonzero(dispatched),
            t_disp[dispatched],
            {"severity": severity[dispatched]},
        ),
        StageRecords("arrived", 2, np.flatnonzero(arrived), t_arr[arrived], {"severity": severity[arrived]}),
        StageRecords("closed", 3, all_idx, t_close, {"severity": severity}),
    ]


def _surveillance(rng: np.random.Generator, ev: EventFrame, world: World) -> list[StageRecords]:
    n = len(ev)
    false_share = np.clip(world.cameras["false_share"].to_numpy()[ev.camera] * _FALSE[ev.category], 0.0, 0.95)
    is_false = rng.random(n) < false_share
    confidence = np.where(is_false, rng.beta(4.0, 3.0, n), rng.beta(9.0, 2.2, n))
    confidence = np.round(np.clip(confidence, 0.05, 0.999), 3)
    reviewed = rng.random(n) < np.clip(0.72 + 0.2 * confidence, 0.0, 1.0)
    quality = np.exp(0.3 * world.districts["perf"].to_numpy()[ev.district])
    t_rev = ev.ts + np.maximum(15, _lognormal(rng, 360.0 * quality, 0.8, n))
    operator_error = rng.random(n) < 0.02
    verified = (~is_false) ^ operator_error
    r = np.flatnonzero(reviewed)
    cam = world.cameras["camera_id"].to_numpy()[ev.camera]
    return [
        StageRecords("detected", 0, np.arange(n), ev.ts, {"camera_id": cam, "confidence": confidence}),
        StageRecords(
            "reviewed",
            1,
            r,
            t_rev[r],
            {"camera_id": cam[r], "confidence": confidence[r], "verified": verified[r]},
        ),
    ]


def _hotline(rng: np.random.Generator, ev: EventFrame, world: World) -> list[StageRecords]:
    n = len(ev)
    params = world.districts
    sla_h = _SLA[ev.category]
    responded = rng.random(n) < 0.97
    t_resp = ev.ts + np.maximum(
        60, _lognormal(rng, params["resp_median_h"].to_numpy()[ev.district] * HOUR, 0.9, n)
    )
    resolved = responded & (rng.random(n) < 0.93)
    resolve_median = params["resolve_median_h"].to_numpy()[ev.district] * _RESOLVE[ev.category] * HOUR
    t_res = t_resp + np.maximum(300, _lognormal(rng, resolve_median, 1.0, n))
    rated = resolved & (rng.random(n) < 0.65)
    t_rate = t_res + np.maximum(60, _lognormal(rng, 3.0 * HOUR, 1.0, n))
    late_response = (t_resp - ev.ts) > sla_h * HOUR
    late_resolution = (t_res - ev.ts) > 3 * sla_h * HOUR
    latent = (
        4.25
        + params["sat_shift"].to_numpy()[ev.district]
        - 0.8 * late_resolution
        - 0.4 * late_response
        + 0.9 * rng.standard_normal(n)
    )
    satisfaction = np.clip(np.rint(latent), 1, 5).astype(np.int64)
    reopened = rated & (rng.random(n) < 0.02 + 0.35 * (satisfaction <= 2))
    t_reopen = t_rate + np.maximum(600, _lognormal(rng, 12.0 * HOUR, 0.8, n))
    sla_sent = np.where(rng.random(n) < 0.9, sla_h, np.nan)  # some platforms leave the SLA out
    stages = [StageRecords("created", 0, np.arange(n), ev.ts, {"sla_hours": sla_sent})]
    for no, (name, mask, ts) in enumerate(
        (
            ("responded", responded, t_resp),
            ("resolved", resolved, t_res),
            ("rated", rated, t_rate),
            ("reopened", reopened, t_reopen),
        ),
        start=1,
    ):
        idx = np.flatnonzero(mask)
        extra = {"satisfaction": satisfaction[idx]} if name == "rated" else {}
        stages.append(StageRecords(name, no, idx, ts[idx], extra))
    return stages


def _hazards(rng: np.random.Generator, ev: EventFrame, world: World) -> list[StageRecords]:
    n = len(ev)
    params = world.districts
    grade = _categorical(rng, _GRADE, ev.category)
    due = ev.ts + _DEADLINE[grade].astype(np.int64)
    assessed = rng.random(n) < 0.95
    t_ass = ev.ts + np.maximum(1800, _lognormal(rng, 20.0 * HOUR, 0.6, n))
    # an assessment sometimes re-grades (one step), which moves the deadline
    step = np.where(rng.random(n) < 0.10, rng.choice(np.array([-1, 1]), n), 0)
    grade2 = np.clip(grade + step, 0, 3)
    due2 = ev.ts + _DEADLINE[grade2].astype(np.int64)
    rectifying = assessed & (rng.random(n) < 0.93)
    t_start = t_ass + np.maximum(1800, _lognormal(rng, DAY * np.array([0.3, 0.5, 1.0, 1.5])[grade2], 0.7, n))
    rectified = rectifying & (rng.random(n) < 0.97)
    late = rng.random(n) < params["late_share"].to_numpy()[ev.district]
    window = np.maximum(due2 - t_start, HOUR)
    on_time_at = t_start + rng.uniform(0.2, 0.95, n) * window
    late_at = np.maximum(due2, t_start) + np.maximum(HOUR, _lognormal(rng, 0.3 * _DEADLINE[grade2], 0.7, n))
    t_fixed = np.where(late, late_at, on_time_at)
    reopened = rectified & (rng.random(n) < 0.06)
    t_reopen = t_fixed + np.maximum(HOUR, _lognormal(rng, 1.5 * DAY, 0.5, n))
    t_verify = np.where(
        reopened,
        t_reopen + np.maximum(HOUR, _lognormal(rng, 0.4 * _DEADLINE[grade2], 0.5, n)),
        t_fixed + np.maximum(HOUR, _lognormal(rng, 1.5 * DAY, 0.5, n)),
    )
    letters = np.array(GRADES, dtype=object)
    stages = [StageRecords("reported", 0, np.arange(n), ev.ts, {"grade": letters[grade], "due": due})]
    a = np.flatnonzero(assessed)
    stages.append(StageRecords("assessed", 1, a, t_ass[a], {"grade": letters[grade2[a]], "due": due2[a]}))
    for no, (name, mask, ts) in enumerate(
        (
            ("rectifying", rectifying, t_start),
            ("rectified", rectified, t_fixed),
            ("verified", rectified, t_verify),
            ("reopened", reopened, t_reopen),
        ),
        start=2,
    ):
        idx = np.flatnonzero(mask)
        stages.append(StageRecords(name, no, idx, ts[idx], {"grade": letters[grade2[idx]]}))
    return stages


_UNFOLD: Final = {
    "incidents": _incidents,
    "surveillance": _surveillance,
    "hotline": _hotline,
    "hazards": _hazards,
}


def unfold(rng: np.random.Generator, events: EventFrame, world: World) -> list[StageRecords]:
    """All stage records of ``events``; stage times are int64 epoch seconds, never before the event."""
    stages = _UNFOLD[events.stream](rng, events, world)
    for s in stages:
        s.ts = np.asarray(np.rint(s.ts), dtype=np.int64)
        if "due" in s.fields:
            s.fields["due"] = np.asarray(s.fields["due"], dtype=np.int64)
    return stages
