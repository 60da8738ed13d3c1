"""The Chinese-aware lexical channel: jieba search-mode words plus CJK character bigrams, scored
with BM25 (bm25s) separately per profile field and blended with per-field weights.

Accounting noise among product names (其他业务, 合计, 调整项目 ...) is dropped before indexing.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import bm25s
import jieba
import numpy as np

from embeddings.base import Channel, Hit

jieba.setLogLevel(logging.WARNING)

_NOISE = re.compile(
    r"(^其他|^其它|合计|小计|总计|调整|抵消|抵销|分部间|内部交易|平衡项目|未分配|^补充|^主营业务$|"
    r"^其他业务|^合并|^减[:：]|^加[:：]|^营业收入$|^营业成本$|^利息|^手续费|^租赁$|^服务$|^销售$)"
)
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*|\d+(?:\.\d+)?")
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "和",
        "与",
        "及",
        "或",
        "在",
        "是",
        "为",
        "对",
        "等",
        "将",
        "把",
        "被",
        "由",
        "从",
        "向",
        "于",
        "以",
        "之",
        "其",
        "该",
        "本",
        "此",
        "这",
        "那",
        "我",
        "我们",
        "你",
        "您",
        "他",
        "她",
        "它",
        "需要",
        "寻找",
        "希望",
        "要求",
        "提供",
        "进行",
        "相关",
        "一种",
        "一个",
        "公司",
        "有限",
        "有限公司",
        "股份",
        "股份有限公司",
        "集团",
        "企业",
        "产品",
        "方法",
        "装置",
        "系统",
        "以及",
        "能力",
        "可以",
        "用于",
        "基于",
        "具有",
        "包括",
        "通过",
        "稳定",
        "合格",
        "优质",
        "供应商",
        "供应",
        "采购",
        "上游",
        "下游",
        "原材料",
        "零部件",
        "寻找",
        "合作",
        "项目",
        "技术",
        "研发",
        "服务",
    ]
)


_STOP_SPLIT = re.compile("|".join(sorted((re.escape(w) for w in STOPWORDS if len(w) > 1), key=len, reverse=True)))


def is_noise(name: str) -> bool:
    """True for accounting lines that are not products (其他业务, 合计, 调整项目 ...)."""
    text = (name or "").strip()
    return len(text) < 2 or bool(_NOISE.search(text))


def tokenize(text: str) -> list[str]:
    """jieba search-mode words, CJK character bigrams and lower-cased Latin words. Stopwords are
    dropped as words and cut out before bigrams are taken (原材料 gives no 材料 bigram).
    Tokens are interned: a corpus of 500,000 profiles then holds each distinct token once."""
    tokens: list[str] = []
    for run in _CJK_RUN.findall(text or ""):
        for part in _STOP_SPLIT.split(run):
            tokens += [w for w in jieba.lcut_for_search(part) if len(w) > 1 and w not in STOPWORDS]
            tokens += [part[i : i + 2] for i in range(len(part) - 1)]
    tokens += [m.lower() for m in _LATIN.findall(text or "")]
    return [sys.intern(t) for t in tokens]


@dataclass
class FieldIndex:
    name: str
    weight: float
    retriever: bm25s.BM25
    vocab: frozenset[str]

    def scores(self, query_tokens: list[str]) -> np.ndarray | None:
        known = [t for t in query_tokens if t in self.vocab]
        if not known:
            return None
        return self.retriever.get_scores(known)


def _build_field(name: str, weight: float, docs: Sequence[list[str]]) -> FieldIndex:
    retriever = bm25s.BM25()
    corpus = [d if d else ["∅"] for d in docs]  # bm25s needs a token in every document
    retriever.index(corpus, show_progress=False)
    vocab = frozenset(t for d in docs for t in d)
    return FieldIndex(name, weight, retriever, vocab)


class LexicalChannel(Channel):
    """BM25 over several fields of each document; a document's score is the weighted sum."""

    name = "lexical"

    def __init__(self, doc_ids: Sequence[int], fields: dict[str, tuple[float, Sequence[str]]]) -> None:
        self.doc_ids = np.asarray(doc_ids, dtype=np.int64)
        self.fields = [
            _build_field(name, weight, [tokenize(text) for text in texts]) for name, (weight, texts) in fields.items()
        ]

    def scores(self, query: str, weights: dict[str, float] | None = None) -> np.ndarray:
        tokens = tokenize(query)
        total = np.zeros(len(self.doc_ids), dtype=np.float32)
        for f in self.fields:
            s = f.scores(tokens)
            if s is not None:
                total += (weights or {}).get(f.name, f.weight) * s
        return total

    def search(self, query: str, top_k: int, weights: dict[str, float] | None = None) -> list[Hit]:
        return top_hits(self.doc_ids, self.scores(query, weights), top_k, self.name)


def top_hits(doc_ids: np.ndarray, scores: np.ndarray, top_k: int, channel: str) -> list[Hit]:
    """The top_k positive scores as hits, best first (ties by doc id)."""
    idx = np.flatnonzero(scores > 0)  # BM25 scores are sparse: partition only the documents that scored
    if len(idx) > top_k > 0:
        idx = idx[np.argpartition(-scores[idx], top_k - 1)[:top_k]]
    elif top_k <= 0:
        return []
    order = sorted(idx, key=lambda i: (-float(scores[i]), int(doc_ids[i])))
    return [Hit(int(doc_ids[i]), float(scores[i]), channel) for i in order]


@lru_cache(maxsize=200_000)
def words(text: str) -> frozenset[str]:
    """jieba words (no bigrams, no stopwords): what a person would call a matching term."""
    out = set()
    for run in _CJK_RUN.findall(text or ""):
        out |= {w for w in jieba.lcut(run) if len(w) > 1 and w not in STOPWORDS}
    return frozenset(out | {m.lower() for m in _LATIN.findall(text or "")})


def matched_terms(query: str, texts: Iterable[str], limit: int = 3) -> list[str]:
    """Texts named in the query, then texts sharing at least half of their words with it. Texts
    sharing no character bigram (other than a stopword such as 系统) and no Latin word with the
    query cannot share a word: they are skipped before word segmentation (most of a firm's facts,
    when explaining one result)."""
    q = words(query)
    lowered = query.lower()
    grams = {lowered[i : i + 2] for i in range(len(lowered) - 1)} - STOPWORDS  # 系统, 方法 ... alone share no word
    latin = {w for w in q if _LATIN.fullmatch(w)}
    scored = []
    for text in texts:
        if text and text in query:
            scored.append((0.0, -len(text), text))
            continue
        if not _may_share(text, grams, latin):
            continue
        w = words(text)
        if w:
            share = len(w & q) / len(w)
            if share > 0.5:
                scored.append((1.0 - share, len(text), text))
    return list(dict.fromkeys(t for _, _, t in sorted(scored)))[:limit]


def _may_share(text: str, grams: set[str], latin: set[str]) -> bool:
    lowered = (text or "").lower()
    if any(lowered[i : i + 2] in grams for i in range(len(lowered) - 1)):
        return True
    return bool(latin) and any(m.lower() in latin for m in _LATIN.findall(lowered))
