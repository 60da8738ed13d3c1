"""The matching engine: ranks firms for a demand text (and open demands for a firm).

Three channels feed a weighted fusion of max-normalised scores (CombSUM), weighted per demand type:

- lexical: jieba + bigram BM25 over profile fields (products, patents, industries, names/text);
- dense: sentence-transformers embeddings of profiles in an hnswlib index (cached by content);
- graph: the demand's text is linked to chain nodes (products, industries) it mentions, then
  expanded through the chain graph (networkx or Neo4j) along the relations its type follows.

Every result carries reasons: matched products/patents/industries, the chain path, the
semantic similarity, and the filters it satisfied.
"""

from __future__ import annotations

import heapq
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from embeddings.ann import AnnIndex
from embeddings.base import Encoder, Hit
from embeddings.cache import EmbeddingCache
from embeddings.fusion import combsum
from embeddings.lexical import STOPWORDS, LexicalChannel, is_noise, matched_terms
from graph.policies import policy_for
from graph.protocol import ChainGraph, Direction, ExpansionPolicy, PathStep, Reached, Rel
from graph.sync import industry_key, key_id, patent_key, product_key
from marketplace.config import Settings
from marketplace.errors import InputError, MarketplaceError
from marketplace.models import DemandType, FirmKind, Industry, Patent, Product, Tier
from marketplace.profiles import Profile, load_profiles
from marketplace.reasons import describe_path
from marketplace.regions import normalize_region

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 2000
POOL = 200
CHANNELS = ("lexical", "dense", "graph")

# Per demand type: channel weights of the score fusion (embeddings/fusion.py), tuned on the evaluation tasks
# (docs/benchmarks.md). The dense weight is low because the shipped default model reads English
# only; a deployment with a Chinese model raises it with MARKETPLACE_DENSE_WEIGHT.
CHANNEL_WEIGHTS: dict[str, dict[str, float]] = {
    "supply_chain": {"lexical": 1.0, "dense": 0.1, "graph": 1.0},
    "rd": {"lexical": 1.0, "dense": 0.1, "graph": 0.8},
    "investment": {"lexical": 0.8, "dense": 0.1, "graph": 1.0},
    "incubation": {"lexical": 0.8, "dense": 0.1, "graph": 1.0},
    "service": {"lexical": 1.0, "dense": 0.1, "graph": 0.7},
}
_MAX_MENTION = 16
FUZZY_SEEDS = 10
FUZZY_WEIGHT = 0.8
OWN_UPSTREAM_WEIGHT = 0.8
# When a supply-chain demand says what its owner makes, the chain graph (the upstream materials of
# that product) is the most specific evidence there is: its fusion weight is multiplied by this.
OWN_PRODUCTS_GRAPH_BOOST = 5.0


@dataclass(frozen=True)
class Filters:
    kind: FirmKind | None = None
    min_tier: Tier | None = None
    region: str | None = None
    industry: str | None = None

    def accepts(self, p: Profile) -> bool:
        if self.kind is not None and p.kind != self.kind:
            return False
        if self.min_tier is not None and (p.tier is None or p.tier.rank < self.min_tier.rank):
            return False
        if self.region and p.region != normalize_region(self.region):
            return False
        return not (self.industry and not any(self.industry in name for name in p.industries))

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.kind, self.min_tier, self.region, self.industry))


@dataclass
class MatchResult:
    firm_id: int
    name: str
    short_name: str | None
    stock_code: str | None
    score: float
    reasons: list[str]
    channels: dict[str, int] = field(default_factory=dict)  # channel -> rank

    def as_dict(self, *, channels: bool = True) -> dict[str, Any]:
        """The result as JSON; without ``channels`` it is exactly the batch CLI contract."""
        out = {
            "firm_id": self.firm_id,
            "name": self.name,
            "short_name": self.short_name,
            "stock_code": self.stock_code,
            "score": round(self.score, 6),
            "reasons": self.reasons,
        }
        if channels:
            out["channels"] = self.channels
        return out


def parse_type(raw: str) -> DemandType:
    return DemandType.parse(raw, "type")


_OWN_PRODUCTS = re.compile(
    r"(?:我们|我司|本公司|我公司|我方|公司)(?:主要|主营|专业)?(?:生产|制造|从事|是|做)([^，,。；;！!？?\n]*)"
)


def split_own_products(text: str) -> tuple[str, str]:
    """(what the demand owner says it makes, the rest): in "我们生产动力电池，需要正极材料供应商"
    the owner's own product is 动力电池 — its makers are competitors, its upstream are suppliers."""
    own = " ".join(m.group(1) for m in _OWN_PRODUCTS.finditer(text))
    rest = _OWN_PRODUCTS.sub(" ", text).strip(" ，,。；;")
    return own.strip(), rest


def clean_query(text: str) -> tuple[str, str | None]:
    """(text, warning): strips, rejects empty text, truncates over-long text."""
    text = (text or "").strip()
    if not text:
        raise InputError("text is empty; describe what the demand needs", field="text")
    if len(text) > MAX_QUERY_CHARS:
        return text[:MAX_QUERY_CHARS], f"text has {len(text)} characters; only the first {MAX_QUERY_CHARS} are used"
    return text, None


class EntityLinker:
    """Links a text to chain nodes: product and industry names it mentions (exact substrings;
    noise and the lexical channel's stopwords excluded — ChainKG has products named 系统 or 方法,
    with hundreds of narrower kinds, that every patent title would otherwise seed), and the
    products, industries and patents whose names are most similar to it (BM25 over node names),
    so a patent title finds the patents closest to it."""

    def __init__(self, session: Session, *, fuzzy: bool = True) -> None:
        self.keys: dict[str, list[str]] = {}
        names: list[tuple[str, str]] = []
        for pid, name in session.execute(select(Product.id, Product.name)):
            if not is_noise(name):
                names.append((product_key(pid), name))
                if 2 <= len(name) <= _MAX_MENTION and name not in STOPWORDS:
                    self.keys.setdefault(name, []).append(product_key(pid))
        for iid, name in session.execute(select(Industry.id, Industry.name)):
            names.append((industry_key(iid), name))
            if 2 <= len(name) <= _MAX_MENTION and name not in STOPWORDS:
                self.keys.setdefault(name, []).append(industry_key(iid))
        names += [(patent_key(pid), title) for pid, title in session.execute(select(Patent.id, Patent.title))]
        self.max_len = max((len(n) for n in self.keys), default=0)
        self.node_keys = [k for k, _ in names]
        self.node_index = (
            LexicalChannel(range(len(names)), {"name": (1.0, [n for _, n in names])}) if fuzzy and names else None
        )

    def similar(self, text: str, limit: int = FUZZY_SEEDS) -> dict[str, float]:
        """The nodes whose names are most similar to the text, weighted by relative BM25 score."""
        if self.node_index is None:
            return {}
        hits = self.node_index.search(text, limit)
        if not hits:
            return {}
        top = hits[0].score
        return {self.node_keys[h.doc_id]: FUZZY_WEIGHT * h.score / top for h in hits}

    def mentions(self, text: str) -> list[tuple[str, bool]]:
        """Names found in the text, each with whether it is maximal (inside no longer mention).
        Two-character names inside a longer mention are dropped (材料 in 正极材料)."""
        found: set[tuple[int, int]] = set()
        for i in range(len(text)):
            for length in range(2, min(self.max_len, len(text) - i) + 1):
                if text[i : i + length] in self.keys:
                    found.add((i, i + length))
        out: dict[str, bool] = {}
        for a, b in sorted(found, key=lambda s: (-(s[1] - s[0]), s[0])):
            inside = any(o != (a, b) and o[0] <= a and b <= o[1] for o in found)
            if inside and b - a < 3:
                continue
            out[text[a:b]] = out.get(text[a:b], False) or not inside
        return list(out.items())

    def seeds(self, text: str, limit: int = 12) -> dict[str, float]:
        """Graph seeds: maximal mentions weigh 1.0, mentions inside longer ones 0.6, similar
        nodes up to FUZZY_WEIGHT."""
        out = self.similar(text)
        for name, maximal in self.mentions(text)[:limit]:
            for key in self.keys[name]:
                out[key] = max(out.get(key, 0.0), 1.0 if maximal else 0.6)
        return out


class MatchEngine:
    """Loads profiles, indexes and the graph once; answers many queries."""

    def __init__(
        self,
        settings: Settings,
        *,
        encoder: Encoder | None = None,
        graph: ChainGraph | None = None,
        use_dense: bool = True,
        use_graph: bool = True,
        progress: bool = False,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.graph = graph
        self.use_dense = use_dense
        self.use_graph = use_graph
        self.progress = progress
        self.profiles: dict[int, Profile] = {}
        self.lexical: LexicalChannel | None = None
        self.ann: AnnIndex | None = None
        self.linker: EntityLinker | None = None
        self.build_info: dict[str, Any] = {}

    # --- building -------------------------------------------------------------------------
    def build(self, session: Session) -> MatchEngine:
        self.profiles = load_profiles(session)
        if not self.profiles:
            raise MarketplaceError(
                "no firm profiles to match against; import data first "
                "(`python -m marketplace demo load`, or `import chainkg DIR` / `import ickg DIR`)"
            )
        self._build_lexical()
        self.linker = EntityLinker(session)
        if self.use_dense:
            self._build_dense()
        if self.use_graph and self.graph is None:
            from graph import load_graph

            self.graph = load_graph(self.settings, session, progress=self.progress)
        return self

    def _build_lexical(self) -> None:
        ids = list(self.profiles)
        ps = [self.profiles[i] for i in ids]
        self.lexical = LexicalChannel(ids, {"profile": (1.0, [p.lexical_text() for p in ps])})

    def _build_dense(self) -> None:
        if self.encoder is None:
            from embeddings.dense import encoder_from_settings

            self.encoder = encoder_from_settings(self.settings)
        enc = self.encoder
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", enc.model_id)
        index_dir = self.settings.index_dir / slug
        cache = EmbeddingCache(self.settings.index_dir / "embeddings.sqlite", enc.model_id, enc.dim)
        try:
            database = self.settings.database_url
            self.ann = AnnIndex.load(index_dir, enc.model_id, enc.dim, database) or AnnIndex(
                enc.dim, capacity=len(self.profiles) + 16
            )
            ids = list(self.profiles)
            texts = [self.profiles[i].text() for i in ids]
            hashes = [self.profiles[i].content_hash for i in ids]

            def vectors_for(positions: list[int]) -> np.ndarray:
                vecs, encoded = cache.encode_cached([texts[p] for p in positions], enc.encode, progress=self.progress)
                self.build_info["encoded"] = self.build_info.get("encoded", 0) + encoded
                return vecs

            self.build_info["dense_sync"] = self.ann.sync(ids, hashes, vectors_for)
            if self.build_info["dense_sync"]["changed"] or self.build_info["dense_sync"]["removed"]:
                self.ann.save(index_dir, enc.model_id, database)
        finally:
            cache.close()

    def refresh(self, session: Session, firm_ids: Iterable[int]) -> None:
        """Pick up profile edits: lexical is rebuilt, only changed vectors are re-encoded, and the
        graph gets the firms' edges written through."""
        from graph.sync import sync_firm

        self.profiles = load_profiles(session)
        self._build_lexical()
        self.linker = EntityLinker(session)
        if self.use_dense:
            self._build_dense()
        if self.graph is not None:
            for fid in firm_ids:
                sync_firm(session, self.graph, fid)

    # --- querying -------------------------------------------------------------------------
    def channel_hits(
        self, text: str, demand_type: str, pool: int = POOL, channels: Iterable[str] = CHANNELS
    ) -> tuple[dict[str, list[Hit]], dict[int, Reached]]:
        wanted = set(channels)
        dense = "dense" in wanted and self.use_dense and self.ann is not None and self.encoder is not None
        query_vector = self.encoder.start_query(text) if dense else None  # runs while BM25 and the graph do
        own, need = split_own_products(text) if demand_type == "supply_chain" else ("", text)
        upstream = self._own_upstream(own) if own and self.graph is not None and self.linker is not None else {}
        # the lexical query names the materials of the owner's own products instead of the products
        materials = " ".join(self.graph.get_node(k).name for k in list(upstream)[:20]) if upstream else ""
        lists: dict[str, list[Hit]] = {}
        lexical_query = f"{need} {materials}".strip() or text
        lists["lexical"] = self.lexical.search(lexical_query, pool) if self.lexical and "lexical" in wanted else []
        paths: dict[int, Reached] = {}
        if "graph" in wanted and self.use_graph and self.graph is not None and self.linker is not None:
            lists["graph"] = []
            for r in self._expand(need, upstream, demand_type, pool):
                fid = key_id(r.firm_key)
                if fid in self.profiles:
                    paths[fid] = r
                    lists["graph"].append(Hit(fid, r.score, "graph"))
        if query_vector is not None:
            qvec = query_vector()
            lists["dense"] = [h for h in self.ann.search(qvec, pool) if h.doc_id in self.profiles]
        return lists, paths

    def _own_upstream(self, own: str) -> dict[str, tuple[float, PathStep]]:
        """Upstream materials of the products the owner says it makes: material key -> (weight,
        the owner's product it came from)."""
        out: dict[str, tuple[float, PathStep]] = {}
        for name, maximal in self.linker.mentions(own):
            for key in self.linker.keys[name]:
                node = self.graph.get_node(key)
                if node is None:
                    continue
                origin = PathStep(node.key, node.name, node.label)
                kinds = [key, *(n.key for n in self.graph.neighbours(key, Rel.SUBCLASS_OF, Direction.IN))]
                materials = {m.key: m for k in kinds for m in self.graph.neighbours(k, Rel.UPSTREAM_OF, Direction.IN)}
                for material in materials.values():
                    weight = OWN_UPSTREAM_WEIGHT * (1.0 if maximal else 0.6)
                    if material.key not in out or out[material.key][0] < weight:
                        out[material.key] = (weight, origin)
        return out

    def _expand(
        self, need: str, upstream: dict[str, tuple[float, PathStep]], demand_type: str, pool: int
    ) -> list[Reached]:
        """Graph hits from what the demand needs, and from the upstream materials of the owner's
        own products (their direct makers are the owner's competitors, not its suppliers)."""
        policy = policy_for(demand_type)
        seeds = self.linker.seeds(need) if need else {}
        best: dict[str, Reached] = {}
        if seeds:
            best = {r.firm_key: r for r in self.graph.expand(seeds, policy, limit=pool)}
        if upstream:
            one_less = ExpansionPolicy(policy.chain_steps, policy.firm_steps, max(0, policy.hops - 1))
            reached = self.graph.expand({k: w for k, (w, _) in upstream.items()}, one_less, limit=pool)
            for r in reached:
                origin = upstream[r.path[0].key][1]
                first = PathStep(r.path[0].key, r.path[0].name, r.path[0].label, "UPSTREAM_OF<")
                r = Reached(r.firm_key, r.name, r.score, (origin, first, *r.path[1:]))
                if r.firm_key not in best or r.score > best[r.firm_key].score:
                    best[r.firm_key] = r
        return sorted(best.values(), key=lambda r: (-r.score, r.firm_key))[:pool]

    def match(
        self,
        text: str,
        demand_type: str | DemandType,
        *,
        top_k: int = 20,
        filters: Filters | None = None,
        exclude: Iterable[int] = (),
        channels: Iterable[str] | None = None,
        region_preference: str | None = None,
    ) -> list[MatchResult]:
        dtype = demand_type.value if isinstance(demand_type, DemandType) else parse_type(demand_type).value
        text, _ = clean_query(text)
        filters = filters or Filters()
        pool = POOL * 6 if filters.active else POOL
        weights = dict(CHANNEL_WEIGHTS[dtype])
        if self.settings.dense_weight is not None:
            weights["dense"] = self.settings.dense_weight
        if channels is not None:
            weights = {c: (w if c in set(channels) else 0.0) for c, w in weights.items()}
        lists, paths = self.channel_hits(text, dtype, pool, [c for c, w in weights.items() if w > 0])
        if dtype == "supply_chain" and split_own_products(text)[0] and weights.get("graph", 0) > 0:
            weights["graph"] *= OWN_PRODUCTS_GRAPH_BOOST  # "we make X, need suppliers": the chain knows best
        fused = combsum(lists, weights)
        best_possible = sum(w for c, w in weights.items() if lists.get(c)) or 1.0
        ranks = {c: {h.doc_id: r for r, h in enumerate(hits, start=1)} for c, hits in lists.items()}
        dense_scores = {h.doc_id: h.score for h in lists.get("dense", [])}
        excluded = set(exclude)
        preferred = normalize_region(region_preference)
        ranked = []
        for fid, score in fused:
            profile = self.profiles.get(fid)
            if profile is None or fid in excluded or not filters.accepts(profile):
                continue
            score = score / best_possible
            if preferred and profile.region == preferred:
                score *= 1.05
            ranked.append((-score, fid))
        results = []
        for neg_score, fid in heapq.nsmallest(top_k, ranked):  # best first, ties by firm id
            profile = self.profiles[fid]
            channel_ranks = {c: r[fid] for c, r in ranks.items() if fid in r and weights.get(c, 0) > 0}
            results.append(
                MatchResult(fid, profile.name, profile.short_name, profile.stock_code, -neg_score, [], channel_ranks)
            )
        for r in results:  # reasons only for what is returned
            profile = self.profiles[r.firm_id]
            r.reasons = self._reasons(
                text, profile, r.channels, paths.get(r.firm_id), dense_scores.get(r.firm_id), preferred
            )
        return results

    def _reasons(
        self,
        text: str,
        p: Profile,
        ranks: dict[str, int],
        path: Reached | None,
        similarity: float | None,
        region: str | None,
    ) -> list[str]:
        reasons = []
        if "lexical" in ranks:
            products = matched_terms(text, p.product_names)
            if products:
                reasons.append("匹配产品：" + "、".join(products))
            patents = matched_terms(text, p.patents, limit=2)
            if patents:
                reasons.append("相关专利：" + "；".join(f"《{t}》" for t in patents))
            industries = matched_terms(text, p.industries, limit=2)
            if industries:
                reasons.append("所属行业：" + "、".join(industries))
        if path is not None and "graph" in ranks:
            reasons.append("产业链：" + describe_path(path.path))
        if similarity is not None and "dense" in ranks:
            reasons.append(f"语义相似度 {similarity:.2f}")
        if p.tier is not None:
            reasons.append(f"企业资质：{p.tier.label_zh}")
        if region and p.region == region:
            reasons.append(f"地区：{p.region}（符合地区偏好）")
        if not reasons:
            reasons.append("文本相关（BM25）" if "lexical" in ranks else "综合排序")
        return reasons
