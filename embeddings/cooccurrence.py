"""Latent capabilities: "firms that make A and B usually also make X".

A firm's listed products are a sample of what it can make. This channel ranks firms for a set of
seed items (the products a demand names, and their chain neighbours) by what they share with the
firms that do make those items:

1. the reference firms are the makers of the seeds (each weighted by its seed's weight);
2. every other item (product name or industry) those firms have gets a support — the weighted
   share of reference firms having it — times its inverse document frequency across all firms,
   so that 82 % of 磷酸铁锂 makers also making 正极材料 counts, and 80 % of them being in a huge
   catch-all industry counts little;
3. a firm scores the sum of the weights of the best items it has, damped by the square root of
   how many items it lists (a firm listing everything is not evidence of anything).

The seed items themselves do not count: a firm that lists the product is a direct match (the
lexical and chain channels find it); this channel is about firms that do not list it. Only what
the engine was built from is used (the evaluation builds it from the training split).
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from embeddings.base import Hit

MAX_REFERENCE = 400  # reference firms kept per query (highest seed weight first)
MAX_ITEMS = 40  # co-occurring items that vote per query
MAX_ITEM_FIRMS = 3000  # items held by more firms than this are too common to vote
MIN_SUPPORT = 0.05  # an item must be held by at least this share of the reference firms


@dataclass(frozen=True)
class Evidence:
    """Why a firm scored: its items that the reference firms share most (``items``), and the
    share of the makers of ``product`` (``reference`` firms) having at least one of them."""

    product: str
    items: tuple[str, ...]
    share: float
    reference: int


class CooccurrenceChannel:
    """Item-item co-occurrence over firms' products and industries."""

    name = "cooccur"

    def __init__(self, firm_items: Mapping[int, Iterable[str]]) -> None:
        self.item_ids: dict[str, int] = {}
        self.item_names: list[str] = []
        makers: list[list[int]] = []
        self.firm_items: dict[int, tuple[int, ...]] = {}
        for fid, items in firm_items.items():
            ids = []
            for item in dict.fromkeys(items):
                iid = self.item_ids.get(item)
                if iid is None:
                    iid = self.item_ids[item] = len(self.item_names)
                    self.item_names.append(item)
                    makers.append([])
                makers[iid].append(fid)
                ids.append(iid)
            if ids:
                self.firm_items[fid] = tuple(ids)
        self.makers: list[tuple[int, ...]] = [tuple(m) for m in makers]
        n = max(1, len(self.firm_items))
        self.idf = [math.log((n + 1) / (len(m) + 0.5)) for m in self.makers]

    def makers_of(self, item: str) -> tuple[int, ...]:
        iid = self.item_ids.get(item)
        return () if iid is None else self.makers[iid]

    def search(self, seeds: Mapping[str, float], top_k: int) -> tuple[list[Hit], Query]:
        """Firms ranked by the items they share with the seeds' makers, and the query state that
        explains any of them (:meth:`Query.evidence`)."""
        query = Query(self, seeds)
        return query.hits(top_k), query


class Query:
    """One search: the reference firms, the voting items and the candidates' scores."""

    def __init__(self, channel: CooccurrenceChannel, seeds: Mapping[str, float]) -> None:
        self.channel = channel
        seed_ids = {channel.item_ids[s]: w for s, w in seeds.items() if s in channel.item_ids and w > 0}
        reference: dict[int, float] = {}
        for iid, weight in seed_ids.items():
            for fid in channel.makers[iid]:
                if weight > reference.get(fid, 0.0):
                    reference[fid] = weight
        if len(reference) > MAX_REFERENCE:
            reference = dict(heapq.nlargest(MAX_REFERENCE, reference.items(), key=lambda kv: (kv[1], -kv[0])))
        self.reference = reference
        total = sum(reference.values()) or 1.0
        support: dict[int, float] = defaultdict(float)
        for fid, weight in reference.items():
            for iid in channel.firm_items.get(fid, ()):
                support[iid] += weight
        votes = []
        for iid, s in support.items():
            share = s / total
            n_makers = len(channel.makers[iid])
            if iid in seed_ids or share < MIN_SUPPORT or n_makers > MAX_ITEM_FIRMS or n_makers < 2:
                continue
            votes.append((share * channel.idf[iid], iid))
        self.weights: dict[int, float] = {iid: w for w, iid in heapq.nlargest(MAX_ITEMS, votes)}
        # the seed a reason names: the strongest, then the one most firms make
        self.seeds = seed_ids
        self.main = max(seed_ids, key=lambda i: (seed_ids[i], len(channel.makers[i]), -i)) if seed_ids else None

    def hits(self, top_k: int) -> list[Hit]:
        scores: dict[int, float] = defaultdict(float)
        makers = self.channel.makers
        for iid, weight in self.weights.items():
            for fid in makers[iid]:
                scores[fid] += weight
        firm_items = self.channel.firm_items
        ranked = heapq.nsmallest(
            top_k, ((-s / math.sqrt(len(firm_items[f])), f) for f, s in scores.items()), key=lambda t: t
        )
        return [Hit(fid, -neg, "cooccur") for neg, fid in ranked if neg < 0]

    def evidence(self, firm_id: int, limit: int = 2) -> Evidence | None:
        """The firm's items that vote most, and the share of the main seed's makers having one of
        them (of all reference firms when the main seed's makers have none of them)."""
        mine = [iid for iid in self.channel.firm_items.get(firm_id, ()) if iid in self.weights]
        if not mine or self.main is None:
            return None
        best = sorted(mine, key=lambda i: (-self.weights[i], i))[:limit]
        having = {fid for iid in best for fid in self.channel.makers[iid]}
        makers = self.channel.makers[self.main]
        shared = sum(1 for f in makers if f in having)
        if shared:
            product, share, reference = self.channel.item_names[self.main], shared / len(makers), len(makers)
        else:  # the firm's items come from the makers of the other seeds (chain neighbours, similar names)
            share = sum(1 for f in self.reference if f in having) / len(self.reference)
            strongest = sorted(self.seeds, key=lambda i: (-self.seeds[i], i))[:2]
            product = "/".join(item_label(self.channel.item_names[i]) for i in strongest)
            reference = len(self.reference)
        return Evidence(
            item_label(product), tuple(item_label(self.channel.item_names[i]) for i in best), share, reference
        )


def profile_items(products: Sequence[str], industries: Sequence[str]) -> list[str]:
    """A firm's items: its product names, and its industries marked as such (a product and an
    industry can share a name)."""
    return [*products, *(f"行业:{name}" for name in industries)]


def item_label(item: str) -> str:
    """An item as a reader sees it (industries without their marker)."""
    return item.removeprefix("行业:")
