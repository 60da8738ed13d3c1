"""The platform CA keys on the path users take: ``make run`` (CLI ``init-db``, ``demo load``,
``demo accounts``, then ``serve`` with its persisted secret key) signs and verifies contracts;
the keys' protection is the same in every process and never a value from the source; instances
made by earlier versions are re-keyed by ``contracts pki rekey``; ``serve`` refuses to start with
keys it cannot open, naming the setting.

Each command runs as ``python -m marketplace`` runs it: settings from the environment (only the
instance directory and the data set are given), and the platform CA loaded afresh, as in a process
of its own. ``serve`` runs up to the point where it listens; only the matching engine is not
loaded (signing does not use it, and loading it would take a minute).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import threading
from pathlib import Path

import pytest
from asn1crypto import algos, tsp
from click.testing import CliRunner
from cryptography import x509

from marketplace.cli import cli
from marketplace.config import Settings
from marketplace.contracts import keys, pki
from marketplace.contracts.demo import DEMO_SIGNING_PASSWORD
from tests.conftest import FIXTURES
from tests.web.conftest import csrf_token

LOGIN_PASSWORD = "chainmatch-demo"
# what earlier versions encrypted the CA keys under in CLI commands (demo load): derived from the
# development secret key in the source
LEGACY_DEV_PASSPHRASE = hashlib.sha256(b"chainmatch-ca:dev-only-change-me").hexdigest()


def instance_env(root: Path, **settings: str) -> dict[str, str | None]:
    """The environment of a fresh clone's ``make run``: no MARKETPLACE_* variable but the instance
    directory, the data set (the test fixtures) and the font cache, plus ``settings``."""
    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("MARKETPLACE_")}
    env.update(
        MARKETPLACE_INSTANCE_DIR=str(root),
        MARKETPLACE_DATA_DIR=str(FIXTURES),
        MARKETPLACE_CONTRACTS_FONT_CACHE=str(root / "fonts"),
    )
    env.update(settings)
    return env


def run(env: dict[str, str | None], *args: str):  # noqa: ANN201 - click Result
    """``python -m marketplace ARGS`` in a process of its own (nothing loaded before)."""

    pki._CACHE.clear()
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def serve(env: dict[str, str | None], monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """``python -m marketplace serve``: its result and the app it would listen with (None when it
    refused to start)."""
    import waitress

    import web.matching_engine

    served = {}
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served.setdefault("app", app))
    monkeypatch.setattr(web.matching_engine, "start_engine_loading", lambda app, load=None: None)  # no matching here
    result = run(env, "serve", "--port", "5999")
    return result, served.get("app")


def sign_in(client, email: str) -> str:  # noqa: ANN001
    """Sign in through the login form (CSRF on, as served); returns a CSRF token for the session."""
    client.post("/auth/logout")
    page = client.get("/auth/login").get_data(as_text=True)
    r = client.post("/auth/login", data={"email": email, "password": LOGIN_PASSWORD, "csrf_token": csrf_token(page)})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return csrf_token(client.get("/contracts/signing-key").get_data(as_text=True))


@pytest.fixture(scope="module")
def made_by_make_run(tmp_path_factory) -> dict:
    """An instance made as ``make run`` makes it, by the CLI: init-db, demo load, demo accounts."""
    root = tmp_path_factory.mktemp("make-run") / "instance"
    env = instance_env(root)
    assert run(env, "init-db").exit_code == 0
    loaded = run(env, "demo", "load", "--json")
    assert loaded.exit_code == 0, loaded.output
    accounts = run(env, "demo", "accounts", "--json")
    assert accounts.exit_code == 0, accounts.output
    return {
        "root": root,
        "env": env,
        "contracts": json.loads(loaded.output.strip().splitlines()[-1])["demo_contracts"],
        "accounts": json.loads(accounts.output.strip().splitlines()[-1]),
    }


def test_after_make_run_the_served_app_publishes_the_ca_and_verifies_the_demo_contract(made_by_make_run, monkeypatch):
    instance = made_by_make_run
    result, app = serve(instance["env"], monkeypatch)
    assert result.exit_code == 0, result.output
    # serve runs with the random key kept in the instance, the one every CLI command read too
    persisted = (instance["root"] / "secret_key").read_text(encoding="utf-8").strip()
    assert app.config["SECRET_KEY"] == persisted and len(persisted) >= 32 and not app.testing
    client = app.test_client()

    root = client.get("/contracts/pki/root.pem")
    assert root.status_code == 200 and root.data == (instance["root"] / "contracts" / "ca" / "root.pem").read_bytes()
    issuing = client.get("/contracts/pki/issuing.pem")
    assert issuing.status_code == 200 and b"BEGIN CERTIFICATE" in issuing.data
    crl = client.get("/contracts/pki/crl")
    assert crl.status_code == 200 and crl.mimetype == "application/pkix-crl"
    issuer = x509.load_pem_x509_certificate(issuing.data).subject
    assert x509.load_der_x509_crl(crl.data).issuer == issuer
    assert client.get("/contracts/pki/crl/root").status_code == 200

    page = client.get("/contracts/verify")
    assert page.status_code == 200 and 'id="verify-form"' in page.get_data(as_text=True)
    signed = client.get("/contracts/verify/" + _token(instance, instance["contracts"]["signed"]))
    text = signed.get_data(as_text=True)
    assert signed.status_code == 200 and "验证通过" in text and "验证未通过" not in text

    digest = hashlib.sha256(b"contract").digest()
    query = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": digest,
            },
            "cert_req": True,
        }
    )
    stamped = client.post("/tsa", data=query.dump(), content_type="application/timestamp-query")
    assert stamped.status_code == 200 and tsp.TimeStampResp.load(stamped.data)["status"]["status"].native == "granted"


def test_after_make_run_the_demo_signers_sign_in_the_served_app_and_the_pdf_verifies(made_by_make_run, monkeypatch):
    instance = made_by_make_run
    signers = [row for row in instance["accounts"] if row["contract_role"] == "signer"]
    assert {row["email"] for row in signers} == {"large@demo.chainmatch.cn", "sme@demo.chainmatch.cn"}
    password = signers[0]["signing_password"]  # what `demo accounts` tells the user
    _result, app = serve(instance["env"], monkeypatch)
    client = app.test_client()
    cid = instance["contracts"]["negotiating"]  # the large firm countered last: the SME accepts

    token = sign_in(client, "sme@demo.chainmatch.cn")
    assert client.post(f"/contracts/{cid}/accept", data={"csrf_token": token}).status_code == 302
    for who in ("large@demo.chainmatch.cn", "sme@demo.chainmatch.cn"):
        token = sign_in(client, who)
        r = client.post(f"/contracts/{cid}/approve", data={"decision": "approve", "csrf_token": token})
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
    for who in ("large@demo.chainmatch.cn", "sme@demo.chainmatch.cn"):  # the buyer signs first
        token = sign_in(client, who)
        assert 'id="sign-form"' in client.get(f"/contracts/{cid}/sign").get_data(as_text=True)
        r = client.post(
            f"/contracts/{cid}/sign", data={"signing_password": password, "request_key": who, "csrf_token": token}
        )
        assert r.status_code == 302, r.get_data(as_text=True)[:2000]
        assert "签署成功" in client.get(r.headers["Location"]).get_data(as_text=True)
    pdf = client.get(f"/contracts/{cid}/contract.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    client.post("/auth/logout")
    token = csrf_token(client.get("/contracts/verify").get_data(as_text=True))
    upload = {"file": (io.BytesIO(pdf.data), "contract.pdf"), "csrf_token": token}
    page = client.post("/contracts/verify", data=upload, content_type="multipart/form-data")
    assert page.status_code == 200 and "验证通过" in page.get_data(as_text=True)
    api = client.post("/api/v1/contracts/verify", json={"pdf_base64": base64.b64encode(pdf.data).decode()})
    assert api.status_code == 200 and api.json["ok"] is True

    # a signer who sets a new signing password gets a new certificate, from the same CA
    token = sign_in(client, "sme@demo.chainmatch.cn")
    new = {"signing_password": "my-own-sign-pw", "confirm": "my-own-sign-pw", "csrf_token": token}
    r = client.post("/contracts/signing-key", data=new)
    assert r.status_code == 200 and "签署证书已签发" in r.get_data(as_text=True)


def test_the_ca_keys_are_protected_by_the_instances_own_passphrase_not_by_a_value_in_the_source(made_by_make_run):
    root = made_by_make_run["root"]
    passphrase_file = root / "contracts_ca_key"
    assert passphrase_file.stat().st_mode & 0o077 == 0 and (root / "secret_key").stat().st_mode & 0o077 == 0
    passphrase = passphrase_file.read_text(encoding="utf-8").strip().encode()
    for name in pki.CA_FILES:
        key = root / "contracts" / "ca" / f"{name}.key.pem"
        assert key.stat().st_mode & 0o077 == 0
        pki.load_key(key, passphrase)
        for guess in (LEGACY_DEV_PASSPHRASE.encode(), b"dev-only-change-me", b""):
            with pytest.raises((ValueError, TypeError)):
                pki.load_key(key, guess)


def test_demo_accounts_print_the_approvers_signers_and_the_demo_signing_password(made_by_make_run):
    human = run(made_by_make_run["env"], "demo", "accounts")
    assert human.exit_code == 0, human.output
    lines = human.output.splitlines()
    assert "登录密码 / password: chainmatch-demo" in lines[0]
    assert any("large-legal@demo.chainmatch.cn" in line and "审批人 / approver" in line for line in lines)
    assert any("sme-finance@demo.chainmatch.cn" in line and "审批人 / approver" in line for line in lines)
    assert any("large@demo.chainmatch.cn" in line and "签署人 / signer" in line for line in lines)
    assert f"签署密码 / signing password: {DEMO_SIGNING_PASSWORD}" in human.output

    rows = made_by_make_run["accounts"]  # --json: the same list of accounts, each with two more keys
    assert [r["email"] for r in rows[:4]] == [
        "large@demo.chainmatch.cn",
        "sme@demo.chainmatch.cn",
        "organizer@demo.chainmatch.cn",
        "admin@demo.chainmatch.cn",
    ]
    assert all({"email", "role", "belongs_to", "contract_role", "signing_password"} == set(r) for r in rows)
    by_email = {r["email"]: r for r in rows}
    assert by_email["large-legal@demo.chainmatch.cn"]["contract_role"] == "approver"
    assert by_email["sme-finance@demo.chainmatch.cn"]["belongs_to"] == by_email["sme@demo.chainmatch.cn"]["belongs_to"]
    assert by_email["sme@demo.chainmatch.cn"]["signing_password"] == DEMO_SIGNING_PASSWORD
    assert by_email["admin@demo.chainmatch.cn"]["contract_role"] is None


def test_demo_accounts_enrol_the_signers_and_say_when_one_chose_their_own_signing_password(loaded, runner):
    from sqlalchemy import select

    from marketplace.contracts import signing
    from marketplace.db import session_scope
    from marketplace.models import User

    first = runner.invoke(["demo", "accounts", "--json"])  # no demo load: the signers get their key here
    assert first.exit_code == 0, first.output
    rows = {r["email"]: r for r in json.loads(first.output.strip().splitlines()[-1])}
    assert rows["sme@demo.chainmatch.cn"]["signing_password"] == DEMO_SIGNING_PASSWORD
    with session_scope(loaded) as s:
        sme = s.scalar(select(User).where(User.email == "sme@demo.chainmatch.cn"))
        signing.enroll(s, loaded, sme, "my-own-sign-pw")
    again = runner.invoke(["demo", "accounts"])
    assert "sme@demo.chainmatch.cn: 已自行设置签署密码 / chose their own signing password" in again.output
    assert f"签署密码 / signing password: {DEMO_SIGNING_PASSWORD} (large@demo.chainmatch.cn)" in again.output


def _token(instance: dict, contract_id: int) -> str:
    from marketplace.db import session_scope
    from marketplace.models import Contract

    with session_scope(Settings.from_env({"MARKETPLACE_INSTANCE_DIR": str(instance["root"])})) as s:
        return s.get(Contract, contract_id).token


# --- instances made by earlier versions ------------------------------------------------------


def test_rekey_moves_an_instance_made_by_the_old_code_to_its_own_passphrase(tmp_path, monkeypatch):
    root = tmp_path / "instance"
    # earlier versions: `demo load` encrypted the CA keys under the development-key passphrase
    old = instance_env(root, MARKETPLACE_CONTRACTS_CA_KEY=LEGACY_DEV_PASSPHRASE)
    assert run(old, "init-db").exit_code == 0
    loaded = run(old, "demo", "load", "--json")
    signed_id = json.loads(loaded.output.strip().splitlines()[-1])["demo_contracts"]["signed"]
    root_pem = (root / "contracts" / "ca" / "root.pem").read_bytes()
    env = instance_env(root)

    refused, app = serve(env, monkeypatch)
    assert refused.exit_code == 2 and app is None
    assert "python -m marketplace contracts pki rekey" in refused.output and "Traceback" not in refused.output

    rekeyed = run(env, "contracts", "pki", "rekey", "--json")
    assert rekeyed.exit_code == 0, rekeyed.output
    report = json.loads(rekeyed.output)
    assert report["status"] == "rekeyed" and report["protected_by"] == str(root / "contracts_ca_key")
    assert report["opened_with"] == {name: "the development secret key" for name in pki.CA_FILES}
    passphrase = (root / "contracts_ca_key").read_text(encoding="utf-8").strip().encode()
    assert (root / "contracts_ca_key").stat().st_mode & 0o077 == 0
    for name in pki.CA_FILES:
        key = root / "contracts" / "ca" / f"{name}.key.pem"
        pki.load_key(key, passphrase)
        assert key.stat().st_mode & 0o077 == 0
        with pytest.raises(ValueError):
            pki.load_key(key, LEGACY_DEV_PASSPHRASE.encode())
    again = run(env, "contracts", "pki", "rekey")
    assert again.exit_code == 0 and "already current" in again.output

    served, app = serve(env, monkeypatch)  # the same CA: what was signed before still verifies
    assert served.exit_code == 0, served.output
    client = app.test_client()
    assert client.get("/contracts/pki/root.pem").data == root_pem
    page = client.get("/contracts/verify/" + _token({"root": root}, signed_id)).get_data(as_text=True)
    assert "验证通过" in page and "验证未通过" not in page


def test_rekey_opens_keys_made_by_serve_under_its_persisted_secret_key(tmp_path):
    root = tmp_path / "instance"
    secret = "b" * 64
    root.mkdir()
    (root / "secret_key").write_text(secret, encoding="utf-8")
    old_passphrase = hashlib.sha256(f"chainmatch-ca:{secret}".encode()).hexdigest().encode()
    pki.save_ca(pki.create_ca("http://127.0.0.1:5000/contracts/pki/crl"), root / "contracts" / "ca", old_passphrase)
    result = run(instance_env(root), "contracts", "pki", "rekey", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["opened_with"]["root"] == str(root / "secret_key")
    passphrase = (root / "contracts_ca_key").read_text(encoding="utf-8").strip().encode()
    pki.load_key(root / "contracts" / "ca" / "tsa.key.pem", passphrase)


def test_rekey_of_keys_no_known_passphrase_opens_fails_and_changes_nothing(tmp_path):
    root = tmp_path / "instance"
    root.mkdir()
    pki.save_ca(pki.create_ca("http://127.0.0.1:5000/contracts/pki/crl"), root / "contracts" / "ca", b"forgotten")
    before = (root / "contracts" / "ca" / "root.key.pem").read_bytes()
    env = instance_env(root)
    failed = run(env, "contracts", "pki", "rekey")
    assert failed.exit_code == 1 and "--old-key-file" in failed.output and "root.key.pem" in failed.output
    assert (root / "contracts" / "ca" / "root.key.pem").read_bytes() == before
    assert not (root / "contracts_ca_key").exists()

    missing = run(env, "contracts", "pki", "rekey", "--old-key-file", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "--old-key-file" in missing.output

    # changing MARKETPLACE_CONTRACTS_CA_KEY: the old passphrase comes from a file, never the command line
    (tmp_path / "old").write_text("forgotten\n", encoding="utf-8")
    new = instance_env(root, MARKETPLACE_CONTRACTS_CA_KEY="the-new-ca-passphrase")
    moved = run(new, "contracts", "pki", "rekey", "--old-key-file", str(tmp_path / "old"), "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["protected_by"] == "MARKETPLACE_CONTRACTS_CA_KEY"
    pki.load_key(root / "contracts" / "ca" / "issuing.key.pem", b"the-new-ca-passphrase")
    assert "the-new-ca-passphrase" not in moved.output


def test_rekey_help_says_what_it_does_and_its_exit_codes():
    result = CliRunner().invoke(cli, ["contracts", "pki", "rekey", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "MARKETPLACE_CONTRACTS_CA_KEY" in text and "contracts_ca_key" in text and "Exit code 0" in text
    assert CliRunner().invoke(cli, ["contracts", "pki", "rekey", "--bogus"]).exit_code == 2


# --- keys that cannot be opened ----------------------------------------------------------------


def test_serve_refuses_to_start_with_a_wrong_ca_key_naming_the_setting(tmp_path, monkeypatch):
    root = tmp_path / "instance"
    root.mkdir()
    pki.save_ca(pki.create_ca("http://x/crl"), root / "contracts" / "ca", b"the-right-passphrase")

    result, app = serve(instance_env(root, MARKETPLACE_CONTRACTS_CA_KEY="a-wrong-passphrase"), monkeypatch)
    assert result.exit_code == 2 and app is None
    assert "MARKETPLACE_CONTRACTS_CA_KEY does not open the platform CA keys" in result.output
    assert "a-wrong-passphrase" not in result.output and "Traceback" not in result.output

    # no setting and no passphrase file: the message names both
    result, app = serve(instance_env(root), monkeypatch)
    assert result.exit_code == 2 and app is None
    assert str(root / "contracts_ca_key") in result.output and "MARKETPLACE_CONTRACTS_CA_KEY" in result.output
    (root / "contracts_ca_key").write_text("not-the-passphrase\n", encoding="utf-8")
    result, app = serve(instance_env(root), monkeypatch)
    assert result.exit_code == 2 and f"the passphrase in {root / 'contracts_ca_key'} does not open" in result.output

    result, app = serve(instance_env(root, MARKETPLACE_CONTRACTS_CA_KEY="the-right-passphrase"), monkeypatch)
    assert result.exit_code == 0 and app.test_client().get("/contracts/pki/root.pem").status_code == 200


def test_the_app_factory_refuses_ca_keys_it_cannot_open(tmp_path):
    """``waitress-serve --call web:create_app`` and other WSGI servers get the same check."""
    from web import create_app

    settings = Settings(instance_dir=tmp_path, secret_key="s" * 64, contracts_ca_key="right")
    pki.save_ca(pki.create_ca("http://x/crl"), settings.contracts_dir / "ca", b"right")
    pki._CACHE.clear()
    with pytest.raises(keys.CAKeyError, match="MARKETPLACE_CONTRACTS_CA_KEY"):
        create_app(settings.with_overrides(contracts_ca_key="wrong"))
    assert create_app(settings).extensions["settings"] is settings


def test_processes_starting_together_share_one_ca_passphrase(tmp_path):
    settings = Settings(instance_dir=tmp_path)
    barrier = threading.Barrier(8)
    found = []

    def start() -> None:
        barrier.wait()
        found.append(keys.protection(settings).passphrase)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and len(set(found)) == 1 and len(found[0]) >= 32
    assert found[0] == settings.contracts_ca_key_file.read_text(encoding="utf-8").strip().encode()
    assert [p.name for p in tmp_path.iterdir()] == ["contracts_ca_key"]  # no temporary file left behind
