"""Matching-quality evaluation on tasks built from the visible data (nothing withheld is used).

- patent → holder: ICKG valid.txt 持有专利 quads; the engine is built from ChainKG plus ICKG
  train.txt only, so the query patent is never in any profile. Query: the patent title (rd).
- product → producer: company→product edges hidden from ChainKG (a seeded sample); the query is
  the product name (supply_chain) and the answer the company whose edge was hidden.
  The filtered variant ranks without the firms that visibly list the product (the "filtered"
  setting of link prediction): it measures finding a firm whose listing of the product is missing.
- upstream supplier: for a product with upstream materials, the query says "we make P and need
  its raw materials" without naming them; any firm making one of P's upstream materials counts.
  P@10 is the share of the top 10 that make an upstream material (and not P itself).
- paraphrase: hand-written demands (marketplace/matching/eval_data/paraphrase.yaml) that describe a product
  by its use or a synonym without naming it; the product's makers in the evaluation database count.

Each task is run with BM25 only, dense only, graph only, the co-occurrence (latent) channel only
and the fused engine; metrics are R@1, R@10, R@50 (the first correct firm within the top k: Hit@k),
P@10 and MRR (over the top 50). Three breakdowns say where the misses are: patent→holder by what
the holder's profile holds, product→producer by how many other firms list the hidden product, and
paraphrase Hit@10 with the makers of kinds of the product counted too (三元正极材料 for 正极材料),
next to the key as written.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from tqdm import tqdm

from embeddings.lexical import is_noise
from marketplace.config import Settings
from marketplace.db import init_db, session_scope
from marketplace.importers.chainkg import FILES as CHAINKG_FILES
from marketplace.importers.chainkg import import_chainkg
from marketplace.importers.ickg import import_ickg
from marketplace.matching.engine import MatchEngine
from marketplace.models import Firm, FirmName

CONFIGS: dict[str, list[str]] = {
    "bm25": ["lexical"],
    "dense": ["dense"],
    "graph": ["graph"],
    "latent": ["cooccur"],
    "fused": ["lexical", "dense", "graph", "cooccur"],
}
K = 50


@dataclass
class Query:
    qid: str
    text: str
    type: str
    gold: set[int]
    ignore: set[int] = field(default_factory=set)  # firms left out of the ranking (filtered setting)
    product: str = ""  # the product whose makers answer it (product→producer, paraphrase)


@dataclass
class TaskResult:
    task: str
    config: str
    n: int
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


PARAPHRASE_FILE = Path(__file__).resolve().parent / "eval_data" / "paraphrase.yaml"
METRICS = ("R@1", "R@10", "R@50", "P@10", "nP@10", "MRR")


def metrics(ranked: list[list[int]], gold: list[set[int]]) -> dict[str, float]:
    """R@k: the first correct firm within the top k (Hit@k); P@10: correct firms in the top 10
    over 10; nP@10: over min(10, correct firms) — P@10 cannot exceed that share when fewer than
    10 firms are correct (see :func:`precision_bound`); MRR over the top 50."""
    n = len(gold) or 1
    out = {"R@1": 0.0, "R@10": 0.0, "R@50": 0.0, "P@10": 0.0, "nP@10": 0.0, "MRR": 0.0}
    for ids, g in zip(ranked, gold, strict=True):
        correct = sum(1 for fid in ids[:10] if fid in g)
        out["P@10"] += correct / 10
        out["nP@10"] += correct / max(1, min(10, len(g)))
        rank = next((i for i, fid in enumerate(ids[:K], start=1) if fid in g), None)
        if rank is None:
            continue
        out["MRR"] += 1.0 / rank
        for k in (1, 10, 50):
            if rank <= k:
                out[f"R@{k}"] += 1.0
    return {k: round(v / n, 4) for k, v in out.items()}


def precision_bound(queries: list[Query]) -> float:
    """The highest P@10 any ranking can reach: a query with n < 10 correct firms scores n/10."""
    return round(sum(min(10, len(q.gold)) / 10 for q in queries) / (len(queries) or 1), 4)


def _eval_settings(base: Settings, name: str) -> Settings:
    home = Path(base.instance_dir) / "eval" / name
    return Settings(
        instance_dir=home,
        data_dir=base.data_dir,
        embedding_model=base.embedding_model,
        embedding_device=base.embedding_device,
        query_prefix=base.query_prefix,
    )


def _fresh_db(settings: Settings) -> None:
    db = Path(settings.instance_dir) / "marketplace.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    init_db(settings)


def hide_product_edges(src: Path, dst: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """Copy ChainKG to ``dst`` without ``n`` sampled company→product edges; return the hidden ones.
    Only edges of companies that keep at least three other products, and no noise products."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in CHAINKG_FILES:
        if name != "company_product.jsonl":
            shutil.copyfile(src / name, dst / name)
    rows = [json.loads(line) for line in (src / "company_product.jsonl").open(encoding="utf-8") if line.strip()]
    per_company: dict[str, int] = {}
    for r in rows:
        per_company[r["company"]] = per_company.get(r["company"], 0) + 1
    candidates = [
        i
        for i, r in enumerate(rows)
        if per_company[r["company"]] >= 4 and not is_noise(r["product"]) and len(r["product"]) >= 3
    ]
    rng = random.Random(seed)
    hidden_idx: set[int] = set()
    used: dict[str, int] = {}
    for i in rng.sample(candidates, len(candidates)):
        company = rows[i]["company"]
        if used.get(company, 0) >= 1:
            continue  # at most one hidden edge per company
        used[company] = 1
        hidden_idx.add(i)
        if len(hidden_idx) >= n:
            break
    with (dst / "company_product.jsonl").open("w", encoding="utf-8") as fh:
        for i, r in enumerate(rows):
            if i not in hidden_idx:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return [rows[i] for i in sorted(hidden_idx)]


def build_base(
    settings: Settings, data_dir: Path, hidden: int, seed: int, progress: bool, reuse: bool = False
) -> tuple[Settings, list[dict]]:
    """One database: ChainKG minus hidden edges, plus ICKG train.txt only. With ``reuse``, the
    database an earlier run built with the same ``hidden`` and ``seed`` is used as it is."""
    s = _eval_settings(settings, "base")
    stamp = Path(s.instance_dir) / "hidden.json"
    if reuse and stamp.is_file() and (Path(s.instance_dir) / "marketplace.db").is_file():
        saved = json.loads(stamp.read_text(encoding="utf-8"))
        if saved.get("hidden") == hidden and saved.get("seed") == seed and saved.get("data_dir") == str(data_dir):
            return s, saved["rows"]
    stamp.unlink(missing_ok=True)
    _fresh_db(s)
    work = Path(s.instance_dir) / "chainkg"
    hidden_rows = hide_product_edges(data_dir / "chainkg", work, hidden, seed)
    with session_scope(s) as session:
        import_chainkg(session, work, progress=progress)
        import_ickg(session, data_dir / "ickg25", progress=progress, splits=("train.txt",))
    record = {"hidden": hidden, "seed": seed, "data_dir": str(data_dir), "rows": hidden_rows}
    stamp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    return s, hidden_rows


def patent_queries(settings: Settings, data_dir: Path, limit: int, seed: int) -> tuple[list[Query], int]:
    ickg = data_dir / "ickg25"
    names = {}
    for line in (ickg / "entity2id.txt").open(encoding="utf-8"):
        name, eid = line.rstrip("\n").rsplit("\t", 1)
        names[int(eid)] = name
    rel = {
        line.rsplit("\t", 1)[0]: int(line.rsplit("\t", 1)[1])
        for line in (ickg / "relation2id.txt").read_text(encoding="utf-8").splitlines()
    }
    holds = rel["持有专利"]
    pairs = []
    for line in (ickg / "valid.txt").open(encoding="utf-8"):
        h, r, t, _ = (int(x) for x in line.split("\t"))
        if r == holds:
            pairs.append((names[h], names[t]))
    with session_scope(settings) as session:
        by_name = dict(session.execute(select(FirmName.name, FirmName.firm_id)).tuples().all())
        by_name.update(dict(session.execute(select(Firm.name, Firm.id)).tuples().all()))
    queries, missing = [], 0
    for i, (holder, title) in enumerate(pairs):
        fid = by_name.get(holder)
        if fid is None:
            missing += 1
            continue
        queries.append(Query(f"patent-{i}", title, "rd", {fid}))
    rng = random.Random(seed)
    return (rng.sample(queries, min(limit, len(queries))) if limit else queries), missing


def product_queries(settings: Settings, hidden: list[dict]) -> list[Query]:
    with session_scope(settings) as session:
        by_code = dict(
            session.execute(select(Firm.stock_code, Firm.id).where(Firm.stock_code.is_not(None))).tuples().all()
        )
    return [
        Query(f"product-{i}", r["product"], "supply_chain", {by_code[r["company"]]}, product=r["product"])
        for i, r in enumerate(hidden)
        if r["company"] in by_code
    ]


def producers_by_product(settings: Settings) -> dict[str, set[int]]:
    """Product name -> the firms that make it, in the evaluation database."""
    from marketplace.models import FirmProduct, Product

    makers: dict[str, set[int]] = {}
    with session_scope(settings) as session:
        for name, fid in session.execute(
            select(Product.name, FirmProduct.firm_id).join(FirmProduct, FirmProduct.product_id == Product.id)
        ):
            makers.setdefault(name, set()).add(fid)
    return makers


def filtered_product_queries(queries: list[Query], makers: dict[str, set[int]]) -> list[Query]:
    """product→producer without the firms that visibly list the product: only queries whose
    answer is not one of them (it never is: its listing is the hidden edge)."""
    out = []
    for q in queries:
        visible = makers.get(q.text, set()) - q.gold
        out.append(Query(q.qid + "-filtered", q.text, q.type, q.gold, visible, q.product))
    return out


def paraphrase_queries(settings: Settings, path: Path = PARAPHRASE_FILE) -> tuple[list[Query], list[str]]:
    """The hand-written paraphrase demands whose product some firm makes in the evaluation
    database, and the products that none does (reported, not scored)."""
    specs = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    makers = producers_by_product(settings)
    queries, missing = [], []
    for i, spec in enumerate(specs):
        gold = makers.get(spec["product"], set())
        if not gold:
            missing.append(spec["product"])
            continue
        queries.append(
            Query(f"paraphrase-{i}", spec["text"], spec.get("type", "supply_chain"), gold, product=spec["product"])
        )
    return queries, missing


def upstream_queries(settings: Settings, data_dir: Path, limit: int, seed: int) -> list[Query]:
    """Products whose upstream materials some firm makes; gold = the makers of those materials."""
    from marketplace.models import FirmProduct, Product

    with session_scope(settings) as session:
        makers: dict[str, set[int]] = {}
        for name, fid in session.execute(
            select(Product.name, FirmProduct.firm_id).join(FirmProduct, FirmProduct.product_id == Product.id)
        ):
            makers.setdefault(name, set()).add(fid)
    materials: dict[str, set[str]] = {}
    for line in (data_dir / "chainkg" / "product_relations.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        if r["relation"] == "upstream_material" and r["other"] in makers and not is_noise(r["product"]):
            materials.setdefault(r["product"], set()).add(r["other"])
    queries = []
    for i, (product, mats) in enumerate(sorted(materials.items())):
        gold = set().union(*(makers[m] for m in mats)) - makers.get(product, set())
        if gold and len(product) >= 2:
            queries.append(
                Query(f"upstream-{i}", f"我们生产{product}，需要寻找上游原材料和零部件供应商", "supply_chain", gold)
            )
    rng = random.Random(seed)
    return rng.sample(queries, min(limit, len(queries)))


def run_task(
    engine: MatchEngine, name: str, queries: list[Query], configs: dict[str, list[str]], progress: bool
) -> tuple[list[TaskResult], dict[str, list[list[int]]]]:
    """Metrics per channel configuration, and the ranked firm ids of each."""
    out, rankings = [], {}
    for config, channels in configs.items():
        started = time.perf_counter()
        ranked = []
        for q in tqdm(queries, desc=f"{name}/{config}", disable=not progress, leave=False):
            hits = engine.match(q.text, q.type, top_k=K + len(q.ignore), channels=channels)
            ranked.append([r.firm_id for r in hits if r.firm_id not in q.ignore][:K])
        result = TaskResult(name, config, len(queries), metrics(ranked, [q.gold for q in queries]))
        result.metrics["P@10 bound"] = precision_bound(queries)
        result.seconds = round(time.perf_counter() - started, 1)
        out.append(result)
        rankings[config] = ranked
    return out, rankings


def holder_breakdown(
    engine: MatchEngine, queries: list[Query], rankings: dict[str, list[list[int]]]
) -> list[dict[str, Any]]:
    """patent→holder split by what the holder's profile holds: other patents, or only industries
    (and products). For the second group, how many firms share the holder's rarest industry bounds
    what any text ranking can do: with a perfect industry pick and no other evidence, a group of
    n firms puts the holder in the top 10 with probability min(1, 10/n)."""
    firms_per_industry: dict[str, int] = {}
    for p in engine.profiles.values():
        for name in set(p.industries):
            firms_per_industry[name] = firms_per_industry.get(name, 0) + 1
    groups: dict[str, list[int]] = {"holder has other patents": [], "holder known by industries only": []}
    bound = []
    for i, q in enumerate(queries):
        p = engine.profiles.get(next(iter(q.gold)))
        if p is None:
            continue
        if p.patents:
            groups["holder has other patents"].append(i)
        elif p.industries and not p.products:
            groups["holder known by industries only"].append(i)
            bound.append(min(1.0, 10 / min(firms_per_industry[n] for n in p.industries)))
    out = []
    for group, idx in groups.items():
        row: dict[str, Any] = {"group": group, "queries": len(idx)}
        for config, ranked in rankings.items():
            row[config] = metrics([ranked[i] for i in idx], [queries[i].gold for i in idx])["R@10"]
        if group.endswith("industries only") and bound:
            row["R@10 bound (perfect industry pick)"] = round(sum(bound) / len(bound), 3)
        out.append(row)
    return out


def makers_of_kinds(makers: dict[str, set[int]], product: str) -> set[int]:
    """The firms that list ``product`` or a kind of it: a product name that ends with it. A Chinese
    compound noun names its head last, so 三元正极材料 is a 正极材料 and 单相电能表 an 电能表, while
    电解液添加剂 is not an 电解液. One-character names have no kinds (too many compounds end with
    them)."""
    firms = set(makers.get(product, set()))
    if len(product) >= 2:
        for name, ids in makers.items():
            if name != product and name.endswith(product):
                firms |= ids
    return firms


def paraphrase_breakdown(
    queries: list[Query], rankings: dict[str, list[list[int]]], makers: dict[str, set[int]]
) -> dict[str, Any]:
    """Paraphrase Hit@10 with the answer key as written (firms listing the exact product name) and
    with the makers of its kinds counted too (:func:`makers_of_kinds`). The key names one product
    by its exact name, so a firm that lists only 三元正极材料 or 单相智能电能表 is a miss for a demand
    describing 正极材料 or 电能表; the second number shows how many of the misses are such firms.
    The queries and the key are not changed; the rule is mechanical and applied to every demand."""
    wider = [makers_of_kinds(makers, q.product) | q.gold for q in queries]
    out: dict[str, Any] = {
        "queries": len(queries),
        "demands whose answers grow": sum(w != q.gold for w, q in zip(wider, queries, strict=True)),
    }
    for config, ranked in rankings.items():
        out[config] = {
            "key as written": metrics(ranked, [q.gold for q in queries])["R@10"],
            "kinds counted": metrics(ranked, wider)["R@10"],
        }
    return out


def product_breakdown(
    queries: list[Query], rankings: dict[str, list[list[int]]], makers: dict[str, set[int]]
) -> list[dict[str, Any]]:
    """product→producer R@10 split by how many other firms visibly list the hidden product. Most
    hidden products are one firm's own revenue line that no other firm names (物流园区管理业务,
    频谱管理): the firm must be found from its other lines. Where five or more firms list the
    product, ranking them above the firm whose listing is hidden is right, and the query counts
    as a miss."""
    buckets = {"no other firm lists it": (0, 0), "1–4 other firms list it": (1, 4), "5 or more list it": (5, 10**9)}
    out = []
    for group, (lo, hi) in buckets.items():
        idx = [i for i, q in enumerate(queries) if lo <= len(makers.get(q.product, set()) - q.gold) <= hi]
        row: dict[str, Any] = {"group": group, "queries": len(idx)}
        for config, ranked in rankings.items():
            row[config] = metrics([ranked[i] for i in idx], [queries[i].gold for i in idx])["R@10"] if idx else None
        out.append(row)
    return out


def build_tasks(
    base: Settings, data_dir: Path, hidden_rows: list[dict], limit: int, seed: int, tasks: Iterable[str] | None = None
) -> dict[str, Any]:
    """The evaluation's query sets by task name (``tasks`` picks some; all by default)."""
    wanted = set(tasks) if tasks else set(TASKS)
    out: dict[str, Any] = {}
    if "patent→holder" in wanted:
        out["patent→holder"], out["_patent_missing"] = patent_queries(base, data_dir, limit, seed)
    products = product_queries(base, hidden_rows)
    if "product→producer" in wanted:
        out["product→producer"] = products
    if "product→producer filtered" in wanted:
        out["product→producer filtered"] = filtered_product_queries(products, producers_by_product(base))
    if "upstream supplier" in wanted:
        out["upstream supplier"] = upstream_queries(base, data_dir, min(limit, 500), seed)
    if "paraphrase" in wanted:
        out["paraphrase"], out["_paraphrase_missing"] = paraphrase_queries(base)
    return out


TASKS = ("patent→holder", "product→producer", "product→producer filtered", "upstream supplier", "paraphrase")


def evaluate(
    settings: Settings,
    *,
    data_dir: Path | None = None,
    limit: int = 1000,
    hidden: int = 500,
    seed: int = 13,
    progress: bool = True,
    encoder_factory: Callable[[], Any] | None = None,
    configs: dict[str, list[str]] | None = None,
    task_names: Iterable[str] | None = None,
    use_dense: bool = True,
    reuse: bool = False,
) -> dict[str, Any]:
    data_dir = Path(data_dir or settings.data_dir)
    started = time.perf_counter()
    base, hidden_rows = build_base(settings, data_dir, hidden, seed, progress, reuse)
    encoder = encoder_factory() if encoder_factory else None
    if not use_dense:
        configs = {c: chans for c, chans in (configs or CONFIGS).items() if chans != ["dense"]}
    with session_scope(base) as session:
        engine = MatchEngine(base, encoder=encoder, use_dense=use_dense, progress=progress).build(session)
    build_seconds = round(time.perf_counter() - started, 1)
    tasks = build_tasks(base, data_dir, hidden_rows, limit, seed, task_names)
    missing = tasks.pop("_patent_missing", 0)
    paraphrase_missing = tasks.pop("_paraphrase_missing", [])
    results, breakdown, products, paraphrase = [], [], [], {}
    makers = producers_by_product(base) if {"product→producer", "paraphrase"} & set(tasks) else {}
    for name, queries in tasks.items():
        task_results, rankings = run_task(engine, name, queries, configs or CONFIGS, progress)
        results += task_results
        if name == "patent→holder":
            breakdown = holder_breakdown(engine, queries, rankings)
        elif name == "product→producer":
            products = product_breakdown(queries, rankings, makers)
        elif name == "paraphrase":
            paraphrase = paraphrase_breakdown(queries, rankings, makers)
    return {
        "model": engine.encoder.model_id if engine.encoder else None,
        "profiles": len(engine.profiles),
        "build_seconds": build_seconds,
        "patent_queries_without_known_holder": missing,
        "paraphrase_products_without_maker": paraphrase_missing,
        "results": [r.__dict__ for r in results],
        "patent_holder_breakdown": breakdown,
        "product_producer_breakdown": products,
        "paraphrase_kinds": paraphrase,
    }


def markdown_table(report: dict[str, Any]) -> str:
    lines = [
        "| task | channels | queries | R@1 | R@10 | R@50 | P@10 | nP@10 | MRR | P@10 bound | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        cells = [r["task"], r["config"], r["n"], *(f"{r['metrics'][k]:.3f}" for k in (*METRICS, "P@10 bound"))]
        lines.append("| " + " | ".join(str(c) for c in [*cells, r["seconds"]]) + " |")
    rows = report.get("patent_holder_breakdown") or []
    if rows:
        keys = [k for k in rows[0] if k not in ("group", "queries")]
        lines += ["", "| patent→holder R@10 by holder | queries | " + " | ".join(keys) + " | bound |"]
        lines.append("|---|---|" + "---|" * (len(keys) + 1))
        for row in rows:
            bound = row.get("R@10 bound (perfect industry pick)", "")
            cells = [row["group"], row["queries"], *(row.get(k, "") for k in keys), bound]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    rows = report.get("product_producer_breakdown") or []
    if rows:
        keys = [k for k in rows[0] if k not in ("group", "queries")]
        lines += ["", "| product→producer R@10 by the hidden product | queries | " + " | ".join(keys) + " |"]
        lines.append("|---|---|" + "---|" * len(keys))
        for row in rows:
            cells = [row["group"], row["queries"], *("" if row[k] is None else row[k] for k in keys)]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    para = report.get("paraphrase_kinds") or {}
    configs = [k for k in para if isinstance(para[k], dict)]
    if configs:
        lines += ["", "| paraphrase Hit@10 (" + f"{para['queries']} demands) | " + " | ".join(configs) + " |"]
        lines.append("|---|" + "---|" * len(configs))
        for key in ("key as written", "kinds counted"):
            lines.append("| " + " | ".join([key, *(str(para[c][key]) for c in configs)]) + " |")
    return "\n".join(lines)
