"""A sentence-transformers model run by ONNX Runtime, without PyTorch.

PyTorch is the largest thing in a serving process (``import torch`` alone is about 500 MB of
resident memory, sentence-transformers another 270 MB) and its per-call overhead dominates when one
short query is encoded at a time. The model's transformer is exported to ONNX (float32) once, with
PyTorch, and cached on disk; after that the tokenizer (``tokenizers``, from the model's
``tokenizer.json``), ONNX Runtime and the pooling read from the model's own sentence-transformers
configuration (mean or CLS, then L2 normalisation) are all that run. Vectors equal the PyTorch
model's to float precision (tests/test_onnx_encoder.py).

Models this cannot run (no ``tokenizer.json``, modules other than Transformer/Pooling/Normalize,
other pooling modes) raise :class:`UnsupportedModel`; the caller then keeps PyTorch.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_MODULES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling")
_NORMALIZE = "sentence_transformers.models.Normalize"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class UnsupportedModel(Exception):
    """The model's layout is not one this encoder reproduces exactly."""


def read_layout(model_dir: Path) -> tuple[str, int, int]:
    """(pooling mode, embedding dimension, max sequence length) from a sentence-transformers
    model directory, or UnsupportedModel."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
        types = [m["type"] for m in modules]
        if tuple(types[:2]) != _MODULES or any(t != _NORMALIZE for t in types[2:]):
            raise UnsupportedModel(f"modules {types}")
        pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
        config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError) as exc:
        raise UnsupportedModel(f"no readable sentence-transformers configuration ({exc})") from exc
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes not in (["pooling_mode_mean_tokens"], ["pooling_mode_cls_token"]):
        raise UnsupportedModel(f"pooling {modes}")
    if not (model_dir / "tokenizer.json").is_file():
        raise UnsupportedModel("no tokenizer.json")
    mode = "mean" if modes == ["pooling_mode_mean_tokens"] else "cls"
    return mode, int(pooling["word_embedding_dimension"]), int(config.get("max_seq_length") or 512)


class OnnxSentenceEncoder:
    """Encodes texts with the ONNX export of a sentence-transformers model directory."""

    def __init__(self, model_dir: Path, cache_dir: Path, *, threads: int = 1) -> None:
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self.pooling, self.dim, self.max_length = read_layout(model_dir)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_length)
        pad = _pad_token(model_dir)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(pad) or 0, pad_token=pad)
        self._tokenizer_lock = threading.Lock()
        self.path = Path(cache_dir) / "model.onnx"
        try:
            self.session = _session(self.path, threads)
        except Exception as exc:  # noqa: BLE001 - missing or unreadable: export (again)
            if self.path.exists():
                log.warning("cached ONNX model %s is unusable (%s); exporting it again", self.path, exc)
            export(model_dir, self.path)
            self.session = _session(self.path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    @cached_property
    def _batch_session(self) -> Any:
        """A second session on every core for batches (profiles at index build), made on first use;
        the one-thread session serves queries beside the request's own Python work."""
        return _session(self.path, 0)

    @cached_property
    def _worker(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-encoder")

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of ``texts`` in order; batches are formed by length so padding stays small."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        session = self._batch_session if len(texts) > batch_size else self.session
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            feed = self._feed([texts[i] for i in chunk])
            (hidden,) = session.run(["last_hidden_state"], feed)
            out[chunk] = self._finish(hidden, feed["attention_mask"])
        return out

    def start(self, texts: list[str]) -> Callable[[], np.ndarray]:
        """Tokenise now, run the model on a worker thread (ONNX Runtime releases the GIL while it
        computes) and return a function that waits for it and pools: the caller's own Python work
        overlaps the model. One worker serialises runs and a lock the tokenizer, so concurrent
        requests are safe."""
        feed = self._feed(texts)
        started = threading.Event()

        def run() -> tuple[np.ndarray, np.ndarray]:
            started.set()
            return self._run(feed)

        pending = self._worker.submit(run)
        # Let the worker take the GIL and enter ONNX Runtime (which releases it) now; otherwise it
        # would wait for the interpreter's switch interval (5 ms) while this thread runs Python.
        started.wait(0.05)
        return lambda: self._finish(*pending.result())

    def _feed(self, texts: list[str]) -> dict[str, np.ndarray]:
        with self._tokenizer_lock:
            encodings = self.tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        return {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}

    def _run(self, feed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        (hidden,) = self.session.run(["last_hidden_state"], feed)
        return hidden, feed["attention_mask"]

    def _finish(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def _pad_token(model_dir: Path) -> str:
    """The model's padding token ([PAD] for BERT-style vocabularies, <pad> for XLM-R ones)."""
    try:
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "[PAD]"
    pad = config.get("pad_token")
    return (pad.get("content") if isinstance(pad, dict) else pad) or "[PAD]"


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: one per core
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export(model_dir: Path, path: Path) -> None:
    """Export the transformer of the sentence-transformers model in ``model_dir`` to ``path``
    (this is the only step that needs PyTorch). Written to a temporary file and renamed, so a
    crash never leaves a half-written model behind."""
    import torch
    from sentence_transformers import SentenceTransformer

    from embeddings.base import quiet_transformers

    quiet_transformers()
    model = SentenceTransformer(str(model_dir), device="cpu")
    names = [n for n in model.tokenizer.model_input_names if n in _INPUTS]

    class LastHidden(torch.nn.Module):
        def __init__(self, auto_model: torch.nn.Module) -> None:
            super().__init__()
            self.auto_model = auto_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.auto_model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = model.tokenizer(["示例 sample"], return_tensors="pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    log.info("exporting %s to ONNX at %s", model_dir, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(model[0].auto_model).eval(),
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    tmp.replace(path)
