"""CLI commands by area; importing this package registers them on :data:`marketplace.cli.cli`."""

from marketplace import postgres_cli, serve_cli  # noqa: F401
from marketplace.accounts import cli as accounts_cli  # noqa: F401
from marketplace.accounts import notifications_cli  # noqa: F401
from marketplace.contracts import cli as contracts_cli  # noqa: F401
from marketplace.enterprise import consortia_cli, policies_cli, tiers_cli  # noqa: F401
from marketplace.events import cli as events_cli  # noqa: F401
from marketplace.matching import cli as matching_cli  # noqa: F401
from marketplace.matching import embeddings_cli, graph_cli  # noqa: F401
