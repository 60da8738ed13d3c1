"""Reasons as data: rendering in Chinese and English, reading old sentences back, migration 0006."""

from __future__ import annotations

import json

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from graph.protocol import Label, PathStep
from marketplace.config import Settings
from marketplace.db import alembic_config, get_engine
from marketplace.matching import reasons as why

PATH = [
    PathStep("product:1", "锂电池", Label.PRODUCT),
    PathStep("product:2", "磷酸铁锂", Label.PRODUCT, "UPSTREAM_OF<"),
    PathStep("firm:7", "德方纳米", Label.FIRM, "PRODUCES<"),
]


def all_kinds() -> list[why.Reason]:
    return [
        why.terms("products", ["光伏玻璃", "EVA胶膜"]),
        why.terms("patents", ["一种隔膜涂覆方法", "一种电解液"]),
        why.terms("industries", ["电池化学品"]),
        why.chain(PATH),
        why.cooccurrence("磷酸铁锂", ["正极材料", "前驱体"], 0.8214, 28),
        why.similarity(0.62),
        why.tier("specialized"),
        why.region("上海"),
        why.plain("lexical"),
        why.plain("fused"),
        why.legacy("旧的理由原文"),
    ]


def test_every_kind_renders_in_chinese():
    assert why.render_all(all_kinds(), "zh") == [
        "匹配产品：光伏玻璃、EVA胶膜",
        "相关专利：《一种隔膜涂覆方法》；《一种电解液》",
        "所属行业：电池化学品",
        "产业链：产品 磷酸铁锂 是 锂电池 的上游原材料；德方纳米 生产 磷酸铁锂",
        "潜在能力：生产正极材料、前驱体，82% 的磷酸铁锂生产企业（共 28 家）也生产这些",
        "语义相似度 0.62",
        "企业资质：专精特新",
        "地区：上海（符合地区偏好）",
        "文本相关（BM25）",
        "综合排序",
        "旧的理由原文",
    ]


def test_every_kind_renders_in_english():
    assert why.render_all(all_kinds(), "en_US") == [
        "Matching products: 光伏玻璃, EVA胶膜",
        "Related patents: “一种隔膜涂覆方法”; “一种电解液”",
        "Industry: 电池化学品",
        "Supply chain: 磷酸铁锂 is an upstream material of 锂电池; 德方纳米 makes 磷酸铁锂",
        "Latent capability: makes 正极材料, 前驱体, which 82 % of the 28 磷酸铁锂 makers also make",
        "Semantic similarity 0.62",
        "Qualification: Specialized & innovative",
        "Region: 上海 (preferred)",
        "Text match (BM25)",
        "Overall ranking",
        "旧的理由原文",
    ]


def test_reasons_are_plain_json_and_keep_the_chain_node_ids():
    data = json.loads(json.dumps(all_kinds(), ensure_ascii=False))
    assert {r["kind"] for r in data} <= set(why.KINDS)
    assert [s["key"] for s in why.chain_path(data)] == ["product:1", "product:2", "firm:7"]
    assert why.chain_path([why.terms("products", ["x"])]) is None


def test_unknown_kinds_and_bare_strings_render_without_failing():
    assert why.render({"kind": "from-the-future"}, "zh") == "其他依据"
    assert why.render({"kind": "from-the-future"}, "en") == "Other evidence"
    assert why.render("未迁移的句子", "en") == "未迁移的句子"


@pytest.mark.parametrize("reason", [r for r in all_kinds() if r["kind"] not in ("chain", "cooccurrence", "legacy")])
def test_old_chinese_sentences_read_back_into_the_same_data(reason):
    assert why.parse_legacy(why.render(reason, "zh")) == reason


def test_sentences_that_cannot_be_read_stay_legacy_with_their_text():
    chain_sentence = why.render(why.chain(PATH), "zh")
    for sentence in (chain_sentence, "企业资质：不存在的资质", "随便一句话", "相关专利：没有书名号"):
        assert why.parse_legacy(sentence) == {"kind": "legacy", "text": sentence}


OLD_REASONS = [
    "匹配产品：光伏玻璃、EVA胶膜",
    "产业链：产品 硅片 是 电池片 的上游原材料；某公司 生产 硅片",
    "企业资质：专精特新",
    "语义相似度 0.50",
]


def _before_0006() -> str:
    return ScriptDirectory.from_config(alembic_config(Settings())).get_revision("0006").down_revision


def _migrate_to_just_before_0006(tmp_path) -> tuple[Settings, str]:
    s = Settings(instance_dir=tmp_path)
    command.upgrade(alembic_config(s), _before_0006())
    with get_engine(s.database_url).begin() as conn:
        now = "2026-11-25 00:00:00"
        conn.execute(
            text(
                "INSERT INTO firms (id, name, kind, source, fact_sources, created_at, updated_at) VALUES "
                "(1, '大企业股份有限公司', 'large', 'test', '{}', :now, :now), "
                "(2, '小企业有限公司', 'sme', 'test', '{}', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO demands (id, owner_firm_id, type, title, description, status, visibility, details, "
                "wanted_products, wanted_industries, wanted_technologies, created_at, updated_at) VALUES "
                "(1, 1, 'supply_chain', '采购', '', 'open', 'public', '{}', '[]', '[]', '[]', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO match_suggestions (id, demand_id, firm_id, score, rank, reasons, status, owner_action, "
                "created_at, updated_at) VALUES (1, 1, 2, 0.9, 1, :reasons, 'suggested', 'none', :now, :now)"
            ),
            {"reasons": json.dumps(OLD_REASONS, ensure_ascii=False), "now": now},
        )
    return s, "SELECT reasons FROM match_suggestions WHERE id = 1"


def test_migration_0006_turns_old_sentences_into_data_and_back(tmp_path):
    s, query = _migrate_to_just_before_0006(tmp_path)
    command.upgrade(alembic_config(s), "0006")
    with get_engine(s.database_url).connect() as conn:
        migrated = json.loads(conn.execute(text(query)).scalar_one())
    assert migrated == [
        {"kind": "products", "terms": ["光伏玻璃", "EVA胶膜"]},
        {"kind": "legacy", "text": OLD_REASONS[1]},
        {"kind": "tier", "tier": "specialized"},
        {"kind": "similarity", "value": 0.5},
    ]
    assert why.render_all(migrated, "en")[0] == "Matching products: 光伏玻璃, EVA胶膜"
    command.downgrade(alembic_config(s), _before_0006())
    with get_engine(s.database_url).connect() as conn:
        assert json.loads(conn.execute(text(query)).scalar_one()) == OLD_REASONS


def test_an_industry_named_with_ye_is_not_followed_by_a_second_hangye():
    path = [
        PathStep("industry:3", "电解质水行业", Label.INDUSTRY),
        PathStep("firm:9", "健力宝", Label.FIRM, "IN_INDUSTRY<"),
    ]
    assert why.render(why.chain(path), "zh") == "产业链：健力宝 属于 电解质水行业"
    path = [
        PathStep("industry:4", "电池化学品", Label.INDUSTRY),
        PathStep("firm:9", "某企业", Label.FIRM, "IN_INDUSTRY<"),
    ]
    assert why.render(why.chain(path), "zh") == "产业链：某企业 属于 电池化学品 行业"
