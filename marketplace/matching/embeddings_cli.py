"""`embeddings train`: build ChainMatch's own Chinese sentence-embedding model from the imported data."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from marketplace.cli import AppContext, _json_opt, cli, emit, pass_app


@cli.group("embeddings")
def embeddings_group() -> None:
    """ChainMatch's own sentence-embedding model (docs/matching.md)."""


def _human(card: dict) -> None:
    held = card["heldout_facts"]
    click.echo(f"模型已保存 / model saved: {card['out']}")
    kinds = ", ".join(f"{k} {v}" for k, v in card["pairs"].items() if k not in ("total", "sha256"))
    click.echo(f"  pairs: {card['pairs']['total']} ({kinds})")
    click.echo(
        f"  held-out facts R@10: trained {held['trained'].get('R@10')}, untrained {held['untrained'].get('R@10')}, "
        f"chance {held['chance_R@10']}"
    )
    click.echo(f"  {card['seconds']} s; use it: MARKETPLACE_EMBEDDING_MODEL={card['out']}")


@embeddings_group.command("train")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Model directory to write (default: MARKETPLACE_INSTANCE_DIR/models/chainmatch-zh-static).",
)
@click.option(
    "--source",
    type=click.Choice(["auto", "database", "evaluation-split"]),
    default="auto",
    show_default=True,
    help="evaluation-split: a database built like the evaluation's (its hidden edges and ICKG valid.txt left "
    "out); database: the instance's own database; auto: evaluation-split when the data directory has the files.",
)
@click.option("--seed", default=13, show_default=True, type=int)
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(1, 100))
@click.option("--batch-size", default=1024, show_default=True, type=click.IntRange(2, 65536))
@click.option("--lr", "learning_rate", default=0.2, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--dim", default=256, show_default=True, type=click.IntRange(8, 4096))
@click.option("--vocab-size", default=20000, show_default=True, type=click.IntRange(100, 1_000_000))
@click.option("--loss", type=click.Choice(["mnrl", "cached-mnrl"]), default="mnrl", show_default=True)
@click.option("--max-pairs", "max_pairs_per_kind", default=40000, show_default=True, type=click.IntRange(10))
@click.option(
    "--heldout", default=500, show_default=True, type=click.IntRange(0), help="Firm facts held out and scored."
)
@click.option(
    "--teacher",
    type=click.Choice(["none", "use-multilingual-v3"]),
    default="none",
    show_default=True,
    help="Distil the token table from this model's vectors of industry, product and patent names first "
    "(docs/matching.md); its vectors are cached under the instance directory.",
)
@click.option(
    "--hard-negatives",
    type=click.Choice(["none", "bm25"]),
    default="none",
    show_default=True,
    help="bm25: each fact pair also gets the profile of another firm that BM25 ranks highest for its anchor.",
)
@click.option(
    "--teacher-texts", default=40000, show_default=True, type=click.IntRange(10), help="Texts the teacher encodes."
)
@click.option("--float32", "float32", is_flag=True, help="Store the table as float32 (default float16).")
@_json_opt
@pass_app
def train_command(
    app: AppContext,
    out: Path | None,
    source: str,
    as_json: bool,
    float32: bool,
    **hyper: object,
) -> None:
    """Train a StaticEmbedding model on pairs mined from the data (deterministic for a seed)."""
    from embeddings.training import TrainConfig, file_hashes, train_model
    from marketplace.matching.training_data import (
        EVAL_HIDDEN,
        EVAL_SEED,
        build_evaluation_split,
        evaluation_split_files,
        has_evaluation_data,
        load_training_inputs,
    )

    config = TrainConfig(float16=not float32, **hyper)  # type: ignore[arg-type]
    out = out or Path(app.settings.instance_dir) / "models" / "chainmatch-zh-static"
    progress = not as_json and sys.stderr.isatty()

    def say(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    data_dir = Path(app.settings.data_dir)
    if source == "auto":
        source = "evaluation-split" if has_evaluation_data(data_dir) else "database"
    if source == "evaluation-split":
        if not has_evaluation_data(data_dir):
            from marketplace.errors import InputError

            raise InputError(
                f"{data_dir} lacks chainkg/ and ickg25/train.txt; set MARKETPLACE_DATA_DIR or use --source database",
                field="source",
            )
        say(f"building the evaluation split of {data_dir} (hidden edges: {EVAL_HIDDEN}, seed {EVAL_SEED}) ...")
        hashes = file_hashes(evaluation_split_files(data_dir))
        split = build_evaluation_split(app.settings, data_dir, progress, hashes)
        info = {
            "source": "evaluation-split",
            "evaluation_hidden_edges": EVAL_HIDDEN,
            "evaluation_seed": EVAL_SEED,
            "files_sha256": hashes,
        }
        from marketplace.db import session_scope

        with session_scope(split) as session:
            profiles, relations = load_training_inputs(session)
    else:
        info = {"source": "database", "database": app.settings.database_url}
        with app.session() as session:
            profiles, relations = load_training_inputs(session)
    cache = Path(app.settings.instance_dir) / "models" / ".teacher-cache"
    card = train_model(profiles, relations, out, config, source=info, progress=progress, say=say, teacher_cache=cache)
    card["out"] = str(out)
    emit(card, as_json, _human)
