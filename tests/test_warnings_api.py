"""The warnings API end to end on the real embedded Redis: warnings raised by the engine on simulated data,
listed, acknowledged, dispatched and resolved over HTTP, with who and when in the transitions; invalid
transitions and parameters; roles and district scope with login on; the dashboard's data method."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from dashboard.api_warnings import ANONYMOUS_ACTOR
from dashboard.app import create_app
from dashboard.data import BadRequest, Dashboard
from geo.city import CityModel
from kapok.settings import load_settings
from metrics.store import MetricsStore
from metrics.users import UserStore
from metrics.warnings.store import WarningStore
from tests.test_warnings_engine import SPIKE, TIANHE, Filled, drop, fill

YUEXIU = "440104"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def filled(redis_url: str, city: CityModel) -> Iterator[Filled]:
    prefix = "tv" + uuid.uuid4().hex[:10]
    built = fill(redis_url, city, prefix)
    built.engine.run_once()
    yield built
    drop(built.store.client, prefix)
    built.store.client.close()


@pytest.fixture(scope="module")
def client(filled: Filled) -> FlaskClient:
    app = create_app(filled.settings, filled.store, filled.city)  # RK_AUTH=none
    app.server.testing = False  # errors answer as in production
    return app.server.test_client()


def spike_warning(client: FlaskClient) -> dict[str, Any]:
    answer = client.get(f"/api/v1/warnings?district={TIANHE}&stream=incidents&status=all")
    assert answer.status_code == 200
    found = [w for w in answer.json["warnings"]
             if w["detector"] == "spike" and w["scope"] == "district" and w["category"] == "theft"]
    assert len(found) == 1, answer.json
    return found[0]


def test_list_has_the_contract_fields(client: FlaskClient) -> None:
    answer = client.get("/api/v1/warnings")
    assert answer.status_code == 200
    warnings = answer.json["warnings"]
    assert warnings and all(w["status"] in ("raised", "acknowledged", "dispatched") for w in warnings)
    for w in warnings:
        assert {"id", "level", "scope", "target", "stream", "category", "detector", "raised_at", "status",
                "observed", "expected", "p_value", "explanation", "district", "transitions"} <= set(w)
        assert w["level"] in ("blue", "yellow", "orange", "red")
    severity = [("blue", "yellow", "orange", "red").index(w["level"]) for w in warnings]
    assert severity == sorted(severity, reverse=True)  # most severe first
    spike = spike_warning(client)
    assert spike["observed"] >= SPIKE and spike["expected"] < spike["observed"] / 3
    assert spike["p_value"] < 1e-6 and spike["district"] == TIANHE and spike["target"] == TIANHE
    assert "observed" in spike["explanation"] and spike["details"]["counters"] == ["incidents.theft.n"]
    assert spike["transitions"][0]["action"] == "raised" and spike["transitions"][0]["by"] == "system"


@pytest.mark.parametrize(("query", "fragment"), [
    ("status=sleeping", "status"),
    ("level=purple", "level"),
    ("district=999999", "district"),
    ("stream=weather", "stream"),
])
def test_bad_filters_answer_400(client: FlaskClient, query: str, fragment: str) -> None:
    answer = client.get(f"/api/v1/warnings?{query}")
    assert answer.status_code == 400 and fragment in answer.json["error"]


def test_filters(client: FlaskClient) -> None:
    red = client.get("/api/v1/warnings?level=red&status=all").json["warnings"]
    assert red and {w["level"] for w in red} == {"red"}
    hotline = client.get("/api/v1/warnings?stream=hotline&status=all").json["warnings"]
    assert all(w["stream"] == "hotline" for w in hotline)
    tianhe = client.get(f"/api/v1/warnings?district={TIANHE}").json["warnings"]
    assert tianhe and {w["district"] for w in tianhe} == {TIANHE}


def test_lifecycle_through_the_api(client: FlaskClient, filled: Filled) -> None:
    w = spike_warning(client)
    wid = w["id"]
    assert client.get(f"/api/v1/warnings/{wid}").json["id"] == wid
    assert client.post(f"/api/v1/warnings/{wid}/dispatch").status_code == 409  # raised: acknowledge first
    acked = client.post(f"/api/v1/warnings/{wid}/ack", json={"note": "seen on the wall"})
    assert acked.status_code == 200 and acked.json["status"] == "acknowledged"
    last = acked.json["transitions"][-1]
    assert last["by"] == ANONYMOUS_ACTOR and last["action"] == "acknowledged" and last["note"] == "seen on the wall"
    assert last["at"].endswith("+00:00")
    twice = client.post(f"/api/v1/warnings/{wid}/ack")
    assert twice.status_code == 409 and "acknowledged" in twice.json["error"]
    assert client.post(f"/api/v1/warnings/{wid}/dispatch").json["status"] == "dispatched"
    no_outcome = client.post(f"/api/v1/warnings/{wid}/resolve", json={})
    assert no_outcome.status_code == 400 and "outcome" in no_outcome.json["error"]
    bad = client.post(f"/api/v1/warnings/{wid}/resolve", json={"outcome": "probably"})
    assert bad.status_code == 400 and "true_event" in bad.json["error"]
    not_json = client.post(f"/api/v1/warnings/{wid}/resolve", data="outcome=true_event",
                           content_type="application/json")
    assert not_json.status_code == 400
    done = client.post(f"/api/v1/warnings/{wid}/resolve", json={"outcome": "true_event"})
    assert done.status_code == 200
    assert done.json["status"] == "resolved" and done.json["outcome"] == "true_event"
    assert [t["action"] for t in done.json["transitions"]][-3:] == ["acknowledged", "dispatched", "resolved"]
    assert client.post(f"/api/v1/warnings/{wid}/ack").status_code == 409
    # the transition log (append-only stream) has who, what and when
    log = filled.warnings.transitions(wid)
    assert [(e["action"], e["by"]) for e in log][-3:] == [
        ("acknowledged", ANONYMOUS_ACTOR), ("dispatched", ANONYMOUS_ACTOR), ("resolved", ANONYMOUS_ACTOR)]
    # no longer open, listed under its status; re-running the engine does not raise it again
    assert wid not in {x["id"] for x in client.get("/api/v1/warnings").json["warnings"]}
    assert wid in {x["id"] for x in client.get("/api/v1/warnings?status=resolved").json["warnings"]}
    filled.engine.run_once()
    assert spike_warning(client)["id"] == wid
    precision = client.get("/api/v1/warnings/precision").json["detectors"]
    assert precision["spike"]["outcomes"]["true_event"] >= 1 and precision["spike"]["precision"] is not None


def test_unknown_ids_and_actions(client: FlaskClient) -> None:
    assert client.get("/api/v1/warnings/w-nope").status_code == 404
    missing = client.post("/api/v1/warnings/w-nope/ack")
    assert missing.status_code == 404 and "w-nope" in missing.json["error"]
    wid = client.get("/api/v1/warnings").json["warnings"][0]["id"]
    assert client.post(f"/api/v1/warnings/{wid}/close").status_code == 404  # not an API action


def test_hazard_descriptor_appears_in_the_api(client: FlaskClient, filled: Filled) -> None:
    filled.engine.raise_warning({"fingerprint": ("hazard_overdue", "gas", "hz-api"), "level": "red",
                                 "scope": "district", "target": YUEXIU, "stream": "hazards", "category": "gas",
                                 "detector": "hazard_overdue", "explanation": "hazard hz-api is overdue"})
    found = client.get("/api/v1/warnings?stream=hazards").json["warnings"]
    assert [w["explanation"] for w in found] == ["hazard hz-api is overdue"]
    assert found[0]["district"] == YUEXIU and found[0]["observed"] is None and found[0]["p_value"] is None


def test_dashboard_data_method(filled: Filled) -> None:
    data = Dashboard(filled.store, filled.city)
    found = data.warnings(status="open", district=TIANHE)
    assert found and all(w["district"] == TIANHE for w in found)
    assert data.warnings(level="red") == [w for w in data.warnings() if w["level"] == "red"]
    with pytest.raises(BadRequest):
        data.warnings(status="sleeping")


# ------------------------------------------------------------------------------------------ login on
def basic(name: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


@pytest.fixture(scope="module")
def secured(filled: Filled, redis_url: str) -> FlaskClient:
    settings = load_settings(redis_url=redis_url, key_prefix=filled.settings.key_prefix, auth="login",
                             cookie_secure=False, password_hash_time_cost=1, password_hash_memory_kib=8192)
    store = MetricsStore(redis.Redis.from_url(redis_url), prefix=filled.settings.key_prefix)
    users = UserStore(store.client, store.keys, time_cost=1, memory_kib=8192)
    for name, role, districts in (("wall1", "wall", []), ("officer1", "officer", []),
                                  ("officer-yx", "officer", [YUEXIU]), ("admin1", "admin", [])):
        users.add(name, role, PASSWORD, districts)
    app = create_app(settings, store, filled.city)
    app.server.testing = False
    return app.server.test_client()


def open_tianhe_warning(filled: Filled) -> str:
    for w in WarningStore(filled.store.client, keys=filled.store.keys).query(
            filled.engine.district_of, district=TIANHE):
        if w["status"] == "raised":
            return str(w["id"])
    raise AssertionError("no raised warning in Tianhe")


def test_roles_and_scope_with_login(secured: FlaskClient, filled: Filled) -> None:
    wid = open_tianhe_warning(filled)
    assert secured.post(f"/api/v1/warnings/{wid}/ack").status_code == 401
    assert secured.post(f"/api/v1/warnings/{wid}/ack", headers=basic("wall1")).status_code == 403
    out_of_scope = secured.post(f"/api/v1/warnings/{wid}/ack", headers=basic("officer-yx"))
    assert out_of_scope.status_code == 403 and TIANHE in out_of_scope.json["error"]
    scoped = secured.get("/api/v1/warnings", headers=basic("officer-yx")).json["warnings"]
    assert scoped and all(w["district"] in (YUEXIU, None) for w in scoped)
    assert secured.get(f"/api/v1/warnings/{wid}", headers=basic("officer-yx")).status_code == 403
    acked = secured.post(f"/api/v1/warnings/{wid}/ack", headers=basic("officer1"))
    assert acked.status_code == 200 and acked.json["transitions"][-1]["by"] == "officer1"
    assert secured.get("/api/v1/warnings/precision", headers=basic("officer1")).status_code == 403
    assert secured.get("/api/v1/warnings/precision", headers=basic("admin1")).status_code == 200
