"""Benchmark: top-20 matching latency with chain expansion, and encoding throughput.

Real data (the imported database): warm-up, then p50/p95 over queries built from product names
and patent titles. Synthetic (--synthetic N): N firm profiles generated from the real vocabulary
(products, industries, patent words), indexed with the same channels (BM25, hnswlib, networkx,
co-occurrence),
reporting build time, p95 latency and peak RSS. Dense vectors of synthetic profiles are the
normalised mean of their products' real embeddings (each vocabulary term is encoded once), so
the index holds N real-model vectors without encoding N texts.

Usage:
  python bench/match_latency.py real [--queries 300]
  python bench/match_latency.py synthetic [--profiles 500000] [--queries 200]
  python bench/match_latency.py throughput [--profiles 2000]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sys
import time

import numpy as np
from _common import current_rss_mb, machine, peak_rss_mb, percentiles, timed

from marketplace.config import Settings
from marketplace.db import session_scope


def real(args: argparse.Namespace) -> dict:
    from sqlalchemy import select

    from marketplace.matching.engine import MatchEngine
    from marketplace.models import Patent, Product

    settings = Settings.from_env()
    started = time.perf_counter()
    with session_scope(settings) as s:
        engine = MatchEngine(settings).build(s)
        products = [p for (p,) in s.execute(select(Product.name)) if 2 <= len(p) <= 12]
        patents = [t for (t,) in s.execute(select(Patent.title))]
    build = time.perf_counter() - started
    rng = random.Random(args.seed)
    queries = [(p, "supply_chain") for p in rng.sample(products, args.queries // 2)]
    queries += [(t, "rd") for t in rng.sample(patents, args.queries - len(queries))]
    for text, dtype in queries[:30]:
        engine.match(text, dtype, top_k=20)
    times = [timed(lambda t=text, d=dtype: engine.match(t, d, top_k=20)) for text, dtype in queries]
    channel_times = {}
    for name, kw in (
        ("lexical only", ["lexical"]),
        ("graph only", ["graph"]),
        ("dense only", ["dense"]),
        ("co-occurrence only", ["cooccur"]),
        ("fused without co-occurrence (baseline)", ["lexical", "dense", "graph"]),
    ):
        channel_times[name] = percentiles(
            [
                timed(lambda t=text, d=dtype, c=kw: engine.match(t, d, top_k=20, channels=c))
                for text, dtype in queries[:100]
            ]
        )
    return {
        "machine": machine(),
        "profiles": len(engine.profiles),
        "engine_build_s": round(build, 1),
        "top20_with_expansion": percentiles(times),
        "per_channel": channel_times,
        "peak_rss_mb": peak_rss_mb(),
    }


def synthetic_ann(vecs: np.ndarray, picks: list[list[int]], ids: np.ndarray):  # noqa: ANN201
    """hnswlib over the normalised mean vector of each synthetic profile's products (the matrix
    is freed on return: the index keeps its own copy)."""
    from embeddings.ann import AnnIndex

    matrix = np.empty((len(picks), vecs.shape[1]), dtype=np.float32)
    for row, p in enumerate(picks):
        matrix[row] = vecs[p].mean(axis=0)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    ann = AnnIndex(vecs.shape[1], capacity=len(picks) + 16, m=12, ef_construction=100)
    ann.sync(list(map(int, ids)), [str(i) for i in ids], lambda pos: matrix[pos])
    return ann


def synthetic(args: argparse.Namespace) -> dict:
    from sqlalchemy import select

    from embeddings.dense import encoder_from_settings
    from embeddings.lexical import is_noise
    from graph.networkx_backend import NetworkxGraph
    from graph.policies import policy_for
    from graph.protocol import Edge, Label, Node, Rel
    from graph.sync import iter_edges, iter_nodes
    from marketplace.matching.engine import EntityLinker, MatchEngine
    from marketplace.matching.profiles import Profile
    from marketplace.models import FirmKind, Industry, Patent, Product

    settings = Settings.from_env()
    rng = random.Random(args.seed)
    with session_scope(settings) as s:
        vocab = [
            (pid, n) for pid, n in s.execute(select(Product.id, Product.name)) if not is_noise(n) and 2 <= len(n) <= 12
        ]
        industries = [n for (n,) in s.execute(select(Industry.name))]
        patent_words = [t for (t,) in s.execute(select(Patent.title))]
        graph = NetworkxGraph()
        graph.upsert_nodes([n for n in iter_nodes(s) if n.label is not Label.FIRM])
        graph.upsert_edges(
            [e for e in iter_edges(s) if not e.src.startswith("firm:") and not e.dst.startswith("firm:")]
        )
        linker = EntityLinker(s)
    rss = {"real graph and linker": current_rss_mb()}
    vocab = rng.sample(vocab, min(args.vocab, len(vocab)))
    t0 = time.perf_counter()
    encoder = encoder_from_settings(settings)
    vecs = encoder.encode([n for _, n in vocab])
    vocab_encode_s = time.perf_counter() - t0
    rss["encoder and vocabulary vectors"] = current_rss_mb()
    n = args.profiles
    ids = np.arange(1, n + 1)
    picks = [rng.sample(range(len(vocab)), rng.randint(2, 6)) for _ in range(n)]
    engine = MatchEngine(settings, encoder=encoder, graph=graph)
    engine.linker = linker
    engine.profiles = {
        int(i): Profile(
            int(i),
            f"synthetic {i}",
            None,
            None,
            FirmKind.SME,
            None,
            None,
            products=[(vocab[j][1], round(rng.random(), 2)) for j in p],
            industries=[rng.choice(industries)],
            patents=[rng.choice(patent_words)] if rng.random() < 0.3 else [],
        )
        for i, p in zip(ids, picks, strict=True)
    }
    rss["profiles"] = current_rss_mb()
    t0 = time.perf_counter()
    engine._build_lexical()  # the engine's own build: BM25F-style documents and the co-occurrence channel
    lexical_s = time.perf_counter() - t0
    rss["bm25 and co-occurrence"] = current_rss_mb()
    t0 = time.perf_counter()
    engine.ann = synthetic_ann(vecs, picks, ids)
    ann_s = time.perf_counter() - t0
    rss["hnsw"] = current_rss_mb()
    t0 = time.perf_counter()
    graph.upsert_nodes([Node(f"firm:{i}", Label.FIRM, f"synthetic {i}") for i in ids])
    for start in range(0, n, 100_000):  # in batches: two million Edge objects at once would dominate the peak
        graph.upsert_edges(
            [
                Edge(f"firm:{ids[row]}", Rel.PRODUCES, f"product:{vocab[j][0]}", 0.8)
                for row in range(start, min(n, start + 100_000))
                for j in picks[row]
            ]
        )
    del picks
    graph.expand({}, policy_for("supply_chain"))  # builds the adjacency index once
    graph_s = time.perf_counter() - t0
    rss["graph"] = current_rss_mb()
    queries = [(vocab[rng.randrange(len(vocab))][1], "supply_chain") for _ in range(args.queries)]
    for text, dtype in queries[:20]:
        engine.match(text, dtype, top_k=20)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    times = [timed(lambda t=text, d=dtype: engine.match(t, d, top_k=20)) for text, dtype in queries]
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    return {
        "machine": machine(),
        "profiles": n,
        "vocabulary_terms_encoded": len(vocab),
        "vocab_encode_s": round(vocab_encode_s, 1),
        "build_s": {"bm25_and_cooccurrence": round(lexical_s, 1), "hnsw": round(ann_s, 1), "graph": round(graph_s, 1)},
        "top20_with_expansion": percentiles(times),
        "rss_after_mb": rss,
        "peak_rss_mb": peak_rss_mb(),
    }


def throughput(args: argparse.Namespace) -> dict:
    """Profiles/s for MiniLM on PyTorch and on ONNX Runtime (float32, as used) and for USE; plus
    how far a dynamically int8-quantised ONNX model strays from the float vectors (why it is not
    used)."""
    from embeddings.dense import DEFAULT_MODEL, make_encoder
    from marketplace.matching.profiles import load_profiles

    settings = Settings.from_env()
    with session_scope(settings) as s:
        profiles = list(load_profiles(s).values())
    texts = [p.text() for p in random.Random(args.seed).sample(profiles, min(args.profiles, len(profiles)))]
    out = {"machine": machine(), "profiles": len(texts), "mean_chars": round(sum(map(len, texts)) / len(texts))}
    onnx_dir = settings.onnx_dir(DEFAULT_MODEL)  # MiniLM; the shipped static model: bench/embeddings_encoding.py
    encoders = {
        "minilm torch": make_encoder(DEFAULT_MODEL, runtime="torch"),
        "minilm onnx": make_encoder(DEFAULT_MODEL, runtime="onnx", onnx_dir=onnx_dir),
        "use-multilingual-v3": make_encoder("use-multilingual-v3"),
    }
    vectors = {}
    for name, encoder in encoders.items():
        encoder.encode(texts[:32])
        start = time.perf_counter()
        vectors[name] = encoder.encode(texts)
        out[name] = {"profiles_per_s": round(len(texts) / (time.perf_counter() - start), 1)}
    agree = np.sum(vectors["minilm torch"] * vectors["minilm onnx"], axis=1)
    out["minilm onnx"]["cosine_to_torch_min"] = round(float(agree.min()), 6)
    out["int8 onnx (rejected)"] = int8_agreement(encoders["minilm onnx"], onnx_dir, texts, vectors["minilm onnx"])
    return out


def int8_agreement(encoder, onnx_dir, texts: list[str], reference: np.ndarray) -> dict:  # noqa: ANN001
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from embeddings.onnx_encoder import OnnxSentenceEncoder

    int8_dir = onnx_dir.parent / (onnx_dir.name + "-int8")
    int8_dir.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(onnx_dir / "model.onnx", int8_dir / "model.onnx", weight_type=QuantType.QInt8)
    quantized = OnnxSentenceEncoder(encoder.path, int8_dir)
    start = time.perf_counter()
    vecs = quantized.encode(texts)
    cosine = np.sum(vecs * reference, axis=1)
    return {
        "profiles_per_s": round(len(texts) / (time.perf_counter() - start), 1),
        "cosine_to_float_mean": round(float(cosine.mean()), 4),
        "cosine_to_float_min": round(float(cosine.min()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="matching benchmarks")
    parser.add_argument("mode", choices=["real", "synthetic", "throughput"])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--profiles", type=int, default=500_000)
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the timed queries to stderr")
    args = parser.parse_args()
    result = {"real": real, "synthetic": synthetic, "throughput": throughput}[args.mode](args)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
