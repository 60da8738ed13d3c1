"""Approximate nearest-neighbour index over firm vectors (hnswlib, inner product on normalised
vectors = cosine), persisted to disk with the content hash of each item so that a rebuild only
adds or replaces the items whose text changed."""

from __future__ import annotations

import json
from pathlib import Path

import hnswlib
import numpy as np

from embeddings.base import Hit

SYNC_CHUNK = 50_000  # vectors added per hnswlib call


class AnnIndex:
    def __init__(
        self,
        dim: int,
        *,
        capacity: int = 1024,
        ef: int = 128,
        m: int = 16,
        ef_construction: int = 200,
        init: bool = True,
    ) -> None:
        self.dim = dim
        self.index = hnswlib.Index(space="ip", dim=dim)
        if init:
            self.index.init_index(
                max_elements=max(capacity, 16), ef_construction=ef_construction, M=m, allow_replace_deleted=True
            )
            self.index.set_ef(ef)
        self.ef = ef
        self.hashes: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.hashes)

    def sync(self, ids: list[int], hashes: list[str], vectors_for: callable) -> dict[str, int]:  # noqa: ANN001
        """Make the index hold exactly ``ids`` with these content hashes; ``vectors_for(positions)``
        returns the vectors of the listed positions. Returns counts of added/replaced/removed."""
        wanted = dict(zip(ids, hashes, strict=True))
        removed = [i for i in self.hashes if i not in wanted]
        for i in removed:
            self.index.mark_deleted(i)
            del self.hashes[i]
        changed = [p for p, (i, h) in enumerate(zip(ids, hashes, strict=True)) if self.hashes.get(i) != h]
        if changed:
            need = len(self.hashes) + len(changed) + len(removed)
            if need > self.index.get_max_elements():
                self.index.resize_index(max(need, int(self.index.get_max_elements() * 1.5)))
            for start in range(0, len(changed), SYNC_CHUNK):  # bounded memory at any index size
                chunk = changed[start : start + SYNC_CHUNK]
                vectors = np.asarray(vectors_for(chunk), dtype=np.float32)
                self.index.add_items(vectors, np.asarray([ids[p] for p in chunk], dtype=np.int64))
            for p in changed:
                self.hashes[ids[p]] = hashes[p]
        return {"changed": len(changed), "removed": len(removed), "total": len(self.hashes)}

    def search(self, vector: np.ndarray, top_k: int, channel: str = "dense") -> list[Hit]:
        """The top_k nearest items. hnswlib cannot always return k items when many vectors are
        identical (an English model maps many Chinese-only profiles to the same vector): the
        search is retried with a wider beam, then with fewer results, instead of failing."""
        if not self.hashes:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        k = min(top_k, len(self.hashes))
        ef = max(self.ef, k)
        while k > 0:
            self.index.set_ef(ef)
            try:
                labels, distances = self.index.knn_query(query, k=k)
                break
            except RuntimeError:
                if ef < 4 * k and ef < len(self.hashes):
                    ef = min(4 * ef, len(self.hashes))
                else:
                    k //= 2
        else:
            return []
        self.index.set_ef(self.ef)
        hits = [Hit(int(label), float(1.0 - d), channel) for label, d in zip(labels[0], distances[0], strict=True)]
        return sorted(hits, key=lambda h: (-h.score, h.doc_id))

    def vector(self, doc_id: int) -> np.ndarray | None:
        if doc_id not in self.hashes:
            return None
        return np.asarray(self.index.get_items([doc_id])[0], dtype=np.float32)

    def save(self, directory: Path, model_id: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.index.save_index(str(directory / "firms.hnsw"))
        meta = {"model": model_id, "dim": self.dim, "hashes": {str(k): v for k, v in self.hashes.items()}}
        (directory / "firms.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, model_id: str, dim: int) -> AnnIndex | None:
        """The saved index when it was built with this model, else None (rebuild)."""
        meta_path, index_path = directory / "firms.json", directory / "firms.hnsw"
        if not meta_path.is_file() or not index_path.is_file():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("model") != model_id or meta.get("dim") != dim:
            return None
        ann = cls(dim, init=False)
        ann.index.load_index(str(index_path), allow_replace_deleted=True)
        ann.index.set_ef(ann.ef)
        ann.hashes = {int(k): v for k, v in meta["hashes"].items()}
        return ann
