"""The quality evaluation: metrics, leakage-free task construction, and an end-to-end run on the
fixture data (real model, real BM25, networkx graph)."""

from __future__ import annotations

import json

import pytest

from marketplace.evaluation import CONFIGS, TASKS, evaluate, hide_product_edges, markdown_table, metrics
from tests.conftest import FIXTURES


def test_metrics_count_the_first_gold_hit_within_the_top_50():
    ranked = [[1, 2, 3], [4, 5], list(range(100, 160)) + [7]]
    gold = [{2}, {9}, {7}]  # rank 2, missing, beyond 50
    assert metrics(ranked, gold) == {
        "R@1": 0.0,
        "R@10": pytest.approx(1 / 3, abs=1e-4),
        "R@50": pytest.approx(1 / 3, abs=1e-4),
        "P@10": pytest.approx(1 / 30, abs=1e-4),
        "nP@10": pytest.approx(1 / 3, abs=1e-4),
        "MRR": pytest.approx(1 / 6, abs=1e-4),
    }


def test_precision_at_10_counts_every_correct_firm_in_the_top_10():
    m = metrics([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]], [{1, 2, 3, 11}])
    assert m["P@10"] == pytest.approx(0.3) and m["nP@10"] == pytest.approx(0.75)


def test_precision_bound_is_what_few_correct_firms_allow():
    from marketplace.evaluation import Query, precision_bound

    queries = [Query("a", "x", "supply_chain", {1, 2}), Query("b", "y", "supply_chain", set(range(20)))]
    assert precision_bound(queries) == pytest.approx((0.2 + 1.0) / 2)


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
    assert pairs == {(t, c) for t in TASKS for c in CONFIGS}
    for r in report["results"]:
        assert r["n"] > 0, r["task"]
        assert all(0.0 <= v <= 1.0 for v in r["metrics"].values())
        assert r["metrics"]["R@1"] <= r["metrics"]["R@10"] <= r["metrics"]["R@50"]
    fused = {r["task"]: r["metrics"] for r in report["results"] if r["config"] == "fused"}
    assert fused["upstream supplier"]["R@10"] > 0.5  # the chain graph finds suppliers on real data
    groups = {row["group"] for row in report["patent_holder_breakdown"]}
    assert groups == {"holder has other patents", "holder known by industries only"}
    assert "| patent→holder | fused |" in markdown_table(report)
    assert "电解液" not in report["paraphrase_products_without_maker"]  # the fixtures have its makers


def test_filtered_product_queries_leave_out_the_visible_makers_but_never_the_answer():
    from marketplace.evaluation import Query, filtered_product_queries

    queries = [Query("q", "磷酸铁锂", "supply_chain", {3})]
    (filtered,) = filtered_product_queries(queries, {"磷酸铁锂": {1, 2, 3}})
    assert filtered.ignore == {1, 2} and filtered.gold == {3}


def test_paraphrase_demands_never_name_their_product_and_span_many_chains():
    import yaml

    from marketplace.evaluation import PARAPHRASE_FILE

    specs = yaml.safe_load(PARAPHRASE_FILE.read_text(encoding="utf-8"))
    assert len(specs) >= 50
    assert all(spec["product"] not in spec["text"] for spec in specs)
    assert len({spec["chain"] for spec in specs}) >= 10
