"""PAdES signing and offline verification with pyHanko.

* :func:`add_signature_fields` puts the two empty signature fields on the signing page.
* :class:`SigningProvider` is the provider interface; :class:`LocalPadesProvider` signs with the
  signer's own key and certificate from the platform CA: the buyer's signature is a certification
  signature (DocMDP "fill forms", so only the remaining signature field may be filled later), the
  supplier signs in an incremental revision; each signature carries an RFC 3161 timestamp
  (PAdES B-T), embeds the chain and CRLs (DSS) and is closed by a document timestamp (B-LTA).
* :func:`verify_pdf` checks every signature: integrity, chain to the platform root, revocation,
  timestamps and pyHanko's difference analysis (no change after the last signature that the
  certification does not allow).
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import string
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from asn1crypto import crl as asn1_crl
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import Certificate, CertificateRevocationList
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from marketplace.contracts.pki import PrivateKey
from marketplace.contracts.render import SIGNATURE_BOXES, stamp_font
from marketplace.contracts.tsa import to_asn1_cert, to_asn1_key
from marketplace.errors import ServiceUnavailableError, Term, msg

# Expected and harmless here: revocation data is supplied, never fetched; bitmap tables are dropped.
logging.getLogger("pyhanko.sign.signers.pdf_signer").setLevel(logging.ERROR)
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
STAMP_TEXT = "%(firm)s\n签署人：%(signer)s\n意愿认证：%(intent)s\n时间：%(ts)s"
FIELD_NAMES = {"buyer": "BuyerSignature", "supplier": "SupplierSignature"}
# what a reader calls each signature field and change, in the problems a verification reports: never
# the PDF's field names or pyHanko's enum names (BuyerSignature: …(OTHER))
SIGNATURE_TERMS = {
    "BuyerSignature": Term("甲方签名", "Party A's signature"),
    "SupplierSignature": Term("乙方签名", "Party B's signature"),
}
MODIFICATION_TERMS = {
    ModificationLevel.ANNOTATIONS: Term("添加或改动了批注", "annotations added or changed"),
    ModificationLevel.OTHER: Term("改动了页面内容", "page content changed"),
}


log = logging.getLogger(__name__)


class SigningFailed(ServiceUnavailableError):
    """Signing could not complete (TSA unreachable, certificate not valid, ...): nothing was stored
    (exit code 1; web and API answer 503).
    The message is for the signer; ``detail`` keeps the technical reason (also logged)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


T = TypeVar("T")


def outside_event_loop(fn: Callable[..., T]) -> Callable[..., T]:
    """pyHanko's synchronous API runs its coroutines with ``asyncio.run()``, which fails in a thread
    that already runs an event loop (an async server, a notebook, Playwright's sync API). There the
    call goes to a worker thread; everywhere else it runs as it is."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args, **kwargs)
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(fn, *args, **kwargs).result()

    return call


def add_signature_fields(pdf: bytes) -> bytes:
    """The PDF with both (empty) signature fields on its last page, as one incremental update."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    last = int(writer.root["/Pages"]["/Count"]) - 1
    for party, name in FIELD_NAMES.items():
        fields.append_signature_field(writer, fields.SigFieldSpec(name, on_page=last, box=SIGNATURE_BOXES[party]))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def validation_context(
    roots: list[Certificate], others: list[Certificate], crls: list[CertificateRevocationList], *, for_signing: bool
) -> ValidationContext:
    """Offline validation: trust only the given roots, check the given CRLs, never fetch."""
    return ValidationContext(
        trust_roots=[to_asn1_cert(c) for c in roots],
        other_certs=[to_asn1_cert(c) for c in others],
        crls=[asn1_crl.CertificateList.load(c.public_bytes(serialization.Encoding.DER)) for c in crls],
        allow_fetching=False,
        revocation_mode="hard-fail",
    )


@dataclass
class SignRequest:
    """One signature to apply: who, into which field, certifying or not, and the evidence text."""

    party: str
    certify: bool
    signer_name: str
    firm_name: str
    reason: str
    location: str
    cert: Certificate
    key: PrivateKey
    chain: list[Certificate]
    validation: ValidationContext
    timestamper: TimeStamper
    font_cache: Path
    intent: str = "password"
    # the time printed in the stamp, as the platform shows times (``2026-12-08 09:30:00 北京时间``);
    # empty: pyHanko's clock in the server's local zone
    stamp_time: str = ""


class SigningProvider(ABC):
    """Who produces the signature. Replace by configuration (``MARKETPLACE_CONTRACTS_PROVIDER``)
    with a licensed CA's remote signer, an e-signature service, or an SM2/SM3 signer that builds
    its own CMS and embeds it with pyHanko's ``PdfCMSEmbedder``."""

    name = "abstract"

    @abstractmethod
    def sign(self, pdf: bytes, request: SignRequest) -> bytes:
        """Return the PDF with the new signature appended as an incremental revision."""


class LocalPadesProvider(SigningProvider):
    """PAdES B-LTA with the signer's own key, the platform TSA and embedded validation data."""

    name = "local-pades"

    @outside_event_loop
    def sign(self, pdf: bytes, request: SignRequest) -> bytes:
        signer = signers.SimpleSigner(
            signing_cert=to_asn1_cert(request.cert),
            signing_key=to_asn1_key(request.key),
            cert_registry=SimpleCertificateStore.from_certs([to_asn1_cert(c) for c in request.chain]),
        )
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAMES[request.party],
            md_algorithm="sha256",
            reason=request.reason,
            location=request.location,
            name=request.signer_name,
            certify=request.certify,
            docmdp_permissions=fields.MDPPerm.FILL_FORMS,
            subfilter=fields.SigSeedSubFilter.PADES,
            embed_validation_info=True,
            use_pades_lta=True,
            validation_context=request.validation,
        )
        params = {"firm": request.firm_name, "signer": request.signer_name, "intent": request.intent}
        if request.stamp_time:
            params["ts"] = request.stamp_time
        # the glyphs of the stamp: its text but the time's digits (string.printable has them), so
        # that one font subset serves every signature of a signer
        zone = "".join(ch for ch in params.get("ts", "") if not ch.isascii())
        font = stamp_font(request.font_cache, (STAMP_TEXT % {**params, "ts": zone}) + string.printable)
        style = TextStampStyle(
            stamp_text=STAMP_TEXT,
            text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(font), font_size=9)),
            border_width=1,
        )
        pdf_signer = signers.PdfSigner(meta, signer=signer, timestamper=request.timestamper, stamp_style=style)
        out = io.BytesIO()
        try:
            pdf_signer.sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(pdf)),
                existing_fields_only=True,
                appearance_text_params=params,
                output=out,
            )
        except (SigningError, Exception) as exc:  # noqa: BLE001 - pyHanko wraps TSA/validation errors variously
            # the exception chain is for the operator's log, never for the signer's page
            reason = _reason(exc)
            log.warning("signing failed for %s (%s), nothing stored: %s", request.signer_name, request.party, reason)
            raise SigningFailed(
                msg(
                    "signing failed, nothing was stored; try again in a few minutes and tell the platform "
                    "operator if it keeps failing"
                ),
                detail=reason,
            ) from exc
        return out.getvalue()


def _reason(exc: BaseException) -> str:
    parts = []
    while exc is not None and len(parts) < 4:
        parts.append(f"{exc.__class__.__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return " <- ".join(parts)


@dataclass
class SignatureCheck:
    field: str
    kind: str  # signature | doc-timestamp
    ok: bool
    intact: bool
    valid: bool
    trusted: bool
    revoked: bool
    signer: str | None = None
    signing_time: datetime | None = None
    timestamp: datetime | None = None
    timestamp_ok: bool | None = None
    coverage: str | None = None
    modification: str | None = None
    certified: bool = False
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("signing_time", "timestamp"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


@dataclass
class VerifyReport:
    ok: bool
    signatures: list[SignatureCheck]
    problems: list[str]
    token: str | None = None
    content_hash: str | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "token": self.token,
            "content_hash": self.content_hash,
            "record": self.record,
            "signatures": [s.as_dict() for s in self.signatures],
        }


def _keywords(reader: PdfFileReader) -> dict[str, str]:
    try:
        info = reader.trailer_view["/Info"]
        words = str(info.get("/Keywords", ""))
    except (KeyError, TypeError, ValueError):
        return {}
    out = {}
    for word in words.split():
        if ":" in word:
            k, v = word.split(":", 1)
            out[k] = v
    return out


def _check_signature(emb, vc: ValidationContext, *, skip_diff: bool) -> SignatureCheck:  # noqa: ANN001
    name = emb.field_name
    if emb.sig_object_type == "/DocTimeStamp":
        st = validate_pdf_timestamp(emb, validation_context=vc, skip_diff=skip_diff)
        check = SignatureCheck(
            name, "doc-timestamp", False, st.intact, st.valid, st.trusted, st.revoked, timestamp=st.timestamp
        )
        check.coverage = st.coverage.name if st.coverage else None
        check.modification = st.modification_level.name if st.modification_level else None
    else:
        st = validate_pdf_signature(emb, vc, vc, skip_diff=skip_diff)
        subject = st.signing_cert.subject.native
        check = SignatureCheck(
            name,
            "signature",
            False,
            st.intact,
            st.valid,
            st.trusted,
            st.revoked,
            signer=f"{subject.get('common_name', '')} / {subject.get('organization_name', '')}",
            signing_time=st.signer_reported_dt,
            coverage=st.coverage.name if st.coverage else None,
            modification=st.modification_level.name if st.modification_level else None,
        )
        ts = st.timestamp_validity
        check.timestamp = ts.timestamp if ts else None
        check.timestamp_ok = bool(ts and ts.intact and ts.valid and ts.trusted)
        check.certified = emb.docmdp_level is not None
        if not check.timestamp_ok:
            check.problems.append(msg("no valid RFC 3161 timestamp from a trusted TSA"))
        if st.docmdp_ok is False:
            check.problems.append(msg("changes after this signature break its certification (DocMDP)"))
    if not check.intact:
        check.problems.append(msg("the signed bytes were changed (digest mismatch)"))
    elif not check.valid:
        check.problems.append(msg("the cryptographic signature is invalid"))
    if check.revoked:
        check.problems.append(msg("the signer's certificate is revoked"))
    elif check.intact and not check.trusted:  # over changed bytes the trust check says nothing more
        check.problems.append(msg("the certificate does not chain to the platform root or is not valid now"))
    if check.modification and ModificationLevel[check.modification] > ModificationLevel.FORM_FILLING:
        level = ModificationLevel[check.modification]
        check.problems.append(
            msg("the document was modified after signing (%(level)s)", level=MODIFICATION_TERMS.get(level, level.name))
        )
    if check.timestamp is not None and check.timestamp.tzinfo is not None:
        check.timestamp = check.timestamp.astimezone(UTC)  # the TSA answers in its local zone
    check.ok = not check.problems
    return check


@outside_event_loop
def verify_pdf(
    data: bytes, roots: list[Certificate], others: list[Certificate], crls: list[CertificateRevocationList]
) -> VerifyReport:
    """Check a signed contract PDF offline against the given trust roots and CRLs."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001 - a damaged file is a result, not a crash
        log.info("unreadable PDF to verify: %s", _reason(exc))  # the reader is told what it means, not this
        return VerifyReport(False, [], [msg("not a readable PDF: the file is damaged or is not a PDF")])
    problems: list[str] = []
    if not sigs:
        return VerifyReport(False, [], [msg("the PDF carries no signature")])
    vc = validation_context(roots, others, crls, for_signing=False)
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)  # failures are reported, not logged as tracebacks
    checks = []
    # The difference analysis of the first signature reviews every later revision under the
    # certification's rules; the later signatures' analyses would re-review a subset of them.
    for index, emb in enumerate(sigs):
        try:
            checks.append(_check_signature(emb, vc, skip_diff=index > 0))
        except Exception as exc:  # noqa: BLE001 - pyHanko raises on badly damaged signatures
            log.info("signature %r cannot be validated: %s", emb.field_name, _reason(exc))
            checks.append(
                SignatureCheck(
                    emb.field_name or "?",
                    "signature",
                    False,
                    False,
                    False,
                    False,
                    False,
                    problems=[msg("cannot be validated: its signature data is damaged")],
                )
            )
    stamps = 0
    for c in checks:
        if c.kind == "doc-timestamp":
            stamps += 1
            name = Term(f"第 {stamps} 个文档时间戳", f"document timestamp {stamps}")
        else:
            name = SIGNATURE_TERMS.get(c.field) or Term(f"签名“{c.field}”", f"signature “{c.field}”")
        problems += [msg("%(signature)s: %(problem)s", signature=name, problem=p) for p in c.problems]
    kw = _keywords(reader)
    return VerifyReport(not problems, checks, problems, kw.get("chainmatch-contract"), kw.get("content-sha256"))
