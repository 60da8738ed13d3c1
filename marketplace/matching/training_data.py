"""Training data for ChainMatch's own embedding model, read from a database.

Two sources: the instance's own database, or — the default when the data directory holds the
ChainKG and ICKG files — a database built exactly like the evaluation's (``marketplace.matching.evaluation``):
ChainKG without the company→product edges the evaluation hides (same count and seed), plus ICKG
``train.txt`` only. So no evaluation query (hidden product edges, ``valid.txt`` patents) and none of
its answers is ever in a training pair, and the part of the data withheld from this copy for
independent checks is never looked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from marketplace.config import Settings
from marketplace.db import init_db, session_scope
from marketplace.models import Product, ProductRelation, ProductRelationKind

# The evaluation's defaults (`python -m marketplace evaluate`: --hidden 500 --seed 13).
EVAL_HIDDEN = 500
EVAL_SEED = 13
CHAIN_RELATIONS = (ProductRelationKind.UPSTREAM_MATERIAL, ProductRelationKind.DOWNSTREAM_PRODUCT)
SOURCES = ("auto", "database", "evaluation-split")


def load_training_inputs(session: Session) -> tuple[dict[int, Any], list[tuple[str, str]]]:
    """Firm profiles and (product, upstream material or downstream product) name pairs."""
    from marketplace.matching.profiles import load_profiles

    other = aliased(Product)
    rows = session.execute(
        select(Product.name, other.name)
        .join(ProductRelation, ProductRelation.product_id == Product.id)
        .join(other, ProductRelation.other_id == other.id)
        .where(ProductRelation.relation.in_(CHAIN_RELATIONS))
        .order_by(ProductRelation.id)
    ).tuples()
    return load_profiles(session), [(a, b) for a, b in rows]


def has_evaluation_data(data_dir: Path) -> bool:
    return (data_dir / "chainkg" / "company_product.jsonl").is_file() and (data_dir / "ickg25" / "train.txt").is_file()


def evaluation_split_files(data_dir: Path) -> list[Path]:
    """The data files an evaluation-split training run reads (their hashes go into the card)."""
    from marketplace.importers.chainkg import FILES

    ickg = ["entity2id.txt", "relation2id.txt", "time2id.txt", "train.txt"]
    return [data_dir / "chainkg" / n for n in FILES] + [data_dir / "ickg25" / n for n in ickg]


def build_evaluation_split(
    settings: Settings, data_dir: Path, progress: bool, files_sha256: dict[str, str]
) -> Settings:
    """A database under the instance directory holding what the evaluation's engine sees. It is
    kept with a stamp of the data files' hashes and reused while they are unchanged."""
    from marketplace.importers.chainkg import import_chainkg
    from marketplace.importers.ickg import import_ickg
    from marketplace.matching.evaluation import hide_product_edges

    home = Path(settings.instance_dir) / "eval" / "train-split"
    split = Settings(instance_dir=home, data_dir=data_dir, embedding_model=settings.embedding_model)
    stamp_path = home / "split.json"
    stamp = {"hidden": EVAL_HIDDEN, "seed": EVAL_SEED, "files_sha256": files_sha256}
    if stamp_path.is_file() and json.loads(stamp_path.read_text(encoding="utf-8")) == stamp:
        return split
    stamp_path.unlink(missing_ok=True)
    db = home / "marketplace.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    init_db(split)
    chainkg = home / "chainkg"
    hide_product_edges(data_dir / "chainkg", chainkg, EVAL_HIDDEN, EVAL_SEED)
    with session_scope(split) as session:
        import_chainkg(session, chainkg, progress=progress)
        import_ickg(session, data_dir / "ickg25", progress=progress, splits=("train.txt",))
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    return split
