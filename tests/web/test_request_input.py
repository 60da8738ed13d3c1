"""Request text the app refuses before any view runs (web/request_input.py): NUL characters, lone
surrogates, non-finite numbers and too deeply nested JSON answer 400 naming the field, and nothing
is stored."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from marketplace.db import session_scope
from marketplace.models import Demand


def _auth(people, who: str = "large") -> dict[str, str]:
    return {"Authorization": f"Bearer {people['tokens'][who]}", "Content-Type": "application/json"}


def _demands(loaded) -> int:
    with session_scope(loaded) as s:
        return s.scalar(select(func.count(Demand.id)))


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            '{"type": "rd", "title": "正常标题", "details": {"technical_problem": "x\\ud800"}}',
            "details.technical_problem",
            "surrogate",
        ),
        ('{"type": "rd", "title": "a\\u0000b"}', "title", "NUL"),
        ('{"type": "rd", "title": "正常标题", "budget_min": NaN}', "budget_min", "not a finite number"),
        ('{"type": "rd", "title": "正常标题", "budget_max": 1e400}', "budget_max", "not a finite number"),
        ('{"type": "rd", "title": "正常标题", "details": {"x": -Infinity}}', "details.x", "not a finite number"),
        ('{"type": "rd", "title": "正常标题", "wanted_products": ["ok", "x\\u0000"]}', "wanted_products[1]", "NUL"),
    ],
)
def test_api_body_with_unreadable_text_or_numbers_is_refused_naming_the_field(
    client, loaded, people, body, field, words
):
    before = _demands(loaded)
    response = client.post("/api/v1/demands", data=body, headers=_auth(people))
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["message"].startswith(f"{field}: ") and words in answer["message"]
    assert field in answer["detail"]["json"]
    assert _demands(loaded) == before  # nothing stored


def test_too_deeply_nested_json_is_refused_not_a_crash(client, people):
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/demands", data=deep, headers=_auth(people))
    assert response.status_code == 400 and "nested too deeply" in response.get_json()["message"]
    inner: object = 1
    for _ in range(40):
        inner = [inner]
    nested = json.dumps({"type": "rd", "title": "t", "details": {"a": inner}})
    response = client.post("/api/v1/demands", data=nested, headers=_auth(people))
    assert response.status_code == 400 and "levels deep" in response.get_json()["message"]


def test_malformed_json_is_still_answered_by_the_endpoint(client, people):
    response = client.post("/api/v1/demands", data='{"type": "rd", ', headers=_auth(people))
    assert response.status_code == 400


def test_page_form_with_a_nul_character_is_refused_in_the_readers_language(login, loaded, people):
    client = login("sme")
    response = client.post("/profile", data={"description": "能力\x00简介"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "描述：含有 NUL 字符，请删除" in page
    client.get("/lang/en")
    page = client.post("/profile", data={"description": "x\x00"}).get_data(as_text=True)
    assert "Description: contains a NUL character; remove it" in page
    client.get("/lang/zh")


def test_query_parameter_with_a_nul_character_is_refused(client, people):
    response = client.get("/api/v1/demands?q=a%00b", headers=_auth(people, "sme"))
    assert response.status_code == 400 and response.get_json()["message"].startswith("q: contains a NUL")
    assert "q" in response.get_json()["detail"]["query"]  # where it was: the query, not a JSON body
    assert client.get("/demands?q=a%00b").status_code == 400


def test_ordinary_unicode_passes(client, loaded, people):
    body = {"type": "rd", "title": "锂电池隔膜 😀 ‏研发", "details": {"technical_problem": "零宽\u200b字符"}}
    response = client.post("/api/v1/demands", json=body, headers=_auth(people))
    assert response.status_code == 201, response.get_json()


def test_a_body_that_is_not_json_is_named_with_its_line_and_column(client, people):
    response = client.post(
        "/api/v1/match",
        data='{"text": "隔膜",\n "top_k": }',
        headers=_auth(people, "sme"),
    )
    body = response.get_json()
    assert response.status_code == 400 and body["message"].startswith("body: not valid JSON")
    assert "line 2, column 11" in body["message"] and "body" in body["detail"]["json"]
    latin = client.post("/api/v1/match", data=b'{"text": "\xe9"}', headers=_auth(people, "sme"))
    assert latin.status_code == 400 and "UTF-8" in latin.get_json()["message"]


def test_a_json_endpoint_sent_a_form_answers_415_naming_the_content_type(client, people):
    """Read as JSON a form is empty, and the answer blamed fields that were sent."""
    headers = {"Authorization": _auth(people)["Authorization"]}
    form = client.post("/api/v1/demands", data={"type": "rd", "title": "隔膜研发"}, headers=headers)
    assert form.status_code == 415 and form.get_json()["message"].startswith("Content-Type:")
    assert "application/x-www-form-urlencoded" in form.get_json()["message"]
    text = client.post("/api/v1/demands", data="type=rd", headers={**headers, "Content-Type": "text/plain"})
    assert text.status_code == 415
    # JSON still works, and a body-less call is left to the endpoint
    assert client.post("/api/v1/demands", json={"type": "rd"}, headers=headers).status_code == 422
