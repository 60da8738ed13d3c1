"""Contract pages (云签约): list and approval queue, start (from scratch or an accepted match),
negotiation view with round diff and clause comments, approval, signing, downloads, the signing
key page, the public verification page, the CA/CRL downloads and the RFC 3161 TSA endpoint.

Every view reads contracts through :func:`marketplace.contracts.access.get_contract`, which
applies the one permission rule: whoever may not see a contract (another firm, organizers, admins)
gets 404, as if it did not exist; a party's user who may not do an action gets 403. A refused action
answers its status (400, 403, 404, 409) with the message in the reader's language.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from marketplace.accounts.permissions import acts_for_firms, viewer_of, visible_demands_clause
from marketplace.config import Settings
from marketplace.contracts import access, audit, pades, pki, signing, starting, workflow
from marketplace.contracts.templates import TEMPLATES, get_template
from marketplace.contracts.tsa import answer_query
from marketplace.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from marketplace.models import Contract, ContractStatus, Firm, Party, Role, SuggestionStatus, User
from web.db import commit, get_db
from web.extensions import csrf, require_role
from web.forms import ActionForm
from web.messages import flash_outcome, localized, page_locale
from web.params import form_choice, form_id, int_arg

bp = Blueprint("contracts", __name__, url_prefix="/contracts")
tsa_bp = Blueprint("tsa", __name__)
csrf.exempt(tsa_bp)  # machine-to-machine RFC 3161 endpoint, no session
MAX_PDF = 2 * 1024 * 1024


@bp.errorhandler(PermissionDeniedError)
def denied(exc: PermissionDeniedError):  # noqa: ANN201
    return render_template("errors/error.html", code=403, name=localized(exc), description=""), 403


@bp.errorhandler(ConflictError)
def conflict(exc: ConflictError):  # noqa: ANN201
    return render_template("errors/error.html", code=409, name=localized(exc), description=""), 409


@bp.errorhandler(NotFoundError)
def not_found(exc: NotFoundError):  # noqa: ANN201
    return render_template("errors/error.html", code=404, name=localized(exc), description=""), 404


def intent_label(intent: str) -> str:
    """How a signer proved intent, in the reader's language only: the stored value is bilingual
    (``签署密码 password``: the audit log and the API keep it as it was recorded)."""
    labels = {
        "签署密码 password": _("签署密码"),
        "签署密码+动态码 password+TOTP": _("签署密码 + 动态验证码"),
    }
    return labels.get(intent, intent)


@bp.context_processor
def contract_context() -> dict[str, Any]:
    """Contract pages show times in Beijing time, as the event pages do (one zone everywhere), and
    the intent check of each signature in the reader's language."""
    return {"local_time": workflow.local_time, "intent_label": intent_label}


def request_settings() -> Settings:
    """The app's settings for this request: when ``MARKETPLACE_PUBLIC_BASE_URL`` is unset, with the
    address this request came to, so that the verification link and QR code on a PDF rendered now
    open where the reader reached the platform (not a default port 5000). Only those links take it:
    the CA's CRL URLs (and its per-process cache) stay one per instance, whatever Host is sent."""
    settings: Settings = current_app.extensions["settings"]
    if settings.public_base_url or not has_request_context():
        return settings
    return settings.with_overrides(request_base_url=request.host_url)


_settings = request_settings  # the views' name for it


def _me() -> User:
    user = get_db().get(User, current_user.id)
    if user is None or access.acting_firm(user) is None:
        abort(403)  # contracts are for active members of a firm
    return user


def _csrf() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


def _load(contract_id: int, action: str = "view") -> tuple[Contract, User]:
    """The contract if the user may do ``action``: 404 for whoever may not see it (staff and users
    of other firms alike, as the API answers), 403 for a party's user who may not do the action."""
    user = get_db().get(User, current_user.id)
    if user is None:
        abort(404)
    return access.get_contract(get_db(), contract_id, user, action), user


def _done(error: InputError | None, ok: str, contract_id: int) -> Any:
    """Back to the contract with ``ok`` flashed, or with the refusal flashed in the reader's
    language (a required field still blank, an approval already given): the reader stays on the
    contract, as on the event pages, rather than on an error page that leads nowhere."""
    flash_outcome(error, ok)
    return redirect(url_for("contracts.detail", contract_id=contract_id))


def audit_label(action: str) -> str:
    """An audit entry's action in the reader's language (unknown actions as they are)."""
    labels = {
        "create": _("创建"),
        "edit": _("修改条款"),
        "comment": _("发表评论"),
        "accept": _("接受"),
        "designate": _("已指定审批人和签署人"),
        "approve": _("审批通过"),
        "reject": _("退回"),
        "finalise": _("定稿"),
        "sign": _("签署"),
        "view": _("查看"),
        "download": _("下载"),
        "verify": _("验证"),
        "export": _("导出"),
    }
    return labels.get(action, action)


# --- lists and starting --------------------------------------------------------------------


@bp.get("/")
@login_required
def index():  # noqa: ANN201
    user = _me()
    db = get_db()
    return render_template(
        "contracts/list.html",
        contracts=access.visible_contracts(db, user),
        queue=workflow.approval_queue(db, user),
        credential=signing.active_credential(db, user.id),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    user = _me()
    db = get_db()
    if request.method == "POST":
        _csrf()
        try:
            other = int(request.form.get("other_firm_id", ""))
        except ValueError:
            flash(_("请选择对方企业"), "error")
            return render_template("contracts/new.html", templates=TEMPLATES.values(), firms=_firms(db, user)), 400
        mine_is_buyer = form_choice("my_party", "buyer", ("buyer", "supplier")) == "buyer"
        contract, error = commit(
            lambda: starting.start_with_firm(
                db,
                user,
                other_firm_id=other,
                my_party="buyer" if mine_is_buyer else "supplier",
                template=request.form.get("template") or "supply_chain",
                fields={"title": request.form.get("title", "")} if request.form.get("title") else None,
            )
        )
        if error:
            flash(localized(error), "error")
            return render_template("contracts/new.html", templates=TEMPLATES.values(), firms=_firms(db, user)), 400
        flash(_("合同草稿已创建"), "success")
        return redirect(url_for("contracts.detail", contract_id=contract.id))
    return render_template("contracts/new.html", templates=TEMPLATES.values(), firms=_firms(db, user))


def _firms(db, user: User) -> list[Firm]:  # noqa: ANN001
    """Counterparties to offer: the other firms that have registered users, by name."""
    with_users = select(User.firm_id).where(User.firm_id.is_not(None), User.firm_id != user.firm_id)
    firms = list(db.scalars(select(Firm).where(Firm.id.in_(with_users)).order_by(Firm.name)))
    return firms


@bp.post("/from-suggestion/<int:suggestion_id>")
@login_required
def from_suggestion(suggestion_id: int):  # noqa: ANN201
    _csrf()
    user = _me()
    db = get_db()
    contract, error = commit(lambda: starting.start_from_suggestion(db, user, suggestion_id))
    if isinstance(error, NotFoundError):
        raise error  # 404, for a missing suggestion and another pair's alike
    if error:
        flash(localized(error), "error")
        return redirect(url_for("contracts.index"))
    flash(_("已根据匹配结果生成合同草稿"), "success")
    return redirect(url_for("contracts.detail", contract_id=contract.id))


@bp.get("/suggestions")
@login_required
def suggestions():  # noqa: ANN201
    """Accepted matches of the user's firm that can become contracts: on demands the user may
    see, as :func:`marketplace.contracts.starting.start_from_suggestion` requires."""
    from marketplace.models import Demand, MatchSuggestion

    user = _me()
    rows = get_db().scalars(
        select(MatchSuggestion)
        .join(Demand)
        .where(
            MatchSuggestion.status.in_([SuggestionStatus.ACCEPTED, SuggestionStatus.CONTACTED]),
            (Demand.owner_firm_id == user.firm_id) | (MatchSuggestion.firm_id == user.firm_id),
            visible_demands_clause(viewer_of(user)),
        )
    )
    return render_template("contracts/suggestions.html", suggestions=list(rows))


# --- one contract --------------------------------------------------------------------------


@bp.get("/<int:contract_id>")
@login_required
def detail(contract_id: int):  # noqa: ANN201
    contract, user = _load(contract_id)
    db = get_db()
    party = access.authorize(user, contract, "view")
    audit.record_access(db, user, contract, "view")
    db.commit()
    number = int_arg("round", len(contract.rounds), high=len(contract.rounds))
    colleagues = list(db.scalars(select(User).where(acts_for_firms([user.firm_id])))) if user.firm_id else []
    return render_template(
        "contracts/detail.html",
        contract=contract,
        party=party,
        template=get_template(contract.template),
        round=contract.rounds[number - 1],
        diff=workflow.round_diff(contract, number),
        clauses=workflow.clauses(contract, number, page_locale()),
        comments=workflow.comments(db, contract),
        latest=workflow.latest_round(contract),
        missing=workflow.missing_terms(contract),
        can_counter=workflow.may_counter(contract, user.firm_id),
        can_designate=workflow.may_designate(db, user, contract),
        can_approve=contract.status is ContractStatus.APPROVING
        and access.can(user, contract, "approve")
        and workflow.approval_of(db, contract, party) is None,
        can_sign=contract.status is ContractStatus.SIGNING
        and access.can(user, contract, "sign")
        and not any(s.party is party for s in contract.signatures)
        and (party is Party.BUYER or workflow.buyer_has_signed(contract)),
        colleagues=colleagues,
        audit=audit.audit_log(db, user, contract),
        audit_label=audit_label,
        Party=Party,
        form=ActionForm(),
    )


@bp.route("/<int:contract_id>/counter", methods=["GET", "POST"])
@login_required
def counter(contract_id: int):  # noqa: ANN201
    contract, user = _load(contract_id, "negotiate")
    if request.method == "GET":
        try:  # no edit form for terms that can no longer change (approving, signing, signed)
            workflow.require_negotiating(contract)
        except ConflictError as exc:
            flash(localized(exc), "error")
            return redirect(url_for("contracts.detail", contract_id=contract.id))
    template = get_template(contract.template)
    values = dict(workflow.latest_round(contract).fields)
    if request.method == "POST":
        _csrf()
        fields = {f.key: request.form.get(f.key, "") for f in template.fields}
        _rnd, error = commit(lambda: workflow.counter(get_db(), user, contract, fields, request.form.get("note", "")))
        if not error:
            flash(_("已提交新一轮条款"), "success")
            return redirect(url_for("contracts.detail", contract_id=contract.id))
        if isinstance(error, ConflictError):
            raise error
        flash(localized(error), "error")
        values.update(fields)
        return render_template("contracts/counter.html", contract=contract, template=template, values=values), 400
    return render_template("contracts/counter.html", contract=contract, template=template, values=values)


@bp.post("/<int:contract_id>/accept")
@login_required
def accept(contract_id: int):  # noqa: ANN201
    _csrf()
    contract, user = _load(contract_id, "negotiate")
    _r, error = commit(lambda: workflow.accept_round(get_db(), user, contract))
    return _done(error, _("已接受本轮条款，进入双方内部审批"), contract.id)


@bp.post("/<int:contract_id>/comment")
@login_required
def add_comment(contract_id: int):  # noqa: ANN201
    _csrf()
    contract, user = _load(contract_id, "negotiate")
    _r, error = commit(
        lambda: workflow.comment(
            get_db(), user, contract, request.form.get("clause", "general"), request.form.get("text", "")
        )
    )
    return _done(error, _("评论已发布"), contract.id)


@bp.post("/<int:contract_id>/designate")
@login_required
def designate(contract_id: int):  # noqa: ANN201
    _csrf()
    contract, user = _load(contract_id, "designate")
    approver_id, signer_id = form_id("approver_id"), form_id("signer_id")  # 400 naming the field
    _r, error = commit(
        lambda: workflow.designate(get_db(), user, contract, approver_id=approver_id, signer_id=signer_id)
    )
    return _done(error, _("已指定审批人和签署人"), contract.id)


@bp.post("/<int:contract_id>/approve")
@login_required
def approve(contract_id: int):  # noqa: ANN201
    _csrf()
    contract, user = _load(contract_id, "approve")
    approved = form_choice("decision", "approve", ("approve", "reject")) == "approve"
    _r, error = commit(
        lambda: workflow.approve(
            get_db(), _settings(), user, contract, approved=approved, note=request.form.get("note", "")
        )
    )
    return _done(error, _("审批已通过") if approved else _("已退回协商"), contract.id)


@bp.post("/<int:contract_id>/supplement")
@login_required
def supplement(contract_id: int):  # noqa: ANN201
    """A 补充协议 to a signed contract: a new contract with its own rounds and signatures."""
    _csrf()
    contract, user = _load(contract_id, "negotiate")
    new, error = commit(lambda: starting.start_supplement(get_db(), user, contract))
    if error:
        return _done(error, "", contract.id)
    flash(_("补充协议草稿已创建"), "success")
    return redirect(url_for("contracts.detail", contract_id=new.id))


@bp.route("/<int:contract_id>/sign", methods=["GET", "POST"])
@login_required
def sign(contract_id: int):  # noqa: ANN201
    contract, user = _load(contract_id, "sign")
    db = get_db()
    credential = signing.active_credential(db, user.id)
    status = 200
    if request.method == "POST":
        _csrf()
        try:
            _row, error = commit(
                lambda: signing.sign(
                    db,
                    _settings(),
                    user,
                    contract,
                    signing_password=request.form.get("signing_password", ""),
                    totp_code=request.form.get("totp_code") or None,
                    request_key=request.form.get("request_key") or None,
                )
            )
        except pades.SigningFailed as exc:
            db.rollback()
            flash(localized(exc), "error")  # that nothing was stored; the technical reason is in the log
            status = 503
        else:
            if error is None:
                flash(_("签署成功"), "success")
                return redirect(url_for("contracts.detail", contract_id=contract.id))
            if isinstance(error, ConflictError):
                raise error
            flash(localized(error), "error")
            status = 400
    # the buyer signs first: the supplier's page says so instead of offering a form the service refuses
    waits_for_buyer = contract.party_of_firm(user.firm_id) is Party.SUPPLIER and not workflow.buyer_has_signed(contract)
    return render_template(
        "contracts/sign.html",
        contract=contract,
        credential=credential,
        request_key=secrets.token_urlsafe(16),
        waits_for_buyer=waits_for_buyer,
    ), status


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/<int:contract_id>/contract.pdf")
@login_required
def download(contract_id: int):  # noqa: ANN201
    contract, user = _load(contract_id, "download")
    data = contract.signed_pdf or contract.unsigned_pdf
    if data is None:
        raise ConflictError("status: the PDF exists once both firms have approved the agreed round")
    db = get_db()
    audit.record_access(db, user, contract, "download", what="contract", sha256=hashlib.sha256(data).hexdigest())
    db.commit()
    return _pdf(data, f"{contract.number}.pdf")


@bp.get("/<int:contract_id>/certificate.pdf")
@login_required
def certificate(contract_id: int):  # noqa: ANN201
    contract, user = _load(contract_id, "download")
    db = get_db()
    data = signing.completion_certificate(db, _settings(), contract)
    audit.record_access(db, user, contract, "download", what="certificate")
    db.commit()
    return _pdf(data, f"{contract.number}-completion.pdf")


@bp.get("/<int:contract_id>/audit.json")
@login_required
def audit_json(contract_id: int):  # noqa: ANN201
    contract, user = _load(contract_id, "download")
    db = get_db()
    audit.record_access(db, user, contract, "download", what="audit")
    db.commit()
    entries = audit.audit_log(db, user, contract)
    for e in entries:  # the other firm's staff by firm and role, in the reader's language
        e["actor"] = e["actor"].label(page_locale())
    return {
        "contract": contract.number,
        "check": audit.verify_audit(db, contract.id).as_dict(),  # over the entries as recorded
        "entries": entries,
    }


# --- signing key ---------------------------------------------------------------------------


@bp.route("/signing-key", methods=["GET", "POST"])
@login_required
def signing_key():  # noqa: ANN201
    user = _me()
    db = get_db()
    totp_uri = None
    status = 200
    if request.method == "POST":
        _csrf()
        password = request.form.get("signing_password", "")
        if password != request.form.get("confirm", ""):
            flash(_("两次输入的签署密码不一致"), "error")
            status = 400
        else:
            result, error = commit(
                lambda: signing.enroll(db, _settings(), user, password, totp=bool(request.form.get("totp")))
            )
            if error:
                flash(localized(error), "error")
                status = 400
            else:
                totp_uri = result[1]
                flash(_("签署证书已签发"), "success")
    return render_template(
        "contracts/signing_key.html", credential=signing.active_credential(db, user.id), totp_uri=totp_uri
    ), status


# --- public: verification, CA, TSA ----------------------------------------------------------


@bp.route("/verify", methods=["GET", "POST"])
@bp.route("/verify/<token>", methods=["GET", "POST"])
def verify(token: str | None = None):  # noqa: ANN201
    """Anyone can check a contract PDF: upload it, or open the link / QR code printed on it."""
    db = get_db()
    report = None
    status = 200
    contract = db.scalar(select(Contract).where(Contract.token == token)) if token else None
    if token and contract is None:
        abort(404)
    if request.method == "POST":
        _csrf()
        upload = request.files.get("file")
        data = upload.read(MAX_PDF + 1) if upload else b""
        if not data or len(data) > MAX_PDF or b"%PDF-" not in data[:1024]:  # the header PDF readers look for
            flash(_("请上传不超过 2 MB 的 PDF 文件"), "error")
            status = 400
        else:
            report = signing.verify_document(db, _settings(), data)
            db.commit()
    elif contract is not None and contract.signed_pdf:
        report = signing.verify_document(db, _settings(), contract.signed_pdf)
        db.commit()
    return render_template("contracts/verify.html", report=report, contract=contract, token=token), status


@bp.get("/pki/root.pem")
def root_pem():  # noqa: ANN201
    return Response(pki.pem(signing.platform_ca(_settings()).root.cert), mimetype="application/x-pem-file")


@bp.get("/pki/issuing.pem")
def issuing_pem():  # noqa: ANN201
    return Response(pki.pem(signing.platform_ca(_settings()).issuing.cert), mimetype="application/x-pem-file")


@bp.get("/pki/crl")
def crl():  # noqa: ANN201
    data = signing.current_crl(get_db(), _settings()).public_bytes(serialization.Encoding.DER)
    return Response(data, mimetype="application/pkix-crl")


@bp.get("/pki/crl/root")
def root_crl():  # noqa: ANN201
    data = signing.current_crls(get_db(), _settings())[1].public_bytes(serialization.Encoding.DER)
    return Response(data, mimetype="application/pkix-crl")


@tsa_bp.post("/tsa")
def tsa():  # noqa: ANN201
    """RFC 3161 over HTTP: POST a DER TimeStampReq as application/timestamp-query."""
    if request.mimetype != "application/timestamp-query":
        abort(415)
    body = request.get_data(cache=False)
    if len(body) > 64 * 1024:
        abort(413)
    answer = answer_query(signing.platform_ca(_settings()), body)
    return Response(answer, mimetype="application/timestamp-reply")


# --- organizer statistics ------------------------------------------------------------------


@bp.get("/stats")
@login_required
def stats():  # noqa: ANN201
    require_role(Role.ORGANIZER)
    return render_template("contracts/stats.html", stats=workflow.signed_stats(get_db()), templates=TEMPLATES)
