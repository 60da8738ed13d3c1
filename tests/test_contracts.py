"""Contract workflow, signatures and verification with the real pyHanko, the platform CA and TSA."""

from __future__ import annotations

import io
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import func, select

from marketplace.contracts import access, audit, pades, signing, starting, workflow
from marketplace.errors import InputError, NotFoundError, PermissionDeniedError, TransitionError, message_of
from marketplace.models import ContractAuditEntry, ContractSignature, ContractStatus, SigningCredential
from tests.contracts_helpers import FIELDS, SIGNING_PASSWORD, make_deal, pdf_text, to_signed, to_signing


@pytest.fixture
def deal(session, settings):
    return make_deal(session, settings)


def test_signed_contract_verifies_with_both_signatures_timestamps_and_record(session, settings, deal):
    contract = to_signed(session, settings, deal)
    assert contract.status is ContractStatus.SIGNED
    report = signing.verify_document(session, settings, contract.signed_pdf)
    assert report.ok, report.problems
    kinds = [s.kind for s in report.signatures]
    assert kinds.count("signature") == 2 and kinds.count("doc-timestamp") >= 2
    buyer_sig = report.signatures[0]
    assert buyer_sig.certified and buyer_sig.timestamp_ok and "采购经理王" in buyer_sig.signer
    assert report.record["original_matches"] and report.record["content_hash_matches"]
    assert report.record["is_final_signed_copy"]
    assert audit.verify_audit(session, contract.id).ok


def _beijing(stamp, fmt: str) -> bytes:  # noqa: ANN001 - a stored (naive UTC) time
    return stamp.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime(fmt).encode()


def test_the_pdf_and_the_completion_certificate_print_times_in_beijing_time(session, settings, deal):
    """One zone as on the event pages: the finalisation time on the contract, the rounds and the
    trusted signing times on the completion certificate are Beijing time, not UTC."""
    contract = to_signed(session, settings, deal)
    anchor = session.scalar(select(ContractAuditEntry).where(ContractAuditEntry.hash == contract.audit_anchor))
    signing_page = pdf_text(contract.unsigned_pdf)
    assert _beijing(anchor.at, "%Y-%m-%d %H:%M") in signing_page
    assert anchor.at.strftime("%Y-%m-%d %H:%M").encode() not in signing_page and b"UTC" not in signing_page
    certificate = pdf_text(signing.completion_certificate(session, settings, contract))
    for sig in contract.signatures:
        assert _beijing(sig.timestamp, "%Y-%m-%d %H:%M:%S") in certificate
    for rnd in contract.rounds:
        assert _beijing(rnd.created_at, "%Y-%m-%d %H:%M") in certificate
    assert b"UTC" not in certificate


def test_round_diff_shows_the_countered_price(session, settings, deal):
    contract = to_signing(session, settings, deal)
    diff = workflow.round_diff(contract, 2)
    assert ("-", next(t for tag, t in diff if tag == "-" and "0.55" in t)) in diff
    assert any(tag == "+" and "0.60" in t for tag, t in diff)
    assert contract.rounds[0].content_hash != contract.rounds[1].content_hash


def test_flipping_one_byte_of_a_signed_pdf_fails_verification(session, settings, deal):
    contract = to_signed(session, settings, deal)
    data = bytearray(contract.signed_pdf)
    data[len(contract.unsigned_pdf) // 2] ^= 0x01
    report = signing.verify_document(session, settings, bytes(data))
    assert not report.ok
    assert any("changed" in p for p in report.problems)
    # the reason is the change; the untouched certificate chain is not blamed too
    assert not any("platform root" in p for p in report.problems), report.problems


def test_editing_a_page_after_signing_fails_verification(session, settings, deal):
    contract = to_signed(session, settings, deal)
    from pyhanko.pdf_utils import generic

    writer = IncrementalPdfFileWriter(io.BytesIO(contract.signed_pdf))
    stamp = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 700 Td (PAID) Tj ET"))
    writer.add_stream_to_page(0, stamp)
    out = io.BytesIO()
    writer.write(out)
    report = signing.verify_document(session, settings, out.getvalue())
    assert not report.ok
    assert any("modified after signing" in p or "DocMDP" in p for p in report.problems), report.problems


def test_certificate_from_a_foreign_root_fails(session, settings, deal, tmp_path):
    contract = to_signed(session, settings, deal)
    other = settings.with_overrides(instance_dir=tmp_path / "other-platform")
    report = signing.verify_document(session, other, contract.signed_pdf)
    assert not report.ok
    assert any("platform root" in p for p in report.problems)


def test_revoked_certificate_fails_verification_and_cannot_sign(session, settings, deal):
    contract = to_signed(session, settings, deal)
    cred = signing.active_credential(session, deal.users["supplier"])
    signing.revoke(session, cred, "key compromise")
    cred.revoked_at = cred.created_at  # compromised from the start
    report = signing.verify_document(session, settings, contract.signed_pdf)
    assert not report.ok
    assert any("revoked" in p for p in report.problems)


def test_signing_with_a_revoked_certificate_is_refused(session, settings, deal):
    contract = to_signing(session, settings, deal)
    signing.revoke(session, signing.active_credential(session, deal.users["buyer"]), "lost")
    with pytest.raises(InputError, match="signing certificate"):
        signing.sign(session, settings, deal.user(session, "buyer"), contract, signing_password=SIGNING_PASSWORD)


def test_wrong_signing_password_signs_nothing_and_changes_nothing(session, settings, deal):
    contract = to_signing(session, settings, deal)
    before = (contract.unsigned_pdf, contract.signed_pdf, audit.audit_head(session, contract.id))
    with pytest.raises(InputError) as err:
        signing.sign(session, settings, deal.user(session, "buyer"), contract, signing_password="not-my-password")
    assert err.value.field == "signing_password"
    assert (contract.unsigned_pdf, contract.signed_pdf, audit.audit_head(session, contract.id)) == before
    assert session.scalar(select(func.count()).select_from(ContractSignature)) == 0


def test_the_same_sign_request_twice_gives_one_signature(session, settings, deal):
    contract = to_signing(session, settings, deal)
    buyer = deal.user(session, "buyer")
    first = signing.sign(session, settings, buyer, contract, signing_password=SIGNING_PASSWORD, request_key="req-1")
    again = signing.sign(session, settings, buyer, contract, signing_password=SIGNING_PASSWORD, request_key="req-1")
    assert again.id == first.id
    with pytest.raises(TransitionError, match="already signed"):
        signing.sign(session, settings, buyer, contract, signing_password=SIGNING_PASSWORD, request_key="req-2")
    assert session.scalar(select(func.count()).select_from(ContractSignature)) == 1


def test_third_firm_user_is_denied_everything(session, settings, deal):
    contract = to_signing(session, settings, deal)
    third = deal.user(session, "third")
    for action in access.ACTIONS:
        with pytest.raises(NotFoundError, match=f"contract {contract.id} does not exist"):
            access.authorize(third, contract, action)
    assert access.visible_contracts(session, third) == []
    with pytest.raises(NotFoundError, match=f"contract {contract.id} does not exist"):
        signing.sign(session, settings, third, contract, signing_password=SIGNING_PASSWORD)
    with pytest.raises(NotFoundError, match=f"contract {contract.id} does not exist"):
        workflow.comment(session, third, contract, "general", "我也想看看")


def test_only_the_designated_approver_approves(session, settings, deal):
    buyer = deal.user(session, "buyer")
    contract = starting.start_contract(
        session,
        buyer,
        buyer_firm_id=deal.buyer_firm,
        supplier_firm_id=deal.supplier_firm,
        template="supply_chain",
        fields=FIELDS,
    )
    workflow.designate(session, buyer, contract, approver_id=deal.users["buyer_legal"])
    workflow.accept_round(session, deal.user(session, "supplier"), contract)
    with pytest.raises(PermissionDeniedError, match="approver"):
        workflow.approve(session, settings, buyer, contract)


def test_only_the_signers_own_key_signs(session, settings, deal):
    contract = to_signing(session, settings, deal)
    legal = deal.user(session, "buyer_legal")  # same firm, not the designated signer
    with pytest.raises(PermissionDeniedError, match="signer"):
        signing.sign(session, settings, legal, contract, signing_password=SIGNING_PASSWORD)
    # once designated, they still sign only with a key of their own: they have none yet
    contract.status = ContractStatus.APPROVING  # designation is allowed until signing opens
    workflow.designate(session, deal.user(session, "buyer"), contract, signer_id=legal.id)
    contract.status = ContractStatus.SIGNING
    with pytest.raises(InputError, match="no signing certificate"):
        signing.sign(session, settings, legal, contract, signing_password=SIGNING_PASSWORD)


def test_supplier_cannot_sign_before_the_buyer(session, settings, deal):
    contract = to_signing(session, settings, deal)
    with pytest.raises(TransitionError, match="buyer"):
        signing.sign(session, settings, deal.user(session, "supplier"), contract, signing_password=SIGNING_PASSWORD)


def test_tsa_down_refuses_signing_cleanly(session, settings, deal, caplog):
    contract = to_signing(session, settings, deal)
    down = settings.with_overrides(contracts_tsa_url="http://127.0.0.1:9/tsa")  # discard port: nothing listens
    head = audit.audit_head(session, contract.id)
    with pytest.raises(pades.SigningFailed, match="nothing was stored") as failed:
        signing.sign(session, down, deal.user(session, "buyer"), contract, signing_password=SIGNING_PASSWORD)
    # translatable for the sign page, without the exception chain; the technical reason goes to the log
    message = message_of(failed.value)
    assert message.template.startswith("signing failed, nothing was stored;") and not message.params
    assert "Error" not in message and "<-" not in message
    assert "TimestampRequestError" in failed.value.detail
    assert any("TimestampRequestError" in r.getMessage() for r in caplog.records)
    assert contract.signed_pdf is None and contract.signatures == []
    assert audit.audit_head(session, contract.id) == head


def test_totp_is_required_when_enrolled(session, settings, deal):
    import pyotp

    contract = to_signing(session, settings, deal)
    buyer = deal.user(session, "buyer")
    cred, uri = signing.enroll(session, settings, buyer, SIGNING_PASSWORD, totp=True)
    assert uri.startswith("otpauth://")
    with pytest.raises(InputError) as err:
        signing.sign(session, settings, buyer, contract, signing_password=SIGNING_PASSWORD, totp_code="000000")
    assert err.value.field == "totp_code"
    code = pyotp.TOTP(cred.totp_secret).now()
    row = signing.sign(session, settings, buyer, contract, signing_password=SIGNING_PASSWORD, totp_code=code)
    assert "TOTP" in row.intent


def test_signed_contract_is_immutable_and_takes_a_supplement(session, settings, deal):
    contract = to_signed(session, settings, deal)
    buyer = deal.user(session, "buyer")
    with pytest.raises(TransitionError):
        workflow.counter(session, buyer, contract, {"unit_price": "0.50"})
    supplement = starting.start_supplement(session, buyer, contract, {"changes": "交货地点改为宁德"})
    assert supplement.parent_id == contract.id and supplement.template == "supplement"
    assert supplement.rounds[0].fields["parent_number"] == contract.number


def test_audit_chain_detects_change_deletion_and_reordering(session, settings, deal):
    contract = to_signing(session, settings, deal)
    entries = list(
        session.scalars(
            select(ContractAuditEntry)
            .where(ContractAuditEntry.contract_id == contract.id)
            .order_by(ContractAuditEntry.seq)
        )
    )
    assert audit.verify_audit(session, contract.id).ok
    entries[1].data = {**entries[1].data, "round": 99}
    session.flush()
    assert not audit.verify_audit(session, contract.id).ok
    session.rollback()


def test_audit_chain_detects_a_deleted_entry(session, settings, deal):
    contract = to_signing(session, settings, deal)
    victim = session.scalar(
        select(ContractAuditEntry).where(ContractAuditEntry.contract_id == contract.id, ContractAuditEntry.seq == 2)
    )
    session.delete(victim)
    session.flush()
    check = audit.verify_audit(session, contract.id)
    assert not check.ok and any("deleted or reordered" in p for p in check.problems)


def test_audit_chain_detects_reordering(session, settings, deal):
    contract = to_signing(session, settings, deal)
    a, b = list(
        session.scalars(
            select(ContractAuditEntry)
            .where(ContractAuditEntry.contract_id == contract.id)
            .order_by(ContractAuditEntry.seq)
        )
    )[1:3]
    a.seq, b.seq = -1, -2
    session.flush()
    a.seq, b.seq = 3, 2
    session.flush()
    assert not audit.verify_audit(session, contract.id).ok


def test_signed_stats_filter_by_firm_pairs_and_dates(session, settings, deal):
    from datetime import date, timedelta

    contract = to_signed(session, settings, deal)
    pair = (deal.supplier_firm, deal.buyer_firm)
    assert workflow.signed_stats(session, firm_pairs=[pair])["count"] == 1
    assert workflow.signed_stats(session, firm_pairs=[pair])["amount"] == 1200000.0
    assert workflow.signed_stats(session, firm_pairs=[(deal.third_firm, deal.buyer_firm)])["count"] == 0
    tomorrow = date.today() + timedelta(days=1)
    assert workflow.signed_stats(session, since=tomorrow)["count"] == 0
    assert workflow.signed_stats(session, until=tomorrow)["contract_ids"] == [contract.id]


def test_user_key_is_stored_encrypted(session, settings, deal):
    cred = session.scalar(select(SigningCredential).where(SigningCredential.user_id == deal.users["buyer"]))
    assert b"ENCRYPTED PRIVATE KEY" in cred.encrypted_key
    ca_key = (settings.contracts_dir / "ca" / "root.key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in ca_key


def test_re_enrolling_keeps_earlier_signatures_valid(session, settings, deal):
    contract = to_signed(session, settings, deal)
    signing.enroll(session, settings, deal.user(session, "buyer"), "a-new-signing-pw")
    assert signing.verify_document(session, settings, contract.signed_pdf).ok


def _fonts(pdf: bytes) -> list[tuple[str, str, bool]]:
    """(subtype, base font, embedded) of every font reachable from the catalog."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    seen: set[int] = set()
    found = []

    def walk(obj, depth: int = 0) -> None:  # noqa: ANN001
        if depth > 14:
            return
        if isinstance(obj, generic.IndirectObject):
            if obj.idnum in seen:
                return
            seen.add(obj.idnum)
            obj = obj.get_object()
        if isinstance(obj, generic.DictionaryObject):
            if obj.get("/Type") == "/Font" and obj.get("/Subtype") in ("/Type0", "/TrueType", "/Type1"):
                font = obj["/DescendantFonts"][0].get_object() if "/DescendantFonts" in obj else obj
                desc = font.get("/FontDescriptor")
                embedded = desc is not None and "/FontFile2" in desc.get_object()
                found.append((str(obj["/Subtype"]), str(obj["/BaseFont"]), embedded))
            for key, value in obj.items():
                if key != "/Parent":
                    walk(value, depth + 1)
        elif isinstance(obj, generic.ArrayObject):
            for value in obj:
                walk(value, depth + 1)

    walk(reader.root)
    return found


def test_chinese_text_and_both_stamps_use_embedded_truetype_subsets(session, settings, deal):
    contract = to_signed(session, settings, deal)
    cjk = [f for f in _fonts(contract.signed_pdf) if "WenQuanYi" in f[1]]
    assert cjk and all(embedded for _t, _name, embedded in cjk)
    assert all("+" in name for _t, name, _e in cjk)  # subsets, not the 10 MB face
    assert sum(1 for t, _n, _e in cjk if t == "/Type0") == 2  # one stamp font per signature
    assert len(contract.signed_pdf) < 1_000_000


def test_contract_from_an_event_meeting_with_a_cooperation_agreement(session, settings, deal):
    from datetime import date

    from marketplace.models import (
        Event,
        Meeting,
        MeetingOutcome,
        MeetingRequest,
        MeetingStatus,
        Organization,
        OrganizationKind,
        Outcome,
        RequestSource,
        RequestStatus,
    )

    org = Organization(name="测试协会", kind=OrganizationKind.ASSOCIATION)
    session.add(org)
    session.flush()
    event = Event(
        organization_id=org.id, title="锂电产业链对接会", start_date=date(2026, 12, 1), location="常州会展中心 2 号馆"
    )
    session.add(event)
    session.flush()
    req = MeetingRequest(
        event_id=event.id,
        from_firm_id=deal.buyer_firm,
        to_firm_id=deal.supplier_firm,
        source=RequestSource.REQUEST,
        status=RequestStatus.ACCEPTED,
    )
    session.add(req)
    session.flush()
    meeting = Meeting(
        event_id=event.id,
        request_id=req.id,
        large_firm_id=deal.buyer_firm,
        sme_firm_id=deal.supplier_firm,
        status=MeetingStatus.HELD,
    )
    session.add(meeting)
    session.flush()
    buyer = deal.user(session, "buyer")
    with pytest.raises(TransitionError, match="neither firm reported “Cooperation agreement”"):
        starting.start_from_meeting(session, buyer, meeting.id)
    session.add(
        MeetingOutcome(
            meeting_id=meeting.id, firm_id=deal.supplier_firm, outcome=Outcome.AGREEMENT, amount=150.0, note="首批试单"
        )
    )
    session.flush()
    session.refresh(meeting)
    with pytest.raises(PermissionDeniedError):
        starting.start_from_meeting(session, deal.user(session, "third"), meeting.id)
    contract = starting.start_from_meeting(session, buyer, meeting.id)
    fields = contract.rounds[0].fields
    assert contract.source.value == "meeting" and contract.source_ref == f"meeting:{meeting.id}"
    assert fields["amount"] == "1500000.00" and "锂电产业链对接会" in fields["extra_terms"]
    # the courts of the dispute clause are those of the buyer's registered region, not the venue
    assert fields["sign_place"] == "江苏"
    disputes = next(text for key, _title, text in workflow.clauses(contract) if key == "disputes")
    assert "提交江苏有管辖权的人民法院" in disputes and "会展中心" not in disputes
    assert starting.start_from_meeting(session, deal.user(session, "supplier"), meeting.id).id == contract.id


def test_pending_member_of_a_party_firm_is_denied(session, settings, deal):
    from marketplace.accounts.users import create_user
    from marketplace.models import Membership, Role

    contract = to_signing(session, settings, deal)
    pending = create_user(
        session,
        email="pending@t.cn",
        password="login-pass-1",
        name="待审批",
        role=Role.LARGE,
        firm_id=deal.buyer_firm,
        membership=Membership.PENDING,
    )
    for action in access.ACTIONS:
        with pytest.raises(NotFoundError, match=f"contract {contract.id} does not exist"):
            access.authorize(pending, contract, action)
    assert access.visible_contracts(session, pending) == []


def test_a_contract_cannot_be_started_from_a_demand_the_actor_may_not_see(session, settings, deal):
    """Its terms (products, quantity, budget) would be copied into the contract: a demand the actor
    cannot see answers like one that does not exist, whichever firm the actor names."""
    from marketplace.demands.workflow import create_demand
    from marketplace.errors import NotFoundError

    hidden = create_demand(
        session,
        {
            "owner_firm_id": deal.buyer_firm,
            "type": "supply_chain",
            "title": "保密的隔膜采购计划",
            "wanted_products": ["湿法隔膜"],
            "budget_max": 800,
            "visibility": "private",
            "publish": True,
        },
    )
    third = deal.user(session, "third")
    with pytest.raises(NotFoundError, match=f"demand {hidden.id} does not exist"):
        starting.start_contract(
            session, third, buyer_firm_id=deal.buyer_firm, supplier_firm_id=deal.third_firm, demand_id=hidden.id
        )
    assert access.visible_contracts(session, deal.user(session, "buyer")) == []
    # the owner starts one from it, with its terms
    contract = starting.start_contract(
        session,
        deal.user(session, "buyer"),
        buyer_firm_id=deal.buyer_firm,
        supplier_firm_id=deal.supplier_firm,
        demand_id=hidden.id,
    )
    assert contract.demand_id == hidden.id and "保密的隔膜采购计划" in contract.title


@pytest.mark.parametrize("amount", ["Infinity", "NaN", "1e400", "2e13"])
def test_an_amount_must_be_a_finite_real_sum(session, deal, amount):
    with pytest.raises(InputError, match="amount: enter an amount in yuan up to") as err:
        starting.start_contract(
            session,
            deal.user(session, "buyer"),
            buyer_firm_id=deal.buyer_firm,
            supplier_firm_id=deal.supplier_firm,
            fields={**FIELDS, "amount": amount},
        )
    assert err.value.field == "amount"


def test_a_counter_offer_cannot_blank_the_agreed_terms(session, deal):
    contract = starting.start_contract(
        session,
        deal.user(session, "buyer"),
        buyer_firm_id=deal.buyer_firm,
        supplier_firm_id=deal.supplier_firm,
        fields=FIELDS,
    )
    supplier = deal.user(session, "supplier")
    blank = {key: "" for key in FIELDS}  # what an emptied counter-offer form posts
    with pytest.raises(InputError, match="is required; change it rather than leave it blank"):
        workflow.counter(session, supplier, contract, blank)
    assert len(contract.rounds) == 1
    workflow.counter(session, supplier, contract, {"unit_price": "0.58"})
    assert contract.rounds[-1].fields["unit_price"] == "0.58"


def test_each_step_tells_the_side_that_acts_next(session, settings, deal):
    """Drafted, countered, accepted, sent back, approved by both, signed: the other firm's users
    (both firms' when signing opens) get a notification linking to the contract; the third firm none."""
    from marketplace.models import Notification

    def told() -> dict[str, set[str]]:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
        out: dict[str, set[str]] = {}
        for n in rows:
            who = next(k for k, v in deal.users.items() if v == n.user_id)
            out.setdefault(n.kind, set()).add(who)
        return out

    contract = to_signed(session, settings, deal)
    kinds = told()
    assert kinds["contract.create"] == {"supplier", "supplier_legal"}
    assert kinds["contract.edit"] == {"buyer", "buyer_legal"}  # the supplier's counter-offer
    assert kinds["contract.accept"] == {"supplier", "supplier_legal"}
    assert kinds["contract.finalise"] == {"buyer", "buyer_legal", "supplier", "supplier_legal"}
    assert kinds["contract.sign"] == {"buyer", "buyer_legal", "supplier", "supplier_legal"}  # each told of the other
    assert not any("third" in users for users in kinds.values())
    note = session.scalars(select(Notification).where(Notification.kind == "contract.edit")).first()
    assert note.link == f"/contracts/{contract.id}" and "第 2 轮条款" in note.title_zh and "round 2" in note.title_en
