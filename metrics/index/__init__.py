"""The composite governance index: configuration, pure computation, and (in ``engine``) its I/O loop.

Everything here except ``metrics.index.engine`` is pure: frames and attributes in, frames out.
"""

from metrics.index.compute import HISTORY_COLUMNS, IndexResult, compute_index
from metrics.index.config import IndexConfig, Indicator, ahp_priorities, load_config, parse_config
from metrics.index.errors import IndexConfigError, IndexInputError
from metrics.index.indicators import CityData, LevelData, entity_attributes, raw_values
from metrics.index.scoring import ScoredLevel, score_level
from metrics.index.uncertainty import rank_intervals
from metrics.index.weighting import entropy_weights
from metrics.index.whatif import what_if

__all__ = [
    "HISTORY_COLUMNS",
    "CityData",
    "IndexConfig",
    "IndexConfigError",
    "IndexInputError",
    "IndexResult",
    "Indicator",
    "LevelData",
    "ScoredLevel",
    "ahp_priorities",
    "compute_index",
    "entity_attributes",
    "entropy_weights",
    "load_config",
    "parse_config",
    "rank_intervals",
    "raw_values",
    "score_level",
    "what_if",
]
