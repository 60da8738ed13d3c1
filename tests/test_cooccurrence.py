"""The latent-capability channel: firms that make what the makers of a product also make."""

from __future__ import annotations

import pytest

from embeddings import cooccurrence
from embeddings.cooccurrence import CooccurrenceChannel, profile_items
from marketplace.matching.reasons import render

FIRMS = {
    1: ["磷酸铁锂", "正极材料", "前驱体"],
    2: ["磷酸铁锂", "正极材料", "前驱体", "碳酸锂"],
    3: ["磷酸铁锂", "正极材料"],
    4: ["磷酸铁锂", "前驱体"],
    5: ["正极材料", "前驱体"],  # makes what the makers make, not (visibly) the product
    6: ["正极材料", "水泥", "钢材", "玻璃", "纸箱", "服装"],  # one shared item among many
    7: ["水泥"],
    8: ["磷酸铁锂"],  # makes the product and nothing else
}


@pytest.fixture
def channel() -> CooccurrenceChannel:
    return CooccurrenceChannel(FIRMS)


def test_a_firm_making_what_the_products_makers_make_ranks_first(channel):
    hits, query = channel.search({"磷酸铁锂": 1.0}, 10)
    ids = [h.doc_id for h in hits]
    assert ids[0] in (1, 2, 5) and 5 in ids[:3]
    assert ids.index(5) < ids.index(6)  # shares two items instead of one of six
    assert 7 not in ids  # nothing in common with the makers


def test_the_seed_itself_never_votes(channel):
    hits, _ = channel.search({"磷酸铁锂": 1.0}, 10)
    assert 8 not in [h.doc_id for h in hits]  # it only lists the product


def test_evidence_names_the_shared_products_and_the_share_of_makers(channel):
    _, query = channel.search({"磷酸铁锂": 1.0}, 10)
    evidence = query.evidence(5)
    assert evidence.product == "磷酸铁锂" and set(evidence.items) == {"正极材料", "前驱体"}
    assert evidence.reference == 5 and evidence.share == pytest.approx(4 / 5)
    assert query.evidence(7) is None


def test_items_too_common_to_tell_anything_do_not_vote(channel, monkeypatch):
    monkeypatch.setattr(cooccurrence, "MAX_ITEM_FIRMS", 4)  # 正极材料 is held by 5 firms here
    _, query = channel.search({"磷酸铁锂": 1.0}, 10)
    assert query.evidence(6) is None


def test_unknown_seeds_give_nothing(channel):
    hits, query = channel.search({"不存在的产品": 1.0}, 10)
    assert hits == [] and query.evidence(5) is None


def test_industries_are_items_of_their_own():
    assert profile_items(["电池"], ["电池"]) == ["电池", "行业:电池"]


def test_engine_explains_latent_hits_with_a_cooccurrence_reason(engine):
    results = engine.match("正极材料", "supply_chain", top_k=10, channels=["cooccur"])
    assert results
    latent = [r for r in results if any(x["kind"] == "cooccurrence" for x in r.reasons)]
    assert latent
    reason = next(x for x in latent[0].reasons if x["kind"] == "cooccurrence")
    assert 0 < reason["share"] <= 1 and reason["makers"] >= 1 and reason["evidence"]
    assert "生产企业" in render(reason, "zh") and "makers also make" in render(reason, "en")
