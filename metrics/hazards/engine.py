"""The hazards engine: read the register, sweep it, record new steps, raise warnings. I/O at the edge.

It is handed small collaborators (duck-typed, see the protocols) so it can run on Redis, in memory for
tests, or on anything else:

- ``reader.hazard_entries()`` -> every stored register entry (JSON bytes);
- ``step_log.recorded_steps()`` / ``step_log.record_steps(steps)``: the steps already taken;
- ``raise_warning(descriptor)``: the warnings store (it dedups by fingerprint and tracks the lifecycle);
- optionally ``drop_hazards(ids)``: deletes closed hazards past the retention from the register, and
  ``step_log.forget_steps(ids)`` when the log can drop those hazards' steps.

Order of a run: warnings are raised before their steps are recorded. A crash in between raises them
again on the next run, which the warnings store absorbs (same fingerprint, an open warning is updated,
not duplicated); recording first could lose a warning for good.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from metrics.hazards.config import HazardsConfig, default_config
from metrics.hazards.register import entries_frame
from metrics.hazards.sweep import SweepResult, WarningDescriptor, sweep
from metrics.hazards.views import index_attributes

log = logging.getLogger(__name__)


class RegisterReader(Protocol):
    def hazard_entries(self) -> Iterable[bytes]: ...


class StepLog(Protocol):
    def recorded_steps(self) -> set[str]: ...

    def record_steps(self, steps: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class EngineReport:
    """What one run did (for logs and the heartbeat)."""

    at: float
    hazards: int
    open: int
    overdue: int
    steps: int
    warnings: int
    dropped: int
    seconds: float


class HazardsEngine:
    """Runs the register sweep on a schedule (``run_once`` per cycle) and serves the index attributes.

    Args:
        reader: the register (``hazard_entries()``).
        step_log: steps already taken (``recorded_steps()``, ``record_steps(steps)``).
        raise_warning: called once per new overdue warning with a :class:`WarningDescriptor`.
        config: the hazard policy; the shipped default when None.
        drop_hazards: called with the ids of closed hazards past the retention; without it they stay.
        district_codes, grid_ids: every entity of the city, so the index attributes cover them all.
        clock: epoch seconds now (tests freeze it).
    """

    def __init__(
        self,
        reader: RegisterReader,
        step_log: StepLog,
        raise_warning: Callable[[WarningDescriptor], None],
        *,
        config: HazardsConfig | None = None,
        drop_hazards: Callable[[list[str]], None] | None = None,
        district_codes: Iterable[str] | None = None,
        grid_ids: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reader = reader
        self.step_log = step_log
        self.raise_warning = raise_warning
        self.config = config or default_config()
        self.drop_hazards = drop_hazards
        self.district_codes = list(district_codes) if district_codes is not None else None
        self.grid_ids = list(grid_ids) if grid_ids is not None else None
        self.clock = clock
        self.last: SweepResult | None = None

    def frame(self) -> pd.DataFrame:
        """The register as a frame (one read of every entry)."""
        return entries_frame(self.reader.hazard_entries())

    def run_once(self, now: float | None = None) -> EngineReport:
        """One sweep at ``now`` (default: the clock): raise new warnings, record new steps, drop expired."""
        started = time.perf_counter()
        now = self.clock() if now is None else now
        frame = self.frame()
        result = sweep(frame, now, self.config, self.step_log.recorded_steps())
        for descriptor in result.warnings:
            self.raise_warning(descriptor)
        if result.steps:
            self.step_log.record_steps(result.steps)
        dropped = 0
        if result.expired and self.drop_hazards is not None:
            self.drop_hazards(result.expired)
            forget = getattr(self.step_log, "forget_steps", None)
            if forget is not None:
                forget(result.expired)
            dropped = len(result.expired)
        self.last = result
        st = result.status
        report = EngineReport(
            at=now,
            hazards=len(st),
            open=int(st["open"].sum()) if len(st) else 0,
            overdue=int(st["overdue"].sum()) if len(st) else 0,
            steps=len(result.steps),
            warnings=len(result.warnings),
            dropped=dropped,
            seconds=time.perf_counter() - started,
        )
        log.info("hazards sweep: %d hazards, %d open, %d overdue; %d new steps, %d warnings, %d dropped "
                 "(%.2f s)", report.hazards, report.open, report.overdue, report.steps, report.warnings,
                 report.dropped, report.seconds)
        return report

    def attributes(self, as_of: float) -> dict[str, pd.DataFrame]:
        """Index attributes at ``as_of`` (pass this method as the index engine's ``extra_attributes``)."""
        return index_attributes(self.frame(), as_of, config=self.config,
                                district_codes=self.district_codes, grid_ids=self.grid_ids)
