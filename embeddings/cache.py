"""Embedding cache keyed by (model, content hash), persisted in a small SQLite file, so a profile
is encoded once per model and text, across runs."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np


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
