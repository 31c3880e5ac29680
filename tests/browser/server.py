"""Run a Dash app in-process on a free loopback port (werkzeug, threaded), for browser tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dash import Dash
from werkzeug.serving import make_server


@contextmanager
def serving(app: Dash) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) until the block ends; yields the base URL."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns test output
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dash-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
