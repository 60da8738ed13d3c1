"""One registry of command groups: `python -m marketplace` and `flask marketplace` list the same
commands, and a command's module is imported only when that command is listed or run."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click

from marketplace.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
COMMAND_MODULES = sorted({target.partition(":")[0] for target in COMMANDS.values()})


def _listed(help_text: str) -> list[str]:
    """The command names of a click help page, in the order shown."""
    section = help_text.split("Commands:", 1)[1]
    return re.findall(r"^  (\S+)", section, flags=re.M)


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MARKETPLACE_INSTANCE_DIR": str(tmp_path),
        "MARKETPLACE_SECRET_KEY": "5e" * 32,
        "MARKETPLACE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_every_registered_command_loads_under_its_registered_name():
    with click.Context(cli) as ctx:
        assert cli.list_commands(ctx) == sorted(COMMANDS) and len(COMMANDS) == 22
        for name in COMMANDS:
            command = cli.get_command(ctx, name)
            assert isinstance(command, click.Command) and command.name == name, name


def test_python_m_marketplace_and_flask_marketplace_list_the_same_commands_in_the_same_order(tmp_path):
    plain = _run([sys.executable, "-m", "marketplace", "--help"], tmp_path)
    flask = _run([sys.executable, "-m", "flask", "--app", "web", "marketplace", "--help"], tmp_path)
    assert plain.returncode == 0 and flask.returncode == 0, plain.stderr + flask.stderr
    assert _listed(plain.stdout) == _listed(flask.stdout) == sorted(COMMANDS)


def test_flask_marketplace_runs_a_command_as_python_m_marketplace_does(settings):
    """Flask hands the group its ScriptInfo as the context object; the commands still get their
    AppContext, built from the same MARKETPLACE_* settings `python -m marketplace` reads."""
    from web import create_app

    key = "5e" * 32
    env = {
        "MARKETPLACE_INSTANCE_DIR": str(settings.instance_dir),
        "MARKETPLACE_DATABASE_URL": settings.database_url,
        "MARKETPLACE_SECRET_KEY": key,
    }
    result = (
        create_app(settings.with_overrides(secret_key=key))
        .test_cli_runner()
        .invoke(args=["marketplace", "stats", "--json"], env=env)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["demands"] == 0


def test_a_commands_help_imports_no_other_command_module(tmp_path):
    """In one fresh process, each `NAME --help` in turn may add its own module and no other."""
    script = f"""
import json, sys
from marketplace.cli import COMMANDS, cli
modules = {COMMAND_MODULES!r}
steps = []
for name, target in COMMANDS.items():
    before = {{m for m in modules if m in sys.modules}}
    cli.main([name, "--help"], prog_name="marketplace", standalone_mode=False)
    steps.append([name, target.partition(":")[0], sorted({{m for m in modules if m in sys.modules}} - before)])
print(json.dumps(steps))
"""
    done = _run([sys.executable, "-c", script], tmp_path)
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    assert steps[0][2] == [steps[0][1]]  # the first group's help imports exactly its own module
    for name, own, added in steps:
        assert set(added) <= {own}, f"`{name} --help` imported {added}"


def test_no_command_module_imports_another_or_the_cli_root():
    """Imports inside functions count: a command module reaches the others only through the registry."""
    for module in COMMAND_MODULES:
        tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & ({"marketplace.cli", *COMMAND_MODULES} - {module}), module
