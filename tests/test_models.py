"""Model rules: status workflows, enum parsing, no self-suggestion."""

from __future__ import annotations

import pytest

from marketplace.errors import InputError, TransitionError
from marketplace.models import (
    Demand,
    DemandStatus,
    DemandType,
    Firm,
    FirmKind,
    MatchSuggestion,
    SuggestionStatus,
    Tier,
)


def _firm(session, name: str, kind: FirmKind = FirmKind.LARGE) -> Firm:
    firm = Firm(name=name, kind=kind, source="test", fact_sources={})
    session.add(firm)
    session.flush()
    return firm


def _demand(session, owner: Firm) -> Demand:
    demand = Demand(owner_firm_id=owner.id, type=DemandType.SUPPLY_CHAIN, title="采购隔膜", description="")
    session.add(demand)
    session.flush()
    return demand


def test_demand_moves_draft_open_matched_closed(session):
    demand = _demand(session, _firm(session, "甲公司"))
    assert demand.status is DemandStatus.DRAFT
    demand.transition(DemandStatus.OPEN)
    assert demand.published_at is not None
    demand.transition(DemandStatus.MATCHED)
    demand.transition(DemandStatus.CLOSED)
    assert demand.status is DemandStatus.CLOSED and demand.closed_at is not None


def test_closed_demand_cannot_reopen(session):
    demand = _demand(session, _firm(session, "甲公司"))
    demand.transition(DemandStatus.OPEN)
    demand.transition(DemandStatus.CLOSED)
    with pytest.raises(TransitionError, match="closed to open"):
        demand.transition(DemandStatus.OPEN)


def test_draft_cannot_be_matched_directly(session):
    demand = _demand(session, _firm(session, "甲公司"))
    with pytest.raises(TransitionError, match="allowed next: open, withdrawn"):
        demand.transition(DemandStatus.MATCHED)


def test_suggestion_moves_suggested_accepted_contacted(session):
    owner, sme = _firm(session, "甲公司"), _firm(session, "乙公司", FirmKind.SME)
    s = MatchSuggestion(demand=_demand(session, owner), firm_id=sme.id, score=0.5, reasons=["x"])
    session.add(s)
    session.flush()
    assert s.status is SuggestionStatus.SUGGESTED
    s.transition(SuggestionStatus.ACCEPTED)
    s.transition(SuggestionStatus.CONTACTED)
    assert s.decided_at is not None and s.contacted_at is not None


def test_declined_suggestion_is_final(session):
    owner, sme = _firm(session, "甲公司"), _firm(session, "乙公司", FirmKind.SME)
    s = MatchSuggestion(demand=_demand(session, owner), firm_id=sme.id, score=0.5, reasons=[])
    session.add(s)
    s.transition(SuggestionStatus.DECLINED)
    with pytest.raises(TransitionError):
        s.transition(SuggestionStatus.CONTACTED)


def test_firm_is_never_suggested_for_its_own_demand(session):
    owner = _firm(session, "甲公司")
    demand = _demand(session, owner)
    session.add(MatchSuggestion(demand=demand, firm_id=owner.id, score=1.0, reasons=[]))
    with pytest.raises(InputError, match="cannot be suggested"):
        session.flush()
    session.rollback()


def test_enum_parse_accepts_code_or_chinese_label_and_names_field_otherwise():
    assert DemandType.parse("供应链/采购", "type") is DemandType.SUPPLY_CHAIN
    assert Tier.parse("little_giant", "tier") is Tier.LITTLE_GIANT
    with pytest.raises(InputError) as err:
        DemandType.parse("procurement", "type")
    assert err.value.field == "type" and "supply_chain" in str(err.value)


def test_tiers_rank_from_innovative_to_single_champion():
    assert [t.rank for t in Tier] == [1, 2, 3, 4]
    assert Tier.SINGLE_CHAMPION.rank > Tier.SPECIALIZED.rank


def test_text_longer_than_its_column_is_refused_naming_the_field_on_every_database(session):
    """SQLite would store it and PostgreSQL refuse it without naming a field: both refuse it here."""
    from sqlalchemy import func, select

    from marketplace.models import Policy, ProcurementProject

    policy = Policy(title="专" * 256, issuer="上海市经济和信息化委员会", rules=[])
    session.add(policy)
    with pytest.raises(InputError, match=r"title: at most 255 characters \(got 256\)") as caught:
        session.flush()
    assert caught.value.field == "title"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Policy)) == 0
    owner = _firm(session, "采购方")
    project = ProcurementProject(owner_firm_id=owner.id, title="项目", sme_share=0.3)
    session.add(project)
    session.flush()  # within its limits
    project.region = "省" * 61
    with pytest.raises(InputError, match="region: at most 60 characters"):
        session.flush()
    session.rollback()
