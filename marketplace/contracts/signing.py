"""Signing and verifying contracts: the platform CA and its CRLs (:mod:`~marketplace.contracts.pki`,
:mod:`~marketplace.contracts.keys`), each signer's own key and certificate, the PAdES signature of
each party (:mod:`~marketplace.contracts.pades`, time-stamped by :mod:`~marketplace.contracts.tsa`),
verifying an uploaded PDF against the record, the completion certificate and the export of
everything needed to verify without the platform.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from datetime import UTC
from pathlib import Path

import pyotp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from marketplace.config import Settings
from marketplace.contracts import keys as ca_keys
from marketplace.contracts import pades, pki, render, tsa
from marketplace.contracts.access import acting_firm, authorize
from marketplace.contracts.audit import audit, audit_entries, audit_head, verify_audit
from marketplace.contracts.workflow import ZONE_LABEL, buyer_has_signed, local_time, require_status, verify_url
from marketplace.errors import ConflictError, InputError, MarketplaceError, join, msg
from marketplace.models import (
    Contract,
    ContractRound,
    ContractSignature,
    ContractStatus,
    Party,
    SigningCredential,
    User,
    utcnow,
)

# A credential replaced by a new enrolment stops signing but is not put on the CRL: what it signed
# stays valid. Revocation for cause (lost, compromised) lists it.
SUPERSEDED = "superseded"


# --- platform PKI --------------------------------------------------------------------------


def crl_url(settings: Settings) -> str:
    return f"{settings.site_url()}/contracts/pki/crl"


def platform_ca(settings: Settings) -> pki.PlatformCA:
    """The platform CA, opened the same way in every process (:mod:`marketplace.contracts.keys`);
    a key that cannot be opened is a CAKeyError naming the setting to fix."""
    return ca_keys.load_or_create(settings, crl_url(settings))


def current_crl(session: Session, settings: Settings) -> x509.CertificateRevocationList:
    rows = session.execute(
        select(SigningCredential.serial, SigningCredential.revoked_at).where(
            SigningCredential.revoked_at.is_not(None),
            or_(SigningCredential.revocation_reason.is_(None), SigningCredential.revocation_reason != SUPERSEDED),
        )
    ).all()
    return pki.make_crl(platform_ca(settings), [(int(serial, 16), at) for serial, at in rows])


def current_crls(session: Session, settings: Settings) -> list[x509.CertificateRevocationList]:
    """The issuing CA's CRL (user certificates) and the root's CRL (the issuing CA): both are
    checked at signing, embedded in the PDF (B-LTA) and used when verifying."""
    ca = platform_ca(settings)
    return [current_crl(session, settings), pki.make_crl(ca, [], issuer=ca.root)]


def signing_provider(settings: Settings) -> pades.SigningProvider:
    """The configured provider: ``local`` or ``package.module:ClassName`` (a SigningProvider)."""
    name = settings.contracts_provider or "local"
    if name == "local":
        return pades.LocalPadesProvider()
    module, _, cls = name.partition(":")
    try:
        provider = getattr(importlib.import_module(module), cls)()
    except (ImportError, AttributeError, ValueError) as exc:
        raise MarketplaceError(
            msg("MARKETPLACE_CONTRACTS_PROVIDER=%(name)r cannot be loaded: %(error)s", name=name, error=str(exc))
        ) from exc
    if not isinstance(provider, pades.SigningProvider):
        raise MarketplaceError(msg("MARKETPLACE_CONTRACTS_PROVIDER=%(name)r is not a SigningProvider", name=name))
    return provider


# --- signing credentials -------------------------------------------------------------------


def active_credential(session: Session, user_id: int) -> SigningCredential | None:
    return session.scalar(
        select(SigningCredential)
        .where(SigningCredential.user_id == user_id, SigningCredential.revoked_at.is_(None))
        .order_by(SigningCredential.id.desc())
        .limit(1)
    )


def enroll(
    session: Session, settings: Settings, user: User, signing_password: str, *, totp: bool = False
) -> tuple[SigningCredential, str | None]:
    """Generate the user's key and certificate; the key is stored encrypted under their signing
    password (only they can use it). Any earlier credential is revoked. Returns the credential
    and, with ``totp``, the otpauth:// URI to put into an authenticator app."""
    if acting_firm(user) is None:
        raise InputError(msg("user: only active members of a firm sign contracts"), field="user")
    pki.check_signing_password(signing_password)
    ca = platform_ca(settings)
    key = pki.new_user_key()
    cert = pki.issue_user_cert(ca, key, name=user.name, email=user.email, firm=user.firm.name)
    for old in session.scalars(
        select(SigningCredential).where(SigningCredential.user_id == user.id, SigningCredential.revoked_at.is_(None))
    ):
        old.revoked_at = utcnow()
        old.revocation_reason = SUPERSEDED
    secret = pyotp.random_base32() if totp else None
    cred = SigningCredential(
        user_id=user.id,
        serial=f"{cert.serial_number:x}",
        cert_pem=pki.pem(cert).decode(),
        encrypted_key=pki.encrypt_user_key(key, signing_password),
        totp_secret=secret,
    )
    session.add(cred)
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="ChainMatch") if secret else None
    return cred, uri


def revoke(session: Session, credential: SigningCredential, reason: str = "unspecified") -> None:
    if credential.revoked_at is None:
        credential.revoked_at = utcnow()
        credential.revocation_reason = reason[:200]
        session.flush()


# --- signing -------------------------------------------------------------------------------


def _validation(session: Session, settings: Settings):  # noqa: ANN202 - pyhanko ValidationContext
    ca = platform_ca(settings)
    return pades.validation_context(
        [ca.root.cert], [ca.issuing.cert], current_crls(session, settings), for_signing=True
    )


def sign(
    session: Session,
    settings: Settings,
    actor: User,
    contract: Contract,
    *,
    signing_password: str,
    totp_code: str | None = None,
    request_key: str | None = None,
) -> ContractSignature:
    """Sign for the actor's firm with the actor's own key.

    The signature is made in memory, verified, and only then stored with its audit entry in the
    caller's transaction, so a failure or a kill leaves the contract as it was. The same
    ``request_key`` twice returns the first signature; a second signature of the same party is a
    conflict (and the unique constraint backs that up under races)."""
    if request_key:
        done = session.scalar(select(ContractSignature).where(ContractSignature.request_key == request_key))
        if done is not None and done.contract_id == contract.id and done.signer_id == actor.id:
            return done
    party = authorize(actor, contract, "sign")
    if any(s.party is party for s in contract.signatures):
        raise ConflictError(
            msg("signature: %(party)s has already signed this contract", party=party.label_zh), field="signature"
        )
    require_status(contract, ContractStatus.SIGNING)
    if party is Party.SUPPLIER and not buyer_has_signed(contract):
        raise ConflictError(
            msg("signature: the buyer (甲方) signs first with the certification signature"), field="signature"
        )
    cred = active_credential(session, actor.id)
    if cred is None:
        raise InputError(
            msg("signing_password: you have no signing certificate yet; set a signing password first"),
            field="signing_password",
        )
    cert = x509.load_pem_x509_certificate(cred.cert_pem.encode())
    if not all(pki.name_usable(str(a.value)) for a in cert.subject):  # issued before names were made safe
        raise InputError(
            msg(
                "signing_password: your signing certificate carries a name that signatures cannot use; "
                "set your signing password again to get a new certificate"
            ),
            field="signing_password",
        )
    intent = "签署密码 password"
    if cred.totp_secret:
        if not totp_code or not pyotp.TOTP(cred.totp_secret).verify(str(totp_code).strip(), valid_window=1):
            raise InputError(msg("totp_code: the one-time code is wrong or expired"), field="totp_code")
        intent = "签署密码+动态码 password+TOTP"
    key = pki.decrypt_user_key(cred.encrypted_key, signing_password)
    ca = platform_ca(settings)
    base = contract.signed_pdf or contract.unsigned_pdf
    provider = signing_provider(settings)
    request = pades.SignRequest(
        party=party.value,
        certify=party is Party.BUYER,
        signer_name=actor.name,
        firm_name=actor.firm.name,
        reason=f"同意签署合同 {contract.number}（第 {_final_round_no(session, contract)} 轮定稿）",
        location=session.get(ContractRound, contract.final_round_id).fields.get("sign_place", ""),
        cert=cert,
        key=key,
        chain=[ca.issuing.cert, ca.root.cert],
        validation=_validation(session, settings),
        timestamper=tsa.timestamper_for(ca, settings.contracts_tsa_url),
        font_cache=settings.contracts_font_cache,
        intent=intent.split()[0],
        stamp_time=f"{local_time(utcnow(), '%Y-%m-%d %H:%M:%S')} {ZONE_LABEL}",
    )
    signed = provider.sign(base, request)
    report = pades.verify_pdf(signed, [ca.root.cert], [ca.issuing.cert], current_crls(session, settings))
    if not report.ok:
        raise pades.SigningFailed(
            msg("the new signature did not verify, nothing was stored: %(problems)s", problems=join(report.problems))
        )
    own = [s for s in report.signatures if s.kind == "signature"][-1]
    digest = hashlib.sha256(signed).hexdigest()
    row = ContractSignature(
        contract_id=contract.id,
        party=party,
        signer_id=actor.id,
        credential_id=cred.id,
        intent=intent,
        provider=provider.name,
        request_key=request_key,
        timestamp=own.timestamp.astimezone(UTC).replace(tzinfo=None) if own.timestamp else None,
        pdf_sha256=digest,
    )
    session.add(row)
    contract.signatures.append(row)
    contract.signed_pdf = signed
    contract.signed_sha256 = digest
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(
            msg("signature: this party's signature was stored by a concurrent request"), field="signature"
        ) from exc
    audit(
        session,
        contract,
        "sign",
        actor,
        party=party.value,
        cert_serial=cred.serial,
        intent=intent,
        timestamp=row.timestamp,
        pdf_sha256=digest,
    )
    if all(any(s.party is p for s in contract.signatures) for p in Party):
        contract.signed_at = row.timestamp or utcnow()
        contract.transition(ContractStatus.SIGNED)
    return row


def _final_round_no(session: Session, contract: Contract) -> int:
    return session.get(ContractRound, contract.final_round_id).number


# --- verification and export ---------------------------------------------------------------


def verify_document(session: Session, settings: Settings, data: bytes) -> pades.VerifyReport:
    """Verify a PDF offline against the platform root and current CRL, then against the record:
    the file is the stored signed PDF, its original revision is the frozen unsigned PDF, and the
    printed content hash is the agreed round's."""
    ca = platform_ca(settings)
    report = pades.verify_pdf(data, [ca.root.cert], [ca.issuing.cert], current_crls(session, settings))
    contract = session.scalar(select(Contract).where(Contract.token == report.token)) if report.token else None
    if contract is None:
        report.problems.append(msg("the PDF does not name a contract of this platform"))
        report.ok = False
        return report
    rnd = session.get(ContractRound, contract.final_round_id) if contract.final_round_id else None
    n = len(contract.unsigned_pdf or b"")
    report.record = {
        "contract_id": contract.id,
        "number": contract.number,
        "title": contract.title,
        "status": contract.status.value,
        "buyer": contract.buyer_firm.name,
        "supplier": contract.supplier_firm.name,
        "original_matches": bool(n) and hashlib.sha256(data[:n]).hexdigest() == contract.unsigned_sha256,
        "content_hash_matches": rnd is not None and rnd.content_hash == report.content_hash,
        "is_final_signed_copy": hashlib.sha256(data).hexdigest() == contract.signed_sha256
        and contract.status is ContractStatus.SIGNED,
    }
    if not report.record["original_matches"]:
        report.problems.append(msg("the signed document is not the version frozen on the platform"))
    if not report.record["content_hash_matches"]:
        report.problems.append(msg("the content hash differs from the agreed round on record"))
    report.ok = not report.problems
    audit(session, contract, "verify", None, ok=report.ok, sha256=hashlib.sha256(data).hexdigest())
    return report


def completion_certificate(session: Session, settings: Settings, contract: Contract) -> bytes:
    """The completion certificate (PDF): parties, content hash per round, signatures with
    timestamps and intent checks, the signed file's hash and the audit head."""
    if contract.status is not ContractStatus.SIGNED:
        raise ConflictError(
            msg("status: the completion certificate exists once both parties have signed"), field="status"
        )
    creds = {
        c.id: c
        for c in session.scalars(
            select(SigningCredential).where(SigningCredential.id.in_([s.credential_id for s in contract.signatures]))
        )
    }
    sigs = [
        {
            "party": s.party.label_zh,
            "signer": f"{s.signer.name} <{s.signer.email}>",
            "serial": creds[s.credential_id].serial,
            "timestamp": f"{local_time(s.timestamp, '%Y-%m-%d %H:%M:%S')} {ZONE_LABEL}" if s.timestamp else "—",
            "intent": s.intent.split()[0],  # the Chinese of "签署密码 password", as on the stamp
            "sha256": s.pdf_sha256,
        }
        for s in contract.signatures
    ]
    rounds = [
        {
            "number": r.number,
            "hash": r.content_hash,
            "by": r.author.name,
            "at": f"{local_time(r.created_at)} {ZONE_LABEL}",
        }
        for r in contract.rounds
    ]
    font = render.cjk_font(settings.contracts_font_cache, settings.contracts_font)
    return render.render_completion(
        number=contract.number,
        title=contract.title,
        buyer=contract.buyer_firm.name,
        supplier=contract.supplier_firm.name,
        rounds=rounds,
        signatures=sigs,
        signed_sha256=contract.signed_sha256 or "",
        audit_head=audit_head(session, contract.id),
        verify_url=verify_url(settings, contract),
        font_file=font,
    )


def export_contract(session: Session, settings: Settings, contract: Contract, out_dir: Path) -> dict[str, str]:
    """Everything needed to verify without the platform: signed PDF, completion certificate,
    audit log (JSON), the CA root and issuing certificates and the current CRL."""
    if contract.status is not ContractStatus.SIGNED:
        raise ConflictError(msg("status: only a signed contract can be exported"), field="status")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ca = platform_ca(settings)
    files = {
        "contract": (f"{contract.number}.pdf", contract.signed_pdf),
        "certificate": (f"{contract.number}-completion.pdf", completion_certificate(session, settings, contract)),
        "audit": (
            f"{contract.number}-audit.json",
            json.dumps(
                {
                    "contract": contract.number,
                    "check": verify_audit(session, contract.id).as_dict(),
                    "entries": audit_entries(session, contract),
                },
                ensure_ascii=False,
                indent=2,
            ).encode("utf-8"),
        ),
        "root": ("chainmatch-root-ca.pem", pki.pem(ca.root.cert)),
        "issuing": ("chainmatch-issuing-ca.pem", pki.pem(ca.issuing.cert)),
        "crl": ("chainmatch.crl.pem", current_crl(session, settings).public_bytes(serialization.Encoding.PEM)),
        "root_crl": (
            "chainmatch-root.crl.pem",
            current_crls(session, settings)[1].public_bytes(serialization.Encoding.PEM),
        ),
    }
    written = {}
    for kind, (name, data) in files.items():
        (out / name).write_bytes(data)
        written[kind] = str(out / name)
    return written
