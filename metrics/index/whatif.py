"""What-if: the rankings again with analyst-supplied weights, from a stored snapshot (no counters needed)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from metrics.index.config import IndexConfig
from metrics.index.levels import rank_scores
from metrics.index.scoring import weigh_and_aggregate


def what_if(
    snapshot: pd.DataFrame,
    config: IndexConfig,
    *,
    dimension_weights: Mapping[str, float] | None = None,
    indicator_weights: Mapping[str, float] | None = None,
    aggregation: str | None = None,
) -> pd.DataFrame:
    """Scores and ranks of a snapshot's entities recomputed with other weights.

    Args:
        snapshot: a level snapshot (``compute_index`` output); its ``ind.<name>`` scores are reused, so
            the normalisation is the one the snapshot was made with.
        dimension_weights, indicator_weights: weights by name (any scale: they are renormalised; names
            left out keep the configured weight).
        aggregation: ``geometric`` or ``arithmetic``; default the configured one.

    Returns:
        Frame indexed like the snapshot: ``score``, ``rank``, ``rank_before``, ``rank_change`` (positive =
        moved up), and ``dim.<dimension>``.
    """
    by_name = {i.name: i for i in config.indicators}
    cols = [c for c in snapshot.columns if c.startswith("ind.") and c[4:] in by_name]
    if not cols:
        raise ValueError("snapshot has no 'ind.<indicator>' columns of this configuration")
    inds = tuple(by_name[c[4:]] for c in cols)
    scores = snapshot[cols].to_numpy(dtype=float)
    weighting = (
        "expert"
        if config.method.weighting == "entropy" and (dimension_weights or indicator_weights)
        else None
    )
    scored = weigh_and_aggregate(
        config,
        snapshot.index,
        inds,
        np.full_like(scores, np.nan),
        scores,
        weighting=weighting,
        aggregation=aggregation,
        indicator_weights_given=indicator_weights,
        dimension_weights_given=dimension_weights,
    )
    eligible = (
        snapshot["data_ok"].to_numpy(dtype=bool) if "data_ok" in snapshot else np.ones(len(snapshot), bool)
    )
    rank = rank_scores(scored.index, eligible, snapshot.index)
    before = snapshot["rank"].to_numpy(dtype=float) if "rank" in snapshot else np.full(len(snapshot), np.nan)
    out = pd.DataFrame(
        {"score": scored.index, "rank": rank, "rank_before": before, "rank_change": before - rank},
        index=snapshot.index,
    )
    for k, dim in enumerate(scored.dimensions):
        out[f"dim.{dim.name}"] = scored.dim_scores[:, k]
    return out
