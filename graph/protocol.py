"""The industry-chain graph interface shared by the networkx and Neo4j backends.

Nodes are keyed ``"<kind>:<database id>"`` (``firm:12``, ``product:345``) and carry a label and a
display name. Expansion walks chain relations from seed nodes for up to N hops, each step
multiplying the score by the step's factor (which includes the per-hop decay), then takes a final
step from each reached node to the firms attached to it. A firm's score is the best over all such
paths; ties go to the path whose node keys sort first. Both backends must return identical
results; ``tests/graph/test_contract.py`` holds them to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable


class Label(str, Enum):
    FIRM = "Firm"
    PRODUCT = "Product"
    INDUSTRY = "Industry"
    PATENT = "Patent"
    DEMAND = "Demand"


class Rel(str, Enum):
    """Relationship types. Direction is fixed per type (see comments)."""

    PRODUCES = "PRODUCES"  # Firm -> Product (weight: revenue-share based)
    UPSTREAM_OF = "UPSTREAM_OF"  # material Product -> Product made from it
    SUBCLASS_OF = "SUBCLASS_OF"  # narrower Product -> broader Product
    IN_INDUSTRY = "IN_INDUSTRY"  # Firm|Product -> Industry
    INDUSTRY_UPSTREAM_OF = "INDUSTRY_UPSTREAM_OF"  # supplying Industry -> buying Industry
    PART_OF = "PART_OF"  # child Industry -> parent Industry
    HOLDS_PATENT = "HOLDS_PATENT"  # Firm -> Patent
    SUPPLIES = "SUPPLIES"  # Firm -> Firm
    COOPERATES = "COOPERATES"
    INVESTS = "INVESTS"
    COMPETES = "COMPETES"
    CONTROLS = "CONTROLS"
    JOINT_VENTURE = "JOINT_VENTURE"
    ACQUIRES = "ACQUIRES"


FIRM_LINKS = (Rel.PRODUCES, Rel.IN_INDUSTRY, Rel.HOLDS_PATENT)


class Direction(str, Enum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


@dataclass(frozen=True)
class Node:
    key: str
    label: Label
    name: str
    props: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Edge:
    src: str
    rel: Rel
    dst: str
    weight: float = 1.0


@dataclass(frozen=True)
class Step:
    """One traversal step: relationship type and the direction it is walked in."""

    rel: Rel
    direction: Direction  # OUT follows src->dst, IN walks dst->src

    @property
    def code(self) -> str:
        return f"{self.rel.value}{'>' if self.direction is Direction.OUT else '<'}"


@dataclass(frozen=True)
class ExpansionPolicy:
    """Which chain steps to follow (with their factors, decay included) and which final
    step attaches firms (with its factor, multiplied by the edge's weight)."""

    chain_steps: dict[Step, float]
    firm_steps: dict[Rel, float]
    hops: int = 2

    def step_factors(self) -> dict[str, float]:
        return {s.code: f for s, f in self.chain_steps.items()}


@dataclass(frozen=True)
class PathStep:
    key: str
    name: str
    label: Label
    via: str | None = None  # step code that led here ("UPSTREAM_OF<"), None for the seed


@dataclass(frozen=True)
class Reached:
    """A firm reached by expansion: its score and the best path (seed first, firm last)."""

    firm_key: str
    name: str
    score: float
    path: tuple[PathStep, ...]


@runtime_checkable
class ChainGraph(Protocol):
    """Operations every backend provides."""

    backend: str

    def ensure_schema(self) -> None: ...

    def upsert_nodes(self, nodes: list[Node]) -> int: ...

    def upsert_edges(self, edges: list[Edge]) -> int: ...

    def replace_firm_edges(self, firm_key: str, edges: list[Edge]) -> None: ...

    def get_node(self, key: str) -> Node | None: ...

    def find_nodes(self, label: Label, name: str) -> list[Node]: ...

    def neighbours(self, key: str, rel: Rel | None = None, direction: Direction = Direction.BOTH) -> list[Node]: ...

    def expand(self, seeds: dict[str, float], policy: ExpansionPolicy, limit: int = 100) -> list[Reached]: ...

    def subgraph(self, key: str, hops: int = 1, limit: int = 200) -> tuple[list[Node], list[Edge]]: ...

    def shortest_path(self, src: str, dst: str, max_hops: int = 6) -> list[Node] | None: ...

    def counts(self) -> dict[str, int]: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


def path_sort_key(keys: tuple[str, ...]) -> str:
    return "|".join(keys)


def rank_reached(
    best: dict[str, tuple[float, tuple[PathStep, ...]]], names: dict[str, str], limit: int
) -> list[Reached]:
    """Order firms by score, then by path key, then by firm key: the same in every backend."""
    items = sorted(best.items(), key=lambda kv: (-kv[1][0], path_sort_key(tuple(p.key for p in kv[1][1])), kv[0]))
    return [Reached(k, names.get(k, k), score, path) for k, (score, path) in items[:limit]]
