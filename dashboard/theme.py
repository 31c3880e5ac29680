"""Every colour of the dashboard, in one place: index levels, warning levels, hazard grades, map classes.

Scales are colour-blind safe (ColorBrewer RdYlBu for ordered good-to-bad classes, cividis for counts)
and every map also names its classes in a legend, so colour is never the only carrier of meaning.
The stylesheet (``assets/style.css``) repeats only the page chrome colours below.
"""

from __future__ import annotations

from typing import Final

BACKGROUND: Final = "#0b1220"
PANEL: Final = "#111827"
TEXT: Final = "#e5e7eb"
MUTED: Final = "#9ca3af"
GRIDLINE: Final = "#1f2937"
OUTLINE: Final = "#e5e7eb"
NO_DATA: Final = "#374151"
SELECTED: Final = "#ffffff"

#: Index level A (best) .. D (worst): RdYlBu, blue = good, red = bad.
INDEX_LEVEL_COLOURS: Final[dict[str, str]] = {"A": "#2c7bb6", "B": "#abd9e9", "C": "#fdae61", "D": "#d7191c"}

#: Warning levels in contract order (blue < yellow < orange < red); names are the colours.
WARNING_LEVELS: Final[tuple[str, ...]] = ("blue", "yellow", "orange", "red")
WARNING_COLOURS: Final[dict[str, str]] = {
    "blue": "#4575b4",
    "yellow": "#fee090",
    "orange": "#fc8d59",
    "red": "#d73027",
}

#: Hazard grades (contract: A major red, B orange, C yellow, D blue).
HAZARD_GRADE_COLOURS: Final[dict[str, str]] = {
    "A": WARNING_COLOURS["red"],
    "B": WARNING_COLOURS["orange"],
    "C": WARNING_COLOURS["yellow"],
    "D": WARNING_COLOURS["blue"],
}
#: Hazard grades, most severe first.
HAZARD_GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D")
#: A marker shape per grade, so the grade reads without colour (and in greyscale print).
HAZARD_GRADE_SYMBOLS: Final[dict[str, str]] = {
    "A": "diamond",
    "B": "triangle-up",
    "C": "square",
    "D": "circle",
}
#: Overdue hazards: a bigger marker with a thick light outline (not a colour change), on every grade.
HAZARD_MARKER_SIZE: Final = 11
HAZARD_OVERDUE_SIZE: Final = 17
HAZARD_OVERDUE_OUTLINE: Final = OUTLINE
HAZARD_OUTLINE: Final = BACKGROUND
#: The wall's hazard card when an A hazard is overdue.
HAZARD_ALARM: Final = WARNING_COLOURS["red"]

#: One line colour per event stream (Okabe-Ito: distinguishable with every common colour-vision deficiency).
STREAM_COLOURS: Final[dict[str, str]] = {
    "incidents": "#e69f00",
    "surveillance": "#56b4e9",
    "hotline": "#009e73",
    "hazards": "#cc79a7",
}

#: Eight ordered classes, bad (low score) to good (high score): RdYlBu 8.
SCORE_CLASSES: Final[tuple[str, ...]] = (
    "#d73027",
    "#f46d43",
    "#fdae61",
    "#fee090",
    "#e0f3f8",
    "#abd9e9",
    "#74add1",
    "#4575b4",
)

#: Eight ordered classes, few to many: cividis sampled at equal steps.
COUNT_CLASSES: Final[tuple[str, ...]] = (
    "#00224e",
    "#123570",
    "#3b496c",
    "#575d6d",
    "#707173",
    "#8a8779",
    "#a69d75",
    "#fee838",
)

#: Text colour that stays readable on each fill (dark text on light fills).
_LIGHT_FILLS = frozenset({"#abd9e9", "#fee090", "#e0f3f8", "#fdae61", "#fee838", "#a69d75", "#8a8779"})


def text_on(fill: str) -> str:
    """A readable text colour on ``fill``."""
    return "#111827" if fill.lower() in _LIGHT_FILLS else "#f9fafb"


def warning_rank(level: str | None) -> int:
    """0 (none) .. 4 (red): the severity order of warning levels."""
    return WARNING_LEVELS.index(level) + 1 if level in WARNING_LEVELS else 0
