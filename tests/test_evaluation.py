"""The quality evaluation: metrics, leakage-free task construction, and an end-to-end run on the
fixture data (real model, real BM25, networkx graph)."""

from __future__ import annotations

import json

import pytest

from marketplace.matching.evaluation import CONFIGS, TASKS, evaluate, hide_product_edges, markdown_table, metrics
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
    from marketplace.matching.evaluation import Query, precision_bound

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
    product_rows = report["product_producer_breakdown"]
    assert sum(row["queries"] for row in product_rows) == next(
        r["n"] for r in report["results"] if r["task"] == "product→producer" and r["config"] == "fused"
    )
    kinds = report["paraphrase_kinds"]
    for config in CONFIGS:
        assert kinds[config]["kinds counted"] >= kinds[config]["key as written"]
    table = markdown_table(report)
    assert "| product→producer R@10 by the hidden product |" in table and "| kinds counted |" in table


def test_filtered_product_queries_leave_out_the_visible_makers_but_never_the_answer():
    from marketplace.matching.evaluation import Query, filtered_product_queries

    queries = [Query("q", "磷酸铁锂", "supply_chain", {3})]
    (filtered,) = filtered_product_queries(queries, {"磷酸铁锂": {1, 2, 3}})
    assert filtered.ignore == {1, 2} and filtered.gold == {3}


def test_paraphrase_demands_never_name_their_product_and_span_many_chains():
    import yaml

    from marketplace.matching.evaluation import PARAPHRASE_FILE

    specs = yaml.safe_load(PARAPHRASE_FILE.read_text(encoding="utf-8"))
    assert len(specs) >= 50
    assert all(spec["product"] not in spec["text"] for spec in specs)
    assert len({spec["chain"] for spec in specs}) >= 10


def test_a_kind_of_a_product_is_a_name_that_ends_with_it():
    from marketplace.matching.evaluation import makers_of_kinds

    makers = {"正极材料": {1}, "三元正极材料": {2}, "电解液添加剂": {3}, "锂电池电解液": {4}, "钢": {5}, "不锈钢": {6}}
    assert makers_of_kinds(makers, "正极材料") == {1, 2}
    assert makers_of_kinds(makers, "电解液") == {4}  # an additive maker does not make electrolyte
    assert makers_of_kinds(makers, "钢") == {5}  # one character: no kinds
    assert makers_of_kinds(makers, "隔膜") == set()


def test_paraphrase_breakdown_counts_makers_of_kinds_without_changing_the_key():
    from marketplace.matching.evaluation import Query, paraphrase_breakdown

    queries = [
        Query("p0", "决定电芯能量密度的正极侧活性粉体", "supply_chain", {1}, product="正极材料"),
        Query("p1", "放在正负极之间的微孔绝缘薄膜", "supply_chain", {7}, product="锂电池隔膜"),
    ]
    makers = {"正极材料": {1}, "三元正极材料": {2}, "锂电池隔膜": {7}}
    out = paraphrase_breakdown(queries, {"fused": [[2, 9], [8, 9]]}, makers)
    assert out["demands whose answers grow"] == 1
    assert out["fused"] == {"key as written": 0.0, "kinds counted": 0.5}
    assert queries[0].gold == {1}  # the key itself is untouched


def test_product_breakdown_groups_queries_by_how_many_other_firms_list_the_product():
    from marketplace.matching.evaluation import Query, product_breakdown

    queries = [
        Query("a", "频谱管理", "supply_chain", {1}, product="频谱管理"),
        Query("b", "水泥", "supply_chain", {2}, product="水泥"),
        Query("c", "电解液", "supply_chain", {3}, product="电解液"),
    ]
    makers = {"水泥": set(range(10, 20)), "电解液": {3, 30}}
    rows = product_breakdown(queries, {"fused": [[1], [10, 2], [30]]}, makers)
    assert [(r["group"], r["queries"], r["fused"]) for r in rows] == [
        ("no other firm lists it", 1, 1.0),
        ("1–4 other firms list it", 1, 0.0),
        ("5 or more list it", 1, 1.0),
    ]
