"""The Neo4j backend: the same chain graph on a Neo4j server over Bolt (official driver).

Every query is parameterized; labels and relationship types come only from our own enums.
Writes go through managed transactions (``execute_write``), which the driver retries on
transient errors. Every node has the label ``Node`` (unique ``key``) plus its kind's label.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from neo4j import Driver, GraphDatabase, ManagedTransaction
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

from graph.protocol import (
    Direction,
    Edge,
    ExpansionPolicy,
    Label,
    Node,
    PathStep,
    Reached,
    Rel,
    rank_reached,
)
from marketplace.errors import ServiceUnavailableError

BATCH = 5000
PROFILE_RELS = [Rel.PRODUCES.value, Rel.IN_INDUSTRY.value, Rel.HOLDS_PATENT.value]


def connect(uri: str, user: str, password: str) -> Driver:
    """A verified driver, or ServiceUnavailableError with a message that says what to do."""
    driver = GraphDatabase.driver(uri, auth=(user, password))
    try:
        driver.verify_connectivity()
    except AuthError as exc:
        driver.close()
        raise ServiceUnavailableError(
            f"Neo4j at {uri} refused the credentials for user {user!r}; "
            "set MARKETPLACE_NEO4J_USER / MARKETPLACE_NEO4J_PASSWORD"
        ) from exc
    except (ServiceUnavailable, OSError, Neo4jError) as exc:
        driver.close()
        raise ServiceUnavailableError(
            f"Neo4j is not reachable at {uri} ({exc.__class__.__name__}); start it with "
            "`python -m marketplace neo4j start` or set MARKETPLACE_NEO4J_URI"
        ) from exc
    return driver


def _batches(items: list, size: int = BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Neo4jGraph:
    backend = "neo4j"

    def __init__(self, driver: Driver, database: str = "neo4j") -> None:
        self.driver = driver
        self.database = database

    @classmethod
    def from_settings(cls, uri: str, user: str, password: str, database: str = "neo4j") -> Neo4jGraph:
        return cls(connect(uri, user, password), database)

    def _read(self, query: str, **params: object) -> list:
        with self.driver.session(database=self.database) as session:
            return session.execute_read(lambda tx: list(tx.run(query, **params)))

    def _write(self, query: str, **params: object) -> None:
        with self.driver.session(database=self.database) as session:
            session.execute_write(lambda tx: tx.run(query, **params).consume())

    # --- schema and writes ----------------------------------------------------------------
    def ensure_schema(self) -> None:
        statements = [
            "CREATE CONSTRAINT node_key IF NOT EXISTS FOR (n:Node) REQUIRE n.key IS UNIQUE",
            *(
                f"CREATE INDEX {label.value.lower()}_name IF NOT EXISTS FOR (n:{label.value}) ON (n.name)"
                for label in Label
            ),
        ]
        for statement in statements:
            self._write(statement)

    def upsert_nodes(self, nodes: list[Node]) -> int:
        by_label: dict[Label, list[dict]] = defaultdict(list)
        for n in nodes:
            by_label[n.label].append({"key": n.key, "name": n.name, "props": dict(n.props)})
        for label, rows in by_label.items():
            query = (
                f"UNWIND $rows AS row MERGE (n:Node {{key: row.key}}) "
                f"SET n:{label.value}, n.name = row.name, n += row.props"
            )
            for batch in _batches(rows):
                self._write(query, rows=batch)
        return len(nodes)

    def upsert_edges(self, edges: list[Edge]) -> int:
        by_rel: dict[Rel, list[dict]] = defaultdict(list)
        for e in edges:
            by_rel[e.rel].append({"src": e.src, "dst": e.dst, "weight": float(e.weight)})
        for rel, rows in by_rel.items():
            query = (
                "UNWIND $rows AS row "
                "MATCH (a:Node {key: row.src}) MATCH (b:Node {key: row.dst}) "
                f"MERGE (a)-[r:{rel.value}]->(b) SET r.weight = row.weight "
                "RETURN count(r) AS n"
            )
            for batch in _batches(rows):
                with self.driver.session(database=self.database) as session:
                    written = session.execute_write(lambda tx, q=query, b=batch: tx.run(q, rows=b).single()["n"])
                if written != len(batch):
                    raise KeyError(f"{len(batch) - written} {rel.value} edge(s) refer to unknown nodes")
        return len(edges)

    def replace_firm_edges(self, firm_key: str, edges: list[Edge]) -> None:
        def work(tx: ManagedTransaction) -> None:
            tx.run(
                "MATCH (f:Node {key: $key})-[r]->() WHERE type(r) IN $rels DELETE r",
                key=firm_key,
                rels=PROFILE_RELS,
            ).consume()

        with self.driver.session(database=self.database) as session:
            session.execute_write(work)
        self.upsert_edges(edges)

    def clear(self) -> None:
        while True:
            with self.driver.session(database=self.database) as session:
                deleted = session.execute_write(
                    lambda tx: tx.run(
                        "MATCH (n:Node) WITH n LIMIT 20000 DETACH DELETE n RETURN count(n) AS c"
                    ).single()["c"]
                )
            if not deleted:
                return

    def close(self) -> None:
        self.driver.close()

    # --- reads ----------------------------------------------------------------------------
    @staticmethod
    def _to_node(record_node) -> Node:  # noqa: ANN001 - neo4j.graph.Node
        labels = [lbl for lbl in record_node.labels if lbl != "Node"]
        props = {k: v for k, v in dict(record_node).items() if k not in ("key", "name")}
        return Node(record_node["key"], Label(labels[0]), record_node["name"], props)

    def get_node(self, key: str) -> Node | None:
        rows = self._read("MATCH (n:Node {key: $key}) RETURN n", key=key)
        return self._to_node(rows[0]["n"]) if rows else None

    def find_nodes(self, label: Label, name: str) -> list[Node]:
        rows = self._read(f"MATCH (n:{label.value} {{name: $name}}) RETURN n ORDER BY n.key", name=name)
        return [self._to_node(r["n"]) for r in rows]

    def neighbours(self, key: str, rel: Rel | None = None, direction: Direction = Direction.BOTH) -> list[Node]:
        pattern = {Direction.OUT: "-[r]->", Direction.IN: "<-[r]-", Direction.BOTH: "-[r]-"}[direction]
        rows = self._read(
            f"MATCH (a:Node {{key: $key}}){pattern}(b:Node) WHERE $rel IS NULL OR type(r) = $rel "
            "RETURN DISTINCT b ORDER BY b.key",
            key=key,
            rel=rel.value if rel else None,
        )
        return [self._to_node(r["b"]) for r in rows]

    def expand(self, seeds: dict[str, float], policy: ExpansionPolicy, limit: int = 100) -> list[Reached]:
        chain_types = sorted({s.rel.value for s in policy.chain_steps})
        firm_types = sorted(r.value for r in policy.firm_steps)
        hops = max(0, int(policy.hops)) if chain_types else 0
        rel_filter = "|".join(chain_types) if chain_types else "NONE_"
        query = f"""
        UNWIND $seeds AS seed
        MATCH (s:Node {{key: seed.key}})
        MATCH p = (s)-[:{rel_filter}*0..{hops}]-(n:Node)
        WHERE NOT n:Firm AND none(x IN nodes(p) WHERE x:Firm)
        WITH seed, p, n, [i IN range(0, size(relationships(p)) - 1) |
             type(relationships(p)[i]) +
             CASE WHEN startNode(relationships(p)[i]) = nodes(p)[i] THEN '>' ELSE '<' END] AS codes
        WHERE all(c IN codes WHERE $factors[c] IS NOT NULL)
        WITH seed, p, n, codes, reduce(acc = toFloat(seed.w), c IN codes | acc * $factors[c]) AS chain_score
        MATCH (n)<-[fr]-(f:Firm)
        WHERE type(fr) IN $firm_types
        WITH f, chain_score * $firm_factors[type(fr)] * fr.weight AS score,
             [x IN nodes(p) | x.key] + [f.key] AS keys,
             [x IN nodes(p) | x.name] + [f.name] AS names,
             [x IN nodes(p) | [l IN labels(x) WHERE l <> 'Node'][0]] + ['Firm'] AS labels,
             [NULL] + codes + [type(fr) + '<'] AS vias
        RETURN f.key AS firm, f.name AS firm_name, score, keys, names, labels, vias
        """
        rows = self._read(
            query,
            seeds=[{"key": k, "w": float(w)} for k, w in seeds.items()],
            factors=policy.step_factors(),
            firm_factors={r.value: f for r, f in policy.firm_steps.items()},
            firm_types=firm_types,
        )
        best: dict[str, tuple[float, tuple[PathStep, ...]]] = {}
        names: dict[str, str] = {}
        for r in rows:
            path = tuple(
                PathStep(k, n, Label(lbl), via)
                for k, n, lbl, via in zip(r["keys"], r["names"], r["labels"], r["vias"], strict=True)
            )
            cand = (float(r["score"]), path)
            cur = best.get(r["firm"])
            if (
                cur is None
                or cand[0] > cur[0]
                or (cand[0] == cur[0] and "|".join(r["keys"]) < "|".join(p.key for p in cur[1]))
            ):
                best[r["firm"]] = cand
                names[r["firm"]] = r["firm_name"]
        return rank_reached(best, names, limit)

    def subgraph(self, key: str, hops: int = 1, limit: int = 200) -> tuple[list[Node], list[Edge]]:
        seen: list[str] = []
        if self.get_node(key) is None:
            return [], []
        seen.append(key)
        frontier = [key]
        for _ in range(max(0, hops)):
            rows = self._read(
                "UNWIND $keys AS k MATCH (a:Node {key: k})--(b:Node) RETURN a.key AS a, collect(DISTINCT b.key) AS bs",
                keys=frontier,
            )
            by_src = {r["a"]: sorted(r["bs"]) for r in rows}
            nxt = []
            for k in frontier:
                for other in by_src.get(k, []):
                    if other not in seen and len(seen) < limit:
                        seen.append(other)
                        nxt.append(other)
            frontier = nxt
        nodes_rows = self._read("UNWIND $keys AS k MATCH (n:Node {key: k}) RETURN n", keys=seen)
        by_key = {r["n"]["key"]: self._to_node(r["n"]) for r in nodes_rows}
        edge_rows = self._read(
            "MATCH (a:Node)-[r]->(b:Node) WHERE a.key IN $keys AND b.key IN $keys "
            "RETURN a.key AS src, type(r) AS rel, b.key AS dst, r.weight AS weight",
            keys=seen,
        )
        edges = sorted(
            (
                Edge(r["src"], Rel(r["rel"]), r["dst"], float(r["weight"] if r["weight"] is not None else 1.0))
                for r in edge_rows
            ),
            key=lambda e: (e.src, e.rel.value, e.dst),
        )
        return [by_key[k] for k in seen if k in by_key], edges

    def shortest_path(self, src: str, dst: str, max_hops: int = 6) -> list[Node] | None:
        if src == dst:
            node = self.get_node(src)
            return [node] if node else None
        rows = self._read(
            f"MATCH (a:Node {{key: $src}}), (b:Node {{key: $dst}}) "
            f"MATCH p = shortestPath((a)-[*..{int(max_hops)}]-(b)) RETURN nodes(p) AS ns",
            src=src,
            dst=dst,
        )
        if not rows:
            return None
        return [self._to_node(n) for n in rows[0]["ns"]]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        out["nodes"] = self._read("MATCH (n:Node) RETURN count(n) AS c")[0]["c"]
        out["edges"] = self._read("MATCH (:Node)-[r]->(:Node) RETURN count(r) AS c")[0]["c"]
        for label in Label:
            c = self._read(f"MATCH (n:{label.value}) RETURN count(n) AS c")[0]["c"]
            if c:
                out[label.value] = c
        for r in self._read("MATCH ()-[r]->() RETURN type(r) AS t, count(r) AS c"):
            out[r["t"]] = r["c"]
        return out
