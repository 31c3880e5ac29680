"""The one place pages find the read side: set by ``create_app`` before Dash imports the pages."""

from __future__ import annotations

from dashboard.data import Dashboard

_current: Dashboard | None = None


def set_data(data: Dashboard) -> None:
    global _current
    _current = data


def data() -> Dashboard:
    """The Dashboard of the running app (pages call this inside callbacks, never at import)."""
    if _current is None:
        raise RuntimeError("dashboard data is not set: build the app with dashboard.app.create_app")
    return _current
