"""Contract pages and API: the whole flow through HTTP, each denial, conflicts, verification page,
the RFC 3161 endpoint and the OpenAPI document."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from asn1crypto import algos, core, tsp
from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.models import Contract, Role, User
from tests.contracts_helpers import pdf_text
from tests.web.conftest import PASSWORD as PASSWORD_OF_TESTS

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
        assert "北京时间" in r.get_data(as_text=True) and "UTC" not in r.get_data(as_text=True)  # issued at
    return cid


def _beijing(stamp: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return stamp.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime(fmt)


def _shows_beijing_time(loaded, client, cid: int) -> None:  # noqa: ANN001
    """The contract page gives its times in Beijing time (as the event pages do), never UTC."""
    from marketplace.models import ContractAuditEntry

    page = client.get(f"/contracts/{cid}").get_data(as_text=True)
    with session_scope(loaded) as s:
        contract = s.get(Contract, cid)
        for sig in contract.signatures:
            assert f"{_beijing(sig.timestamp, '%Y-%m-%d %H:%M:%S')} 北京时间" in page
        assert f"{_beijing(contract.rounds[-1].created_at)} 北京时间" in page
        first = s.scalar(select(ContractAuditEntry).where(ContractAuditEntry.contract_id == cid).limit(1))
        assert f'<td class="time">{_beijing(first.at, "%Y-%m-%d %H:%M:%S")}</td>' in page
    assert "UTC" not in page
    english = client.get(f"/contracts/{cid}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "UTC" not in english
    # how each signer proved intent, in one language per page (not "签署密码 password")
    assert page.count('<span class="intent">签署密码</span>') == 2 and "签署密码 password" not in page
    assert english.count('<span class="intent">Signing password</span>') == 2 and "签署密码" not in english


def test_whole_flow_over_http_ends_in_a_verified_pdf(client, login, people, loaded):
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
    _shows_beijing_time(loaded, c, cid)
    anon = client
    anon.post("/auth/logout")
    r = anon.post(
        "/contracts/verify", data={"file": (io.BytesIO(pdf.data), "c.pdf")}, content_type="multipart/form-data"
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "✔ 验证通过" in page and "验证未通过" not in page
    assert "VALID" not in page  # the verdict in the reader's language only, not "验证通过 / VALID"
    assert "北京时间" in r.get_data(as_text=True) and "UTC" not in r.get_data(as_text=True)  # as on the contract
    bad = bytearray(pdf.data)
    bad[3000] ^= 1
    r = anon.post(
        "/contracts/verify", data={"file": (io.BytesIO(bytes(bad)), "c.pdf")}, content_type="multipart/form-data"
    )
    assert "✘ 验证未通过" in r.get_data(as_text=True) and "INVALID" not in r.get_data(as_text=True)
    # the problems in the reader's language: Chinese by default, English on request
    assert "已签署文件不是平台上定稿冻结的版本" in r.get_data(as_text=True)
    r = anon.post(
        "/contracts/verify",
        data={"file": (io.BytesIO(bytes(bad)), "c.pdf")},
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert "the signed document is not the version frozen on the platform" in r.get_data(as_text=True)
    assert "✘ Invalid" in r.get_data(as_text=True) and "验证未通过" not in r.get_data(as_text=True)
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
    """Whoever may not see a contract gets 404, as if it did not exist: on the pages as in the API."""
    cid = _start(login, people)
    for who in ("organizer", "admin"):
        c = login(who)
        for url in (f"/contracts/{cid}", f"/contracts/{cid}/counter", f"/contracts/{cid}/contract.pdf"):
            assert c.get(url).status_code == 404, (who, url)
        assert c.post(f"/contracts/{cid}/designate").status_code == 404
        headers = {"Authorization": f"Bearer {people['tokens'][who]}"}
        assert client.get(f"/api/v1/contracts/{cid}", headers=headers).status_code == 404


def test_non_designated_approver_is_forbidden(client, login, people, loaded):
    cid = _start(login, people)
    with session_scope(loaded) as s:
        from marketplace.accounts.users import create_user

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
    assert r.status_code == 409 and "甲方已签署此合同" in r.get_data(as_text=True)


def test_wrong_signing_password_is_a_400_naming_the_field(client, login, people):
    cid = _to_signing(client, login, people)
    r = login("large").post(f"/contracts/{cid}/sign", data={"signing_password": "nope-nope"})
    assert r.status_code == 400 and "签署密码：签署密码错误" in r.get_data(as_text=True)
    r = login("large").post(
        f"/contracts/{cid}/sign", data={"signing_password": "nope-nope"}, headers={"Accept-Language": "en"}
    )
    assert r.status_code == 400 and "Signing password: the signing password is wrong" in r.get_data(as_text=True)


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
        assert r.status_code == 400 and "轮次：" in r.get_data(as_text=True)
    assert c.get(f"/contracts/{cid}?round=1").status_code == 200


# --- rules found by the audit ------------------------------------------------------------------


def _entries(loaded, cid: int) -> int:
    from sqlalchemy import func

    from marketplace.models import ContractAuditEntry

    with session_scope(loaded) as s:
        return s.scalar(
            select(func.count()).select_from(ContractAuditEntry).where(ContractAuditEntry.contract_id == cid)
        )


def _flashes(response) -> list[str]:  # noqa: ANN001
    import re

    return re.findall(r'<div class="flash (?:error|success)">([^<]*)</div>', response.get_data(as_text=True))


def _errors(response) -> list[str]:  # noqa: ANN001
    import re

    return re.findall(r'<div class="flash error">([^<]*)</div>', response.get_data(as_text=True))


def _to_approving(login, people) -> int:
    cid = _start(login, people)
    c = login("sme")
    assert c.post(f"/contracts/{cid}/counter", data={**FILL, "title": "隔膜采购合同"}).status_code == 302
    assert login("large").post(f"/contracts/{cid}/accept").status_code == 302
    return cid


def test_designate_refuses_values_that_are_not_ids_and_writes_nothing(client, login, people, loaded):
    cid = _start(login, people)
    c = login("large")
    before = _entries(loaded, cid)
    for field, label in (("approver_id", "审批人："), ("signer_id", "签署人：")):
        for bad in ("²", "abc", "-3", "1.5", "9" * 18):
            r = c.post(f"/contracts/{cid}/designate", data={field: bad})
            assert r.status_code == 400 and label in r.get_data(as_text=True), (field, bad, r.status_code)
    assert _entries(loaded, cid) == before
    for field in ("approver_id", "signer_id"):  # an id, but of nobody: refused with a flash
        r = c.post(f"/contracts/{cid}/designate", data={field: "0"})
        assert r.status_code == 302 and _errors(c.get(r.headers["Location"])), field


def test_a_member_cannot_make_themselves_approver_over_the_firms_designation(client, login, people, loaded):
    from marketplace.accounts.users import create_user

    cid = _start(login, people)
    with session_scope(loaded) as s:
        colleague = create_user(
            s,
            email="colleague@t.cn",
            password=PASSWORD_OF_TESTS,
            name="同事",
            role=Role.LARGE,
            firm_id=people["large_firm"],
        )
        colleague_id = colleague.id
        large_id = s.scalar(select(User.id).where(User.email == people["emails"]["large"]))
    c = login("large")  # the firm's administrator designates the colleague ...
    r = c.post(f"/contracts/{cid}/designate", data={"approver_id": colleague_id, "signer_id": colleague_id})
    assert r.status_code == 302
    # ... and cannot then take the roles back for themselves
    for field in ("approver_id", "signer_id"):  # refused: back on the contract with the reason flashed
        r = c.post(f"/contracts/{cid}/designate", data={field: large_id})
        assert r.status_code == 302 and r.headers["Location"].endswith(f"/contracts/{cid}")
        assert len(_errors(c.get(r.headers["Location"]))) == 1
    page = c.get(f"/contracts/{cid}").get_data(as_text=True)
    assert 'id="designate-form"' in page and f'<option value="{large_id}"' not in page  # not offered to themselves
    client.post("/auth/logout")
    client.post("/auth/login", data={"email": "colleague@t.cn", "password": PASSWORD_OF_TESTS})
    assert 'id="designate-form"' not in client.get(f"/contracts/{cid}").get_data(as_text=True)
    for data in ({"approver_id": large_id}, {"signer_id": colleague_id}):  # not the administrator: refused
        r = client.post(f"/contracts/{cid}/designate", data=data)
        assert r.status_code == 302 and len(_errors(client.get(r.headers["Location"]))) == 1
    c = login("sme")
    c.post(f"/contracts/{cid}/counter", data={**FILL, "title": "t"})
    c = login("large")
    c.post(f"/contracts/{cid}/accept")
    assert c.post(f"/contracts/{cid}/approve", data={"decision": "approve"}).status_code == 403
    with session_scope(loaded) as s:
        contract = s.get(Contract, cid)
        assert contract.buyer_approver_id == contract.buyer_signer_id == colleague_id


def test_an_unknown_approval_decision_is_a_400_and_keeps_the_other_sides_approval(client, login, people, loaded):
    from marketplace.models import ContractApproval, ContractStatus

    cid = _to_approving(login, people)
    assert login("large").post(f"/contracts/{cid}/approve", data={"decision": "approve"}).status_code == 302
    for weird in ("weird", "Approve", "approved"):
        r = login("sme").post(f"/contracts/{cid}/approve", data={"decision": weird})
        assert r.status_code == 400 and "审批决定：" in r.get_data(as_text=True)
    with session_scope(loaded) as s:
        assert s.get(Contract, cid).status is ContractStatus.APPROVING
        assert len(s.scalars(select(ContractApproval).where(ContractApproval.contract_id == cid)).all()) == 1


def test_an_unknown_party_when_starting_is_a_400_and_starts_nothing(client, login, people, loaded):
    r = login("large").post("/contracts/new", data={"other_firm_id": people["sme_firm"], "my_party": "weird"})
    assert r.status_code == 400 and "本企业是：" in r.get_data(as_text=True)
    with session_scope(loaded) as s:
        assert s.scalars(select(Contract)).all() == []


def test_long_notes_are_refused_with_a_400_naming_the_note(client, login, people, loaded):
    from marketplace.models import ContractApproval

    cid = _start(login, people)
    r = login("sme").post(f"/contracts/{cid}/counter", data={**FILL, "title": "T", "note": "备" * 2001})
    assert r.status_code == 400 and "备注：" in "".join(_flashes(r))
    with session_scope(loaded) as s:
        assert len(s.get(Contract, cid).rounds) == 1
    assert login("sme").post(f"/contracts/{cid}/counter", data={**FILL, "title": "T"}).status_code == 302
    assert login("large").post(f"/contracts/{cid}/accept").status_code == 302
    r = login("large").post(f"/contracts/{cid}/approve", data={"decision": "approve", "note": "审" * 2001})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/contracts/{cid}")
    assert any("2,000" in m for m in _errors(client.get(r.headers["Location"])))
    with session_scope(loaded) as s:
        assert s.scalars(select(ContractApproval).where(ContractApproval.contract_id == cid)).all() == []


def test_amounts_and_places_are_refused_rather_than_rewritten(client, login, people, loaded):
    cid = _start(login, people)
    api = {"Authorization": f"Bearer {people['tokens']['sme']}"}
    r = client.post(f"/api/v1/contracts/{cid}/counter", json={"fields": {"amount": 1e-7}}, headers=api)
    assert r.status_code == 400 and "amount" in r.json["detail"]
    c = login("sme")
    for label, field, value in (
        ("合同总金额（元）", "amount", "1.23456"),
        ("合同总金额（元）", "amount", "12,34,5"),
        ("签订地点", "sign_place", "上" * 6000),
    ):
        r = c.post(f"/contracts/{cid}/counter", data={**FILL, "title": "T", field: value})
        assert r.status_code == 400 and any(m.startswith(f"{label}：") for m in _flashes(r)), (field, _flashes(r))
    assert c.post(f"/contracts/{cid}/counter", data={**FILL, "title": "T", "amount": "-0"}).status_code == 302
    with session_scope(loaded) as s:
        assert s.get(Contract, cid).rounds[-1].fields["amount"] == "0.00"


def test_a_signed_contract_takes_no_comments_and_offers_no_counter_form(client, login, people, loaded):
    cid = _to_signing(client, login, people)
    for who in ("large", "sme"):
        assert login(who).post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW}).status_code == 302
    c = login("sme")
    r = c.post(f"/contracts/{cid}/comment", data={"clause": "general", "text": "签完再评论"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/contracts/{cid}")  # refused, told there
    assert _errors(c.get(r.headers["Location"]))
    r = c.get(f"/contracts/{cid}/counter")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/contracts/{cid}")
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    assert 'id="counter-form"' not in page and "status" in page
    from marketplace.models import ContractComment

    with session_scope(loaded) as s:
        assert s.scalars(select(ContractComment).where(ContractComment.contract_id == cid)).all() == []


def test_a_signer_with_emoji_in_the_name_signs_and_failures_show_no_exception_chain(client, login, people, loaded, app):
    with session_scope(loaded) as s:
        s.scalar(select(User).where(User.email == people["emails"]["large"])).name = "王😀"
    cid = _to_signing(client, login, people)
    c = login("large")
    settings = app.extensions["settings"]
    app.extensions["settings"] = settings.with_overrides(contracts_tsa_url="http://127.0.0.1:9/tsa")  # TSA down
    try:
        r = c.post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW})
    finally:
        app.extensions["settings"] = settings
    flashed = " ".join(_flashes(r))
    assert r.status_code == 503 and "签署失败，未保存任何内容" in flashed
    assert "Error" not in flashed and "<-" not in flashed and "127.0.0.1" not in flashed
    r = c.post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW})
    assert r.status_code == 302, _flashes(r)
    assert "签署成功" in c.get(r.headers["Location"]).get_data(as_text=True)


def test_signing_key_refuses_long_and_invisible_passwords_with_a_400(client, login, people):
    c = login("large")
    for password in ("x" * 2000, " " * 10, "\u200b" * 10):
        r = c.post("/contracts/signing-key", data={"signing_password": password, "confirm": password})
        assert r.status_code == 400 and any(m.startswith("签署密码：") for m in _flashes(r))


def test_api_verify_refuses_input_that_is_not_a_pdf_naming_the_field(client):
    """What the document says the body is (a base64 PDF): anything else is a 422 naming pdf_base64."""
    import base64

    from reportlab.pdfgen import canvas

    for junk in (b"just text, not a PDF", b"\x00" * 100):
        r = client.post("/api/v1/contracts/verify", json={"pdf_base64": base64.b64encode(junk).decode()})
        assert r.status_code == 422 and r.json["detail"]["json"]["pdf_base64"] == ["not a PDF, base64-encoded"]
    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    pdf.drawString(100, 700, "not a contract")
    pdf.save()
    r = client.post("/api/v1/contracts/verify", json={"pdf_base64": base64.b64encode(out.getvalue()).decode()})
    assert r.status_code == 200 and r.json["ok"] is False and r.json["problems"]  # a PDF that does not verify


def test_audit_actions_are_labelled_in_the_readers_language(client, login, people):
    cid = _start(login, people)
    c = login("large")
    page = c.get(f"/contracts/{cid}").get_data(as_text=True)
    assert 'data-action="create">创建<' in page and 'data-action="view">查看<' in page
    page = c.get(f"/contracts/{cid}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-action="create">Create<' in page
    c = login("sme")
    c.post(f"/contracts/{cid}/counter", data={**FILL, "title": "T"})
    c = login("large")
    c.post(f"/contracts/{cid}/accept")
    page = c.get(f"/contracts/{cid}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-action="edit">Change terms<' in page and 'data-action="accept">Accept<' in page
    assert ">create<" not in page and ">edit<" not in page and ">accept<" not in page


def test_english_pages_name_parties_and_articles_in_english_and_keep_the_signed_chinese_text(client, login, people):
    cid = _start(login, people)
    c = login("large")
    page = c.get(f"/contracts/{cid}").get_data(as_text=True)
    assert "<dt>甲方（采购方）</dt>" in page and "第1条 标的" in page and 'id="binding-language"' not in page
    page = c.get(f"/contracts/{cid}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<dt>Party A (buyer)</dt>" in page and "<dt>Party B (supplier)</dt>" in page
    assert "Article 1. Subject (标的)" in page and "第1条" not in page
    assert "乙方向甲方供应" in page  # the clause text is the Chinese that is signed
    assert 'id="binding-language"' in page and "what is signed" in page


# --- second API audit: hidden as missing, strict ids, refused actions back on the contract ---------


def _api(people, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {people['tokens'][who]}"}


def test_another_pairs_contract_answers_exactly_as_a_missing_one(client, login, people):
    cid = _start(login, people)
    missing = 2**31 - 1
    for method, path, body in (
        ("get", "", None),
        ("post", "/counter", {"fields": {"product": "x"}}),
        ("post", "/accept", None),
        ("post", "/approve", {}),
        ("get", "/pdf", None),
    ):
        hidden = getattr(client, method)(f"/api/v1/contracts/{cid}{path}", json=body, headers=_api(people, "sme2"))
        absent = getattr(client, method)(f"/api/v1/contracts/{missing}{path}", json=body, headers=_api(people, "sme2"))
        assert hidden.status_code == absent.status_code == 404, path
        assert hidden.json == {
            "status": 404,
            "message": f"contract {cid} does not exist",
            "detail": {"contract_id": f"contract {cid} does not exist"},
        }, path
        assert absent.json == {
            "status": 404,
            "message": f"contract {missing} does not exist",
            "detail": {"contract_id": f"contract {missing} does not exist"},
        }, path
    # the pages too: the same 404 page, but for the number
    c = login("sme2")
    c.get("/")  # the welcome flash
    hidden_page = c.get(f"/contracts/{cid}").get_data(as_text=True)
    absent_page = c.get(f"/contracts/{missing}").get_data(as_text=True)
    assert f"合同 {cid} 不存在" in hidden_page and f"合同 {missing} 不存在" in absent_page
    import re

    def same(page: str, number: int) -> str:  # but for the number and the form tokens
        return re.sub(r'name="csrf_token" value="[^"]+"', "", page.replace(f"合同 {number} ", "合同 N "))

    assert same(hidden_page, cid) == same(absent_page, missing)


def test_another_pairs_suggestion_answers_exactly_as_a_missing_one(client, login, people, loaded):
    from marketplace.models import MatchSuggestion, SuggestionStatus

    with session_scope(loaded) as s:
        sug = MatchSuggestion(
            demand_id=people["demand"], firm_id=people["sme_firm"], score=0.9, status=SuggestionStatus.ACCEPTED
        )
        s.add(sug)
        s.flush()
        sid = sug.id
    missing = 2**31 - 1
    body = {"other_firm_id": people["sme_firm"]}
    hidden = client.post("/api/v1/contracts", json={**body, "suggestion_id": sid}, headers=_api(people, "sme2"))
    absent = client.post("/api/v1/contracts", json={**body, "suggestion_id": missing}, headers=_api(people, "sme2"))
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json == {
        "status": 404,
        "message": f"suggestion_id: suggestion {sid} does not exist",
        "detail": {"suggestion_id": f"suggestion {sid} does not exist"},
    }
    assert absent.json["detail"] == {"suggestion_id": f"suggestion {missing} does not exist"}
    # the page: the same 404 page for both, but for the number
    c = login("sme2")
    c.get("/")  # the welcome flash
    hidden_page = c.post(f"/contracts/from-suggestion/{sid}")
    absent_page = c.post(f"/contracts/from-suggestion/{missing}")
    assert hidden_page.status_code == absent_page.status_code == 404
    import re

    def same(page: str, number: int) -> str:  # but for the number and the form tokens
        return re.sub(r'name="csrf_token" value="[^"]+"', "", page.replace(f"推荐 {number} ", "推荐 N "))

    assert f"推荐 {sid} 不存在" in hidden_page.get_data(as_text=True)
    assert same(hidden_page.get_data(as_text=True), sid) == same(absent_page.get_data(as_text=True), missing)
    with session_scope(loaded) as s:
        assert s.scalars(select(Contract)).all() == []


def test_a_suggestion_on_a_demand_the_caller_cannot_see_answers_as_a_missing_one(client, login, people, loaded):
    """The suggested firm's own suggestion on a demand it may not see (the owner's draft): a 404 as
    for a missing suggestion, in the API and on the page, not a 409 "not accepted yet" that would
    tell that it exists. The owner, who sees its draft, still hears why it cannot start."""
    from marketplace.models import MatchSuggestion, SuggestionStatus

    with session_scope(loaded) as s:
        sug = MatchSuggestion(
            demand_id=people["draft"], firm_id=people["sme_firm"], score=0.9, status=SuggestionStatus.SUGGESTED
        )
        s.add(sug)
        s.flush()
        sid = sug.id
    missing = 2**31 - 1
    body = {"other_firm_id": people["large_firm"]}
    hidden = client.post("/api/v1/contracts", json={**body, "suggestion_id": sid}, headers=_api(people, "sme"))
    absent = client.post("/api/v1/contracts", json={**body, "suggestion_id": missing}, headers=_api(people, "sme"))
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json == {
        "status": 404,
        "message": f"suggestion_id: suggestion {sid} does not exist",
        "detail": {"suggestion_id": f"suggestion {sid} does not exist"},
    }
    c = login("sme")
    c.get("/")  # the welcome flash
    hidden_page = c.post(f"/contracts/from-suggestion/{sid}")
    absent_page = c.post(f"/contracts/from-suggestion/{missing}")
    assert hidden_page.status_code == absent_page.status_code == 404
    assert f"推荐 {sid} 不存在" in hidden_page.get_data(as_text=True)
    owner = client.post(
        "/api/v1/contracts",
        json={"other_firm_id": people["sme_firm"], "suggestion_id": sid},
        headers=_api(people, "large"),
    )
    assert owner.status_code == 409 and "not accepted yet" in owner.json["message"]
    with session_scope(loaded) as s:
        assert s.scalars(select(Contract)).all() == []


def test_only_firm_users_start_contracts_and_a_bogus_other_firm_is_named_as_sent(client, people, loaded):
    for who in ("organizer", "admin"):
        r = client.post("/api/v1/contracts", json={"other_firm_id": people["sme_firm"]}, headers=_api(people, who))
        assert r.status_code == 403 and r.json["message"] == "only firm users start contracts", who
    for party in ("buyer", "supplier"):
        r = client.post(
            "/api/v1/contracts", json={"other_firm_id": 999999, "my_party": party}, headers=_api(people, "large")
        )
        assert r.status_code == 404 and r.json["detail"] == {"other_firm_id": "firm 999999 does not exist"}, party
    own = client.post("/api/v1/contracts", json={"other_firm_id": people["large_firm"]}, headers=_api(people, "large"))
    assert own.status_code == 400 and list(own.json["detail"]) == ["other_firm_id"]
    with session_scope(loaded) as s:
        assert s.scalars(select(Contract)).all() == []
    started = client.post(
        "/api/v1/contracts",
        json={"other_firm_id": people["large_firm"], "my_party": "supplier"},
        headers=_api(people, "sme"),
    )
    assert started.status_code == 201
    assert (started.json["buyer_firm_id"], started.json["supplier_firm_id"]) == (
        people["large_firm"],
        people["sme_firm"],
    )


def test_ids_in_the_start_body_are_strict_whole_numbers_in_range(client, people, loaded):
    sme = people["sme_firm"]
    for field, value in (
        ("other_firm_id", sme + 0.5),
        ("other_firm_id", str(sme)),
        ("other_firm_id", 2**70),
        ("other_firm_id", 0),
        ("other_firm_id", True),
        ("demand_id", 1.5),
        ("demand_id", 2**70),
        ("suggestion_id", "1"),
        ("suggestion_id", 2**31),
    ):
        body = {"other_firm_id": sme, field: value}
        r = client.post("/api/v1/contracts", json=body, headers=_api(people, "large"))
        assert r.status_code == 422 and list(r.json["detail"]["json"]) == [field], (field, value, r.json)
    with session_scope(loaded) as s:
        assert s.scalars(select(Contract)).all() == []


def test_contract_fields_refuse_lists_objects_and_booleans(client, login, people, loaded):
    cid = _start(login, people)
    api = _api(people, "sme")
    for value in (["a", {"b": 1}], {"b": 1}, True):
        r = client.post(f"/api/v1/contracts/{cid}/counter", json={"fields": {"product": value}}, headers=api)
        assert r.status_code == 400 and list(r.json["detail"]) == ["product"], value
        assert r.json["message"].startswith("product: give")
    started = client.post(
        "/api/v1/contracts",
        json={"other_firm_id": people["sme_firm"], "fields": {"quantity": [1, 2]}},
        headers=_api(people, "large"),
    )
    assert started.status_code == 400 and list(started.json["detail"]) == ["quantity"]
    with session_scope(loaded) as s:
        assert len(s.get(Contract, cid).rounds) == 1 and len(s.scalars(select(Contract)).all()) == 1
    ok = client.post(f"/api/v1/contracts/{cid}/counter", json={"fields": {"amount": 800000}}, headers=api)
    assert ok.status_code == 201  # a number is fine for money
    with session_scope(loaded) as s:
        assert s.get(Contract, cid).rounds[-1].fields["amount"] == "800000.00"


def test_a_refused_contract_action_flashes_and_goes_back_to_the_contract(client, login, people, loaded):
    cid = _start(login, people)  # the draft leaves required terms blank
    c = login("sme")
    page = c.get(f"/contracts/{cid}").get_data(as_text=True)
    # the accept button is not offered while required terms are blank; the page says why
    assert 'id="accept-blocked"' in page and "/accept" not in page
    r = c.post(f"/contracts/{cid}/accept")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/contracts/{cid}")
    flashes = _errors(c.get(r.headers["Location"]))
    assert len(flashes) == 1 and "为必填项" in flashes[0], flashes
    english = c.post(f"/contracts/{cid}/accept", headers={"Accept-Language": "en"}, follow_redirects=True)
    assert len(_errors(english)) == 1 and "is required" in _errors(english)[0], _errors(english)
    with session_scope(loaded) as s:
        assert s.get(Contract, cid).status.value == "negotiating"
    # filled in: the other side is offered the button
    assert c.post(f"/contracts/{cid}/counter", data={**FILL, "title": "隔膜采购合同"}).status_code == 302
    page = login("large").get(f"/contracts/{cid}").get_data(as_text=True)
    assert 'id="accept-blocked"' not in page and f"/contracts/{cid}/accept" in page
    assert login("large").post(f"/contracts/{cid}/accept").status_code == 302
    c = login("large")
    assert c.post(f"/contracts/{cid}/approve", data={"decision": "approve"}).status_code == 302
    twice = c.post(f"/contracts/{cid}/approve", data={"decision": "approve"})
    assert twice.status_code == 302 and twice.headers["Location"].endswith(f"/contracts/{cid}")
    assert len(_errors(c.get(twice.headers["Location"]))) == 1  # the conflict is told on the contract page


def test_openapi_documents_the_contract_pdf(client):
    spec = client.get("/api/v1/openapi.json").json
    content = spec["paths"]["/api/v1/contracts/{contract_id}/pdf"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["application/pdf"]


# --- what the PDF prints ------------------------------------------------------------------------


def _approved(client, login, people) -> tuple[int, bytes]:
    """A contract both firms approved (its PDF rendered by the last approval), and that PDF."""
    cid = _to_approving(login, people)
    for who in ("large", "sme"):
        assert login(who).post(f"/contracts/{cid}/approve", data={"decision": "approve"}).status_code == 302
    pdf = client.get(f"/contracts/{cid}/contract.pdf")
    assert pdf.status_code == 200
    return cid, pdf.data


def _token(loaded, cid: int) -> str:
    with session_scope(loaded) as s:
        return s.get(Contract, cid).token


def test_the_pdf_links_to_the_verify_page_at_the_address_that_served_it(app, client, login, people, loaded):
    """Without MARKETPLACE_PUBLIC_BASE_URL the verification link and QR code on the PDF use the
    address the approver reached the platform at, not a default 127.0.0.1:5000."""
    app.config["SERVER_NAME"] = "chainmatch.test:8080"  # the test client's requests go to this address
    cid, pdf = _approved(client, login, people)
    text = pdf_text(pdf)
    assert f"http://chainmatch.test:8080/contracts/verify/{_token(loaded, cid)}".encode() in text
    assert b"127.0.0.1:5000" not in text


def test_the_public_base_url_setting_wins_over_the_request_address(loaded, people):
    from web import create_app

    app = create_app(
        loaded.with_overrides(public_base_url="https://chainmatch.example.cn/"),
        {"TESTING": True, "WTF_CSRF_ENABLED": False, "MATCH_USE_DENSE": False},
    )
    app.config["SERVER_NAME"] = "10.0.0.7:8000"
    client = app.test_client()

    def login(who: str):  # noqa: ANN202
        client.post("/auth/logout")
        assert client.post("/auth/login", data={"email": people["emails"][who], "password": PASSWORD_OF_TESTS})
        return client

    cid, pdf = _approved(client, login, people)
    text = pdf_text(pdf)
    assert f"https://chainmatch.example.cn/contracts/verify/{_token(loaded, cid)}".encode() in text
    assert b"10.0.0.7" not in text


# --- verification in the reader's language ------------------------------------------------------

INTERNAL_NAMES = re.compile(r"BuyerSignature|SupplierSignature|\bOTHER\b|\bANNOTATIONS\b|Error\b|Exception\b")


def _page_edited_after_signing(pdf: bytes) -> bytes:
    """The signed PDF with text drawn on its first page in a new revision (a forged "PAID")."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    stamp = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 700 Td (PAID) Tj ET"))
    writer.add_stream_to_page(0, stamp)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_verification_problems_name_signatures_and_changes_in_the_readers_language(client, login, people):
    """Not "BuyerSignature: …(OTHER)": the page says 甲方签名 and what changed, in Chinese or in
    English; the API's problems name them in English."""
    cid = _to_signing(client, login, people)
    for who in ("large", "sme"):
        assert login(who).post(f"/contracts/{cid}/sign", data={"signing_password": SIGN_PW}).status_code == 302
    edited = _page_edited_after_signing(login("sme").get(f"/contracts/{cid}/contract.pdf").data)
    client.post("/auth/logout")

    def problems(language: str) -> list[str]:
        r = client.post(
            "/contracts/verify",
            data={"file": (io.BytesIO(edited), "c.pdf")},
            content_type="multipart/form-data",
            headers={"Accept-Language": language},
        )
        assert r.status_code == 200
        return [html.unescape(p) for p in re.findall(r'<div class="error">([^<]*)</div>', r.get_data(as_text=True))]

    chinese = problems("zh")
    assert any(re.fullmatch(r"甲方签名[:：] ?文件在签署后被修改（改动了页面内容）", p) for p in chinese), chinese
    english = problems("en")
    assert "Party A's signature: the document was modified after signing (page content changed)" in english, english
    api = client.post("/api/v1/contracts/verify", json={"pdf_base64": base64.b64encode(edited).decode()})
    assert api.status_code == 200 and api.json["ok"] is False
    assert "Party A's signature: the document was modified after signing (page content changed)" in api.json["problems"]
    for text in chinese + english + api.json["problems"]:
        assert not INTERNAL_NAMES.search(text), text


# --- who the audit log names ----------------------------------------------------------------------


def _audit_section(page: str) -> str:
    return html.unescape(page[page.index('<table class="audit">') :])


def test_the_audit_log_shows_the_other_firm_by_firm_and_role_never_its_staffs_e_mail(client, login, people, loaded):
    """A user of the other firm who merely viewed or downloaded appears as its firm and role; the
    own firm's colleagues by name and e-mail as recorded; the chain still checks."""
    cid = _start(login, people)
    sme = login("sme")
    sme.get(f"/contracts/{cid}")  # viewed
    sme.get(f"/contracts/{cid}/audit.json")  # downloaded
    with session_scope(loaded) as s:
        sme_firm = s.get(Contract, cid).supplier_firm.display_name
        large_firm = s.get(Contract, cid).buyer_firm.display_name
    large = login("large")
    log = _audit_section(large.get(f"/contracts/{cid}").get_data(as_text=True))
    assert "sme@t.cn" not in log and "小企业" not in log
    assert f"{sme_firm} · 企业管理员" in log  # its first user administers the firm
    assert "大企业 <large@t.cn>" in log  # the own firm's colleague, as recorded
    english = _audit_section(large.get(f"/contracts/{cid}", headers={"Accept-Language": "en"}).get_data(as_text=True))
    assert f"{sme_firm} · firm administrator" in english and "sme@t.cn" not in english
    exported = large.get(f"/contracts/{cid}/audit.json").json
    assert exported["check"]["ok"] is True
    assert "sme@t.cn" not in json.dumps(exported, ensure_ascii=False)
    assert {e["actor"] for e in exported["entries"] if e["redacted"]} == {f"{sme_firm} · 企业管理员"}
    # and the other way round
    log = _audit_section(login("sme").get(f"/contracts/{cid}").get_data(as_text=True))
    assert "large@t.cn" not in log and "大企业 <" not in log
    assert f"{large_firm} · 签署人" in log and "小企业 <sme@t.cn>" in log  # the drafter signs unless designated


def test_certificates_name_one_crl_url_whatever_host_a_request_was_sent_to(app, client, login, people, loaded):
    """Only the links printed on PDFs follow the request's address: the CRL URL in a signer's
    certificate is the instance's, so a forged Host header puts nothing into certificates."""
    from cryptography import x509

    from marketplace.models import SigningCredential

    app.config["SERVER_NAME"] = "forged.example:666"
    r = login("large").post("/contracts/signing-key", data={"signing_password": SIGN_PW, "confirm": SIGN_PW})
    assert r.status_code == 200
    with session_scope(loaded) as s:
        pem = s.scalars(select(SigningCredential)).one().cert_pem
    points = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert [n.value for p in points.value for n in p.full_name] == ["http://127.0.0.1:5000/contracts/pki/crl"]
