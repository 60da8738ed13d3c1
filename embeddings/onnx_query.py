"""Query encoding with ONNX Runtime for a sentence-transformers model.

A demand is encoded one text at a time, where PyTorch's per-call overhead dominates (about 8 ms
for MiniLM on two cores). The model's transformer is exported once to ONNX (float32, no
quantisation: int8 changed query vectors too much, see docs/benchmarks.md) and cached on disk;
the model's own pooling and normalisation modules run on its output, so any pooling (mean, CLS)
works as configured. Profiles are still encoded in batches by PyTorch: the vectors agree to
float precision (tests/test_onnx_query.py).
"""

from __future__ import annotations

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


class OnnxQueryEncoder:
    """Runs ``model[0]`` (a sentence-transformers Transformer module) in ONNX Runtime and the rest
    of the model's modules (pooling, normalisation) in PyTorch."""

    def __init__(self, model: Any, cache_dir: Path, *, threads: int = 1) -> None:
        import onnxruntime as ort

        self.model = model
        self.tokenizer = model.tokenizer
        self.max_length = int(getattr(model[0], "max_seq_length", None) or 512)
        self.input_names = [n for n in self.tokenizer.model_input_names if n in _EXPORTABLE_INPUTS]
        self.path = Path(cache_dir) / "model.onnx"
        self._tokenizer_lock = threading.Lock()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        if self.path.exists():
            try:
                self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
                return
            except Exception as exc:  # noqa: BLE001 - an unreadable cached export is made again
                log.warning("cached ONNX model %s is unusable (%s); exporting it again", self.path, exc)
        export(model, self.path, self.input_names)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    @cached_property
    def _worker(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-query")

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.start(texts)()

    def start(self, texts: list[str]) -> Callable[[], np.ndarray]:
        """Tokenise now, run the model on a worker thread (ONNX Runtime releases the GIL while it
        computes), and return a function that waits for it and pools. The caller's own Python work
        overlaps the model. A lock serialises the tokenizer (a fast tokenizer must not be called
        from two threads at once) and one worker serialises runs, so concurrent requests are safe."""
        with self._tokenizer_lock:
            features = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
            )
        feed = {name: features[name].astype(np.int64) for name in self.input_names}
        started = threading.Event()

        def run() -> list[np.ndarray]:
            started.set()
            return self.session.run(["last_hidden_state"], feed)

        pending = self._worker.submit(run)
        # Let the worker take the GIL and enter ONNX Runtime (which releases it) now; otherwise it
        # would wait for the interpreter's switch interval (5 ms) while this thread runs Python.
        started.wait(0.05)
        return lambda: self._pool(pending.result()[0], feed["attention_mask"])

    def _pool(self, hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        import torch

        state = {"token_embeddings": torch.from_numpy(hidden), "attention_mask": torch.from_numpy(attention_mask)}
        with torch.inference_mode():
            for module in list(self.model)[1:]:
                state = module(state)
        return state["sentence_embedding"].numpy().astype(np.float32)


_EXPORTABLE_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export(model: Any, path: Path, input_names: list[str]) -> None:
    """Export the transformer of ``model`` to ``path`` (written to a temporary file, then renamed,
    so a crash never leaves a half-written model behind)."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, auto_model: torch.nn.Module) -> None:
            super().__init__()
            self.auto_model = auto_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.auto_model(**dict(zip(input_names, inputs, strict=True))).last_hidden_state

    sample = model.tokenizer(["示例 sample"], return_tensors="pt")
    args = tuple(sample[name] for name in input_names)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "last_hidden_state"]}
    log.info("exporting %s to ONNX at %s", type(model[0].auto_model).__name__, path)
    with warnings.catch_warnings(), torch.inference_mode(False):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(model[0].auto_model).eval(),
            args,
            str(tmp),
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    tmp.replace(path)
