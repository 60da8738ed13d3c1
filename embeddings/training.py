"""Train ChainMatch's own Chinese sentence-embedding model from the chain data it holds.

No Chinese retrieval model can be downloaded here, so the model is learned from the imported
data: a ``StaticEmbedding`` (a token-embedding table averaged over a text's tokens) over a BPE
tokenizer learned from the same corpus, trained with the sentence-transformers trainer and
in-batch negatives (MultipleNegativesRankingLoss). Pairs are mined from firm profiles, with the
anchor's fact left out of the positive so the model learns what co-occurs with it:

- product  → the profile of a firm that makes it (without that product);
- patent   → the holder's profile (without that patent: its other patents, industries, products);
- industry → a member firm's profile (without that industry);
- name     → the firm's profile (without its name);
- chain    → a product ↔ its upstream material or downstream product.

With a teacher (``--teacher use-multilingual-v3``) the table is first distilled from Google's
multilingual USE v3, which reads Chinese and knows words the chain data never pairs: a seeded sample
of industry, product and patent names is encoded by USE once (cached by content hash), its vectors
are reduced to the model's dimension by PCA, and the table is trained to reproduce them (MSELoss);
the pair training above then starts from that table instead of a random one. USE is slow (~50 short
texts/s on two cores), which is why it teaches the table once instead of serving queries.

A seeded sample of firm facts (products and patents) is held out of every pair and scored after
training (can the model find the firm from the held-out fact, among all firms' profiles?), next to
the untrained model and chance; the numbers go into the model card. Training is deterministic for
a seed. The saved directory is a normal sentence-transformers model; serving reads it with numpy
(:mod:`embeddings.static_encoder`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import platform
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from marketplace.errors import InputError

PAIR_KINDS = ("product", "patent", "industry", "name", "chain")
LOSSES = ("mnrl", "cached-mnrl")
TEACHERS = ("none", "use-multilingual-v3")
HARD_NEGATIVES = ("none", "bm25")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (all recorded in the model card)."""

    seed: int = 13
    epochs: int = 2
    batch_size: int = 1024
    learning_rate: float = 0.2
    dim: int = 256
    vocab_size: int = 20000
    loss: str = "mnrl"
    max_pairs_per_kind: int = 40000
    heldout: int = 500
    float16: bool = True
    min_profiles: int = 10
    min_pairs: int = 40
    teacher: str = "none"
    hard_negatives: str = "none"
    teacher_texts: int = 40000
    distill_epochs: int = 5
    distill_learning_rate: float = 0.5


@dataclass
class FirmFacts:
    """What one firm's profile says, as mined for training."""

    firm_id: int
    profile: Any  # marketplace.matching.profiles.Profile


@dataclass
class TrainingData:
    pairs: list[tuple[str, str, str]]  # (kind, anchor, positive)
    heldout: list[tuple[str, int]]  # (fact text, firm id)
    corpus: dict[int, str]  # firm id -> profile text with its held-out facts removed
    counts: dict[str, int] = field(default_factory=dict)

    def digest(self) -> str:
        h = hashlib.sha256()
        for kind, anchor, positive in self.pairs:
            h.update(f"{kind}\t{anchor}\t{positive}\n".encode())
        for text, fid in self.heldout:
            h.update(f"heldout\t{text}\t{fid}\n".encode())
        return h.hexdigest()


def _usable(name: str) -> bool:
    from embeddings.lexical import is_noise

    return len(name) >= 2 and not is_noise(name)


def _without(profile: Any, drop: Iterable[str] = (), *, name: bool = False) -> Any:
    """The profile without the facts named in ``drop`` (from every field) and, with ``name``,
    without its names."""
    gone = set(drop)
    return dataclasses.replace(
        profile,
        products=[(p, s) for p, s in profile.products if p not in gone],
        patents=[t for t in profile.patents if t not in gone],
        industries=[i for i in profile.industries if i not in gone],
        short_name=None if name else profile.short_name,
        name="" if name else profile.name,
    )


def mine_pairs(profiles: dict[int, Any], relations: list[tuple[str, str]], config: TrainConfig) -> TrainingData:
    """Training pairs from ``profiles`` (marketplace.matching.profiles.Profile by firm id) and product
    relations (product, upstream-or-downstream product); see the module docstring."""
    rng = random.Random(config.seed)
    ids = sorted(profiles)
    candidates = []
    for fid in ids:
        p = profiles[fid]
        facts = [("product", n) for n in p.product_names if _usable(n)] + [("patent", t) for t in p.patents]
        if len(facts) + len(p.industries) >= 3 and facts:
            candidates.append((fid, facts))
    held: dict[int, tuple[str, str]] = {}
    for fid, facts in rng.sample(candidates, min(config.heldout, len(candidates))):
        held[fid] = rng.choice(facts)
    effective = {}
    for fid in ids:
        p = profiles[fid]
        if fid in held:
            p = _without(p, [held[fid][1]])
        effective[fid] = p
    by_kind: dict[str, list[tuple[str, str, str]]] = {k: [] for k in PAIR_KINDS}
    for fid in ids:
        p = effective[fid]
        own_names = {p.short_name, p.name}
        for name in dict.fromkeys(n for n in p.product_names if _usable(n) and n not in own_names):
            by_kind["product"].append(("product", name, _without(p, [name]).text()))
        for title in dict.fromkeys(t for t in p.patents if t not in own_names):
            by_kind["patent"].append(("patent", title, _without(p, [title]).text()))
        if p.products or p.patents or len(p.industries) > 1:
            for industry in dict.fromkeys(i for i in p.industries if i not in own_names):
                by_kind["industry"].append(("industry", industry, _without(p, [industry]).text()))
        facts = set(p.product_names) | set(p.patents) | set(p.industries)
        if facts and (p.short_name or p.name) not in facts:
            by_kind["name"].append(("name", p.short_name or p.name, _without(p, name=True).text()))
    held_texts = {fact for _, fact in held.values()}
    by_kind["chain"] = [
        ("chain", a, b) for a, b in dict.fromkeys(relations) if _usable(a) and _usable(b) and not {a, b} & held_texts
    ]
    pairs: list[tuple[str, str, str]] = []
    counts: dict[str, int] = {}
    for kind in PAIR_KINDS:
        rows = [r for r in by_kind[kind] if r[1].strip() and r[2].strip() and r[1] != r[2]]
        if len(rows) > config.max_pairs_per_kind:
            rows = rng.sample(rows, config.max_pairs_per_kind)
        counts[kind] = len(rows)
        pairs += rows
    rng.shuffle(pairs)
    corpus = {fid: effective[fid].text() for fid in ids}
    heldout = [(fact, fid) for fid, (_, fact) in sorted(held.items())]
    return TrainingData(pairs, heldout, corpus, counts)


def check_enough(n_profiles: int, data: TrainingData, config: TrainConfig) -> None:
    if n_profiles < config.min_profiles or len(data.pairs) < config.min_pairs:
        raise InputError(
            f"too little data to train an embedding model: {n_profiles} firm profiles and "
            f"{len(data.pairs)} training pairs (at least {config.min_profiles} profiles and "
            f"{config.min_pairs} pairs are needed); import data first "
            "(`python -m marketplace demo load`, or `import chainkg DIR` / `import ickg DIR`)",
            field="database",
        )


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A BPE tokenizer learned from the corpus. Chinese runs are not pre-split (there are no
    spaces), so BPE learns the corpus's frequent words and terms (正极材料, 锂电池) as tokens and
    falls back to single characters for the rest."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=False)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=["[UNK]"], limit_alphabet=20000, show_progress=False
    )
    tokenizer.train_from_iterator(list(texts), trainer)
    return tokenizer


def build_model(tokenizer: Any, dim: int, seed: int) -> Any:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding

    torch.manual_seed(seed)
    return SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=dim), Normalize()], device="cpu")


def _loss(model: Any, name: str) -> Any:
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    if name == "cached-mnrl":
        return CachedMultipleNegativesRankingLoss(model, mini_batch_size=128, show_progress_bar=False)
    return MultipleNegativesRankingLoss(model)


def hard_negatives(data: TrainingData, seed: int, top: int = 5, progress: bool = False) -> list[str | None]:
    """For each pair, the profile BM25 ranks highest for its anchor among those of other firms (a
    firm is known by its profile's first line, the name; the anchor of a name pair is that name);
    a seeded random profile where BM25 finds none; None for chain pairs (product ↔ product)."""
    from tqdm import tqdm

    from embeddings.lexical import LexicalChannel

    texts = list(data.corpus.values())
    heads = [t.split("\n", 1)[0] for t in texts]
    lexical = LexicalChannel(range(len(texts)), {"text": (1.0, texts)})
    rng = random.Random(seed)
    out: list[str | None] = []
    for kind, anchor, positive in tqdm(data.pairs, desc="hard negatives", disable=not progress, mininterval=5):
        if kind == "chain":
            out.append(None)
            continue
        own = {positive.split("\n", 1)[0], anchor}
        hit = next((h.doc_id for h in lexical.search(anchor, top) if heads[h.doc_id] not in own), None)
        for _ in range(10):
            if hit is not None:
                break
            pick = rng.randrange(len(texts))
            hit = pick if heads[pick] not in own else None
        out.append(texts[hit] if hit is not None else None)
    return out


def fit(model: Any, data: TrainingData, config: TrainConfig, work_dir: Path, progress: bool) -> dict[str, Any]:
    """Train ``model`` in place with the sentence-transformers trainer; returns its log summary.
    With BM25 hard negatives, pairs that have one train as (anchor, positive, negative) triplets
    and the rest (chain pairs) as pairs, in proportion, both with the same loss."""
    from datasets import Dataset
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    def table(rows: list[tuple[str, ...]], names: tuple[str, ...]) -> Any:
        return Dataset.from_dict({name: [row[i] for row in rows] for i, name in enumerate(names)})

    pairs = [(a, p) for _, a, p in data.pairs]
    mined: dict[str, Any] = {}
    if config.hard_negatives == "bm25":
        tick = time.perf_counter()
        negatives = hard_negatives(data, config.seed, progress=progress)
        triplets = [(a, p, n) for (a, p), n in zip(pairs, negatives, strict=True) if n is not None]
        rest = [pair for pair, n in zip(pairs, negatives, strict=True) if n is None]
        dataset: Any = {"triplets": table(triplets, ("anchor", "positive", "negative"))}
        if rest:
            dataset["pairs"] = table(rest, ("anchor", "positive"))
        mined = {"hard_negatives": len(triplets), "mining_seconds": round(time.perf_counter() - tick, 1)}
    else:
        dataset = table(pairs, ("anchor", "positive"))
    args = _arguments(
        work_dir, config, progress, config.epochs, config.batch_size, config.learning_rate, BatchSamplers.NO_DUPLICATES
    )
    if isinstance(dataset, dict):
        args.multi_dataset_batch_sampler = "proportional"
    steps, losses, seconds = _train(model, args, dataset, _loss(model, config.loss))
    return {"steps": steps, "train_loss_per_epoch": [round(x, 4) for x in losses], "train_seconds": seconds, **mined}


def _arguments(
    work_dir: Path, config: TrainConfig, progress: bool, epochs: int, batch_size: int, lr: float, sampler: Any = None
) -> Any:
    """The trainer's arguments: CPU, no checkpoints, a loss per epoch, seeded."""
    from sentence_transformers import SentenceTransformerTrainingArguments

    return SentenceTransformerTrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=lr,
        warmup_steps=0.1,
        **({"batch_sampler": sampler} if sampler is not None else {}),
        save_strategy="no",
        report_to="none",
        logging_strategy="epoch",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=not progress,
    )


def _train(model: Any, args: Any, dataset: Any, loss: Any) -> tuple[int, list[float], float]:
    """Run the sentence-transformers trainer on one thread: (steps, loss per epoch, seconds)."""
    from sentence_transformers import SentenceTransformerTrainer

    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    with _one_thread():
        output = trainer.train()
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return output.global_step, losses, round(output.metrics["train_runtime"], 1)


def distill_texts(data: TrainingData, limit: int, seed: int) -> list[str]:
    """The texts the teacher encodes: every industry name, then a seeded sample of product names (70 %
    of ``limit``) and patent titles (the rest), all taken from the training pairs (never a held-out fact)."""
    rng = random.Random(seed)
    industries = sorted({a for kind, a, _ in data.pairs if kind == "industry"})
    products = sorted(
        {a for kind, a, _ in data.pairs if kind == "product"}
        | {t for kind, a, p in data.pairs if kind == "chain" for t in (a, p)}
    )
    patents = sorted({a for kind, a, _ in data.pairs if kind == "patent"})
    n_products = min(len(products), int(limit * 0.7))
    n_patents = min(len(patents), max(0, limit - len(industries) - n_products))
    texts = industries + rng.sample(products, n_products) + rng.sample(patents, n_patents)
    return list(dict.fromkeys(texts))[:limit]


def teacher_vectors(
    texts: list[str], teacher: str, cache_dir: Path | None, progress: bool, batch: int = 64
) -> tuple[np.ndarray, bool]:
    """The teacher's unit vectors for ``texts`` (batches of similar length), and whether they were
    read from ``cache_dir`` (where the same teacher already encoded the same texts)."""
    key = hashlib.sha256(("\n".join([teacher, *texts])).encode()).hexdigest()[:16]
    path = cache_dir / f"teacher-{key}.npy" if cache_dir is not None else None
    if path is not None and path.is_file():
        return np.load(path), True
    from tqdm import tqdm

    from embeddings.dense import make_encoder

    encoder = make_encoder(teacher)
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in tqdm(range(0, len(order), batch), desc=f"teacher {teacher}", disable=not progress, unit="batch"):
        rows = order[start : start + batch]
        out[rows] = encoder.encode([texts[i] for i in rows])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return out, False


def pca_targets(vectors: np.ndarray, dim: int) -> tuple[np.ndarray, float]:
    """``vectors`` projected on their first ``dim`` principal components and normalised; the share
    of variance kept."""
    centred = vectors - vectors.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(dim, vt.shape[0])
    projected = centred @ vt[:k].T
    if k < dim:  # fewer texts than dimensions (tiny data): pad with zeros
        projected = np.pad(projected, ((0, 0), (0, dim - k)))
    projected /= np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)
    kept = float((singular[:k] ** 2).sum() / max(float((singular**2).sum()), 1e-12))
    return projected.astype(np.float32), round(kept, 4)


def distill(
    model: Any, texts: list[str], targets: np.ndarray, config: TrainConfig, work_dir: Path, progress: bool
) -> dict[str, Any]:
    """Train the table to reproduce the teacher's (PCA-reduced) vectors: MSELoss, batches of 256."""
    from datasets import Dataset
    from sentence_transformers.sentence_transformer.losses import MSELoss

    dataset = Dataset.from_dict({"sentence": texts, "label": targets.tolist()})
    args = _arguments(work_dir, config, progress, config.distill_epochs, 256, config.distill_learning_rate)
    steps, losses, seconds = _train(model, args, dataset, MSELoss(model))
    return {"steps": steps, "mse_per_epoch": [round(x, 6) for x in losses], "train_seconds": seconds}


@contextlib.contextmanager
def _one_thread() -> Any:
    """The same float sums in the same order on any machine: the same weights for a seed."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def heldout_metrics(encode: Callable[[list[str]], np.ndarray], data: TrainingData) -> dict[str, float]:
    """R@10 and MRR of finding the firm of each held-out fact among all firms' profiles."""
    if not data.heldout:
        return {}
    fids = list(data.corpus)
    row = {fid: i for i, fid in enumerate(fids)}
    docs = encode([data.corpus[f] for f in fids])
    queries = encode([t for t, _ in data.heldout])
    scores = queries @ docs.T
    ranks = []
    for qi, (_, fid) in enumerate(data.heldout):
        target = scores[qi, row[fid]]
        ranks.append(int((scores[qi] > target).sum()) + 1)
    r = np.asarray(ranks)
    return {"R@10": round(float((r <= 10).mean()), 4), "MRR": round(float((1.0 / r).mean()), 4), "queries": len(r)}


def file_hashes(paths: Iterable[Path]) -> dict[str, str]:
    out = {}
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[path.name if path.parent.name == "" else f"{path.parent.name}/{path.name}"] = digest.hexdigest()
    return out


def train_model(
    profiles: dict[int, Any],
    relations: list[tuple[str, str]],
    out: Path,
    config: TrainConfig,
    *,
    source: dict[str, Any],
    progress: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    teacher_cache: Path | None = None,
) -> dict[str, Any]:
    """Mine pairs, learn the tokenizer, train, score the held-out facts and save the model with
    its card to ``out`` (written to a temporary folder first: a failed run leaves ``out`` as it was).
    With a teacher, its vectors are cached in ``teacher_cache``."""
    if config.loss not in LOSSES:
        raise InputError(f"unknown loss {config.loss!r}; use one of {', '.join(LOSSES)}", field="loss")
    if config.hard_negatives not in HARD_NEGATIVES:
        raise InputError(
            f"unknown hard negatives {config.hard_negatives!r}; use one of {', '.join(HARD_NEGATIVES)}",
            field="hard_negatives",
        )
    if config.teacher not in TEACHERS:
        raise InputError(f"unknown teacher {config.teacher!r}; use one of {', '.join(TEACHERS)}", field="teacher")
    started = time.perf_counter()
    data = mine_pairs(profiles, relations, config)
    check_enough(len(profiles), data, config)
    say(f"{len(data.pairs)} training pairs {data.counts}, {len(data.heldout)} held-out facts")
    texts = sorted({t for _, a, p in data.pairs for t in (a, p)} | set(data.corpus.values()))
    taught = distill_texts(data, config.teacher_texts, config.seed) if config.teacher != "none" else []
    teacher_log: dict[str, Any] = {"teacher": config.teacher}
    if taught:
        say(f"teacher {config.teacher}: encoding {len(taught)} industry, product and patent names ...")
        tick = time.perf_counter()
        raw, cached = teacher_vectors(taught, config.teacher, teacher_cache, progress)
        targets, kept = pca_targets(raw, config.dim)
        seconds = round(time.perf_counter() - tick, 1)
        teacher_log.update(texts=len(taught), pca_variance_kept=kept, encode_seconds=seconds, vectors_from_cache=cached)
    tokenizer = train_tokenizer(texts, config.vocab_size)
    say(f"tokenizer: {tokenizer.get_vocab_size()} tokens learned from {len(texts)} texts")
    model = build_model(tokenizer, config.dim, config.seed)

    def st_encode(m: Any) -> Callable[[list[str]], np.ndarray]:
        return lambda texts: m.encode(texts, batch_size=1024, convert_to_numpy=True, normalize_embeddings=True)

    untrained = heldout_metrics(st_encode(model), data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".train-", dir=out.parent) as tmp:
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its log; stdout is for --json
            if taught:
                teacher_log["distillation"] = distill(model, taught, targets, config, Path(tmp) / "distill", progress)
            log = fit(model, data, config, Path(tmp) / "trainer", progress)
        if config.float16:
            model[0].embedding.half()
        staging = Path(tmp) / "model"
        model.save(str(staging), create_model_card=False)
        from embeddings.static_encoder import StaticModelEncoder

        trained = heldout_metrics(StaticModelEncoder(staging).encode, data)
        chance = round(min(1.0, 10 / max(1, len(data.corpus))), 4)
        card = {
            "model": out.name,
            "architecture": "StaticEmbedding (mean of token embeddings) + Normalize, sentence-transformers format",
            "tokenizer": {
                "kind": "BPE learned from the training texts (NFKC, lower-case)",
                "vocab": tokenizer.get_vocab_size(),
            },
            "hyperparameters": dataclasses.asdict(config),
            "data": {**source, "profiles": len(profiles), "product_relations": len(relations)},
            "pairs": {**data.counts, "total": len(data.pairs), "sha256": data.digest()},
            "heldout_facts": {"trained": trained, "untrained": untrained, "chance_R@10": chance},
            "training": log,
            "teacher": teacher_log,
            "seconds": round(time.perf_counter() - started, 1),
            "software": _versions(),
        }
        (staging / "chainmatch_training.json").write_text(json.dumps(card, ensure_ascii=False, indent=2), "utf-8")
        (staging / "README.md").write_text(model_card(card), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(staging), str(out))
    return card


def _versions() -> dict[str, str]:
    import sentence_transformers
    import tokenizers
    import torch

    return {
        "python": platform.python_version(),
        "sentence-transformers": sentence_transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "torch": torch.__version__,
    }


def model_card(card: dict[str, Any]) -> str:
    """The README.md of a trained model: what it is, what it was trained on and how well it does."""
    h = card["hyperparameters"]
    lines = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        "language: [zh]",
        "tags: [sentence-transformers, static-embeddings, chainmatch]",
        "---",
        "",
        f"# {card['model']}",
        "",
        "ChainMatch's Chinese sentence-embedding model for matching demands to firm capability profiles: "
        f"{card['architecture']}, {h['dim']} dimensions, a {card['tokenizer']['vocab']}-token "
        f"{card['tokenizer']['kind']}. Trained by `python -m marketplace embeddings train` "
        "(embeddings/training.py); served without PyTorch by embeddings/static_encoder.py.",
        "",
        "## Data",
        "",
        "```json",
        json.dumps(card["data"], ensure_ascii=False, indent=2),
        "```",
        "",
        "## Training pairs",
        "",
        "| kind | pairs |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in card["pairs"].items() if k != "sha256"),
        "",
        f"Pairs digest (sha256): `{card['pairs']['sha256']}`",
        "",
        "## Hyperparameters",
        "",
        "| name | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in h.items()),
        "",
        "## Metrics",
        "",
        "Held-out firm facts (never in any training pair): find the firm among all profiles from one of "
        "its products or patent titles that its profile no longer shows.",
        "",
        "| model | R@10 | MRR |",
        "|---|---|---|",
        f"| trained | {card['heldout_facts']['trained'].get('R@10')} | {card['heldout_facts']['trained'].get('MRR')} |",
        f"| untrained (same tokenizer, random table) | {card['heldout_facts']['untrained'].get('R@10')} | "
        f"{card['heldout_facts']['untrained'].get('MRR')} |",
        f"| chance | {card['heldout_facts']['chance_R@10']} | |",
        "",
        "Matching-quality numbers of the engine with this model: docs/benchmarks.md.",
        "",
        "## Training",
        "",
        "With a teacher, the token table was first distilled from the teacher's PCA-reduced vectors of the "
        "texts counted below (MSELoss), then trained on the pairs above.",
        "",
        "```json",
        json.dumps(
            {
                "teacher": card["teacher"],
                "training": card["training"],
                "seconds": card["seconds"],
                "software": card["software"],
            },
            indent=2,
        ),
        "```",
        "",
    ]
    return "\n".join(lines)
