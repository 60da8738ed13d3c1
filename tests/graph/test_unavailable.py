"""When Neo4j cannot be reached: commands say so clearly, the app falls back to networkx."""

from __future__ import annotations

import logging

from graph import load_graph
from marketplace.db import session_scope

CLOSED_PORT = "bolt://127.0.0.1:1"


def test_load_graph_falls_back_to_networkx_with_a_warning(loaded, caplog):
    settings = loaded.with_overrides(graph_backend="neo4j", neo4j_uri=CLOSED_PORT)
    with caplog.at_level(logging.WARNING), session_scope(settings) as s:
        graph = load_graph(settings, s)
    assert graph.backend == "networkx" and graph.counts()["nodes"] > 0
    assert "Neo4j unavailable, using the networkx backend" in caplog.text


def test_graph_command_says_neo4j_is_down_and_exits_1(settings):
    from click.testing import CliRunner

    from marketplace.cli import cli
    from marketplace.cli_common import AppContext

    ctx = AppContext(settings.with_overrides(neo4j_uri=CLOSED_PORT))
    result = CliRunner().invoke(cli, ["graph", "sync", "--backend", "neo4j"], obj=ctx)
    assert result.exit_code == 1
    assert "Neo4j is not reachable at bolt://127.0.0.1:1" in result.output and "neo4j start" in result.output
    status = CliRunner().invoke(cli, ["neo4j", "status", "--json"], obj=ctx)
    assert status.exit_code == 1 and '"running": false' in status.output


def test_web_app_keeps_serving_when_neo4j_is_down(loaded):
    from web import create_app

    settings = loaded.with_overrides(graph_backend="neo4j", neo4j_uri=CLOSED_PORT)
    app = create_app(settings, {"TESTING": True, "MATCH_USE_DENSE": False})
    with app.app_context():
        from web.matching_engine import get_engine

        assert get_engine().graph.backend == "networkx"
    health = app.test_client().get("/healthz").get_json()
    assert health["status"] == "ok" and health["graph_backend"] == "networkx"
