"""Contracts (云签约) workflow: start, negotiate in rounds, approve inside each firm, sign with each
signer's own key, verify, export, audit, and the organizer statistics.

Every read and write of a contract goes through :func:`authorize` (one permission function per
contract); every action is appended to the contract's hash-chained audit log in the same
transaction as the change it records. Functions flush but never commit: the caller's transaction
(``session_scope`` in the CLI, ``web.db.commit`` in views) makes each action all-or-nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyotp
from cryptography import x509
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from marketplace.accounts.notifications import notify
from marketplace.accounts.permissions import acting_user_ids, acts_for_firms, can_view_demand, viewer_of
from marketplace.config import Settings
from marketplace.contracts import keys as ca_keys
from marketplace.contracts import pades, pki, render, tsa
from marketplace.contracts.templates import (
    DEMAND_TYPE_TEMPLATE,
    FieldSpec,
    Template,
    clean_fields,
    clip_fields,
    content_hash,
    content_text,
    get_template,
    render_clauses,
)
from marketplace.errors import (
    InputError,
    MarketplaceError,
    Message,
    NotFoundError,
    PermissionDeniedError,
    Term,
    TransitionError,
    join,
    message_of,
    msg,
)
from marketplace.events.agenda import EVENT_TZ
from marketplace.models import (
    Contract,
    ContractApproval,
    ContractAuditEntry,
    ContractComment,
    ContractRound,
    ContractSignature,
    ContractSource,
    ContractStatus,
    Demand,
    Firm,
    MatchSuggestion,
    Party,
    Role,
    SigningCredential,
    SuggestionStatus,
    User,
    utcnow,
)

GENESIS = "0" * 64
# Contracts show times as the events do, in Beijing time (the events' zone, Asia/Shanghai): pages,
# the PDF, its signature stamps and the completion certificate. Stored times stay naive UTC.
CONTRACT_TZ = EVENT_TZ
ZONE_LABEL = "北京时间"  # after a time on the (Chinese) PDF; pages say it in the reader's language
# A credential replaced by a new enrolment stops signing but is not put on the CRL: what it signed
# stays valid. Revocation for cause (lost, compromised) lists it.
SUPERSEDED = "superseded"
ACTIONS = ("view", "negotiate", "approve", "sign", "designate", "download")
MAX_NOTE = 2000  # characters of a round's or an approval's note


class ContractAccessDenied(MarketplaceError):
    """The user may not do this with this contract (web: 403, or 404 where existence is private).
    A hidden denial (``hide``) carries the very message and ``field`` of the missing record's
    NotFoundError, so that nobody can tell a contract they may not see from one that does not exist."""

    def __init__(self, message: str, *, hide: bool = False, field: str | None = None) -> None:
        super().__init__(message)
        self.hide = hide
        self.field = field


def _no_contract(contract_id: int) -> Message:
    """What a missing contract answers, and what a hidden one answers too."""
    return msg("contract %(id)s does not exist", id=contract_id)


def _no_suggestion(suggestion_id: int) -> NotFoundError:
    """A missing suggestion, and one the actor may not start a contract from (the same answer)."""
    return NotFoundError(
        msg("suggestion_id: suggestion %(id)s does not exist", id=suggestion_id), field="suggestion_id"
    )


class ConflictError(TransitionError):
    """The action was already done or raced with another one (web: 409)."""


def local_time(stamp: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (naive UTC as the database keeps it, an aware one, or its ISO text as the
    audit log exports it) as Beijing wall-clock text (:data:`CONTRACT_TZ`); "—" for none."""
    if stamp is None or stamp == "":
        return "—"
    when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return when.replace(tzinfo=when.tzinfo or UTC).astimezone(CONTRACT_TZ).strftime(fmt)


# --- platform PKI --------------------------------------------------------------------------


def crl_url(settings: Settings) -> str:
    return f"{settings.site_url()}/contracts/pki/crl"


def platform_ca(settings: Settings) -> pki.PlatformCA:
    """The platform CA, opened the same way in every process (:mod:`marketplace.contracts.keys`);
    a key that cannot be opened is a CAKeyError naming the setting to fix."""
    return ca_keys.load_or_create(settings, crl_url(settings))


def current_crl(session: Session, settings: Settings) -> x509.CertificateRevocationList:
    rows = session.execute(
        select(SigningCredential.serial, SigningCredential.revoked_at).where(
            SigningCredential.revoked_at.is_not(None),
            or_(SigningCredential.revocation_reason.is_(None), SigningCredential.revocation_reason != SUPERSEDED),
        )
    ).all()
    return pki.make_crl(platform_ca(settings), [(int(serial, 16), at) for serial, at in rows])


def current_crls(session: Session, settings: Settings) -> list[x509.CertificateRevocationList]:
    """The issuing CA's CRL (user certificates) and the root's CRL (the issuing CA): both are
    checked at signing, embedded in the PDF (B-LTA) and used when verifying."""
    ca = platform_ca(settings)
    return [current_crl(session, settings), pki.make_crl(ca, [], issuer=ca.root)]


def signing_provider(settings: Settings) -> pades.SigningProvider:
    """The configured provider: ``local`` or ``package.module:ClassName`` (a SigningProvider)."""
    name = settings.contracts_provider or "local"
    if name == "local":
        return pades.LocalPadesProvider()
    module, _, cls = name.partition(":")
    try:
        provider = getattr(importlib.import_module(module), cls)()
    except (ImportError, AttributeError, ValueError) as exc:
        raise MarketplaceError(
            msg("MARKETPLACE_CONTRACTS_PROVIDER=%(name)r cannot be loaded: %(error)s", name=name, error=str(exc))
        ) from exc
    if not isinstance(provider, pades.SigningProvider):
        raise MarketplaceError(msg("MARKETPLACE_CONTRACTS_PROVIDER=%(name)r is not a SigningProvider", name=name))
    return provider


# --- permissions ---------------------------------------------------------------------------


def acting_firm(user: User | None) -> int | None:
    """The firm a user acts for: only active, approved members act for a firm (as for demands)."""
    if user is None or not user.is_active:
        return None
    return viewer_of(user).firm_id


def require_firm_user(user: User | None) -> int:
    """The firm the user acts for, or a refusal: only a firm's users start contracts (organizers
    and admins have no side to sign for)."""
    firm_id = acting_firm(user)
    if firm_id is None:
        raise ContractAccessDenied(msg("only firm users start contracts"))
    return firm_id


def authorize(user: User | None, contract: Contract, action: str) -> Party:
    """The one permission rule for contracts. Returns the user's party or raises.

    * view / download / negotiate / designate: a user of one of the two firms;
    * approve: the approver that the user's firm designated;
    * sign: the signer that the user's firm designated (with their own key, checked at signing).
    Nobody else sees a contract, not even organizers or admins (they see statistics only)."""
    if action not in ACTIONS:
        raise ValueError(action)
    firm_id = acting_firm(user)
    party = contract.party_of_firm(firm_id) if firm_id is not None else None
    if party is None:
        # answered exactly as a contract that does not exist (see get_contract)
        raise ContractAccessDenied(_no_contract(contract.id), hide=True, field="contract_id")
    if action == "approve":
        approver = contract.buyer_approver_id if party is Party.BUYER else contract.supplier_approver_id
        if user.id != approver:
            raise ContractAccessDenied(msg("only the approver your firm designated can approve this contract"))
    if action == "sign":
        signer = contract.buyer_signer_id if party is Party.BUYER else contract.supplier_signer_id
        if user.id != signer:
            raise ContractAccessDenied(msg("only the signer your firm designated can sign this contract"))
    return party


def can(user: User | None, contract: Contract, action: str) -> bool:
    try:
        authorize(user, contract, action)
    except ContractAccessDenied:
        return False
    return True


def visible_contracts(session: Session, user: User, status: ContractStatus | None = None) -> list[Contract]:
    """The contracts the user may see (the same rule as :func:`authorize` for ``view``)."""
    firm_id = acting_firm(user)
    if firm_id is None:
        return []
    query = select(Contract).where(or_(Contract.buyer_firm_id == firm_id, Contract.supplier_firm_id == firm_id))
    if status is not None:
        query = query.where(Contract.status == status)
    return list(session.scalars(query.order_by(Contract.updated_at.desc(), Contract.id.desc())))


def approval_queue(session: Session, user: User) -> list[Contract]:
    """Contracts waiting for this user's approval."""
    rows = session.scalars(
        select(Contract).where(
            Contract.status == ContractStatus.APPROVING,
            or_(Contract.buyer_approver_id == user.id, Contract.supplier_approver_id == user.id),
        )
    )
    return [c for c in rows if can(user, c, "approve") and not _approval(session, c, authorize(user, c, "approve"))]


def get_contract(session: Session, contract_id: int, user: User | None, action: str = "view") -> Contract:
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFoundError(_no_contract(contract_id), field="contract_id")
    authorize(user, contract, action)
    return contract


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(msg("user %(id)s does not exist", id=user_id), field="user_id")
    return user


# --- audit chain ---------------------------------------------------------------------------


def _entry_hash(
    contract_id: int,
    seq: int,
    action: str,
    actor_id: int | None,
    actor: str,
    at: datetime,
    data: dict[str, Any],
    prev: str,
) -> str:
    canonical = json.dumps(
        {
            "contract": contract_id,
            "seq": seq,
            "action": action,
            "actor_id": actor_id,
            "actor": actor,
            "at": at.isoformat(timespec="microseconds"),
            "data": data,
            "prev": prev,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _last_entry(session: Session, contract_id: int) -> ContractAuditEntry | None:
    return session.scalar(
        select(ContractAuditEntry)
        .where(ContractAuditEntry.contract_id == contract_id)
        .order_by(ContractAuditEntry.seq.desc())
        .limit(1)
    )


def audit(session: Session, contract: Contract, action: str, actor: User | None, **data: Any) -> ContractAuditEntry:
    """Append one entry to the contract's chain (in the caller's transaction)."""
    session.flush()
    last = _last_entry(session, contract.id)
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    at = utcnow()
    who = f"{actor.name} <{actor.email}>" if actor else "system"
    clean = json.loads(json.dumps(data, ensure_ascii=False, default=str))
    entry = ContractAuditEntry(
        contract_id=contract.id,
        seq=seq,
        action=action,
        actor_id=actor.id if actor else None,
        actor=who,
        at=at,
        data=clean,
        prev_hash=prev,
        hash=_entry_hash(contract.id, seq, action, actor.id if actor else None, who, at, clean, prev),
    )
    session.add(entry)
    session.flush()
    _tell_parties(session, contract, action, actor, clean)
    return entry


# what the other side (or, for "finalise", both sides) is told of a step: zh, en; {firm} is the
# acting firm, {round} the round number
NOTICES = {
    "create": ("{firm} 发起了合同，请查看条款并答复", "{firm} started a contract; review the terms and answer"),
    "edit": (
        "{firm} 提出了第 {round} 轮条款，请查看并答复",
        "{firm} proposed round {round} of the terms; review and answer",
    ),
    "accept": (
        "{firm} 接受了第 {round} 轮条款，双方进入内部审批",
        "{firm} accepted round {round} of the terms; both firms now approve internally",
    ),
    "reject": ("{firm} 内部审批退回，合同回到协商", "{firm}'s approver sent the contract back to negotiation"),
    "finalise": ("双方审批通过，合同可以签署", "Both firms approved; the contract is ready to sign"),
    "sign": ("{firm} 已签署合同", "{firm} signed the contract"),
}


def _tell_parties(session: Session, contract: Contract, action: str, actor: User | None, data: dict[str, Any]) -> None:
    """Notify the users of the side that must act next (both sides when signing opens) of a step
    of the contract, in both languages, linking to the contract."""
    if action not in NOTICES:
        return
    names = {firm.id: firm.display_name for firm in (contract.buyer_firm, contract.supplier_firm)}
    acting = acting_firm(actor)
    to = [firm for firm in names if firm != acting] if acting in names else list(names)
    zh, en = NOTICES[action]
    values = {"firm": names.get(acting, ""), "round": data.get("round", "")}
    notify(
        session,
        user_ids=acting_user_ids(session, to),
        kind=f"contract.{action}",
        title_zh=f"【{contract.title}】" + zh.format(**values),
        title_en=f"[{contract.title}] " + en.format(**values),
        link=f"/contracts/{contract.id}",
    )


def audit_head(session: Session, contract_id: int) -> str:
    last = _last_entry(session, contract_id)
    return last.hash if last else GENESIS


@dataclass
class AuditCheck:
    ok: bool
    entries: int
    head: str
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def verify_audit(session: Session, contract_id: int) -> AuditCheck:
    """Recompute the chain: a changed, deleted or reordered entry breaks a hash or a link; the
    head printed on the signed PDF (``audit_anchor``) must still be in the chain."""
    entries = list(
        session.scalars(
            select(ContractAuditEntry)
            .where(ContractAuditEntry.contract_id == contract_id)
            .order_by(ContractAuditEntry.id)
        )
    )
    problems: list[str] = []
    prev = GENESIS
    for expected_seq, e in enumerate(entries, start=1):
        if e.seq != expected_seq:
            problems.append(f"entry id {e.id}: sequence {e.seq}, expected {expected_seq} (deleted or reordered)")
        if e.prev_hash != prev:
            problems.append(f"entry {e.seq}: does not link to the previous entry (deleted or reordered)")
        if _entry_hash(e.contract_id, e.seq, e.action, e.actor_id, e.actor, e.at, e.data, e.prev_hash) != e.hash:
            problems.append(f"entry {e.seq}: content changed after it was written")
        prev = e.hash
    contract = session.get(Contract, contract_id)
    if contract is not None and contract.audit_anchor and contract.audit_anchor not in {e.hash for e in entries}:
        problems.append("the audit head printed on the contract PDF is no longer in the chain")
    if not entries:
        problems.append("no audit entries")
    return AuditCheck(not problems, len(entries), prev, problems)


def audit_entries(session: Session, contract: Contract) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ContractAuditEntry).where(ContractAuditEntry.contract_id == contract.id).order_by(ContractAuditEntry.seq)
    )
    return [
        {
            "seq": e.seq,
            "action": e.action,
            "actor_id": e.actor_id,
            "actor": e.actor,
            "at": e.at.isoformat(timespec="microseconds"),
            "data": e.data,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in rows
    ]


# How the audit log names who acted, to a user of one of the two firms: the own firm's colleagues
# as recorded (name <e-mail>); the other firm's staff by firm and role on this contract only, never
# by name or personal e-mail; the platform as such. The stored entries (the hash input) stay as they are.
AUDIT_ROLES = {
    "signer": Term("签署人", "signer"),
    "approver": Term("审批人", "approver"),
    "admin": Term("企业管理员", "firm administrator"),
    "member": Term("企业成员", "staff member"),
}
PLATFORM = Term("平台", "platform")
FORMER_MEMBER = Term("已不在任一方企业的用户", "a user no longer with either firm")


def _audit_role(contract: Contract, user: User, party: Party, action: str) -> Term:
    """The role the other firm's user acted in: the one the action needs (sign, approve), else the
    one the user holds on the contract now, else firm administrator or member."""
    if action == "sign":
        return AUDIT_ROLES["signer"]
    if action in ("approve", "reject"):
        return AUDIT_ROLES["approver"]
    if user.id == (contract.buyer_signer_id if party is Party.BUYER else contract.supplier_signer_id):
        return AUDIT_ROLES["signer"]
    if user.id == (contract.buyer_approver_id if party is Party.BUYER else contract.supplier_approver_id):
        return AUDIT_ROLES["approver"]
    return AUDIT_ROLES["admin" if user.is_firm_admin else "member"]


def audit_log(session: Session, viewer: User, contract: Contract) -> list[dict[str, Any]]:
    """The audit entries as ``viewer`` (a user of one of the two firms) may read them: each entry's
    ``actor`` a :class:`Term` (see :data:`AUDIT_ROLES`), ``redacted`` when it stands for the other
    firm's person. :func:`verify_audit` and the operator's export keep the recorded entries."""
    own_firm = contract.firm_id_of(authorize(viewer, contract, "view"))
    entries = audit_entries(session, contract)
    ids = {e["actor_id"] for e in entries if e["actor_id"] is not None}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    for e in entries:
        user = users.get(e["actor_id"])
        party = contract.party_of_firm(user.firm_id) if user is not None else None
        e["redacted"] = False
        if e["actor_id"] is None:
            e["actor"] = PLATFORM
        elif user is not None and user.firm_id == own_firm:
            e["actor"] = Term(e["actor"], e["actor"])
        else:
            e["redacted"] = True
            if party is None:
                e["actor"] = FORMER_MEMBER
            else:
                firm = contract.buyer_firm if party is Party.BUYER else contract.supplier_firm
                role = _audit_role(contract, user, party, e["action"])
                e["actor"] = Term(f"{firm.display_name} · {role.label_zh}", f"{firm.display_name} · {role.label_en}")
    return entries


# --- starting ------------------------------------------------------------------------------


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
        raise ContractAccessDenied(msg("you can only start contracts for your own firm"))
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
    _claim_roles(contract, contract.party_of_firm(actor.firm_id), actor)
    session.add(contract)
    session.flush()
    rnd = _add_round(session, contract, actor, values, note)
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
    from marketplace.models import Meeting, Outcome

    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFoundError(msg("meeting_id: meeting %(id)s does not exist", id=meeting_id), field="meeting_id")
    if acting_firm(actor) not in (meeting.large_firm_id, meeting.sme_firm_id):
        raise ContractAccessDenied(msg("only the two firms of the meeting can start its contract"), hide=True)
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
    event = session.get(_event_model(), meeting.event_id)
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


def _event_model():  # noqa: ANN202
    from marketplace.models import Event

    return Event


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


# --- negotiation ---------------------------------------------------------------------------


def _names(contract: Contract) -> tuple[str, str]:
    return contract.buyer_firm.name, contract.supplier_firm.name


def _add_round(session: Session, contract: Contract, actor: User, values: dict[str, str], note: str) -> ContractRound:
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


def _claim_roles(contract: Contract, party: Party, actor: User) -> None:
    """The first user of a firm who acts on a contract is its approver and signer until the
    firm designates others."""
    if party is Party.BUYER:
        contract.buyer_approver_id = contract.buyer_approver_id or actor.id
        contract.buyer_signer_id = contract.buyer_signer_id or actor.id
    else:
        contract.supplier_approver_id = contract.supplier_approver_id or actor.id
        contract.supplier_signer_id = contract.supplier_signer_id or actor.id


def _require_status(contract: Contract, *allowed: ContractStatus) -> None:
    if contract.status not in allowed:
        names = join(allowed, sep="/")
        raise ConflictError(
            msg("status: the contract is %(status)s, this needs %(needs)s", status=contract.status, needs=names),
            field="status",
        )


def require_negotiating(contract: Contract) -> None:
    """ConflictError (409) unless the terms are still being negotiated."""
    _require_status(contract, ContractStatus.NEGOTIATING)


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
    _claim_roles(contract, authorize(actor, contract, "negotiate"), actor)
    _require_status(contract, ContractStatus.NEGOTIATING)
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
    rnd = _add_round(session, contract, actor, values, note)
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
    _require_status(contract, ContractStatus.NEGOTIATING)
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
    _claim_roles(contract, authorize(actor, contract, "negotiate"), actor)
    _require_status(contract, ContractStatus.NEGOTIATING)
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
    _require_status(contract, ContractStatus.NEGOTIATING, ContractStatus.APPROVING)
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
    _claim_roles(contract, party, actor)  # an empty role falls to the designator, as on a first counter
    if party is Party.BUYER:
        contract.buyer_approver_id = approver_id or contract.buyer_approver_id
        contract.buyer_signer_id = signer_id or contract.buyer_signer_id
    else:
        contract.supplier_approver_id = approver_id or contract.supplier_approver_id
        contract.supplier_signer_id = signer_id or contract.supplier_signer_id
    audit(session, contract, "designate", actor, party=party.value, approver_id=approver_id, signer_id=signer_id)
    return contract


def _approval(session: Session, contract: Contract, party: Party) -> ContractApproval | None:
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
    _require_status(contract, ContractStatus.APPROVING)
    if _approval(session, contract, party) is not None:
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
    if all(_approval(session, contract, p) is not None for p in Party):
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


# --- signing credentials -------------------------------------------------------------------


def active_credential(session: Session, user_id: int) -> SigningCredential | None:
    return session.scalar(
        select(SigningCredential)
        .where(SigningCredential.user_id == user_id, SigningCredential.revoked_at.is_(None))
        .order_by(SigningCredential.id.desc())
        .limit(1)
    )


def enroll(
    session: Session, settings: Settings, user: User, signing_password: str, *, totp: bool = False
) -> tuple[SigningCredential, str | None]:
    """Generate the user's key and certificate; the key is stored encrypted under their signing
    password (only they can use it). Any earlier credential is revoked. Returns the credential
    and, with ``totp``, the otpauth:// URI to put into an authenticator app."""
    if acting_firm(user) is None:
        raise InputError(msg("user: only active members of a firm sign contracts"), field="user")
    pki.check_signing_password(signing_password)
    ca = platform_ca(settings)
    key = pki.new_user_key()
    cert = pki.issue_user_cert(ca, key, name=user.name, email=user.email, firm=user.firm.name)
    for old in session.scalars(
        select(SigningCredential).where(SigningCredential.user_id == user.id, SigningCredential.revoked_at.is_(None))
    ):
        old.revoked_at = utcnow()
        old.revocation_reason = SUPERSEDED
    secret = pyotp.random_base32() if totp else None
    cred = SigningCredential(
        user_id=user.id,
        serial=f"{cert.serial_number:x}",
        cert_pem=pki.pem(cert).decode(),
        encrypted_key=pki.encrypt_user_key(key, signing_password),
        totp_secret=secret,
    )
    session.add(cred)
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="ChainMatch") if secret else None
    return cred, uri


def revoke(session: Session, credential: SigningCredential, reason: str = "unspecified") -> None:
    if credential.revoked_at is None:
        credential.revoked_at = utcnow()
        credential.revocation_reason = reason[:200]
        session.flush()


# --- signing -------------------------------------------------------------------------------


def _validation(session: Session, settings: Settings):  # noqa: ANN202 - pyhanko ValidationContext
    ca = platform_ca(settings)
    return pades.validation_context(
        [ca.root.cert], [ca.issuing.cert], current_crls(session, settings), for_signing=True
    )


def sign(
    session: Session,
    settings: Settings,
    actor: User,
    contract: Contract,
    *,
    signing_password: str,
    totp_code: str | None = None,
    request_key: str | None = None,
) -> ContractSignature:
    """Sign for the actor's firm with the actor's own key.

    The signature is made in memory, verified, and only then stored with its audit entry in the
    caller's transaction, so a failure or a kill leaves the contract as it was. The same
    ``request_key`` twice returns the first signature; a second signature of the same party is a
    conflict (and the unique constraint backs that up under races)."""
    if request_key:
        done = session.scalar(select(ContractSignature).where(ContractSignature.request_key == request_key))
        if done is not None and done.contract_id == contract.id and done.signer_id == actor.id:
            return done
    party = authorize(actor, contract, "sign")
    if any(s.party is party for s in contract.signatures):
        raise ConflictError(
            msg("signature: %(party)s has already signed this contract", party=party.label_zh), field="signature"
        )
    _require_status(contract, ContractStatus.SIGNING)
    if party is Party.SUPPLIER and not buyer_has_signed(contract):
        raise ConflictError(
            msg("signature: the buyer (甲方) signs first with the certification signature"), field="signature"
        )
    cred = active_credential(session, actor.id)
    if cred is None:
        raise InputError(
            msg("signing_password: you have no signing certificate yet; set a signing password first"),
            field="signing_password",
        )
    cert = x509.load_pem_x509_certificate(cred.cert_pem.encode())
    if not all(pki.name_usable(str(a.value)) for a in cert.subject):  # issued before names were made safe
        raise InputError(
            msg(
                "signing_password: your signing certificate carries a name that signatures cannot use; "
                "set your signing password again to get a new certificate"
            ),
            field="signing_password",
        )
    intent = "签署密码 password"
    if cred.totp_secret:
        if not totp_code or not pyotp.TOTP(cred.totp_secret).verify(str(totp_code).strip(), valid_window=1):
            raise InputError(msg("totp_code: the one-time code is wrong or expired"), field="totp_code")
        intent = "签署密码+动态码 password+TOTP"
    key = pki.decrypt_user_key(cred.encrypted_key, signing_password)
    ca = platform_ca(settings)
    base = contract.signed_pdf or contract.unsigned_pdf
    provider = signing_provider(settings)
    request = pades.SignRequest(
        party=party.value,
        certify=party is Party.BUYER,
        signer_name=actor.name,
        firm_name=actor.firm.name,
        reason=f"同意签署合同 {contract.number}（第 {_final_round_no(session, contract)} 轮定稿）",
        location=session.get(ContractRound, contract.final_round_id).fields.get("sign_place", ""),
        cert=cert,
        key=key,
        chain=[ca.issuing.cert, ca.root.cert],
        validation=_validation(session, settings),
        timestamper=tsa.timestamper_for(ca, settings.contracts_tsa_url),
        font_cache=settings.contracts_font_cache,
        intent=intent.split()[0],
        stamp_time=f"{local_time(utcnow(), '%Y-%m-%d %H:%M:%S')} {ZONE_LABEL}",
    )
    signed = provider.sign(base, request)
    report = pades.verify_pdf(signed, [ca.root.cert], [ca.issuing.cert], current_crls(session, settings))
    if not report.ok:
        raise pades.SigningFailed(
            msg("the new signature did not verify, nothing was stored: %(problems)s", problems=join(report.problems))
        )
    own = [s for s in report.signatures if s.kind == "signature"][-1]
    digest = hashlib.sha256(signed).hexdigest()
    row = ContractSignature(
        contract_id=contract.id,
        party=party,
        signer_id=actor.id,
        credential_id=cred.id,
        intent=intent,
        provider=provider.name,
        request_key=request_key,
        timestamp=own.timestamp.astimezone(UTC).replace(tzinfo=None) if own.timestamp else None,
        pdf_sha256=digest,
    )
    session.add(row)
    contract.signatures.append(row)
    contract.signed_pdf = signed
    contract.signed_sha256 = digest
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(
            msg("signature: this party's signature was stored by a concurrent request"), field="signature"
        ) from exc
    audit(
        session,
        contract,
        "sign",
        actor,
        party=party.value,
        cert_serial=cred.serial,
        intent=intent,
        timestamp=row.timestamp,
        pdf_sha256=digest,
    )
    if all(any(s.party is p for s in contract.signatures) for p in Party):
        contract.signed_at = row.timestamp or utcnow()
        contract.transition(ContractStatus.SIGNED)
    return row


def _final_round_no(session: Session, contract: Contract) -> int:
    return session.get(ContractRound, contract.final_round_id).number


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


def record_access(session: Session, actor: User, contract: Contract, action: str, **data: Any) -> None:
    """Audit a read (view, download): permission first, then the entry."""
    authorize(actor, contract, "download" if action == "download" else "view")
    audit(session, contract, action, actor, **data)


# --- verification and export ---------------------------------------------------------------


def verify_document(session: Session, settings: Settings, data: bytes) -> pades.VerifyReport:
    """Verify a PDF offline against the platform root and current CRL, then against the record:
    the file is the stored signed PDF, its original revision is the frozen unsigned PDF, and the
    printed content hash is the agreed round's."""
    ca = platform_ca(settings)
    report = pades.verify_pdf(data, [ca.root.cert], [ca.issuing.cert], current_crls(session, settings))
    contract = session.scalar(select(Contract).where(Contract.token == report.token)) if report.token else None
    if contract is None:
        report.problems.append(msg("the PDF does not name a contract of this platform"))
        report.ok = False
        return report
    rnd = session.get(ContractRound, contract.final_round_id) if contract.final_round_id else None
    n = len(contract.unsigned_pdf or b"")
    report.record = {
        "contract_id": contract.id,
        "number": contract.number,
        "title": contract.title,
        "status": contract.status.value,
        "buyer": contract.buyer_firm.name,
        "supplier": contract.supplier_firm.name,
        "original_matches": bool(n) and hashlib.sha256(data[:n]).hexdigest() == contract.unsigned_sha256,
        "content_hash_matches": rnd is not None and rnd.content_hash == report.content_hash,
        "is_final_signed_copy": hashlib.sha256(data).hexdigest() == contract.signed_sha256
        and contract.status is ContractStatus.SIGNED,
    }
    if not report.record["original_matches"]:
        report.problems.append(msg("the signed document is not the version frozen on the platform"))
    if not report.record["content_hash_matches"]:
        report.problems.append(msg("the content hash differs from the agreed round on record"))
    report.ok = not report.problems
    audit(session, contract, "verify", None, ok=report.ok, sha256=hashlib.sha256(data).hexdigest())
    return report


def completion_certificate(session: Session, settings: Settings, contract: Contract) -> bytes:
    """The completion certificate (PDF): parties, content hash per round, signatures with
    timestamps and intent checks, the signed file's hash and the audit head."""
    if contract.status is not ContractStatus.SIGNED:
        raise ConflictError(
            msg("status: the completion certificate exists once both parties have signed"), field="status"
        )
    creds = {
        c.id: c
        for c in session.scalars(
            select(SigningCredential).where(SigningCredential.id.in_([s.credential_id for s in contract.signatures]))
        )
    }
    sigs = [
        {
            "party": s.party.label_zh,
            "signer": f"{s.signer.name} <{s.signer.email}>",
            "serial": creds[s.credential_id].serial,
            "timestamp": f"{local_time(s.timestamp, '%Y-%m-%d %H:%M:%S')} {ZONE_LABEL}" if s.timestamp else "—",
            "intent": s.intent.split()[0],  # the Chinese of "签署密码 password", as on the stamp
            "sha256": s.pdf_sha256,
        }
        for s in contract.signatures
    ]
    rounds = [
        {
            "number": r.number,
            "hash": r.content_hash,
            "by": r.author.name,
            "at": f"{local_time(r.created_at)} {ZONE_LABEL}",
        }
        for r in contract.rounds
    ]
    font = render.cjk_font(settings.contracts_font_cache, settings.contracts_font)
    return render.render_completion(
        number=contract.number,
        title=contract.title,
        buyer=contract.buyer_firm.name,
        supplier=contract.supplier_firm.name,
        rounds=rounds,
        signatures=sigs,
        signed_sha256=contract.signed_sha256 or "",
        audit_head=audit_head(session, contract.id),
        verify_url=verify_url(settings, contract),
        font_file=font,
    )


def export_contract(session: Session, settings: Settings, contract: Contract, out_dir: Path) -> dict[str, str]:
    """Everything needed to verify without the platform: signed PDF, completion certificate,
    audit log (JSON), the CA root and issuing certificates and the current CRL."""
    if contract.status is not ContractStatus.SIGNED:
        raise ConflictError(msg("status: only a signed contract can be exported"), field="status")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ca = platform_ca(settings)
    from cryptography.hazmat.primitives import serialization

    files = {
        "contract": (f"{contract.number}.pdf", contract.signed_pdf),
        "certificate": (f"{contract.number}-completion.pdf", completion_certificate(session, settings, contract)),
        "audit": (
            f"{contract.number}-audit.json",
            json.dumps(
                {
                    "contract": contract.number,
                    "check": verify_audit(session, contract.id).as_dict(),
                    "entries": audit_entries(session, contract),
                },
                ensure_ascii=False,
                indent=2,
            ).encode("utf-8"),
        ),
        "root": ("chainmatch-root-ca.pem", pki.pem(ca.root.cert)),
        "issuing": ("chainmatch-issuing-ca.pem", pki.pem(ca.issuing.cert)),
        "crl": ("chainmatch.crl.pem", current_crl(session, settings).public_bytes(serialization.Encoding.PEM)),
        "root_crl": (
            "chainmatch-root.crl.pem",
            current_crls(session, settings)[1].public_bytes(serialization.Encoding.PEM),
        ),
    }
    written = {}
    for kind, (name, data) in files.items():
        (out / name).write_bytes(data)
        written[kind] = str(out / name)
    return written


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


def is_staff(user: User) -> bool:
    return user.role in (Role.ORGANIZER, Role.ADMIN)
