"""How a contract starts: from scratch between two firms, from an accepted match suggestion, from
an event meeting with a reported agreement, from a consortium agreement, or as a supplement to a
signed contract. Round 1 is the starting firm's draft, pre-filled from the demand and both firms'
registered data; every start is audited.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import can_view_demand, viewer_of
from marketplace.contracts.access import acting_firm, authorize, require_firm_user
from marketplace.contracts.audit import audit
from marketplace.contracts.templates import DEMAND_TYPE_TEMPLATE, Template, clean_fields, clip_fields, get_template
from marketplace.contracts.workflow import add_round, claim_roles, clean_note
from marketplace.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    Term,
    TransitionError,
    msg,
)
from marketplace.models import (
    Contract,
    ContractSource,
    ContractStatus,
    Demand,
    Event,
    Firm,
    MatchSuggestion,
    Meeting,
    Outcome,
    SuggestionStatus,
    User,
    utcnow,
)


def _no_suggestion(suggestion_id: int) -> NotFoundError:
    """A missing suggestion, and one the actor may not start a contract from (the same answer)."""
    return NotFoundError(
        msg("suggestion_id: suggestion %(id)s does not exist", id=suggestion_id), field="suggestion_id"
    )


def _firm(session: Session, firm_id: int, field: str) -> Firm:
    firm = session.get(Firm, firm_id)
    if firm is None:
        raise NotFoundError(msg("%(field)s: firm %(id)s does not exist", field=field, id=firm_id), field=field)
    return firm


def _money(wan: float | None) -> str:
    return f"{wan * 10000:.2f}" if wan is not None else ""


def prefill_fields(
    template: Template, buyer: Firm, supplier: Firm, demand: Demand | None, extra: dict[str, Any] | None
) -> dict[str, str]:
    """Field values from the demand, both firms' registered data and (for meetings) ``extra``.

    The place of signing, whose courts the dispute clause names, is the buyer's (甲方's)
    registered region, else the supplier's; blank when neither firm has one (the parties then
    choose it in the form, as a required term)."""
    values: dict[str, Any] = {
        "title": f"{buyer.display_name}与{supplier.display_name}{template.zh}",
        "sign_place": buyer.region or supplier.region or "",
    }
    if demand is not None:
        d = demand.details or {}
        values["title"] = f"{demand.title} — {template.zh}"
        values["amount"] = _money(demand.budget_max or demand.budget_min)
        products = "、".join(demand.wanted_products or [])
        techs = "、".join(demand.wanted_technologies or [])
        values.update(
            {
                "product": products or demand.title,
                "specification": str(d.get("quality_standard") or d.get("specification") or demand.description or ""),
                "quantity": str(d.get("quantity") or ""),
                "delivery_schedule": str(
                    d.get("delivery") or (f"{demand.deadline.isoformat()} 前交付" if demand.deadline else "")
                ),
                "project": f"{demand.title}：{demand.description or techs}",
                "deliverables": techs,
                "ip_ownership": str(d.get("ip_terms") or ""),
                "service_scope": demand.description or demand.title,
                "services": demand.description or demand.title,
                "use_of_funds": demand.description or "",
            }
        )
    values.update({k: v for k, v in (extra or {}).items() if v not in (None, "")})
    known = {f.key for f in template.fields}
    return clean_fields(template, clip_fields(template, {k: v for k, v in values.items() if k in known}), partial=True)


def _new_number(session: Session) -> str:
    year = utcnow().year
    count = session.scalar(select(func.count()).select_from(Contract)) or 0
    while True:
        count += 1
        number = f"CM-{year}-{count:06d}"
        if session.scalar(select(Contract.id).where(Contract.number == number)) is None:
            return number


def start_contract(
    session: Session,
    actor: User,
    *,
    buyer_firm_id: int,
    supplier_firm_id: int,
    template: str | None = None,
    demand_id: int | None = None,
    suggestion_id: int | None = None,
    source: ContractSource = ContractSource.SCRATCH,
    source_ref: str | None = None,
    fields: dict[str, Any] | None = None,
    prefill: dict[str, Any] | None = None,
    parent_id: int | None = None,
    note: str = "",
) -> Contract:
    """Start a contract between two firms; round 1 is the actor's draft.

    Generic on purpose: match suggestions, event meetings (``source=ContractSource.MEETING``,
    ``source_ref="meeting:<id>"``, ``prefill={"amount": ..., "extra_terms": ...}``) and
    scratch contracts all come here. The actor must belong to one of the two firms; they become
    their firm's approver and signer until :func:`designate` changes that."""
    note = clean_note(note)
    require_firm_user(actor)
    if buyer_firm_id == supplier_firm_id:
        raise InputError(msg("supplier_firm_id: a contract needs two different firms"), field="supplier_firm_id")
    buyer = _firm(session, buyer_firm_id, "buyer_firm_id")
    supplier = _firm(session, supplier_firm_id, "supplier_firm_id")
    if acting_firm(actor) not in (buyer.id, supplier.id):
        raise PermissionDeniedError(msg("you can only start contracts for your own firm"))
    demand = None
    if demand_id is not None:
        demand = session.get(Demand, demand_id)
        # a demand the actor may not see answers like one that does not exist: its terms would be
        # copied into the contract
        if demand is None or not can_view_demand(session, viewer_of(actor), demand):
            raise NotFoundError(msg("demand_id: demand %(id)s does not exist", id=demand_id), field="demand_id")
        if demand.owner_firm_id not in (buyer.id, supplier.id):
            raise ConflictError(msg("demand_id: the demand belongs to neither firm"), field="demand_id")
    code = template or (DEMAND_TYPE_TEMPLATE.get(demand.type.value) if demand else None) or "supply_chain"
    tpl = get_template(code)
    values = prefill_fields(tpl, buyer, supplier, demand, prefill)
    values.update(clean_fields(tpl, {**values, **(fields or {})}, partial=True))
    contract = Contract(
        number=_new_number(session),
        token=secrets.token_urlsafe(24),
        template=tpl.code,
        title=values.get("title") or tpl.zh,
        status=ContractStatus.NEGOTIATING,
        source=source,
        source_ref=source_ref,
        buyer_firm_id=buyer.id,
        supplier_firm_id=supplier.id,
        demand_id=demand_id,
        suggestion_id=suggestion_id,
        parent_id=parent_id,
        created_by_id=actor.id,
    )
    claim_roles(contract, contract.party_of_firm(actor.firm_id), actor)
    session.add(contract)
    session.flush()
    rnd = add_round(session, contract, actor, values, note)
    audit(
        session,
        contract,
        "create",
        actor,
        source=source.value,
        source_ref=source_ref,
        template=tpl.code,
        demand_id=demand_id,
        suggestion_id=suggestion_id,
        round=rnd.number,
        content_hash=rnd.content_hash,
    )
    return contract


def start_with_firm(
    session: Session,
    actor: User,
    *,
    other_firm_id: int,
    my_party: str = "buyer",
    template: str | None = None,
    demand_id: int | None = None,
    fields: dict[str, Any] | None = None,
) -> Contract:
    """A contract from scratch between the actor's firm (as ``my_party``: buyer or supplier) and
    ``other_firm_id``, as the start page and the API ask for it: errors about the other firm name
    ``other_firm_id``, the field the caller filled in."""
    mine = require_firm_user(actor)
    if other_firm_id == mine:
        raise InputError(msg("other_firm_id: a contract needs two different firms"), field="other_firm_id")
    other = _firm(session, other_firm_id, "other_firm_id")
    buyer, supplier = (mine, other.id) if my_party == "buyer" else (other.id, mine)
    return start_contract(
        session,
        actor,
        buyer_firm_id=buyer,
        supplier_firm_id=supplier,
        template=template,
        demand_id=demand_id,
        fields=fields,
    )


def _started_from(session: Session, source_ref: str) -> Contract | None:
    """The contract a suggestion or meeting already started, unless it was cancelled: one each."""
    return session.scalar(
        select(Contract).where(Contract.source_ref == source_ref, Contract.status != ContractStatus.CANCELLED)
    )


def start_from_suggestion(
    session: Session, actor: User, suggestion_id: int, *, fields: dict[str, Any] | None = None
) -> Contract:
    """A contract from an accepted match: the demand owner buys from the suggested firm. One contract
    per suggestion, as per meeting: a second call returns the contract already started (unless it was
    cancelled); the suggestion counts as contacted."""
    mine = require_firm_user(actor)
    suggestion = session.get(MatchSuggestion, suggestion_id)
    # another pair's suggestion, and one on a demand the actor may not see (a draft, or a demand
    # no longer open to the suggested firm), answer exactly as one that does not exist: whether it
    # was accepted would tell that it exists
    if (
        suggestion is None
        or mine not in (suggestion.demand.owner_firm_id, suggestion.firm_id)
        or not can_view_demand(session, viewer_of(actor), suggestion.demand)
    ):
        raise _no_suggestion(suggestion_id)
    demand = suggestion.demand
    if suggestion.status not in (SuggestionStatus.ACCEPTED, SuggestionStatus.CONTACTED):
        raise TransitionError(msg("suggestion_id: the suggested firm has not accepted yet"), field="suggestion_id")
    ref = f"suggestion:{suggestion.id}"
    existing = _started_from(session, ref)
    if existing is not None:
        return existing
    if suggestion.status is SuggestionStatus.ACCEPTED:
        suggestion.transition(SuggestionStatus.CONTACTED)
    return start_contract(
        session,
        actor,
        buyer_firm_id=demand.owner_firm_id,
        supplier_firm_id=suggestion.firm_id,
        demand_id=demand.id,
        suggestion_id=suggestion.id,
        source=ContractSource.SUGGESTION,
        source_ref=ref,
        fields=fields,
    )


def start_from_meeting(session: Session, actor: User, meeting_id: int) -> Contract:
    """A contract from an event meeting where a side reported 达成合作意向/协议: the large firm
    buys from the SME; amount and the event are pre-filled. One contract per meeting: a second
    call returns the contract already started (unless it was cancelled).

    The place of signing stays the firms' registered region (:func:`prefill_fields`), never the
    event venue: the dispute clause names the courts of that place (提交{sign_place}有管辖权的人民
    法院), and a hall of a convention centre is no court district."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFoundError(msg("meeting_id: meeting %(id)s does not exist", id=meeting_id), field="meeting_id")
    if acting_firm(actor) not in (meeting.large_firm_id, meeting.sme_firm_id):
        raise PermissionDeniedError(msg("only the two firms of the meeting can start its contract"))
    agreements = [o for o in meeting.outcomes if o.outcome is Outcome.AGREEMENT]
    if not agreements:
        raise TransitionError(
            msg(
                "meeting_id: neither firm reported “%(outcome)s” for this meeting",
                outcome=Term(Outcome.AGREEMENT.label_zh, Outcome.AGREEMENT.label_en),
            ),
            field="meeting_id",
        )
    ref = f"meeting:{meeting.id}"
    existing = _started_from(session, ref)
    if existing is not None:
        return existing
    event = session.get(Event, meeting.event_id)
    amount = next((o.amount for o in agreements if o.amount is not None), None)
    notes = "；".join(o.note for o in agreements if o.note)
    return start_contract(
        session,
        actor,
        buyer_firm_id=meeting.large_firm_id,
        supplier_firm_id=meeting.sme_firm_id,
        demand_id=meeting.demand_id,
        source=ContractSource.MEETING,
        source_ref=ref,
        prefill={
            "amount": _money(amount),
            "extra_terms": f"本合同源于「{event.title}」（{event.start_date.isoformat()}）对接洽谈。{notes}"
            if event
            else notes,
        },
    )


def start_from_consortium(session: Session, project: Any, terms: dict[str, Any], actor: User | None) -> list[Contract]:
    """The consortium agreement of a procurement project goes through contract signing: one
    采购合同 (supply_chain) per accepted member of each lot, the project owner buying, the lot's
    share of the budget as the amount. Started by the owner's user who finalized the project;
    from a script (no actor) nothing is started. Calling it again returns the contracts already
    started (one per lot and member)."""
    if actor is None:
        return []
    started: list[Contract] = []
    for lot in terms["lots"]:
        for member in lot["members"]:
            ref = f"consortium:{project.id}:lot:{lot['position']}:firm:{member['firm_id']}"
            existing = session.scalar(
                select(Contract).where(Contract.source_ref == ref, Contract.status != ContractStatus.CANCELLED)
            )
            if existing is not None:
                started.append(existing)
                continue
            started.append(
                start_contract(
                    session,
                    actor,
                    buyer_firm_id=project.owner_firm_id,
                    supplier_firm_id=member["firm_id"],
                    template="supply_chain",
                    source=ContractSource.SCRATCH,
                    source_ref=ref,
                    prefill={
                        "amount": _money(member["budget"]),
                        "extra_terms": f"本合同源于联合体采购项目「{terms['title']}」第 {lot['position']} 标段"
                        f"「{lot['title']}」，份额 {member['share']:.0%}。",
                    },
                )
            )
    return started


def start_supplement(session: Session, actor: User, parent: Contract, fields: dict[str, Any] | None = None) -> Contract:
    """A supplementary agreement (补充协议) to a signed contract, with its own rounds and signatures."""
    authorize(actor, parent, "negotiate")
    if parent.status is not ContractStatus.SIGNED:
        raise TransitionError(
            msg("parent: only a signed contract takes a supplement; edit the draft instead"), field="parent"
        )
    return start_contract(
        session,
        actor,
        buyer_firm_id=parent.buyer_firm_id,
        supplier_firm_id=parent.supplier_firm_id,
        template="supplement",
        demand_id=parent.demand_id,
        source=ContractSource.SUPPLEMENT,
        source_ref=f"contract:{parent.id}",
        parent_id=parent.id,
        prefill={"parent_number": parent.number, "title": f"{parent.title} 补充协议"},
        fields=fields,
    )
