"""Embedding cache keyed by (model, content hash), persisted in a small SQLite file, so a profile
is encoded once per model and text, across runs. Opening it for a model whose cached vectors have
another dimension than the model's (a model directory replaced by a different one under the same
name) is refused with a message naming the model and the cache file."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from marketplace.errors import InputError


def content_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, path: Path, model_id: str, dim: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vec BLOB, PRIMARY KEY (model, hash))"
        )
        self.model_id = model_id
        self.dim = dim
        row = self.conn.execute("SELECT length(vec) FROM vectors WHERE model = ? LIMIT 1", [model_id]).fetchone()
        if row is not None and row[0] != 4 * dim:
            self.conn.close()
            raise InputError(
                f"embedding model {model_id!r} gives {dim}-dimensional vectors but {path} holds "
                f"{row[0] // 4}-dimensional vectors cached under the same model: the model directory was "
                f"replaced by another model. Point MARKETPLACE_EMBEDDING_MODEL at the original model, or delete "
                f"{path} to encode every profile again",
                field="MARKETPLACE_EMBEDDING_MODEL",
            )

    def get_many(self, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 900):
            chunk = hashes[start : start + 900]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT hash, vec FROM vectors WHERE model = ? AND hash IN ({marks})", [self.model_id, *chunk]
            )
            for h, blob in rows:
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
            [(self.model_id, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()],
        )
        self.conn.commit()

    def encode_cached(
        self, texts: list[str], encode: Callable[[list[str]], np.ndarray], batch: int = 256, progress: bool = False
    ) -> tuple[np.ndarray, int]:
        """Vectors for ``texts``, encoding only those not cached; returns (vectors, newly encoded)."""
        from tqdm import tqdm

        hashes = [content_hash(t) for t in texts]
        found = self.get_many(list(dict.fromkeys(hashes)))
        missing = list(dict.fromkeys(h for h in hashes if h not in found))
        text_of = dict(zip(hashes, texts, strict=True))
        with tqdm(
            total=len(missing), desc="encode profiles", unit=" profiles", disable=not progress or not missing
        ) as bar:
            for start in range(0, len(missing), batch):
                chunk = missing[start : start + batch]
                vecs = encode([text_of[h] for h in chunk])
                new = dict(zip(chunk, vecs, strict=True))
                self.put_many(new)
                found.update(new)
                bar.update(len(chunk))
        matrix = np.vstack([found[h] for h in hashes]) if hashes else np.zeros((0, self.dim), np.float32)
        return matrix.astype(np.float32), len(missing)

    def close(self) -> None:
        self.conn.close()
