"""Chinese public holidays 2025–2027 and the day factor each category gets on a given local date.

2025 and 2026 follow the State Council's notices (国务院办公厅关于部分节假日安排的通知), make-up workdays
(调休上班) included. 2027 is provisional: the lunar dates are right, but the notice was not out when
this table was written, so the spans follow the 2026 pattern and no make-up workdays are listed —
replace them with the notice's dates once published.

Dates outside the table are ordinary weekdays and weekends.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import numpy as np

from streams.simulator.profiles import (
    CATEGORY_ORDER,
    HOLIDAY_FACTOR,
    SPRING_FESTIVAL_FACTOR,
    WEEKLY,
    WEEKLY_SHAPES,
)

__all__ = ["HOLIDAYS", "MAKEUP_WORKDAYS", "DayKind", "day_factors", "day_kind"]

_D = dt.date

HOLIDAYS: Final[tuple[tuple[str, dt.date, dt.date, bool], ...]] = (
    # name, first day, last day (inclusive), provisional
    ("元旦 New Year", _D(2025, 1, 1), _D(2025, 1, 1), False),
    ("春节 Spring Festival", _D(2025, 1, 28), _D(2025, 2, 4), False),
    ("清明 Qingming", _D(2025, 4, 4), _D(2025, 4, 6), False),
    ("劳动节 Labour Day", _D(2025, 5, 1), _D(2025, 5, 5), False),
    ("端午 Dragon Boat", _D(2025, 5, 31), _D(2025, 6, 2), False),
    ("国庆中秋 National Day & Mid-Autumn", _D(2025, 10, 1), _D(2025, 10, 8), False),
    ("元旦 New Year", _D(2026, 1, 1), _D(2026, 1, 3), False),
    ("春节 Spring Festival", _D(2026, 2, 15), _D(2026, 2, 23), False),
    ("清明 Qingming", _D(2026, 4, 4), _D(2026, 4, 6), False),
    ("劳动节 Labour Day", _D(2026, 5, 1), _D(2026, 5, 5), False),
    ("端午 Dragon Boat", _D(2026, 6, 19), _D(2026, 6, 21), False),
    ("中秋 Mid-Autumn", _D(2026, 9, 25), _D(2026, 9, 27), False),
    ("国庆 National Day", _D(2026, 10, 1), _D(2026, 10, 7), False),
    ("元旦 New Year", _D(2027, 1, 1), _D(2027, 1, 3), True),
    ("春节 Spring Festival", _D(2027, 2, 4), _D(2027, 2, 12), True),
    ("清明 Qingming", _D(2027, 4, 3), _D(2027, 4, 5), True),
    ("劳动节 Labour Day", _D(2027, 5, 1), _D(2027, 5, 5), True),
    ("端午 Dragon Boat", _D(2027, 6, 9), _D(2027, 6, 9), True),
    ("中秋 Mid-Autumn", _D(2027, 9, 15), _D(2027, 9, 15), True),
    ("国庆 National Day", _D(2027, 10, 1), _D(2027, 10, 7), True),
)
"""Public holidays: (name, first day, last day inclusive, provisional)."""

MAKEUP_WORKDAYS: Final[frozenset[dt.date]] = frozenset(
    {
        _D(2025, 1, 26),
        _D(2025, 2, 8),
        _D(2025, 4, 27),
        _D(2025, 9, 28),
        _D(2025, 10, 11),
        _D(2026, 1, 4),
        _D(2026, 2, 14),
        _D(2026, 2, 28),
        _D(2026, 5, 9),
        _D(2026, 9, 20),
        _D(2026, 10, 10),
    }
)
"""Weekend days that are worked (调休) to bridge a holiday."""


def _holiday_map() -> dict[dt.date, str]:
    days: dict[dt.date, str] = {}
    for name, first, last, _provisional in HOLIDAYS:
        day = first
        while day <= last:
            days[day] = name
            day += dt.timedelta(days=1)
    return days


_HOLIDAY_DAYS: Final[dict[dt.date, str]] = _holiday_map()


class DayKind:
    """What kind of day a local date is: ``workday``, ``weekend`` or ``holiday`` (+ its name)."""

    __slots__ = ("holiday", "kind", "weekday")

    def __init__(self, kind: str, weekday: int, holiday: str | None) -> None:
        self.kind = kind
        self.weekday = weekday
        self.holiday = holiday

    @property
    def spring_festival(self) -> bool:
        return self.holiday is not None and "Spring Festival" in self.holiday

    def __repr__(self) -> str:
        return f"DayKind({self.kind!r}, weekday={self.weekday}, holiday={self.holiday!r})"


def day_kind(day: dt.date) -> DayKind:
    """Classify a local (Asia/Shanghai) date.

    >>> day_kind(dt.date(2026, 10, 3)).kind, day_kind(dt.date(2026, 10, 10)).kind
    ('holiday', 'workday')
    """
    weekday = day.weekday()
    name = _HOLIDAY_DAYS.get(day)
    if name is not None:
        return DayKind("holiday", weekday, name)
    if day in MAKEUP_WORKDAYS or weekday < 5:
        return DayKind("workday", weekday, None)
    return DayKind("weekend", weekday, None)


def day_factors(stream: str, day: dt.date) -> np.ndarray:
    """Per category of ``stream`` (CATEGORY_ORDER), the factor on its mean daily rate on ``day``.

    Workdays and weekends use the category's weekly shape (a make-up workday uses the Monday–Friday
    mean); holidays use the shape's holiday factor, times SPRING_FESTIVAL_FACTOR in the Spring Festival.
    """
    kind = day_kind(day)
    out = np.empty(len(CATEGORY_ORDER[stream]))
    for i, shape_name in enumerate(WEEKLY[stream]):
        shape = WEEKLY_SHAPES[shape_name]
        if kind.kind == "holiday":
            f = HOLIDAY_FACTOR[shape_name] * (SPRING_FESTIVAL_FACTOR if kind.spring_festival else 1.0)
        elif kind.kind == "workday" and kind.weekday >= 5:  # a make-up workday on a weekend date
            f = sum(shape[:5]) / 5
        else:
            f = shape[kind.weekday]
        out[i] = f
    return out
