"""Importer for the ICKG temporal industrial-chain graph (entity2id/relation2id/time2id and
train/valid quads, see ../shared/data/README.md).

ICKG entities carry no type, so each one is typed (company, industry, patent, product) from the
roles it plays in the relations: the head of 持有专利 is a company and its tail a patent, both ends
of 合作 are companies, and so on. Where a role allows two types, the name decides (registered
company suffixes, "...行业"). Each entity gets the type with the most votes.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from marketplace.errors import DataFileError
from marketplace.importers.base import (
    FirmDirectory,
    ImportReport,
    KeyCache,
    LinkSet,
    RowErrors,
    iter_tsv,
    require_file,
)
from marketplace.models import (
    Firm,
    FirmIndustry,
    FirmKind,
    FirmName,
    FirmPatent,
    FirmProduct,
    FirmRelation,
    FirmRelationKind,
    Industry,
    IndustryUpstream,
    NameKind,
    Patent,
    Product,
    ProductIndustry,
    ProductRelation,
    ProductRelationKind,
)
from marketplace.regions import infer_region

SOURCE = "ickg"
COMPANY, INDUSTRY, PATENT, PRODUCT = "company", "industry", "patent", "product"
TYPE_PRIORITY = (COMPANY, PATENT, INDUSTRY, PRODUCT)
SPLITS = ("train.txt", "valid.txt")
HIERARCHY = "industry hierarchy"

# relation name -> (allowed head types, allowed tail types)
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "涉足行业": ((COMPANY,), (INDUSTRY,)),
    "归属于行业": ((COMPANY, PRODUCT), (INDUSTRY,)),
    "包含": ((INDUSTRY,), (INDUSTRY, PRODUCT)),
    "合作": ((COMPANY,), (COMPANY,)),
    "上游于": ((INDUSTRY, PRODUCT), (INDUSTRY, PRODUCT)),
    "持有专利": ((COMPANY,), (PATENT,)),
    "供给": ((COMPANY,), (COMPANY,)),
    "并购": ((COMPANY,), (COMPANY,)),
    "投资": ((COMPANY,), (COMPANY,)),
    "母公司/控股": ((COMPANY,), (COMPANY,)),
    "竞争": ((COMPANY,), (COMPANY,)),
    "基于专利生产": ((COMPANY,), (PRODUCT,)),
    "合资": ((COMPANY,), (COMPANY,)),
}
FIRM_RELATIONS = {
    "合作": FirmRelationKind.COOPERATES,
    "供给": FirmRelationKind.SUPPLIES,
    "并购": FirmRelationKind.ACQUIRES,
    "投资": FirmRelationKind.INVESTS,
    "母公司/控股": FirmRelationKind.CONTROLS,
    "竞争": FirmRelationKind.COMPETES,
    "合资": FirmRelationKind.JOINT_VENTURE,
}

_COMPANY_NAME = re.compile(
    r"(公司|集团|股份|有限|企业|厂$|银行|研究院|研究所|大学|学院|基金|资本|合伙|控股|"
    r"\b(Inc|Ltd|LLC|Corp|Co|GmbH|AG|SA|PLC|Group|Holdings)\b\.?)",
    re.IGNORECASE,
)
_INDUSTRY_NAME = re.compile(r"(行业|产业|业|领域|板块|赛道)$")


def looks_like_company(name: str) -> bool:
    return bool(_COMPANY_NAME.search(name))


def looks_like_industry(name: str) -> bool:
    return bool(_INDUSTRY_NAME.search(name))


def _vote_for(name: str, allowed: tuple[str, ...]) -> str:
    if len(allowed) == 1:
        return allowed[0]
    if COMPANY in allowed and looks_like_company(name):
        return COMPANY
    if INDUSTRY in allowed and looks_like_industry(name):
        return INDUSTRY
    return allowed[-1]


def type_entities(names: dict[int, str], quads: list[Quad]) -> dict[int, str]:
    """Give every entity that takes part in a relation one type, by majority of its roles."""
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for q in quads:
        heads, tails = ROLES[q.relation]
        votes[q.head][_vote_for(names[q.head], heads)] += 1
        votes[q.tail][_vote_for(names[q.tail], tails)] += 1
    return {
        eid: max(TYPE_PRIORITY, key=lambda t: (counts[t], -TYPE_PRIORITY.index(t))) for eid, counts in votes.items()
    }


@dataclass(frozen=True)
class Quad:
    head: int
    relation: str
    tail: int
    when: date | None


def import_ickg(
    session: Session,
    directory: Path,
    *,
    skip_bad: bool = False,
    progress: bool = True,
    splits: tuple[str, ...] = SPLITS,
) -> ImportReport:
    """Import ICKG quads from ``splits`` (train and valid by default) into the open transaction."""
    directory = Path(directory)
    report = ImportReport("ickg")
    errors = RowErrors(report, skip_bad)
    names = _read_ids(require_file(directory, "entity2id.txt"), errors, progress, "entity")
    relations = _read_ids(require_file(directory, "relation2id.txt"), errors, progress, "relation")
    unknown = sorted(set(relations.values()) - set(ROLES))
    if unknown:
        raise DataFileError(
            str(directory / "relation2id.txt"), 0, f"unknown relation(s) {unknown}; expected {sorted(ROLES)}"
        )
    times = _read_times(require_file(directory, "time2id.txt"), errors, progress)
    quads: list[Quad] = []
    for split in splits:
        quads += _read_quads(require_file(directory, split), names, relations, times, errors, progress)
    types = type_entities(names, quads)
    report.notes["entities without relations (not imported)"] = len(names) - len(types)
    for t in TYPE_PRIORITY:
        report.notes[f"entities typed {t}"] = sum(1 for v in types.values() if v == t)
    _Writer(session, report, names, types).write(quads)
    session.flush()
    return report


def _read_ids(path: Path, errors: RowErrors, progress: bool, what: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for lineno, (name, raw_id) in iter_tsv(path, errors, 2, progress):
        if not raw_id.strip().isdigit():
            errors.bad(path, lineno, f"{what} id {raw_id!r} is not a non-negative integer")
            continue
        if not name.strip():
            errors.bad(path, lineno, f"empty {what} name")
            continue
        out[int(raw_id)] = name.strip()
    return out


def _read_times(path: Path, errors: RowErrors, progress: bool) -> dict[int, date]:
    out: dict[int, date] = {}
    for lineno, text in _comma_rows(path, errors, progress):
        raw_id, _, raw_date = text.partition(",")
        try:
            out[int(raw_id)] = date.fromisoformat(raw_date.strip())
        except ValueError:
            errors.bad(path, lineno, f"expected 'id,YYYY-MM-DD', found {text!r}")
    return out


def _comma_rows(path: Path, errors: RowErrors, progress: bool):
    for lineno, parts in iter_tsv(path, errors, 1, progress):
        yield lineno, parts[0]


def _read_quads(
    path: Path,
    names: dict[int, str],
    relations: dict[int, str],
    times: dict[int, date],
    errors: RowErrors,
    progress: bool,
) -> list[Quad]:
    out = []
    for lineno, parts in iter_tsv(path, errors, 4, progress):
        try:
            head, rel, tail, when = (int(p) for p in parts)
        except ValueError:
            errors.bad(path, lineno, f"expected four integer ids, found {parts!r}")
            continue
        missing = [f"entity {i}" for i in (head, tail) if i not in names]
        missing += [f"relation {rel}"] if rel not in relations else []
        if missing:
            errors.bad(path, lineno, f"unknown {', '.join(missing)}")
            continue
        out.append(Quad(head, relations[rel], tail, times.get(when)))
    return out


class _Writer:
    """Creates the typed entities and writes each quad to the table its relation belongs in."""

    def __init__(self, session: Session, report: ImportReport, names: dict[int, str], types: dict[int, str]) -> None:
        self.session = session
        self.report = report
        self.names = names
        self.types = types
        self.firm_ids = self._firms()
        self.industries = self._industries()
        self.products = KeyCache(session, Product.__table__, "name")
        report.added["products"] += self.products.ensure(
            {"name": names[e], "source": SOURCE} for e, t in types.items() if t == PRODUCT
        )
        self.patents = KeyCache(session, Patent.__table__, "title")
        report.added["patents"] += self.patents.ensure(
            {"title": names[e], "source": SOURCE} for e, t in types.items() if t == PATENT
        )

    def _firms(self) -> dict[int, int]:
        directory = FirmDirectory(self.session)
        out: dict[int, int] = {}
        for eid, t in self.types.items():
            if t != COMPANY:
                continue
            name = self.names[eid]
            firm_id = directory.find([name])
            if firm_id is None:
                firm = _new_firm(name)
                self.session.add(firm)
                self.session.flush()
                firm_id = firm.id
                directory.remember(firm_id, [name])
                self.report.added["firms"] += 1
                self.report.added["firm_names"] += 1
            else:
                self._mark_source(firm_id, name)
            out[eid] = firm_id
        return out

    def _mark_source(self, firm_id: int, name: str) -> None:
        firm = self.session.get(Firm, firm_id)
        if firm is not None and SOURCE not in firm.source.split("+"):
            firm.source = f"{firm.source}+{SOURCE}"
            if name not in {n.name for n in firm.names}:
                firm.names.append(FirmName(name=name, kind=NameKind.ALIAS, source=SOURCE))
                self.report.added["firm_names"] += 1

    def _industries(self) -> dict[int, int]:
        """ICKG industries reuse a Shenwan industry of the same name, else get a named one."""
        cache = KeyCache(self.session, Industry.__table__, "key")
        shenwan: dict[str, int] = {}
        for key, iid in cache.ids.items():
            if key.startswith("sw:"):
                shenwan.setdefault(self.session.get(Industry, iid).name, iid)
        wanted = {e: self.names[e] for e, t in self.types.items() if t == INDUSTRY}
        self.report.added["industries"] += cache.ensure(
            {"key": f"name:{n}", "name": n, "source": SOURCE} for n in wanted.values() if n not in shenwan
        )
        return {e: shenwan.get(n) or cache.get(f"name:{n}") for e, n in wanted.items()}

    def write(self, quads: list[Quad]) -> None:
        s = self.session
        links = {
            "firm_industries": LinkSet(s, FirmIndustry.__table__, ("firm_id", "industry_id")),
            "firm_patents": LinkSet(s, FirmPatent.__table__, ("firm_id", "patent_id")),
            "firm_products": LinkSet(s, FirmProduct.__table__, ("firm_id", "product_id")),
            "firm_relations": LinkSet(s, FirmRelation.__table__, ("firm_id", "relation", "other_id")),
            "product_industries": LinkSet(s, ProductIndustry.__table__, ("product_id", "industry_id")),
            "product_relations": LinkSet(s, ProductRelation.__table__, ("product_id", "relation", "other_id")),
            "industry_upstream": LinkSet(s, IndustryUpstream.__table__, ("industry_id", "upstream_id")),
        }
        parents: dict[int, int] = {}
        for q in quads:
            row = self._row(q, parents)
            if row is None:
                self.report.notes[f"{q.relation}: ends of other types (skipped)"] += 1
                continue
            table, values = row
            if table != HIERARCHY:
                links[table].add(values)
        for table, link in links.items():
            link.flush()
            self.report.added[table] += link.added
        self.report.notes["包含: industry hierarchy links"] = len(parents)
        self._set_parents(parents)

    def _row(self, q: Quad, parents: dict[int, int]) -> tuple[str, dict] | None:
        ht, tt = self.types[q.head], self.types[q.tail]
        base = {"source": SOURCE}
        if q.relation in ("涉足行业", "归属于行业") and tt == INDUSTRY:
            if ht == COMPANY:
                return "firm_industries", {
                    **base,
                    "firm_id": self.firm_ids[q.head],
                    "industry_id": self.industries[q.tail],
                }
            if ht == PRODUCT:
                return "product_industries", {
                    **base,
                    "product_id": self._product(q.head),
                    "industry_id": self.industries[q.tail],
                }
        if q.relation == "持有专利" and (ht, tt) == (COMPANY, PATENT):
            return "firm_patents", {
                **base,
                "firm_id": self.firm_ids[q.head],
                "patent_id": self.patents.get(self.names[q.tail]),
                "observed_on": q.when,
            }
        if q.relation == "基于专利生产" and (ht, tt) == (COMPANY, PRODUCT):
            return "firm_products", {
                **base,
                "firm_id": self.firm_ids[q.head],
                "product_id": self._product(q.tail),
                "weight": None,
            }
        if q.relation in FIRM_RELATIONS and (ht, tt) == (COMPANY, COMPANY) and q.head != q.tail:
            kind = FIRM_RELATIONS[q.relation]
            return "firm_relations", {
                **base,
                "firm_id": self.firm_ids[q.head],
                "relation": kind.value,
                "other_id": self.firm_ids[q.tail],
                "observed_on": q.when,
            }
        if q.relation == "上游于" and q.head != q.tail:
            # "A 上游于 B": A is upstream of B, i.e. B takes A as material / B's industry buys from A's.
            if (ht, tt) == (PRODUCT, PRODUCT):
                return "product_relations", {
                    **base,
                    "product_id": self._product(q.tail),
                    "relation": ProductRelationKind.UPSTREAM_MATERIAL.value,
                    "other_id": self._product(q.head),
                }
            if (ht, tt) == (INDUSTRY, INDUSTRY):
                return "industry_upstream", {
                    **base,
                    "industry_id": self.industries[q.tail],
                    "upstream_id": self.industries[q.head],
                    "support": 1,
                }
        if q.relation == "包含" and ht == INDUSTRY and q.head != q.tail:
            if tt == INDUSTRY:
                parents.setdefault(self.industries[q.tail], self.industries[q.head])
                return HIERARCHY, {}
            if tt == PRODUCT:
                return "product_industries", {
                    **base,
                    "product_id": self._product(q.tail),
                    "industry_id": self.industries[q.head],
                }
        return None

    def _product(self, eid: int) -> int:
        return self.products.get(self.names[eid])

    def _set_parents(self, parents: dict[int, int]) -> None:
        for child, parent in parents.items():
            industry = self.session.get(Industry, child)
            if industry is not None and industry.parent_id is None and child != parent:
                industry.parent_id = parent


def _new_firm(name: str) -> Firm:
    """A firm known only from ICKG: unlisted registered companies are taken for SMEs."""
    facts = {"name": SOURCE}
    kind = FirmKind.UNKNOWN
    if name.endswith("有限公司") and "股份有限公司" not in name:
        kind = FirmKind.SME
        facts["kind"] = "inferred:unlisted-limited-company"
    region = infer_region(name)
    if region:
        facts["region"] = "inferred:registered-name"
    firm = Firm(name=name, kind=kind, region=region, source=SOURCE, fact_sources=facts)
    firm.names.append(
        FirmName(name=name, kind=NameKind.REGISTERED if looks_like_company(name) else NameKind.ALIAS, source=SOURCE)
    )
    return firm
