"""The contract's audit log: every action appended, in the transaction of the change it records,
to a hash chain (each entry hashes its content and the previous entry's hash); the notices that
tell the other side of a step; checking the chain; and the log as each reader may see it.

The hash input (:func:`_entry_hash`) is a contract of its own: entries already written must keep
verifying, so it never changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.accounts.notifications import notify
from marketplace.accounts.permissions import acting_user_ids
from marketplace.contracts.access import acting_firm, authorize
from marketplace.errors import Term
from marketplace.models import Contract, ContractAuditEntry, Party, User, utcnow

GENESIS = "0" * 64


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


def record_access(session: Session, actor: User, contract: Contract, action: str, **data: Any) -> None:
    """Audit a read (view, download): permission first, then the entry."""
    authorize(actor, contract, "download" if action == "download" else "view")
    audit(session, contract, action, actor, **data)
