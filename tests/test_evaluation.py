"""The quality evaluation: metrics, leakage-free task construction, and an end-to-end run on the
fixture data (real model, real BM25, networkx graph)."""

from __future__ import annotations

import json

import pytest

from marketplace.evaluation import CONFIGS, evaluate, hide_product_edges, markdown_table, metrics
from tests.conftest import FIXTURES


def test_metrics_count_the_first_gold_hit_within_the_top_50():
    ranked = [[1, 2, 3], [4, 5], list(range(100, 160)) + [7]]
    gold = [{2}, {9}, {7}]  # rank 2, missing, beyond 50
    assert metrics(ranked, gold) == {
        "R@1": 0.0,
        "R@10": pytest.approx(1 / 3, abs=1e-4),
        "R@50": pytest.approx(1 / 3, abs=1e-4),
        "MRR": pytest.approx(1 / 6, abs=1e-4),
    }


def test_hidden_product_edges_are_removed_from_the_copy_at_most_one_per_company(tmp_path):
    hidden = hide_product_edges(FIXTURES / "chainkg", tmp_path, n=5, seed=13)
    assert hidden
    kept = [json.loads(line) for line in (tmp_path / "company_product.jsonl").open(encoding="utf-8")]
    kept_pairs = {(r["company"], r["product"]) for r in kept}
    assert all((r["company"], r["product"]) not in kept_pairs for r in hidden)
    assert len({r["company"] for r in hidden}) == len(hidden)
    original = sum(1 for _ in (FIXTURES / "chainkg" / "company_product.jsonl").open(encoding="utf-8"))
    assert len(kept) == original - len(hidden)


def test_evaluation_on_the_fixture_data_reports_every_task_and_channel(settings, encoder):
    report = evaluate(settings, data_dir=FIXTURES, limit=50, hidden=10, progress=False, encoder_factory=lambda: encoder)
    pairs = {(r["task"], r["config"]) for r in report["results"]}
    tasks = {"patent→holder", "product→producer", "upstream supplier"}
    assert pairs == {(t, c) for t in tasks for c in CONFIGS}
    for r in report["results"]:
        assert r["n"] > 0, r["task"]
        assert all(0.0 <= v <= 1.0 for v in r["metrics"].values())
        assert r["metrics"]["R@1"] <= r["metrics"]["R@10"] <= r["metrics"]["R@50"]
    fused = {r["task"]: r["metrics"] for r in report["results"] if r["config"] == "fused"}
    assert fused["upstream supplier"]["R@10"] > 0.5  # the chain graph finds suppliers on real data
    groups = {row["group"] for row in report["patent_holder_breakdown"]}
    assert groups == {"holder has other patents", "holder known by industries only"}
    assert "| patent→holder | fused |" in markdown_table(report)
