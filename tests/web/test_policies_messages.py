"""The policy editor shows a refused policy's service message in the reader's language: Chinese by
default, English on an English page; the JSON API keeps the English text."""

from __future__ import annotations

from html import unescape

from marketplace.db import session_scope
from marketplace.enterprise.policies import create_policy, withdraw_policy
from tests.web.conftest import csrf_token

EN = {"Accept-Language": "en"}


def _post_policy(client, headers=None, **fields):
    page = client.get("/policies/new", headers=headers).get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "title": "测试补贴", "issuer": "测试协会", **fields}
    return client.post("/policies/new", data=data, headers=headers)


def test_a_refused_rule_is_explained_in_chinese_and_in_english_on_an_english_page(login):
    client = login("organizer")
    rules = '[{"field": "rd_share", "min": 9, "max": 2}]'
    zh = _post_policy(client, rules=rules)
    assert zh.status_code == 400
    assert "条件 #1：rd_share 的范围自相矛盾（min 9 > max 2），没有企业能符合" in unescape(zh.get_data(as_text=True))
    en = _post_policy(client, EN, rules=rules)
    assert en.status_code == 400
    assert "Rules #1: rd_share range is contradictory (min 9 > max 2); no firm could qualify" in unescape(
        en.get_data(as_text=True)
    )


def test_bad_json_and_a_missing_title_are_refused_in_chinese(login):
    client = login("organizer")
    bad_json = _post_policy(client, rules="[{")
    assert bad_json.status_code == 400 and "条件：不是有效的 JSON（第 " in bad_json.get_data(as_text=True)
    no_title = _post_policy(client, title="")
    assert no_title.status_code == 400 and "标题：请填写政策名称" in no_title.get_data(as_text=True)
    assert "Title: a policy needs its title" in _post_policy(client, EN, title="").get_data(as_text=True)


def test_publishing_a_withdrawn_policy_is_refused_in_the_readers_language(login, loaded, people):
    with session_scope(loaded) as s:
        policy = create_policy(s, {"title": "已撤回政策", "issuer": "测试协会"}, organization_id=None)
        withdraw_policy(s, policy)
        pid = policy.id
    client = login("admin")
    zh = client.post(f"/policies/{pid}/publish")
    assert zh.status_code == 409 and "已撤回的政策不能再次发布；请新建一条政策" in zh.get_data(as_text=True)
    en = client.post(f"/policies/{pid}/publish", headers=EN)
    assert "A withdrawn policy cannot be published again; create a new one" in en.get_data(as_text=True)


def test_the_api_keeps_the_english_message(client, people):
    body = {"title": "API 政策", "issuer": "测试协会", "rules": [{"field": "rd_share", "min": 9, "max": 2}]}
    bad = client.post(
        "/api/v1/policies", json=body, headers={"Authorization": f"Bearer {people['tokens']['organizer']}"}
    )
    assert bad.status_code == 400
    assert "rules[0]: rd_share range is contradictory (min 9 > max 2); no firm could qualify" in str(bad.get_json())


def test_the_editor_refuses_nan_infinity_deep_nesting_and_a_list_as_field(login, loaded):
    from sqlalchemy import func, select

    from marketplace.models import Policy

    client = login("organizer")
    with session_scope(loaded) as s:
        before = s.scalar(select(func.count(Policy.id)))
    for rules, words in [
        ('[{"field": "revenue", "min": NaN}]', "Rules: NaN is not a number"),
        ('[{"field": "revenue", "min": -Infinity}]', "Rules: -Infinity is not a number"),
        ('[{"field": "revenue", "max": Infinity}]', "Rules: Infinity is not a number"),
        ('[{"field": "revenue", "min": 1e999}]', "Rules #1: revenue min must be a finite number"),
        ('[{"field": ["revenue"], "min": 1}]', "Rules #1: give one field name as text"),
        ("[" * 5000 + "]" * 5000, "Rules: nested too deeply"),
        ("[" * 100_000 + "]" * 100_000, "Rules: 200000 characters; at most 20000"),
    ]:
        response = _post_policy(client, EN, rules=rules, publish="1")
        assert response.status_code == 400, rules[:40]
        assert words in unescape(response.get_data(as_text=True)), rules[:40]
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count(Policy.id))) == before  # nothing saved


def test_an_error_in_one_rule_marks_the_rules_box(login):
    page = _post_policy(login("organizer"), rules='[{"field": "nope", "min": 1}]').get_data(as_text=True)
    assert page.count("has-error") == 1
    rules_box = page[page.index("has-error") :][:400]
    assert 'name="rules"' in rules_box and "条件 #1：" in page
