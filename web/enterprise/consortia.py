"""Consortium pages: a large firm posts a procurement project, asks for line-ups, invites members;
invited firms answer; organizers see the SME share achieved across projects."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.enterprise.consortia import (
    can_answer,
    can_manage_project,
    can_view_project,
    create_project,
    finalize,
    invitations_for,
    invite,
    list_projects,
    propose,
    respond,
    sme_share_report,
)
from marketplace.enterprise.tiers import report_region
from marketplace.errors import InputError, TransitionError, msg
from marketplace.models import ConsortiumMember, ProcurementProject, Role, User
from web.db import commit, get_db
from web.extensions import require_role
from web.matching_engine import get_engine
from web.messages import localized, refuse

bp = Blueprint("consortia", __name__, url_prefix="/consortia")


def visible_project(project_id: int) -> ProcurementProject:
    db = get_db()
    project = db.get(ProcurementProject, project_id)
    if project is None or not can_view_project(db, current_user, project):
        abort(404)  # a project one may not see is not shown to exist (as demands and events)
    return project


def managed_project(project_id: int) -> ProcurementProject:
    project = visible_project(project_id)
    if not can_manage_project(current_user, project):
        abort(403)
    return project


@bp.get("/")
@login_required
def index():  # noqa: ANN201
    db = get_db()
    projects = list_projects(db, user=current_user)
    invitations = invitations_for(db, current_user.firm_id) if current_user.firm_id else []
    return render_template(
        "consortia/index.html",
        projects=projects,
        invitations=invitations,
        can_post=can_manage_project(current_user),
    )


def _parse_lots(text: str) -> list[dict[str, Any]]:
    """One lot a line: ``title | product、product | budget (万元) | capabilities``."""
    lots = []
    for n, line in enumerate([ln for ln in (text or "").splitlines() if ln.strip()], start=1):
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        if len(parts) < 3:
            hint = msg("lots: line %(n)s needs title | products | budget, e.g. separators | films | 1200", n=n)
            raise InputError(hint, field="lots")
        lots.append(
            {
                "title": parts[0],
                "products": [p for p in parts[1].replace("，", "、").replace(",", "、").split("、") if p.strip()],
                "budget": parts[2],
                "capabilities": parts[3] if len(parts) > 3 else "",
            }
        )
    return lots


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    if not can_manage_project(current_user) or current_user.firm_id is None:
        abort(403)
    error = None
    if request.method == "POST":
        db = get_db()

        def action() -> ProcurementProject:
            share = (request.form.get("sme_share") or "0").strip()
            try:
                share_value: Any = float(share) / 100
            except ValueError:
                share_value = None
            # the form asks for a percentage (the service takes a fraction): say it in the form's terms
            if share_value is None or not 0 <= share_value <= 1:
                raise InputError(
                    msg("sme_share: give the reserved SME share in percent, 0 to 100 (e.g. 30)"), field="sme_share"
                )
            data = {
                "title": request.form.get("title", ""),
                "description": request.form.get("description", ""),
                "region": request.form.get("region", ""),
                "deadline": request.form.get("deadline", ""),
                "sme_share": share_value,
                "lots": _parse_lots(request.form.get("lots", "")),
            }
            return create_project(db, current_user.firm_id, data)

        project, error = commit(action)
        if error is None:
            flash(_("采购项目已创建"), "success")
            return redirect(url_for("consortia.detail", project_id=project.id))
    return render_template("consortia/form.html", values=request.form, error=error), 400 if error else 200


@bp.get("/<int:project_id>")
@login_required
def detail(project_id: int):  # noqa: ANN201
    project = visible_project(project_id)
    return _detail(project, None)


def _detail(project: ProcurementProject, proposal: dict[str, Any] | None, status: int = 200):  # noqa: ANN202
    from marketplace.enterprise.consortia import agreement

    mine = [m for m in project.members if current_user.firm_id and m.firm_id == current_user.firm_id]
    return (
        render_template(
            "consortia/detail.html",
            project=project,
            proposal=proposal,
            terms=agreement(project),
            manage=can_manage_project(current_user, project),
            mine=mine,
        ),
        status,
    )


@bp.post("/<int:project_id>/propose")
@login_required
def run_propose(project_id: int):  # noqa: ANN201
    project = managed_project(project_id)
    proposal = propose(get_engine(), project)
    if proposal.get("message"):  # why no line-up meets the reserved SME share, in the reader's language
        proposal["message"] = localized(proposal["message"])
    return _detail(project, proposal)


@bp.post("/<int:project_id>/invite")
@login_required
def send_invitations(project_id: int):  # noqa: ANN201
    """Invite one member (lot_id, firm_id, share %) or a whole line-up (pairs ``lot:firm``)."""
    project = managed_project(project_id)
    db = get_db()
    pairs = request.form.getlist("pair")
    if not pairs and request.form.get("lot_id") and request.form.get("firm_id"):
        pairs = [f"{request.form['lot_id']}:{request.form['firm_id']}"]
    try:
        share = float(request.form.get("share") or 100) / 100
        parsed = [(int(lot), int(firm)) for lot, firm in (p.split(":", 1) for p in pairs)]
    except ValueError:  # not a number, or no "lot:firm" pair
        abort(400, description=_("邀请参数无效"))
    if not parsed:
        abort(400, description=_("请选择要邀请的企业"))

    def action() -> int:
        for lot_id, firm_id in parsed:
            reasons = request.form.getlist(f"reasons_{lot_id}_{firm_id}")
            invite(db, project, lot_id, firm_id, share=share, reasons=reasons)
        return len(parsed)

    count, error = commit(action)
    if error is not None:
        abort(409 if isinstance(error, TransitionError) else 400, description=localized(error))
    flash(_("已发出 %(n)s 份邀请", n=count), "success")
    return redirect(url_for("consortia.detail", project_id=project.id))


@bp.post("/members/<int:member_id>/<any(accept, decline):action>")
@login_required
def answer(member_id: int, action: str):  # noqa: ANN201
    db = get_db()
    member = db.get(ConsortiumMember, member_id)
    if member is None or not can_view_project(db, current_user, member.project):
        abort(404)  # an invitation to a project one may not see is not shown to exist (as the project)
    if not can_answer(current_user, member):
        abort(403)
    _m, error = commit(lambda: respond(db, member, accept=action == "accept"))
    if error is not None:
        refuse(error)
    flash(_("已接受邀请") if action == "accept" else _("已谢绝邀请"), "success")
    return redirect(url_for("consortia.detail", project_id=member.project_id))


@bp.post("/<int:project_id>/finalize")
@login_required
def run_finalize(project_id: int):  # noqa: ANN201
    project = managed_project(project_id)
    db = get_db()
    _terms, error = commit(lambda: finalize(db, project, db.get(User, current_user.id)))
    if error is not None:
        abort(409, description=localized(error))
    flash(_("联合体组建完成，协议待签署"), "success")
    return redirect(url_for("consortia.detail", project_id=project.id))


@bp.get("/report")
@login_required
def report():  # noqa: ANN201
    require_role(Role.ORGANIZER)
    db = get_db()
    region = report_region(db, current_user, request.args.get("region") or None)
    return render_template("consortia/report.html", data=sme_share_report(db, region=region), region=region)
