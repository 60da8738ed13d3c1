"""Policy matching (惠企政策): organizers publish policies with structured eligibility rules
(:mod:`marketplace.enterprise.policy_rules`), each firm sees the policies it qualifies for and
those it nearly qualifies for (one rule short), with every rule's verdict explained; a new or
changed policy notifies the firms it newly reaches. Also free-text search over policies and who
may manage and view them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import acting_user_ids
from marketplace.enterprise.policy_rules import (
    RULES,
    Columns,
    FirmFacts,
    describe_rule,
    effective_rules,
    load_facts,
    validate_rules,
)
from marketplace.errors import InputError, NotFoundError, msg
from marketplace.models import Policy, PolicyReach, PolicyStatus, Role, utcnow
from marketplace.regions import parse_region

# --- policies ----------------------------------------------------------------------------------

_TEXT_FIELDS = ("title", "issuer", "document_number", "benefit", "original_text", "source_url")


def _parse_policy_fields(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    allowed = set(_TEXT_FIELDS) | {"region", "valid_from", "valid_to", "rules"}
    unknown = set(data) - allowed
    if unknown:
        field_name = sorted(unknown)[0]
        raise InputError(
            msg(
                "%(field)s: unknown policy field; known: %(known)s", field=field_name, known=", ".join(sorted(allowed))
            ),
            field=field_name,
        )
    out: dict[str, Any] = {}
    for key in _TEXT_FIELDS:
        if key in data:
            out[key] = (data[key] or "").strip() if isinstance(data[key], str) or data[key] is None else data[key]
    for key in ("title", "issuer"):
        if (key in data or not partial) and not out.get(key):
            message = (
                msg("title: a policy needs its title") if key == "title" else msg("issuer: a policy needs its issuer")
            )
            raise InputError(message, field=key)
    if "source_url" in out and out["source_url"] and not str(out["source_url"]).startswith(("http://", "https://")):
        raise InputError(msg("source_url: give the http(s) address of the original document"), field="source_url")
    if "region" in data:
        out["region"] = parse_region(data["region"])
    for key in ("valid_from", "valid_to"):
        if key in data:
            out[key] = _date(data[key], key)
    if "rules" in data:
        out["rules"] = validate_rules(data["rules"])
    return out


def _date(value: Any, key: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError(msg("%(key)s: use YYYY-MM-DD, not %(value)r", key=key, value=value), field=key) from None


def create_policy(
    session: Session, data: dict[str, Any], *, organization_id: int | None, publish: bool = False
) -> Policy:
    fields = _parse_policy_fields(data, partial=False)
    policy = Policy(organization_id=organization_id, status=PolicyStatus.DRAFT, **{"rules": [], **fields})
    _check_dates(policy)
    session.add(policy)
    session.flush()
    if publish:
        publish_policy(session, policy)
    return policy


def update_policy(session: Session, policy: Policy, data: dict[str, Any]) -> dict[str, Any]:
    """Change a policy; a published one is re-matched and the firms it newly reaches are told."""
    fields = _parse_policy_fields(data, partial=True)
    for key, value in fields.items():
        setattr(policy, key, value)
    _check_dates(policy)
    policy.updated_at = utcnow()
    session.flush()
    if policy.status is PolicyStatus.PUBLISHED:
        return refresh_reach(session, policy)
    return {"notified_firms": 0, "no_longer": 0}


def _check_dates(policy: Policy) -> None:
    if policy.valid_from and policy.valid_to and policy.valid_from > policy.valid_to:
        raise InputError(msg("valid_to: the policy ends before it starts"), field="valid_to")


def publish_policy(session: Session, policy: Policy) -> dict[str, Any]:
    if policy.status is PolicyStatus.WITHDRAWN:
        raise InputError(msg("status: a withdrawn policy cannot be published again; create a new one"), field="status")
    policy.status = PolicyStatus.PUBLISHED
    session.flush()
    return refresh_reach(session, policy)


def withdraw_policy(session: Session, policy: Policy) -> None:
    policy.status = PolicyStatus.WITHDRAWN
    session.flush()


def refresh_reach(
    session: Session, policy: Policy, facts: list[FirmFacts] | None = None, *, notify: bool = True
) -> dict[str, Any]:
    """Recompute which firms the policy applies to; notify the users of firms it newly reaches."""
    cols = Columns(facts if facts is not None else load_facts(session))
    mask = np.ones(cols.n, dtype=bool)
    for rule in effective_rules(policy):
        mask &= RULES[rule["field"]].mask(rule, cols)
    now_reached = {int(i) for i in cols.ids[mask]}
    before = set(session.scalars(select(PolicyReach.firm_id).where(PolicyReach.policy_id == policy.id)))
    new = sorted(now_reached - before)
    gone = before - now_reached
    if gone:
        for reach in session.scalars(
            select(PolicyReach).where(PolicyReach.policy_id == policy.id, PolicyReach.firm_id.in_(gone))
        ):
            session.delete(reach)
    session.add_all(PolicyReach(policy_id=policy.id, firm_id=fid) for fid in new)
    session.flush()
    users = []
    if new and notify:
        users = acting_user_ids(session, new)
    if users:
        _notify_new_policy(session, policy, users)
    return {
        "reached": len(now_reached),
        "notified_firms": len(new),
        "notified_users": len(users),
        "no_longer": len(gone),
    }


def _notify_new_policy(session: Session, policy: Policy, user_ids: list[int]) -> None:
    from marketplace.accounts.notifications import notify

    notify(
        session,
        user_ids=user_ids,
        kind="policy",
        title_zh=f"新的惠企政策适用于贵企业：{policy.title}",
        title_en=f"A support policy now applies to your firm: {policy.title}",
        body_zh=f"{policy.issuer}：{policy.benefit}"[:500],
        body_en=f"Issued by {policy.issuer}. Open it to see the eligibility check."[:500],
        link=f"/policies/{policy.id}",
    )


def get_policy(session: Session, policy_id: int) -> Policy:
    policy = session.get(Policy, policy_id)
    if policy is None:
        raise NotFoundError(
            msg("policy %(policy_id)s does not exist; list them with `policies list`", policy_id=policy_id),
            field="policy_id",
        )
    return policy


def list_policies(session: Session, *, user: Any = None, include_drafts: bool = False) -> list[Policy]:
    query = select(Policy).order_by(Policy.id.desc())
    if not include_drafts:
        query = query.where(Policy.status == PolicyStatus.PUBLISHED)
    elif user is not None and user.role is not Role.ADMIN:
        query = query.where(
            or_(Policy.status == PolicyStatus.PUBLISHED, Policy.organization_id == user.organization_id)
        )
    return list(session.scalars(query))


def in_force(policy: Policy, today: date | None = None) -> bool:
    today = today or date.today()
    return (
        policy.status is PolicyStatus.PUBLISHED
        and (policy.valid_from is None or policy.valid_from <= today)
        and (policy.valid_to is None or policy.valid_to >= today)
    )


def policy_dict(policy: Policy) -> dict[str, Any]:
    return {
        "policy_id": policy.id,
        "title": policy.title,
        "issuer": policy.issuer,
        "document_number": policy.document_number,
        "region": policy.region,
        "valid_from": policy.valid_from.isoformat() if policy.valid_from else None,
        "valid_to": policy.valid_to.isoformat() if policy.valid_to else None,
        "benefit": policy.benefit,
        "rules": policy.rules,
        "rules_text": [describe_rule(r) for r in effective_rules(policy)],
        "original_text": policy.original_text,
        "source_url": policy.source_url,
        "status": policy.status.value,
        "in_force": in_force(policy),
        "organization_id": policy.organization_id,
    }


# --- matching ----------------------------------------------------------------------------------


def evaluate(policy: Policy, facts: FirmFacts) -> dict[str, Any]:
    """Every rule's verdict for one firm, and the overall status: qualifies, nearly (exactly one
    rule unmet: it is named) or not."""
    verdicts = [RULES[r["field"]].check(r, facts) for r in effective_rules(policy)]
    unmet = [v for v in verdicts if not v.met]
    status = "qualifies" if not unmet else ("nearly" if len(unmet) == 1 else "no")
    return {
        "policy_id": policy.id,
        "title": policy.title,
        "issuer": policy.issuer,
        "benefit": policy.benefit,
        "status": status,
        "missing": [v.as_dict() for v in unmet],
        "rules": [v.as_dict() for v in verdicts],
    }


def match_firm(
    session: Session, firm_id: int, *, policies: list[Policy] | None = None, include_no: bool = False
) -> list[dict[str, Any]]:
    """The policies in force a firm qualifies for, then those it nearly qualifies for."""
    facts = load_facts(session, [firm_id])
    if not facts:
        raise NotFoundError(msg("firm %(firm_id)s does not exist", firm_id=firm_id), field="firm_id")
    policies = policies if policies is not None else [p for p in list_policies(session) if in_force(p)]
    if not include_no:  # screen with the plain checks; explain only the policies within one rule
        policies = [p for p in policies if _within_one_rule(p, facts[0])]
    results = [evaluate(p, facts[0]) for p in policies]
    order = {"qualifies": 0, "nearly": 1, "no": 2}
    results = [r for r in results if include_no or r["status"] != "no"]
    return sorted(results, key=lambda r: (order[r["status"]], -r["policy_id"]))


def _within_one_rule(policy: Policy, facts: FirmFacts) -> bool:
    unmet = 0
    for rule in effective_rules(policy):
        if not RULES[rule["field"]].holds(rule, facts):
            unmet += 1
            if unmet > 1:
                return False
    return True


@dataclass
class BatchResult:
    firm_ids: np.ndarray
    policy_ids: list[int]
    unmet: np.ndarray  # policies x firms: number of unmet rules

    def qualifying(self, policy_index: int) -> np.ndarray:
        return self.firm_ids[self.unmet[policy_index] == 0]

    def nearly(self, policy_index: int) -> np.ndarray:
        return self.firm_ids[self.unmet[policy_index] == 1]

    def counts(self) -> dict[str, int]:
        return {"qualifies": int((self.unmet == 0).sum()), "nearly": int((self.unmet == 1).sum())}


def match_batch(policies: list[Policy], facts: list[FirmFacts] | Columns) -> BatchResult:
    """All firms against all policies at once: unmet-rule counts, one row per policy."""
    cols = facts if isinstance(facts, Columns) else Columns(facts)
    unmet = np.zeros((len(policies), cols.n), dtype=np.int16)
    for i, policy in enumerate(policies):
        row = unmet[i]
        for rule in effective_rules(policy):
            row += ~RULES[rule["field"]].mask(rule, cols)
    return BatchResult(cols.ids, [p.id for p in policies], unmet)


def search_policies(session: Session, text: str, *, limit: int = 20, encoder: Any = None) -> list[dict[str, Any]]:
    """Free-text search over published policies. The Chinese lexical channel (jieba + bigram BM25:
    title weighs most, then the benefit, then the original text) finds the words; with an
    ``encoder`` (the engine's dense model, which reads Chinese) the dense channel also finds
    policies that say the same thing in other words. Both are fused by weighted CombSUM."""
    from embeddings.base import Hit
    from embeddings.fusion import combsum
    from embeddings.lexical import LexicalChannel

    text = (text or "").strip()
    if not text:
        raise InputError(msg("q: the search text is empty"), field="q")
    policies = list_policies(session)
    if not policies:
        return []
    channel = LexicalChannel(
        [p.id for p in policies],
        {
            "title": (2.0, [p.title for p in policies]),
            "benefit": (1.0, [f"{p.benefit} {p.issuer}" for p in policies]),
            "text": (0.5, [p.original_text or "" for p in policies]),
        },
    )
    channels = {"lexical": [h for h in channel.search(text, len(policies)) if h.score > 0]}
    if encoder is not None:
        docs = [f"{p.title}\n{p.benefit}\n{(p.original_text or '')[:500]}" for p in policies]
        vectors = encoder.encode(docs)
        query = encoder.encode([text], is_query=True)[0]
        similarity = vectors @ query
        channels["dense"] = [
            Hit(doc_id=p.id, score=float(sim), channel="dense")
            for p, sim in zip(policies, similarity, strict=True)
            if sim > DENSE_FLOOR
        ]
    by_id = {p.id: p for p in policies}
    fused = combsum(channels, {"lexical": 1.0, "dense": DENSE_WEIGHT})
    return [{**policy_dict(by_id[doc_id]), "score": round(score, 4)} for doc_id, score in fused[:limit]]


# Dense evidence counts half as much as the words; below this cosine a policy is not related.
DENSE_WEIGHT = 0.5
DENSE_FLOOR = 0.3


# --- permission --------------------------------------------------------------------------------


def can_manage_policy(user: Any, policy: Policy | None = None) -> bool:
    """Organizers publish policies and edit their own organization's; admins edit any. Published
    policies are readable by everyone; drafts only by those who may manage them."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    if user.role is Role.ADMIN:
        return True
    if user.role is not Role.ORGANIZER:
        return False
    return policy is None or policy.organization_id == user.organization_id


def can_view_policy(user: Any, policy: Policy) -> bool:
    return policy.status is PolicyStatus.PUBLISHED or can_manage_policy(user, policy)
