"""Every page and form through the Flask test client, with authorization denials."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from marketplace.db import session_scope
from marketplace.models import Demand, MatchSuggestion, OwnerAction, SuggestionStatus


def test_home_lists_open_demands_and_firms_in_chinese(client, people):
    html = client.get("/").get_data(as_text=True)
    assert "产业链供需对接平台" in html and "采购锂电池隔膜" in html and "草稿需求" not in html
    assert "福莱特" in html


def test_english_switch_translates_the_layout(client):
    client.get("/lang/en")
    html = client.get("/").get_data(as_text=True)
    assert "Supply–demand matching" in html and 'lang="en"' in html
    assert "Supply chain" in html and "供应链/采购" not in html  # domain labels follow the language
    client.get("/lang/zh")
    assert "产业链供需对接平台" in client.get("/").get_data(as_text=True)


def test_healthz_reports_database_and_counts(client):
    data = client.get("/healthz").get_json()
    assert data["status"] == "ok" and data["database"] == "ok" and data["counts"]["firms"] > 0


def test_static_assets_are_served_locally(client):
    assert client.get("/static/vendor/echarts.min.js").status_code == 200
    html = client.get("/").get_data(as_text=True)
    assert "cdn" not in html.lower() and "http://" not in html.replace("http://localhost", "")


def test_register_sme_and_see_profile(client):
    response = client.post(
        "/auth/register",
        data={
            "name": "张三",
            "email": "zhang@new.cn",
            "password": "longenough1",
            "role": "sme",
            "firm_name": "新注册科技有限公司",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/login")
    client.post("/auth/login", data={"email": "zhang@new.cn", "password": "longenough1"})
    assert "新注册科技有限公司" in client.get("/profile").get_data(as_text=True)


def test_register_with_bad_fields_shows_field_errors_and_saves_nothing(client, loaded):
    response = client.post(
        "/auth/register", data={"name": "", "email": "not-an-email", "password": "short", "role": "sme"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "has-error" in html
    dup = client.post(
        "/auth/register",
        data={"name": "x", "email": "sme@t.cn", "password": "longenough1", "role": "sme", "firm_name": "某某"},
    )
    # neutral: the answer for a registered e-mail is the one for a new one, and nothing is created
    assert dup.status_code == 302 and "already registered" not in dup.get_data(as_text=True)
    with session_scope(loaded) as s:
        from marketplace.models import Firm

        assert s.scalar(select(Firm).where(Firm.name == "某某")) is None


def test_spaces_around_a_pasted_e_mail_are_ignored_at_sign_in(client, people):
    response = client.post("/auth/login", data={"email": "  sme@t.cn ", "password": "correct-horse-1"})
    assert response.status_code == 302


def test_wrong_password_is_refused(client):
    response = client.post("/auth/login", data={"email": "sme@t.cn", "password": "wrong-password"})
    assert response.status_code == 400 and "邮箱或密码不正确" in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(client):
    response = client.post("/auth/login", data={"email": "sme@t.cn", "password": "correct-horse-1"})
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("path", ["/profile", "/inbox/", "/demands/new", "/demands/mine", "/organizer/", "/auth/token"])
def test_pages_that_need_sign_in_redirect_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_sme_edits_its_profile(login, loaded, people):
    client = login("sme")
    response = client.post(
        "/profile",
        data={
            "description": "专注隔膜",
            "region": "上海市",
            "tier": "specialized",
            "products": "锂电池隔膜\n陶瓷涂覆隔膜",
            "industries": "电池化学品",
            "patents": "一种隔膜",
        },
    )
    assert response.status_code == 302
    html = client.get("/profile").get_data(as_text=True)
    assert "陶瓷涂覆隔膜" in html and "申报中" in html  # the tier is claimed, not yet recognised
    shown = client.get(f"/firms/{people['sme_firm']}").get_data(as_text=True)
    assert "专精特新" not in shown and "陶瓷涂覆隔膜" in shown and "上海" in shown


def test_an_over_long_profile_entry_is_named_by_its_field_and_number(login, loaded, people):
    client = login("sme")
    response = client.post("/profile", data={"products": "锂电池隔膜\n" + "隔" * 300, "patents": "一种隔膜"})
    assert response.status_code == 400
    assert "第 2 项有 300 个字符，每项最多 255 个" in response.get_data(as_text=True)  # under the products field
    html = client.get("/profile").get_data(as_text=True)
    assert "隔" * 300 not in html  # nothing stored


def test_large_firm_user_cannot_open_organizer_dashboard(login):
    assert login("large").get("/organizer/").status_code == 403


def test_sme_cannot_post_demands(login):
    client = login("sme")
    assert client.get("/demands/new").status_code == 403
    assert client.post("/demands/new", data={"type": "rd", "title": "x"}).status_code == 403


def test_organizer_has_no_profile_or_inbox(login):
    client = login("organizer")
    assert client.get("/profile").status_code == 403
    assert client.get("/inbox/").status_code == 403


def test_large_firm_posts_supply_chain_demand_and_sees_candidates(login, people):
    client = login("large")
    assert "quality_standard" in client.get("/demands/new?type=supply_chain").get_data(as_text=True)
    response = client.post(
        "/demands/new",
        data={
            "type": "supply_chain",
            "title": "采购光伏玻璃",
            "description": "组件用光伏玻璃",
            "wanted_products": "光伏玻璃",
            "visibility": "public",
            "quantity": "100 万平米",
            "quality_standard": "GB/T",
            "publish": "1",
        },
    )
    assert response.status_code == 302
    demand_url = response.headers["Location"]
    demand_id = int(demand_url.rstrip("/").split("/")[-1])
    assert client.post(f"/demands/{demand_id}/match").status_code == 302
    html = client.get(demand_url).get_data(as_text=True)
    assert "候选企业" in html and "匹配产品" in html and "chain-graph" in html
    assert "100 万平米" in html
    graph = client.get(f"/demands/{demand_id}/graph.json").get_json()
    assert graph["nodes"][0]["id"] == "demand" and len(graph["links"]) >= 1
    assert 'data-categories="[&#34;需求&#34;, &#34;产品&#34;, &#34;行业&#34;, &#34;专利&#34;, &#34;企业&#34;]"' in html
    client.get("/lang/en")  # the graph's legend follows the page's language
    html = client.get(demand_url).get_data(as_text=True)
    assert 'data-categories="[&#34;Demands&#34;, &#34;Products&#34;, &#34;Industries&#34;, &#34;Patents&#34;' in html
    client.get("/lang/zh")


def test_demand_form_errors_name_the_field(login):
    client = login("large")
    response = client.post(
        "/demands/new", data={"type": "rd", "title": "x", "budget_min": "10", "budget_max": "1", "visibility": "public"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "has-error" in html
    swapped = client.post(
        "/demands/new",
        data={"type": "rd", "title": "预算颠倒", "budget_min": "10", "budget_max": "1", "visibility": "public"},
    ).get_data(as_text=True)
    # the service's message sits on the field it names, whole, not split into a form-level fragment,
    # in the reader's language
    field = swapped[swapped.index('for="budget_min"') : swapped.index('for="budget_max"')]
    assert "预算下限大于预算上限；请对调两者，或只填一个" in field and "demand:" not in swapped
    client.get("/lang/en")
    english = client.post(
        "/demands/new",
        data={"type": "rd", "title": "预算颠倒", "budget_min": "10", "budget_max": "1", "visibility": "public"},
    ).get_data(as_text=True)
    field = english[english.index('for="budget_min"') : english.index('for="budget_max"')]
    assert "larger than budget_max; swap them or leave one out" in field
    client.get("/lang/zh")


@pytest.mark.parametrize("budget", ["Infinity", "NaN", "1e400", "1e30", "sNaN", "-sNaN", "snan123"])  # sNaN: was 500
def test_a_budget_must_be_a_finite_real_amount(login, loaded, budget):
    client = login("large")
    with session_scope(loaded) as s:
        before = s.scalar(select(func.count()).select_from(Demand))
    response = client.post(
        "/demands/new", data={"type": "rd", "title": "无穷预算", "budget_min": budget, "visibility": "public"}
    )
    assert response.status_code == 400 and "has-error" in response.get_data(as_text=True)
    if "nan" in budget.lower() or "Infinity" in budget:
        assert "请输入一个有限的数字" in response.get_data(as_text=True)  # the field's own error
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count()).select_from(Demand)) == before


def test_owner_filters_and_acts_on_candidates(login, loaded, people):
    client = login("large")
    client.post(f"/demands/{people['demand']}/match")
    with session_scope(loaded) as s:
        suggestion = s.scalars(select(MatchSuggestion).where(MatchSuggestion.demand_id == people["demand"])).first()
        sid = suggestion.id
    assert client.post(f"/demands/{people['demand']}/suggestions/{sid}/shortlist").status_code == 302
    assert client.post(f"/demands/{people['demand']}/suggestions/{sid}/invite").status_code == 302
    with session_scope(loaded) as s:
        assert s.get(MatchSuggestion, sid).owner_action is OwnerAction.INVITED
    filtered = client.get(f"/demands/{people['demand']}?tier=single_champion").get_data(as_text=True)
    assert 'id="candidates"' not in filtered
    assert client.post(f"/demands/{people['demand']}/suggestions/{sid}/bogus").status_code == 400


def test_other_firms_cannot_manage_a_demand(login, people):
    client = login("sme2")
    d = people["demand"]
    assert client.get(f"/demands/{d}/edit").status_code == 403
    assert client.post(f"/demands/{d}/match").status_code == 403
    assert client.post(f"/demands/{d}/status/close").status_code == 403
    assert client.get(f"/demands/{d}/graph.json").status_code == 403
    assert client.get(f"/demands/{people['draft']}").status_code == 404  # hidden demands look missing
    assert "候选企业" not in client.get(f"/demands/{d}").get_data(as_text=True)


def test_owner_publishes_closes_and_edits(login, loaded, people):
    client = login("large")
    assert client.post(f"/demands/{people['draft']}/status/publish").status_code == 302
    edit = client.post(
        f"/demands/{people['draft']}/edit",
        data={"type": "rd", "title": "新标题研发", "visibility": "public", "ip_terms": "共享"},
    )
    assert edit.status_code == 302
    assert client.post(f"/demands/{people['draft']}/status/close").status_code == 302
    with session_scope(loaded) as s:
        d = s.get(Demand, people["draft"])
        assert d.status.value == "closed" and d.title == "新标题研发" and d.details == {"ip_terms": "共享"}
    refused = client.post(f"/demands/{people['draft']}/status/publish")
    assert refused.status_code == 409 and "需求不能从“已关闭”变为“征集中”" in refused.get_data(as_text=True)


def test_sme_inbox_refresh_accept_and_decline(login, loaded, people):
    client = login("sme")
    assert client.post("/inbox/refresh").status_code == 302
    html = client.get("/inbox/").get_data(as_text=True)
    assert "采购锂电池隔膜" in html and "匹配产品" in html
    with session_scope(loaded) as s:
        sid = s.scalar(select(MatchSuggestion.id).where(MatchSuggestion.firm_id == people["sme_firm"]))
    assert client.post(f"/inbox/{sid}/accept").status_code == 302
    with session_scope(loaded) as s:
        assert s.get(MatchSuggestion, sid).status is SuggestionStatus.ACCEPTED
        assert s.get(Demand, people["demand"]).status.value == "matched"


def test_sme_cannot_answer_another_firms_suggestion(login, loaded, people):
    login("sme").post("/inbox/refresh")
    with session_scope(loaded) as s:
        sid = s.scalar(select(MatchSuggestion.id).where(MatchSuggestion.firm_id == people["sme_firm"]))
    # another firm's suggestion is not shown to exist (404, as a missing id), not merely forbidden
    assert login("sme2").post(f"/inbox/{sid}/accept").status_code == 404
    assert login("sme2").post("/inbox/999999/accept").status_code == 404


def test_organizer_dashboard_and_csv(login, people):
    client = login("organizer")
    html = client.get("/organizer/").get_data(as_text=True)
    assert "组织方看板" in html and "dashboard-data" in html and "echarts.min.js" in html
    csv = client.get("/organizer/export.csv")
    assert csv.mimetype == "text/csv"
    body = csv.get_data(as_text=True)
    assert (
        body.splitlines()[0].lstrip("\ufeff").startswith("需求编号,需求标题,需求类型,状态") and "采购锂电池隔膜" in body
    )
    assert ",供应链/采购,征集中," in body  # type and status by their labels, not their codes
    client.get("/lang/en")
    body = client.get("/organizer/export.csv").get_data(as_text=True)
    assert body.splitlines()[0].lstrip("\ufeff").startswith("Demand ID,Demand title,Demand type,Status")
    client.get("/lang/zh")


def test_firm_directory_search_and_pages(client, people):
    assert "福莱特" in client.get("/firms/?q=光伏玻璃").get_data(as_text=True)
    assert client.get("/firms/?kind=sme").status_code == 200
    assert client.get("/firms/999999").status_code == 404
    assert "采购锂电池隔膜" in client.get("/demands/?q=隔膜&type=supply_chain").get_data(as_text=True)


def test_user_text_is_escaped(login, loaded, people):
    client = login("large")
    client.post(
        "/demands/new",
        data={
            "type": "service",
            "title": "<script>alert(1)</script>",
            "description": "<b>x</b>",
            "visibility": "public",
            "publish": "1",
        },
    )
    html = client.get("/demands/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    sme = login("sme")
    sme.post("/profile", data={"description": "<img src=x onerror=alert(1)>", "products": "<script>x</script>"})
    page = sme.get(f"/firms/{people['sme_firm']}").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/nope")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)


def test_a_new_token_is_shown_once_after_a_redirect_so_a_reload_makes_no_second(login, loaded):
    from marketplace.models import ApiToken

    client = login("sme")
    created = client.post("/auth/token", data={"name": "刷新测试令牌", "expires_in_days": "30"})
    assert created.status_code == 303 and created.headers["Location"].endswith("/auth/token")
    shown = client.get(created.headers["Location"]).get_data(as_text=True)
    assert 'id="api-token">cm_' in shown and "刷新测试令牌" in shown
    assert 'id="api-token"' not in client.get("/auth/token").get_data(as_text=True)  # once only
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count()).where(ApiToken.name == "刷新测试令牌")) == 1


def test_profile_edit_reaches_the_matching_engine(app, login, people):
    from web.matching_engine import get_engine

    client = login("sme")
    with app.app_context():
        get_engine()
    client.post("/profile", data={"products": "锂电池隔膜\n固态电解质膜片", "description": "x"})
    from web.matching_engine import refresh_queue

    assert refresh_queue(app).wait_idle(timeout=60)
    with app.app_context():
        profile = get_engine().profiles[people["sme_firm"]]
    assert "固态电解质膜片" in profile.product_names


def test_matching_without_data_explains_instead_of_crashing(tmp_path):
    from marketplace.accounts.users import create_user
    from marketplace.config import Settings
    from marketplace.db import session_scope
    from marketplace.demands.workflow import create_demand
    from marketplace.enterprise.firms import create_firm
    from marketplace.models import Role
    from web import create_app

    settings = Settings(instance_dir=tmp_path)
    app = create_app(settings, {"TESTING": True, "WTF_CSRF_ENABLED": False, "MATCH_USE_DENSE": False})
    with session_scope(settings) as s:
        firm = create_firm(s, name="唯一企业有限公司")
        create_user(s, email="a@b.cn", password="longenough1", name="a", role=Role.LARGE, firm_id=firm.id)
        demand = create_demand(s, {"owner_firm_id": firm.id, "type": "rd", "title": "研发需求", "publish": True})
    client = app.test_client()
    client.post("/auth/login", data={"email": "a@b.cn", "password": "longenough1"})
    response = client.post(f"/demands/{demand.id}/match")
    assert response.status_code == 503 and "import data first" in response.get_data(as_text=True)


def test_my_demands_lists_drafts_of_my_firm_only(login, people):
    html = login("large").get("/demands/mine").get_data(as_text=True)
    assert "草稿需求" in html and "采购锂电池隔膜" in html
    other = login("sme").get("/demands/mine").get_data(as_text=True)
    assert "草稿需求" not in other
    assert login("organizer").get("/demands/mine").status_code == 403


def test_no_page_pulls_assets_from_a_cdn(client):
    assert client.get("/api/v1/docs").status_code == 404  # Swagger UI would load from a CDN
    assert client.get("/api/v1/openapi.json").is_json


def test_a_refused_action_page_links_back_to_the_page_it_came_from_on_this_site_only(login, loaded, people):
    client = login("large")
    assert client.post(f"/demands/{people['draft']}/status/publish").status_code == 302
    assert client.post(f"/demands/{people['draft']}/status/close").status_code == 302
    came_from = f"http://localhost/demands/{people['draft']}"
    refused = client.post(f"/demands/{people['draft']}/status/publish", headers={"Referer": came_from})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and f'href="/demands/{people["draft"]}" id="error-back"' in page
    elsewhere = client.post(f"/demands/{people['draft']}/status/publish", headers={"Referer": "https://evil.example/x"})
    assert elsewhere.status_code == 409 and 'id="error-back"' not in elsewhere.get_data(as_text=True)
    # the language switch goes back only to pages of this site, too
    assert client.get("/lang/zh", headers={"Referer": "https://evil.example/x"}).headers["Location"] == "/"
    assert client.get("/lang/zh", headers={"Referer": came_from}).headers["Location"] == f"/demands/{people['draft']}"


def test_admin_page_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_demand_board_search_takes_percent_and_underscore_literally(client, people):
    assert "采购锂电池隔膜" in client.get("/demands/?q=隔膜").get_data(as_text=True)
    for wildcard in ("%25", "_"):
        assert "采购锂电池隔膜" not in client.get(f"/demands/?q={wildcard}").get_data(as_text=True)


def test_a_suggestion_region_filter_that_names_no_province_is_refused(login, people):
    client = login("large")
    page = client.get(f"/demands/{people['demand']}?region=火星")
    assert page.status_code == 400 and "地区：" in page.get_data(as_text=True)
    assert 'id="region-error"' in page.get_data(as_text=True)  # next to the filter, on the demand's page
    assert client.get(f"/demands/{people['demand']}?region=上海市").status_code == 200


def test_a_demands_budget_reads_as_people_write_it_in_both_languages(client, loaded, people):
    with session_scope(loaded) as s:
        s.get(Demand, people["demand"]).budget_min, s.get(Demand, people["demand"]).budget_max = 500.0, 3000.0
    html = client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    assert '<span id="demand-budget">500–3,000 万元</span>' in html and "500.0" not in html
    client.get("/lang/en")
    html = client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    assert '<span id="demand-budget">CNY 5–30 million</span>' in html
    with session_scope(loaded) as s:
        s.get(Demand, people["demand"]).budget_min = None
    assert '<span id="demand-budget">up to CNY 30 million</span>' in client.get(
        f"/demands/{people['demand']}"
    ).get_data(as_text=True)


def test_an_sme_gets_no_dead_my_demands_page(login):
    """SMEs answer demands and cannot post one: no "我的需求" in their menu, and the page, if opened,
    says why and leads to the demands suggested to them, the marketplace and their profile."""
    sme = login("sme")
    home = sme.get("/").get_data(as_text=True)
    assert 'href="/demands/mine"' not in home and 'href="/inbox/"' in home
    page = sme.get("/demands/mine")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="sme-demands-help"' in html
    assert "中小企业在平台上响应大企业发布的需求" in html and "暂无需求" not in html
    for link in ('href="/inbox/"', 'href="/demands/"', 'href="/profile"'):
        assert link in html[html.index('id="sme-demands-help"') :], link


def test_a_large_firm_keeps_my_demands_in_its_menu_with_a_way_to_post(login, loaded, people):
    large = login("large")
    assert 'href="/demands/mine"' in large.get("/").get_data(as_text=True)
    html = large.get("/demands/mine").get_data(as_text=True)
    assert 'id="sme-demands-help"' not in html and "采购锂电池隔膜" in html
