"""The CLI end to end against a temporary database: output, --json, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_help_lists_the_commands(runner):
    out = runner.invoke(["--help"]).output
    for command in ("import", "stats", "firms", "demands", "match", "suggest", "graph", "neo4j"):
        assert command in out


def test_import_then_stats_json_has_the_counts(runner):
    report = _json(runner.invoke(["import", "chainkg", str(FIXTURES / "chainkg"), "--json"]))
    assert report["added"]["firms"] == 34
    _json(runner.invoke(["import", "ickg", str(FIXTURES / "ickg25"), "--json"]))
    stats = _json(runner.invoke(["stats", "--json"]))
    for key in ("firms", "products", "industries", "patents", "demands", "suggestions"):
        assert isinstance(stats[key], int)
    assert stats["firms"] > 34 and stats["patents"] > 0 and stats["demands"] == 0


def test_import_of_corrupt_file_exits_2_with_file_and_line(runner, fixture_data):
    path = fixture_data / "chainkg" / "products.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + "not json\n", encoding="utf-8")
    result = runner.invoke(["import", "chainkg", str(fixture_data / "chainkg")])
    assert result.exit_code == 2
    assert "products.jsonl:" in result.output and "invalid JSON" in result.output
    assert _json(runner.invoke(["stats", "--json"]))["firms"] == 0


def test_import_skip_bad_lists_skipped_rows(runner, fixture_data):
    path = fixture_data / "chainkg" / "products.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + "not json\n", encoding="utf-8")
    report = _json(runner.invoke(["import", "chainkg", str(fixture_data / "chainkg"), "--skip-bad", "--json"]))
    assert len(report["skipped"]) == 1 and "products.jsonl" in report["skipped"][0]


def test_firms_search_and_show(loaded, runner):
    rows = _json(runner.invoke(["firms", "search", "星源", "--json"]))
    assert rows[0]["stock_code"] == "300568"
    detail = _json(runner.invoke(["firms", "show", str(rows[0]["firm_id"]), "--json"]))
    assert detail["name"] == "深圳市星源材质科技股份有限公司"
    assert any(p["name"] for p in detail["products"]) and detail["fact_sources"]["kind"] == "chainkg:listed-company"
    human = runner.invoke(["firms", "show", str(rows[0]["firm_id"])]).output
    assert "星源材质" in human and "产品" in human


def test_firms_show_unknown_id_exits_2(runner):
    result = runner.invoke(["firms", "show", "99999"])
    assert result.exit_code == 2 and "firm 99999 does not exist" in result.output


def _owner(runner) -> int:
    return _json(runner.invoke(["firms", "search", "星源", "--json"]))[0]["firm_id"]


def test_demand_create_from_flags_list_show_close(loaded, runner):
    owner = _owner(runner)
    created = _json(
        runner.invoke(
            [
                "demands",
                "create",
                "--owner",
                str(owner),
                "--type",
                "supply_chain",
                "--title",
                "采购隔膜基膜",
                "--products",
                "隔膜,基膜",
                "--budget-min",
                "10",
                "--budget-max",
                "50",
                "--publish",
                "--json",
            ]
        )
    )
    assert created["status"] == "open" and created["wanted_products"] == ["隔膜", "基膜"]
    listed = _json(runner.invoke(["demands", "list", "--status", "open", "--json"]))
    assert [d["demand_id"] for d in listed] == [created["demand_id"]]
    shown = _json(runner.invoke(["demands", "show", str(created["demand_id"]), "--json"]))
    assert shown["title"] == "采购隔膜基膜"
    closed = _json(runner.invoke(["demands", "close", str(created["demand_id"]), "--json"]))
    assert closed["status"] == "closed"
    again = runner.invoke(["demands", "close", str(created["demand_id"])])
    assert again.exit_code == 2 and "closed to closed" in again.output


def test_demand_create_from_yaml_file(loaded, runner, tmp_path):
    spec = tmp_path / "demand.yaml"
    spec.write_text(
        f"owner_firm_id: {_owner(runner)}\ntype: 技术研发\ntitle: 固态电解质联合研发\n"
        "wanted_technologies: [固态电解质]\ndetails: {{ip_terms: 共享}}\n".replace("{{", "{").replace("}}", "}"),
        encoding="utf-8",
    )
    created = _json(runner.invoke(["demands", "create", "--file", str(spec), "--json"]))
    assert created["type"] == "rd" and created["status"] == "draft" and created["details"] == {"ip_terms": "共享"}


def test_demand_validation_names_the_bad_field(loaded, runner, tmp_path):
    owner = str(_owner(runner))
    bad_type = runner.invoke(["demands", "create", "--owner", owner, "--type", "buy", "--title", "采购"])
    assert bad_type.exit_code == 2 and "type: unknown value 'buy'" in bad_type.output
    no_title = runner.invoke(["demands", "create", "--owner", owner, "--type", "rd"])
    assert no_title.exit_code == 2 and "title" in no_title.output
    budget = runner.invoke(
        [
            "demands",
            "create",
            "--owner",
            owner,
            "--type",
            "rd",
            "--title",
            "研发",
            "--budget-min",
            "9",
            "--budget-max",
            "1",
        ]
    )
    assert budget.exit_code == 2 and "budget_min: larger than budget_max" in budget.output
    past = runner.invoke(
        ["demands", "create", "--owner", owner, "--type", "rd", "--title", "研发", "--deadline", "2001-01-01"]
    )
    assert past.exit_code == 2 and "deadline" in past.output
    no_owner = runner.invoke(["demands", "create", "--owner", "424242", "--type", "rd", "--title", "研发"])
    assert no_owner.exit_code == 2 and "owner_firm_id" in no_owner.output
    junk = tmp_path / "junk.json"
    junk.write_text('{"owner_firm_id": 1, "type": "rd", "title": "x", "colour": "red"}', encoding="utf-8")
    extra = runner.invoke(["demands", "create", "--file", str(junk)])
    assert extra.exit_code == 2 and "colour" in extra.output
    assert _json(runner.invoke(["stats", "--json"]))["demands"] == 0


def test_unknown_command_is_usage_error(runner):
    from click.testing import CliRunner

    from marketplace.cli import cli

    assert CliRunner().invoke(cli, ["frobnicate"]).exit_code == 2


def test_serve_hands_the_app_to_waitress_at_once_with_16_threads_and_freezes_the_engine_once_loaded(
    loaded, runner, monkeypatch
):
    """The engine loads in the background (held here by a gate until waitress has the app), then
    everything built is kept out of the cyclic garbage collector."""
    import gc
    import threading

    import waitress

    import web.matching_engine

    gate = threading.Event()
    real_load = web.matching_engine.load_engine_from_database

    def gated_load(app):  # noqa: ANN001, ANN202 - the real load, once waitress has the app
        assert gate.wait(timeout=60)
        return real_load(app)

    served = {}

    def hand_over(app, **options):  # waitress would block here serving; the test stops at the hand-over
        served.update(options, app=app, state=web.matching_engine.engine_status(app)["engine"])

    monkeypatch.setattr(web.matching_engine, "load_engine_from_database", gated_load)
    monkeypatch.setattr(waitress, "serve", hand_over)
    try:
        result = runner.invoke(["serve", "--port", "5999"])
        assert result.exit_code == 0, result.output
        assert served["threads"] == 16 and served["port"] == 5999
        assert served["state"] == "loading" and "the matching engine is loading in the background" in result.output
        gate.set()
        loader = served["app"].extensions["engine_loader"]
        assert loader.wait(timeout=120) and loader.state == "ready"
        engine = served["app"].extensions["engine"]
        assert gc.get_freeze_count() > 0
        assert not any(o is engine.profiles for o in gc.get_objects())  # frozen: not scanned
    finally:
        gate.set()
        gc.unfreeze()


# --- ids beyond what the databases store and bad environment values: exit 2 with a message, never a traceback ------

HUGE = "99999999999999999999"  # more than a 64-bit integer column holds


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        (["users", "decide", HUGE, "approve"], "'USER_ID'"),
        (["firms", "show", HUGE], "'FIRM_ID'"),
        (["demands", "show", HUGE], "'DEMAND_ID'"),
        (["demands", "close", HUGE], "'DEMAND_ID'"),
        (["events", "show", HUGE], "'EVENT_ID'"),
        (["events", "invite", "1", "2", HUGE], "'FIRM_IDS...'"),
        (["policies", "publish", HUGE], "'POLICY_ID'"),
        (["demands", "list", "--owner", HUGE], "'--owner'"),
        (["suggest", "--firm", HUGE, "--json"], "'--firm'"),
        (["firms", "show", "--", "-" + HUGE], "'FIRM_ID'"),
    ],
)
def test_an_id_beyond_64_bits_exits_2_naming_the_argument(runner, args, argument):
    result = runner.invoke(args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"Invalid value for {argument}" in result.output and "is out of range" in result.output


def test_an_id_beyond_64_bits_inside_a_text_argument_exits_2_without_a_traceback(runner):
    result = runner.invoke(["users", "invite-organizer", HUGE])  # read as a name: no such organization
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"organization: no organization '{HUGE}'" in result.output


def test_the_largest_id_the_databases_store_is_looked_up_like_any_other(runner):
    result = runner.invoke(["firms", "show", str(2**31 - 1)])
    assert result.exit_code == 2 and "does not exist" in result.output
    beyond = runner.invoke(["firms", "show", str(2**31)])  # PostgreSQL's INTEGER ends here; SQLite's later
    assert beyond.exit_code == 2 and "is out of range" in beyond.output


@pytest.mark.parametrize(
    ("variable", "value", "accepts"),
    [
        ("MARKETPLACE_SMTP_PORT", "abc", "a TCP port number from 1 to 65535"),
        ("MARKETPLACE_SMTP_PORT", "70000", "a TCP port number from 1 to 65535"),
        ("MARKETPLACE_MATCH_SLOTS", "x", "a whole number"),
        ("MARKETPLACE_DENSE_WEIGHT", "abc", "a number of 0 or more"),
        ("MARKETPLACE_DENSE_WEIGHT", "nan", "a number of 0 or more"),
    ],
)
def test_a_bad_environment_value_exits_2_naming_the_variable_and_what_it_accepts(tmp_path, variable, value, accepts):
    from marketplace.cli import cli

    env = {"MARKETPLACE_INSTANCE_DIR": str(tmp_path), variable: value}
    for args in (["stats"], ["notifications", "deliver"]):
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
        assert f"{variable}={value!r} is not valid" in result.output and accepts in result.output


def test_an_instance_dir_that_cannot_be_created_exits_2_naming_the_variable(tmp_path):
    from marketplace.cli import cli

    (tmp_path / "a-file").write_text("", encoding="utf-8")
    env = {"MARKETPLACE_INSTANCE_DIR": str(tmp_path / "a-file" / "instance")}
    result = CliRunner().invoke(cli, ["stats"], env=env, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "MARKETPLACE_INSTANCE_DIR=" in result.output and "a directory that exists or can be created" in result.output


def test_python_m_marketplace_with_a_bad_environment_value_prints_no_traceback(tmp_path):
    env = {**os.environ, "MARKETPLACE_INSTANCE_DIR": str(tmp_path), "MARKETPLACE_SMTP_PORT": "abc"}
    done = subprocess.run(
        [sys.executable, "-m", "marketplace", "stats"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "MARKETPLACE_SMTP_PORT='abc' is not valid: expected a TCP port number from 1 to 65535" in done.stderr


def test_the_web_app_refuses_to_start_with_the_same_message(tmp_path, monkeypatch):
    from marketplace.config import ConfigError
    from web import create_app

    monkeypatch.setenv("MARKETPLACE_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("MARKETPLACE_MATCH_SLOTS", "x")
    with pytest.raises(ConfigError, match="MARKETPLACE_MATCH_SLOTS='x' is not valid: expected a whole number"):
        create_app()


def test_match_refuses_a_region_that_names_no_province(runner, loaded):
    result = runner.invoke(
        ["match", "--text", "锂电池隔膜", "--type", "rd", "--channels", "lexical", "--region", "火星"]
    )
    assert result.exit_code == 2 and "--region: " in result.output and "no matching firms" not in result.output
