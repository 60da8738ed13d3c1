"""Approximate nearest-neighbour index over firm vectors (hnswlib, inner product on normalised
vectors = cosine), persisted to disk with the content hash of each item so that a rebuild only
adds or replaces the items whose text changed.

A saved index records the model, the dimension and the database it was built for. One that belongs
to another model or database, or whose files are unreadable or disagree with each other (items in
the metadata that hnswlib does not hold), is not loaded: the caller builds a new one. Items removed
by one sync and added again by a later one (a firm deleted and restored, or a database rebuilt in
the same instance directory) are un-deleted before they are replaced, which hnswlib requires."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path

import hnswlib
import numpy as np

from embeddings.base import Hit

log = logging.getLogger(__name__)

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
            self._undelete([ids[p] for p in changed])
            for start in range(0, len(changed), SYNC_CHUNK):  # bounded memory at any index size
                chunk = changed[start : start + SYNC_CHUNK]
                vectors = np.asarray(vectors_for(chunk), dtype=np.float32)
                self.index.add_items(vectors, np.asarray([ids[p] for p in chunk], dtype=np.int64))
            for p in changed:
                self.hashes[ids[p]] = hashes[p]
        return {"changed": len(changed), "removed": len(removed), "total": len(self.hashes)}

    def _undelete(self, labels: list[int]) -> None:
        """hnswlib refuses to add a label it holds as deleted ("Can't use addPoint to update deleted
        elements if replacement of deleted elements is enabled"): un-delete such labels first."""
        stored = set(self.index.get_ids_list())
        for label in labels:
            if label in stored and label not in self.hashes:
                with contextlib.suppress(RuntimeError):  # stored but not deleted: add_items replaces it
                    self.index.unmark_deleted(label)

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

    def save(self, directory: Path, model_id: str, database: str = "") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.index.save_index(str(directory / "firms.hnsw"))
        meta = {
            "model": model_id,
            "dim": self.dim,
            "database": _database_key(database),
            "count": self.index.get_current_count(),
            "hashes": {str(k): v for k, v in self.hashes.items()},
        }
        tmp = directory / "firms.json.tmp"
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        tmp.replace(directory / "firms.json")

    @classmethod
    def load(cls, directory: Path, model_id: str, dim: int, database: str = "") -> AnnIndex | None:
        """The saved index when it belongs to this model, dimension and database and its files
        agree; else None (the caller rebuilds), with the reason logged."""
        meta_path, index_path = directory / "firms.json", directory / "firms.hnsw"
        if not meta_path.is_file() or not index_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            hashes = {int(k): str(v) for k, v in meta["hashes"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return _stale(directory, f"unreadable metadata ({exc})")
        for key, want in (("model", model_id), ("dim", dim), ("database", _database_key(database))):
            if meta.get(key) != want:
                return _stale(directory, f"built for {key} {meta.get(key)!r}, not {want!r}")
        ann = cls(dim, init=False)
        try:
            ann.index.load_index(str(index_path), allow_replace_deleted=True)
        except (RuntimeError, ValueError) as exc:
            return _stale(directory, f"unreadable index ({exc})")
        if ann.index.get_current_count() != meta.get("count") or not set(hashes) <= set(ann.index.get_ids_list()):
            return _stale(directory, "index and metadata disagree")
        ann.index.set_ef(ann.ef)
        ann.hashes = hashes
        return ann


def _database_key(database: str) -> str:
    """A hash of the database URL (the URL may hold a password; it is never written out)."""
    return hashlib.sha256(database.encode("utf-8")).hexdigest()[:16]


def _stale(directory: Path, reason: str) -> None:
    log.warning("vector index %s is rebuilt: %s", directory, reason)
    return None
