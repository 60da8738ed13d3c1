"""The platform's RFC 3161 timestamp authority.

Tokens are made in-process by pyHanko's local timestamp tooling with the TSA certificate issued
by the platform CA (its own policy OID, fresh serial numbers). The same authority answers
``application/timestamp-query`` requests over HTTP at ``/tsa`` so external tools can use it, and
signing may be pointed at any HTTP TSA by setting ``MARKETPLACE_CONTRACTS_TSA_URL``. When the
configured TSA cannot be reached, signing fails: there is no fallback to the server clock.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import cms, core, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.sign import general
from pyhanko.sign.general import simple_cms_attribute
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from marketplace.contracts.pki import PlatformCA

# A private arc under the UUID OID root (2.25): the platform's timestamp policy.
TSA_POLICY_OID = "2.25.249051359316316826473093425066474118211"


def to_asn1_cert(cert) -> asn1_x509.Certificate:  # noqa: ANN001 - cryptography certificate
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def to_asn1_key(key) -> keys.PrivateKeyInfo:  # noqa: ANN001 - cryptography private key
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return keys.PrivateKeyInfo.load(der)


class PlatformTimeStamper(DummyTimeStamper):
    """RFC 3161 tokens signed by the platform TSA certificate under the platform's policy."""

    def __init__(self, ca: PlatformCA) -> None:
        super().__init__(
            tsa_cert=to_asn1_cert(ca.tsa.cert),
            tsa_key=to_asn1_key(ca.tsa.key),
            certs_to_embed=[to_asn1_cert(ca.issuing.cert)],
        )
        self._rsa_key = ca.tsa.key

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: datetime):  # noqa: ANN202
        """As pyHanko's, but with the key already loaded (re-parsing an RSA key costs ~0.2 s)."""
        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                simple_cms_attribute("signing_certificate", general.as_signing_certificate(self.tsa_cert)),
                simple_cms_attribute("message_digest", digest.finalize()),
            ]
        )
        signature = self._rsa_key.sign(
            signed_attrs.dump(), PKCS1v15(), get_pyca_cryptography_hash(md_algorithm.upper())
        )
        return signature, signed_attrs

    def _build_tst_info(self, message_imprint: tsp.MessageImprint, dt: datetime, req: tsp.TimeStampReq):  # noqa: ANN202
        info = super()._build_tst_info(message_imprint, dt, req)
        info["policy"] = tsp.ObjectIdentifier(TSA_POLICY_OID)
        return info


_STAMPERS: dict[int, PlatformTimeStamper] = {}


def timestamper_for(ca: PlatformCA, tsa_url: str = "") -> TimeStamper:
    """The in-process platform TSA (one per CA: pyHanko caches its size probe and TSA paths),
    or an HTTP TSA when a URL is configured."""
    if tsa_url:
        return RequestsHTTPTimeStamper(tsa_url, timeout=5)
    if id(ca) not in _STAMPERS:
        _STAMPERS[id(ca)] = PlatformTimeStamper(ca)
    return _STAMPERS[id(ca)]


class _Rejection(core.Sequence):
    """A TimeStampResp without token (asn1crypto's TimeStampResp insists on one when dumping)."""

    _fields = [("status", tsp.PKIStatusInfo)]


def answer_query(ca: PlatformCA, der: bytes) -> bytes:
    """Answer one DER ``TimeStampReq`` with a DER ``TimeStampResp`` (rejects malformed ones)."""
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        req.native  # noqa: B018 - forces a full parse so garbage is rejected here
        return timestamper_for(ca).request_tsa_response(req).dump()
    except Exception:  # noqa: BLE001 - asn1crypto raises many types on garbage
        status = tsp.PKIStatusInfo(
            {"status": tsp.PKIStatus("rejection"), "fail_info": tsp.PKIFailureInfo({"bad_data_format"})}
        )
        return _Rejection({"status": status}).dump()
