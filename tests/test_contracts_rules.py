"""Contract rules found by the audit: who designates approvers and signers, strict amounts and
field lengths, notes refused rather than cut, no comments after negotiation, certificate subjects
that X.509 accepts, signing-password bounds, and a renderer that never fails on long text."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import func, select

from marketplace.contracts import pki, render, signing, starting, workflow
from marketplace.contracts.templates import MAX_PLACE, MAX_TITLE, clean_fields, get_template
from marketplace.errors import ConflictError, InputError, PermissionDeniedError, TransitionError
from marketplace.models import ContractAuditEntry, ContractStatus, SigningCredential
from tests.contracts_helpers import FIELDS, SIGNING_PASSWORD, make_deal, to_signed, to_signing


@pytest.fixture
def deal(session, settings):
    return make_deal(session, settings, enroll=False)


def _draft(session, deal):
    return starting.start_contract(
        session,
        deal.user(session, "buyer"),
        buyer_firm_id=deal.buyer_firm,
        supplier_firm_id=deal.supplier_firm,
        template="supply_chain",
        fields=FIELDS,
    )


def _entries(session, contract) -> int:
    return session.scalar(
        select(func.count()).select_from(ContractAuditEntry).where(ContractAuditEntry.contract_id == contract.id)
    )


# --- designation -------------------------------------------------------------------------------


def test_a_member_cannot_designate_themselves_approver_or_signer(session, deal):
    contract = _draft(session, deal)
    legal = deal.user(session, "buyer_legal")  # a member of the buyer firm, not its administrator
    before = (contract.buyer_approver_id, contract.buyer_signer_id, _entries(session, contract))
    for role in ("approver_id", "signer_id"):
        with pytest.raises(PermissionDeniedError):
            workflow.designate(session, legal, contract, **{role: legal.id})
    assert (contract.buyer_approver_id, contract.buyer_signer_id, _entries(session, contract)) == before


def test_a_member_who_is_not_the_firm_administrator_cannot_designate_anyone(session, deal):
    contract = _draft(session, deal)
    legal = deal.user(session, "buyer_legal")
    with pytest.raises(PermissionDeniedError, match="administrator"):
        workflow.designate(session, legal, contract, approver_id=deal.users["buyer"])
    assert not workflow.may_designate(session, legal, contract)
    assert workflow.may_designate(session, deal.user(session, "buyer"), contract)


def test_the_firm_administrator_cannot_take_a_role_held_by_a_colleague(session, deal):
    contract = _draft(session, deal)
    admin = deal.user(session, "buyer")
    workflow.designate(
        session, admin, contract, approver_id=deal.users["buyer_legal"], signer_id=deal.users["buyer_legal"]
    )
    for role in ("approver_id", "signer_id"):
        with pytest.raises(PermissionDeniedError, match="yourself") as err:
            workflow.designate(session, admin, contract, **{role: admin.id})
        assert err.value.field == role
    assert contract.buyer_approver_id == contract.buyer_signer_id == deal.users["buyer_legal"]


def test_the_firm_administrator_designates_and_may_keep_a_role_they_hold(session, deal):
    contract = _draft(session, deal)
    admin = deal.user(session, "buyer")  # started the contract: approver and signer until they designate
    workflow.designate(session, admin, contract, approver_id=deal.users["buyer_legal"], signer_id=admin.id)
    assert contract.buyer_approver_id == deal.users["buyer_legal"] and contract.buyer_signer_id == admin.id


def test_without_a_firm_administrator_the_user_who_started_the_contract_designates(session, deal):
    for who in ("buyer", "supplier"):
        deal.user(session, who).is_firm_admin = False
    session.flush()
    contract = _draft(session, deal)
    buyer, legal = deal.user(session, "buyer"), deal.user(session, "buyer_legal")
    supplier, supplier_legal = deal.user(session, "supplier"), deal.user(session, "supplier_legal")
    workflow.designate(session, buyer, contract, approver_id=legal.id)
    assert contract.buyer_approver_id == legal.id
    with pytest.raises(PermissionDeniedError):
        workflow.designate(session, legal, contract, signer_id=legal.id)
    # the supplier side: nobody has acted for it yet, so nobody designates for it
    with pytest.raises(PermissionDeniedError):
        workflow.designate(session, supplier, contract, approver_id=supplier_legal.id)
    workflow.counter(session, supplier, contract, {"unit_price": "0.58"})  # the supplier side starts here
    workflow.designate(session, supplier, contract, approver_id=supplier_legal.id)
    assert contract.supplier_approver_id == supplier_legal.id
    with pytest.raises(PermissionDeniedError):
        workflow.designate(session, supplier_legal, contract, signer_id=supplier_legal.id)


# --- amounts, lengths, notes, comments ----------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        ("1.23456", "at most two decimal places"),
        ("1e-7", "at most two decimal places"),
        ("12,34,5", "thousands separator"),
        ("1,2345", "thousands separator"),
        ("1,234.567", "at most two decimal places"),
    ],
)
def test_an_amount_is_refused_rather_than_rewritten(amount, problem):
    with pytest.raises(InputError, match=problem) as err:
        clean_fields(get_template("supply_chain"), {"amount": amount}, partial=True)
    assert err.value.field == "amount"


@pytest.mark.parametrize(
    ("amount", "stored"),
    [("-0", "0.00"), ("-0.00", "0.00"), ("1,234,567.89", "1234567.89"), ("1.230", "1.23"), ("1200000", "1200000.00")],
)
def test_an_amount_is_stored_with_two_decimals_and_minus_zero_is_zero(amount, stored):
    assert clean_fields(get_template("supply_chain"), {"amount": amount}, partial=True)["amount"] == stored


@pytest.mark.parametrize(("key", "limit"), [("sign_place", MAX_PLACE), ("title", MAX_TITLE)])
def test_short_single_line_fields_have_a_maximum_length(key, limit):
    tpl = get_template("supply_chain")
    assert clean_fields(tpl, {key: "上" * limit}, partial=True)[key] == "上" * limit
    with pytest.raises(InputError, match=f"{key}: at most {limit} characters") as err:
        clean_fields(tpl, {key: "上" * (limit + 1)}, partial=True)
    assert err.value.field == key


def test_a_long_demand_title_is_cut_to_the_title_length_when_prefilled(session, deal):
    tpl = get_template("supply_chain")
    buyer, supplier = deal.user(session, "buyer").firm, deal.user(session, "supplier").firm
    values = starting.prefill_fields(tpl, buyer, supplier, None, {"title": "长" * 500, "sign_place": "地" * 500})
    assert len(values["title"]) == MAX_TITLE and len(values["sign_place"]) == MAX_PLACE


def test_a_note_over_2000_characters_is_refused_not_cut(session, settings, deal):
    contract = _draft(session, deal)
    supplier = deal.user(session, "supplier")
    with pytest.raises(InputError, match="note: at most 2,000 characters") as err:
        workflow.counter(session, supplier, contract, {"unit_price": "0.58"}, note="备" * 2001)
    assert err.value.field == "note" and len(contract.rounds) == 1
    workflow.counter(session, supplier, contract, {"unit_price": "0.58"}, note="备" * 2000)
    assert len(contract.rounds[-1].note) == 2000
    workflow.accept_round(session, deal.user(session, "buyer"), contract)
    with pytest.raises(InputError, match="note: at most 2,000 characters") as err:
        workflow.approve(session, settings, deal.user(session, "buyer"), contract, note="审" * 2001)
    assert err.value.field == "note"


def test_comments_are_refused_once_negotiation_is_over(session, settings, deal):
    for who in ("buyer", "supplier"):
        signing.enroll(session, settings, deal.user(session, who), SIGNING_PASSWORD)
    contract = to_signed(session, settings, deal)
    assert contract.status is ContractStatus.SIGNED
    with pytest.raises(ConflictError) as err:
        workflow.comment(session, deal.user(session, "buyer"), contract, "general", "签完还能评论吗")
    assert err.value.field == "status"
    with pytest.raises(TransitionError):
        workflow.require_negotiating(contract)


# --- certificates and signing passwords ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("王😀", "王"),
        ("王\u202e\u200b", "王"),
        ("𠀋𠀌", "𠀋𠀌"),
        ("  李  四 ", "李 四"),
        ("مرحبا ABC", "ABC"),
        ("😀", "fb"),
    ],
)
def test_certificate_subject_keeps_the_readable_part_of_a_name(raw, kept):
    assert pki.subject_text(raw, fallback="fb") == kept
    assert pki.name_usable(kept)


def test_a_user_and_firm_with_emoji_in_their_names_can_sign(session, settings, deal):
    buyer = deal.user(session, "buyer")
    buyer.name = "王😀"
    buyer.firm.name = "测试😀采购集团"
    session.flush()
    for who in ("buyer", "supplier"):
        signing.enroll(session, settings, deal.user(session, who), SIGNING_PASSWORD)
    cert = x509.load_pem_x509_certificate(signing.active_credential(session, buyer.id).cert_pem.encode())
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    org = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    assert (cn, org) == ("王", "测试采购集团")
    contract = to_signing(session, settings, deal)
    row = signing.sign(session, settings, buyer, contract, signing_password=SIGNING_PASSWORD)
    assert row.party.value == "buyer"
    assert signing.verify_document(session, settings, contract.signed_pdf).ok


def test_a_certificate_issued_with_an_unusable_name_asks_to_enroll_again(session, settings, deal):
    for who in ("buyer", "supplier"):
        signing.enroll(session, settings, deal.user(session, who), SIGNING_PASSWORD)
    contract = to_signing(session, settings, deal)
    buyer = deal.user(session, "buyer")
    cred = signing.active_credential(session, buyer.id)
    old = x509.load_pem_x509_certificate(cred.cert_pem.encode())
    ca = signing.platform_ca(settings)
    bad = (  # what enrolment issued before subjects were made safe
        x509.CertificateBuilder()
        .subject_name(pki._name("王😀", org="测试", unit="ChainMatch signer"))
        .issuer_name(ca.issuing.cert.subject)
        .public_key(old.public_key())
        .serial_number(old.serial_number)
        .not_valid_before(old.not_valid_before_utc)
        .not_valid_after(old.not_valid_after_utc)
        .sign(ca.issuing.key, hashes.SHA256())
    )
    cred.cert_pem = pki.pem(bad).decode()
    with pytest.raises(InputError, match="set your signing password again") as err:
        signing.sign(session, settings, buyer, contract, signing_password=SIGNING_PASSWORD)
    assert err.value.field == "signing_password" and contract.signatures == []


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("x" * 129, "at most 128 characters"),
        ("x" * 100_000, "at most 128 characters"),
        (" " * 8, "invisible"),
        ("\u200b" * 8, "invisible"),
        ("\u3000\t \u200d\ufeff\u2060  ", "invisible"),
    ],
)
def test_a_signing_password_too_long_or_without_visible_characters_is_refused(
    session, settings, deal, password, problem
):
    with pytest.raises(InputError, match=problem) as err:
        signing.enroll(session, settings, deal.user(session, "buyer"), password)
    assert err.value.field == "signing_password"
    assert session.scalar(select(func.count()).select_from(SigningCredential)) == 0


def test_the_longest_signing_password_enrolls_and_a_longer_one_cannot_sign(session, settings, deal):
    longest = "密" * 128  # 384 bytes in UTF-8
    for who in ("buyer", "supplier"):
        signing.enroll(session, settings, deal.user(session, who), longest)
    contract = to_signing(session, settings, deal)
    with pytest.raises(InputError, match="at most 128 characters") as err:
        signing.sign(session, settings, deal.user(session, "buyer"), contract, signing_password="x" * 2000)
    assert err.value.field == "signing_password"
    signing.sign(session, settings, deal.user(session, "buyer"), contract, signing_password=longest)


# --- rendering -----------------------------------------------------------------------------------


def _document(values: dict[str, str], buyer: str = "B", supplier: str = "S") -> render.ContractDocument:
    return render.ContractDocument(
        number="CM-2026-000001",
        token="t",
        template=get_template("supply_chain"),
        values=values,
        buyer=buyer,
        supplier=supplier,
        round_number=1,
        content_hash="h" * 64,
        verify_url="http://localhost/contracts/verify/t",
        audit_head="a" * 64,
        finalised_at="2026-01-01 00:00",
    )


def test_the_longest_allowed_values_render(settings):
    font = render.cjk_font(settings.contracts_font_cache, settings.contracts_font)
    tpl = get_template("supply_chain")
    longest = {f.key: ("长" if f.kind != "money" else "") * f.max_length for f in tpl.fields}
    longest["amount"] = "10000000000000.00"
    values = clean_fields(tpl, longest)  # every value at its maximum is accepted ...
    pdf = render.render_contract(_document(values, buyer="买" * 255, supplier="卖" * 255), font)
    assert pdf.startswith(b"%PDF")  # ... and renders


@pytest.mark.parametrize("place", ["上" * 20000, "A" * 20000, "上海 " * 5000])
def test_a_parties_table_cell_taller_than_a_page_continues_on_the_next(settings, place):
    font = render.cjk_font(settings.contracts_font_cache, settings.contracts_font)
    pdf = render.render_contract(_document({**FIELDS, "sign_place": place}), font)  # no LayoutError
    assert pdf.startswith(b"%PDF")


def test_every_party_and_article_of_every_template_has_an_english_heading():
    from marketplace.contracts.templates import HEADINGS_EN, TEMPLATES, render_clauses

    for template in TEMPLATES.values():
        assert template.party_a in HEADINGS_EN and template.party_b in HEADINGS_EN, template.code
        for clause in template.clauses:
            assert clause.title in HEADINGS_EN, (template.code, clause.title)
        english = render_clauses(template, {}, "en")
        assert [t for _k, t, _x in english][0].startswith("Article 1. ")
        # only the headings change: the article texts are the Chinese ones
        assert [x for *_r, x in english] == [x for *_r, x in render_clauses(template, {})]


# --- the public address on PDFs ------------------------------------------------------------------


def test_an_unset_public_base_url_is_told_apart_from_the_default(tmp_path):
    """Unset, pages use the address of the request they serve and the CLI the default; set, it
    wins everywhere; an address that is not http(s) is refused naming the variable."""
    from marketplace.config import DEFAULT_PUBLIC_BASE_URL, ConfigError, Settings

    env = {"MARKETPLACE_INSTANCE_DIR": str(tmp_path)}
    unset = Settings.from_env(env)
    assert unset.public_base_url == ""
    assert unset.site_url() == DEFAULT_PUBLIC_BASE_URL == "http://127.0.0.1:5000"
    assert unset.site_url("http://192.168.1.20:8000/") == "http://192.168.1.20:8000"
    chosen = Settings.from_env({**env, "MARKETPLACE_PUBLIC_BASE_URL": "https://chainmatch.example.cn/"})
    assert chosen.site_url("http://192.168.1.20:8000/") == chosen.site_url() == "https://chainmatch.example.cn"
    with pytest.raises(ConfigError, match="MARKETPLACE_PUBLIC_BASE_URL"):
        Settings.from_env({**env, "MARKETPLACE_PUBLIC_BASE_URL": "chainmatch.example.cn"})
