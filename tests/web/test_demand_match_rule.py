"""Only an open or matched demand is matched: a rule of the matching service
(marketplace.matching.refresh.require_matchable), so it holds through the CLI as well as the pages
and the API, which only translate the refusal."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from marketplace.db import session_scope
from marketplace.errors import ConflictError
from marketplace.matching.refresh import match_demand
from marketplace.models import Demand, DemandStatus, MatchSuggestion

NOT_MATCHED = [DemandStatus.DRAFT, DemandStatus.CLOSED, DemandStatus.WITHDRAWN]


def _set_status(settings, demand_id: int, status: DemandStatus) -> None:
    with session_scope(settings) as s:
        s.get(Demand, demand_id).status = status


def _suggestions(settings, demand_id: int) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).where(MatchSuggestion.demand_id == demand_id))


@pytest.mark.parametrize("status", NOT_MATCHED)
def test_the_service_refuses_to_match_a_demand_that_is_not_open_or_matched(loaded, people, status):
    _set_status(loaded, people["demand"], status)
    with session_scope(loaded) as s, pytest.raises(ConflictError) as refused:
        match_demand(s, None, s.get(Demand, people["demand"]))  # refused before the engine is used
    assert str(refused.value) == f"a {status.value} demand is not matched; publish it first"
    assert refused.value.field == "status"


@pytest.mark.parametrize("status", NOT_MATCHED)
def test_the_cli_refuses_to_match_a_demand_that_is_not_open_or_matched(loaded, people, runner, status):
    _set_status(loaded, people["demand"], status)
    result = runner.invoke(["match", "--demand", str(people["demand"]), "--channels", "lexical", "--json"])
    assert result.exit_code == 2
    assert f"a {status.value} demand is not matched; publish it first" in result.output
    assert _suggestions(loaded, people["demand"]) == 0


@pytest.mark.parametrize("status", [DemandStatus.OPEN, DemandStatus.MATCHED])
def test_the_cli_matches_an_open_or_matched_demand(loaded, people, runner, status):
    _set_status(loaded, people["demand"], status)
    result = runner.invoke(["match", "--demand", str(people["demand"]), "--channels", "lexical", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)
    assert _suggestions(loaded, people["demand"]) > 0


def test_suggesting_demands_to_a_firm_ranks_open_demands_only(loaded, people):
    from marketplace.matching.engine import MatchEngine
    from marketplace.matching.refresh import suggest_demands

    with session_scope(loaded) as s:
        engine = MatchEngine(loaded, use_dense=False, use_graph=False).build(s)
        ranked = [row["demand_id"] for row in suggest_demands(s, engine, people["sme_firm"], top_k=500)]
    assert people["demand"] in ranked
    for status in (*NOT_MATCHED, DemandStatus.MATCHED):
        _set_status(loaded, people["demand"], status)
        with session_scope(loaded) as s:
            ranked = [row["demand_id"] for row in suggest_demands(s, engine, people["sme_firm"], top_k=500, save=True)]
        assert people["demand"] not in ranked, status
    assert _suggestions(loaded, people["demand"]) == 0


@pytest.mark.parametrize("status", NOT_MATCHED)
def test_the_api_refuses_to_match_a_demand_that_is_not_open_or_matched(client, loaded, people, status):
    _set_status(loaded, people["demand"], status)
    token = {"Authorization": f"Bearer {people['tokens']['large']}"}
    refused = client.post(f"/api/v1/demands/{people['demand']}/match", headers=token)
    assert refused.status_code == 409
    message = f"a {status.value} demand is not matched; publish it first"
    assert refused.get_json() == {"status": 409, "message": message, "detail": {}}
    assert _suggestions(loaded, people["demand"]) == 0


@pytest.mark.parametrize(
    "status, says",
    [
        (DemandStatus.DRAFT, "请先发布需求，再匹配候选企业"),
        (DemandStatus.CLOSED, "已关闭的需求不再匹配候选企业"),
        (DemandStatus.WITHDRAWN, "已撤回的需求不再匹配候选企业"),
    ],
)
def test_the_page_refuses_to_match_a_demand_that_is_not_open_or_matched(login, loaded, people, status, says):
    _set_status(loaded, people["demand"], status)
    refused = login("large").post(f"/demands/{people['demand']}/match")
    assert refused.status_code == 409 and says in refused.get_data(as_text=True)
    assert _suggestions(loaded, people["demand"]) == 0
