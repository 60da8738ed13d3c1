"""The networkx backend's compact edge storage behaves like the dicts it replaces."""

from __future__ import annotations

import pytest

from graph.networkx_backend import NetworkxGraph, _OneOrMore
from graph.protocol import Direction, Edge, Label, Node, Rel


def test_one_or_more_mapping_behaves_like_a_dict():
    m = _OneOrMore()
    assert len(m) == 0 and dict(m) == {} and "a" not in m
    m["a"] = 1
    m["a"] = 2  # overwrite stays in the slots
    assert dict(m) == {"a": 2} and m["a"] == 2 and len(m) == 1
    m["b"] = 3  # a second key grows a dict
    assert dict(m) == {"a": 2, "b": 3} and len(m) == 2
    del m["a"]
    assert dict(m) == {"b": 3}
    with pytest.raises(KeyError):
        m["a"]
    with pytest.raises(KeyError):
        del m["zzz"]
    assert m.get("zzz", 7) == 7 and m.popitem() == ("b", 3) and len(m) == 0


def test_two_relationships_between_the_same_nodes_are_kept_apart():
    g = NetworkxGraph()
    g.upsert_nodes([Node("firm:1", Label.FIRM, "甲"), Node("firm:2", Label.FIRM, "乙")])
    g.upsert_edges([Edge("firm:1", Rel.COOPERATES, "firm:2", 1.0), Edge("firm:1", Rel.SUPPLIES, "firm:2", 0.5)])
    assert [n.key for n in g.neighbours("firm:1", Rel.SUPPLIES, Direction.OUT)] == ["firm:2"]
    assert [n.key for n in g.neighbours("firm:1", Rel.COOPERATES, Direction.OUT)] == ["firm:2"]
    assert g.counts()["edges"] == 2
    g.g.remove_edge("firm:1", "firm:2", key=Rel.SUPPLIES.value)
    assert g.neighbours("firm:1", Rel.SUPPLIES, Direction.OUT) == []
    assert [n.key for n in g.neighbours("firm:1", Rel.COOPERATES, Direction.OUT)] == ["firm:2"]
    assert {k for _, _, k, d in g.g.edges(keys=True, data=True) if d["weight"] == 1.0} == {"COOPERATES"}
