"""Invitees from the chain: the event's chain focus is expanded into segments through the product
relations (upstream materials, sub-products and parts, downstream uses); large firms whose open
demands lie in the chain, or that make its downstream products, are ranked on the buyer side;
firms that can meet those demands are ranked on the SME side by the matching engine (lexical,
dense and chain-graph channels); each with its reasons. Segments without any candidate are
listed so the organizer sees the chain's gaps.

Reasons are data, as the matching engine's are (:mod:`marketplace.matching.reasons`): the engine's own kinds,
plus this module's ``INVITEE_KINDS`` (a demand in the chain, a chain product the firm makes, a firm
relation, a demand the firm can meet, a chain word in the firm's name). :func:`render_reason` writes
either in the reader's language; names, titles and products from the data stay as written."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import organization_viewer, visible_demands_clause
from marketplace.events.events import CHANGING, require_status
from marketplace.events.registrations import invitations_closed, invite_firms
from marketplace.matching import reasons as why
from marketplace.models import (
    Demand,
    DemandStatus,
    Event,
    EventInvitation,
    EventRegistration,
    Firm,
    FirmKind,
    FirmProduct,
    FirmRelation,
    FirmRelationKind,
    InvitationStatus,
    Product,
    ProductRelation,
    ProductRelationKind,
    RegistrationStatus,
)

SEGMENTS = {
    "core": ("核心产品", "Core products"),
    "upstream": ("上游原材料", "Upstream materials"),
    "parts": ("细分产品与零部件", "Sub-products and parts"),
    "downstream": ("下游应用", "Downstream uses"),
}
MAX_PER_SEGMENT = 40


def segment_label(key: str, locale: object = "zh") -> str:
    """A chain segment's name in the reader's language."""
    zh, en = SEGMENTS[key]
    return en if why.language(locale) == "en" else zh


def stored_segment(key: str) -> str:
    """The segment as invitations and registrations store it (both languages: the statistics and
    the report group by this text)."""
    zh, en = SEGMENTS[key]
    return f"{zh} / {en}"


def segment_name(value: str | None, locale: object = "zh") -> str | None:
    """A segment key or a stored segment (:func:`stored_segment`) in the reader's language; any
    other text as written."""
    if not value:
        return value
    for key in SEGMENTS:
        if value in (key, stored_segment(key)):
            return segment_label(key, locale)
    return value


# --- reasons --------------------------------------------------------------------------------------

INVITEE_KINDS = (
    "demand_in_chain",
    "makes_chain_product",
    "firm_relation",
    "can_meet_demand",
    "name_in_chain",
    "refilled",  # a proposal placed in a freed place by a reschedule
)
_REASON_TEXT = {
    "zh": {
        "demand_in_chain": "需求《{title}》涉及产业链：{terms}",
        "demand_on_board": "需求《{title}》：本活动发榜需求",
        "makes_chain_product": "生产{segment}：{product}",
        "makes_chain_product_buyer": "生产{segment}：{product}（产业链买方）",
        "supplies": "与{firm}有供应关系（产业链企业关系）",
        "cooperates": "与{firm}有合作关系（产业链企业关系）",
        "joint_venture": "与{firm}有合资关系（产业链企业关系）",
        "can_meet_demand": "可满足需求《{title}》（{owner}）",
        "name_in_chain": "企业名称涉及产业链：{term}",
        "refilled": "重新排程时补入空出的洽谈位",
        "list": "、",
    },
    "en": {
        "demand_in_chain": "Demand “{title}” is in the chain: {terms}",
        "demand_on_board": "Demand “{title}” is on this event's board",
        "makes_chain_product": "Makes {product} ({segment})",
        "makes_chain_product_buyer": "Makes {product} ({segment}; a buyer in the chain)",
        "supplies": "Supplies {firm} (chain firm relation)",
        "cooperates": "Cooperates with {firm} (chain firm relation)",
        "joint_venture": "Joint venture with {firm} (chain firm relation)",
        "can_meet_demand": "Can meet demand “{title}” ({owner})",
        "name_in_chain": "Firm name mentions the chain: {term}",
        "refilled": "Placed in a freed place when the event was rescheduled",
        "list": ", ",
    },
}
_STATUS_TEXT = {"zh": ("邀请：{}", "报名：{}"), "en": ("Invitation: {}", "Registration: {}")}


def render_reason(reason: why.Reason | str, locale: object = "zh") -> str:
    """One invitee reason (this module's kinds, the engine's, or a stored sentence) as a sentence
    in the reader's language."""
    kind = reason.get("kind") if isinstance(reason, dict) else None
    if kind not in INVITEE_KINDS:
        return why.render(reason, locale)
    lang = why.language(locale)
    text = _REASON_TEXT[lang]
    if kind == "demand_in_chain":
        terms = reason.get("terms") or []
        if not terms:
            return text["demand_on_board"].format(title=reason.get("title", ""))
        return text[kind].format(title=reason.get("title", ""), terms=text["list"].join(terms))
    if kind == "makes_chain_product":
        segment = reason.get("segment", "")
        label = segment_label(segment, lang) if segment in SEGMENTS else str(segment)
        template = text["makes_chain_product_buyer" if reason.get("buyer") else kind]
        return template.format(segment=label, product=reason.get("product", ""))
    if kind == "firm_relation":
        relation = str(reason.get("relation", ""))
        if relation in text:
            return text[relation].format(firm=reason.get("firm", ""))
        try:
            verb = FirmRelationKind(relation).label(lang)
        except ValueError:
            verb = relation
        return f"{verb}: {reason.get('firm', '')}"
    if kind == "can_meet_demand":
        return text[kind].format(title=reason.get("title", ""), owner=reason.get("owner", ""))
    return text[kind].format(term=reason.get("term", ""))


def render_reasons(reasons: list[why.Reason | str] | None, locale: object = "zh") -> list[str]:
    return [render_reason(r, locale) for r in reasons or []]


def status_label(status: str | None, locale: object = "zh") -> str | None:
    """An invitee's status code (:func:`_statuses`: an invitation status, or ``registration_`` and
    a registration status) as a label in the reader's language."""
    if not status:
        return None
    lang = why.language(locale)
    invitation, registration = _STATUS_TEXT[lang]
    try:
        if status.startswith("registration_"):
            return registration.format(RegistrationStatus(status.removeprefix("registration_")).label(lang))
        return invitation.format(InvitationStatus(status).label(lang))
    except ValueError:
        return status


def chain_segments(session: Session, event: Event) -> dict[str, dict[int, str]]:
    """Segment -> {product id: name} from the focus products and the product relations."""
    names = [n for n in event.focus_products or [] if n]
    if not names:
        return {key: {} for key in SEGMENTS}
    core = dict(session.execute(select(Product.id, Product.name).where(Product.name.in_(names))).all())
    if len(core) < len(names):  # a focus name may be broader than the vocabulary's own names
        for name in names:
            for pid, pname in session.execute(
                select(Product.id, Product.name).where(Product.name.contains(name)).limit(5)
            ):
                core.setdefault(pid, pname)
    ids = list(core)
    rel = ProductRelation
    parts = _related(
        session, select(rel.other_id).where(rel.product_id.in_(ids), rel.relation == ProductRelationKind.SUBCLASS)
    )
    base = ids + list(parts)
    upstream = _related(
        session,
        select(rel.other_id).where(rel.product_id.in_(base), rel.relation == ProductRelationKind.UPSTREAM_MATERIAL),
    )
    downstream = _related(
        session,
        select(rel.product_id).where(rel.other_id.in_(base), rel.relation == ProductRelationKind.UPSTREAM_MATERIAL),
    ) | _related(
        session,
        select(rel.other_id).where(rel.product_id.in_(base), rel.relation == ProductRelationKind.DOWNSTREAM_PRODUCT),
    )
    segments = {"core": core, "parts": parts, "upstream": upstream, "downstream": downstream}
    seen: set[int] = set()
    for key in ("core", "parts", "upstream", "downstream"):  # a product sits in its first segment
        segments[key] = {k: v for k, v in list(segments[key].items())[:MAX_PER_SEGMENT] if k not in seen}
        seen |= set(segments[key])
    return segments


def _related(session: Session, ids_query: Any) -> dict[int, str]:
    ids = set(session.scalars(ids_query))
    if not ids:
        return {}
    return dict(session.execute(select(Product.id, Product.name).where(Product.id.in_(ids))).all())


@dataclass
class Candidate:
    firm_id: int
    name: str
    side: str
    score: float = 0.0
    segment: str | None = None  # a key of SEGMENTS
    reasons: list[why.Reason] = field(default_factory=list)
    demand_ids: list[int] = field(default_factory=list)

    def add(self, score: float, reason: why.Reason) -> None:
        self.score += score
        if reason not in self.reasons:
            self.reasons.append(reason)

    def as_dict(self, status: str | None, locale: object = "zh") -> dict[str, Any]:
        """``reasons``, ``segment_label`` and ``status_label`` in ``locale``; ``reason_data``, the
        ``segment`` key and the ``status`` code as data."""
        return {
            "firm_id": self.firm_id,
            "firm": self.name,
            "side": self.side,
            "score": round(self.score, 4),
            "segment": self.segment,
            "segment_label": segment_label(self.segment, locale) if self.segment else None,
            "reasons": render_reasons(self.reasons[:6], locale),
            "reason_data": self.reasons[:6],
            "demand_ids": self.demand_ids,
            "status": status,
            "status_label": status_label(status, locale),
        }


def chain_demands(
    session: Session, event: Event, segments: dict[str, dict[int, str]]
) -> list[tuple[Demand, list[str]]]:
    """Open demands that name a product or industry of the chain, with the terms they name;
    demands on the event's board come first."""
    terms = {n for seg in segments.values() for n in seg.values()} | set(event.focus_products or [])
    terms |= set(event.focus_industries or [])
    board = {link.demand_id for link in event.demands}
    out = []
    for demand in session.scalars(
        select(Demand)
        .where(
            or_(Demand.status == DemandStatus.OPEN, Demand.id.in_(board)),
            visible_demands_clause(organization_viewer(event.organization_id)),  # trust policy
        )
        .order_by(Demand.id)
    ):
        text = demand.match_text()
        hits = sorted({t for t in terms if len(t) >= 2 and t in text}, key=len, reverse=True)[:5]
        if hits or demand.id in board:
            out.append((demand, hits))
    out.sort(key=lambda row: (row[0].id not in board, -len(row[1]), row[0].id))
    return out


def invite_suggestions(
    session: Session, engine: Any, event: Event, *, limit: int = 30, per_demand: int = 15, locale: object = "zh"
) -> dict[str, Any]:
    """Ranked invitees on both sides with reasons, the chain segments and their gaps; the text
    (reasons, segment and status labels) in ``locale``."""
    segments = chain_segments(session, event)
    product_segment = {pid: key for key, products in segments.items() for pid in products}
    firm_products: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if product_segment:
        for firm_id, pid in session.execute(
            select(FirmProduct.firm_id, FirmProduct.product_id).where(FirmProduct.product_id.in_(list(product_segment)))
        ):
            firm_products[firm_id].append((product_segment[pid], segments[product_segment[pid]][pid]))
    kinds = dict(session.execute(select(Firm.id, Firm.kind).where(Firm.id.in_(list(firm_products) or [0]))).all())
    names: dict[int, str] = {}
    large: dict[int, Candidate] = {}
    sme: dict[int, Candidate] = {}

    def cand(pool: dict[int, Candidate], firm: Firm | int, side: str) -> Candidate:
        firm_id = firm if isinstance(firm, int) else firm.id
        if firm_id not in names:
            f = firm if isinstance(firm, Firm) else session.get(Firm, firm_id)
            names[firm_id] = f.display_name
        if firm_id not in pool:
            pool[firm_id] = Candidate(firm_id, names[firm_id], side)
        return pool[firm_id]

    demands = chain_demands(session, event, segments)
    for demand, hits in demands:
        c = cand(large, demand.owner, "large")
        c.add(1.0 + 0.2 * len(hits), {"kind": "demand_in_chain", "title": demand.title, "terms": list(hits)})
        c.demand_ids.append(demand.id)
    for firm_id, products in firm_products.items():
        kind = kinds.get(firm_id)
        for seg, pname in products[:3]:
            if kind is FirmKind.LARGE and seg in ("core", "downstream"):
                reason = {"kind": "makes_chain_product", "segment": seg, "product": pname, "buyer": True}
                cand(large, firm_id, "large").add(0.3, reason)
            elif kind is not FirmKind.LARGE:
                c = cand(sme, firm_id, "sme")
                c.add(0.2, {"kind": "makes_chain_product", "segment": seg, "product": pname, "buyer": False})
                c.segment = c.segment or seg
    _related_smes(session, large, lambda fid: cand(sme, fid, "sme"))
    _named_smes(session, event, lambda fid: cand(sme, fid, "sme"))
    if engine is not None:
        for demand, _hits in demands[:20]:
            results = engine.match(
                demand.match_text(),
                demand.type,
                top_k=per_demand * 3,
                exclude=[demand.owner_firm_id],
                region_preference=demand.region_preference,
            )
            taken = 0
            for result in results:
                firm = session.get(Firm, result.firm_id)
                if firm is None or firm.kind is FirmKind.LARGE:
                    continue
                c = cand(sme, firm, "sme")
                c.add(
                    result.score,
                    {"kind": "can_meet_demand", "title": demand.title, "owner": demand.owner.display_name},
                )
                for reason in result.reasons[:3]:
                    if reason not in c.reasons:
                        c.reasons.append(reason)
                c.demand_ids.append(demand.id)
                taken += 1
                if taken >= per_demand:
                    break
    status = _statuses(session, event)
    ranked_large = sorted(large.values(), key=lambda c: (-c.score, c.firm_id))[:limit]
    ranked_sme = sorted(sme.values(), key=lambda c: (-c.score, c.firm_id))[:limit]
    ranked = ranked_large + ranked_sme
    made = _product_names(session, [c.firm_id for c in ranked])
    covered: set[str] = set()
    for c in ranked:  # a firm covers a chain product it makes, or a narrower kind of it (锂电池隔膜 → 隔膜)
        texts = made.get(c.firm_id, []) + [names[c.firm_id]]
        for key in SEGMENTS:
            hits = {p for p in segments[key].values() if any(p in t for t in texts)}
            if hits:
                covered |= hits
                c.segment = c.segment or key
    seg_rows = []
    for key, products in segments.items():
        have = sorted(n for n in products.values() if n in covered)
        missing = sorted(n for n in products.values() if n not in covered)
        seg_rows.append(
            {
                "segment": key,
                "label": segment_label(key, locale),
                "products": sorted(products.values()),
                "covered": have,
                "gaps": missing,
                "candidates": sum(1 for c in ranked_large + ranked_sme if c.segment == key),
            }
        )
    return {
        "large": [c.as_dict(status.get(c.firm_id), locale) for c in ranked_large],
        "sme": [c.as_dict(status.get(c.firm_id), locale) for c in ranked_sme],
        "segments": seg_rows,
        "demands": [
            {"demand_id": d.id, "title": d.title, "owner": d.owner.display_name, "terms": h} for d, h in demands
        ],
    }


RELATION_REASONS = {
    FirmRelationKind.SUPPLIES: 0.4,
    FirmRelationKind.COOPERATES: 0.25,
    FirmRelationKind.JOINT_VENTURE: 0.2,
}


def _related_smes(session: Session, large: dict[int, Candidate], add: Any) -> None:
    """SMEs that supply the chain's large firms, or cooperate with them (ICKG firm relations)."""
    if not large:
        return
    buyers = list(large)
    rel = FirmRelation
    rows = session.execute(
        select(rel.firm_id, rel.other_id, rel.relation).where(
            rel.relation.in_(list(RELATION_REASONS)), or_(rel.firm_id.in_(buyers), rel.other_id.in_(buyers))
        )
    ).all()
    kinds = {
        f: k
        for f, k in session.execute(
            select(Firm.id, Firm.kind).where(Firm.id.in_({r[0] for r in rows} | {r[1] for r in rows} or {0}))
        )
    }
    for firm_id, other_id, relation in rows:
        partner, buyer = (firm_id, other_id) if other_id in large else (other_id, firm_id)
        if relation is FirmRelationKind.SUPPLIES and partner != firm_id:
            continue  # the large firm supplies it: a customer, not a supplier
        if partner == buyer or kinds.get(partner) is not FirmKind.SME:
            continue
        reason = {"kind": "firm_relation", "relation": relation.value, "firm": large[buyer].name}
        add(partner).add(RELATION_REASONS[relation], reason)


def _named_smes(session: Session, event: Event, add: Any, limit: int = 200) -> None:
    """SMEs whose registered name names the chain (锂电, 隔膜, 正极 ...): a weak signal for the many
    SMEs that have no product list yet."""
    terms = {t for t in event.focus_products or [] if len(t) >= 2}
    if not terms:
        return
    query = select(Firm.id, Firm.name).where(Firm.kind == FirmKind.SME, or_(*(Firm.name.contains(t) for t in terms)))
    for firm_id, name in session.execute(query.order_by(Firm.id).limit(limit)):
        hit = next(t for t in sorted(terms, key=len, reverse=True) if t in name)
        add(firm_id).add(0.15, {"kind": "name_in_chain", "term": hit})


def _product_names(session: Session, firm_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    if firm_ids:
        rows = session.execute(
            select(FirmProduct.firm_id, Product.name)
            .join(Product, Product.id == FirmProduct.product_id)
            .where(FirmProduct.firm_id.in_(firm_ids))
        )
        for firm_id, name in rows:
            out[firm_id].append(name)
    return out


def _statuses(session: Session, event: Event) -> dict[int, str]:
    out = {
        firm_id: status.value
        for firm_id, status in session.execute(
            select(EventInvitation.firm_id, EventInvitation.status).where(EventInvitation.event_id == event.id)
        )
    }
    for firm_id, status in session.execute(
        select(EventRegistration.firm_id, EventRegistration.status).where(EventRegistration.event_id == event.id)
    ):
        out[firm_id] = f"registration_{status.value}"
    return out


def invite_from_suggestions(
    session: Session, engine: Any, event: Event, firm_ids: list[int], suggestions: dict[str, Any] | None = None
) -> list[EventInvitation]:
    """Bulk-invite chosen firms, keeping each one's reasons (as data, rendered in the reader's
    language when shown) and chain segment (as :func:`stored_segment`). Refused (409) once the
    event is finished, before the suggestions are computed."""
    require_status(event, CHANGING, invitations_closed(event))
    suggestions = suggestions or invite_suggestions(session, engine, event, limit=200)
    rows = {r["firm_id"]: r for r in suggestions["large"] + suggestions["sme"]}
    reasons = {fid: rows[fid].get("reason_data", rows[fid]["reasons"]) for fid in firm_ids if fid in rows}
    sent = invite_firms(session, event, firm_ids, reasons)
    for inv in sent:
        if inv.firm_id in rows:
            seg = rows[inv.firm_id]["segment"]
            inv.segment = stored_segment(seg) if seg in SEGMENTS else seg
    session.flush()
    return sent
