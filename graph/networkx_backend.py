"""The embedded default backend: the chain graph in process as a networkx MultiDiGraph."""

from __future__ import annotations

import heapq
import sys
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping

import networkx as nx

from graph.protocol import (
    FIRM_LINKS,
    Direction,
    Edge,
    ExpansionPolicy,
    Label,
    Node,
    PathStep,
    Reached,
    Rel,
    path_sort_key,
)


class _OneOrMore(MutableMapping):
    """A mapping that holds its first entry in two slots and only grows a dict for a second one.
    networkx keeps one dict per edge for its keys (here the relationship type) and one for its data
    (here the weight); both almost always hold one entry. As the graph's dict factories this takes
    an edge from about 550 to about 170 bytes (measured at two million edges: 1.1 GB -> 0.34 GB,
    with interned node keys)."""

    __slots__ = ("_key", "_value", "_more")
    _EMPTY = object()

    def __init__(self) -> None:
        self._key, self._value, self._more = self._EMPTY, None, None

    def __getitem__(self, key: object) -> object:
        if self._more is not None:
            return self._more[key]
        if self._key is not self._EMPTY and self._key == key:
            return self._value
        raise KeyError(key)

    def __setitem__(self, key: object, value: object) -> None:
        if self._more is not None:
            self._more[key] = value
        elif self._key is self._EMPTY or self._key == key:
            self._key, self._value = key, value
        else:
            self._more = {self._key: self._value, key: value}
            self._key, self._value = self._EMPTY, None

    def __delitem__(self, key: object) -> None:
        if self._more is not None:
            del self._more[key]
        elif self._key is not self._EMPTY and self._key == key:
            self._key, self._value = self._EMPTY, None
        else:
            raise KeyError(key)

    def __iter__(self) -> Iterator[object]:
        if self._more is not None:
            yield from list(self._more)
        elif self._key is not self._EMPTY:
            yield self._key

    def __len__(self) -> int:
        if self._more is not None:
            return len(self._more)
        return 0 if self._key is self._EMPTY else 1

    def __repr__(self) -> str:
        return repr(dict(self))


class _ChainMultiDiGraph(nx.MultiDiGraph):
    """networkx's MultiDiGraph with compact per-edge key and data mappings."""

    edge_key_dict_factory = _OneOrMore
    edge_attr_dict_factory = _OneOrMore


class _Walk:
    """Expansion layers: per hop, node -> (score, parent in the previous hop, step code). Path
    keys (for tie-breaking, as every backend orders them) and paths are made on demand."""

    def __init__(self, name: Callable[[str], str], labels: dict[str, Label]) -> None:
        self.layers: list[dict[str, tuple[float, str | None, str | None]]] = []
        self.name, self.labels = name, labels
        self._keys: dict[tuple[int, str], str] = {}
        self._paths: dict[tuple[int, str], tuple[PathStep, ...]] = {}

    def key(self, depth: int, node: str) -> str:
        found = self._keys.get((depth, node))
        if found is None:
            parent = self.layers[depth][node][1]
            found = node if depth == 0 else path_sort_key((self.key(depth - 1, parent), node))
            self._keys[(depth, node)] = found
        return found

    def path(self, depth: int, node: str) -> tuple[PathStep, ...]:
        found = self._paths.get((depth, node))
        if found is None:
            _, parent, code = self.layers[depth][node]
            step = PathStep(node, self.name(node), self.labels[node], code)
            found = (step,) if depth == 0 else (*self.path(depth - 1, parent), step)
            self._paths[(depth, node)] = found
        return found


class NetworkxGraph:
    backend = "networkx"

    def __init__(self) -> None:
        self.g = _ChainMultiDiGraph()
        # (relationship, direction) -> node -> (neighbour, weight, neighbour, weight, ...): built on
        # first use, dropped on every write. Expansion touches only the edges its policy follows;
        # flat tuples keep it small (about 16 bytes an edge and direction at 500,000 firms).
        # Built with it, from the same pass over the edges: node labels and names, and the largest weight on
        # any edge leaving a firm (1.0 if none), the bound that firm attachment prunes with; and
        # for each chain node with firms attached, (relationship, firms' flat tuple, ...): the
        # only nodes firm attachment has to visit (most reached nodes have no firm).
        self._adjacency: dict[tuple[str, Direction], dict[str, tuple]] | None = None
        self._labels: dict[str, Label] = {}
        self._names: dict[str, str] = {}  # node names, read by expansion's paths (the graph's own lookup is slower)
        self._firm_weight = 1.0
        self._firm_links: dict[str, tuple] = {}

    def _index(self) -> dict[tuple[str, Direction], dict[str, tuple]]:
        if self._adjacency is None:
            labels, names = {}, {}
            for k, d in self.g.nodes(data=True):
                labels[k], names[k] = d["label"], d["name"]
            lists: dict[tuple[str, Direction], dict[str, list]] = {}
            firm_weight = None
            for u, v, k, d in self.g.edges(keys=True, data=True):
                lists.setdefault((k, Direction.OUT), {}).setdefault(u, []).extend((v, d["weight"]))
                lists.setdefault((k, Direction.IN), {}).setdefault(v, []).extend((u, d["weight"]))
                if labels[u] == Label.FIRM and (firm_weight is None or d["weight"] > firm_weight):
                    firm_weight = d["weight"]
            adjacency = {rd: {n: tuple(flat) for n, flat in by_node.items()} for rd, by_node in lists.items()}
            self._labels, self._names, self._firm_weight = labels, names, 1.0 if firm_weight is None else firm_weight
            self._firm_links = self._links_to_firms(adjacency, labels)
            self._adjacency = adjacency
        return self._adjacency

    @staticmethod
    def _links_to_firms(adjacency: dict[tuple[str, Direction], dict[str, tuple]], labels: dict[str, Label]) -> dict:
        """Chain node -> (relationship, (firm, weight, firm, weight, ...), ...) over the profile
        relationships, firms only (products are in industries too); shares the adjacency's tuples
        where every neighbour is a firm."""
        links: dict[str, tuple] = {}
        for rel in FIRM_LINKS:
            for node, flat in adjacency.get((rel.value, Direction.IN), {}).items():
                if any(labels[other] is not Label.FIRM for other in flat[::2]):
                    pairs = zip(flat[::2], flat[1::2], strict=True)
                    flat = tuple(x for pair in pairs if labels[pair[0]] is Label.FIRM for x in pair)
                if flat:
                    links[node] = (*links.get(node, ()), rel.value, flat)
        return links

    # --- writes ---------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Nothing to create: networkx has no schema."""

    def upsert_nodes(self, nodes: list[Node]) -> int:
        self._adjacency = None
        for n in nodes:
            props = {k: v for k, v in n.props.items() if v is not None}  # as Neo4j stores them
            self.g.add_node(sys.intern(n.key), label=n.label, name=n.name, **props)
        return len(nodes)

    def upsert_edges(self, edges: list[Edge]) -> int:
        self._adjacency = None
        for e in edges:
            for key in (e.src, e.dst):
                if key not in self.g:
                    raise KeyError(f"edge {e.rel.value} refers to unknown node {key!r}")
            # interned: every edge refers to the node's own key string, not a copy of it
            self.g.add_edge(sys.intern(e.src), sys.intern(e.dst), key=e.rel.value, weight=float(e.weight))
        return len(edges)

    def replace_firm_edges(self, firm_key: str, edges: list[Edge]) -> None:
        """Drop the firm's outgoing profile edges (products, industries, patents) and add ``edges``."""
        profile = {r.value for r in (Rel.PRODUCES, Rel.IN_INDUSTRY, Rel.HOLDS_PATENT)}
        if firm_key in self.g:
            old = [(u, v, k) for u, v, k in self.g.out_edges(firm_key, keys=True) if k in profile]
            self.g.remove_edges_from(old)
            self._adjacency = None
        self.upsert_edges(edges)

    def clear(self) -> None:
        self.g.clear()
        self._adjacency = None

    def close(self) -> None:
        """Nothing to release."""

    # --- reads ----------------------------------------------------------------------------
    def _name(self, key: str) -> str:
        name = self._names.get(key)
        return self.g.nodes[key]["name"] if name is None else name

    def _node(self, key: str) -> Node:
        data = self.g.nodes[key]
        props = {k: v for k, v in data.items() if k not in ("label", "name")}
        return Node(key, data["label"], data["name"], props)

    def get_node(self, key: str) -> Node | None:
        return self._node(key) if key in self.g else None

    def find_nodes(self, label: Label, name: str) -> list[Node]:
        return sorted(
            (self._node(k) for k, d in self.g.nodes(data=True) if d["label"] == label and d["name"] == name),
            key=lambda n: n.key,
        )

    def _walk(self, key: str, direction: Direction):  # noqa: ANN202 - yields (neighbour, rel, edge data)
        if direction in (Direction.OUT, Direction.BOTH):
            for _, v, k, d in self.g.out_edges(key, keys=True, data=True):
                yield v, k, Direction.OUT, d
        if direction in (Direction.IN, Direction.BOTH):
            for u, _, k, d in self.g.in_edges(key, keys=True, data=True):
                yield u, k, Direction.IN, d

    def neighbours(self, key: str, rel: Rel | None = None, direction: Direction = Direction.BOTH) -> list[Node]:
        if key not in self.g:
            return []
        keys = {n for n, k, _, _ in self._walk(key, direction) if rel is None or k == rel.value}
        return [self._node(k) for k in sorted(keys)]

    def expand(self, seeds: dict[str, float], policy: ExpansionPolicy, limit: int = 100) -> list[Reached]:
        """Best path (highest product of factors; ties: smallest path key) to every chain node
        within ``policy.hops``, then to the firms attached to them. Nodes keep back-pointers
        (score, parent, step) per hop; path keys and paths are only built where needed."""
        policy.step_factors()
        adjacency = self._index()
        walk = _Walk(self._name, self._labels)
        first: dict[str, tuple[float, str | None, str | None]] = {}
        for key, w in seeds.items():
            if key in self._labels and (key not in first or float(w) > first[key][0]):
                first[key] = (float(w), None, None)
        walk.layers.append(first)
        # each step's neighbour map looked up once, not once per node
        steps = [(adjacency.get((s.rel.value, s.direction), {}), s.code, f) for s, f in policy.chain_steps.items()]
        labels = self._labels
        for depth in range(1, policy.hops + 1):
            nxt: dict[str, tuple[float, str | None, str | None]] = {}
            for key, (score, _, _) in walk.layers[depth - 1].items():
                for neighbours, code, factor in steps:
                    flat = neighbours.get(key)
                    if flat is None:
                        continue
                    cand_score = score * factor
                    for other in flat[::2]:
                        current = nxt.get(other)
                        if current is None:
                            if labels.get(other) is Label.FIRM:  # chain walks never pass through firms
                                continue
                        elif cand_score < current[0] or (
                            cand_score == current[0]
                            and walk.key(depth - 1, key) + "|" + other >= walk.key(depth - 1, current[1]) + "|" + other
                        ):
                            continue
                        nxt[other] = (cand_score, key, code)
            walk.layers.append(nxt)
        reached: dict[str, tuple[float, int]] = {}  # node -> (score, depth of its best path)
        for depth, layer in enumerate(walk.layers):
            for node, (score, _, _) in layer.items():
                current = reached.get(node)
                if (
                    current is None
                    or score > current[0]
                    or (score == current[0] and walk.key(depth, node) < walk.key(current[1], node))
                ):
                    reached[node] = (score, depth)
        return self._attach_firms(walk, reached, policy, limit)

    def _attach_firms(
        self, walk: _Walk, reached: dict[str, tuple[float, int]], policy: ExpansionPolicy, limit: int
    ) -> list[Reached]:
        """The best path to each firm from the reached chain nodes, top ``limit`` firms.

        Nodes are visited best first; once ``limit`` firms score above anything the remaining
        nodes could still give (node score x largest factor x largest firm-edge weight), the rest
        is skipped. The cut is strict, so the top ``limit`` (ties included) is what a full scan
        returns, as in the Neo4j backend. A firm keeps only (score, node, relationship) while
        scanning; paths are built for the firms returned."""
        firm_factor = {r.value: f for r, f in policy.firm_steps.items()}
        self._index()
        links = self._firm_links  # read after the index: a concurrent rebuild only adds nodes
        max_factor = max(firm_factor.values(), default=0.0) * self._firm_weight

        def full_key(node: str, firm: str) -> str:
            return walk.key(reached[node][1], node) + "|" + firm

        best: dict[str, tuple[float, str, str]] = {}  # firm -> (score, node, relationship)
        level = None
        attached = sorted(((s, key) for key, (s, _depth) in reached.items() if key in links), key=lambda sk: -sk[0])
        for score, key in attached:
            if score != level and len(best) >= limit:  # re-check only when the score level drops
                level = score
                if score * max_factor < heapq.nlargest(limit, (b[0] for b in best.values()))[-1]:
                    break
            node_links = links[key]
            for rel, flat in zip(node_links[::2], node_links[1::2], strict=True):
                factor = firm_factor.get(rel)
                if factor is None:
                    continue
                for firm, weight in zip(flat[::2], flat[1::2], strict=True):
                    cand_score = score * factor * weight
                    current = best.get(firm)
                    if current is not None and (
                        cand_score < current[0]
                        or (cand_score == current[0] and full_key(key, firm) >= full_key(current[1], firm))
                    ):
                        continue
                    best[firm] = (cand_score, key, rel)
        if len(best) > limit:  # keep the top limit scores, ties at the boundary included
            cut = heapq.nlargest(limit, (b[0] for b in best.values()))[-1]
            best = {f: b for f, b in best.items() if b[0] >= cut}
        order = sorted(best, key=lambda f: (-best[f][0], full_key(best[f][1], f), f))[:limit]
        out = []
        for firm in order:
            score, node, rel = best[firm]
            name = self._name(firm)
            path = (*walk.path(reached[node][1], node), PathStep(firm, name, Label.FIRM, f"{rel}<"))
            out.append(Reached(firm, name, score, path))
        return out

    def subgraph(self, key: str, hops: int = 1, limit: int = 200) -> tuple[list[Node], list[Edge]]:
        if key not in self.g:
            return [], []
        seen = [key]
        frontier = [key]
        for _ in range(hops):
            nxt = []
            for k in frontier:
                for other in sorted({n for n, _, _, _ in self._walk(k, Direction.BOTH)}):
                    if other not in seen and len(seen) < limit:
                        seen.append(other)
                        nxt.append(other)
            frontier = nxt
        keep = set(seen)
        edges = sorted(
            (Edge(u, Rel(k), v, d["weight"]) for u, v, k, d in self.g.subgraph(keep).edges(keys=True, data=True)),
            key=lambda e: (e.src, e.rel.value, e.dst),
        )
        return [self._node(k) for k in seen], edges

    def shortest_path(self, src: str, dst: str, max_hops: int = 6) -> list[Node] | None:
        if src not in self.g or dst not in self.g:
            return None
        try:
            keys = nx.shortest_path(self.g.to_undirected(as_view=True), src, dst)
        except nx.NetworkXNoPath:
            return None
        if len(keys) - 1 > max_hops:
            return None
        return [self._node(k) for k in keys]

    def counts(self) -> dict[str, int]:
        labels = Counter(d["label"].value for _, d in self.g.nodes(data=True))
        rels = Counter(k for _, _, k in self.g.edges(keys=True))
        return {"nodes": self.g.number_of_nodes(), "edges": self.g.number_of_edges(), **labels, **rels}
