"""The warnings endpoints of ``/api/v1`` (contracts §2): list, one warning, lifecycle actions, precision.

- ``GET /api/v1/warnings?status=open|all|raised|acknowledged|dispatched|resolved|closed|auto_recovered
  &level=&district=&stream=`` -> ``{"warnings": [...]}``, most severe first, then newest;
- ``GET /api/v1/warnings/ID`` -> one warning, with its transitions;
- ``POST /api/v1/warnings/ID/ack`` · ``/dispatch`` · ``/resolve`` (JSON body ``{"outcome": ...}`` for
  resolve, an optional ``"note"``) -> the updated warning; who acts is the logged-in user;
- ``GET /api/v1/warnings/precision`` -> per detector, outcomes and precision (admins).

Errors answer ``{"error": ...}``: 400 (bad parameter or body), 403 (role or district scope), 404 (no such
warning), 409 (the action is not allowed from the warning's status).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from dashboard.auth import auth_is_off, current_user, require, require_district, scope_filter_rows
from geo.city import CityModel
from metrics.store import MetricsStore
from metrics.warnings.errors import InvalidAction, TransitionError, WarningNotFound, WarningsError
from metrics.warnings.records import to_api
from metrics.warnings.store import USER_ACTIONS, WarningStore

#: Who acts when login is off (``RK_AUTH=none``): recorded as such in every transition.
ANONYMOUS_ACTOR = "anonymous (login off)"
STREAMS = ("incidents", "surveillance", "hotline", "hazards")


def _error(status: int, message: str) -> Any:
    return jsonify({"error": message}), status


def actor() -> str:
    """The name recorded in a transition: the logged-in user, or :data:`ANONYMOUS_ACTOR` with login off."""
    user = current_user()
    if auth_is_off() or user is None:
        return ANONYMOUS_ACTOR
    return user.name


def make_warnings_api(warnings: WarningStore, city: CityModel) -> Blueprint:
    """The blueprint over one warnings store and city."""
    api = Blueprint("api_v1_warnings", __name__, url_prefix="/api/v1")
    district_of = {str(g): str(d) for g, d in city.grids["district_code"].items()}
    districts = {str(d) for d in city.districts.index}

    @api.get("/warnings")
    def list_warnings() -> Any:
        args = request.args
        district = args.get("district") or None
        stream = args.get("stream") or None
        if district is not None and district not in districts:
            return _error(400, f"district {district!r} is not a district code of this city "
                               f"(known: {', '.join(sorted(districts))})")
        if stream is not None and stream not in STREAMS:
            return _error(400, f"stream {stream!r} is not understood; use one of {list(STREAMS)}")
        try:
            found = warnings.query(district_of, status=args.get("status") or "open", district=district,
                                   level=args.get("level") or None, stream=stream)
        except InvalidAction as exc:
            return _error(400, str(exc))
        return jsonify({"warnings": scope_filter_rows(current_user(), found, "district")})

    @api.get("/warnings/precision")
    def precision() -> Any:
        user = current_user()
        if not auth_is_off() and (user is None or user.role != "admin"):
            return _error(403, f"detector precision is for admins; you are {user.role if user else 'nobody'}")
        return jsonify({"detectors": warnings.precision()})

    @api.get("/warnings/<warning_id>")
    def one_warning(warning_id: str) -> Any:
        try:
            record = warnings.get(warning_id)
        except WarningNotFound as exc:
            return _error(404, str(exc))
        item = to_api(record, district_of)
        require_district(current_user(), item["district"])
        return jsonify(item)

    @api.post("/warnings/<warning_id>/<action>")
    def act(warning_id: str, action: str) -> Any:
        if action not in USER_ACTIONS:
            return _error(404, f"no action {action!r}; use one of {list(USER_ACTIONS)}")
        require("act")
        body: Any = {}
        if request.data:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return _error(400, "the body must be a JSON object, e.g. {\"outcome\": \"true_event\"}")
        note = body.get("note", "")
        outcome = body.get("outcome")
        if not isinstance(note, str) or (outcome is not None and not isinstance(outcome, str)):
            return _error(400, "note and outcome must be strings")
        try:
            current = warnings.get(warning_id)
            require_district(current_user(), to_api(current, district_of)["district"])
            updated = warnings.act(warning_id, action, actor(), outcome=outcome, note=note)
        except WarningNotFound as exc:
            return _error(404, str(exc))
        except InvalidAction as exc:
            return _error(400, str(exc))
        except TransitionError as exc:
            return _error(409, str(exc))
        except WarningsError as exc:
            return _error(503, str(exc))
        return jsonify(to_api(updated, district_of))

    return api


def warnings_api(store: MetricsStore, city: CityModel) -> Blueprint:
    """The blueprint over the warnings of the metrics store's key prefix (what ``create_app`` registers)."""
    return make_warnings_api(WarningStore(store.client, keys=store.keys), city)


__all__ = ["ANONYMOUS_ACTOR", "actor", "make_warnings_api", "warnings_api"]
