"""The JSON API: token auth, pagination, validation errors, OpenAPI generated from the code."""

from __future__ import annotations

import pytest


def h(people, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {people['tokens'][who]}"}


def test_openapi_document_lists_the_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["info"]["title"] == "ChainMatch API"
    for path in (
        "/api/v1/demands",
        "/api/v1/firms",
        "/api/v1/suggestions",
        "/api/v1/match",
        "/api/v1/demands/{demand_id}/match",
    ):
        assert path in spec["paths"], path
    assert "BearerAuth" in str(spec["components"]["securitySchemes"]) or spec["components"]["securitySchemes"]


@pytest.mark.parametrize("path", ["/api/v1/demands", "/api/v1/firms", "/api/v1/suggestions"])
def test_requests_without_a_valid_token_get_401_json(client, path):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 401 and response.is_json and response.get_json()["status"] == 401


def test_demands_are_paginated(client, people):
    page = client.get("/api/v1/demands?per_page=1&page=1", headers=h(people, "sme")).get_json()
    assert page["meta"] == {"page": 1, "per_page": 1, "total": 1}
    assert page["items"][0]["title"] == "采购锂电池隔膜"
    bad = client.get("/api/v1/demands?per_page=1000", headers=h(people, "sme"))
    assert bad.status_code == 422 and "per_page" in str(bad.get_json()["detail"])


def test_large_firm_posts_a_demand_and_bad_fields_get_422(client, people):
    ok = client.post(
        "/api/v1/demands",
        json={"type": "rd", "title": "API 研发需求", "wanted_technologies": ["隔膜涂覆"], "publish": True},
        headers=h(people, "large"),
    )
    assert ok.status_code == 201 and ok.get_json()["status"] == "open"
    bad = client.post("/api/v1/demands", json={"type": "shopping", "title": ""}, headers=h(people, "large"))
    detail = bad.get_json()["detail"]
    assert bad.status_code == 422 and "type" in str(detail) and "title" in str(detail)
    budget = client.post(
        "/api/v1/demands",
        json={"type": "rd", "title": "预算颠倒", "budget_min": 9, "budget_max": 1},
        headers=h(people, "large"),
    )
    assert budget.status_code == 400 and "budget_min" in budget.get_json()["message"]
    assert (
        client.post("/api/v1/demands", json={"type": "rd", "title": "SME"}, headers=h(people, "sme")).status_code == 403
    )


def test_owner_matches_and_reads_suggestions_others_cannot(client, people):
    d = people["demand"]
    matched = client.post(f"/api/v1/demands/{d}/match", headers=h(people, "large"))
    items = matched.get_json()["items"]
    assert matched.status_code == 200 and items and all(i["reasons"] for i in items)
    assert people["large_firm"] not in [i["firm_id"] for i in items]
    assert client.get(f"/api/v1/demands/{d}/suggestions", headers=h(people, "sme")).status_code == 403
    assert client.post(f"/api/v1/demands/{d}/match", headers=h(people, "sme2")).status_code == 403
    assert client.get("/api/v1/demands/99999", headers=h(people, "sme")).status_code == 404
    assert client.get(f"/api/v1/demands/{people['draft']}", headers=h(people, "sme")).status_code == 404


def test_sme_reads_inbox_and_responds(client, people):
    client.post(f"/api/v1/demands/{people['demand']}/match", headers=h(people, "large"))
    inbox = client.get("/api/v1/suggestions", headers=h(people, "sme")).get_json()["items"]
    assert inbox, "the separator SME should be suggested for the separator demand"
    sid = inbox[0]["suggestion_id"]
    ok = client.post(f"/api/v1/suggestions/{sid}/respond", json={"status": "accepted"}, headers=h(people, "sme"))
    assert ok.status_code == 200 and ok.get_json()["status"] == "accepted"
    again = client.post(f"/api/v1/suggestions/{sid}/respond", json={"status": "declined"}, headers=h(people, "sme"))
    assert again.status_code == 409 and "accepted to declined" in again.get_json()["message"]
    # the detail is the whole reason, not what follows the message's first ": "
    assert list(again.get_json()["detail"].values()) == [again.get_json()["message"]]
    assert (
        client.post(
            f"/api/v1/suggestions/{sid}/respond", json={"status": "maybe"}, headers=h(people, "sme")
        ).status_code
        == 422
    )


def test_firms_search_and_detail(client, people):
    found = client.get("/api/v1/firms?q=光伏玻璃", headers=h(people, "sme")).get_json()["items"]
    assert any(f["stock_code"] == "601865" for f in found)
    detail = client.get(f"/api/v1/firms/{people['large_firm']}", headers=h(people, "sme")).get_json()
    assert detail["name"] == "福莱特玻璃集团股份有限公司" and detail["products"]
    assert client.get("/api/v1/firms/999999", headers=h(people, "sme")).status_code == 404


def test_match_endpoint_ranks_firms_with_reasons(client, people):
    response = client.post(
        "/api/v1/match", json={"text": "光伏玻璃", "type": "supply_chain", "top_k": 3}, headers=h(people, "sme")
    )
    results = response.get_json()["results"]
    assert response.status_code == 200 and len(results) == 3 and results[0]["reasons"]
    empty = client.post("/api/v1/match", json={"text": "   ", "type": "rd"}, headers=h(people, "sme"))
    assert empty.status_code == 400 and empty.get_json()["detail"]["text"]


def test_an_unknown_query_parameter_is_refused_naming_it(client, people):
    headers = h(people, "sme")
    typo = client.get("/api/v1/demands?stauts=open", headers=headers)
    body = typo.get_json()
    assert typo.status_code == 400 and body["message"].startswith("stauts: unknown query parameter")
    assert (
        "page" in body["message"]
        and "type" in body["message"]
        and body["detail"] == {"query": {"stauts": ["unknown parameter"]}}
    )
    # an endpoint that takes no query parameters refuses them too; known ones still work
    assert client.get("/api/v1/events?page=2", headers=headers).status_code == 400
    assert client.get("/api/v1/demands?page=1&type=rd", headers=headers).status_code == 200


def test_another_firms_suggestion_is_not_found_and_the_demand_owner_may_not_answer(client, people):
    """A suggestion is seen by its firm and by the demand's managers: to another firm it does not
    exist (404, ids are not enumerable); the demand owner sees it but does not answer it (403)."""
    client.post(f"/api/v1/demands/{people['demand']}/match", headers=h(people, "large"))
    sid = client.get("/api/v1/suggestions", headers=h(people, "sme")).get_json()["items"][0]["suggestion_id"]
    body = {"status": "accepted"}
    other = client.post(f"/api/v1/suggestions/{sid}/respond", json=body, headers=h(people, "sme2"))
    missing = client.post("/api/v1/suggestions/999999/respond", json=body, headers=h(people, "sme2"))
    assert other.status_code == missing.status_code == 404
    assert other.get_json()["message"] == f"suggestion {sid} does not exist"
    owner = client.post(f"/api/v1/suggestions/{sid}/respond", json=body, headers=h(people, "large"))
    assert owner.status_code == 403


def test_match_refuses_a_region_that_names_no_province(client, people):
    body = {"text": "锂电池隔膜", "type": "supply_chain", "region": "火星"}
    bad = client.post("/api/v1/match", json=body, headers=h(people, "large"))
    assert bad.status_code == 400 and "region" in bad.get_json()["detail"]
    assert "'火星' is not a province or city of China" in bad.get_json()["message"]
    ok = client.post("/api/v1/match", json={**body, "region": "上海市"}, headers=h(people, "large"))
    assert ok.status_code == 200


def test_posting_a_demand_refuses_details_its_type_does_not_have(client, people):
    """details.visibility once overrode the demand's visibility on its edit form (a private demand
    saved unchanged became public): only the type's own detail keys are taken."""
    body = {"type": "rd", "title": "私密研发需求", "visibility": "private", "details": {"visibility": "public"}}
    bad = client.post("/api/v1/demands", json=body, headers=h(people, "large"))
    assert bad.status_code == 400
    assert bad.get_json()["detail"] == {
        "details.visibility": "rd demands have no such detail; give only technical_problem, ip_terms"
    }
    ok = client.post("/api/v1/demands", json={**body, "details": {"ip_terms": "共享"}}, headers=h(people, "large"))
    assert ok.status_code == 201 and ok.get_json()["details"] == {"ip_terms": "共享"}


def test_the_api_inbox_leaves_out_suggestions_on_closed_demands_as_the_page_does(client, login, people):
    client.post(f"/api/v1/demands/{people['demand']}/match", headers=h(people, "large"))
    inbox = client.get("/api/v1/suggestions", headers=h(people, "sme")).get_json()["items"]
    assert people["demand"] in {s["demand_id"] for s in inbox}
    assert login("large").post(f"/demands/{people['demand']}/status/close").status_code == 302
    inbox = client.get("/api/v1/suggestions", headers=h(people, "sme")).get_json()["items"]
    assert people["demand"] not in {s["demand_id"] for s in inbox}  # answering them would only be a 409


def test_firm_search_reports_its_total_for_paging(client, people):
    first = client.get("/api/v1/firms?q=隔膜&per_page=1", headers=h(people, "sme")).get_json()
    total = first["meta"]["total"]
    assert total >= 2 and len(first["items"]) == 1
    last = client.get(f"/api/v1/firms?q=隔膜&per_page=1&page={total}", headers=h(people, "sme")).get_json()
    beyond = client.get(f"/api/v1/firms?q=隔膜&per_page=1&page={total + 1}", headers=h(people, "sme")).get_json()
    assert len(last["items"]) == 1 and beyond["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"text": "锂电池隔膜", "type": "rd", "top_k": 2.7}, 422, "top_k"),  # was cut to 2
        ({"text": "🔋🔋🔋", "type": "rd"}, 400, "text"),
        ({"text": "。。。！", "type": "rd"}, 400, "text"),
        ({"text": "\u200b", "type": "rd"}, 400, "text"),
    ],
)
def test_match_refuses_what_it_would_otherwise_bend_naming_the_field(client, people, body, status, field):
    response = client.post("/api/v1/match", json=body, headers=h(people, "large"))
    assert response.status_code == status and field in str(response.get_json()["detail"])


def test_an_industry_filter_no_industry_matches_is_refused(client, people):
    body = {"text": "锂电池隔膜", "type": "supply_chain", "industry": "火星产业"}
    response = client.post("/api/v1/match", json=body, headers=h(people, "large"))
    assert response.status_code == 400 and "industry" in response.get_json()["detail"]
    known = client.post("/api/v1/match", json={**body, "industry": "IT服务"}, headers=h(people, "large"))
    assert known.status_code == 200  # part of a name the data holds


def test_a_blank_industry_filter_is_no_filter(client, people):
    body = {"text": "锂电池隔膜", "type": "supply_chain"}
    plain = client.post("/api/v1/match", json=body, headers=h(people, "large")).get_json()["results"]
    blank = client.post("/api/v1/match", json={**body, "industry": "  "}, headers=h(people, "large")).get_json()
    assert plain and [r["firm_id"] for r in blank["results"]] == [r["firm_id"] for r in plain]


def test_every_api_error_has_the_one_documented_shape(client, people):
    """Aborts in views, request validation (422), routing errors, auth and transport refusals all
    answer {status, message, detail}, as the OpenAPI HTTPError schema says; 405 keeps its Allow."""
    headers = h(people, "sme")
    answers = {
        "missing demand": client.get("/api/v1/demands/999999", headers=headers),
        "validation": client.get("/api/v1/demands?per_page=0", headers=headers),
        "unknown route": client.get("/api/v1/nope", headers=headers),
        "wrong method": client.delete("/api/v1/demands", headers=headers),
        "no token": client.get("/api/v1/demands"),
        "unknown parameter": client.get("/api/v1/demands?x=1", headers=headers),
        "NUL": client.get("/api/v1/firms?q=a%00b", headers=headers),
    }
    for what, response in answers.items():
        body = response.get_json()
        assert response.status_code >= 400 and set(body) == {"status", "message", "detail"}, (what, body)
        assert body["status"] == response.status_code and isinstance(body["detail"], dict), (what, body)
    assert "GET" in answers["wrong method"].headers["Allow"]
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["HTTPError"]
    assert set(schema["required"]) == {"status", "message", "detail"}


def test_ids_and_numbers_in_json_bodies_are_strict_and_bounded(client, people):
    """2**70 as an id, 1.5 as an id, "3" as an id or an amount: 422 naming the field, never a
    truncated id, a converted string or a database overflow answered without a field."""
    headers = h(people, "large")
    demand = {"type": "rd", "title": "隔膜研发"}
    for bad in ({"budget_min": "100"}, {"budget_max": "1e3"}):
        response = client.post("/api/v1/demands", json={**demand, **bad}, headers=headers)
        assert response.status_code == 422 and next(iter(bad)) in response.get_json()["detail"]["json"], bad
    event = client.post(
        "/api/v1/events", json={"title": "对接会", "start_date": "2027-03-01"}, headers=h(people, "organizer")
    )
    assert event.status_code == 201, event.get_json()
    path = f"/api/v1/events/{event.get_json()['event_id']}"
    for body in ({"demand_ids": [2**70]}, {"demand_ids": [1.5]}, {"demand_ids": ["3"]}, {"capacity_sme": 2**70}):
        response = client.patch(path, json=body, headers=h(people, "organizer"))
        assert response.status_code == 422, (body, response.get_json())
        assert next(iter(body)) in response.get_json()["detail"]["json"], body
    invite = client.post(f"{path}/invitations", json={"firm_ids": [2**70]}, headers=h(people, "organizer"))
    assert invite.status_code == 422 and "firm_ids" in invite.get_json()["detail"]["json"]
