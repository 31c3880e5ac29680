"""Builds the Dash app: pages under ``dashboard/pages``, the JSON API, the map geometry route, error
handlers. Everything is served from this server (no CDN, fonts or tiles) and compressed."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, ClassVar

import dash
from dash import Dash, dcc, html
from flask import Response, request

from dashboard import api_warnings, auth, context, gridmap
from dashboard.api import install_error_handlers, make_api
from dashboard.data import Dashboard
from dashboard.i18n import COOKIE, LANGS
from dashboard.security import install_security
from geo.city import CityModel
from kapok.settings import PROJECT_ROOT, Settings
from metrics.store import MetricsStore

PAGES = Path(__file__).resolve().parent / "pages"
GEOMETRY_ROUTE = "/geo/grid-<version>.json"


class MapGeometry:
    """The grid map's static geometry, encoded once per city model and process (shared by every app of
    the process) and warmed in the background at start, so the first visitor does not wait for it."""

    _encoded: ClassVar[dict[str, tuple[str, bytes]]] = {}
    _lock = threading.Lock()

    def __init__(self, city: CityModel) -> None:
        self._city = city

    def _get(self) -> tuple[str, bytes]:
        key = self._city.version
        with self._lock:
            if key not in self._encoded:
                encoded = gridmap.encode_geometry(self._city.grid_geojson(),
                                                  dict(self._city.district_shapes.items()))
                self._encoded[key] = (encoded["version"], json.dumps(encoded, separators=(",", ":")).encode())
            return self._encoded[key]

    def warm(self) -> None:
        """Encode in a daemon thread (a no-op when this city's geometry is already encoded)."""
        if self._city.version not in self._encoded:
            threading.Thread(target=self._get, name="map-geometry", daemon=True).start()

    @property
    def version(self) -> str:
        return self._get()[0]

    @property
    def body(self) -> bytes:
        return self._get()[1]

    @property
    def url(self) -> str:
        return GEOMETRY_ROUTE.replace("<version>", self.version)


def create_app(settings: Settings, store: MetricsStore, city: CityModel) -> Dash:
    """The whole dashboard for one store and city."""
    data = Dashboard(store, city)
    context.set_data(data)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PAGES),
        assets_folder=str(PROJECT_ROOT / "assets"),
        serve_locally=True,
        compress=True,
        title="红棉 Red Kapok",
        update_title=None,
        suppress_callback_exceptions=True,
        csrf_token_name=auth.CSRF_COOKIE,
        csrf_header_name=auth.CSRF_HEADER,
    )
    # The graph code is fetched only when the first graph mounts, after the page layout has arrived;
    # hinting it at once overlaps that 1.4 MB download with the rest of the start-up.
    plotly_js = (f"{app.config.requests_pathname_prefix}_dash-component-suites/plotly/package_data/"
                 "plotly.min.js")
    app.index_string = app.index_string.replace(
        "{%css%}", f'{{%css%}}\n        <link rel="preload" as="script" href="{plotly_js}">', 1)
    # Pages draw their own shell (navigation, language): it depends on the page's language and kiosk mode.
    app.layout = html.Div([dcc.Location(id="url"), dash.page_container], className="app")
    geometry = MapGeometry(city)
    geometry.warm()
    server = app.server
    server.config.update(RK_REFRESH_MS=int(settings.refresh_s * 1000),
                         RK_GEOMETRY=geometry)

    @server.get(GEOMETRY_ROUTE)
    def grid_geometry(version: str) -> Any:
        # The version names the content, so a browser keeps it for good and a refresh never refetches it.
        if version != geometry.version:
            return Response(json.dumps({"error": f"geometry version {version!r} is not current; reload "
                                                 f"the page"}), status=404, mimetype="application/json")
        etag = hashlib.sha256(geometry.body).hexdigest()[:32]
        # the compressor marks the ETag of a compressed body with its algorithm ("<etag>:gzip")
        sent = {tag.split(":", 1)[0] for tag in request.if_none_match.as_set()}
        if etag in sent:
            return Response(status=304, headers={"ETag": f'"{etag}"'})
        response = Response(geometry.body, mimetype="application/json")
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.set_etag(etag)
        return response

    @server.after_request
    def remember_language(response: Response) -> Response:
        # ?lang= on a page sets the cookie, so later pages and navigation keep the language.
        lang = request.args.get("lang")
        if lang in LANGS and request.cookies.get(COOKIE) != lang:
            response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="Lax")
        return response

    install_error_handlers(server)
    server.register_blueprint(make_api(data, kafka_bootstrap=settings.kafka_bootstrap))
    server.register_blueprint(api_warnings.warnings_api(store, city))
    install_security(app, settings, store, city)
    return app
