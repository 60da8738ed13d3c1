"""What the API reads as its OpenAPI document says (a bounded search text, whole numbers written
8.0, JSON booleans only, required bodies, documented 409s), and the headers that keep personal
answers out of caches and tell a rate-limited client when to come back."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.web.conftest import PASSWORD
from tests.web.trust_world import World, world  # noqa: F401  (fixture)
from web import create_app


def h(people, who: str) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {people['tokens'][who]}"}


def test_a_search_text_longer_than_the_limit_is_refused_naming_q_and_the_limit(client, people):
    response = client.get("/api/v1/firms", query_string={"q": "隔" * 50_001}, headers=h(people, "sme"))
    assert response.status_code == 422
    assert response.get_json()["detail"]["query"]["q"] == ["give at most 200 characters"]
    at_the_limit = client.get("/api/v1/firms", query_string={"q": "隔膜" + "x" * 198}, headers=h(people, "sme"))
    assert at_the_limit.status_code == 200
    policies = client.get("/api/v1/policies", query_string={"q": "x" * 201}, headers=h(people, "sme"))
    assert policies.status_code == 422 and "q" in policies.get_json()["detail"]["query"]


def test_the_openapi_document_states_the_search_limit_and_required_bodies(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    firms = spec["paths"]["/api/v1/firms"]["get"]["parameters"]
    assert next(p for p in firms if p["name"] == "q")["schema"]["maxLength"] == 200
    decision = spec["paths"]["/api/v1/events/{event_id}/registrations/{registration_id}/decision"]["post"]
    assert decision["requestBody"]["required"] is True
    pdf = spec["paths"]["/api/v1/contracts/{contract_id}/pdf"]["get"]["responses"]
    assert "409" in pdf and "approved" in pdf["409"]["description"]
    limited = spec["paths"]["/api/v1/match"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["required"] is True


def test_a_survey_answer_must_be_a_json_boolean_not_a_number(client, loaded, world):  # noqa: F811
    path = f"/api/v1/events/{world.event['id']}/survey"
    headers = {"Authorization": f"Bearer {world.tokens['sme']}"}
    refused = client.put(path, json={"satisfaction": 1, "still_in_contact": 0}, headers=headers)
    assert refused.status_code == 422 and "still_in_contact" in refused.get_json()["detail"]["json"]
    kept = client.put(path, json={"satisfaction": 4, "still_in_contact": True}, headers=headers)
    assert kept.status_code == 200 and kept.get_json()["items"][0]["still_in_contact"] is True


def test_whole_numbers_written_with_a_fraction_are_read_as_integers(client, world):  # noqa: F811
    """JSON Schema's integer is any whole number: 5.0 is 5; 5.5 and true stay refused."""
    path = f"/api/v1/events/{world.event['id']}/survey"
    headers = {"Authorization": f"Bearer {world.tokens['sme']}"}
    read = client.put(path, json={"satisfaction": 5.0, "contracts_signed": 2.0}, headers=headers)
    assert read.status_code == 200, read.get_json()
    assert read.get_json()["items"][0]["satisfaction"] == 5 and read.get_json()["items"][0]["contracts_signed"] == 2
    for bad in ({"satisfaction": 4.5}, {"satisfaction": True}, {"satisfaction": "5"}):
        response = client.put(path, json=bad, headers=headers)
        assert response.status_code == 422 and "satisfaction" in response.get_json()["detail"]["json"], bad


def _signed_in(app: Flask, email: str):  # noqa: ANN202
    client = app.test_client()
    assert client.post("/auth/login", data={"email": email, "password": PASSWORD}).status_code == 302
    return client


def test_answers_to_a_signed_in_user_are_not_stored_by_caches(app, client, people, world):  # noqa: F811
    signed_in = _signed_in(app, people["emails"]["organizer"])
    event = world.event["id"]
    for path in ("/auth/token", f"/events/{event}", f"/events/{event}/report.csv", f"/events/{event}/report.xlsx"):
        response = signed_in.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    large = _signed_in(app, people["emails"]["large"])
    for path in ("/contracts/", f"/events/{event}/agenda.ics", f"/contracts/{world.contract_id}"):
        response = large.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path
    api = client.get("/api/v1/contracts", headers=h(people, "large"))
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"


def test_public_pages_and_static_assets_keep_their_caching(client):
    static = client.get("/static/css/app.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    home = client.get("/")
    assert home.status_code == 200 and "no-store" not in home.headers.get("Cache-Control", "")


def test_a_rate_limited_answer_says_when_to_retry_on_pages_and_in_the_api(loaded, people):
    app = create_app(loaded, {"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True})
    app.config.update(RATELIMIT_SIGN_IN="2 per minute", RATELIMIT_API="2 per minute")
    client = app.test_client()
    pages = [client.post("/auth/login", data={"email": "x@t.cn", "password": "wrong-pass"}) for _ in range(3)]
    assert [r.status_code for r in pages] == [400, 400, 429]
    assert 1 <= int(pages[-1].headers["Retry-After"]) <= 60
    api = [client.get("/api/v1/firms", headers=h(people, "sme")) for _ in range(3)]
    assert [r.status_code for r in api] == [200, 200, 429]
    assert 1 <= int(api[-1].headers["Retry-After"]) <= 60 and api[-1].get_json()["status"] == 429
    assert "Retry-After" not in api[0].headers


def test_requests_that_conflict_with_what_is_stored_answer_409_naming_the_field(client, world):  # noqa: F811
    """Well-formed requests the platform's state refuses: a counter-offer that changes nothing, an
    agreement on a round without its amount, a contract over another firm's demand, a slot the event
    does not have."""
    sme = {"Authorization": f"Bearer {world.tokens['sme']}"}
    large = {"Authorization": f"Bearer {world.tokens['large']}"}
    contract = f"/api/v1/contracts/{world.contract_id}"
    same = client.post(f"{contract}/counter", json={"fields": {}}, headers=sme)
    assert same.status_code == 409 and "fields" in same.get_json()["detail"], same.get_json()
    unpriced = client.post(f"{contract}/accept", headers=sme)
    assert unpriced.status_code == 409 and "amount" in unpriced.get_json()["detail"], unpriced.get_json()
    other = {"other_firm_id": world.firms["sme"], "demand_id": world.demands["B-public"]}
    neither = client.post("/api/v1/contracts", json=other, headers=large)
    assert neither.status_code == 409 and "demand_id" in neither.get_json()["detail"], neither.get_json()
    slot = client.put(f"/api/v1/events/{world.event['id']}/availability", json={"slots": [99]}, headers=sme)
    assert slot.status_code == 409 and "slots" in slot.get_json()["detail"]


def test_sending_agendas_before_anything_is_scheduled_is_a_conflict(loaded, world):  # noqa: F811
    from marketplace.db import session_scope
    from marketplace.errors import TransitionError
    from marketplace.events import events as ev
    from marketplace.events.scheduling import send_agendas
    from marketplace.models import Event, EventStatus
    from tests.events_helpers import event_data

    with session_scope(loaded) as s:
        empty = ev.create_event(s, world.organizations["organizer"], event_data(title="空的对接会"))
        ev.set_event_status(s, empty, EventStatus.OPEN)
        with pytest.raises(TransitionError, match="nothing is scheduled yet"):
            send_agendas(s, s.get(Event, empty.id))


def test_the_document_states_policy_rules_tier_figures_and_lots(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    rules = schemas["PolicyIn"]["properties"]["rules"]["items"]["oneOf"]
    rd_share = next(r for r in rules if r["properties"]["field"]["enum"] == ["rd_share"])
    assert rd_share["additionalProperties"] is False and [b["required"] for b in rd_share["anyOf"]] == [
        ["min"],
        ["max"],
    ]
    assert schemas["PolicyIn"]["properties"]["source_url"]["pattern"].startswith("^(|https?://")
    figures = schemas["FiguresIn"]["properties"]["figures"]
    assert figures["additionalProperties"] is False and figures["properties"]["rd_share"]["maximum"] == 100
    assert figures["properties"]["ip_class"]["enum"][0] == "none"
    lot = schemas["LotIn"]
    assert lot["properties"]["budget"]["exclusiveMinimum"] == 0 and len(lot["anyOf"]) == 2
