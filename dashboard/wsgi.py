"""The dashboard as a WSGI application for a production server, built from the settings (environment
``RK_*`` and ``RK_SETTINGS_FILE``) at import::

    gunicorn --workers 4 --threads 8 --bind 127.0.0.1:8050 dashboard.wsgi:server

Every worker builds its own app over the shared Redis (users, sessions, lock-out counters and the audit
log live there, so any worker answers any request). See docs/deploy.md.
"""

from __future__ import annotations

import logging

from flask import Flask

from dashboard.app import create_app
from geo.city import load_city
from kapok.logs import setup_logging
from kapok.settings import load_settings
from metrics.connect import make_redis
from metrics.store import MetricsStore


def build_server() -> Flask:
    """The Flask server of the dashboard for the configured store and city."""
    settings = load_settings()
    setup_logging(settings.log_level, json_lines=settings.log_json)
    store = MetricsStore(make_redis(settings), prefix=settings.key_prefix,
                         retention_days=settings.retention_days,
                         text_retention_days=settings.text_retention_days)
    app = create_app(settings, store, load_city(settings))
    logging.getLogger("red_kapok").info("dashboard WSGI app ready (login %s)",
                                        "OFF" if settings.auth == "none" else "on")
    return app.server


server = build_server()
