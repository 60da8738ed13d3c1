"""ChainMatch's own embedding model: `embeddings train` on the fixtures learns something (beats
chance and the untrained model on held-out firm facts), is deterministic for a seed, and the numpy
encoder that serves it gives the vectors sentence-transformers gives for the saved model. Bad
input: too little data, missing or corrupt model directories, cached vectors of another dimension."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings.cache import EmbeddingCache
from embeddings.static_encoder import ModelDirectoryError, StaticModelEncoder
from embeddings.training import TrainConfig, mine_pairs, train_model
from marketplace.config import Settings
from marketplace.db import session_scope
from marketplace.errors import InputError
from marketplace.matching.training_data import load_training_inputs

REPO = Path(__file__).resolve().parent.parent
TINY = TrainConfig(epochs=3, batch_size=64, dim=32, vocab_size=2000, heldout=30, learning_rate=0.2)
TEXTS = ["锂电池隔膜", "正负极之间防止短路的多孔绝缘薄膜", "预拌砼", "", "H2O2水溶液 hydrogen peroxide"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[dict, list]:
    from marketplace.db import init_db
    from tests.conftest import load_fixtures, make_settings

    s = make_settings(tmp_path_factory.mktemp("train-db"))
    init_db(s)
    load_fixtures(s)
    with session_scope(s) as session:
        return load_training_inputs(session)


@pytest.fixture(scope="module")
def trained(inputs, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("models") / "tiny-zh"
    profiles, relations = inputs
    card = train_model(profiles, relations, out, TINY, source={"source": "fixtures"})
    return out, card


def test_training_pairs_never_contain_a_held_out_fact(inputs):
    profiles, relations = inputs
    data = mine_pairs(profiles, relations, TINY)
    assert data.heldout and set(data.counts) == {"product", "patent", "industry", "name", "chain"}
    for fact, fid in data.heldout:
        assert fact not in items(data.corpus[fid])
        head = (profiles[fid].short_name or profiles[fid].name) + "\n"
        firm_pairs = [(a, p) for _, a, p in data.pairs if p.startswith(head)]
        assert firm_pairs and all(fact != a and fact not in items(p) for a, p in firm_pairs)
    # an anchor's own fact is left out of its positive
    assert all(anchor not in items(positive) for kind, anchor, positive in data.pairs if kind != "chain")


def items(profile_text: str) -> set[str]:
    """The facts listed in a profile text (products, industries, patents, name)."""
    return set(re.split(r"[、；\n]|产品：|行业：|专利：", profile_text))


def test_tiny_model_trained_on_fixtures_beats_chance_and_the_untrained_model(trained):
    out, card = trained
    held = card["heldout_facts"]
    assert held["trained"]["queries"] == 30
    assert held["trained"]["R@10"] > held["chance_R@10"]
    assert held["trained"]["R@10"] > held["untrained"]["R@10"]
    assert held["trained"]["MRR"] > held["untrained"]["MRR"]
    saved = json.loads((out / "chainmatch_training.json").read_text(encoding="utf-8"))
    assert saved["pairs"]["total"] == card["pairs"]["total"] > 0
    assert saved["hyperparameters"]["seed"] == 13
    assert "Held-out firm facts" in (out / "README.md").read_text(encoding="utf-8")


def test_numpy_encoder_gives_the_saved_models_sentence_transformers_vectors(trained):
    from sentence_transformers import SentenceTransformer

    out, _ = trained
    ours = StaticModelEncoder(out)
    reference = SentenceTransformer(str(out), device="cpu").encode(TEXTS, convert_to_numpy=True)
    reference = np.asarray(reference, dtype=np.float32)
    mine = ours.encode(TEXTS)
    assert mine.shape == (len(TEXTS), 32) and mine.dtype == np.float32
    for i, text in enumerate(TEXTS):
        if text:
            assert float(mine[i] @ reference[i]) > 0.999
            assert np.allclose(mine[i], reference[i], atol=2e-3)
        else:
            assert not mine[i].any()  # no tokens: a zero vector (sentence-transformers gives NaN)


def test_training_is_deterministic_for_a_seed(inputs, tmp_path):
    profiles, relations = inputs
    config = TrainConfig(epochs=1, batch_size=64, dim=16, vocab_size=1000, heldout=10)
    a = train_model(profiles, relations, tmp_path / "a", config, source={})
    b = train_model(profiles, relations, tmp_path / "b", config, source={})
    assert a["pairs"]["sha256"] == b["pairs"]["sha256"]
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    assert (
        StaticModelEncoder(tmp_path / "a").model_id.split("@")[1]
        == StaticModelEncoder(tmp_path / "b").model_id.split("@")[1]
    )
    c = train_model(profiles, relations, tmp_path / "c", TrainConfig(**{**config.__dict__, "seed": 14}), source={})
    assert (tmp_path / "c" / "model.safetensors").read_bytes() != (tmp_path / "a" / "model.safetensors").read_bytes()
    assert c["pairs"]["total"] > 0


def test_distilling_from_use_brings_the_table_towards_the_teacher(inputs, tmp_path):
    from embeddings.training import build_model, distill, distill_texts, pca_targets, teacher_vectors, train_tokenizer

    profiles, relations = inputs
    config = TrainConfig(**{**TINY.__dict__, "teacher": "use-multilingual-v3", "teacher_texts": 120})
    data = mine_pairs(profiles, relations, config)
    texts = distill_texts(data, config.teacher_texts, config.seed)
    # only texts the pairs already hold (so the teacher sees nothing the pairs do not)
    assert 0 < len(texts) <= 120 and set(texts) <= {t for _, a, p in data.pairs for t in (a, p)}
    raw, from_cache = teacher_vectors(texts, config.teacher, tmp_path / "cache", progress=False)
    assert raw.shape == (len(texts), 512) and np.allclose(np.linalg.norm(raw, axis=1), 1, atol=1e-4)
    assert not from_cache and len(list((tmp_path / "cache").glob("teacher-*.npy"))) == 1
    again, from_cache = teacher_vectors(texts, config.teacher, tmp_path / "cache", False)
    assert from_cache and np.array_equal(again, raw)
    targets, kept = pca_targets(raw, config.dim)
    assert targets.shape == (len(texts), config.dim) and 0.3 < kept <= 1.0
    tokenizer = train_tokenizer(texts + [p for _, _, p in data.pairs], config.vocab_size)
    model = build_model(tokenizer, config.dim, config.seed)

    def agreement() -> float:
        return float((model.encode(texts, convert_to_numpy=True, normalize_embeddings=True) * targets).sum(1).mean())

    before = agreement()
    log = distill(model, texts, targets, config, tmp_path / "work", progress=False)
    assert log["mse_per_epoch"][-1] < log["mse_per_epoch"][0]
    assert agreement() > before + 0.3


def test_training_with_a_teacher_records_it_in_the_card(inputs, tmp_path):
    profiles, relations = inputs
    config = TrainConfig(**{**TINY.__dict__, "teacher": "use-multilingual-v3", "teacher_texts": 80})
    card = train_model(profiles, relations, tmp_path / "taught", config, source={}, teacher_cache=tmp_path / "c")
    teacher = card["teacher"]
    assert teacher["teacher"] == "use-multilingual-v3" and teacher["texts"] == 80
    assert teacher["distillation"]["steps"] > 0 and list((tmp_path / "c").glob("teacher-*.npy"))
    assert card["heldout_facts"]["trained"]["R@10"] > card["heldout_facts"]["chance_R@10"]
    assert "use-multilingual-v3" in (tmp_path / "taught" / "README.md").read_text(encoding="utf-8")
    with pytest.raises(InputError, match="teacher"):
        train_model(profiles, relations, tmp_path / "x", TrainConfig(teacher="bert"), source={})


def test_bm25_hard_negatives_are_profiles_of_other_firms(inputs, tmp_path):
    from embeddings.training import hard_negatives

    profiles, relations = inputs
    data = mine_pairs(profiles, relations, TINY)
    negatives = hard_negatives(data, seed=13)
    assert len(negatives) == len(data.pairs)
    corpus = set(data.corpus.values())
    for (kind, anchor, positive), negative in zip(data.pairs, negatives, strict=True):
        if kind == "chain":
            assert negative is None
            continue
        assert negative in corpus
        head = negative.split("\n", 1)[0]
        assert head != positive.split("\n", 1)[0] and head != anchor  # never the positive's own firm
    config = TrainConfig(**{**TINY.__dict__, "hard_negatives": "bm25"})
    card = train_model(profiles, relations, tmp_path / "hn", config, source={})
    assert card["training"]["hard_negatives"] == sum(n is not None for n in negatives)
    assert card["heldout_facts"]["trained"]["R@10"] > card["heldout_facts"]["untrained"]["R@10"]


def test_train_command_writes_a_model_the_engine_serves(loaded: Settings, runner, tmp_path):
    out = tmp_path / "cli-model"
    result = runner.invoke(
        [
            "embeddings",
            "train",
            "--source",
            "database",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--dim",
            "16",
            "--vocab-size",
            "1000",
            "--batch-size",
            "64",
            "--heldout",
            "10",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout.strip().splitlines()[-1])
    assert card["out"] == str(out) and card["data"]["source"] == "database"
    from marketplace.matching.engine import MatchEngine

    settings = loaded.with_overrides(embedding_model=str(out))
    with session_scope(settings) as s:
        engine = MatchEngine(settings, use_graph=False).build(s)
    assert engine.encoder.model_id.startswith("static:cli-model@")
    assert engine.match("锂电池", "supply_chain", top_k=5, channels=["dense"])


def test_training_on_an_empty_database_stops_with_a_clear_message(runner, tmp_path):
    result = runner.invoke(["embeddings", "train", "--source", "database", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "too little data" in result.output and "0 firm profiles" in result.output
    assert not (tmp_path / "m").exists()


def test_training_on_a_tiny_database_stops_with_a_clear_message(settings: Settings, runner, tmp_path):
    from marketplace.models import Firm, FirmKind

    with session_scope(settings) as s:
        s.add_all(
            [
                Firm(name=f"测试{i}有限公司", kind=FirmKind.SME, description="生产锂电池", source="test")
                for i in range(3)
            ]
        )
    result = runner.invoke(["embeddings", "train", "--source", "database", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "too little data" in result.output and "3 firm profiles" in result.output


def test_evaluation_split_source_needs_the_data_files(runner, tmp_path, settings: Settings):
    from tests.conftest import AppContext, CliRunner, cli

    s = settings.with_overrides(data_dir=tmp_path / "nothing")
    result = CliRunner().invoke(cli, ["embeddings", "train", "--source", "evaluation-split"], obj=AppContext(s))
    assert result.exit_code == 2 and "--source database" in result.output


def test_a_missing_model_directory_is_refused_naming_it(tmp_path):
    from embeddings.dense import make_encoder

    with pytest.raises(ModelDirectoryError, match="no such directory") as err:
        make_encoder(str(tmp_path / "no-model"))
    assert str(tmp_path / "no-model") in str(err.value)


def test_a_missing_model_stops_index_build_with_exit_code_2(loaded: Settings, tmp_path):
    from tests.conftest import AppContext, CliRunner, cli

    s = loaded.with_overrides(embedding_model=str(tmp_path / "gone"))
    result = CliRunner().invoke(cli, ["index", "build"], obj=AppContext(s))
    assert result.exit_code == 2 and str(tmp_path / "gone") in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:100]), "unreadable"),
        (lambda d: (d / "tokenizer.json").write_text("{not json", encoding="utf-8"), "tokenizer.json"),
        (lambda d: (d / "modules.json").write_text("[]", encoding="utf-8"), "StaticEmbedding"),
        (lambda d: (d / "model.safetensors").unlink(), "unreadable"),
    ],
    ids=["truncated-weights", "bad-tokenizer", "not-static", "no-weights"],
)
def test_a_corrupt_model_directory_is_refused_naming_it(trained, tmp_path, damage, reason):
    import shutil

    src, _ = trained
    broken = tmp_path / "broken-model"
    shutil.copytree(src, broken)
    damage(broken)
    with pytest.raises(ModelDirectoryError, match=reason) as err:
        StaticModelEncoder(broken)
    assert str(broken) in str(err.value)


def test_a_table_that_does_not_fit_the_tokenizer_is_refused(trained, tmp_path):
    import shutil

    from safetensors.numpy import load_file, save_file

    src, _ = trained
    broken = tmp_path / "cut-model"
    shutil.copytree(src, broken)
    table = load_file(str(broken / "model.safetensors"))["embedding.weight"]
    save_file({"embedding.weight": table[:10]}, str(broken / "model.safetensors"))
    with pytest.raises(ModelDirectoryError, match="tokens"):
        StaticModelEncoder(broken)


def test_cached_vectors_of_another_dimension_are_refused_naming_the_model(tmp_path):
    path = tmp_path / "embeddings.sqlite"
    cache = EmbeddingCache(path, "static:my-model@abc", 8)
    cache.put_many({"h1": np.ones(8, np.float32)})
    cache.close()
    EmbeddingCache(path, "static:other@def", 16).close()  # another model: its own rows
    with pytest.raises(InputError, match="my-model") as err:
        EmbeddingCache(path, "static:my-model@abc", 16)
    assert "8-dimensional" in str(err.value) and str(path) in str(err.value)


def test_static_encoder_runs_without_importing_torch(trained):
    out, _ = trained
    code = (
        "import sys; from embeddings.static_encoder import StaticModelEncoder; "
        f"e = StaticModelEncoder({str(out)!r}); v = e.encode(['锂电池隔膜', '预拌砼']); "
        "assert v.shape == (2, 32); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_shipped_model_loads_and_is_small():
    from embeddings.dense import SHIPPED_MODEL_DIR, make_encoder

    size = sum(f.stat().st_size for f in SHIPPED_MODEL_DIR.rglob("*") if f.is_file())
    assert size <= 30 * 1024 * 1024
    enc = make_encoder("chainmatch-zh-static")
    assert enc.model_id.startswith("static:chainmatch-zh-static@")
    card = json.loads((SHIPPED_MODEL_DIR / "chainmatch_training.json").read_text(encoding="utf-8"))
    assert card["data"]["source"] == "evaluation-split" and card["data"]["files_sha256"]
    v = enc.encode(["锂电池隔膜", "动力电池隔膜", "生猪养殖"])
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


def test_an_index_of_another_database_or_model_is_rebuilt_not_mixed(tmp_path):
    from embeddings.ann import AnnIndex

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(5, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ann = AnnIndex(8)
    ann.sync([1, 2, 3], ["a", "b", "c"], lambda pos: vecs[pos])
    ann.save(tmp_path, "static:m@1", "sqlite:///a.db")
    assert AnnIndex.load(tmp_path, "static:m@1", 8, "sqlite:///a.db") is not None
    assert AnnIndex.load(tmp_path, "static:m@1", 8, "sqlite:///b.db") is None  # another database
    assert AnnIndex.load(tmp_path, "static:m@2", 8, "sqlite:///a.db") is None  # another model
    assert AnnIndex.load(tmp_path, "static:m@1", 16, "sqlite:///a.db") is None  # another dimension
    assert "a.db" not in (tmp_path / "firms.json").read_text(encoding="utf-8")  # the URL is hashed
    (tmp_path / "firms.hnsw").write_bytes(b"\0" * 64)
    assert AnnIndex.load(tmp_path, "static:m@1", 8, "sqlite:///a.db") is None  # unreadable index file
    (tmp_path / "firms.json").write_text("{", encoding="utf-8")
    assert AnnIndex.load(tmp_path, "static:m@1", 8, "sqlite:///a.db") is None  # unreadable metadata


def test_items_removed_and_added_again_do_not_crash_hnswlib(tmp_path):
    """The crash a fresh `make run` hit: "Can't use addPoint to update deleted elements if
    replacement of deleted elements is enabled" when a firm id removed by one sync came back."""
    from embeddings.ann import AnnIndex

    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(4, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ann = AnnIndex(8)
    ann.sync([1, 2, 3, 4], ["a", "b", "c", "d"], lambda pos: vecs[pos])
    ann.save(tmp_path, "m", "db")
    ann = AnnIndex.load(tmp_path, "m", 8, "db")
    assert ann.sync([1, 2], ["a", "b"], lambda pos: vecs[pos])["removed"] == 2
    ann.save(tmp_path, "m", "db")
    ann = AnnIndex.load(tmp_path, "m", 8, "db")
    other = rng.normal(size=(4, 8)).astype(np.float32)
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    assert ann.sync([1, 2, 3, 4], ["a", "b", "x", "y"], lambda pos: other[pos])["changed"] == 2
    hits = ann.search(other[3], 4)
    assert {h.doc_id for h in hits} == {1, 2, 3, 4} and hits[0].doc_id == 4 and hits[0].score > 0.999


def test_engine_in_the_same_instance_dir_rebuilds_the_index_of_another_database(loaded: Settings, tmp_path):
    from marketplace.db import init_db
    from marketplace.importers.chainkg import import_chainkg
    from marketplace.matching.engine import MatchEngine
    from tests.conftest import FIXTURES

    first = loaded
    with session_scope(first) as s:
        big = MatchEngine(first, use_graph=False).build(s)
    # a second database in the same instance directory, with fewer firms (ChainKG only)
    second = first.with_overrides(database_url=f"sqlite:///{tmp_path / 'other.db'}")
    init_db(second)
    with session_scope(second) as s:
        import_chainkg(s, FIXTURES / "chainkg", progress=False)
    with session_scope(second) as s:
        engine = MatchEngine(second, use_graph=False).build(s)
    assert len(engine.profiles) < len(big.profiles)
    assert engine.build_info["dense_sync"]["removed"] == 0  # a new index, not the first one pruned
    assert set(engine.ann.hashes) == set(engine.profiles)
    with session_scope(first) as s:  # and back: rebuilt again, no hnswlib error
        engine = MatchEngine(first, use_graph=False).build(s)
    assert set(engine.ann.hashes) == set(engine.profiles) and len(engine.profiles) == len(big.profiles)
