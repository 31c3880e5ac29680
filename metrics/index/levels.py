"""Levels A-D from scores, with hysteresis and the severity-4 hold; ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metrics.index.config import LEVEL_NAMES, LevelRules


def level_index(scores: np.ndarray, thresholds: tuple[float, float, float]) -> np.ndarray:
    """0 (A) .. 3 (D): A when score >= thresholds[0], B when >= [1], C when >= [2], else D."""
    s = np.asarray(scores, dtype=float)
    a, b, c = thresholds
    return 3 - (s >= c).astype(int) - (s >= b).astype(int) - (s >= a).astype(int)


def assign_levels(
    scores: np.ndarray,
    rules: LevelRules,
    previous: np.ndarray | None = None,
    s4_events: np.ndarray | None = None,
    hold: bool = False,
) -> np.ndarray:
    """Level letters (object array; None where the score is NaN).

    With a previous level, an entity moves only as far as the score passes a threshold by ``margin``:
    the new level is the previous one clipped to [level(score + margin), level(score - margin)].
    ``hold``: an entity with a severity-4 event (``s4_events`` > 0) is at ``rules.s4_hold`` or worse.
    """
    s = np.asarray(scores, dtype=float)
    idx = level_index(s, rules.thresholds)
    if previous is not None:
        prev = np.array(
            [LEVEL_NAMES.index(p) if isinstance(p, str) and p in LEVEL_NAMES else -1 for p in previous]
        )
        best = level_index(s + rules.margin, rules.thresholds)
        worst = level_index(s - rules.margin, rules.thresholds)
        idx = np.where(prev >= 0, np.clip(prev, best, worst), idx)
    if hold and rules.s4_hold is not None and s4_events is not None:
        floor = LEVEL_NAMES.index(rules.s4_hold)
        idx = np.where(np.asarray(s4_events) > 0, np.maximum(idx, floor), idx)
    letters = np.array(LEVEL_NAMES, dtype=object)[idx]
    return np.where(np.isnan(s), None, letters)


def rank_scores(scores: np.ndarray, eligible: np.ndarray, ids: pd.Index) -> np.ndarray:
    """Ranks 1..n (1 = best) of eligible entities by descending score, ties broken by id; NaN otherwise."""
    s = np.asarray(scores, dtype=float)
    ok = np.asarray(eligible, dtype=bool) & ~np.isnan(s)
    order = np.lexsort((np.asarray(ids.astype(str)), -np.where(ok, s, -np.inf)))
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    return np.where(ok, ranks, np.nan)


def rank_within(scores: np.ndarray, eligible: np.ndarray, ids: pd.Index, groups: np.ndarray) -> np.ndarray:
    """Ranks 1..n within each group (e.g. cells within their district), same rules as ``rank_scores``."""
    s = np.asarray(scores, dtype=float)
    ok = np.asarray(eligible, dtype=bool) & ~np.isnan(s)
    codes, _ = pd.factorize(pd.Series(groups).astype(str), sort=True)
    order = np.lexsort((np.asarray(ids.astype(str)), -np.where(ok, s, -np.inf), codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    start_of = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    ranks = np.empty(len(s))
    ranks[order] = np.arange(len(order)) - start_of + 1
    return np.where(ok, ranks, np.nan)
