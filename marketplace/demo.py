"""Demo data for ``make run``: the real data sets when ``../shared/data`` is present, else a small
slice of them shipped in ``marketplace/demo_data`` (cut by :func:`make_slice`), plus a few demo
demands posted by real listed firms (``demo_data/demands.yaml``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from marketplace.contracts.demo import load_demo_contracts
from marketplace.demands.workflow import create_demand
from marketplace.enterprise.demo import load_enterprise_demo
from marketplace.events.demo import load_demo_event
from marketplace.importers.chainkg import import_chainkg
from marketplace.importers.ickg import import_ickg
from marketplace.models import Demand, Firm

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"
SLICE_KEYWORDS = (
    "锂电",
    "电池",
    "正极",
    "负极",
    "电解液",
    "隔膜",
    "磷酸铁锂",
    "三元",
    "储能",
    "光伏",
    "硅片",
    "半导体",
    "芯片",
    "集成电路",
    "晶圆",
    "新能源汽车",
)


def data_source(data_dir: Path) -> Path:
    """The full data when both data sets are there, else the bundled slice."""
    data_dir = Path(data_dir)
    if (data_dir / "chainkg" / "companies.jsonl").is_file() and (data_dir / "ickg25" / "entity2id.txt").is_file():
        return data_dir
    return DEMO_DIR


def load_demo(session: Session, data_dir: Path, *, progress: bool = True, settings: Any = None) -> dict[str, Any]:
    source = data_source(data_dir)
    import_chainkg(session, source / "chainkg", progress=progress)
    import_ickg(session, source / "ickg25", progress=progress)
    added = load_demo_demands(session)
    demo_event = load_demo_event(session)
    contracts = load_demo_contracts(session, settings) if settings is not None else None
    services = load_enterprise_demo(session)
    return {
        "data": str(source),
        "firms": session.scalar(select(func.count()).select_from(Firm)),
        "demo_demands_added": added,
        "demo_event_added": demo_event,
        "demo_contracts": contracts,
        "enterprise_services_added": services,
    }


def load_demo_demands(session: Session) -> int:
    """Create the demo demands whose owner exists and that are not there yet (by title)."""
    specs = yaml.safe_load((DEMO_DIR / "demands.yaml").read_text(encoding="utf-8"))
    added = 0
    for spec in specs:
        spec = dict(spec)
        owner = session.scalar(select(Firm).where(Firm.stock_code == str(spec.pop("owner_stock_code"))))
        if owner is None:
            continue
        exists = session.scalar(
            select(Demand.id).where(Demand.owner_firm_id == owner.id, Demand.title == spec["title"])
        )
        if exists is None:
            create_demand(session, {**spec, "owner_firm_id": owner.id})
            added += 1
    return added


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def make_slice(src: Path, dst: Path, keywords: tuple[str, ...] = SLICE_KEYWORDS) -> dict[str, int]:
    """Cut a self-consistent slice of both data sets around the chains named by ``keywords``."""
    src, dst = Path(src), Path(dst)
    ck_src, ck_dst = src / "chainkg", dst / "chainkg"
    ck_dst.mkdir(parents=True, exist_ok=True)

    def hit(name: str) -> bool:
        return any(k in name for k in keywords)

    company_product = _read_jsonl(ck_src / "company_product.jsonl")
    codes = {r["company"] for r in company_product if hit(r["product"])}
    company_product = [r for r in company_product if r["company"] in codes]
    products = {r["product"] for r in company_product}
    relations = [
        r
        for r in _read_jsonl(ck_src / "product_relations.jsonl")
        if r["product"] in products or r["other"] in products or hit(r["product"]) or hit(r["other"])
    ]
    products |= {r["product"] for r in relations} | {r["other"] for r in relations}
    counts = {
        "companies": _filter_copy(ck_src, ck_dst, "companies.jsonl", lambda r: r["code"] in codes),
        "company_product": len(company_product),
        "products": len(products),
        "product_relations": len(relations),
        "company_industry": _filter_copy(ck_src, ck_dst, "company_industry.jsonl", lambda r: r["company"] in codes),
    }
    _write_jsonl(ck_dst / "company_product.jsonl", company_product)
    _write_jsonl(ck_dst / "product_relations.jsonl", relations)
    _write_jsonl(ck_dst / "products.jsonl", [{"name": p} for p in sorted(products)])
    for name in ("industries.jsonl", "industry_hierarchy.jsonl", "industry_upstream.jsonl"):
        shutil.copyfile(ck_src / name, ck_dst / name)
    counts.update(_slice_ickg(src / "ickg25", dst / "ickg25", hit))
    return counts


def _filter_copy(src: Path, dst: Path, name: str, keep) -> int:  # noqa: ANN001
    rows = [r for r in _read_jsonl(src / name) if keep(r)]
    _write_jsonl(dst / name, rows)
    return len(rows)


def _slice_ickg(src: Path, dst: Path, hit) -> dict[str, int]:  # noqa: ANN001
    dst.mkdir(parents=True, exist_ok=True)
    names = {}
    for line in (src / "entity2id.txt").read_text(encoding="utf-8").splitlines():
        name, eid = line.rsplit("\t", 1)
        names[eid] = name
    seeds = {eid for eid, name in names.items() if hit(name)}
    kept_lines: dict[str, list[str]] = {}
    used: set[str] = set()
    for split in ("train.txt", "valid.txt"):
        quads = [line.split("\t") for line in (src / split).read_text(encoding="utf-8").splitlines() if line]
        firms = {q[0] for q in quads if q[0] in seeds or q[2] in seeds}
        keep = [q for q in quads if q[0] in seeds or q[2] in seeds or q[0] in firms]
        kept_lines[split] = ["\t".join(q) for q in keep]
        used |= {q[0] for q in keep} | {q[2] for q in keep}
    (dst / "entity2id.txt").write_text("".join(f"{names[e]}\t{e}\n" for e in sorted(used, key=int)), encoding="utf-8")
    for split, lines in kept_lines.items():
        (dst / split).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    for name in ("relation2id.txt", "time2id.txt"):
        shutil.copyfile(src / name, dst / name)
    return {"ickg_entities": len(used), "ickg_quads": sum(len(v) for v in kept_lines.values())}
