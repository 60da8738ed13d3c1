"""The command line: ``python -m marketplace ...`` (also registered as ``flask marketplace``).

Exit codes: 0 success, 2 bad usage or input, 1 any other failure. Commands that print data take
``--json`` for machine-readable output. Commands are thin: they parse arguments, call a service
function and print.

Every command group is registered here, in :data:`COMMANDS`, by import path: a group's module is
imported only when that group is listed or run (as Indico's ``LazyGroup``), so this module imports
no command module and no command module imports it. Shared helpers live in
:mod:`marketplace.cli_common`.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

import click
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError

from marketplace.cli_common import AppContext, fail
from marketplace.config import Settings
from marketplace.errors import MarketplaceError, msg
from marketplace.models.base import INT_MAX, INT_MIN

# name -> "module:attribute" of every top-level command; `--help` lists them alphabetically
COMMANDS: dict[str, str] = {
    "init-db": "marketplace.data_cli:init_db_command",
    "import": "marketplace.data_cli:import_group",
    "stats": "marketplace.data_cli:stats_command",
    "demo": "marketplace.data_cli:demo_group",
    "serve": "marketplace.serve_cli:serve_command",
    "index": "marketplace.serve_cli:index_group",
    "postgres": "marketplace.postgres_cli:postgres_group",
    "users": "marketplace.accounts.cli:users_group",
    "notifications": "marketplace.accounts.cli:notifications_group",
    "demands": "marketplace.demands.cli:demands_group",
    "match": "marketplace.matching.cli:match_command",
    "suggest": "marketplace.matching.cli:suggest_command",
    "evaluate": "marketplace.matching.cli:evaluate_command",
    "embeddings": "marketplace.matching.cli:embeddings_group",
    "graph": "marketplace.matching.cli:graph_group",
    "neo4j": "marketplace.matching.cli:neo4j_group",
    "events": "marketplace.events.cli:events_group",
    "contracts": "marketplace.contracts.cli:contracts_group",
    "firms": "marketplace.enterprise.cli:firms_group",
    "consortia": "marketplace.enterprise.cli:consortia_group",
    "policies": "marketplace.enterprise.cli:policies_group",
    "tiers": "marketplace.enterprise.cli:tiers_group",
}


class BoundedInt(click.types.IntParamType):
    """A whole number the databases can store (32 bits, as PostgreSQL's INTEGER columns): a larger
    id is a usage error (exit 2) naming the argument, not an overflow from the database driver."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if isinstance(number, int) and not INT_MIN <= number <= INT_MAX:
            self.fail(
                msg(
                    "%(value)s is out of range: expected a whole number from %(min)s to %(max)s",
                    value=number,
                    min=INT_MIN,
                    max=INT_MAX,
                ),
                param,
                ctx,
            )
        return number


BOUNDED_INT = BoundedInt()


def bound_int_parameters(command: click.Command) -> None:
    """Give every plain ``type=int`` argument and option of ``command`` and its subcommands the
    database's integer bound (ids reach the database); done once, when the command is about to run."""
    for param in command.params:
        if param.type is click.INT:
            param.type = BOUNDED_INT
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            bound_int_parameters(sub)


class LazyGroup(click.Group):
    """A group whose subcommands are named by import path ("module:attribute") and imported only
    when one is listed or run."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy_commands.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        return getattr(import_module(module), attribute)


class MarketplaceGroup(LazyGroup):
    """Turns the marketplace's own errors into a clear message and the right exit code."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            bound_int_parameters(command)
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MarketplaceError as exc:
            fail(str(exc), exc.exit_code)
        except OverflowError as exc:
            if "too large to convert" not in str(exc):  # not a number on its way to the database
                raise
            # the last guard for a number read without BoundedInt (e.g. an id inside a text argument)
            fail(msg("a number is too large for the database: ids go up to %(max)s", max=INT_MAX), 2)
        except DataError as exc:  # PostgreSQL: "integer out of range", "value too long" …
            if "out of range" in str(exc.orig):
                fail(msg("a number is too large for the database: ids go up to %(max)s", max=INT_MAX), 2)
            fail(f"the database refused a value: {exc.orig}", 2)
        except OperationalError as exc:
            fail(f"database error: {exc.orig}; check MARKETPLACE_DATABASE_URL", 1)
        except SQLAlchemyError as exc:
            fail(f"database error: {exc.__class__.__name__}: {exc}", 1)


@click.group(cls=MarketplaceGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """ChainMatch 产业链供需对接平台 — marketplace commands.

    Settings come from MARKETPLACE_* environment variables (see docs/configuration in README).
    """
    if ctx.find_object(AppContext) is None:  # `flask marketplace` passes Flask's ScriptInfo
        # the random secret key `serve` keeps in the instance directory, unless one is configured:
        # every command of one instance reads the same settings the same way
        ctx.obj = AppContext(Settings.from_env().with_persisted_secret_key())


def main() -> None:
    cli(prog_name="python -m marketplace")
