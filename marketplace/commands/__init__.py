"""CLI commands of the matching engine, the chain graph and the Neo4j server; importing this
package registers them on :data:`marketplace.cli.cli`."""

from marketplace.commands import (
    graph,  # noqa: F401
    matching,  # noqa: F401
    web,  # noqa: F401
)
