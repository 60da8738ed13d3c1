"""Reasons in pages and the API follow the reader's language; the chain graph reads stored paths."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.matching import reasons as why
from marketplace.models import MatchSuggestion

STORED_PATH = [
    {"key": "product:990001", "name": "虚构材料甲", "label": "Product", "via": None},
    {"key": "product:990002", "name": "虚构材料乙", "label": "Product", "via": "UPSTREAM_OF<"},
    {"key": "firm:990003", "name": "虚构企业", "label": "Firm", "via": "PRODUCES<"},
]


def _store(loaded, people, reasons: list) -> int:
    with session_scope(loaded) as s:
        row = MatchSuggestion(
            demand_id=people["demand"], firm_id=people["sme_firm"], score=0.9, rank=1, reasons=reasons
        )
        s.add(row)
        s.flush()
        return row.id


def test_candidate_reasons_render_in_the_chosen_language(login, loaded, people):
    _store(loaded, people, [why.terms("products", ["锂电池隔膜"]), why.tier("specialized")])
    client = login("large")
    zh = client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    assert "匹配产品：锂电池隔膜" in zh and "企业资质：专精特新" in zh
    client.get("/lang/en")
    en = client.get(f"/demands/{people['demand']}").get_data(as_text=True)
    assert "Matching products: 锂电池隔膜" in en and "Qualification: Specialized &amp; innovative" in en
    assert "匹配产品" not in en


def test_inbox_reasons_render_in_the_chosen_language(login, loaded, people):
    _store(loaded, people, [why.cooccurrence("锂电池隔膜", ["涂覆隔膜"], 0.5, 4)])
    client = login("sme")
    assert "潜在能力：生产涂覆隔膜，50% 的锂电池隔膜生产企业（共 4 家）也生产这些" in client.get("/inbox/").get_data(
        as_text=True
    )
    client.get("/lang/en")
    assert "Latent capability: makes 涂覆隔膜, which 50 % of the 4 锂电池隔膜 makers also make" in client.get(
        "/inbox/"
    ).get_data(as_text=True)


def test_api_returns_the_structure_and_text_in_the_requested_language(client, loaded, people):
    _store(loaded, people, [why.terms("products", ["锂电池隔膜"]), why.similarity(0.5)])
    headers = {"Authorization": f"Bearer {people['tokens']['large']}"}
    url = f"/api/v1/demands/{people['demand']}/suggestions"
    zh = client.get(url, headers=headers).get_json()["items"][0]
    assert zh["reasons"] == ["匹配产品：锂电池隔膜", "语义相似度 0.50"]
    assert zh["reason_data"] == [{"kind": "products", "terms": ["锂电池隔膜"]}, {"kind": "similarity", "value": 0.5}]
    en = client.get(url, headers={**headers, "Accept-Language": "en-US,en;q=0.9"}).get_json()["items"][0]
    assert en["reasons"] == ["Matching products: 锂电池隔膜", "Semantic similarity 0.50"]


def test_api_match_returns_structured_reasons(client, people):
    headers = {"Authorization": f"Bearer {people['tokens']['large']}", "Accept-Language": "en"}
    results = client.post("/api/v1/match", json={"text": "锂电池隔膜", "type": "supply_chain"}, headers=headers)
    rows = results.get_json()["results"]
    assert rows and all(len(r["reasons"]) == len(r["reason_data"]) for r in rows)
    assert all(d["kind"] in why.KINDS for r in rows for d in r["reason_data"])
    assert not any("匹配产品" in text for r in rows for text in r["reasons"])


def test_chain_graph_reads_the_stored_paths_without_running_the_engine(login, loaded, people, monkeypatch):
    _store(loaded, people, [why.terms("products", ["锂电池隔膜"]), {"kind": "chain", "path": STORED_PATH}])

    def no_engine():  # noqa: ANN202
        raise AssertionError("the chain graph view must not run the matching engine")

    monkeypatch.setattr("web.demands.pages.get_engine", no_engine)
    graph = login("large").get(f"/demands/{people['demand']}/graph.json").get_json()
    assert [n["id"] for n in graph["nodes"]] == ["demand", "product:990001", "product:990002", "firm:990003"]
    assert [n["category"] for n in graph["nodes"]] == [0, 1, 1, 4]
    assert [(link["source"], link["target"]) for link in graph["links"]] == [
        ("demand", "product:990001"),
        ("product:990001", "product:990002"),
        ("product:990002", "firm:990003"),
    ]


def test_chain_graph_of_suggestions_without_a_stored_path_has_only_the_demand(login, loaded, people):
    _store(loaded, people, [why.legacy("产业链：旧版本的一句话")])
    graph = login("large").get(f"/demands/{people['demand']}/graph.json").get_json()
    assert graph == {"nodes": [{"id": "demand", "name": "采购锂电池隔膜", "category": 0}], "links": []}


def test_matching_a_demand_stores_reasons_as_data(login, loaded, people):
    client = login("large")
    assert client.post(f"/demands/{people['demand']}/match").status_code == 302
    with session_scope(loaded) as s:
        rows = s.scalars(select(MatchSuggestion).where(MatchSuggestion.demand_id == people["demand"])).all()
        stored = [r for row in rows for r in row.reasons]
    assert stored and all(isinstance(r, dict) and r["kind"] in why.KINDS for r in stored)
    assert any(r["kind"] == "chain" and r["path"][-1]["key"].startswith("firm:") for r in stored)
