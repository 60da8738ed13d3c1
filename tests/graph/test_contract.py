"""One contract, two backends: every graph operation runs on networkx and on the real Neo4j
server that `make test` starts (no mock stands in for it)."""

from __future__ import annotations

import random

import pytest

from graph import make_graph
from graph.networkx_backend import NetworkxGraph
from graph.policies import chain_policy, policy_for
from graph.protocol import Direction, Edge, ExpansionPolicy, Label, Node, Rel, Step
from graph.sync import iter_edges, sync_all
from marketplace.db import session_scope
from marketplace.errors import ServiceUnavailableError
from tests.conftest import neo4j_required

HOSTILE = ['O\'Brien "quoted"', "{braces}", "`backticks`", "'}) DETACH DELETE n //", "$param \\ 反斜杠"]


def _neo4j(settings):
    try:
        return make_graph(settings, "neo4j")
    except ServiceUnavailableError as exc:
        if neo4j_required():
            raise
        pytest.skip(f"Neo4j not running: {exc}")


@pytest.fixture(params=["networkx", "neo4j"])
def graph(request, settings):
    g = NetworkxGraph() if request.param == "networkx" else _neo4j(settings)
    g.clear()
    g.ensure_schema()
    yield g
    g.clear()
    g.close()


def chain(g) -> None:
    """firm:1 makes cells; lithium iron phosphate is upstream of cells; firm:2 makes LFP;
    lithium carbonate is upstream of LFP; firm:3 makes it; firm:4 holds a patent."""
    g.upsert_nodes(
        [
            Node("firm:1", Label.FIRM, "电池厂", {"kind": "large"}),
            Node("firm:2", Label.FIRM, "正极厂", {"kind": "sme"}),
            Node("firm:3", Label.FIRM, "锂盐厂", {"kind": "sme"}),
            Node("firm:4", Label.FIRM, "研究所", {"kind": "sme"}),
            Node("product:1", Label.PRODUCT, "锂电池"),
            Node("product:2", Label.PRODUCT, "磷酸铁锂"),
            Node("product:3", Label.PRODUCT, "碳酸锂"),
            Node("product:4", Label.PRODUCT, "动力锂电池"),
            Node("industry:1", Label.INDUSTRY, "电池", {"code": "270302"}),
            Node("patent:1", Label.PATENT, "一种磷酸铁锂的制备方法"),
        ]
    )
    g.upsert_edges(
        [
            Edge("firm:1", Rel.PRODUCES, "product:1", 1.0),
            Edge("firm:2", Rel.PRODUCES, "product:2", 0.9),
            Edge("firm:3", Rel.PRODUCES, "product:3", 0.6),
            Edge("product:2", Rel.UPSTREAM_OF, "product:1"),
            Edge("product:3", Rel.UPSTREAM_OF, "product:2"),
            Edge("product:4", Rel.SUBCLASS_OF, "product:1"),
            Edge("product:1", Rel.IN_INDUSTRY, "industry:1"),
            Edge("firm:4", Rel.HOLDS_PATENT, "patent:1"),
            Edge("firm:2", Rel.SUPPLIES, "firm:1"),
        ]
    )


def test_upsert_is_idempotent_and_counted(graph):
    chain(graph)
    chain(graph)
    c = graph.counts()
    assert c["nodes"] == 10 and c["edges"] == 9
    assert c["Firm"] == 4 and c["PRODUCES"] == 3 and c["UPSTREAM_OF"] == 2


def test_get_and_find_nodes(graph):
    chain(graph)
    node = graph.get_node("firm:2")
    assert node.label is Label.FIRM and node.name == "正极厂" and node.props["kind"] == "sme"
    assert [n.key for n in graph.find_nodes(Label.PRODUCT, "磷酸铁锂")] == ["product:2"]
    assert graph.get_node("firm:999") is None


def test_neighbours_by_relation_and_direction(graph):
    chain(graph)
    assert [n.key for n in graph.neighbours("product:1", Rel.UPSTREAM_OF, Direction.IN)] == ["product:2"]
    assert [n.key for n in graph.neighbours("product:2", Rel.UPSTREAM_OF, Direction.OUT)] == ["product:1"]
    assert [n.key for n in graph.neighbours("product:1", None, Direction.BOTH)] == [
        "firm:1",
        "industry:1",
        "product:2",
        "product:4",
    ]


def test_expansion_reaches_upstream_suppliers_with_decay_and_path(graph):
    chain(graph)
    reached = graph.expand({"product:1": 1.0}, chain_policy("upstream", hops=2))
    by_key = {r.firm_key: r for r in reached}
    assert list(by_key) == ["firm:1", "firm:2", "firm:3"]
    assert by_key["firm:1"].score == pytest.approx(1.0)
    assert by_key["firm:2"].score == pytest.approx(0.5 * 0.9)
    assert by_key["firm:3"].score == pytest.approx(0.5 * 0.5 * 0.6)
    assert [p.name for p in by_key["firm:3"].path] == ["锂电池", "磷酸铁锂", "碳酸锂", "锂盐厂"]
    assert [p.via for p in by_key["firm:3"].path] == [None, "UPSTREAM_OF<", "UPSTREAM_OF<", "PRODUCES<"]


def test_expansion_respects_hop_limit(graph):
    chain(graph)
    one_hop = graph.expand({"product:1": 1.0}, chain_policy("upstream", hops=1))
    assert [r.firm_key for r in one_hop] == ["firm:1", "firm:2"]
    zero = graph.expand({"product:1": 1.0}, chain_policy("upstream", hops=0))
    assert [r.firm_key for r in zero] == ["firm:1"]


def test_expansion_follows_only_the_policy_direction(graph):
    chain(graph)
    down = graph.expand({"product:3": 1.0}, chain_policy("downstream", hops=2))
    assert [r.firm_key for r in down] == ["firm:3", "firm:2", "firm:1"]
    patents = graph.expand({"patent:1": 1.0}, policy_for("rd"))
    assert [r.firm_key for r in patents] == ["firm:4"]


def test_firm_attachment_takes_only_firms_from_an_industry_that_products_are_in_too(graph):
    chain(graph)
    graph.upsert_edges([Edge("firm:3", Rel.IN_INDUSTRY, "industry:1", 0.8)])  # industry:1 holds product:1 too
    reached = graph.expand({"industry:1": 1.0}, policy_for("investment"))
    assert [(r.firm_key, r.score) for r in reached] == [("firm:3", pytest.approx(0.8))]
    assert [p.via for p in reached[0].path] == [None, "IN_INDUSTRY<"]


def test_subgraph_around_a_product(graph):
    chain(graph)
    nodes, edges = graph.subgraph("product:1", hops=1)
    assert {n.key for n in nodes} == {"product:1", "firm:1", "product:2", "product:4", "industry:1"}
    assert Edge("product:2", Rel.UPSTREAM_OF, "product:1", 1.0) in edges
    assert all(e.src in {n.key for n in nodes} and e.dst in {n.key for n in nodes} for e in edges)


def test_shortest_path_between_firms(graph):
    chain(graph)
    path = graph.shortest_path("firm:3", "firm:1")
    assert path[0].key == "firm:3" and path[-1].key == "firm:1" and len(path) == 5
    direct = graph.shortest_path("firm:2", "firm:1")
    assert [n.key for n in direct] == ["firm:2", "firm:1"]
    graph.upsert_nodes([Node("firm:9", Label.FIRM, "孤岛")])
    assert graph.shortest_path("firm:9", "firm:1") is None


def test_replace_firm_edges_writes_a_profile_edit_through(graph):
    chain(graph)
    graph.replace_firm_edges("firm:2", [Edge("firm:2", Rel.PRODUCES, "product:3", 1.0)])
    assert [n.key for n in graph.neighbours("firm:2", Rel.PRODUCES, Direction.OUT)] == ["product:3"]
    assert [n.key for n in graph.neighbours("firm:2", Rel.SUPPLIES, Direction.OUT)] == ["firm:1"]


def test_edge_to_unknown_node_is_refused(graph):
    chain(graph)
    with pytest.raises(KeyError):
        graph.upsert_edges([Edge("firm:1", Rel.PRODUCES, "product:404")])


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_pass_through_every_path_unharmed(graph, name):
    chain(graph)
    graph.upsert_nodes([Node("product:h", Label.PRODUCT, name), Node("firm:h", Label.FIRM, name, {"region": name})])
    graph.upsert_edges([Edge("firm:h", Rel.PRODUCES, "product:h"), Edge("product:h", Rel.UPSTREAM_OF, "product:1")])
    assert graph.get_node("product:h").name == name
    assert [n.key for n in graph.find_nodes(Label.PRODUCT, name)] == ["product:h"]
    reached = graph.expand({"product:1": 1.0}, chain_policy("upstream", hops=1))
    assert name in {r.name for r in reached}
    assert graph.counts()["nodes"] == 12  # nothing was deleted
    graph.replace_firm_edges("firm:h", [])
    assert graph.neighbours("firm:h", Rel.PRODUCES, Direction.OUT) == []
    assert graph.shortest_path("firm:h", "firm:1") is None or graph.get_node("firm:1") is not None


def test_sync_from_database_is_idempotent(graph, loaded):
    with session_scope(loaded) as s:
        first = sync_all(s, graph, progress=False)
        counts = graph.counts()
        sync_all(s, graph, progress=False)
        distinct_edges = len({(e.src, e.rel, e.dst) for e in iter_edges(s)})
    assert graph.counts() == counts
    assert counts["nodes"] == first["nodes"] and counts["edges"] == distinct_edges


def test_backends_agree_on_expansion_from_sampled_products(loaded):
    """Parity: 200 sampled products expand to the same firms and scores on both backends."""
    nx_graph = make_graph(loaded, "networkx")
    neo = _neo4j(loaded)
    neo.clear()
    with session_scope(loaded) as s:
        sync_all(s, nx_graph, progress=False)
        sync_all(s, neo, progress=False)
    products = sorted(k for k, d in nx_graph.g.nodes(data=True) if d["label"] == Label.PRODUCT)
    sample = random.Random(7).sample(products, min(200, len(products)))
    policies = [policy_for("supply_chain"), chain_policy("both", 2), policy_for("investment")]
    compared = 0
    try:
        for i, key in enumerate(sample):
            policy = policies[i % len(policies)]
            a = nx_graph.expand({key: 1.0}, policy, limit=50)
            b = neo.expand({key: 1.0}, policy, limit=50)
            assert [r.firm_key for r in a] == [r.firm_key for r in b], key
            assert [r.score for r in a] == pytest.approx([r.score for r in b], rel=1e-9), key
            assert [[p.key for p in r.path] for r in a] == [[p.key for p in r.path] for r in b], key
            compared += len(a)
    finally:
        neo.clear()
        neo.close()
    assert compared > 0


def test_policy_steps_encode_direction():
    assert Step(Rel.UPSTREAM_OF, Direction.IN).code == "UPSTREAM_OF<"
    p = ExpansionPolicy({Step(Rel.SUBCLASS_OF, Direction.OUT): 0.5}, {Rel.PRODUCES: 1.0})
    assert p.step_factors() == {"SUBCLASS_OF>": 0.5}
