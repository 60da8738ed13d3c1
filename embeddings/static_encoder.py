"""A sentence-transformers ``StaticEmbedding`` model run with numpy and ``tokenizers`` alone.

A static model is a token-embedding table and a tokenizer: a text's vector is the mean of its
tokens' rows (``torch.nn.EmbeddingBag`` in mean mode), then L2-normalised. Reading the saved
``model.safetensors`` and ``tokenizer.json`` directly gives the same vectors as
sentence-transformers (tests/test_embeddings_training.py) without importing PyTorch, and encodes
thousands of texts per second on one core.

The model directory is checked when it is opened: a missing directory, a layout that is not
[StaticEmbedding, (Normalize)], unreadable weights or tokenizer, or a table whose row count is not
the tokenizer's vocabulary size is refused with a :class:`ModelDirectoryError` naming the directory.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from embeddings.base import Encoder
from marketplace.errors import InputError

WEIGHTS_KEY = "embedding.weight"


class ModelDirectoryError(InputError):
    """The configured embedding model directory cannot be used; the message names it."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(
            f"embedding model {str(path)!r} cannot be used: {reason}. Set MARKETPLACE_EMBEDDING_MODEL to a "
            "model directory written by `python -m marketplace embeddings train` (or another "
            "sentence-transformers model directory)",
            field="MARKETPLACE_EMBEDDING_MODEL",
        )


def static_module_dir(model_dir: Path) -> Path | None:
    """The StaticEmbedding module's folder when ``model_dir`` is a static sentence-transformers
    model, else None (another kind of model, or no modules.json)."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        first = modules[0]
    except (OSError, ValueError, IndexError, KeyError, TypeError):
        return None
    if not isinstance(first, dict) or not str(first.get("type", "")).endswith("StaticEmbedding"):
        return None
    return model_dir / str(first.get("path", ""))


def model_fingerprint(module_dir: Path) -> str:
    """A short hash of the weights and tokenizer: cached vectors belong to exactly this model."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json"):
        with (module_dir / name).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


class StaticModelEncoder(Encoder):
    """Mean of token embeddings from a static sentence-transformers model, L2-normalised."""

    def __init__(self, model_dir: Path | str, *, name: str | None = None) -> None:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.path = Path(model_dir)
        if not self.path.is_dir():
            raise ModelDirectoryError(self.path, "no such directory")
        module_dir = static_module_dir(self.path)
        if module_dir is None:
            raise ModelDirectoryError(self.path, "modules.json does not start with a StaticEmbedding module")
        self._check_layout()
        try:
            weights = load_file(str(module_dir / "model.safetensors"))
        except (OSError, SafetensorError, ValueError) as exc:
            raise ModelDirectoryError(self.path, f"model.safetensors is unreadable ({exc})") from None
        if WEIGHTS_KEY not in weights:
            raise ModelDirectoryError(self.path, f"model.safetensors holds no {WEIGHTS_KEY!r}")
        try:
            self.tokenizer = Tokenizer.from_file(str(module_dir / "tokenizer.json"))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a plain Exception on bad JSON
            raise ModelDirectoryError(self.path, f"tokenizer.json is unreadable ({exc})") from None
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        table = np.asarray(weights[WEIGHTS_KEY], dtype=np.float32)
        if table.ndim != 2 or table.shape[0] != self.tokenizer.get_vocab_size():
            raise ModelDirectoryError(
                self.path,
                f"the embedding table has shape {table.shape} but the tokenizer has "
                f"{self.tokenizer.get_vocab_size()} tokens",
            )
        if not np.isfinite(table).all():
            raise ModelDirectoryError(self.path, "the embedding table holds NaN or infinite values")
        self.table = table
        self.dim = int(table.shape[1])
        self.name = name or self.path.name
        self.model_id = f"static:{self.name}@{model_fingerprint(module_dir)}"
        self.runtime = "numpy"

    def _check_layout(self) -> None:
        modules = json.loads((self.path / "modules.json").read_text(encoding="utf-8"))
        others = [m.get("type") for m in modules[1:]]
        if any(not str(t).endswith("Normalize") for t in others):
            raise ModelDirectoryError(self.path, f"modules after StaticEmbedding must be Normalize, not {others}")

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        ids = self.token_ids(texts)
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((t for row in ids for t in row), dtype=np.int64, count=int(lengths.sum()))
        out = np.zeros((len(texts), self.dim), np.float32)
        nonempty = lengths > 0
        if flat.size:
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[nonempty]
            out[nonempty] = np.add.reduceat(self.table[flat], starts, axis=0) / lengths[nonempty, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
