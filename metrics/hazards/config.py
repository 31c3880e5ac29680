"""The hazard policy (TOML): time limits, reminders, escalation tiers, warnings and weights per grade.

Loaded from ``metrics/hazards/default.toml`` unless another file or text is given. Every error names the
file, the line of the offending table or key, and its dotted field (``grade.A.escalate.district``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from metrics.hazards.errors import HazardsConfigError
from streams.schemas import GRADES

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")

#: Escalation tiers, lowest first. A hazard is first the grid worker's business; these are who is told next.
TIERS: tuple[str, ...] = ("street", "district", "city")
#: Warning levels a grade may raise when overdue (contracts §2), "" for none.
WARNING_LEVELS: tuple[str, ...] = ("", "blue", "yellow", "orange", "red")

_GRADE_KEYS = ("limit_days", "weight", "remind_hours", "warning", "escalate")


@dataclass(frozen=True)
class GradePolicy:
    """What the register does with the open hazards of one grade.

    Attributes:
        grade: ``A``..``D``.
        limit_days: rectification limit after the report, used only when no record carried a deadline (days).
        weight: weight of one open hazard in ``hazards_open_weighted``.
        remind_hours: hours before the deadline at which a reminder goes out, each once per deadline.
        warning: warning level raised once when the hazard goes overdue, "" for none.
        escalate: (tier, hours past the deadline) pairs, tiers in :data:`TIERS` order, hours non-decreasing.
    """

    grade: str
    limit_days: float
    weight: float
    remind_hours: tuple[float, ...]
    warning: str
    escalate: tuple[tuple[str, float], ...]

    def escalate_after_h(self, tier: str) -> float | None:
        """Hours past the deadline at which this grade reaches ``tier``, None when it never does."""
        return dict(self.escalate).get(tier)


@dataclass(frozen=True)
class HazardsConfig:
    """The whole policy: one :class:`GradePolicy` per grade and the register's retention."""

    grades: Mapping[str, GradePolicy]
    retention_days: float = 400.0

    @property
    def retention_s(self) -> float:
        return self.retention_days * 86400.0


class _Locator:
    """Line of a table header or key in TOML text, for error messages (inline-table keys included)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def table(self, table: str) -> int | None:
        for no, line in enumerate(self.lines, 1):
            m = self._HEADER.match(line)
            if m and m.group(1).replace(" ", "").replace('"', "") == table:
                return no
        return None

    def key(self, table: str, key: str) -> int | None:
        start = self.table(table)
        if start is None:
            return None
        for no in range(start + 1, len(self.lines) + 1):
            line = self.lines[no - 1]
            if self._HEADER.match(line):
                break
            m = self._KEY.match(line)
            if m and m.group(1).strip().strip("\"'") == key:
                return no
        return start


class _Checker:
    def __init__(self, text: str, source: str) -> None:
        self.loc = _Locator(text)
        self.source = source

    def fail(self, table: str, key: str | None, message: str, sub: str | None = None) -> HazardsConfigError:
        line = self.loc.key(table, key) if key else self.loc.table(table)
        field = ".".join(p for p in (table, key, sub) if p)
        return HazardsConfigError(message, source=self.source, line=line, field=field)

    def number(self, value: Any, table: str, key: str, *, lo: float, sub: str | None = None,
               strict: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(table, key, f"expected a number, got {value!r}", sub)
        if value < lo or (strict and value == lo):
            bound = f"> {lo}" if strict else f">= {lo}"
            raise self.fail(table, key, f"expected a number {bound}, got {value!r}", sub)
        return float(value)


def _grade(c: _Checker, grade: str, raw: Any) -> GradePolicy:
    table = f"grade.{grade}"
    if not isinstance(raw, dict):
        raise c.fail("grade", grade, f"expected a table [{table}], got {raw!r}")
    for key in raw:
        if key not in _GRADE_KEYS:
            raise c.fail(table, key, f"unknown field {key!r}; expected one of {', '.join(_GRADE_KEYS)}")
    for key in _GRADE_KEYS:
        if key not in raw:
            raise c.fail(table, None, f"missing required field {key!r}")
    limit = c.number(raw["limit_days"], table, "limit_days", lo=0.0, strict=True)
    weight = c.number(raw["weight"], table, "weight", lo=0.0)
    hours = raw["remind_hours"]
    if not isinstance(hours, list):
        raise c.fail(table, "remind_hours", f"expected a list of hours, e.g. [24], got {hours!r}")
    remind = tuple(c.number(h, table, "remind_hours", lo=0.0, strict=True) for h in hours)
    if len(set(remind)) != len(remind):
        raise c.fail(table, "remind_hours", f"hours repeat: {hours!r}; give each reminder once")
    warning = raw["warning"]
    if warning not in WARNING_LEVELS:
        raise c.fail(table, "warning", f"expected one of {WARNING_LEVELS}, got {warning!r}")
    esc = raw["escalate"]
    if not isinstance(esc, dict):
        raise c.fail(table, "escalate",
                     f"expected a table such as {{ street = 0, district = 24 }}, got {esc!r}")
    for tier in esc:
        if tier not in TIERS:
            raise c.fail(table, "escalate",
                         f"unknown tier {tier!r}; expected some of {', '.join(TIERS)}", tier)
    steps: list[tuple[str, float]] = []
    for i, tier in enumerate(TIERS):
        if tier not in esc:
            above = [t for t in TIERS[i + 1:] if t in esc]
            if above:
                raise c.fail(table, "escalate", f"tier {above[0]!r} is given but {tier!r}, below it, is not; "
                             "escalation climbs one tier at a time", tier)
            continue
        after = c.number(esc[tier], table, "escalate", lo=0.0, sub=tier)
        if steps and after < steps[-1][1]:
            raise c.fail(table, "escalate", f"{tier} after {after:g} h comes before {steps[-1][0]} after "
                         f"{steps[-1][1]:g} h; hours may not decrease up the tiers", tier)
        steps.append((tier, after))
    return GradePolicy(grade, limit, weight, tuple(sorted(remind, reverse=True)), str(warning), tuple(steps))


def parse_config(text: str, source: str = "<string>") -> HazardsConfig:
    """Parse and check a hazard policy; raises :class:`HazardsConfigError` naming the line and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise HazardsConfigError(f"not valid TOML: {exc}", source=source,
                                 line=int(m.group(1)) if m else None, field=None) from exc
    c = _Checker(text, source)
    for key in data:
        if key not in ("register", "grade"):
            raise c.fail(key, None, f"unknown table [{key}]; expected [register] and [grade.A] .. [grade.D]")
    register = data.get("register", {})
    if not isinstance(register, dict):
        raise c.fail("register", None, "expected a table [register]")
    for key in register:
        if key != "retention_days":
            raise c.fail("register", key, f"unknown field {key!r}; expected retention_days")
    retention = c.number(register.get("retention_days", 400), "register", "retention_days", lo=0.0)
    grades = data.get("grade", {})
    if not isinstance(grades, dict):
        raise c.fail("grade", None, "expected tables [grade.A] .. [grade.D]")
    for grade in grades:
        if grade not in GRADES:
            raise c.fail(f"grade.{grade}", None,
                         f"unknown grade {grade!r}; expected one of {', '.join(GRADES)}")
    missing = [g for g in GRADES if g not in grades]
    if missing:
        raise c.fail("grade", None, f"missing table(s) {', '.join(f'[grade.{g}]' for g in missing)}; "
                     "every grade needs a policy")
    return HazardsConfig({g: _grade(c, g, grades[g]) for g in GRADES}, retention)


def load_config(path: Path | str | None = None) -> HazardsConfig:
    """Read and check a policy file; the shipped ``default.toml`` when ``path`` is None."""
    where = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise HazardsConfigError("file does not exist; pass the path of a hazard policy TOML file",
                                 source=str(where), line=None, field=None) from exc
    return parse_config(text, str(where))


@cache
def default_config() -> HazardsConfig:
    """The shipped policy, read once."""
    return load_config()
