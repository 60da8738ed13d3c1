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

from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

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
    """Item-item co-occurrence over firms' products and industries, held as two compressed sparse
    row arrays (firm -> items, item -> firms) so that a query is a few vectorised numpy steps."""

    name = "cooccur"

    def __init__(self, firm_items: Mapping[int, Iterable[str]]) -> None:
        self.item_ids: dict[str, int] = {}
        self.item_names: list[str] = []
        firms, pairs_firm, pairs_item = [], array("i"), array("i")
        for fid, items in firm_items.items():
            unique = dict.fromkeys(items)
            if not unique:
                continue
            row = len(firms)
            firms.append(fid)
            for item in unique:
                iid = self.item_ids.get(item)
                if iid is None:
                    iid = self.item_ids[item] = len(self.item_names)
                    self.item_names.append(item)
                pairs_firm.append(row)
                pairs_item.append(iid)
        n_firms, n_items = len(firms), len(self.item_names)
        f = np.frombuffer(pairs_firm, dtype=np.int32) if pairs_firm else np.zeros(0, np.int32)
        i = np.frombuffer(pairs_item, dtype=np.int32) if pairs_item else np.zeros(0, np.int32)
        self.firm_ids = np.array(firms, dtype=np.int64)
        self.firm_row = {fid: row for row, fid in enumerate(firms)}
        self.firm_ptr = np.concatenate([[0], np.cumsum(np.bincount(f, minlength=n_firms))]).astype(np.int64)
        self.firm_items = i.copy()  # pairs were appended firm by firm
        order = np.argsort(i, kind="stable")
        self.item_firms = f[order]
        self.item_ptr = np.concatenate([[0], np.cumsum(np.bincount(i, minlength=n_items))]).astype(np.int64)
        self.n_makers = np.diff(self.item_ptr)
        self.idf = np.log((max(1, n_firms) + 1) / (self.n_makers + 0.5))
        self.norm = 1.0 / np.sqrt(np.maximum(1, np.diff(self.firm_ptr)))

    def rows_of(self, iid: int) -> np.ndarray:
        """Firm rows that have item ``iid``."""
        return self.item_firms[self.item_ptr[iid] : self.item_ptr[iid + 1]]

    def items_of_row(self, row: int) -> np.ndarray:
        return self.firm_items[self.firm_ptr[row] : self.firm_ptr[row + 1]]

    def makers_of(self, item: str) -> tuple[int, ...]:
        iid = self.item_ids.get(item)
        return () if iid is None else tuple(self.firm_ids[self.rows_of(iid)].tolist())

    def search(self, seeds: Mapping[str, float], top_k: int) -> tuple[list[Hit], Query]:
        """Firms ranked by the items they share with the seeds' makers, and the query state that
        explains any of them (:meth:`Query.evidence`)."""
        query = Query(self, seeds)
        return query.hits(top_k), query


class Query:
    """One search: the reference firms, the voting items and the candidates' scores."""

    def __init__(self, channel: CooccurrenceChannel, seeds: Mapping[str, float]) -> None:
        self.channel = channel
        c = channel
        self.seeds = {c.item_ids[s]: float(w) for s, w in seeds.items() if s in c.item_ids and w > 0}
        self.weights: dict[int, float] = {}
        self.reference: dict[int, float] = {}  # firm row -> weight
        self.main = (
            max(self.seeds, key=lambda i: (self.seeds[i], int(c.n_makers[i]), -i)) if self.seeds else None
        )  # the seed a reason names: the strongest, then the one most firms make
        if not self.seeds:
            return
        strength = np.zeros(len(c.firm_ids))
        for iid, weight in self.seeds.items():
            rows = c.rows_of(iid)
            strength[rows] = np.maximum(strength[rows], weight)
        rows = np.flatnonzero(strength)
        if len(rows) > MAX_REFERENCE:  # strongest first, then by firm id
            rows = rows[np.lexsort((c.firm_ids[rows], -strength[rows]))[:MAX_REFERENCE]]
        weights = strength[rows]
        self.reference = dict(zip(rows.tolist(), weights.tolist(), strict=True))
        starts, counts = c.firm_ptr[rows], c.firm_ptr[rows + 1] - c.firm_ptr[rows]
        # the items of every reference firm at once: positions start..start+count of each row
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        items = c.firm_items[offsets + np.arange(int(counts.sum()))]
        support = np.bincount(items, weights=np.repeat(weights, counts), minlength=len(c.item_names))
        share = support / (weights.sum() or 1.0)
        candidates = np.flatnonzero(share >= MIN_SUPPORT)
        n = c.n_makers[candidates]
        candidates = candidates[(n >= 2) & (n <= MAX_ITEM_FIRMS)]
        if self.seeds:
            candidates = candidates[~np.isin(candidates, np.fromiter(self.seeds, dtype=np.int64))]
        votes = share[candidates] * c.idf[candidates]
        best = np.lexsort((candidates, -votes))[:MAX_ITEMS]
        self.weights = dict(zip(candidates[best].tolist(), votes[best].tolist(), strict=True))

    def hits(self, top_k: int) -> list[Hit]:
        c = self.channel
        if not self.weights:
            return []
        scores = np.zeros(len(c.firm_ids))
        for iid, weight in self.weights.items():
            scores[c.rows_of(iid)] += weight
        scores *= c.norm
        rows = np.flatnonzero(scores > 0)
        if len(rows) > top_k:
            rows = rows[np.argpartition(-scores[rows], top_k - 1)[:top_k]]
        rows = rows[np.lexsort((c.firm_ids[rows], -scores[rows]))]
        return [Hit(int(c.firm_ids[r]), float(scores[r]), "cooccur") for r in rows.tolist()]

    def evidence(self, firm_id: int, limit: int = 2) -> Evidence | None:
        """The firm's items that vote most, and the share of the main seed's makers having one of
        them (of all reference firms when the main seed's makers have none of them)."""
        c = self.channel
        row = c.firm_row.get(firm_id)
        if row is None or self.main is None:
            return None
        mine = [iid for iid in c.items_of_row(row).tolist() if iid in self.weights]
        if not mine:
            return None
        best = sorted(mine, key=lambda i: (-self.weights[i], i))[:limit]
        having = set(np.concatenate([c.rows_of(i) for i in best]).tolist())
        makers = c.rows_of(self.main).tolist()
        shared = sum(1 for r in makers if r in having)
        if shared:
            product, share, reference = c.item_names[self.main], shared / len(makers), len(makers)
        else:  # the firm's items come from the makers of the other seeds (chain neighbours, similar names)
            share = sum(1 for r in self.reference if r in having) / len(self.reference)
            strongest = sorted(self.seeds, key=lambda i: (-self.seeds[i], i))[:2]
            product = "/".join(item_label(c.item_names[i]) for i in strongest)
            reference = len(self.reference)
        return Evidence(item_label(product), tuple(item_label(c.item_names[i]) for i in best), share, reference)


def profile_items(products: Sequence[str], industries: Sequence[str]) -> list[str]:
    """A firm's items: its product names, and its industries marked as such (a product and an
    industry can share a name)."""
    return [*products, *(f"行业:{name}" for name in industries)]


def item_label(item: str) -> str:
    """An item as a reader sees it (industries without their marker)."""
    return item.removeprefix("行业:")
