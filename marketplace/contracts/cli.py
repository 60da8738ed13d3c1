"""CLI of contracts (云签约): ``python -m marketplace contracts verify|audit verify|export|list|stats|
revoke-key|pki rekey``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from marketplace.cli_common import AppContext, emit, json_option, pass_app
from marketplace.errors import InputError, NotFoundError, msg


@click.group("contracts")
def contracts_group() -> None:
    """云签约 / contracts: verify signed PDFs, check audit chains, export evidence packages."""


def _contract(session, contract_id: int):  # noqa: ANN001, ANN202
    from marketplace.models import Contract

    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFoundError(f"contract {contract_id} does not exist", field="ID")
    return contract


@contracts_group.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@json_option
@pass_app
def verify_command(app: AppContext, file: Path, as_json: bool) -> None:
    """Verify a signed contract PDF offline: signatures intact, chain to the platform root,
    revocation, timestamps, no change after the last signature, content hash vs. the record.
    Exit code 0 when everything holds, 1 when anything fails."""
    from marketplace.contracts.signing import verify_document

    if not file.is_file():
        raise InputError(f"FILE: {file} is not a file", field="FILE")
    with app.session() as session:
        report = verify_document(session, app.settings, file.read_bytes())
    data = report.as_dict()

    def human(d: dict[str, Any]) -> None:
        click.echo(f"{'通过 / VALID' if d['ok'] else '未通过 / INVALID'}: {file}")
        rec = d["record"]
        if rec:
            click.echo(f"  合同 / contract {rec['number']} {rec['title']} ({rec['status']})")
        for s in d["signatures"]:
            mark = "ok" if s["ok"] else "FAIL"
            who = s["signer"] or "document timestamp"
            click.echo(f"  [{mark}] {s['field']}: {who}  timestamp={s['timestamp']}  modification={s['modification']}")
        for p in d["problems"]:
            click.echo(f"  ! {p}")

    emit(data, as_json, human)
    sys.exit(0 if report.ok else 1)


@contracts_group.group("audit")
def audit_group() -> None:
    """The hash-chained audit log of a contract."""


@audit_group.command("verify")
@click.argument("contract_id", metavar="ID", type=int)
@json_option
@pass_app
def audit_verify_command(app: AppContext, contract_id: int, as_json: bool) -> None:
    """Recompute the audit chain of contract ID; exit 1 on any change, deletion or reordering."""
    from marketplace.contracts.audit import verify_audit

    with app.session() as session:
        _contract(session, contract_id)
        check = verify_audit(session, contract_id)

    def human(d: dict[str, Any]) -> None:
        state = "完整 / intact" if d["ok"] else "已被篡改 / BROKEN"
        click.echo(f"审计链 / audit chain of contract {contract_id}: {state}, {d['entries']} entries, head {d['head']}")
        for p in d["problems"]:
            click.echo(f"  ! {p}")

    emit(check.as_dict(), as_json, human)
    sys.exit(0 if check.ok else 1)


@contracts_group.command("export")
@click.argument("contract_id", metavar="ID", type=int)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Folder to write into.")
@json_option
@pass_app
def export_command(app: AppContext, contract_id: int, out_dir: Path, as_json: bool) -> None:
    """Write the signed PDF, completion certificate, audit log (JSON), CA certificates and CRL."""
    from marketplace.contracts.audit import audit
    from marketplace.contracts.signing import export_contract

    with app.session() as session:
        contract = _contract(session, contract_id)
        files = export_contract(session, app.settings, contract, out_dir)
        audit(session, contract, "export", None, out=str(out_dir))
    emit(files, as_json, lambda d: [click.echo(f"  {k:<12} {v}") for k, v in d.items()])


@contracts_group.command("list")
@click.option("--status", help="negotiating | approving | signing | signed | cancelled")
@json_option
@pass_app
def list_command(app: AppContext, status: str | None, as_json: bool) -> None:
    """All contracts (operator view; users see theirs on the web)."""
    from sqlalchemy import select

    from marketplace.models import Contract, ContractStatus

    with app.session() as session:
        query = select(Contract).order_by(Contract.id)
        if status:
            query = query.where(Contract.status == ContractStatus.parse(status, "status"))
        rows = [
            {
                "id": c.id,
                "number": c.number,
                "status": c.status.value,
                "title": c.title,
                "buyer": c.buyer_firm.name,
                "supplier": c.supplier_firm.name,
                "amount": c.amount,
            }
            for c in session.scalars(query)
        ]
    emit(
        rows, as_json, lambda rs: [click.echo(f"{r['id']:>5} {r['number']} {r['status']:<12} {r['title']}") for r in rs]
    )


@contracts_group.command("stats")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Signed on or after (YYYY-MM-DD).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Signed before (YYYY-MM-DD).")
@json_option
@pass_app
def stats_command(app: AppContext, since, until, as_json: bool) -> None:  # noqa: ANN001
    """Signed contracts and amounts (签约数 / 金额)."""
    from marketplace.contracts.workflow import signed_stats

    with app.session() as session:
        data = signed_stats(session, since=since, until=until)
    emit(data, as_json, lambda d: click.echo(f"签约数 / signed: {d['count']}  金额 / amount: {d['amount']:.2f} 元"))


@contracts_group.command("revoke-key")
@click.argument("email")
@click.option("--reason", default="key compromise", show_default=True)
@json_option
@pass_app
def revoke_key_command(app: AppContext, email: str, reason: str, as_json: bool) -> None:
    """Revoke a user's signing certificate for cause: its serial goes on the CRL at once."""
    from sqlalchemy import select

    from marketplace.contracts.signing import active_credential, revoke
    from marketplace.models import User

    with app.session() as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFoundError(f"EMAIL: no user {email}", field="EMAIL")
        cred = active_credential(session, user.id)
        if cred is None:
            raise InputError(f"EMAIL: {email} has no active signing certificate", field="EMAIL")
        revoke(session, cred, reason)
        data = {"email": user.email, "serial": cred.serial, "reason": reason}
    emit(data, as_json, lambda d: click.echo(f"已吊销 / revoked {d['serial']} of {d['email']} ({d['reason']})"))


@contracts_group.group("pki")
def pki_group() -> None:
    """The platform CA (root, issuing CA, timestamp authority) and how its keys are protected."""


@pki_group.command("rekey")
@click.option(
    "--old-key-file",
    "old_key_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file holding a passphrase the keys may be encrypted under now (e.g. the previous "
    "MARKETPLACE_CONTRACTS_CA_KEY when changing it). Repeatable.",
)
@json_option
@pass_app
def pki_rekey_command(app: AppContext, old_key_files: tuple[Path, ...], as_json: bool) -> None:
    """Encrypt the platform CA and TSA keys under the current protection.

    The current protection is MARKETPLACE_CONTRACTS_CA_KEY when set, else the random passphrase
    in MARKETPLACE_INSTANCE_DIR/contracts_ca_key (created, mode 0600, when missing). The keys are
    opened with it, with each --old-key-file, or with the passphrase that earlier versions derived
    from the secret key (instances made before the CA keys had their own protection). Certificates
    do not change: signed contracts stay valid. Stop the servers first; running it again is safe.

    Exit code 0 when the keys are (now) under the current protection or there is no CA yet, 1 when
    no known passphrase opens a key, 2 for bad usage (an unreadable --old-key-file).
    """
    from marketplace.contracts.keys import rekey

    old = []
    for path in old_key_files:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                msg("--old-key-file: %(file)s cannot be read (%(error)s)", file=str(path), error=str(exc)),
                field="--old-key-file",
            ) from None
        if not text:
            raise InputError(msg("--old-key-file: %(file)s is empty", file=str(path)), field="--old-key-file")
        old.append((str(path), text.encode("utf-8")))
    report = rekey(app.settings, old)

    def human(d: dict[str, Any]) -> None:
        if d["status"] == "absent":
            click.echo(f"尚无平台 CA / no platform CA yet in {d['ca_dir']}: it is made under {d['protected_by']}")
            return
        state = "已重新加密 / re-keyed" if d["status"] == "rekeyed" else "无需更改 / already current"
        click.echo(f"{state}: {d['ca_dir']} → {d['protected_by']}")
        for name, label in d["opened_with"].items():
            click.echo(f"  {name}: opened with {label}")

    emit(report.as_dict(), as_json, human)
