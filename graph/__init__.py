"""The industry-chain graph behind one interface (:class:`graph.protocol.ChainGraph`), with an
in-process networkx backend (default) and a Neo4j backend over Bolt."""

from __future__ import annotations

import logging

from graph.protocol import ChainGraph
from marketplace.config import Settings
from marketplace.errors import InputError, ServiceUnavailableError

BACKENDS = ("networkx", "neo4j")
log = logging.getLogger(__name__)


def make_graph(settings: Settings, backend: str | None = None) -> ChainGraph:
    """An empty-or-existing graph for the backend (``settings.graph_backend`` by default)."""
    name = backend or settings.graph_backend
    if name == "networkx":
        from graph.networkx_backend import NetworkxGraph

        return NetworkxGraph()
    if name == "neo4j":
        from graph.neo4j_backend import Neo4jGraph

        graph = Neo4jGraph.from_settings(
            settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, settings.neo4j_database
        )
        graph.ensure_schema()
        return graph
    raise InputError(f"unknown graph backend {name!r}; use one of {', '.join(BACKENDS)}", field="backend")


def load_graph(settings: Settings, session, backend: str | None = None, progress: bool = False) -> ChainGraph:  # noqa: ANN001
    """The graph the matching engine uses: networkx is built from the database; Neo4j is used as
    synced (``graph sync``). When Neo4j is down, fall back to networkx with a warning."""
    from graph.sync import sync_all

    name = backend or settings.graph_backend
    if name == "neo4j":
        try:
            return make_graph(settings, "neo4j")
        except ServiceUnavailableError as exc:
            log.warning("Neo4j unavailable, using the networkx backend instead: %s", exc)
    graph = make_graph(settings, "networkx")
    sync_all(session, graph, progress=progress)
    return graph
