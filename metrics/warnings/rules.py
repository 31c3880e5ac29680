"""Configurable rules beside the statistics: warnings that follow from the data itself, at once.

Three kinds (``[[rules]]`` in the warnings config):

- ``event``: every event of the rule's stream (and category, ``*`` for any) meeting all
  ``conditions`` (``field op value``; ops ``== != >= > <= <``) raises the rule's level, e.g. any
  severity-4 incident, or a verified ``fire_smoke`` alert with confidence ≥ 0.9.
- ``counter``: a counter (``<measure>`` of the stream/category) summed over the window reaches
  ``threshold``, e.g. ``s4 >= 1``.
- ``share``: ``part / whole`` (or ``1 - part/whole`` with ``complement``) crosses ``threshold`` once
  ``whole >= min_whole``, e.g. a hotline category's SLA-breach share ``1 - resp_sla/resp_n``.

Counter rules read a ``window_frame``-shaped DataFrame: one row per area, one column per counter
``<stream>.<category>.<measure>``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from metrics.warnings.config import LEVEL_ORDER, RuleSpec
from metrics.warnings.errors import WarningsConfigError

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired, for one area (scope, target) and stream/category."""

    rule: str
    level: int  # 1 blue .. 4 red
    stream: str
    category: str
    scope: str
    target: str
    value: float  # the event's field value, the counter sum or the share
    threshold: float
    event_id: str | None = None


def _check(rule: RuleSpec) -> None:
    if rule.kind not in ("event", "counter", "share"):
        raise WarningsConfigError(
            f"rule {rule.name!r}: kind must be event, counter or share, got {rule.kind!r}"
        )
    for fld, op, _ in rule.conditions:
        if op not in _OPS:
            raise WarningsConfigError(
                f"rule {rule.name!r}: condition on {fld!r} has op {op!r}; use one of {list(_OPS)}"
            )


def _matches(rule: RuleSpec, event: Mapping[str, Any]) -> bool:
    for fld, op, value in rule.conditions:
        have = event.get(fld)
        if have is None:
            return False
        try:
            if not _OPS[op](have, value):
                return False
        except TypeError:
            return False
    return True


def evaluate_events(events: Iterable[Mapping[str, Any]], rules: Iterable[RuleSpec]) -> list[RuleHit]:
    """Event rules over validated events (mappings with ``stream``, ``id``, ``category``, ``district``,
    ``grid_id`` and the stream's fields). The hit's area is the event's cell, else its district, else
    the city."""
    chosen = [r for r in rules if r.kind == "event"]
    for r in chosen:
        _check(r)
    hits = []
    for ev in events:
        for r in chosen:
            if ev.get("stream") != r.stream or (r.category != "*" and ev.get("category") != r.category):
                continue
            if not _matches(r, ev):
                continue
            if ev.get("grid_id"):
                scope, target = "grid", str(ev["grid_id"])
            elif ev.get("district"):
                scope, target = "district", str(ev["district"])
            else:
                scope, target = "city", "city"
            first = r.conditions[0] if r.conditions else ("", "", 0)
            value = ev.get(first[0], 1)
            hits.append(
                RuleHit(
                    rule=r.name,
                    level=LEVEL_ORDER.index(r.level) + 1,
                    stream=r.stream,
                    category=str(ev.get("category")),
                    scope=scope,
                    target=target,
                    value=float(value) if isinstance(value, int | float) else 1.0,
                    threshold=float(first[2]) if isinstance(first[2], int | float) else 1.0,
                    event_id=str(ev.get("id")),
                )
            )
    return hits


def _categories(frame: pd.DataFrame, stream: str, category: str, measure: str) -> list[str]:
    prefix = f"{stream}."
    suffix = f".{measure}"
    found = [
        c[len(prefix) : -len(suffix)] for c in frame.columns if c.startswith(prefix) and c.endswith(suffix)
    ]
    return found if category == "*" else [c for c in found if c == category]


def evaluate_counters(frame: pd.DataFrame, scope: str, rules: Iterable[RuleSpec]) -> list[RuleHit]:
    """Counter and share rules over a window frame (rows: areas of ``scope``; columns: counters).

    The caller reads the frame over each rule's ``window_hours``.
    """
    hits = []
    for r in rules:
        if r.kind == "event":
            continue
        _check(r)
        if r.kind == "counter":
            for cat in _categories(frame, r.stream, r.category, r.counter):
                values = frame[f"{r.stream}.{cat}.{r.counter}"]
                for target, v in values[values >= r.threshold].items():
                    hits.append(
                        RuleHit(
                            rule=r.name,
                            level=LEVEL_ORDER.index(r.level) + 1,
                            stream=r.stream,
                            category=cat,
                            scope=scope,
                            target=str(target),
                            value=float(v),
                            threshold=r.threshold,
                        )
                    )
        else:
            for cat in _categories(frame, r.stream, r.category, r.whole):
                whole = frame[f"{r.stream}.{cat}.{r.whole}"]
                part = frame.get(f"{r.stream}.{cat}.{r.part}", pd.Series(0.0, index=frame.index))
                share = (part / whole.where(whole > 0)).fillna(0.0)
                if r.complement:
                    share = 1.0 - share
                fire = (whole >= max(r.min_whole, 1e-12)) & (share >= r.threshold)
                for target in frame.index[fire]:
                    hits.append(
                        RuleHit(
                            rule=r.name,
                            level=LEVEL_ORDER.index(r.level) + 1,
                            stream=r.stream,
                            category=cat,
                            scope=scope,
                            target=str(target),
                            value=float(share[target]),
                            threshold=r.threshold,
                        )
                    )
    return hits


__all__ = ["RuleHit", "evaluate_counters", "evaluate_events"]
