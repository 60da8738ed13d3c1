"""Firm capability profiles: what the matching engine knows about each firm, read from the
database in bulk, with a content hash so embeddings are only recomputed when a profile changes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from embeddings.cache import content_hash
from embeddings.lexical import is_noise
from marketplace.models import (
    Firm,
    FirmIndustry,
    FirmKind,
    FirmName,
    FirmPatent,
    FirmProduct,
    Industry,
    Patent,
    Product,
    Tier,
)

MAX_PATENTS_IN_TEXT = 30
MAX_PRODUCTS_IN_TEXT = 40


@dataclass(slots=True)
class Profile:
    firm_id: int
    name: str
    short_name: str | None
    stock_code: str | None
    kind: FirmKind
    tier: Tier | None
    region: str | None
    description: str = ""
    names: list[str] = field(default_factory=list)
    products: list[tuple[str, float | None]] = field(default_factory=list)  # best share first
    industries: list[str] = field(default_factory=list)
    patents: list[str] = field(default_factory=list)

    @property
    def product_names(self) -> list[str]:
        return [p for p, _ in self.products]

    def product_field(self) -> str:
        """Product names, main products (share >= 20%) repeated to weigh them up."""
        parts = []
        for name, share in self.products[:MAX_PRODUCTS_IN_TEXT]:
            parts.append(name)
            if share is not None and share >= 0.2:
                parts.append(name)
        return " ".join(parts)

    def lexical_text(self) -> str:
        """The document the BM25 channel indexes: all fields in one, with field weights applied
        as repetition (BM25F-style): main products twice, industries twice, patents and names once.
        Measured on the patent→holder task, one weighted document beats a sum of per-field BM25
        scores (R@10 0.43 vs 0.32): short ICKG profiles otherwise win on whichever field is tiny."""
        industries = " ".join(self.industries)
        return " ".join(
            [self.product_field(), industries, industries, "；".join(self.patents), *self.names, self.description]
        )

    def text(self) -> str:
        """The text a dense encoder reads for this firm."""
        lines = [self.short_name or self.name]
        if self.products:
            lines.append("产品：" + "、".join(self.product_names[:MAX_PRODUCTS_IN_TEXT]))
        if self.industries:
            lines.append("行业：" + "、".join(self.industries))
        if self.patents:
            lines.append("专利：" + "；".join(self.patents[:MAX_PATENTS_IN_TEXT]))
        if self.description:
            lines.append(self.description)
        return "\n".join(lines)

    @property
    def content_hash(self) -> str:
        return content_hash(self.text())


def load_profiles(session: Session, firm_ids: list[int] | None = None) -> dict[int, Profile]:
    """Profiles of all firms (or of ``firm_ids``) with at least one fact to match on."""

    def scoped(query, column):  # noqa: ANN001, ANN202
        return query.where(column.in_(firm_ids)) if firm_ids is not None else query

    profiles: dict[int, Profile] = {}
    firm_rows = session.execute(
        scoped(
            select(
                Firm.id,
                Firm.name,
                Firm.short_name,
                Firm.stock_code,
                Firm.kind,
                Firm.tier,
                Firm.region,
                Firm.description,
            ),
            Firm.id,
        )
    )
    for fid, name, short, code, kind, tier, region, desc in firm_rows:
        profiles[fid] = Profile(fid, name, short, code, kind, tier, region, desc or "")
    names: dict[int, list[str]] = defaultdict(list)
    for fid, name in session.execute(scoped(select(FirmName.firm_id, FirmName.name), FirmName.firm_id)):
        names[fid].append(name)
    for fid, prof in profiles.items():
        prof.names = list(dict.fromkeys([prof.name, *(n for n in names.get(fid, []))]))
    product_rows = session.execute(
        scoped(
            select(FirmProduct.firm_id, Product.name, FirmProduct.weight).join(
                Product, Product.id == FirmProduct.product_id
            ),
            FirmProduct.firm_id,
        )
    )
    for fid, pname, weight in product_rows:
        if fid in profiles and not is_noise(pname) and (weight is None or weight >= 0):
            profiles[fid].products.append((pname, min(weight, 1.0) if weight is not None else None))
    for prof in profiles.values():
        prof.products.sort(key=lambda p: -(p[1] or 0.0))
    industry_rows = session.execute(
        scoped(
            select(FirmIndustry.firm_id, Industry.name).join(Industry, Industry.id == FirmIndustry.industry_id),
            FirmIndustry.firm_id,
        )
    )
    for fid, iname in industry_rows:
        if fid in profiles:
            profiles[fid].industries.append(iname)
    patent_rows = session.execute(
        scoped(
            select(FirmPatent.firm_id, Patent.title).join(Patent, Patent.id == FirmPatent.patent_id), FirmPatent.firm_id
        )
    )
    for fid, title in patent_rows:
        if fid in profiles:
            profiles[fid].patents.append(title)
    return {fid: p for fid, p in profiles.items() if p.products or p.industries or p.patents or p.description}
