"""CLI commands by area (matching engine, chain graph and Neo4j server, events, ...); importing
this package registers them on :data:`marketplace.cli.cli`."""

from marketplace.commands import (
    consortia,  # noqa: F401
    contracts,  # noqa: F401
    embeddings,  # noqa: F401
    events,  # noqa: F401
    graph,  # noqa: F401
    matching,  # noqa: F401
    notifications,  # noqa: F401
    policies,  # noqa: F401
    postgres,  # noqa: F401
    tiers,  # noqa: F401
    trust,  # noqa: F401
    web,  # noqa: F401
)
