"""Builds the Dash app: pages under ``dashboard/pages``, the JSON API, error handlers."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import Dash, dcc, html

from dashboard import context
from dashboard.api import install_error_handlers, make_api
from dashboard.data import Dashboard
from geo.city import CityModel
from kapok.settings import PROJECT_ROOT, Settings
from metrics.store import MetricsStore

PAGES = Path(__file__).resolve().parent / "pages"


def create_app(settings: Settings, store: MetricsStore, city: CityModel) -> Dash:
    """The whole dashboard for one store and city. Everything is served from this server: no CDN."""
    data = Dashboard(store, city)
    context.set_data(data)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PAGES),
        assets_folder=str(PROJECT_ROOT / "assets"),
        serve_locally=True,
        title="红棉 Red Kapok",
        update_title=None,
        suppress_callback_exceptions=True,
    )
    app.layout = html.Div(
        [
            dcc.Location(id="url"),
            html.Header(
                [
                    html.Span("红棉 Red Kapok", className="brand"),
                    html.Nav([dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
                              for page in dash.page_registry.values()]),
                    html.Span("login off (RK_AUTH=none)" if settings.auth == "none" else "",
                              className="auth-off"),
                ],
                className="topbar",
            ),
            dash.page_container,
        ],
        className="app",
    )
    install_error_handlers(app.server)
    app.server.register_blueprint(make_api(data, kafka_bootstrap=settings.kafka_bootstrap))
    return app
