"""Contract pages and API: the whole flow through HTTP, each denial, conflicts, verification page,
the RFC 3161 endpoint and the OpenAPI document."""

from __future__ import annotations

import hashlib
import io

from asn1crypto import algos, core, tsp
from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.models import Contract, Role

SIGN_PW = "my-signing-pw-1"


def _start(login, people) -> int:
    client = login("large")
    r = client.post(
        "/contracts/new",
        data={
            "other_firm_id": people["sme_firm"],
            "my_party": "buyer",
            "template": "supply_chain",
            "title": "隔膜采购 <script>x</script>",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    return int(r.headers["Location"].rstrip("/").split("/")[-1])


FILL = {
    "amount": "800000",
    "sign_place": "上海",
    "product": "涂覆隔膜",
    "specification": "9μm+3μm",
    "quantity": "100 万平方米",
    "unit_price": "0.8",
    "delivery_schedule": "2027 年 3 月",
    "acceptance": "抽检",
    "payment_milestones": "30/70",
}


def _to_signing(client, login, people) -> int:
    cid = _start(login, people)
    c = login("sme")
    r = c.post(f"/contracts/{cid}/counter", data={**FILL, "title": "隔膜采购合同", "note": "补全条款"})
    assert r.status_code == 302, r.get_data(as_text=True)
    page = c.get(f"/contracts/{cid}").get_data(as_text=True)  # its own round: it waits, no counter offered
    assert 'id="counter-link"' not in page and 'id="waiting-note"' in page
    assert 'id="counter-link"' in login("large").get(f"/contracts/{cid}").get_data(as_text=True)
    c = login("sme")
    c = login("large")
    assert c.post(f"/contracts/{cid}/accept").status_code == 302
    assert c.post(f"/contracts/{cid}/approve", data={"decision": "approve"}).status_code == 302
    c = login("sme")
    assert c.post(f"/contracts/{cid}/approve", data={"decision": "approve"}).status_code == 302
    for who in ("large", "sme"):
        c = login(who)
        r = c.post("/contracts/signing-key", data={"signing_password": SIGN_PW, "confirm": SIGN_PW})
        assert r.status_code == 200 and "签署证书已签发" in r.get_data(as_text=True)
    return cid


def test_whole_flow_over_http_ends_in_a_verified_pdf(client, login, people):
    cid = _to_signing(client, login, people)
    early = login("sme").get(f"/contracts/{cid}/sign").get_data(as_text=True)  # the buyer signs first
    assert 'id="waits-for-buyer"' in early and 'id="sign-form"' not in early
    c = login("large")
    assert 'id="sign-form"' in c.get(f"/contracts/{cid}/sign").get_data(as_text=True)
    page = c.get(f"/contracts/{cid}").get_data(as_text=True)
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page  # user text is escaped
    assert c.post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW, "request_key": "k1"}).status_code == 302
    c = login("sme")
    assert 'id="sign-form"' in c.get(f"/contracts/{cid}/sign").get_data(as_text=True)
    assert c.post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW}).status_code == 302
    pdf = c.get(f"/contracts/{cid}/contract.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert c.get(f"/contracts/{cid}/certificate.pdf").status_code == 200
    anon = client
    anon.post("/auth/logout")
    r = anon.post(
        "/contracts/verify", data={"file": (io.BytesIO(pdf.data), "c.pdf")}, content_type="multipart/form-data"
    )
    assert r.status_code == 200 and "VALID" in r.get_data(as_text=True) and "INVALID" not in r.get_data(as_text=True)
    bad = bytearray(pdf.data)
    bad[3000] ^= 1
    r = anon.post(
        "/contracts/verify", data={"file": (io.BytesIO(bytes(bad)), "c.pdf")}, content_type="multipart/form-data"
    )
    assert "INVALID" in r.get_data(as_text=True)
    # the problems in the reader's language: Chinese by default, English on request
    assert "已签署文件不是平台上定稿冻结的版本" in r.get_data(as_text=True)
    r = anon.post(
        "/contracts/verify",
        data={"file": (io.BytesIO(bytes(bad)), "c.pdf")},
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert "the signed document is not the version frozen on the platform" in r.get_data(as_text=True)
    for junk in (b"just text, not a PDF", b""):  # refused with the page's own message, nothing verified
        r = anon.post(
            "/contracts/verify", data={"file": (io.BytesIO(junk), "c.pdf")}, content_type="multipart/form-data"
        )
        assert (
            r.status_code == 400
            and "PDF" in r.get_data(as_text=True)
            and "PdfReadError" not in r.get_data(as_text=True)
        )


def test_third_firm_user_gets_404_on_every_contract_page(client, login, people):
    cid = _start(login, people)
    c = login("sme2")
    for url in (
        f"/contracts/{cid}",
        f"/contracts/{cid}/counter",
        f"/contracts/{cid}/contract.pdf",
        f"/contracts/{cid}/audit.json",
        f"/contracts/{cid}/sign",
    ):
        assert c.get(url).status_code == 404, url
    for url in (f"/contracts/{cid}/accept", f"/contracts/{cid}/approve", f"/contracts/{cid}/comment"):
        assert c.post(url).status_code == 404, url
    assert "隔膜采购" not in c.get("/contracts/").get_data(as_text=True)


def test_organizer_and_admin_do_not_see_contracts(client, login, people):
    cid = _start(login, people)
    for who in ("organizer", "admin"):
        assert login(who).get(f"/contracts/{cid}").status_code == 403


def test_non_designated_approver_is_forbidden(client, login, people, loaded):
    cid = _start(login, people)
    with session_scope(loaded) as s:
        from marketplace.services.accounts import create_user

        colleague = create_user(
            s,
            email="colleague@t.cn",
            password="correct-horse-1",
            name="同事",
            role=Role.LARGE,
            firm_id=people["large_firm"],
        )
        contract = s.get(Contract, cid)
        contract.buyer_approver_id = colleague.id
    c = login("sme")
    c.post(f"/contracts/{cid}/counter", data={**FILL, "title": "t"})
    c = login("large")
    c.post(f"/contracts/{cid}/accept")
    assert c.post(f"/contracts/{cid}/approve", data={"decision": "approve"}).status_code == 403


def test_second_signature_by_the_same_party_is_a_conflict(client, login, people):
    cid = _to_signing(client, login, people)
    c = login("large")
    assert c.post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW}).status_code == 302
    r = c.post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW})
    assert r.status_code == 409 and "signature: 甲方已签署此合同" in r.get_data(as_text=True)


def test_wrong_signing_password_is_a_400_naming_the_field(client, login, people):
    cid = _to_signing(client, login, people)
    r = login("large").post(f"/contracts/{cid}/sign", data={"signing_password": "nope-nope"})
    assert r.status_code == 400 and "signing_password: 签署密码错误" in r.get_data(as_text=True)
    r = login("large").post(
        f"/contracts/{cid}/sign", data={"signing_password": "nope-nope"}, headers={"Accept-Language": "en"}
    )
    assert r.status_code == 400 and "signing_password: the signing password is wrong" in r.get_data(as_text=True)


def test_api_flow_denials_and_openapi(client, login, people):
    cid = _to_signing(client, login, people)
    headers = {"Authorization": f"Bearer {people['tokens']['large']}"}
    assert client.get("/api/v1/contracts", headers=headers).json["items"][0]["id"] == cid
    r = client.post(f"/api/v1/contracts/{cid}/sign", json={"signing_password": "wrong-one"}, headers=headers)
    assert r.status_code == 400
    r = client.post(
        f"/api/v1/contracts/{cid}/sign", json={"signing_password": SIGN_PW, "request_key": "a"}, headers=headers
    )
    assert r.status_code == 201 and r.json["party"] == "buyer"
    again = client.post(
        f"/api/v1/contracts/{cid}/sign", json={"signing_password": SIGN_PW, "request_key": "a"}, headers=headers
    )
    assert again.status_code == 201 and again.json["pdf_sha256"] == r.json["pdf_sha256"]
    other = {"Authorization": f"Bearer {people['tokens']['sme2']}"}
    assert client.get(f"/api/v1/contracts/{cid}", headers=other).status_code == 404
    assert (
        client.post(f"/api/v1/contracts/{cid}/sign", json={"signing_password": SIGN_PW}, headers=other).status_code
        == 404
    )
    org = {"Authorization": f"Bearer {people['tokens']['organizer']}"}
    assert client.get("/api/v1/contracts/stats", headers=org).status_code == 200
    assert client.get("/api/v1/contracts/stats", headers=other).status_code == 403
    spec = client.get("/api/v1/openapi.json").json
    assert "/api/v1/contracts/{contract_id}/sign" in spec["paths"]


def test_tsa_endpoint_answers_rfc3161_queries(client):
    digest = hashlib.sha256(b"hello").digest()
    req = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": tsp.MessageImprint(
                {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "hashed_message": digest}
            ),
            "nonce": 12345,
            "cert_req": True,
        }
    )
    r = client.post("/tsa", data=req.dump(), content_type="application/timestamp-query")
    assert r.status_code == 200 and r.mimetype == "application/timestamp-reply"
    resp = tsp.TimeStampResp.load(r.data)
    assert resp["status"]["status"].native == "granted"
    info = resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest and info["nonce"].native == 12345
    assert client.post("/tsa", data=b"x", content_type="text/plain").status_code == 415
    junk = client.post("/tsa", data=b"junk", content_type="application/timestamp-query").data
    status = tsp.PKIStatusInfo.load(core.load(junk)[0].dump())  # a reply without token: rejected
    assert status["status"].native == "rejection"


def test_public_pki_downloads(client):
    assert b"BEGIN CERTIFICATE" in client.get("/contracts/pki/root.pem").data
    assert client.get("/contracts/pki/crl").mimetype == "application/pkix-crl"


def test_organizer_stats_page_and_sme_denied(client, login, people):
    assert login("organizer").get("/contracts/stats").status_code == 200
    assert login("sme").get("/contracts/stats").status_code == 403


def test_contract_from_an_accepted_suggestion(client, login, people, loaded):
    from marketplace.models import MatchSuggestion, SuggestionStatus

    with session_scope(loaded) as s:
        sug = MatchSuggestion(
            demand_id=people["demand"], firm_id=people["sme_firm"], score=0.9, status=SuggestionStatus.ACCEPTED
        )
        s.add(sug)
        s.flush()
        sid = sug.id
    r = login("large").post(f"/contracts/from-suggestion/{sid}")
    assert r.status_code == 302
    with session_scope(loaded) as s:
        c = s.scalar(select(Contract).where(Contract.suggestion_id == sid))
        assert c.rounds[0].fields["product"] == "锂电池隔膜"
        assert c.buyer_firm_id == people["large_firm"] and c.supplier_firm_id == people["sme_firm"]
        assert s.get(MatchSuggestion, sid).status is SuggestionStatus.CONTACTED
    # one contract per suggestion, whichever side asks again: both land on it
    again = login("large").post(f"/contracts/from-suggestion/{sid}")
    other_side = login("sme").post(f"/contracts/from-suggestion/{sid}")
    assert again.headers["Location"] == r.headers["Location"] == other_side.headers["Location"]
    with session_scope(loaded) as s:
        assert len(s.scalars(select(Contract).where(Contract.suggestion_id == sid)).all()) == 1


def test_signed_contract_page_starts_a_supplement(client, login, people):
    cid = _to_signing(client, login, people)
    for who in ("large", "sme"):
        assert login(who).post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW}).status_code == 302
    r = login("sme").post(f"/contracts/{cid}/supplement")
    assert r.status_code == 302 and not r.headers["Location"].endswith(f"/contracts/{cid}")
    assert "补充协议" in login("sme").get(r.headers["Location"]).get_data(as_text=True)
    assert login("sme2").post(f"/contracts/{cid}/supplement").status_code == 404


def test_a_round_that_is_not_a_number_is_a_400_naming_it(client, login, people):
    cid = _start(login, people)
    c = login("large")
    for bad in ("abc", "0", "2"):  # the contract has one round
        r = c.get(f"/contracts/{cid}?round={bad}")
        assert r.status_code == 400 and "round" in r.get_data(as_text=True)
    assert c.get(f"/contracts/{cid}?round=1").status_code == 200
