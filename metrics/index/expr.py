"""Counter expressions: sums of ``[coef*]stream.categories.measure`` terms over a counters frame.

``categories`` is ``*`` (every category), ``a|b|c`` (those), or ``!a|b`` (every category but those).
Example: ``"incidents.robbery|assault.sev + 2*incidents.*.s4"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metrics.index.vocabulary import CATEGORIES, MEASURES

_TERM = re.compile(
    r"^\s*(?:(?P<coef>[0-9]*\.?[0-9]+)\s*\*\s*)?(?P<stream>[a-z_]+)\.(?P<cats>[!a-z_|*]+)\.(?P<measure>[A-Za-z0-9_]+)\s*$"
)


class ExpressionError(ValueError):
    """A counter expression does not parse or names an unknown stream, category or measure."""


@dataclass(frozen=True)
class Term:
    """One term: ``coef`` times the sum of ``stream.<category>.measure`` over ``categories``."""

    coef: float
    stream: str
    categories: tuple[str, ...]
    measure: str

    def columns(self) -> tuple[str, ...]:
        return tuple(f"{self.stream}.{c}.{self.measure}" for c in self.categories)


@dataclass(frozen=True)
class CounterExpr:
    """A parsed counter expression; ``text`` is what the configuration said."""

    text: str
    terms: tuple[Term, ...]

    def evaluate(self, frame: pd.DataFrame) -> np.ndarray:
        """Sum of the terms for every row of ``frame`` (absent counter columns count as 0)."""
        out = np.zeros(len(frame), dtype=float)
        present = frame.columns
        for term in self.terms:
            cols = [c for c in term.columns() if c in present]
            if cols:
                out += term.coef * frame[cols].to_numpy(dtype=float).sum(axis=1)
        return out

    def coefficients(self, positions: Mapping[str, int]) -> np.ndarray:
        """Coefficient of each column (name -> position) in this expression (0 where it reads none)."""
        pos = positions
        coef = np.zeros(len(positions))
        for term in self.terms:
            for c in term.columns():
                k = pos.get(c)
                if k is not None:
                    coef[k] += term.coef
        return coef

    def streams(self) -> frozenset[str]:
        return frozenset(t.stream for t in self.terms)


def parse_expression(text: str) -> CounterExpr:
    """Parse ``text``; raises ExpressionError naming the bad term and what is allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"expected a counter expression such as 'incidents.*.n', got {text!r}")
    terms = []
    for raw in text.split("+"):
        m = _TERM.match(raw)
        if m is None:
            raise ExpressionError(
                f"term {raw.strip()!r} is not '[coef*]stream.categories.measure' "
                "(categories: '*', 'a|b' or '!a|b')"
            )
        stream, cats, measure = m["stream"], m["cats"], m["measure"]
        if stream not in CATEGORIES:
            raise ExpressionError(
                f"unknown stream {stream!r} in {raw.strip()!r}; expected one of {sorted(CATEGORIES)}"
            )
        if measure not in MEASURES[stream]:
            raise ExpressionError(
                f"unknown measure {measure!r} for stream {stream!r}; expected one of "
                f"{sorted(MEASURES[stream])}"
            )
        vocab = CATEGORIES[stream]
        if cats == "*":
            chosen = sorted(vocab)
        else:
            negate = cats.startswith("!")
            names = cats.lstrip("!").split("|")
            unknown = [n for n in names if n not in vocab]
            if unknown or not all(names):
                raise ExpressionError(
                    f"unknown {stream} categor{'ies' if len(unknown) > 1 else 'y'} "
                    f"{unknown or names} in {raw.strip()!r}; expected from {sorted(vocab)}"
                )
            chosen = sorted(vocab - set(names)) if negate else sorted(set(names))
        coef = float(m["coef"]) if m["coef"] else 1.0
        terms.append(Term(coef, stream, tuple(chosen), measure))
    return CounterExpr(text.strip(), tuple(terms))
