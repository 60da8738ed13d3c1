"""What every command module shares: the per-invocation :class:`AppContext`, ``pass_app``, the
``--json`` option, output helpers, the demand/policy file reader and the matching engine builder.

Command modules import from here; this module imports none of them (nor :mod:`marketplace.cli`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from marketplace.config import Settings
from marketplace.db import init_db, session_scope
from marketplace.errors import InputError


class AppContext:
    """Settings plus a lazily upgraded database, shared by every command of one invocation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ready = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        if not self._ready:
            init_db(self.settings)
            self._ready = True
        with session_scope(self.settings) as session:
            yield session


pass_app = click.make_pass_decorator(AppContext)

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    """Print ``data`` as one line of JSON (``--json``) or through ``human``."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        human(data)


def fail(message: str, code: int) -> None:
    """Print ``message`` on stderr and exit with ``code``."""
    click.echo(f"错误 / Error: {message}", err=True)
    sys.exit(code)


def build_engine(app: AppContext, *, progress: bool = True, **kw: Any):  # noqa: ANN201
    """The matching engine built from the instance's database (progress bars only on a terminal)."""
    from marketplace.matching.engine import MatchEngine

    with app.session() as session:
        return MatchEngine(app.settings, progress=progress and sys.stderr.isatty(), **kw).build(session)


def load_file(path: Path) -> dict[str, Any]:
    """One object read from a JSON (``.json``) or YAML file; an unreadable file is an InputError."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read file ({exc})", field="file") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not valid JSON/YAML ({exc})", field="file") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected one object with demand fields", field="file")
    return data
