"""JSON API of contracts under /api/v1/contracts (APIFlask, Bearer tokens like web/demands/api.py):
list, read, start, counter, accept, approve, sign, download and verify. Permission comes from
:func:`marketplace.contracts.access.authorize`: whoever may not see a contract gets 404 (as on
the pages), a party's user who may not do the action 403; conflicts are 409."""

from __future__ import annotations

import base64
from typing import Any

from apiflask import Schema, abort
from apiflask.fields import Boolean, Dict, Float, Integer, List, String
from apiflask.schemas import FileSchema
from apiflask.validators import Length, OneOf, Regexp
from flask import Response

from marketplace.contracts import access, audit, signing, starting, workflow
from marketplace.contracts.pki import MAX_SIGNING_PASSWORD
from marketplace.contracts.templates import TEMPLATES
from marketplace.errors import MarketplaceError
from marketplace.models import User
from web.api_fields import Id, JsonBoolean
from web.contracts.pages import MAX_PDF, request_settings
from web.db import get_db
from web.demands.api import auth
from web.errors import api_fail, contract_detail
from web.extensions import api_blueprint

bp = api_blueprint("api_contracts", __name__, "/api/v1/contracts", "Contracts")


def _me() -> User:
    return get_db().get(User, auth.current_user.id)


def _settings():  # noqa: ANN202
    return request_settings()  # the request's address on PDFs when MARKETPLACE_PUBLIC_BASE_URL is unset


def _run(action) -> Any:  # noqa: ANN001
    """Run a service call and commit; a service error rolls back and answers as web.errors maps it
    (a hidden contract as a missing one: the same message and detail)."""
    db = get_db()
    try:
        result = action()
        db.commit()
        return result
    except MarketplaceError as exc:
        db.rollback()
        api_fail(exc, contract_detail(exc))


def _contract(contract_id: int, action: str = "view"):  # noqa: ANN202
    return _run(lambda: access.get_contract(get_db(), contract_id, _me(), action))


class ContractOut(Schema):
    id = Integer()
    number = String()
    title = String()
    template = String()
    status = String()
    source = String()
    source_ref = String(allow_none=True)
    buyer_firm_id = Integer()
    buyer = String()
    supplier_firm_id = Integer()
    supplier = String()
    demand_id = Integer(allow_none=True)
    parent_id = Integer(allow_none=True)
    amount = Float(allow_none=True)
    rounds = List(Dict())
    final_round_id = Integer(allow_none=True)
    signatures = List(Dict())
    unsigned_sha256 = String(allow_none=True)
    signed_sha256 = String(allow_none=True)
    signed_at = String(allow_none=True)


class ContractList(Schema):
    items = List(Dict())


class StartIn(Schema):
    other_firm_id = Id(required=True)
    my_party = String(load_default="buyer", validate=OneOf(["buyer", "supplier"]))
    template = String(load_default="supply_chain", validate=OneOf(list(TEMPLATES)))
    demand_id = Id(allow_none=True)
    suggestion_id = Id(allow_none=True)
    fields = Dict(load_default=dict)


class CounterIn(Schema):
    fields = Dict(required=True)
    note = String(load_default="", validate=Length(max=2000))


class ApproveIn(Schema):
    approved = JsonBoolean(load_default=True)
    note = String(load_default="", validate=Length(max=2000))


class SignIn(Schema):
    signing_password = String(required=True, validate=Length(min=1, max=MAX_SIGNING_PASSWORD))
    totp_code = String(allow_none=True)
    request_key = String(allow_none=True, validate=Length(max=64))


class SignOut(Schema):
    party = String()
    intent = String()
    timestamp = String(allow_none=True)
    pdf_sha256 = String()
    status = String()


# base64 of a document that starts with the PDF header "%PDF-" (what the verify page reads)
PDF_BASE64 = r"^JVBERi0[A-Za-z0-9+/]([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})?$"


class VerifyIn(Schema):
    pdf_base64 = String(
        required=True,
        validate=[
            Regexp(PDF_BASE64, error="not a PDF, base64-encoded"),
            Length(max=(MAX_PDF + 2) // 3 * 4, error="not a PDF of at most 2 MB"),
        ],
        metadata={"description": "the contract PDF (at most 2 MB), base64-encoded"},
    )


class VerifyOut(Schema):
    ok = Boolean()
    problems = List(String())
    token = String(allow_none=True)
    content_hash = String(allow_none=True)
    record = Dict()
    signatures = List(Dict())


class StatsOut(Schema):
    count = Integer()
    amount = Float()
    by_template = Dict()
    contract_ids = List(Integer())


@bp.get("")
@bp.auth_required(auth)
@bp.output(ContractList)
def list_contracts():  # noqa: ANN201
    rows = access.visible_contracts(get_db(), _me())
    return {"items": [{k: v for k, v in workflow.contract_dict(c).items() if k != "rounds"} for c in rows]}


@bp.post("")
@bp.auth_required(auth)
@bp.input(StartIn, arg_name="data")
@bp.output(ContractOut, status_code=201)
def start(data: dict[str, Any]):  # noqa: ANN201
    me = _me()
    db = get_db()
    if data.get("suggestion_id"):
        contract = _run(lambda: starting.start_from_suggestion(db, me, data["suggestion_id"], fields=data["fields"]))
    else:
        contract = _run(
            lambda: starting.start_with_firm(
                db,
                me,
                other_firm_id=data["other_firm_id"],
                my_party=data["my_party"],
                template=data["template"],
                demand_id=data.get("demand_id"),
                fields=data["fields"],
            )
        )
    return workflow.contract_dict(contract)


@bp.get("/<int:contract_id>")
@bp.auth_required(auth)
@bp.output(ContractOut)
def get_one(contract_id: int):  # noqa: ANN201
    contract = _contract(contract_id)
    _run(lambda: audit.record_access(get_db(), _me(), contract, "view", via="api"))
    return workflow.contract_dict(contract)


@bp.post("/<int:contract_id>/counter")
@bp.auth_required(auth)
@bp.input(CounterIn, arg_name="data")
@bp.output(ContractOut, status_code=201)
def counter(contract_id: int, data: dict[str, Any]):  # noqa: ANN201
    contract = _contract(contract_id)
    _run(lambda: workflow.counter(get_db(), _me(), contract, data["fields"], data["note"]))
    return workflow.contract_dict(contract)


@bp.post("/<int:contract_id>/accept")
@bp.auth_required(auth)
@bp.output(ContractOut)
def accept(contract_id: int):  # noqa: ANN201
    contract = _contract(contract_id)
    _run(lambda: workflow.accept_round(get_db(), _me(), contract))
    return workflow.contract_dict(contract)


@bp.post("/<int:contract_id>/approve")
@bp.auth_required(auth)
@bp.input(ApproveIn, arg_name="data")
@bp.output(ContractOut)
def approve(contract_id: int, data: dict[str, Any]):  # noqa: ANN201
    contract = _contract(contract_id)
    _run(lambda: workflow.approve(get_db(), _settings(), _me(), contract, approved=data["approved"], note=data["note"]))
    return workflow.contract_dict(contract)


@bp.post("/<int:contract_id>/sign")
@bp.auth_required(auth)
@bp.input(SignIn, arg_name="data")
@bp.output(SignOut, status_code=201)
def sign(contract_id: int, data: dict[str, Any]):  # noqa: ANN201
    """Sign for your firm with your own key: the signing password (and TOTP code when enrolled)
    is the fresh proof of intent. Send a ``request_key`` to make retries safe."""
    contract = _contract(contract_id)
    row = _run(
        lambda: signing.sign(
            get_db(),
            _settings(),
            _me(),
            contract,
            signing_password=data["signing_password"],
            totp_code=data.get("totp_code"),
            request_key=data.get("request_key"),
        )
    )
    return {
        "party": row.party.value,
        "intent": row.intent,
        "timestamp": row.timestamp.isoformat() if row.timestamp else None,
        "pdf_sha256": row.pdf_sha256,
        "status": contract.status.value,
    }


@bp.get("/<int:contract_id>/pdf")
@bp.auth_required(auth)
@bp.output(
    FileSchema(type="string", format="binary"),
    content_type="application/pdf",
    description="The contract PDF (signed revision when signed)",
)
@bp.doc(responses={409: "No PDF yet: it exists once both firms have approved the agreed round"})
def pdf(contract_id: int):  # noqa: ANN201
    contract = _contract(contract_id, "download")
    data = contract.signed_pdf or contract.unsigned_pdf
    if data is None:
        abort(409, message="the PDF exists once both firms have approved the agreed round")
    _run(lambda: audit.record_access(get_db(), _me(), contract, "download", via="api"))
    return Response(data, mimetype="application/pdf")


@bp.post("/verify")
@bp.input(VerifyIn, arg_name="data")
@bp.output(VerifyOut)
def verify(data: dict[str, Any]):  # noqa: ANN201
    """Public: verify a contract PDF (base64) like `contracts verify FILE --json`. Input that is
    not a PDF at all answers 400 (as the verification page does); a PDF whose signatures do not
    verify answers 200 with ``ok: false`` and the problems."""
    try:
        raw = base64.b64decode(data["pdf_base64"], validate=True)
    except ValueError:
        abort(400, message="pdf_base64: not valid base64", detail={"pdf_base64": "not valid base64"})
    if not raw or len(raw) > MAX_PDF or b"%PDF-" not in raw[:1024]:  # the header PDF readers look for
        problem = "not a PDF of at most 2 MB; send the contract PDF, base64-encoded"
        abort(400, message=f"pdf_base64: {problem}", detail={"pdf_base64": problem})
    return _run(lambda: signing.verify_document(get_db(), _settings(), raw)).as_dict()


@bp.get("/stats")
@bp.auth_required(auth)
@bp.output(StatsOut)
def stats():  # noqa: ANN201
    """Organizers and admins: signed contracts and amounts (签约数 / 金额)."""
    if not access.is_staff(_me()):
        abort(403, message="organizers and admins only")
    return workflow.signed_stats(get_db())
