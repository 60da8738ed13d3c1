"""Rank fusion of channel results."""

from __future__ import annotations

from collections import defaultdict

from embeddings.base import Hit


def rrf(lists: dict[str, list[Hit]], weights: dict[str, float] | None = None, k: int = 60) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion: score(d) = sum over channels of w_c / (k + rank_c(d)).
    Returns (doc_id, score) best first; ties by doc id."""
    fused: dict[int, float] = defaultdict(float)
    for channel, hits in lists.items():
        w = 1.0 if weights is None else weights.get(channel, 0.0)
        if w <= 0:
            continue
        for rank, hit in enumerate(hits, start=1):
            fused[hit.doc_id] += w / (k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
