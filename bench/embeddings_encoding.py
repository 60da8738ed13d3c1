"""Benchmark: how fast ChainMatch's own static model encodes, against the previous default.

On the imported database: every profile text encoded in batches (profiles/s and total seconds,
what `index build` spends encoding), and single-query encoding latency (p50/p95/p99 over short
product names and patent titles, one text per call, as the engine encodes a demand). The baseline
in the same run is all-MiniLM-L6-v2 on ONNX Runtime (the default before), on a sample.

Usage:
  python bench/embeddings_encoding.py [--queries 500] [--baseline-profiles 1000] [--model NAME]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from _common import machine, peak_rss_mb, percentiles, timed

from marketplace.config import Settings
from marketplace.db import session_scope


def queries_and_texts(settings: Settings, n: int, seed: int) -> tuple[list[str], list[str]]:
    from sqlalchemy import select

    from marketplace.matching.profiles import load_profiles
    from marketplace.models import Patent, Product

    with session_scope(settings) as s:
        texts = [p.text() for p in load_profiles(s).values()]
        products = [p for (p,) in s.execute(select(Product.name)) if 2 <= len(p) <= 12]
        patents = [t for (t,) in s.execute(select(Patent.title))]
    rng = random.Random(seed)
    queries = rng.sample(products, n // 2) + rng.sample(patents, min(len(patents), n - n // 2))
    return queries, texts


def measure(encoder, queries: list[str], texts: list[str]) -> dict:  # noqa: ANN001
    encoder.encode(texts[:64])
    for q in queries[:20]:
        encoder.encode([q], is_query=True)
    started = time.perf_counter()
    for start in range(0, len(texts), 256):  # the batch size index build uses
        encoder.encode(texts[start : start + 256])
    seconds = time.perf_counter() - started
    latencies = [timed(lambda q=q: encoder.encode([q], is_query=True)) for q in queries]
    return {
        "profiles": len(texts),
        "encode_all_s": round(seconds, 2),
        "profiles_per_s": round(len(texts) / seconds, 1),
        "query_encoding_ms": percentiles(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--baseline-profiles", type=int, default=1000)
    parser.add_argument("--model", help="default: MARKETPLACE_EMBEDDING_MODEL")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from embeddings.dense import DEFAULT_MODEL, make_encoder

    settings = Settings.from_env()
    model = args.model or settings.embedding_model
    queries, texts = queries_and_texts(settings, args.queries, args.seed)
    started = time.perf_counter()
    ours = make_encoder(model)
    load_s = time.perf_counter() - started
    out = {"machine": machine(), "model": ours.model_id, "dim": ours.dim, "load_s": round(load_s, 2)}
    out["static"] = measure(ours, queries, texts)
    sample = random.Random(args.seed).sample(texts, min(args.baseline_profiles, len(texts)))
    baseline = make_encoder(DEFAULT_MODEL, runtime="onnx", onnx_dir=settings.onnx_dir(DEFAULT_MODEL))
    out["baseline all-MiniLM-L6-v2 onnx"] = measure(baseline, queries, sample)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
