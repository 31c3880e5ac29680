"""The whole index for one moment: every level's snapshot (score, level, rank, change, explanation).

Snapshot columns (one row per entity, index = grid_id / district_code / "city"):

- ``score`` (0-100, NaN without data), ``level`` ("A".."D" or None), ``rank`` (1 = best, among entities
  with enough data), for cells ``district_code`` and ``rank_in_district``;
- ``data_ok`` (every data-coverage gate passes), ``thin_data`` (fewer events than ``min_events``),
  ``s4_hold`` (held at C or worse by a severity-4 event), ``coverage`` (share of dimension weight present),
  ``events`` (events in the thin-data window);
- ``change_1d``, ``change_7d`` (score now minus the score of the windows ending a day / a week earlier);
- ``dim.<dimension>``, ``ind.<indicator>`` (0-100), ``raw.<indicator>`` (the indicator's unit),
  ``contrib.<indicator>`` (adds up to ``score``), ``contrib_1d.<indicator>``, ``contrib_7d.<indicator>``
  (add up to the changes), ``gate.<gate>`` (bool);
- districts also ``rank_p05``, ``rank_p50``, ``rank_p95`` (Monte Carlo rank interval).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metrics.index.config import IndexConfig
from metrics.index.explain import change_contributions, contributions
from metrics.index.indicators import CityData, RawLevel, raw_values
from metrics.index.levels import assign_levels, rank_scores, rank_within
from metrics.index.scoring import ScoredLevel, score_level
from metrics.index.uncertainty import rank_intervals
from metrics.index.vocabulary import LEVELS

#: Columns worth keeping in the long history (the store's retention tiers); the rest is latest-only.
HISTORY_COLUMNS = ("score", "level", "rank", "data_ok")


@dataclass(frozen=True)
class IndexResult:
    """Snapshots per level (``grid``, ``district``, ``city``), the index version and the time reflected."""

    version: str
    as_of: float | None
    snapshots: Mapping[str, pd.DataFrame]
    weights: Mapping[str, Mapping[str, float]]
    skipped: tuple[str, ...]


def _scored(config: IndexConfig, level: str, data: CityData) -> tuple[RawLevel, ScoredLevel]:
    raw = raw_values(config, level, data)
    return raw, score_level(config, raw.values)


@dataclass
class _Memo:
    frames: tuple[pd.DataFrame, ...]
    attributes: pd.DataFrame
    scored: ScoredLevel


def _scored_previous(config: IndexConfig, level: str, data: CityData, tag: str,
                     memo: MutableMapping[tuple[str, str], Any] | None) -> ScoredLevel:
    """The previous period's scores, reused while its frames are the very same objects (a store keeps
    a window's frame until one of its buckets changes) and its attributes are equal: the day-before
    and week-before windows move once an hour, but the engine runs every minute."""
    if memo is None:
        return _scored(config, level, data)[1]
    level_data = data.level(level)
    frames = tuple(level_data.frames[name] for name in sorted(level_data.frames))
    hit = memo.get((tag, level))
    if (hit is not None and len(hit.frames) == len(frames)
            and all(a is b for a, b in zip(hit.frames, frames, strict=True))
            and hit.attributes.equals(level_data.attributes)):
        return hit.scored
    scored = _scored(config, level, data)[1]
    memo[(tag, level)] = _Memo(frames, level_data.attributes, scored)
    return scored


def _align(prev: ScoredLevel, cur: ScoredLevel, config: IndexConfig) -> ScoredLevel:
    """Re-score the previous period on the current indicator set and entities, for comparable changes."""
    values = pd.DataFrame(prev.raw, index=prev.entities, columns=[i.name for i in prev.indicators])
    values = values.reindex(index=cur.entities, columns=[i.name for i in cur.indicators])
    if values.columns.tolist() == [i.name for i in prev.indicators] and values.index.equals(prev.entities):
        return prev
    return score_level(config, values)


def _level_snapshot(
    config: IndexConfig,
    level: str,
    raw: RawLevel,
    cur: ScoredLevel,
    previous: Mapping[str, ScoredLevel | None],
    previous_level: pd.Series | None,
    attrs: pd.DataFrame,
) -> pd.DataFrame:
    ids = cur.entities
    data_ok = raw.gates.all(axis=1).to_numpy() if raw.gates.shape[1] else np.ones(len(ids), dtype=bool)
    prev_letters = previous_level.reindex(ids).to_numpy(dtype=object) if previous_level is not None else None
    hold = level in config.levels.s4_hold_scopes
    letters = assign_levels(cur.index, config.levels, prev_letters, raw.s4_24h, hold)
    letters = np.where(data_ok, letters, None)
    out: dict[str, object] = {}
    if level == "grid":
        out["district_code"] = attrs["district_code"].to_numpy()
    out["score"] = cur.index
    out["level"] = letters
    out["rank"] = rank_scores(cur.index, data_ok, ids)
    if level == "grid":
        out["rank_in_district"] = rank_within(cur.index, data_ok, ids, attrs["district_code"].to_numpy())
    out["data_ok"] = data_ok
    out["thin_data"] = raw.events < config.small_numbers.min_events
    out["s4_hold"] = (raw.s4_24h > 0) & hold & (config.levels.s4_hold is not None)
    out["events"] = raw.events
    wsum = (~np.isnan(cur.dim_scores) * cur.dim_weights[None, :]).sum(axis=1)
    out["coverage"] = wsum / cur.dim_weights.sum() if cur.dim_weights.sum() > 0 else np.zeros(len(ids))
    for d_j, dim in enumerate(cur.dimensions):
        out[f"dim.{dim.name}"] = cur.dim_scores[:, d_j]
    names = [i.name for i in cur.indicators]
    for j, name in enumerate(names):
        out[f"ind.{name}"] = cur.scores[:, j]
        out[f"raw.{name}"] = cur.raw[:, j]
    weighted = cur.weighted()
    contrib = contributions(weighted, cur.member, cur.aggregation, config.method.geometric_floor)
    for j, name in enumerate(names):
        out[f"contrib.{name}"] = contrib[:, j]
    for tag, prev in previous.items():
        if prev is None:
            out[f"change_{tag}"] = np.full(len(ids), np.nan)
            for name in names:
                out[f"contrib_{tag}.{name}"] = np.full(len(ids), np.nan)
            continue
        prev = _align(prev, cur, config)
        out[f"change_{tag}"] = cur.index - prev.index
        delta = change_contributions(
            weighted, prev.weighted(), cur.member, cur.aggregation, config.method.geometric_floor
        )
        for j, name in enumerate(names):
            out[f"contrib_{tag}.{name}"] = delta[:, j]
    for gate in raw.gates.columns:
        out[f"gate.{gate}"] = raw.gates[gate].to_numpy()
    frame = pd.DataFrame(out, index=ids)
    frame.index.name = "entity"
    return frame


def compute_index(
    config: IndexConfig,
    current: CityData,
    *,
    previous_day: CityData | None = None,
    previous_week: CityData | None = None,
    previous_levels: Mapping[str, pd.Series] | None = None,
    monte_carlo: bool = True,
    previous_memo: MutableMapping[tuple[str, str], Any] | None = None,
) -> IndexResult:
    """Snapshots of every level for the moment ``current`` reflects.

    Args:
        config: the validated indicator system.
        current: frames and attributes of the windows ending now.
        previous_day, previous_week: the same for the windows ending 24 h / 7 d earlier (changes and
            their explanation); None leaves those columns NaN.
        previous_levels: level -> Series of the last run's letters by entity, for hysteresis.
        monte_carlo: add the districts' 5th-95th percentile rank interval.
        previous_memo: a dict kept by the caller between runs: the previous periods' scores are reused
            while their frames are unchanged (the same objects).
    """
    snapshots: dict[str, pd.DataFrame] = {}
    weights: dict[str, dict[str, float]] = {}
    skipped: set[str] = set()
    for level in LEVELS:
        raw, cur = _scored(config, level, current)
        skipped.update(raw.skipped)
        previous: dict[str, ScoredLevel | None] = {}
        for tag, data in (("1d", previous_day), ("7d", previous_week)):
            previous[tag] = (_scored_previous(config, level, data, tag, previous_memo)
                             if data is not None else None)
        prev_letters = (previous_levels or {}).get(level)
        snap = _level_snapshot(
            config, level, raw, cur, previous, prev_letters, current.level(level).attributes
        )
        if level == "district" and monte_carlo:
            intervals = rank_intervals(config, current, level="district")
            snap = snap.join(intervals)
        snapshots[level] = snap
        weights[level] = {
            **{f"dim.{d.name}": float(w) for d, w in zip(cur.dimensions, cur.dim_weights, strict=True)},
            **{f"ind.{i.name}": float(w) for i, w in zip(cur.indicators, cur.ind_weights, strict=True)},
        }
    return IndexResult(config.version, current.as_of, snapshots, weights, tuple(sorted(skipped)))
