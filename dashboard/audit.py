"""``audit(event, **fields)`` for the dashboard and API: adds who and from where from the request, writes
the entry to the store's audit stream (:mod:`metrics.audit`) and to the log (logger ``red_kapok.audit``).

The export route ``GET /api/v1/audit?since=…&until=…&format=jsonl|csv`` (admin only) is here too.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import flask
from flask import Blueprint, Response, jsonify, request

from metrics.audit import AuditLog, to_csv, to_json_lines

log = logging.getLogger("red_kapok.audit")
CONFIG_KEY = "RK_AUDIT"
#: Most entries one export answers; ask again with ``since`` after the last one for more.
EXPORT_MAX = 100_000


def _log_of_app() -> AuditLog | None:
    if flask.has_app_context():
        return flask.current_app.config.get(CONFIG_KEY)
    return None


def client_ip() -> str:
    """The client address (the proxy-corrected one when ``proxy_hops`` is set)."""
    return (request.remote_addr or "unknown") if flask.has_request_context() else "local"


def audit(event: str, **fields: Any) -> str | None:
    """Write one audit entry: ``event`` (e.g. ``view.grid``) and its fields; ``user`` and ``ip`` come from
    the request unless given. Returns the entry id (None outside an app, e.g. in a unit test of a view).

    Raises ``redis.RedisError`` when the store is unreachable: the caller fails the request rather than
    serve something that could not be recorded.
    """
    if flask.has_request_context():
        from dashboard.auth import current_user

        user = current_user()
        fields.setdefault("user", user.name if user is not None else "")
        fields.setdefault("ip", client_ip())
    log.info("audit %s", event, extra={"audit": {"event": event, **{k: str(v) for k, v in fields.items()}}})
    audit_log = _log_of_app()
    return audit_log.append(event, fields) if audit_log is not None else None


def parse_time(text: str | None, name: str) -> float | None:
    """``since``/``until``: epoch seconds or ISO 8601 with offset."""
    from dashboard.data import BadRequest

    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} {text!r} is not a time: use epoch seconds or ISO 8601 with offset, "
                         f"e.g. 2025-06-01T00:00:00+08:00") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} {text!r} has no UTC offset: add one, e.g. +08:00")
    return parsed.timestamp()


def make_audit_api(audit_log: AuditLog) -> Blueprint:
    """``GET /api/v1/audit``: entries as JSON lines (default) or CSV. Access is checked by
    :mod:`dashboard.auth` (admin only); the export itself is audited."""
    api = Blueprint("api_v1_audit", __name__, url_prefix="/api/v1")

    @api.get("/audit")
    def export() -> Any:
        from dashboard.data import BadRequest

        since = parse_time(request.args.get("since"), "since")
        until = parse_time(request.args.get("until"), "until")
        fmt = request.args.get("format", "jsonl")
        if fmt not in ("jsonl", "csv"):
            raise BadRequest(f"format {fmt!r} is not offered: use jsonl or csv")
        audit("export.audit", since=since, until=until, format=fmt)
        entries = audit_log.entries(since, until, limit=EXPORT_MAX)
        if fmt == "csv":
            body, mimetype = to_csv(entries), "text/csv; charset=utf-8"
        else:
            body, mimetype = to_json_lines(entries), "application/x-ndjson"
        response = Response(flask.stream_with_context(body), mimetype=mimetype)
        response.headers["Content-Disposition"] = f'attachment; filename="audit.{fmt}"'
        return response

    @api.route("/audit/<path:_rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @api.route("/audit", methods=["POST", "PUT", "PATCH", "DELETE"])
    def read_only(_rest: str = "") -> Any:
        return jsonify({"error": "the audit log is append-only: it can be exported, not changed"}), 405

    return api
