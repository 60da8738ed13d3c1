"""The Neo4j server that `make test` started through `python -m marketplace neo4j start`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from marketplace.cli import cli
from marketplace.cli_common import AppContext
from tests.conftest import neo4j_required


def test_status_reports_where_the_server_runs_and_its_node_count(settings):

    result = CliRunner().invoke(cli, ["neo4j", "status", "--json"], obj=AppContext(settings))
    if result.exit_code != 0 and not neo4j_required():
        pytest.skip("Neo4j not running (make test starts it)")
    data = json.loads(result.output)
    assert result.exit_code == 0 and data["running"] is True
    assert data["uri"] == settings.neo4j_uri and isinstance(data["nodes"], int)


def test_start_when_already_running_says_so(settings):
    from graph import server

    current = server.status(settings)
    if not current.running and not neo4j_required():
        pytest.skip("Neo4j not running (make test starts it)")
    assert server.start(settings).message == "already running"
