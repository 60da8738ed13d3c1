"""Enterprise-service pages and API: tier self-assessment, policy matching and editing, consortia;
every permission function's denials through both the pages and the API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.enterprise.demo import load_enterprise_demo
from marketplace.enterprise.tiers import save_figures
from marketplace.models import Firm, Notification, Organization, Policy, ProcurementProject, User
from tests.web.conftest import csrf_token


def h(people, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {people['tokens'][who]}"}


@pytest.fixture
def services(loaded, people):
    """Demo policies, firms and project; the organizer's association looks after 上海; the test SME
    has figures."""
    with session_scope(loaded) as s:
        load_enterprise_demo(s)
        org = s.scalar(select(Organization).where(Organization.name == "测试协会"))
        org.region = "上海"
        sme = s.get(Firm, people["sme_firm"])
        save_figures(
            s,
            sme,
            {"rd_share": 6.5, "rd_expense": 350, "revenue": 3000, "employees": 80, "years_in_business": 4},
            by="t",
        )
        project = s.scalar(select(ProcurementProject))
        return {"project": project.id, "policy": s.scalar(select(Policy.id).order_by(Policy.id))}


# --- tiers ---------------------------------------------------------------------------------------


def test_sme_sees_its_assessment_and_saves_figures(login, services):
    client = login("sme")
    html = client.get("/tiers/").get_data(as_text=True)
    assert "梯度培育自评" in html and "创新型中小企业" in html and 'id="figures-form"' in html
    response = client.post(
        "/tiers/",
        data={"csrf_token": csrf_token(html), "revenue": "5200", "tech_honour": "true", "tech_honour__shown": "1"},
    )
    assert response.status_code == 302
    html = client.get("/tiers/").get_data(as_text=True)
    assert 'id="tier-highest">创新型中小企业<' in html


def test_a_firm_answers_a_yes_no_figure_with_no_and_can_take_it_back(login, services, loaded, people):
    """An unticked checkbox meant "not filled in": the form asks 是 / 否 / 不确定 and keeps a no."""
    client = login("sme")
    html = client.get("/tiers/").get_data(as_text=True)
    assert 'id="f-own_brand-no"' in html and 'type="checkbox"' not in html
    client.post("/tiers/", data={"csrf_token": csrf_token(html), "own_brand": "false", "tech_honour": "true"})
    with session_scope(loaded) as s:
        from marketplace.models import TierFigures

        figures = s.scalar(select(TierFigures.figures).where(TierFigures.firm_id == people["sme_firm"]))
        assert figures["own_brand"] is False and figures["tech_honour"] is True
    html = client.get("/tiers/").get_data(as_text=True)
    assert re.search(r'id="f-own_brand-no" name="own_brand" value="false"\s+checked', html)
    brand = re.search(r"<li class=\"(\w+)\">\s*✗ 拥有直接面向市场并具有竞争优势的自主品牌\s*(.*?)</li>", html, re.S)
    assert brand and brand.group(1) == "fail" and "未填写" not in brand.group(2)  # a no, not a blank
    client.post("/tiers/", data={"csrf_token": csrf_token(html), "own_brand": ""})  # 不确定: unknown again
    with session_scope(loaded) as s:
        figures = s.scalar(select(TierFigures.figures).where(TierFigures.firm_id == people["sme_firm"]))
        assert "own_brand" not in figures and figures["tech_honour"] is True


def test_the_composite_little_giant_condition_names_its_missing_figures_in_both_languages(login, services):
    client = login("sme")
    html = client.get("/tiers/").get_data(as_text=True)
    innovation = html[html.index("创新能力：一般性条件或创新直通条件") :][:2000]
    # its general route is already ruled out (one Ⅰ类 IP on record, two needed): the direct routes are asked for
    assert "（未填写：近三年获得国家级科技奖励并在获奖单位中排名前三、近三年进入" in innovation
    assert not re.search(r"差\s*</span>", html)  # no "差" without an amount
    client.get("/lang/en")
    html = client.get("/tiers/").get_data(as_text=True)
    assert "(not filled in: National science award, top 3 of the winners, in the last 3 years, Maker China" in html
    assert not re.search(r"short by\s*</span>", html)  # no dangling "short by"


def test_bad_figure_is_refused_with_the_field_named_and_nothing_saved(login, services, loaded):
    client = login("sme")
    response = client.post("/tiers/", data={"revenue": "lots", "rd_share": "9"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "revenue" in html and "has-error" in html
    # the service message, in Chinese on a Chinese page and in English (the figure's English name) on an English one
    assert "上年度营业收入总额 须为数字（万元），而不是 &#39;lots&#39;" in html
    english = client.post("/tiers/", data={"revenue": "lots"}, headers={"Accept-Language": "en"})
    assert "Revenue last year must be a number (×10k CNY), not &#39;lots&#39;" in english.get_data(as_text=True)
    with session_scope(loaded) as s:
        from marketplace.models import TierFigures

        figures = s.scalar(select(TierFigures.figures).join(Firm).where(Firm.name == "测试隔膜科技（上海）有限公司"))
        assert figures["rd_share"] == 6.5


def test_english_page_shows_english_criteria(login, services, people):
    client = login("sme")
    client.get("/lang/en")
    html = client.get("/tiers/").get_data(as_text=True)
    assert "Innovative SME" in html and "Main business share of revenue" in html
    assert "SME tier self-assessment" in html and "梯度培育自评" not in html
    assert "Revenue last year (×10k CNY)" in html and "万元" not in html  # units in English too
    firm = client.get(f"/tiers/firm/{people['sme_firm']}").get_data(as_text=True)
    assert "Annex 1: evaluation criteria for innovative SMEs" in firm and "附件1" not in firm
    mine = client.get("/policies/mine").get_data(as_text=True)
    assert "Policies for my firm" in mine and "Years since founding ≥ 2 years: now 4 years" in mine
    assert "Revenue last year ≤ 20000 ×10k CNY: now 3000 ×10k CNY" in mine
    client.get("/lang/zh")


def test_a_figure_label_wraps_its_unit_in_one_pair_of_brackets_in_both_languages(login, services):
    """English units that carry their own brackets ("(rank)", "(level)") were wrapped again:
    "Digital maturity level ((level))"; a unit with no English word left "()"."""
    client = login("sme")
    client.get("/lang/en")
    english = client.get("/tiers/").get_data(as_text=True)
    client.get("/lang/zh")
    chinese = client.get("/tiers/").get_data(as_text=True)
    labels = re.findall(r"<label for=\"f-[^\"]+\">([^<]*)", english)
    assert "Digital maturity level (level)" in english and "Global market-share rank of the product (rank)" in english
    assert labels and not [t for t in labels if "((" in t or "()" in t]
    assert "（级）" in chinese and "（万元）" in chinese


@pytest.mark.parametrize(("who", "status"), [("sme2", 403), ("large", 403), ("organizer", 200), ("admin", 200)])
def test_a_firms_tier_page_is_for_itself_its_regional_organizer_and_admins(login, services, people, who, status):
    assert login(who).get(f"/tiers/firm/{people['sme_firm']}").status_code == status


def test_organizer_of_another_region_is_denied_figures(login, services, loaded, people):
    with session_scope(loaded) as s:
        s.scalar(select(Organization).where(Organization.name == "测试协会")).region = "江苏"
    client = login("organizer")
    assert client.get(f"/tiers/firm/{people['sme_firm']}").status_code == 403
    assert client.get(f"/api/v1/tiers/firms/{people['sme_firm']}", headers=h(people, "organizer")).status_code == 403


def test_pipeline_is_for_organizers_and_shows_their_region(login, services):
    assert login("sme").get("/tiers/pipeline").status_code == 403
    html = login("organizer").get("/tiers/pipeline").get_data(as_text=True)
    assert "梯度培育储备" in html and "示例储能科技（上海）有限公司（演示）" in html
    assert "示例电解液材料（江苏）" not in html  # another region
    client = login("organizer")
    client.get("/lang/en")
    english = client.get("/tiers/pipeline").get_data(as_text=True)
    client.get("/lang/zh")
    assert "(industry unknown)" in english and "未知行业" not in english  # firms without an industry on record


def test_organizer_without_a_region_is_refused_the_regional_reports(login, client, services, loaded, people):
    with session_scope(loaded) as s:
        s.scalar(select(Organization).where(Organization.name == "测试协会")).region = None
    page = login("organizer")
    for path in ("/tiers/pipeline", "/consortia/report"):
        response = page.get(path)
        assert response.status_code == 403 and "所辖地区" in response.get_data(as_text=True)
    for path in ("/api/v1/tiers/pipeline", "/api/v1/consortia/report"):
        response = client.get(path, headers=h(people, "organizer"))
        assert response.status_code == 403 and "no region" in response.get_json()["message"]
    # an admin still sees every region
    assert client.get("/api/v1/tiers/pipeline", headers=h(people, "admin")).status_code == 200


def test_anonymous_users_are_sent_to_sign_in(client, services, people):
    assert client.get("/tiers/").status_code == 302
    assert client.get("/policies/mine").status_code == 302
    assert client.get("/consortia/").status_code == 302


def test_tier_api_assesses_updates_and_denies(client, services, people):
    fid = people["sme_firm"]
    ok = client.get(f"/api/v1/tiers/firms/{fid}", headers=h(people, "sme"))
    assert ok.status_code == 200 and ok.get_json()["firm_id"] == fid
    assert client.get(f"/api/v1/tiers/firms/{fid}", headers=h(people, "sme2")).status_code == 403
    assert client.get("/api/v1/tiers/firms/999999", headers=h(people, "admin")).status_code == 404
    assert client.get(f"/api/v1/tiers/firms/{fid}").status_code == 401
    bad = client.put(f"/api/v1/tiers/firms/{fid}/figures", json={"figures": {"rd_shar": 3}}, headers=h(people, "sme"))
    assert bad.status_code == 400 and "rd_shar" in bad.get_json()["detail"]
    for figures, words in [({"ip_class": ["x"]}, "give one of none"), ({"revenue": True}, "give a number")]:
        bad = client.put(f"/api/v1/tiers/firms/{fid}/figures", json={"figures": figures}, headers=h(people, "sme"))
        field = next(iter(figures))  # typed as the document says: a 422 naming the figure
        assert bad.status_code == 422 and f"{field}: {words}" in bad.get_json()["detail"]["json"]["figures"][0]
    for figures, words in [({"ip_class": "x"}, "choose one of"), ({"revenue": -5}, "cannot be negative")]:
        bad = client.put(f"/api/v1/tiers/firms/{fid}/figures", json={"figures": figures}, headers=h(people, "sme"))
        field = next(iter(figures))
        assert bad.status_code == 400 and words in bad.get_json()["detail"][field], figures
    put = client.put(
        f"/api/v1/tiers/firms/{fid}/figures", json={"figures": {"tech_honour": True}}, headers=h(people, "sme")
    )
    assert put.status_code == 200 and put.get_json()["highest"] == "innovative"
    assert client.get("/api/v1/tiers/pipeline", headers=h(people, "sme")).status_code == 403
    assert client.get("/api/v1/tiers/pipeline", headers=h(people, "organizer")).status_code == 200
    assert client.get("/api/v1/tiers/criteria", headers=h(people, "sme")).get_json()["year"] == 2022


# --- policies ------------------------------------------------------------------------------------


def test_sme_sees_policies_it_qualifies_for_and_nearly_qualifies_for(login, services):
    html = login("sme").get("/policies/mine").get_data(as_text=True)
    qualifies = html.split('id="policies-qualifies"')[1].split('id="policies-nearly"')[0]
    assert "关于进一步完善研发费用税前加计扣除政策的公告" in qualifies
    nearly = html.split('id="policies-nearly"')[1]
    assert "上海市中小企业研发投入补贴" in nearly and "企业梯度" in nearly


def test_policy_search_uses_chinese_words(client, services):
    html = client.get("/policies/?q=小型微利企业所得税").get_data(as_text=True)
    assert "关于进一步支持小微企业和个体工商户发展有关税费政策的公告" in html


def test_organizer_publishes_a_policy_and_the_firms_it_reaches_are_notified(login, services, loaded, people):
    client = login("organizer")
    page = client.get("/policies/new").get_data(as_text=True)
    bad = client.post(
        "/policies/new",
        data={
            "csrf_token": csrf_token(page),
            "title": "测试补贴",
            "issuer": "测试协会",
            "rules": '[{"field": "rd_share", "min": 9, "max": 2}]',
        },
    )
    assert bad.status_code == 400 and "rd_share" in bad.get_data(as_text=True)
    good = client.post(
        "/policies/new",
        data={
            "csrf_token": csrf_token(page),
            "title": "测试研发补贴",
            "issuer": "测试协会",
            "region": "上海",
            "benefit": "按研发投入给予补贴",
            "rules": '[{"field": "rd_share", "min": 6}]',
            "publish": "1",
        },
    )
    assert good.status_code == 302
    with session_scope(loaded) as s:
        sme_user = s.scalar(select(User.id).where(User.email == "sme@t.cn"))
        notes = s.scalars(select(Notification).where(Notification.kind == "policy")).all()
        assert [n.user_id for n in notes] == [sme_user] and "测试研发补贴" in notes[0].title_zh


def test_only_organizers_create_and_only_the_publisher_edits(login, services, loaded, people):
    assert login("sme").get("/policies/new").status_code == 403
    assert login("large").post("/policies/new", data={"title": "x"}).status_code == 403
    with session_scope(loaded) as s:  # a demo policy belongs to no organization: only admins edit it
        pid = s.scalar(select(Policy.id).order_by(Policy.id))
    assert login("organizer").get(f"/policies/{pid}/edit").status_code == 403
    assert login("admin").get(f"/policies/{pid}/edit").status_code == 200


def test_drafts_are_hidden_from_others(login, services, loaded, people):
    client = login("organizer")
    page = client.get("/policies/new").get_data(as_text=True)
    client.post("/policies/new", data={"csrf_token": csrf_token(page), "title": "内部草稿", "issuer": "测试协会"})
    with session_scope(loaded) as s:
        pid = s.scalar(select(Policy.id).where(Policy.title == "内部草稿"))
    assert client.get(f"/policies/{pid}").status_code == 200
    assert login("sme").get(f"/policies/{pid}").status_code == 404
    assert "内部草稿" not in login("sme").get("/policies/").get_data(as_text=True)
    assert client.get(f"/api/v1/policies/{pid}", headers=h(people, "sme")).status_code == 404


def test_policy_api_validates_publishes_and_denies(client, services, people):
    body = {"title": "API 政策", "issuer": "测试协会", "rules": [{"field": "size", "min": 1}]}
    bad = client.post("/api/v1/policies", json=body, headers=h(people, "organizer"))
    assert bad.status_code == 400 and bad.get_json()["detail"] == {
        "rules[0].field": "unknown field 'size'; use one of " + bad.get_json()["message"].split("use one of ")[1]
    }
    assert client.post("/api/v1/policies", json={**body, "rules": []}, headers=h(people, "sme")).status_code == 403
    created = client.post(
        "/api/v1/policies", json={**body, "rules": [{"field": "kind", "in": ["sme"]}]}, headers=h(people, "organizer")
    )
    assert created.status_code == 201
    pid = created.get_json()["policy_id"]
    assert client.post(f"/api/v1/policies/{pid}/publish", headers=h(people, "sme")).status_code == 404  # a draft
    assert client.post(f"/api/v1/policies/{pid}/publish", headers=h(people, "organizer")).status_code == 200
    assert client.post(f"/api/v1/policies/{pid}/publish", headers=h(people, "organizer")).status_code == 409
    assert client.patch(f"/api/v1/policies/{pid}", json={"title": "改"}, headers=h(people, "sme")).status_code == 403
    patch = client.patch(
        f"/api/v1/policies/{pid}",
        json={"rules": [{"field": "revenue", "min": 5, "max": 1}]},
        headers=h(people, "organizer"),
    )
    assert patch.status_code == 400 and list(patch.get_json()["detail"]) == ["rules[0]"]
    assert "revenue range is contradictory" in patch.get_json()["detail"]["rules[0]"]
    mine = client.get(f"/api/v1/policies/match?firm_id={people['sme_firm']}", headers=h(people, "sme"))
    assert mine.status_code == 200 and any(i["title"] == "API 政策" for i in mine.get_json()["items"])
    other = client.get(f"/api/v1/policies/match?firm_id={people['sme_firm']}", headers=h(people, "sme2"))
    assert other.status_code == 403
    found = client.get("/api/v1/policies?q=研发费用", headers=h(people, "sme")).get_json()["items"]
    assert found and "研发" in found[0]["title"]


# --- consortia -----------------------------------------------------------------------------------

LOTS = "玻璃 | 光伏玻璃 | 800\n隔膜 | 锂电池隔膜、涂覆隔膜 | 400"


def _new_project(client, lots=LOTS, share="30", headers=None):
    page = client.get("/consortia/new").get_data(as_text=True)
    return client.post(
        "/consortia/new",
        data={
            "csrf_token": csrf_token(page),
            "title": "组件与储能联合采购",
            "region": "上海",
            "sme_share": share,
            "lots": lots,
        },
        headers=headers,
    )


def test_large_firm_builds_a_consortium_and_the_sme_accepts(login, services, loaded, people):
    client = login("large")
    bad = _new_project(client, lots="玻璃 | 光伏玻璃")
    assert bad.status_code == 400 and "标段：第 1 行须按" in bad.get_data(as_text=True)
    for share in ("150", "abc", "-5"):  # the form asks for a percentage, and its message says so
        bad = _new_project(client, share=share)
        assert bad.status_code == 400 and "请以百分数填写预留给中小企业的份额" in bad.get_data(as_text=True), share
    english = _new_project(client, share="150", headers={"Accept-Language": "en"})
    assert english.status_code == 400 and "in percent, 0 to 100" in english.get_data(as_text=True)
    response = _new_project(client)
    assert response.status_code == 302
    project_url = response.headers["Location"]
    page = client.get(project_url).get_data(as_text=True)
    proposal = client.post(f"{project_url}/propose", data={"csrf_token": csrf_token(page)}).get_data(as_text=True)
    assert 'id="lineup-1"' in proposal and "产业链" in proposal
    with session_scope(loaded) as s:
        project = s.scalar(select(ProcurementProject).where(ProcurementProject.title == "组件与储能联合采购"))
        lots = [lot.id for lot in project.lots]
    for pair in ("1", "x:y", f"{lots[1]}:"):  # a line-up pair is "lot:firm"
        bad = client.post(f"{project_url}/invite", data={"csrf_token": csrf_token(page), "pair": pair})
        assert bad.status_code == 400, pair
    client.post(
        f"{project_url}/invite",
        data={"csrf_token": csrf_token(page), "lot_id": lots[1], "firm_id": people["sme_firm"], "share": "100"},
    )
    sme = login("sme")
    html = sme.get("/consortia/").get_data(as_text=True)
    assert "组件与储能联合采购" in html and 'id="invitations"' in html
    with session_scope(loaded) as s:
        note = s.scalar(select(Notification).where(Notification.kind == "consortium"))
        assert note is not None and "联合体邀请" in note.title_zh
        member_id = s.scalar(select(ProcurementProject).where(ProcurementProject.id == project.id)).members[0].id
    # sme2 may not see the project: its invitation is not shown to exist (404, as a missing one);
    # the owner sees the project but only the invited firm answers (403)
    assert login("sme2").post(f"/consortia/members/{member_id}/accept").status_code == 404
    assert login("sme2").post("/consortia/members/999999/accept").status_code == 404
    assert login("large").post(f"/consortia/members/{member_id}/accept").status_code == 403
    sme = login("sme")
    assert sme.post(f"/consortia/members/{member_id}/accept").status_code == 302
    assert sme.post(f"/consortia/members/{member_id}/decline").status_code == 409
    assert "已确认的中小企业份额：33%" in sme.get(project_url).get_data(as_text=True)
    assert sme.post(f"{project_url}/finalize").status_code == 403
    refused = login("large").post(f"{project_url}/finalize")  # lot 1 has no member yet
    assert refused.status_code == 409 and "的预算尚未由已接受邀请的成员全部承担" in refused.get_data(as_text=True)
    refused = client.post(f"{project_url}/finalize", headers={"Accept-Language": "en"})
    assert refused.status_code == 409 and "not fully taken by accepted members yet" in refused.get_data(as_text=True)


def test_sme_share_report_shows_the_project_status_label_in_the_readers_language(login, services):
    client = login("organizer")
    statuses = re.compile(r'<table class="table" id="report">.*?</table>', re.S)

    def status_cells() -> list[str]:
        table = statuses.search(client.get("/consortia/report").get_data(as_text=True)).group(0)
        return [re.findall(r"<td>([^<]*)</td>", row)[2] for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]

    assert "组建中" in status_cells() and not {"open", "Forming"} & set(status_cells())
    client.get("/lang/en")
    try:
        cells = status_cells()
    finally:
        client.get("/lang/zh")
    assert "Forming" in cells and not {"open", "组建中"} & set(cells)


def test_consortium_permissions_on_pages(login, services, people):
    assert login("sme").get("/consortia/new").status_code == 403
    project = f"/consortia/{services['project']}"
    # not the owner, not invited: the project is not shown to exist (404, as a missing one)
    assert login("large").get(project).status_code == 404
    assert login("large").post(f"{project}/propose").status_code == 404
    assert login("sme").get(project).status_code == 404
    assert login("organizer").get(project).status_code == 200  # project in 上海, organizer of 上海
    assert login("admin").get(project).status_code == 200
    assert login("sme").get("/consortia/report").status_code == 403
    assert "中小企业份额统计" in login("organizer").get("/consortia/report").get_data(as_text=True)
    assert login("admin").get("/consortia/9999").status_code == 404


def test_consortium_api(client, services, people):
    body = {
        "title": "API 项目",
        "sme_share": 0.5,
        "lots": [{"title": "隔膜", "products": ["锂电池隔膜"], "budget": 100}],
    }
    assert client.post("/api/v1/consortia", json=body, headers=h(people, "sme")).status_code == 403
    bad = client.post("/api/v1/consortia", json={**body, "sme_share": 2}, headers=h(people, "large"))
    assert bad.status_code == 422 and "sme_share" in bad.get_json()["detail"]["json"]  # the document's 0..1
    created = client.post("/api/v1/consortia", json=body, headers=h(people, "large"))
    assert created.status_code == 201
    pid = created.get_json()["project_id"]
    lot = created.get_json()["lots"][0]["lot_id"]
    proposal = client.post(f"/api/v1/consortia/{pid}/propose", json={}, headers=h(people, "large")).get_json()
    assert proposal["lineups"] and proposal["lineups"][0]["sme_share"] >= 0.5
    assert client.post(f"/api/v1/consortia/{pid}/propose", json={}, headers=h(people, "sme")).status_code == 404
    invited = client.post(
        f"/api/v1/consortia/{pid}/invitations",
        json={"lot_id": lot, "firm_id": people["sme_firm"]},
        headers=h(people, "large"),
    )
    assert invited.status_code == 201
    member = invited.get_json()["member_id"]
    again = client.post(
        f"/api/v1/consortia/{pid}/invitations",
        json={"lot_id": lot, "firm_id": people["sme_firm"]},
        headers=h(people, "large"),
    )
    assert again.status_code == 400 and "firm_id" in again.get_json()["detail"]
    assert client.post(f"/api/v1/consortia/{pid}/finalize", headers=h(people, "large")).status_code == 409
    assert client.post(f"/api/v1/consortia/members/{member}/withdraw", headers=h(people, "sme")).status_code == 403
    taken_back = client.post(f"/api/v1/consortia/members/{member}/withdraw", headers=h(people, "large"))
    assert taken_back.status_code == 200 and taken_back.get_json()["status"] == "withdrawn"
    # the withdrawn firm no longer sees the project, nor so the invitation taken back
    late = client.post(f"/api/v1/consortia/members/{member}/answer", json={"accept": True}, headers=h(people, "sme"))
    assert late.status_code == 404 and late.get_json()["message"] == f"invitation {member} does not exist"
    invited = client.post(
        f"/api/v1/consortia/{pid}/invitations",
        json={"lot_id": lot, "firm_id": people["sme_firm"]},
        headers=h(people, "large"),
    )
    assert invited.status_code == 201  # invited again after withdrawing
    member = invited.get_json()["member_id"]
    denied = client.post(
        f"/api/v1/consortia/members/{member}/answer", json={"accept": True}, headers=h(people, "large")
    )
    assert denied.status_code == 403
    # sme2 may not see the project: the invitation is not shown to exist, like a missing one
    hidden = client.post(f"/api/v1/consortia/members/{member}/answer", json={"accept": True}, headers=h(people, "sme2"))
    assert hidden.status_code == 404 and hidden.get_json()["message"] == f"invitation {member} does not exist"
    ok = client.post(f"/api/v1/consortia/members/{member}/answer", json={"accept": True}, headers=h(people, "sme"))
    assert ok.status_code == 200 and ok.get_json()["status"] == "accepted"
    again = client.post(f"/api/v1/consortia/members/{member}/answer", json={"accept": False}, headers=h(people, "sme"))
    assert again.status_code == 409 and "accepted to declined" in again.get_json()["message"]
    assert list(again.get_json()["detail"].values()) == [again.get_json()["message"]]  # the whole reason
    # an invited firm sees the project but does not manage it: 403, not 404
    assert client.get(f"/api/v1/consortia/{pid}", headers=h(people, "sme")).status_code == 200
    assert client.post(f"/api/v1/consortia/{pid}/propose", json={}, headers=h(people, "sme")).status_code == 403
    done = client.post(f"/api/v1/consortia/{pid}/finalize", headers=h(people, "large"))
    assert done.status_code == 200 and done.get_json()["sme_share"] == 1.0
    hidden = client.get(f"/api/v1/consortia/{pid}", headers=h(people, "sme2"))
    missing = client.get("/api/v1/consortia/999999", headers=h(people, "sme2"))
    assert hidden.status_code == missing.status_code == 404  # not shown to exist, like a missing project
    assert hidden.get_json()["message"] == f"project {pid} does not exist"
    assert client.get("/api/v1/consortia/report", headers=h(people, "sme")).status_code == 403
    assert client.get("/api/v1/consortia/report", headers=h(people, "admin")).get_json()["projects"]


def test_openapi_lists_the_enterprise_service_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/tiers/firms/{firm_id}",
        "/api/v1/policies",
        "/api/v1/policies/match",
        "/api/v1/consortia/{project_id}/propose",
        "/api/v1/consortia/report",
    ):
        assert path in paths


def test_a_firm_claims_a_tier_and_an_organizer_of_its_region_recognises_it(login, services, loaded, people):
    """No firm grants itself the tier that policies and buyers' filters rely on: the profile's
    choice is a claim until the organizer of the firm's region (or an admin) recognises it."""
    sme = login("sme")
    page = sme.get("/profile").get_data(as_text=True)
    response = sme.post(
        "/profile",
        data={"csrf_token": csrf_token(page), "tier": "little_giant", "description": "隔膜", "region": "上海"},
    )
    assert response.status_code == 302
    with session_scope(loaded) as s:
        firm = s.get(Firm, people["sme_firm"])
        recognised_before = firm.tier
        assert firm.tier_claim.value == "little_giant" and firm.tier is not firm.tier_claim
    assert "申报中" in sme.get("/profile").get_data(as_text=True)
    assert sme.post(f"/tiers/claims/{people['sme_firm']}/recognise").status_code == 403  # not its own judge
    assert login("large").post(f"/tiers/claims/{people['sme_firm']}/recognise").status_code == 403
    organizer = login("organizer")
    assert f'data-firm="{people["sme_firm"]}"' in organizer.get("/tiers/pipeline").get_data(as_text=True)
    assert organizer.post(f"/tiers/claims/{people['sme_firm']}/recognise").status_code == 302
    assert organizer.post(f"/tiers/claims/{people['sme_firm']}/recognise").status_code == 409  # decided already
    with session_scope(loaded) as s:
        firm = s.get(Firm, people["sme_firm"])
        assert firm.tier.value == "little_giant" and firm.tier_claim is None and recognised_before is None
        assert firm.fact_sources["tier"].startswith("recognised:")
        note = s.scalar(select(Notification).where(Notification.kind == "tier"))
        assert note is not None and "已认定" in note.title_zh
    # giving a tier up needs no one's approval
    sme = login("sme")
    page = sme.get("/profile").get_data(as_text=True)
    dropped = sme.post(
        "/profile", data={"csrf_token": csrf_token(page), "tier": "", "description": "隔膜", "region": "上海"}
    )
    assert dropped.status_code == 302, dropped.get_data(as_text=True)[-1500:]
    with session_scope(loaded) as s:
        assert s.get(Firm, people["sme_firm"]).tier is None


def test_an_organizer_of_another_region_neither_sees_nor_decides_a_firms_tier_claim(login, services, loaded, people):
    from marketplace.accounts.users import create_user
    from marketplace.enterprise.tiers import claim_tier
    from marketplace.models import Role, Tier
    from tests.web.conftest import PASSWORD

    with session_scope(loaded) as s:
        claim_tier(s, s.get(Firm, people["sme_firm"]), Tier.LITTLE_GIANT)  # a 上海 firm
        org = create_user(
            s,
            email="js-org@t.cn",
            password=PASSWORD,
            name="江苏组织者",
            role=Role.ORGANIZER,
            organization_name="江苏中心",
        ).organization
        org.region = "江苏"
    people["emails"]["js_organizer"] = "js-org@t.cn"
    other = login("js_organizer")
    assert f'data-firm="{people["sme_firm"]}"' not in other.get("/tiers/pipeline").get_data(as_text=True)
    assert other.post(f"/tiers/claims/{people['sme_firm']}/recognise").status_code == 403
    assert other.post(f"/tiers/claims/{people['sme_firm']}/reject").status_code == 403
    with session_scope(loaded) as s:
        firm = s.get(Firm, people["sme_firm"])
        assert firm.tier_claim is Tier.LITTLE_GIANT and firm.tier is None
    assert f'data-firm="{people["sme_firm"]}"' in login("organizer").get("/tiers/pipeline").get_data(as_text=True)


# --- second API audit ----------------------------------------------------------------------------


def test_policy_rule_errors_name_the_rule_not_the_clients_value(client, services, people):
    body = {"title": "API 政策", "issuer": "测试协会"}
    org = h(people, "organizer")
    cases = [
        ([{"field": "nope", "min": 1}], "rules[0].field"),
        ([{"field": "title", "min": 1}], "rules[0].field"),  # not the policy's title
        ([{"field": "kind", "in": ["sme"]}, {"field": "rd_share", "min": "three"}], "rules[1].min"),
        ([{"field": "revenue", "max": "lots"}], "rules[0].max"),
        ([{"field": "rd_share", "minimum": 3}], "rules[0]"),
        ([{"field": "region", "in": ["火星"]}], "rules[0]"),
        (["rd_share"], "rules[0]"),
    ]
    for rules, field in cases:
        bad = client.post("/api/v1/policies", json={**body, "rules": rules}, headers=org)
        assert bad.status_code == 400 and list(bad.get_json()["detail"]) == [field], (rules, bad.get_json())
    created = client.post("/api/v1/policies", json=body, headers=org).get_json()["policy_id"]
    patch = client.patch(f"/api/v1/policies/{created}", json={"rules": [{"field": "nope", "min": 1}]}, headers=org)
    assert patch.status_code == 400 and list(patch.get_json()["detail"]) == ["rules[0].field"]
    assert patch.get_json()["message"].startswith("rules[0].field: unknown field 'nope'")


def test_pipeline_refuses_an_unknown_region_or_chain_naming_it(login, client, services, people):
    admin = h(people, "admin")
    for query, field in (("region=火星", "region"), ("chain=xx", "chain"), ("region=上海&chain=没有这个行业", "chain")):
        bad = client.get(f"/api/v1/tiers/pipeline?{query}", headers=admin)
        assert bad.status_code == 400 and list(bad.get_json()["detail"]) == [field], (query, bad.get_json())
    # an organizer's own region replaces the one asked for, but a region that is none is still refused
    bad = client.get("/api/v1/tiers/pipeline?region=火星", headers=h(people, "organizer"))
    assert bad.status_code == 400 and list(bad.get_json()["detail"]) == ["region"]
    assert client.get("/api/v1/tiers/pipeline?region=上海市", headers=admin).status_code == 200
    ok = client.get("/api/v1/tiers/pipeline?chain=（未知行业）", headers=admin)
    assert ok.status_code == 200 and ok.get_json()["firms"]
    page = login("admin").get("/tiers/pipeline?chain=xx")
    assert page.status_code == 400 and "&#39;xx&#39;" in page.get_data(as_text=True)


def _api_project(client, people) -> tuple[int, int]:
    body = {
        "title": "API 项目",
        "sme_share": 0.5,
        "lots": [{"title": "隔膜", "products": ["锂电池隔膜"], "budget": 100}],
    }
    created = client.post("/api/v1/consortia", json=body, headers=h(people, "large")).get_json()
    return created["project_id"], created["lots"][0]["lot_id"]


def test_consortium_numbers_are_strict_and_ids_bounded(client, services, people):
    pid, lot = _api_project(client, people)
    large = h(people, "large")
    sme = people["sme_firm"]
    for body, field in (
        ({"lot_id": lot + 0.9, "firm_id": sme}, "lot_id"),
        ({"lot_id": lot, "firm_id": sme + 0.9}, "firm_id"),
        ({"lot_id": str(lot), "firm_id": sme}, "lot_id"),
        ({"lot_id": lot, "firm_id": 2**70}, "firm_id"),
        ({"lot_id": 0, "firm_id": sme}, "lot_id"),
        ({"lot_id": lot, "firm_id": sme, "share": "0.1"}, "share"),
    ):
        bad = client.post(f"/api/v1/consortia/{pid}/invitations", json=body, headers=large)
        assert bad.status_code == 422 and list(bad.get_json()["detail"]["json"]) == [field], (body, bad.get_json())
    for lineups in (-3, 0, 11, 1000, 2.7, "3", 2**70):
        bad = client.post(f"/api/v1/consortia/{pid}/propose", json={"lineups": lineups}, headers=large)
        assert bad.status_code == 422 and list(bad.get_json()["detail"]["json"]) == ["lineups"], lineups
    one = client.post(f"/api/v1/consortia/{pid}/propose", json={"lineups": 1}, headers=large)
    assert one.status_code == 200 and len(one.get_json()["lineups"]) <= 1
    budget = {"title": "项目", "lots": [{"title": "隔膜", "products": ["隔膜"], "budget": "100"}]}
    bad = client.post("/api/v1/consortia", json=budget, headers=large)
    assert bad.status_code == 422 and "lots" in bad.get_json()["detail"]["json"]
    bad = client.post("/api/v1/consortia", json={**budget, "lots": [], "sme_share": "0.3"}, headers=large)
    assert bad.status_code == 422 and "sme_share" in bad.get_json()["detail"]["json"]
    invited = client.post(f"/api/v1/consortia/{pid}/invitations", json={"lot_id": lot, "firm_id": sme}, headers=large)
    assert invited.status_code == 201 and invited.get_json()["firm_id"] == sme


def test_a_firm_that_declined_or_was_withdrawn_loses_the_project_on_pages_and_api(login, client, services, people):
    pid, lot = _api_project(client, people)
    large = h(people, "large")
    members = {}
    for who, firm in (("sme", people["sme_firm"]), ("sme2", people["other_sme"])):
        invited = client.post(
            f"/api/v1/consortia/{pid}/invitations", json={"lot_id": lot, "firm_id": firm, "share": 0.5}, headers=large
        )
        members[who] = invited.get_json()["member_id"]
        assert client.get(f"/api/v1/consortia/{pid}", headers=h(people, who)).status_code == 200  # invited: sees it
    answer = client.post(
        f"/api/v1/consortia/members/{members['sme']}/answer", json={"accept": False}, headers=h(people, "sme")
    )
    assert answer.status_code == 200 and answer.get_json()["status"] == "declined"
    assert client.post(f"/api/v1/consortia/members/{members['sme2']}/withdraw", headers=large).status_code == 200
    for who in ("sme", "sme2"):
        hidden = client.get(f"/api/v1/consortia/{pid}", headers=h(people, who))
        missing = client.get("/api/v1/consortia/2147483647", headers=h(people, who))
        assert hidden.status_code == missing.status_code == 404, who
        assert hidden.get_json()["message"] == f"project {pid} does not exist"
        listed = client.get("/api/v1/consortia", headers=h(people, who)).get_json()["items"]
        assert pid not in [p["project_id"] for p in listed], who
        again = client.post(
            f"/api/v1/consortia/members/{members[who]}/answer", json={"accept": True}, headers=h(people, who)
        )
        assert again.status_code == 404 and again.get_json()["message"] == f"invitation {members[who]} does not exist"
        page = login(who)
        assert page.get(f"/consortia/{pid}").status_code == 404, who
        assert page.post(f"/consortia/members/{members[who]}/accept").status_code == 404, who
        index = page.get("/consortia/").get_data(as_text=True)  # listed as declined/withdrawn, no dead link
        assert f'href="/consortia/{pid}"' not in index, who
    assert client.get(f"/api/v1/consortia/{pid}", headers=large).status_code == 200  # the owner still does


def test_openapi_documents_created_statuses_and_main_objects(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/policies", "/api/v1/consortia", "/api/v1/consortia/{project_id}/invitations"):
        responses = paths[path]["post"]["responses"]
        assert "201" in responses and "200" not in responses, path
        assert responses["201"]["content"]["application/json"]["schema"] != {}, path
    for path, method in (
        ("/api/v1/policies/{policy_id}", "get"),
        ("/api/v1/policies/{policy_id}", "patch"),
        ("/api/v1/consortia/{project_id}", "get"),
        ("/api/v1/consortia/members/{member_id}/answer", "post"),
        ("/api/v1/tiers/firms/{firm_id}", "get"),
        ("/api/v1/tiers/firms/{firm_id}/figures", "put"),
    ):
        assert paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"] != {}, path


def test_output_schemas_keep_every_key_of_the_main_objects(client, services, people):
    pid, lot = _api_project(client, people)
    large = h(people, "large")
    project = client.get(f"/api/v1/consortia/{pid}", headers=large).get_json()
    assert {"project_id", "owner", "lots", "members", "budget", "agreement", "sme_share", "deadline"} <= set(project)
    invited = client.post(
        f"/api/v1/consortia/{pid}/invitations", json={"lot_id": lot, "firm_id": people["sme_firm"]}, headers=large
    ).get_json()
    assert {"member_id", "lot_position", "firm", "share", "is_sme", "status", "reasons", "invited_at"} <= set(invited)
    created = client.post(
        "/api/v1/policies", json={"title": "API 政策", "issuer": "测试协会"}, headers=h(people, "organizer")
    ).get_json()
    assert {"policy_id", "rules_text", "in_force", "organization_id", "status"} <= set(created)
    assessment = client.get(f"/api/v1/tiers/firms/{people['sme_firm']}", headers=h(people, "sme")).get_json()
    assert {"firm_id", "criteria_year", "highest", "met", "next", "tiers", "figures", "figure_sources"} <= set(
        assessment
    )
