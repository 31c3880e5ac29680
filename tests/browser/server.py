"""Run a Dash app in-process on a free loopback port (werkzeug, threaded), for browser tests."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


def wait_until(page: Any, expression: str, *, timeout_s: float = 30.0, interval_s: float = 0.05) -> Any:
    """Poll a JavaScript expression until it is truthy and return its value.

    Playwright's ``wait_for_function`` compiles its predicate inside the page, which the dashboard's
    Content-Security-Policy (no ``'unsafe-eval'``) forbids; ``evaluate`` goes through the DevTools protocol.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression!r} still false after {timeout_s} s")
        time.sleep(interval_s)
