"""Small shared types: a scored hit from one channel, the channel and encoder interfaces."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hit:
    doc_id: int
    score: float
    channel: str


class Channel(ABC):
    """A retriever over firm profiles."""

    name: str

    @abstractmethod
    def search(self, query: str, top_k: int) -> list[Hit]: ...


class Encoder(ABC):
    """Turns texts into L2-normalised float32 vectors."""

    model_id: str
    dim: int

    @abstractmethod
    def encode(self, texts: list[str], *, is_query: bool = False) -> np.ndarray: ...

    def start_query(self, text: str) -> Callable[[], np.ndarray]:
        """Begin encoding one query; the returned function gives its vector. Encoders that can
        run in the background (ONNX Runtime) let the caller do other work in between."""
        vector = self.encode([text], is_query=True)[0]
        return lambda: vector


def quiet_transformers() -> None:
    """No progress bars or info lines from transformers while a model loads (called only where a
    transformer model is loaded, so serving the static model never imports transformers)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
