"""The JSON API under ``/api/v1`` (contracts §2). Routes are thin: parse, call ``dashboard.data``, answer."""

from __future__ import annotations

import logging
import socket
from typing import Any

import redis
from flask import Blueprint, Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from dashboard.auth import allowed_districts, current_user, scope_filter_rows
from dashboard.data import BadRequest, Dashboard

log = logging.getLogger(__name__)


def _kafka_reachable(bootstrap: str | None) -> str:
    """``ok`` when a bootstrap server accepts a TCP connection within a second."""
    if not bootstrap:
        return "not configured"
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
                return "ok"
        except (OSError, ValueError):
            continue
    return "unreachable"


def make_api(data: Dashboard, *, kafka_bootstrap: str | None) -> Blueprint:
    api = Blueprint("api_v1", __name__, url_prefix="/api/v1")

    @api.get("/health")
    def health() -> Any:
        try:
            data.store.client.ping()
            redis_state = "ok"
        except redis.RedisError as exc:
            redis_state = f"unreachable: {type(exc).__name__}"
        kafka_state = _kafka_reachable(kafka_bootstrap)
        body = {"status": "ok" if redis_state == "ok" and kafka_state == "ok" else "degraded",
                "redis": redis_state, "kafka": kafka_state}
        if redis_state != "ok":
            body["status"] = "unavailable"
            return jsonify(body), 503
        return jsonify(body)

    @api.get("/stats")
    def stats() -> Any:
        return jsonify(data.stats())

    @api.get("/districts")
    def districts() -> Any:
        return jsonify(data.districts(request.args.get("window")))

    @api.get("/grids")
    def grids() -> Any:
        body = data.grids(request.args.get("window"), request.args.get("district"))
        body["grids"] = scope_filter_rows(current_user(), body["grids"])
        return jsonify(body)

    @api.get("/grids/<grid_id>")
    def grid(grid_id: str) -> Any:
        found = data.grid(grid_id, request.args.get("window"))
        if found is None:
            return jsonify({"error": f"no grid cell {grid_id!r} in this city"}), 404
        return jsonify(found)

    @api.get("/hazards")
    def hazards() -> Any:
        limit = request.args.get("limit")
        if limit is not None and not limit.isdigit():
            raise BadRequest(f"limit must be a non-negative integer, got {limit!r}")
        body = data.hazard_listing(request.args.get("status"), request.args.get("district"),
                                   int(limit) if limit is not None else None)
        body["hazards"] = scope_filter_rows(current_user(), body["hazards"])
        return jsonify(body)

    @api.get("/hazards/summary")
    def hazard_summary() -> Any:
        district = request.args.get("district")
        allowed = allowed_districts(current_user())
        if district is not None or allowed is None:
            return jsonify(data.hazard_summary(district))
        # A district-scoped user's summary covers their districts only.
        total: dict[str, dict[str, int]] = {}
        for code in sorted(allowed):
            for kind, per_grade in data.hazard_summary(code).items():
                bucket = total.setdefault(kind, {})
                for grade, n in per_grade.items():
                    bucket[grade] = bucket.get(grade, 0) + n
        return jsonify(total)

    @api.route("/<path:unknown>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def not_found(unknown: str) -> Any:
        # Without this, Dash's page router would answer unknown API paths with the HTML app shell.
        return jsonify({"error": f"no endpoint /api/v1/{unknown}; see the README for the API"}), 404

    return api


def install_error_handlers(server: Flask) -> None:
    """Errors under /api answer JSON ``{"error": ...}``, never an HTML page or a traceback."""

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    @server.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Any:
        return jsonify({"error": str(exc)}), 400

    @server.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if wants_json():
            return jsonify({"error": exc.description or exc.name}), exc.code
        return exc

    @server.errorhandler(redis.RedisError)
    def store_down(exc: redis.RedisError) -> Any:
        log.warning("store unavailable: %s", exc)
        return jsonify({"error": "the metrics store (Redis) is unavailable; retry shortly"}), 503

    @server.errorhandler(Exception)
    def internal(exc: Exception) -> Any:
        log.exception("unhandled error on %s", request.path)
        if wants_json():
            return jsonify({"error": "internal error; the server log has the details"}), 500
        return "Internal error; the server log has the details.", 500
