"""The hazard register: entries from lifecycle state, the reminder/escalation sweep, API views, engine.

Pure modules: :mod:`~metrics.hazards.config`, :mod:`~metrics.hazards.register`,
:mod:`~metrics.hazards.sweep`, :mod:`~metrics.hazards.views`. I/O: :mod:`~metrics.hazards.engine` (by
injected collaborators) and :mod:`~metrics.hazards.redis_io`. See docs/hazards.md.
"""

from metrics.hazards.config import GradePolicy, HazardsConfig, default_config, load_config, parse_config
from metrics.hazards.errors import HazardQueryError, HazardsConfigError, HazardsError
from metrics.hazards.register import HazardEntry, build_entry, decode_entry, entries_frame, register_entry
from metrics.hazards.sweep import SweepResult, WarningDescriptor, evaluate, sweep
from metrics.hazards.views import index_attributes, list_hazards, summary

__all__ = [
    "GradePolicy",
    "HazardEntry",
    "HazardQueryError",
    "HazardsConfig",
    "HazardsConfigError",
    "HazardsError",
    "SweepResult",
    "WarningDescriptor",
    "build_entry",
    "decode_entry",
    "default_config",
    "entries_frame",
    "evaluate",
    "index_attributes",
    "list_hazards",
    "load_config",
    "parse_config",
    "register_entry",
    "summary",
    "sweep",
]
