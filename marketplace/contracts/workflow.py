"""Contracts (云签约) workflow, the state machine after a contract starts: negotiate in rounds
(counter-offers, comments, accepting a round), designate each firm's approver and signer, approve
inside each firm, and freeze the agreed round as the PDF to sign; plus what pages and the API read
of a contract and the organizer statistics of signed contracts.

Every action checks :func:`marketplace.contracts.access.authorize` and is appended to the audit
chain (:mod:`marketplace.contracts.audit`) in the same transaction as the change it records.
Functions flush but never commit: the caller's transaction (``session_scope`` in the CLI,
``web.db.commit`` in views) makes each action all-or-nothing. Starting a contract is
:mod:`marketplace.contracts.start`; signing and verifying is :mod:`marketplace.contracts.signing`.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import acts_for_firms
from marketplace.config import Settings
from marketplace.contracts import pades, render
from marketplace.contracts.access import acting_firm, authorize, can
from marketplace.contracts.audit import audit
from marketplace.contracts.templates import (
    FieldSpec,
    clean_fields,
    content_hash,
    content_text,
    get_template,
    render_clauses,
)
from marketplace.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError, join, message_of, msg
from marketplace.events.agenda import EVENT_TZ
from marketplace.models import (
    Contract,
    ContractApproval,
    ContractAuditEntry,
    ContractComment,
    ContractRound,
    ContractStatus,
    Party,
    User,
)

# Contracts show times as the events do, in Beijing time (the events' zone, Asia/Shanghai): pages,
# the PDF, its signature stamps and the completion certificate. Stored times stay naive UTC.
CONTRACT_TZ = EVENT_TZ
ZONE_LABEL = "北京时间"  # after a time on the (Chinese) PDF; pages say it in the reader's language
MAX_NOTE = 2000  # characters of a round's or an approval's note


def local_time(stamp: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (naive UTC as the database keeps it, an aware one, or its ISO text as the
    audit log exports it) as Beijing wall-clock text (:data:`CONTRACT_TZ`); "—" for none."""
    if stamp is None or stamp == "":
        return "—"
    when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return when.replace(tzinfo=when.tzinfo or UTC).astimezone(CONTRACT_TZ).strftime(fmt)


# --- negotiation ---------------------------------------------------------------------------


def _names(contract: Contract) -> tuple[str, str]:
    return contract.buyer_firm.name, contract.supplier_firm.name


def add_round(session: Session, contract: Contract, actor: User, values: dict[str, str], note: str) -> ContractRound:
    tpl = get_template(contract.template)
    number = len(contract.rounds) + 1
    rnd = ContractRound(
        contract_id=contract.id,
        number=number,
        fields=values,
        content_hash=content_hash(tpl, values, *_names(contract)),
        author_firm_id=actor.firm_id,
        author_id=actor.id,
        note=clean_note(note),
    )
    session.add(rnd)
    contract.rounds.append(rnd)
    contract.title = values.get("title") or contract.title
    session.flush()
    return rnd


def latest_round(contract: Contract) -> ContractRound:
    return contract.rounds[-1]


def clean_note(note: str | None) -> str:
    """A round's or an approval's note: refused, not cut, when longer than :data:`MAX_NOTE`."""
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise InputError(
            msg("note: at most %(max)s characters (got %(n)s); shorten the note", max=f"{MAX_NOTE:,}", n=len(text)),
            field="note",
        )
    return text


def claim_roles(contract: Contract, party: Party, actor: User) -> None:
    """The first user of a firm who acts on a contract is its approver and signer until the
    firm designates others."""
    if party is Party.BUYER:
        contract.buyer_approver_id = contract.buyer_approver_id or actor.id
        contract.buyer_signer_id = contract.buyer_signer_id or actor.id
    else:
        contract.supplier_approver_id = contract.supplier_approver_id or actor.id
        contract.supplier_signer_id = contract.supplier_signer_id or actor.id


def require_status(contract: Contract, *allowed: ContractStatus) -> None:
    if contract.status not in allowed:
        names = join(allowed, sep="/")
        raise ConflictError(
            msg("status: the contract is %(status)s, this needs %(needs)s", status=contract.status, needs=names),
            field="status",
        )


def require_negotiating(contract: Contract) -> None:
    """ConflictError (409) unless the terms are still being negotiated."""
    require_status(contract, ContractStatus.NEGOTIATING)


def may_counter(contract: Contract, firm_id: int | None) -> bool:
    """Whose turn it is to propose terms: the drafter may still rework its first round; after that,
    only the side that did not propose the latest round."""
    return len(contract.rounds) <= 1 or latest_round(contract).author_firm_id != firm_id


def buyer_has_signed(contract: Contract) -> bool:
    """The buyer (甲方) signs first, with the certification signature; the supplier after it."""
    return any(s.party is Party.BUYER for s in contract.signatures)


def _require_other_side(contract: Contract, actor: User, what: str) -> None:
    if latest_round(contract).author_firm_id == actor.firm_id:
        message = (
            msg("round: your side proposed the latest round; wait for the other side to accept")
            if what == "accept"
            else msg("round: your side proposed the latest round; wait for the other side to answer")
        )
        raise ConflictError(message, field="round")


def counter(session: Session, actor: User, contract: Contract, fields: dict[str, Any], note: str = "") -> ContractRound:
    """The other side proposes changed terms: a new frozen round."""
    claim_roles(contract, authorize(actor, contract, "negotiate"), actor)
    require_status(contract, ContractStatus.NEGOTIATING)
    note = clean_note(note)
    tpl = get_template(contract.template)
    values = clean_fields(tpl, {**latest_round(contract).fields, **fields}, partial=True)
    for spec in tpl.fields:  # a draft may still have blanks; a counter-offer cannot blank agreed terms
        if spec.required and latest_round(contract).fields.get(spec.key) and not values.get(spec.key):
            raise InputError(
                msg(
                    "%(key)s: %(label)s is required; change it rather than leave it blank",
                    key=spec.key,
                    label=spec.term(),
                ),
                field=spec.key,
            )
    if values == latest_round(contract).fields:
        raise ConflictError(msg("fields: nothing changed; accept the round instead"), field="fields")
    if not may_counter(contract, actor.firm_id):
        _require_other_side(contract, actor, "answer")
    rnd = add_round(session, contract, actor, values, note)
    audit(
        session,
        contract,
        "edit",
        actor,
        round=rnd.number,
        content_hash=rnd.content_hash,
        changed=sorted(k for k in values if values[k] != contract.rounds[-2].fields.get(k)),
    )
    return rnd


def comment(session: Session, actor: User, contract: Contract, clause: str, text: str) -> ContractComment:
    """A comment on a clause of the latest round, while the terms are negotiated (409 after)."""
    authorize(actor, contract, "negotiate")
    require_status(contract, ContractStatus.NEGOTIATING)
    text = (text or "").strip()
    if not text:
        raise InputError(msg("text: write a comment"), field="text")
    if len(text) > 4000:
        raise InputError(msg("text: at most 4,000 characters"), field="text")
    keys = {c.key for c in get_template(contract.template).clauses} | {"general"}
    if clause not in keys:
        raise InputError(msg("clause: unknown clause %(clause)r", clause=clause), field="clause")
    rnd = latest_round(contract)
    row = ContractComment(contract_id=contract.id, round_id=rnd.id, clause=clause, author_id=actor.id, text=text)
    session.add(row)
    session.flush()
    audit(session, contract, "comment", actor, round=rnd.number, clause=clause, comment_id=row.id)
    return row


def missing_terms(contract: Contract) -> list[FieldSpec]:
    """The required fields the latest round leaves blank: nobody can accept it until a counter
    fills them (:func:`accept_round` refuses it, naming the first)."""
    values = latest_round(contract).fields
    return [spec for spec in get_template(contract.template).fields if spec.required and not values.get(spec.key)]


def accept_round(session: Session, actor: User, contract: Contract) -> ContractRound:
    """The side that did not write the latest round accepts it; internal approvals start."""
    claim_roles(contract, authorize(actor, contract, "negotiate"), actor)
    require_status(contract, ContractStatus.NEGOTIATING)
    _require_other_side(contract, actor, "accept")
    rnd = latest_round(contract)
    tpl = get_template(contract.template)
    try:  # every required field must be filled before agreement: the round, not the request, falls short
        clean_fields(tpl, rnd.fields)
    except InputError as exc:
        raise ConflictError(message_of(exc), field=exc.field) from None
    contract.final_round_id = rnd.id
    contract.amount = float(rnd.fields["amount"]) if rnd.fields.get("amount") else None
    contract.transition(ContractStatus.APPROVING)
    audit(session, contract, "accept", actor, round=rnd.number, content_hash=rnd.content_hash)
    return rnd


# --- designation of approver and signer ----------------------------------------------------


def _side_starter(session: Session, contract: Contract, firm_id: int) -> int | None:
    """The user who started the contract for this firm: who created it, or (the other side) who
    first countered or accepted for the firm."""
    return session.scalar(
        select(ContractAuditEntry.actor_id)
        .join(User, User.id == ContractAuditEntry.actor_id)
        .where(
            ContractAuditEntry.contract_id == contract.id,
            ContractAuditEntry.action.in_(("create", "edit", "accept")),
            User.firm_id == firm_id,
        )
        .order_by(ContractAuditEntry.seq)
        .limit(1)
    )


def _designators(session: Session, contract: Contract, party: Party) -> list[int]:
    """Who designates a firm's approver and signer: its active firm administrators, or, when it
    has none, the user who started the contract for the firm."""
    firm_id = contract.firm_id_of(party)
    admins = list(session.scalars(select(User.id).where(acts_for_firms([firm_id]), User.is_firm_admin.is_(True))))
    if admins:
        return admins
    starter = _side_starter(session, contract, firm_id)
    return [starter] if starter is not None else []


def may_designate(session: Session, actor: User, contract: Contract) -> bool:
    """Whether the actor designates for their firm (see :func:`designate`)."""
    if not can(actor, contract, "designate"):
        return False
    return actor.id in _designators(session, contract, authorize(actor, contract, "designate"))


def designate(
    session: Session, actor: User, contract: Contract, *, approver_id: int | None = None, signer_id: int | None = None
) -> Contract:
    """Name the approver and/or signer of the actor's own firm (users of that firm).

    Only the firm's administrator designates (or, for a firm without one, the user who started
    the contract for it), and nobody grants themselves a role they do not hold: a member who could
    name themselves approver would override the firm's choice. Others get PermissionDeniedError."""
    party = authorize(actor, contract, "designate")
    require_status(contract, ContractStatus.NEGOTIATING, ContractStatus.APPROVING)
    if actor.id not in _designators(session, contract, party):
        raise PermissionDeniedError(
            msg(
                "only your firm's administrator (or, if your firm has none, the colleague who started this "
                "contract for your firm) designates the approver and signer"
            )
        )
    held = {  # an empty role falls to the designator anyway (as on a first counter): not a grant
        "approver_id": (contract.buyer_approver_id if party is Party.BUYER else contract.supplier_approver_id)
        or actor.id,
        "signer_id": (contract.buyer_signer_id if party is Party.BUYER else contract.supplier_signer_id) or actor.id,
    }
    firm_id = contract.firm_id_of(party)
    for field, user_id in (("approver_id", approver_id), ("signer_id", signer_id)):
        if user_id is None:
            continue
        if user_id == actor.id and held[field] != actor.id:
            raise PermissionDeniedError(
                msg("%(field)s: you cannot designate yourself; choose a colleague", field=field), field=field
            )
        user = session.get(User, user_id) if 0 < user_id < 2**31 else None  # the id column is 32-bit
        if user is None or acting_firm(user) != firm_id:
            raise InputError(msg("%(field)s: choose an active user of your own firm", field=field), field=field)
    claim_roles(contract, party, actor)  # an empty role falls to the designator, as on a first counter
    if party is Party.BUYER:
        contract.buyer_approver_id = approver_id or contract.buyer_approver_id
        contract.buyer_signer_id = signer_id or contract.buyer_signer_id
    else:
        contract.supplier_approver_id = approver_id or contract.supplier_approver_id
        contract.supplier_signer_id = signer_id or contract.supplier_signer_id
    audit(session, contract, "designate", actor, party=party.value, approver_id=approver_id, signer_id=signer_id)
    return contract


# --- approval and the PDF to sign ----------------------------------------------------------


def approval_of(session: Session, contract: Contract, party: Party) -> ContractApproval | None:
    return session.scalar(
        select(ContractApproval).where(
            ContractApproval.round_id == contract.final_round_id, ContractApproval.party == party
        )
    )


def approve(
    session: Session, settings: Settings, actor: User, contract: Contract, *, approved: bool = True, note: str = ""
) -> ContractApproval:
    """The designated approver of one firm passes (or sends back) the agreed round. When both
    firms have approved, the PDF is generated and frozen and signing opens."""
    party = authorize(actor, contract, "approve")
    require_status(contract, ContractStatus.APPROVING)
    if approval_of(session, contract, party) is not None:
        raise ConflictError(msg("approval: your firm has already approved this round"), field="approval")
    row = ContractApproval(
        contract_id=contract.id,
        round_id=contract.final_round_id,
        party=party,
        approver_id=actor.id,
        approved=approved,
        note=clean_note(note),
    )
    session.add(row)
    session.flush()
    audit(session, contract, "approve" if approved else "reject", actor, party=party.value, note=row.note)
    if not approved:
        session.query(ContractApproval).filter(ContractApproval.round_id == contract.final_round_id).delete()
        contract.final_round_id = None
        contract.transition(ContractStatus.NEGOTIATING)
        return row
    if all(approval_of(session, contract, p) is not None for p in Party):
        finalise(session, settings, contract)
    return row


def verify_url(settings: Settings, contract: Contract) -> str:
    """The link (and QR code) printed on the contract PDF and the completion certificate: under
    ``MARKETPLACE_PUBLIC_BASE_URL``, else the address of the request that renders it (the pages
    pass it as ``settings.request_base_url``, see ``web.contracts.pages.request_settings``), else the CLI
    default. (The CRL URLs in certificates never take a request's address: one per instance.)"""
    return f"{settings.site_url(settings.request_base_url or None)}/contracts/verify/{contract.token}"


def finalise(session: Session, settings: Settings, contract: Contract) -> None:
    """Render the agreed round as the unsigned PDF (with the audit head) and open signing."""
    rnd = session.get(ContractRound, contract.final_round_id)
    anchor = audit(session, contract, "finalise", None, round=rnd.number, content_hash=rnd.content_hash)
    doc = render.ContractDocument(
        number=contract.number,
        token=contract.token,
        template=get_template(contract.template),
        values=rnd.fields,
        buyer=contract.buyer_firm.name,
        supplier=contract.supplier_firm.name,
        round_number=rnd.number,
        content_hash=rnd.content_hash,
        verify_url=verify_url(settings, contract),
        audit_head=anchor.hash,
        finalised_at=f"{local_time(anchor.at)} {ZONE_LABEL}",
    )
    font = render.cjk_font(settings.contracts_font_cache, settings.contracts_font)
    pdf = pades.add_signature_fields(render.render_contract(doc, font))
    contract.unsigned_pdf = pdf
    contract.unsigned_sha256 = hashlib.sha256(pdf).hexdigest()
    contract.audit_anchor = anchor.hash
    contract.transition(ContractStatus.SIGNING)


def approval_queue(session: Session, user: User) -> list[Contract]:
    """Contracts waiting for this user's approval."""
    rows = session.scalars(
        select(Contract).where(
            Contract.status == ContractStatus.APPROVING,
            or_(Contract.buyer_approver_id == user.id, Contract.supplier_approver_id == user.id),
        )
    )
    return [c for c in rows if can(user, c, "approve") and not approval_of(session, c, authorize(user, c, "approve"))]


# --- views of a contract -------------------------------------------------------------------


def round_diff(contract: Contract, number: int) -> list[tuple[str, str]]:
    """Line diff of round ``number`` against the round before it: (tag, line) with tag in
    ' ' (same), '-' (removed), '+' (added)."""
    if number < 1 or number > len(contract.rounds):
        raise NotFoundError(msg("round: round %(number)s does not exist", number=number), field="round")
    tpl = get_template(contract.template)
    names = _names(contract)
    new = content_text(tpl, contract.rounds[number - 1].fields, *names).splitlines()
    old = content_text(tpl, contract.rounds[number - 2].fields, *names).splitlines() if number > 1 else []
    return [(line[0], line[2:]) for line in difflib.ndiff(old, new) if line[:1] in (" ", "-", "+")]


def clauses(contract: Contract, number: int | None = None, locale: str = "zh") -> list[tuple[str, str, str]]:
    """The round's articles (the latest round by default), titles in ``locale``, text as signed."""
    rnd = contract.rounds[(number or len(contract.rounds)) - 1]
    return render_clauses(get_template(contract.template), rnd.fields, locale)


def comments(session: Session, contract: Contract) -> list[ContractComment]:
    return list(
        session.scalars(
            select(ContractComment).where(ContractComment.contract_id == contract.id).order_by(ContractComment.id)
        )
    )


def contract_dict(contract: Contract) -> dict[str, Any]:
    return {
        "id": contract.id,
        "number": contract.number,
        "title": contract.title,
        "template": contract.template,
        "status": contract.status.value,
        "source": contract.source.value,
        "source_ref": contract.source_ref,
        "buyer_firm_id": contract.buyer_firm_id,
        "buyer": contract.buyer_firm.name,
        "supplier_firm_id": contract.supplier_firm_id,
        "supplier": contract.supplier_firm.name,
        "demand_id": contract.demand_id,
        "parent_id": contract.parent_id,
        "amount": contract.amount,
        "rounds": [
            {
                "number": r.number,
                "content_hash": r.content_hash,
                "author_firm_id": r.author_firm_id,
                "created_at": r.created_at.isoformat(),
                "fields": r.fields,
            }
            for r in contract.rounds
        ],
        "final_round_id": contract.final_round_id,
        "signatures": [
            {
                "party": s.party.value,
                "signer_id": s.signer_id,
                "intent": s.intent,
                "timestamp": s.timestamp.isoformat() if s.timestamp else None,
                "pdf_sha256": s.pdf_sha256,
            }
            for s in contract.signatures
        ],
        "unsigned_sha256": contract.unsigned_sha256,
        "signed_sha256": contract.signed_sha256,
        "signed_at": contract.signed_at.isoformat() if contract.signed_at else None,
    }


# --- organizer statistics ------------------------------------------------------------------


def signed_stats(
    session: Session,
    *,
    firm_pairs: Iterable[tuple[int, int]] | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> dict[str, Any]:
    """Signed contracts and their amounts (CNY), optionally only between the given firm pairs
    (either order) and signed in [since, until). The event report's 签约数 / 金额 call this with
    the pairs of firms that met at the event."""
    query = select(Contract).where(Contract.status == ContractStatus.SIGNED)
    if since is not None:
        query = query.where(Contract.signed_at >= _as_datetime(since))
    if until is not None:
        query = query.where(Contract.signed_at < _as_datetime(until))
    rows = list(session.scalars(query))
    if firm_pairs is not None:
        pairs = {frozenset(p) for p in firm_pairs}
        rows = [c for c in rows if frozenset((c.buyer_firm_id, c.supplier_firm_id)) in pairs]
    by_template: dict[str, dict[str, float]] = {}
    for c in rows:
        slot = by_template.setdefault(c.template, {"count": 0, "amount": 0.0})
        slot["count"] += 1
        slot["amount"] += c.amount or 0.0
    return {
        "count": len(rows),
        "amount": round(sum(c.amount or 0.0 for c in rows), 2),
        "by_template": by_template,
        "contract_ids": [c.id for c in rows],
    }


def _as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
