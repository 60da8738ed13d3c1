"""The owner's candidate list and what it may do with it: acting only while the demand is open or
matched, no invitation on a private demand, filters that explain an empty list, paging, and a
demand form posted twice creating one demand."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from marketplace.db import session_scope
from marketplace.demands.suggestions import Candidate, owner_act, save_suggestions
from marketplace.demands.workflow import set_status
from marketplace.errors import ConflictError
from marketplace.models import (
    Demand,
    DemandInvitation,
    DemandStatus,
    Firm,
    FirmIndustry,
    Industry,
    MatchSuggestion,
    OwnerAction,
    Visibility,
)


def _suggest(settings, demand_id: int, firm_ids: list[int]) -> dict[int, int]:  # noqa: ANN001
    """Store these firms as the demand's candidates (best first); firm id -> suggestion id."""
    with session_scope(settings) as s:
        demand = s.get(Demand, demand_id)
        rows = save_suggestions(s, demand, [Candidate(f, 1.0 - i / 1000, []) for i, f in enumerate(firm_ids)])
        return {r.firm_id: r.id for r in rows}


def _firms(settings, n: int, *, but: int) -> list[int]:  # noqa: ANN001
    with session_scope(settings) as s:
        return list(s.scalars(select(Firm.id).where(Firm.id != but).order_by(Firm.id).limit(n)))


def _set(settings, demand_id: int, **values) -> None:  # noqa: ANN001, ANN003
    with session_scope(settings) as s:
        demand = s.get(Demand, demand_id)
        status = values.pop("status", None)
        for key, value in values.items():
            setattr(demand, key, value)
        if status is not None:
            set_status(s, demand, status)


@pytest.mark.parametrize("status", [DemandStatus.CLOSED, DemandStatus.WITHDRAWN])
def test_candidates_of_a_closed_demand_cannot_be_shortlisted_invited_or_declined(login, loaded, people, status):
    sid = _suggest(loaded, people["demand"], [people["sme_firm"]])[people["sme_firm"]]
    client = login("large")
    page = client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    assert f"/suggestions/{sid}/invite" in page and f"/demands/{people['demand']}/edit" in page
    _set(loaded, people["demand"], status=status)
    page = client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    assert f'id="s{sid}"' in page and f"/suggestions/{sid}/" not in page  # listed, no buttons
    assert f"/demands/{people['demand']}/edit" not in page
    client.get("/lang/en")  # the service's message as written (its Chinese comes from the catalogue)
    for action in ("shortlist", "invite", "decline"):  # a form left open before the demand closed
        stale = client.post(f"/demands/{people['demand']}/suggestions/{sid}/{action}")
        assert stale.status_code == 302 and stale.headers["Location"].endswith(f"/demands/{people['demand']}#s{sid}")
        shown = client.get(stale.headers["Location"]).get_data(as_text=True)
        assert '<div class="flash error">' in shown and f"is {status.value}; its candidates can no longer" in shown
    client.get("/lang/zh")
    with session_scope(loaded) as s:
        assert s.get(MatchSuggestion, sid).owner_action is OwnerAction.NONE
        assert s.scalar(select(func.count()).select_from(DemandInvitation)) == 0
        with pytest.raises(ConflictError):  # the service refuses it, whoever calls it (409 in the API)
            owner_act(s, s.get(MatchSuggestion, sid), OwnerAction.INVITED)


def test_a_private_demand_hides_the_invite_button_and_refuses_an_invitation_with_the_way_out(login, loaded, people):
    _set(loaded, people["demand"], visibility=Visibility.PRIVATE)
    sid = _suggest(loaded, people["demand"], [people["sme_firm"]])[people["sme_firm"]]
    client = login("large")
    page = client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    assert f"/suggestions/{sid}/shortlist" in page and f"/suggestions/{sid}/invite" not in page
    assert 'id="private-no-invite"' in page
    client.get("/lang/en")  # the service's message as written (its Chinese comes from the catalogue)
    refused = client.post(f"/demands/{people['demand']}/suggestions/{sid}/invite")
    shown = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert '<div class="flash error">A private demand is seen by your firm only; make it' in shown
    client.get("/lang/zh")
    with session_scope(loaded) as s:
        assert s.get(MatchSuggestion, sid).owner_action is OwnerAction.NONE
        assert s.scalar(select(func.count()).select_from(DemandInvitation)) == 0
    assert client.post(f"/demands/{people['demand']}/suggestions/{sid}/shortlist").status_code == 302
    with session_scope(loaded) as s:
        assert s.get(MatchSuggestion, sid).owner_action is OwnerAction.SHORTLISTED  # the rest still works


def test_filters_that_hide_every_candidate_say_so_and_offer_to_clear_them(login, loaded, people):
    _suggest(loaded, people["demand"], [people["sme_firm"]])
    client = login("large")
    for query in ("tier=single_champion", "kind=large", "region=西藏", "industry=没有这个行业"):
        page = client.get(f"/demands/{people['demand']}?{query}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and 'id="no-filtered-candidates"' in html, query
        assert "没有符合筛选条件的候选企业" in html and "发布后点击" not in html
        assert f'href="/demands/{people["demand"]}#candidates" id="clear-filters"' in html
    assert "测试隔膜科技" in client.get(f"/demands/{people['demand']}").get_data(as_text=True)


@pytest.mark.parametrize("region", ["Atlantis", "火星"])
def test_a_region_the_filter_cannot_read_is_named_next_to_it_on_the_normal_page(login, loaded, people, region):
    _suggest(loaded, people["demand"], [people["sme_firm"]])
    page = login("large").get(f"/demands/{people['demand']}?region={region}")
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert 'id="region-error"' in html and "地区：" in html  # the message, next to the filter
    assert 'id="candidate-filters"' in html and "采购锂电池隔膜" in html  # the demand's own page
    assert f'value="{region}"' in html  # what was typed, to correct it
    assert "测试隔膜科技" in html  # the candidates, not filtered by the unreadable region


@pytest.mark.parametrize("region", ["Shanghai", "shanghai shi", "Shanghai Municipality", "上海市"])
def test_the_region_filter_reads_english_and_pinyin_province_names(login, loaded, people, region):
    """An English page's reader types "Fujian" or "Shanghai": a province, not a 400."""
    _suggest(loaded, people["demand"], [people["sme_firm"]])  # an SME registered in 上海
    client = login("large")
    client.get("/lang/en")
    here = client.get(f"/demands/{people['demand']}", query_string={"region": region})
    assert here.status_code == 200 and "测试隔膜科技" in here.get_data(as_text=True)
    for elsewhere in ("Fujian", "Fujian Province", "fujian sheng", "Fujian省"):
        page = client.get(f"/demands/{people['demand']}", query_string={"region": elsewhere})
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and 'id="region-error"' not in html, elsewhere
        assert 'id="no-filtered-candidates"' in html and "测试隔膜科技" not in html, elsewhere


def test_candidates_page_twenty_at_a_time_and_filter_by_industry(login, loaded, people):
    firms = _firms(loaded, 45, but=people["large_firm"])
    _suggest(loaded, people["demand"], firms)
    with session_scope(loaded) as s:
        industry = Industry(key="name:候选筛选测试行业", name="候选筛选测试行业", source="test")
        s.add(industry)
        s.flush()
        for firm_id in firms[30:33]:
            s.add(FirmIndustry(firm_id=firm_id, industry_id=industry.id, source="test"))
    client = login("large")
    first = client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    assert first.count('<li class="card" id="s') == 20 and "page=2" in first
    last = client.get(f"/demands/{people['demand']}?page=3").get_data(as_text=True)
    assert last.count('<li class="card" id="s') == 5 and "page=2" in last and "page=4" not in last
    by_industry = client.get(f"/demands/{people['demand']}?industry=筛选测试").get_data(as_text=True)
    assert by_industry.count('<li class="card" id="s') == 3


def test_a_match_stores_more_candidates_than_one_page_shows(login, loaded, people):
    client = login("large")
    assert client.post(f"/demands/{people['demand']}/match").status_code == 302
    with session_scope(loaded) as s:
        stored = s.scalar(select(func.count()).where(MatchSuggestion.demand_id == people["demand"]))
    assert stored > 20  # room for the filters; the page shows 20 at a time
    assert client.get(f"/demands/{people['demand']}").get_data(as_text=True).count('<li class="card" id="s') == 20


def test_a_closed_demand_offers_no_edit_and_a_stale_edit_is_refused_with_409(login, loaded, people):
    client = login("large")
    form = {"type": "supply_chain", "title": "采购锂电池隔膜（改）", "visibility": "public"}
    _set(loaded, people["demand"], status=DemandStatus.CLOSED)
    assert f"/demands/{people['demand']}/edit" not in client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    stale = client.post(f"/demands/{people['demand']}/edit", data=form)
    assert stale.status_code == 409 and "需求已是“已关闭”状态，不能再编辑" in stale.get_data(as_text=True)
    opened = client.get(f"/demands/{people['demand']}/edit")
    assert opened.status_code == 409 and "需求已是“已关闭”状态，不能再编辑" in opened.get_data(as_text=True)
    with session_scope(loaded) as s:
        assert s.get(Demand, people["demand"]).title == "采购锂电池隔膜"


def test_matching_a_demand_that_is_not_open_says_why_for_its_state(login, loaded, people):
    client = login("large")
    draft = client.post(f"/demands/{people['draft']}/match")
    assert draft.status_code == 409 and "请先发布需求，再匹配候选企业" in draft.get_data(as_text=True)
    for key, status, says in (
        ("demand", DemandStatus.CLOSED, "已关闭的需求不再匹配"),
        ("draft", DemandStatus.WITHDRAWN, "已撤回的需求不再匹配"),
    ):
        _set(loaded, people[key], status=status)
        demand = people[key]
        refused = client.post(f"/demands/{demand}/match").get_data(as_text=True)
        assert says in refused and "请先发布" not in refused and "publish the demand" not in refused


@pytest.mark.parametrize("publish", ["1", "0"])  # 发布 and 保存草稿
def test_the_demand_form_posted_twice_creates_one_demand(login, loaded, people, publish):
    client = login("large")
    form = {"type": "rd", "title": "双击提交测试需求", "visibility": "public", "publish": publish}
    first = client.post("/demands/new", data=form)
    again = client.post("/demands/new", data=form)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]  # back to the demand it made
    assert "没有重复创建" in client.get(again.headers["Location"]).get_data(as_text=True)
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count()).where(Demand.title == "双击提交测试需求")) == 1
    other = client.post("/demands/new", data={**form, "title": "另一条双击提交测试需求"})
    assert other.headers["Location"] != first.headers["Location"]  # a different demand is a new one
