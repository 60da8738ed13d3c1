"""Copies the chain data from the database into a graph backend, in batches, idempotently.

``sync_all`` loads everything; ``sync_firm`` writes one firm's profile edges through after an
edit. Both backends get exactly the same nodes and edges from here.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session
from tqdm import tqdm

from graph.protocol import ChainGraph, Edge, Label, Node, Rel
from marketplace.models import (
    Firm,
    FirmIndustry,
    FirmPatent,
    FirmProduct,
    FirmRelation,
    FirmRelationKind,
    Industry,
    IndustryUpstream,
    Patent,
    Product,
    ProductIndustry,
    ProductRelation,
    ProductRelationKind,
)

BATCH = 5000
FIRM_REL = {
    FirmRelationKind.SUPPLIES: Rel.SUPPLIES,
    FirmRelationKind.COOPERATES: Rel.COOPERATES,
    FirmRelationKind.INVESTS: Rel.INVESTS,
    FirmRelationKind.COMPETES: Rel.COMPETES,
    FirmRelationKind.CONTROLS: Rel.CONTROLS,
    FirmRelationKind.JOINT_VENTURE: Rel.JOINT_VENTURE,
    FirmRelationKind.ACQUIRES: Rel.ACQUIRES,
}


def firm_key(firm_id: int) -> str:
    return f"firm:{firm_id}"


def product_key(product_id: int) -> str:
    return f"product:{product_id}"


def industry_key(industry_id: int) -> str:
    return f"industry:{industry_id}"


def patent_key(patent_id: int) -> str:
    return f"patent:{patent_id}"


def key_id(key: str) -> int:
    return int(key.split(":", 1)[1])


def produces_weight(share: float | None) -> float:
    """Edge weight of Firm-PRODUCES->Product: revenue share lifts it from 0.6 up to 1.0."""
    if share is None or share <= 0:
        return 0.6
    return 0.6 + 0.4 * min(1.0, float(share))


def iter_nodes(session: Session) -> Iterator[Node]:
    for fid, name, short, kind, tier, region in session.execute(
        select(Firm.id, Firm.name, Firm.short_name, Firm.kind, Firm.tier, Firm.region)
    ):
        props = {"kind": kind.value, "tier": tier.value if tier else None, "region": region, "full_name": name}
        yield Node(firm_key(fid), Label.FIRM, short or name, props)
    for pid, name in session.execute(select(Product.id, Product.name)):
        yield Node(product_key(pid), Label.PRODUCT, name)
    for iid, name, code in session.execute(select(Industry.id, Industry.name, Industry.code)):
        yield Node(industry_key(iid), Label.INDUSTRY, name, {"code": code})
    for pid, title in session.execute(select(Patent.id, Patent.title)):
        yield Node(patent_key(pid), Label.PATENT, title)


def firm_edges(session: Session, firm_ids: list[int] | None = None) -> Iterator[Edge]:
    def scoped(query, column):  # noqa: ANN001, ANN202
        return query.where(column.in_(firm_ids)) if firm_ids is not None else query

    for fid, pid, w in session.execute(
        scoped(select(FirmProduct.firm_id, FirmProduct.product_id, FirmProduct.weight), FirmProduct.firm_id)
    ):
        yield Edge(firm_key(fid), Rel.PRODUCES, product_key(pid), produces_weight(w))
    for fid, iid in session.execute(
        scoped(select(FirmIndustry.firm_id, FirmIndustry.industry_id), FirmIndustry.firm_id)
    ):
        yield Edge(firm_key(fid), Rel.IN_INDUSTRY, industry_key(iid))
    for fid, pid in session.execute(scoped(select(FirmPatent.firm_id, FirmPatent.patent_id), FirmPatent.firm_id)):
        yield Edge(firm_key(fid), Rel.HOLDS_PATENT, patent_key(pid))


def iter_edges(session: Session) -> Iterator[Edge]:
    yield from firm_edges(session)
    for pid, rel, oid in session.execute(
        select(ProductRelation.product_id, ProductRelation.relation, ProductRelation.other_id)
    ):
        if rel is ProductRelationKind.UPSTREAM_MATERIAL:
            yield Edge(product_key(oid), Rel.UPSTREAM_OF, product_key(pid))
        elif rel is ProductRelationKind.DOWNSTREAM_PRODUCT:
            yield Edge(product_key(pid), Rel.UPSTREAM_OF, product_key(oid))
        else:
            yield Edge(product_key(oid), Rel.SUBCLASS_OF, product_key(pid))
    for pid, iid in session.execute(select(ProductIndustry.product_id, ProductIndustry.industry_id)):
        yield Edge(product_key(pid), Rel.IN_INDUSTRY, industry_key(iid))
    for iid, uid in session.execute(select(IndustryUpstream.industry_id, IndustryUpstream.upstream_id)):
        yield Edge(industry_key(uid), Rel.INDUSTRY_UPSTREAM_OF, industry_key(iid))
    for iid, parent in session.execute(select(Industry.id, Industry.parent_id).where(Industry.parent_id.is_not(None))):
        yield Edge(industry_key(iid), Rel.PART_OF, industry_key(parent))
    for fid, rel, oid in session.execute(select(FirmRelation.firm_id, FirmRelation.relation, FirmRelation.other_id)):
        yield Edge(firm_key(fid), FIRM_REL[rel], firm_key(oid))


def _chunks(items: Iterator, size: int = BATCH) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def sync_all(session: Session, graph: ChainGraph, *, progress: bool = True) -> dict[str, int]:
    """Upsert every node, then every edge. Re-running leaves the same graph."""
    graph.ensure_schema()
    written = {"nodes": 0, "edges": 0}
    with tqdm(desc=f"sync {graph.backend}", unit=" items", disable=not progress) as bar:
        for kind, source, write in (
            ("nodes", iter_nodes, graph.upsert_nodes),
            ("edges", iter_edges, graph.upsert_edges),
        ):
            for chunk in _chunks(source(session)):
                written[kind] += write(chunk)
                bar.update(len(chunk))
    return written


def sync_firm(session: Session, graph: ChainGraph, firm_id: int) -> None:
    """Write one firm (node, products, industries, patents) through after a profile edit."""
    firm = session.get(Firm, firm_id)
    if firm is None:
        return
    edges = list(firm_edges(session, [firm_id]))
    targets = {e.dst for e in edges}
    nodes = [n for n in iter_nodes_for(session, targets)]
    props = {
        "kind": firm.kind.value,
        "tier": firm.tier.value if firm.tier else None,
        "region": firm.region,
        "full_name": firm.name,
    }
    graph.upsert_nodes([Node(firm_key(firm.id), Label.FIRM, firm.short_name or firm.name, props), *nodes])
    graph.replace_firm_edges(firm_key(firm.id), edges)


def iter_nodes_for(session: Session, keys: set[str]) -> Iterator[Node]:
    """Nodes for product/industry/patent keys (used when a profile edit adds new ones)."""
    ids: dict[str, list[int]] = {"product": [], "industry": [], "patent": []}
    for key in keys:
        kind, _, raw = key.partition(":")
        if kind in ids:
            ids[kind].append(int(raw))
    for pid, name in session.execute(select(Product.id, Product.name).where(Product.id.in_(ids["product"]))):
        yield Node(product_key(pid), Label.PRODUCT, name)
    for iid, name, code in session.execute(
        select(Industry.id, Industry.name, Industry.code).where(Industry.id.in_(ids["industry"]))
    ):
        yield Node(industry_key(iid), Label.INDUSTRY, name, {"code": code})
    for pid, title in session.execute(select(Patent.id, Patent.title).where(Patent.id.in_(ids["patent"]))):
        yield Node(patent_key(pid), Label.PATENT, title)
