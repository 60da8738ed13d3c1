"""The contracts CLI (verify, audit verify, export) and atomic signing under kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from marketplace.contracts import audit, pki, signing
from marketplace.db import session_scope
from marketplace.models import Contract, ContractAuditEntry, ContractSignature
from tests.contracts_helpers import make_deal, to_signed, to_signing

REPO = Path(__file__).resolve().parent.parent


def _signed(settings) -> int:
    with session_scope(settings) as s:
        return to_signed(s, settings, make_deal(s, settings)).id


def test_verify_command_passes_a_signed_export_and_fails_a_tampered_one(settings, runner, tmp_path):
    contract_id = _signed(settings)
    result = runner.invoke(["contracts", "export", str(contract_id), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    files = json.loads(result.output)
    assert {"contract", "certificate", "audit", "root", "issuing", "crl"} <= set(files)
    ok = runner.invoke(["contracts", "verify", files["contract"], "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    data = bytearray(Path(files["contract"]).read_bytes())
    data[5000] ^= 0x20
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    failed = runner.invoke(["contracts", "verify", str(bad)])
    assert failed.exit_code == 1
    assert "INVALID" in failed.output
    audit = json.loads(Path(files["audit"]).read_text(encoding="utf-8"))
    assert audit["check"]["ok"] and [e["action"] for e in audit["entries"]][0] == "create"


def test_verify_command_names_a_missing_file(runner, tmp_path):
    result = runner.invoke(["contracts", "verify", str(tmp_path / "nope.pdf")])
    assert result.exit_code == 2
    assert "FILE" in result.output


def test_audit_verify_command_detects_tampering(settings, runner):
    contract_id = _signed(settings)
    assert runner.invoke(["contracts", "audit", "verify", str(contract_id)]).exit_code == 0
    with session_scope(settings) as s:
        entry = s.scalar(select(ContractAuditEntry).where(ContractAuditEntry.seq == 3))
        entry.actor = "someone else"
    result = runner.invoke(["contracts", "audit", "verify", str(contract_id), "--json"])
    assert result.exit_code == 1
    assert any("changed" in p for p in json.loads(result.output)["problems"])


def test_audit_verify_of_unknown_contract_is_bad_input(runner):
    assert runner.invoke(["contracts", "audit", "verify", "999"]).exit_code == 2


def test_pyhanko_cli_validates_an_exported_contract_offline_with_only_the_root(settings, runner, tmp_path):
    """pyHanko's own AdES (B-LTA) validation: trust only the exported root; chain, CRLs and
    timestamps come from the PDF itself."""
    contract_id = _signed(settings)
    files = json.loads(
        runner.invoke(["contracts", "export", str(contract_id), "--out", str(tmp_path), "--json"]).output
    )
    cmd = [
        sys.executable,
        "-m",
        "pyhanko",
        "sign",
        "adesverify",
        "--executive-summary",
        "--trust",
        files["root"],
        "--trust-replace",
        files["contract"],
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 2 and all(line.endswith(":VALID") for line in lines)
    other = runner.invoke(["contracts", "export", str(contract_id), "--out", str(tmp_path / "x"), "--json"])
    assert other.exit_code == 0
    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(pki.pem(pki.create_ca("http://x/crl").root.cert))
    cmd[cmd.index(files["root"])] = str(foreign)
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=180).returncode != 0


SIGNER = """
import sys
from marketplace.config import Settings
from marketplace.db import session_scope
from marketplace.models import Contract, User
from marketplace.contracts import audit, pki, signing
settings = Settings(instance_dir=sys.argv[1], database_url=sys.argv[2], secret_key="test-secret")
with session_scope(settings) as s:
    contract = s.get(Contract, int(sys.argv[3]))
    user = s.get(User, int(sys.argv[4]))
    print("signing", flush=True)
    signing.sign(s, settings, user, contract, signing_password=sys.argv[5])
print("committed", flush=True)
"""


def test_kill_9_during_signing_leaves_unsigned_or_signed_never_half(settings):
    from tests.contracts_helpers import SIGNING_PASSWORD

    with session_scope(settings) as s:
        deal = make_deal(s, settings)
        contract_id = to_signing(s, settings, deal).id
        buyer_id = deal.users["buyer"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    outcomes = []
    for delay in (0.05, 0.3, 0.6, 5.0):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SIGNER,
                str(settings.instance_dir),
                settings.database_url,
                str(contract_id),
                str(buyer_id),
                SIGNING_PASSWORD,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        assert proc.stdout.readline().strip() == "signing"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with session_scope(settings) as s:
            contract = s.get(Contract, contract_id)
            n = s.scalar(select(func.count()).select_from(ContractSignature))
            assert audit.verify_audit(s, contract_id).ok
            if n == 0:
                assert contract.signed_pdf is None
                outcomes.append("unsigned")
            else:
                assert n == 1 and contract.signed_pdf is not None
                assert signing.verify_document(s, settings, contract.signed_pdf).ok
                outcomes.append("signed")
                break
    assert outcomes[0] == "unsigned"  # killed 50 ms into signing: nothing stored


def test_revoke_key_command_puts_the_certificate_on_the_crl(settings, runner):
    contract_id = _signed(settings)
    result = runner.invoke(["contracts", "revoke-key", "sme@t.cn", "--json"])
    assert result.exit_code == 0, result.output
    serial = json.loads(result.output)["serial"]
    with session_scope(settings) as s:
        assert int(serial, 16) in {r.serial_number for r in signing.current_crl(s, settings)}
        assert not signing.verify_document(s, settings, s.get(Contract, contract_id).signed_pdf).ok
    assert runner.invoke(["contracts", "revoke-key", "nobody@t.cn"]).exit_code == 2
