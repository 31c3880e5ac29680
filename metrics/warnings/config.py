"""The warnings configuration: model and detector parameters, levels, calibration, escalation, rules.

Loaded from ``metrics/warnings/default.toml`` unless another file is given; every section is checked
and a wrong value names its key.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from metrics.warnings.errors import WarningsConfigError
from metrics.warnings.levels import CalibrationCurve, LevelSpec

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
LEVEL_ORDER = ("blue", "yellow", "orange", "red")
SCOPE_ORDER = ("grid", "street", "district", "city")


@dataclass(frozen=True)
class ModelConfig:
    """How expected counts are fitted (see docs/warnings-method.md)."""

    fit_weeks: int = 8
    guard_hours: int = 48
    refit_hours: int = 24
    harmonics: int = 3
    min_history_days: int = 28
    min_series_events: float = 200.0
    cell_min_daily: float = 2.0
    shrink_strength: float = 0.5
    ridge: float = 0.01


@dataclass(frozen=True)
class DetectorConfig:
    """Temporal detector parameters."""

    window_hours: int = 168
    cusum_k: float = 0.35
    ewma_lambda: float = 0.05
    ears_min_sd: float = 0.5
    nb_window_hours: int = 24  # the windowed NB test sums this many trailing hourly buckets
    #: share of the alert budget (chance warnings) each detector of the OR-ed set may spend; sums to 1
    budget: dict[str, float] = field(
        default_factory=lambda: {"spike": 0.2, "cusum": 0.25, "ewma": 0.15, "window": 0.4}
    )

    def __post_init__(self) -> None:
        if self.nb_window_hours < 1:
            raise WarningsConfigError(f"[detectors] nb_window_hours must be >= 1, got {self.nb_window_hours}")
        known = {"spike", "cusum", "ewma", "window"}
        if set(self.budget) != known:
            raise WarningsConfigError(
                f"[detectors.budget] needs a share for each of {sorted(known)}, got {sorted(self.budget)}"
            )
        if any(v <= 0 for v in self.budget.values()) or abs(sum(self.budget.values()) - 1.0) > 1e-6:
            raise WarningsConfigError(
                f"[detectors.budget] shares must be positive and sum to 1, got {self.budget}"
            )


@dataclass(frozen=True)
class SpatialConfig:
    """Gi* map parameters."""

    window_hours: int = 24
    ring: int = 1
    fdr_q: float = 0.05
    condition_on_total: bool = True
    min_expected: float = 5.0  # events the cell's neighbourhood must expect in the window to be tested
    moments: str = "model"  # "model": Gi* standardised by the model's score moments; "sample": classic Gi*


@dataclass(frozen=True)
class RuleSpec:
    """One configurable rule; see :mod:`metrics.warnings.rules` for the kinds."""

    name: str
    kind: str
    level: str
    stream: str
    category: str = "*"
    conditions: tuple[tuple[str, str, Any], ...] = ()
    counter: str = ""
    part: str = ""
    whole: str = ""
    complement: bool = False
    threshold: float = 0.0
    min_whole: float = 0.0
    window_hours: float = 1.0


@dataclass(frozen=True)
class WarningsConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    detectors: DetectorConfig = field(default_factory=DetectorConfig)
    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    levels: tuple[LevelSpec, ...] = ()
    hysteresis_windows: int = 2
    calibration: dict[str, CalibrationCurve] = field(default_factory=dict)
    combined_factor: float = 1.0
    ack_minutes: dict[str, float] = field(default_factory=dict)
    holidays: tuple[date, ...] = ()
    rules: tuple[RuleSpec, ...] = ()

    def level_index(self, name: str) -> int:
        """1-based index of a level name (blue = 1)."""
        return LEVEL_ORDER.index(name) + 1


def _section(data: dict[str, Any], name: str, cls: type, where: Path) -> Any:
    raw = data.get(name, {})
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise WarningsConfigError(
            f"{where}: [{name}] has unknown keys {sorted(unknown)}; known: {sorted(known)}"
        )
    try:
        return cls(**raw)
    except TypeError as exc:
        raise WarningsConfigError(f"{where}: [{name}]: {exc}") from exc


def load_config(path: Path | None = None) -> WarningsConfig:
    """Read and check a warnings configuration file (TOML); the shipped default when ``path`` is None."""
    where = path or DEFAULT_CONFIG
    try:
        data = tomllib.loads(Path(where).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise WarningsConfigError(f"warnings config {where} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise WarningsConfigError(f"warnings config {where}: {exc}") from exc
    model = _section(data, "model", ModelConfig, where)
    detectors = _section(data, "detectors", DetectorConfig, where)
    spatial = _section(data, "spatial", SpatialConfig, where)
    levels = []
    for name in LEVEL_ORDER:
        spec = data.get("levels", {}).get(name)
        if spec is None:
            raise WarningsConfigError(
                f"{where}: [levels.{name}] is missing; every level {LEVEL_ORDER} needs one"
            )
        levels.append(
            LevelSpec(
                name=name,
                recurrence_days=float(spec["recurrence_days"]),
                min_excess=float(spec["min_excess"]),
                min_relative_risk=float(spec["min_relative_risk"]),
            )
        )
    if any(b.recurrence_days <= a.recurrence_days for a, b in itertools.pairwise(levels)):
        raise WarningsConfigError(f"{where}: recurrence_days must increase from blue to red")
    cal = data.get("calibration", {})
    curves = {
        name: CalibrationCurve(stat=tuple(c["stat"]), log10_days=tuple(c["log10_days"]))
        for name, c in cal.items()
        if isinstance(c, dict)
    }
    rules = []
    for raw in data.get("rules", []):
        raw = dict(raw)
        if raw.get("level") not in LEVEL_ORDER:
            raise WarningsConfigError(
                f"{where}: rule {raw.get('name')!r}: level must be one of {LEVEL_ORDER}"
            )
        raw["conditions"] = tuple((c["field"], c["op"], c["value"]) for c in raw.get("conditions", []))
        try:
            rules.append(RuleSpec(**raw))
        except TypeError as exc:
            raise WarningsConfigError(f"{where}: rule {raw.get('name')!r}: {exc}") from exc
    ack = {k: float(v) for k, v in data.get("escalation", {}).get("ack_minutes", {}).items()}
    missing = [lvl for lvl in LEVEL_ORDER if lvl not in ack]
    if missing:
        raise WarningsConfigError(f"{where}: [escalation.ack_minutes] lacks {missing}")
    return WarningsConfig(
        model=model,
        detectors=detectors,
        spatial=spatial,
        levels=tuple(levels),
        hysteresis_windows=int(data.get("levels", {}).get("hysteresis_windows", 2)),
        calibration=curves,
        combined_factor=float(cal.get("combined_factor", 1.0)),
        ack_minutes=ack,
        holidays=tuple(date.fromisoformat(str(d)) for d in data.get("holidays", {}).get("dates", [])),
        rules=tuple(rules),
    )


__all__ = [
    "DEFAULT_CONFIG",
    "LEVEL_ORDER",
    "SCOPE_ORDER",
    "DetectorConfig",
    "ModelConfig",
    "RuleSpec",
    "SpatialConfig",
    "WarningsConfig",
    "load_config",
]
