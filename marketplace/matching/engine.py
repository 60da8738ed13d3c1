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

import functools
import heapq
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jieba
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from embeddings.ann import AnnIndex
from embeddings.base import Encoder, Hit
from embeddings.cache import EmbeddingCache
from embeddings.cooccurrence import CooccurrenceChannel, profile_items
from embeddings.cooccurrence import Query as LatentQuery
from embeddings.fusion import combsum
from embeddings.lexical import STOPWORDS, LexicalChannel, is_noise, matched_terms
from graph.policies import policy_for
from graph.protocol import ChainGraph, Direction, ExpansionPolicy, PathStep, Reached, Rel
from graph.sync import industry_key, key_id, patent_key, product_key
from marketplace.config import Settings
from marketplace.errors import InputError, MarketplaceError
from marketplace.matching import reasons as why
from marketplace.matching.profiles import Profile, load_profiles
from marketplace.models import DemandType, FirmKind, Industry, Patent, Product, Tier
from marketplace.regions import normalize_region

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 2000
POOL = 200
CHANNELS = ("lexical", "dense", "graph", "cooccur")

# Per demand type: channel weights of the score fusion (embeddings/fusion.py), tuned on the evaluation tasks
# (docs/benchmarks.md). The dense weight is low because the shipped default model reads English
# only; a deployment with a Chinese model raises it with MARKETPLACE_DENSE_WEIGHT.
CHANNEL_WEIGHTS: dict[str, dict[str, float]] = {
    "supply_chain": {"lexical": 1.0, "dense": 0.1, "graph": 0.5, "cooccur": 0.1},
    "rd": {"lexical": 1.0, "dense": 0.1, "graph": 0.8, "cooccur": 0.0},
    "investment": {"lexical": 0.8, "dense": 0.1, "graph": 1.0, "cooccur": 0.0},
    "incubation": {"lexical": 0.8, "dense": 0.1, "graph": 1.0, "cooccur": 0.0},
    "service": {"lexical": 1.0, "dense": 0.1, "graph": 0.7, "cooccur": 0.0},
    # a supply-chain demand that says what its owner makes ("我们生产X，需要上游原材料"): the chain
    # graph (the upstream materials of X) is the most specific evidence there is
    # (tuned: the chain finds the suppliers; words shared with them count little)
    "supply_chain_own": {"lexical": 0.1, "dense": 0.0, "graph": 0.5, "cooccur": 0.1},
}
# The dense weight measured per model (bench/fusion_tune.py, docs/benchmarks.md): the rows above are
# for a model that reads no Chinese (the earlier default MiniLM); a model named here gets these.
DENSE_WEIGHTS_BY_MODEL: dict[str, dict[str, float]] = {
    "chainmatch-zh-static": {"supply_chain": 1.5, "rd": 1.0, "supply_chain_own": 0.0},
}
# "我们生产X，需要X的上游原材料": a firm that makes X itself is a competitor (bench/fusion_tune.py)
COMPETITOR_FACTOR = 0.5
_MAX_MENTION = 16
FUZZY_SEEDS = 10
LATENT_SEEDS = 30  # similar product/industry names that seed the co-occurrence channel
FUZZY_WEIGHT = 0.8
OWN_UPSTREAM_WEIGHT = 0.8


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
class Retrieved:
    """What the channels found for one query, before fusion."""

    lists: dict[str, list[Hit]]  # channel -> hits, best first
    paths: dict[int, Reached]  # firm -> the chain path the graph reached it by
    latent: LatentQuery | None = None  # explains the co-occurrence channel's hits
    competitors: frozenset[int] = frozenset()  # firms that make what the demand's owner says it makes


def fuse(retrieved: Retrieved, weights: dict[str, float]) -> list[tuple[int, float]]:
    """Weighted CombSUM of the channels (embeddings/fusion.py); firms that make the owner's own
    product are its competitors, not its suppliers: their score is multiplied by
    COMPETITOR_FACTOR. Best first, ties by firm id."""
    fused = combsum(retrieved.lists, weights)
    if not retrieved.competitors:
        return fused
    demoted = [(fid, s * COMPETITOR_FACTOR if fid in retrieved.competitors else s) for fid, s in fused]
    return sorted(demoted, key=lambda kv: (-kv[1], kv[0]))


@dataclass
class MatchResult:
    firm_id: int
    name: str
    short_name: str | None
    stock_code: str | None
    score: float
    reasons: list[why.Reason]  # structured (marketplace/matching/reasons.py); rendered per reader
    channels: dict[str, int] = field(default_factory=dict)  # channel -> rank

    def as_dict(self, *, channels: bool = True, locale: str = "zh") -> dict[str, Any]:
        """The result as JSON: ``reasons`` rendered in ``locale``, ``reason_data`` the structure
        behind them; without ``channels`` it is exactly the batch CLI contract."""
        out = {
            "firm_id": self.firm_id,
            "name": self.name,
            "short_name": self.short_name,
            "stock_code": self.stock_code,
            "score": round(self.score, 6),
            "reasons": why.render_all(self.reasons, locale),
            "reason_data": self.reasons,
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


# a similar-named product or industry whose head word the text lacks: products are left out,
# industries kept at half weight (docs/benchmarks.md, "Head words of similar names")
_HEADLESS = {"product": 0.0, "industry": 0.5}
_GENERIC_TAILS = ("制造业", "服务业", "行业", "产业")


@functools.lru_cache(maxsize=200_000)
def head_word(name: str) -> str:
    """The word a Chinese product or industry name names a kind of: its last word (锂电池隔膜 → 隔膜,
    电解质水行业 → 水), after a generic tail (行业, 产业, 制造业, 服务业); Latin names are their own head."""
    text = name.strip()
    for tail in _GENERIC_TAILS:
        if text.endswith(tail) and len(text) > len(tail):
            text = text[: -len(tail)]
            break
    words = [w for w in jieba.lcut(text) if w.strip()]
    return words[-1] if words else text


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
        self.node_names = [n for _, n in names]
        self.node_index = (
            LexicalChannel(range(len(names)), {"name": (1.0, [n for _, n in names])}) if fuzzy and names else None
        )

    def similar(self, text: str, limit: int = FUZZY_SEEDS) -> dict[str, float]:
        """The nodes whose names are most similar to the text, weighted by relative BM25 score."""
        return {key: weight for key, _, weight in self.similar_named(text, limit)}

    def similar_named(self, text: str, limit: int = FUZZY_SEEDS) -> list[tuple[str, str, float]]:
        """(node key, name, weight) of the nodes whose names are most similar to the text. A product
        whose head word (the last word of a Chinese compound) the text does not contain is left out,
        an industry (head word after 行业/产业) weighs half: 电解质水行业 is about drinks, not 电解质."""
        if self.node_index is None:
            return []
        hits = self.node_index.search(text, limit * 2)
        if not hits:
            return []
        top, lowered = hits[0].score, text.lower()
        kept = []
        for h in hits:
            key, name = self.node_keys[h.doc_id], self.node_names[h.doc_id]
            factor = 1.0
            if not key.startswith("patent:") and head_word(name).lower() not in lowered:
                factor = _HEADLESS.get(key.split(":")[0], 1.0)
            if factor > 0:
                kept.append((key, name, FUZZY_WEIGHT * factor * h.score / top))
        return kept[:limit]

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

    def seeds(
        self,
        text: str,
        limit: int = 12,
        similar: list[tuple[str, str, float]] | None = None,
        mentions: list[tuple[str, bool]] | None = None,
    ) -> dict[str, float]:
        """Graph seeds: maximal mentions weigh 1.0, mentions inside longer ones 0.6, similar
        nodes up to FUZZY_WEIGHT (``similar``/``mentions``: already computed for this text)."""
        similar = self.similar_named(text) if similar is None else similar
        out = {key: weight for key, _, weight in similar}
        for name, maximal in (self.mentions(text) if mentions is None else mentions)[:limit]:
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
        self.cooccur: CooccurrenceChannel | None = None
        self.build_info: dict[str, Any] = {}

    # --- building -------------------------------------------------------------------------
    def build(self, session: Session) -> MatchEngine:
        """Load everything from the database; each step is logged with the seconds it took (a
        server loading its engine in the background shows its progress in the log)."""
        step = time.perf_counter()

        def done(what: str, *args: object) -> None:
            nonlocal step
            now = time.perf_counter()
            log.info("matching engine: " + what + " (%.1f s)", *args, now - step)
            step = now

        self.profiles = load_profiles(session)
        if not self.profiles:
            raise MarketplaceError(
                "no firm profiles to match against; import data first "
                "(`python -m marketplace demo load`, or `import chainkg DIR` / `import ickg DIR`)"
            )
        done("%d firm profiles read", len(self.profiles))
        self._build_lexical()
        self.linker = EntityLinker(session)
        done("word index and entity linker built")
        if self.use_dense:
            self._build_dense()
            done("dense vectors ready (%s)", self.build_info.get("dense_sync"))
        if self.use_graph and self.graph is None:
            from graph import load_graph

            self.graph = load_graph(self.settings, session, progress=self.progress)
            done("chain graph loaded (%s backend)", self.graph.backend)
        return self

    def _build_lexical(self) -> None:
        ids = list(self.profiles)
        ps = [self.profiles[i] for i in ids]
        self.lexical = LexicalChannel(ids, {"profile": (1.0, [p.lexical_text() for p in ps])})
        self.cooccur = CooccurrenceChannel({p.firm_id: profile_items(p.product_names, p.industries) for p in ps})

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
    ) -> Retrieved:
        """Each wanted channel's hits, the chain paths of the graph's hits, the co-occurrence
        query that explains the latent channel's hits, and the makers of the owner's products."""
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
        linked = "graph" in wanted or "cooccur" in wanted
        similar = self.linker.similar_named(need, LATENT_SEEDS) if linked and self.linker is not None and need else []
        mentions = self.linker.mentions(need) if linked and self.linker is not None and need else []
        if "graph" in wanted and self.use_graph and self.graph is not None and self.linker is not None:
            lists["graph"] = []
            for r in self._expand(need, upstream, demand_type, pool, similar[:FUZZY_SEEDS], mentions):
                fid = key_id(r.firm_key)
                if fid in self.profiles:
                    paths[fid] = r
                    lists["graph"].append(Hit(fid, r.score, "graph"))
        latent = None
        if "cooccur" in wanted and self.cooccur is not None:
            lists["cooccur"], latent = self.cooccur.search(self._item_seeds(similar, mentions, upstream), pool)
        competitors: set[int] = set()
        if own and self.linker is not None and self.cooccur is not None:
            for name, maximal in self.linker.mentions(own):
                if maximal:  # 太阳能电池 inside 太阳能电池组件 is a material of it, not the product
                    competitors.update(self.cooccur.makers_of(name))
        if query_vector is not None:
            qvec = query_vector()
            lists["dense"] = [h for h in self.ann.search(qvec, pool) if h.doc_id in self.profiles]
        return Retrieved(lists, paths, latent, frozenset(competitors))

    def _item_seeds(
        self,
        similar: list[tuple[str, str, float]],
        mentions: list[tuple[str, bool]],
        upstream: dict[str, tuple[float, PathStep]],
    ) -> dict[str, float]:
        """Co-occurrence seeds: the products and industries the text names (1.0, 0.6 inside a
        longer name), those with the most similar names, and the upstream materials of the owner's
        own products; the narrower and broader kinds of named products at half their weight."""
        seeds: dict[str, float] = {}

        def add(item: str, weight: float) -> None:
            if weight > seeds.get(item, 0.0):
                seeds[item] = weight

        for key, name, weight in similar:
            if key.startswith("product:"):
                add(name, weight)
            elif key.startswith("industry:"):
                add(f"行业:{name}", weight)
        for name, maximal in mentions[:12]:
            weight = 1.0 if maximal else 0.6
            for key in self.linker.keys.get(name, []):
                add(name if key.startswith("product:") else f"行业:{name}", weight)
                if self.graph is not None and key.startswith("product:"):
                    for direction in (Direction.IN, Direction.OUT):
                        for n in self.graph.neighbours(key, Rel.SUBCLASS_OF, direction)[:20]:
                            add(n.name, weight * 0.5)
        for key, (weight, _) in upstream.items():
            node = self.graph.get_node(key) if self.graph is not None else None
            if node is not None:
                add(node.name, weight)
        return seeds

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
        self,
        need: str,
        upstream: dict[str, tuple[float, PathStep]],
        demand_type: str,
        pool: int,
        similar: list[tuple[str, str, float]] | None = None,
        mentions: list[tuple[str, bool]] | None = None,
    ) -> list[Reached]:
        """Graph hits from what the demand needs, and from the upstream materials of the owner's
        own products (their direct makers are the owner's competitors, not its suppliers)."""
        policy = policy_for(demand_type)
        seeds = self.linker.seeds(need, similar=similar, mentions=mentions) if need else {}
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

    def weights_for(self, demand_type: str, text: str) -> dict[str, float]:
        """The fusion weights for a demand: by type, and for a supply-chain demand that says what
        its owner makes, the row tuned for upstream suppliers (bench/fusion_tune.py)."""
        row = demand_type
        if demand_type == "supply_chain" and split_own_products(text)[0]:
            row = "supply_chain_own"
        weights = dict(CHANNEL_WEIGHTS[row])
        model = self.encoder.model_id if self.encoder is not None else ""
        for name, rows in DENSE_WEIGHTS_BY_MODEL.items():
            if name in model and row in rows:
                weights["dense"] = rows[row]
        if self.settings.dense_weight is not None:
            weights["dense"] = self.settings.dense_weight
        return weights

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
        weights = self.weights_for(dtype, text)
        if channels is not None:  # a channel asked for alone runs at weight 1 even where fusion leaves it out
            chosen = set(channels)
            alone = 1.0 if len(chosen) == 1 else 0.0
            weights = {c: ((w or alone) if c in chosen else 0.0) for c, w in weights.items()}
        retrieved = self.channel_hits(text, dtype, pool, [c for c, w in weights.items() if w > 0])
        lists, paths, latent = retrieved.lists, retrieved.paths, retrieved.latent
        fused = fuse(retrieved, weights)
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
                text, profile, r.channels, paths.get(r.firm_id), dense_scores.get(r.firm_id), preferred, latent
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
        latent: LatentQuery | None = None,
    ) -> list[why.Reason]:
        reasons: list[why.Reason] = []
        if "lexical" in ranks:
            products = matched_terms(text, p.product_names)
            if products:
                reasons.append(why.terms("products", products))
            patents = matched_terms(text, p.patents, limit=2)
            if patents:
                reasons.append(why.terms("patents", patents))
            industries = matched_terms(text, p.industries, limit=2)
            if industries:
                reasons.append(why.terms("industries", industries))
        if path is not None and "graph" in ranks:
            reasons.append(why.chain(path.path))
        if latent is not None and "cooccur" in ranks:
            evidence = latent.evidence(p.firm_id)
            if evidence is not None:
                reasons.append(why.cooccurrence(evidence.product, evidence.items, evidence.share, evidence.reference))
        if similarity is not None and "dense" in ranks:
            reasons.append(why.similarity(similarity))
        if p.tier is not None:
            reasons.append(why.tier(p.tier.value))
        if region and p.region == region:
            reasons.append(why.region(p.region))
        if not reasons:
            reasons.append(why.plain("lexical" if "lexical" in ranks else "fused"))
        return reasons
