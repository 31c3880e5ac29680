"""Component ids of the dashboard, one constant each (pages, callbacks, tests and the browser scripts
refer to these names; ``assets/*.js`` repeat the few they need)."""

from __future__ import annotations

from typing import Final

# --- shell (every page)
LANG: Final = "rk-lang"  # dcc.Store: the page's language
SHELL: Final = "rk-shell"
NAV: Final = "rk-nav"
LANG_SWITCH: Final = "rk-lang-switch"

# --- wall
WALL_TICK: Final = "wall-tick"
WALL_ROTATE: Final = "wall-rotate"  # dcc.Interval of the panel rotation (disabled without ?rotate)
WALL_MODE: Final = "wall-mode"  # dcc.Store: "index" | "warnings" (map colouring)
WALL_COUNTERS: Final = "wall-counters"
WALL_MAP: Final = "wall-map"
WALL_MAP_TITLE: Final = "wall-map-title"
WALL_MAP_LEGEND: Final = "wall-map-legend"
WALL_WARNINGS: Final = "wall-warnings"
WALL_RANKING: Final = "wall-ranking"
WALL_TREND: Final = "wall-trend"
WALL_STALE: Final = "wall-stale"  # data staleness (server side: newest event time)
WALL_LINK: Final = "wall-link"  # connection staleness (client side: last good refresh)
WALL_LAST_OK: Final = "wall-last-ok"  # dcc.Store: epoch ms of the last successful refresh
WALL_CLOCK: Final = "wall-clock"


def wall_count(stream: str) -> str:
    return f"wall-count-{stream}"


def wall_change(stream: str) -> str:
    return f"wall-change-{stream}"


# --- rankings
RANK_TABLE: Final = "rank-table"
RANK_WINDOW: Final = "rank-window"
RANK_CSV: Final = "rank-csv"
RANK_XLSX: Final = "rank-xlsx"
RANK_DOWNLOAD: Final = "rank-download"
RANK_WEIGHT: Final = "rank-weight"  # pattern-matching: {"type": RANK_WEIGHT, "dim": name}
RANK_WHATIF: Final = "rank-whatif"
RANK_WHATIF_RESET: Final = "rank-whatif-reset"
RANK_TREND: Final = "rank-trend"
RANK_DRIVERS: Final = "rank-drivers"

# --- grid map
GRID_GEOMETRY: Final = "grid-geometry"  # dcc.Store: {"url": ..., "version": ...}; the JS caches the body
GRID_GEOMETRY_READY: Final = "grid-geometry-ready"
GRID_PAYLOAD: Final = "grid-payload"  # dcc.Store: classes and values of the current view
GRID_MAP: Final = "grid-map"
GRID_SELECTED: Final = "grid-selected"  # dcc.Store: the selected cell id (set by a map click)
GRID_METRIC: Final = "grid-metric"
GRID_SCALE: Final = "grid-scale"
GRID_WINDOW: Final = "grid-window"
GRID_DISTRICT: Final = "grid-district"
GRID_REPLAY: Final = "grid-replay"  # dcc.Slider: hours before now
GRID_PLAY: Final = "grid-play"
GRID_PLAY_TICK: Final = "grid-play-tick"
GRID_TICK: Final = "grid-tick"
GRID_DETAIL: Final = "grid-detail"
GRID_SUMMARY: Final = "grid-summary"
GRID_GOTO: Final = "grid-goto"
GRID_GOTO_BUTTON: Final = "grid-goto-button"
GRID_URL_SYNC: Final = "grid-url-sync"

# --- warnings
WARN_LEVEL: Final = "warn-level"
WARN_STATUS: Final = "warn-status"
WARN_DISTRICT: Final = "warn-district"
WARN_STREAM: Final = "warn-stream"
WARN_TABLE: Final = "warn-table"
WARN_MAP: Final = "warn-map"
WARN_TICK: Final = "warn-tick"
WARN_ACTION: Final = "warn-action"  # pattern-matching: {"type": WARN_ACTION, "id": wid, "action": a}
WARN_ACTION_RESULT: Final = "warn-action-result"
WARN_MESSAGE: Final = "warn-message"
