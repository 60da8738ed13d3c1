"""The platform's own PKI (cryptography): a root CA, an issuing CA, a timestamp-authority
certificate, one certificate per signing user, and the revocation list.

CA keys live in ``<instance>/contracts/ca`` as PKCS#8 PEM encrypted under a passphrase the caller
gives (:mod:`marketplace.contracts.keys` says which, the same in every process); user keys are
PKCS#8 encrypted under the user's own signing password and are only ever decrypted in memory for
one signature.
"""

from __future__ import annotations

import os
import re
import stringprep
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from marketplace.errors import InputError, msg

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PLATFORM_NAME = "ChainMatch 产业链供需对接平台"
CA_FILES = ("root", "issuing", "tsa")  # <name>.pem (certificate) and <name>.key.pem (encrypted key)
MIN_SIGNING_PASSWORD = 8
MAX_SIGNING_PASSWORD = 128  # characters; cryptography refuses key passwords over 1,023 bytes
# invisible characters (zero-width space and joiners, word joiner, BOM, soft hyphen, ...)
_INVISIBLE = re.compile(r"[\s\u00ad\u034f\u180b-\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufe00-\ufe0f]")


@dataclass(frozen=True)
class Credential:
    cert: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True)
class PlatformCA:
    """The loaded platform PKI: root, issuing CA and TSA credentials."""

    root: Credential
    issuing: Credential
    tsa: Credential
    crl_url: str

    @property
    def root_crl_url(self) -> str:
        """Where the root's CRL (covering the issuing CA) is published."""
        return f"{self.crl_url.rstrip('/')}/root"

    def chain_pem(self) -> bytes:
        return b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in (self.issuing, self.root))


def _name(common_name: str, org: str = PLATFORM_NAME, unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _now() -> datetime:
    return datetime.now(UTC)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int) -> x509.CertificateBuilder:  # noqa: ANN001
    now = _now() - timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _signing_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _aki(issuer: Credential) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)])


def create_ca(crl_url: str, root_name: str = "ChainMatch Root CA") -> PlatformCA:
    """A fresh root, issuing CA and TSA (RSA; the TSA signs RFC 3161 tokens with RSA)."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    root_subject = _name(root_name)
    root_cert = (
        _builder(root_subject, root_subject, root_key.public_key(), 365 * 20)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    root = Credential(root_cert, root_key)
    issuing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuing_cert = (
        _builder(_name("ChainMatch Issuing CA"), root_subject, issuing_key.public_key(), 365 * 10)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_aki(root), critical=False)
        .add_extension(_crl_dp(f"{crl_url.rstrip('/')}/root"), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    issuing = Credential(issuing_cert, issuing_key)
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa_cert = (
        _builder(_name("ChainMatch Timestamp Authority"), issuing_cert.subject, tsa_key.public_key(), 365 * 10)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signing_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(_aki(issuing), critical=False)
        .add_extension(_crl_dp(crl_url), critical=False)
        .sign(issuing_key, hashes.SHA256())
    )
    return PlatformCA(root, issuing, Credential(tsa_cert, tsa_key), crl_url)


def _key_pem(key: PrivateKey, password: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(password)
    )


def save_ca(ca: PlatformCA, ca_dir: Path, passphrase: bytes) -> None:
    """Write the CA files atomically: into a temporary folder, then renamed into place."""
    ca_dir = Path(ca_dir)
    ca_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ca-", dir=ca_dir.parent))
    for name, cred in zip(CA_FILES, (ca.root, ca.issuing, ca.tsa), strict=True):
        (tmp / f"{name}.pem").write_bytes(cred.cert.public_bytes(serialization.Encoding.PEM))
        key_path = tmp / f"{name}.key.pem"
        key_path.write_bytes(_key_pem(cred.key, passphrase))
        os.chmod(key_path, 0o600)
    try:
        os.rename(tmp, ca_dir)
    except OSError:  # another process created it first: keep theirs
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def load_key(path: Path, passphrase: bytes) -> PrivateKey:
    """One encrypted CA key; ValueError (or TypeError) when ``passphrase`` does not open it."""
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=passphrase)  # type: ignore[return-value]


def write_key(path: Path, key: PrivateKey, passphrase: bytes) -> None:
    """Replace one CA key file atomically (a temporary file, mode 0600, renamed over it)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_key_pem(key, passphrase))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_ca(ca_dir: Path, passphrase: bytes, crl_url: str) -> PlatformCA:
    creds = []
    for name in CA_FILES:
        cert = x509.load_pem_x509_certificate((ca_dir / f"{name}.pem").read_bytes())
        creds.append(Credential(cert, load_key(ca_dir / f"{name}.key.pem", passphrase)))
    return PlatformCA(creds[0], creds[1], creds[2], crl_url)


_CACHE: dict[tuple[str, str], PlatformCA] = {}


def load_or_create_ca(ca_dir: Path, passphrase: bytes, crl_url: str) -> PlatformCA:
    """The platform CA of this instance, created on first use and cached per process."""
    key = (str(Path(ca_dir).resolve()), crl_url)
    if key in _CACHE and (Path(ca_dir) / "root.pem").is_file():
        return _CACHE[key]
    if not (Path(ca_dir) / "root.pem").is_file():
        save_ca(create_ca(crl_url), ca_dir, passphrase)
    ca = load_ca(Path(ca_dir), passphrase, crl_url)
    _CACHE[key] = ca
    return ca


def forget_cached(ca_dir: Path) -> None:
    """Drop this process's loaded copies of the CA in ``ca_dir`` (after its keys were re-keyed)."""
    folder = str(Path(ca_dir).resolve())
    for key in [k for k in _CACHE if k[0] == folder]:
        del _CACHE[key]


# --- users ---------------------------------------------------------------------------------


def new_user_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name_char_ok(char: str) -> bool:
    """Whether an X.509 Name (RFC 4518 string preparation, as asn1crypto and so pyHanko apply it)
    accepts the character: code points assigned in Unicode 3.2, no private use, non-characters,
    surrogates, controls, display-changing or replacement characters."""
    for c in unicodedata.normalize("NFKC", char):
        if (
            stringprep.in_table_a1(c)
            or stringprep.in_table_c3(c)
            or stringprep.in_table_c4(c)
            or stringprep.in_table_c5(c)
            or stringprep.in_table_c8(c)
            or c == "\ufffd"
            or unicodedata.category(c) in ("Cc", "Cf")
        ):
            return False
    return True


def name_usable(text: str) -> bool:
    """Whether asn1crypto accepts ``text`` in a certificate subject (pyHanko fails on it otherwise)."""
    from asn1crypto import x509 as asn1_x509

    try:
        value = asn1_x509.DirectoryString(name="utf8_string", value=asn1_x509.UTF8String(text))
        asn1_x509.NameTypeAndValue({"type": "common_name", "value": value}).prepped_value  # noqa: B018
    except ValueError:
        return False
    return True


def subject_text(text: str, fallback: str) -> str:
    """``text`` made fit for a certificate subject, keeping what is readable: characters X.509
    names refuse (emoji and others outside Unicode 3.2, controls, invisible format characters) are
    dropped, right-to-left text mixed with left-to-right text is dropped, spaces are collapsed;
    ``fallback`` when nothing usable is left. At most 64 characters (the RFC 5280 upper bound of
    a common name)."""
    kept = "".join(ch for ch in (text or "") if _name_char_ok(ch))
    if any(stringprep.in_table_d1(ch) for ch in kept):
        if any(stringprep.in_table_d2(ch) for ch in kept):
            kept = "".join(ch for ch in kept if not stringprep.in_table_d1(ch))
        else:  # right-to-left only: it must start and end with a right-to-left character
            while kept and not stringprep.in_table_d1(kept[0]):
                kept = kept[1:]
            while kept and not stringprep.in_table_d1(kept[-1]):
                kept = kept[:-1]
    kept = " ".join(kept.split())[:64].strip()
    if kept and name_usable(kept):
        return kept
    safe = " ".join("".join(ch for ch in (text or "") if 0x20 <= ord(ch) < 0x7F).split())[:64].strip()
    return safe if safe and name_usable(safe) else fallback


def issue_user_cert(
    ca: PlatformCA, key: PrivateKey, *, name: str, email: str, firm: str, days: int = 365 * 3
) -> x509.Certificate:
    """A signing certificate for one user: their name and firm, non-repudiation usage, the CRL URL.
    The subject keeps the readable part of names that X.509 refuses (:func:`subject_text`)."""
    subject = _name(
        subject_text(name, fallback=email.split("@")[0] or "ChainMatch signer"),
        org=subject_text(firm, fallback="ChainMatch member firm"),
        unit="ChainMatch signer",
    )
    return (
        _builder(subject, ca.issuing.cert.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signing_usage(), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(_aki(ca.issuing), critical=False)
        .add_extension(_crl_dp(ca.crl_url), critical=False)
        .sign(ca.issuing.key, hashes.SHA256())
    )


def check_signing_password(password: str | None) -> str:
    """A new signing password: 8 to 128 characters, not only spaces or invisible characters."""
    password = password or ""
    if len(password) < MIN_SIGNING_PASSWORD:
        raise InputError(msg("signing_password: use at least 8 characters"), field="signing_password")
    if len(password) > MAX_SIGNING_PASSWORD:
        raise InputError(
            msg("signing_password: use at most %(max)s characters", max=MAX_SIGNING_PASSWORD),
            field="signing_password",
        )
    if not _INVISIBLE.sub("", password):
        raise InputError(
            msg("signing_password: spaces and invisible characters alone are not a password; use visible characters"),
            field="signing_password",
        )
    return password


def encrypt_user_key(key: PrivateKey, password: str) -> bytes:
    return _key_pem(key, check_signing_password(password).encode("utf-8"))


def decrypt_user_key(blob: bytes, password: str) -> PrivateKey:
    """The user's key, or InputError when the signing password is wrong (or longer than any
    signing password can be)."""
    if len(password or "") > MAX_SIGNING_PASSWORD:
        raise InputError(
            msg("signing_password: use at most %(max)s characters", max=MAX_SIGNING_PASSWORD),
            field="signing_password",
        )
    try:
        key = serialization.load_pem_private_key(blob, password=(password or "").encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise InputError(msg("signing_password: the signing password is wrong"), field="signing_password") from exc
    return key  # type: ignore[return-value]


def make_crl(
    ca: PlatformCA, revoked: list[tuple[int, datetime]], *, days: int = 7, issuer: Credential | None = None
) -> x509.CertificateRevocationList:
    """The issuing CA's CRL listing ``(serial, revoked_at)`` pairs (``issuer=ca.root``: the root's
    CRL, which covers the issuing CA)."""
    issuer = issuer or ca.issuing
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=days))
        .add_extension(_aki(issuer), critical=False)
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
    )
    for serial, when in revoked:
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(issuer.key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
