"""JSON API of procurement consortia under /api/v1/consortia: projects, proposed line-ups,
invitations and answers, finalising, and the SME share report."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, abort
from apiflask.fields import Boolean, Date, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, Range

from marketplace.enterprise.consortia import (
    MAX_LOT_BUDGET,
    agreement,
    can_answer,
    can_manage_project,
    can_view_project,
    create_project,
    finalize,
    invite,
    list_projects,
    member_dict,
    project_dict,
    propose,
    respond,
    sme_share_report,
    withdraw,
)
from marketplace.enterprise.tiers import report_region
from marketplace.models import ConsortiumMember, ProcurementProject, Role
from web.api_fields import (
    NOT_BLANK,
    NOT_BLANK_PATTERN,
    SCHEMA_RULES,
    Id,
    JsonBoolean,
    JsonNumber,
    Region,
    Whole,
    non_blank,
)
from web.db import commit, get_db
from web.demands.api import auth
from web.errors import api_fail
from web.extensions import api_blueprint
from web.matching_engine import get_engine

bp = api_blueprint("api_consortia", __name__, "/api/v1/consortia", "Consortia 联合体")
MAX_LINEUPS = 10


class LotIn(Schema):
    title = String(required=True, validate=NOT_BLANK)
    products = List(String(), load_default=list)
    capabilities = String(load_default="")
    budget = JsonNumber(
        required=True,
        validate=Range(min=0, max=MAX_LOT_BUDGET, min_inclusive=False),
        metadata={"description": "万元, above 0", "exclusiveMinimum": 0},
    )


# a lot names what it needs: products, or capabilities in words (create_project refuses neither)
SCHEMA_RULES["LotIn"] = {
    "anyOf": [
        {
            "required": ["products"],
            "properties": {"products": {"minItems": 1, "items": {"pattern": NOT_BLANK_PATTERN}}},
        },
        {"required": ["capabilities"], "properties": {"capabilities": {"pattern": NOT_BLANK_PATTERN}}},
    ]
}


class ProjectIn(Schema):
    title = String(required=True, validate=non_blank(2))
    description = String(load_default="")
    region = Region(allow_none=True)
    sme_share = JsonNumber(
        load_default=0.0,
        validate=Range(min=0, max=1),
        metadata={"description": "reserved for SMEs, 0..1 of the total budget"},
    )
    deadline = Date(allow_none=True)
    lots = List(Nested(LotIn), required=True, validate=Length(min=1))


class InviteIn(Schema):
    lot_id = Id(required=True)
    firm_id = Id(required=True)
    share = JsonNumber(
        load_default=1.0,
        validate=Range(min=0, max=1, min_inclusive=False),
        metadata={"description": "share of the lot budget, (0, 1]", "exclusiveMinimum": 0},
    )
    reasons = List(String(), load_default=list)


class AnswerIn(Schema):
    accept = JsonBoolean(required=True)


class ProposeIn(Schema):
    lineups = Whole(
        load_default=3,
        validate=Range(min=1, max=MAX_LINEUPS),
        metadata={"description": f"how many line-ups to propose, 1 to {MAX_LINEUPS}"},
    )


class MemberOut(Schema):
    """An invitation to a consortium (a member), as :func:`member_dict` gives it."""

    member_id = Integer()
    project_id = Integer()
    lot_id = Integer()
    lot_position = Integer()
    firm_id = Integer()
    firm = String()
    share = Float(metadata={"description": "share of the lot budget, (0, 1]"})
    is_sme = Boolean(
        metadata={"description": "counts toward the reserved SME share: an SME that is not part of a large group"}
    )
    status = String(metadata={"description": "invited, accepted, declined or withdrawn"})
    reasons = List(String())
    invited_at = String()
    responded_at = String(allow_none=True)


class LotOut(Schema):
    lot_id = Integer()
    position = Integer()
    title = String()
    products = List(String())
    capabilities = String()
    budget = Float(metadata={"description": "万元"})


class ProjectOut(Schema):
    """A procurement project, as :func:`project_dict` gives it."""

    project_id = Integer()
    owner_firm_id = Integer()
    owner = String()
    title = String()
    description = String()
    region = String(allow_none=True)
    sme_share = Float()
    deadline = String(allow_none=True)
    status = String()
    budget = Float(metadata={"description": "万元, the lots together"})
    lots = List(Nested(LotOut))
    members = List(Nested(MemberOut))


class ProjectDetailOut(ProjectOut):
    agreement = Dict(metadata={"description": "the accepted shares per lot and the SME share achieved"})


def _visible(project_id: int) -> ProcurementProject:
    db = get_db()
    project = db.get(ProcurementProject, project_id)
    if project is None or not can_view_project(db, auth.current_user, project):
        # a project one may not see is not shown to exist (as demands and events)
        abort(404, message=f"project {project_id} does not exist")
    return project


def _managed(project_id: int) -> ProcurementProject:
    project = _visible(project_id)
    if not can_manage_project(auth.current_user, project):
        abort(403, message="only the owner's users change this project")
    return project


@bp.get("")
@bp.auth_required(auth)
def list_all():  # noqa: ANN201
    return {"items": [project_dict(p) for p in list_projects(get_db(), user=auth.current_user)]}


@bp.post("")
@bp.auth_required(auth)
@bp.input(ProjectIn, arg_name="data")
@bp.output(ProjectOut, status_code=201)
def post_project(data: dict[str, Any]):  # noqa: ANN201
    """Post a procurement project for the caller's firm (large-firm users)."""
    user = auth.current_user
    if not can_manage_project(user) or user.firm_id is None:
        abort(403, message="only large-firm users post procurement projects")
    project, error = commit(lambda: create_project(get_db(), user.firm_id, data))
    if error:
        api_fail(error)
    return project_dict(project)


@bp.get("/<int:project_id>")
@bp.auth_required(auth)
@bp.output(ProjectDetailOut)
def get_one(project_id: int):  # noqa: ANN201
    project = _visible(project_id)
    return {**project_dict(project), "agreement": agreement(project)}


@bp.post("/<int:project_id>/propose")
@bp.auth_required(auth)
@bp.input(ProposeIn, arg_name="data")
def run_propose(project_id: int, data: dict[str, Any]):  # noqa: ANN201
    """Consortium line-ups covering every lot (CP-SAT), with reasons, chain paths and alternatives."""
    project = _managed(project_id)
    return propose(get_engine(), project, count=data["lineups"])


@bp.post("/<int:project_id>/invitations")
@bp.auth_required(auth)
@bp.input(InviteIn, arg_name="data")
@bp.output(MemberOut, status_code=201)
def post_invitation(project_id: int, data: dict[str, Any]):  # noqa: ANN201
    project = _managed(project_id)
    member, error = commit(
        lambda: invite(get_db(), project, data["lot_id"], data["firm_id"], share=data["share"], reasons=data["reasons"])
    )
    if error:
        api_fail(error)
    return member_dict(member)


@bp.post("/members/<int:member_id>/answer")
@bp.auth_required(auth)
@bp.input(AnswerIn, arg_name="data")
@bp.output(MemberOut)
def answer(member_id: int, data: dict[str, Any]):  # noqa: ANN201
    db = get_db()
    member = db.get(ConsortiumMember, member_id)
    if member is None or not can_view_project(db, auth.current_user, member.project):
        # an invitation to a project one may not see is not shown to exist (as the project)
        abort(404, message=f"invitation {member_id} does not exist")
    if not can_answer(auth.current_user, member):
        abort(403, message="only the invited firm answers")
    _m, error = commit(lambda: respond(db, member, data["accept"]))
    if error:
        api_fail(error)
    return member_dict(member)


@bp.post("/members/<int:member_id>/withdraw")
@bp.auth_required(auth)
@bp.output(MemberOut)
def withdraw_invitation(member_id: int):  # noqa: ANN201
    """The project owner takes an invitation back."""
    db = get_db()
    member = db.get(ConsortiumMember, member_id)
    if member is None:
        abort(404, message=f"invitation {member_id} does not exist")
    _managed(member.project_id)
    _m, error = commit(lambda: withdraw(db, member))
    if error:
        api_fail(error)
    return member_dict(member)


@bp.post("/<int:project_id>/finalize")
@bp.auth_required(auth)
def run_finalize(project_id: int):  # noqa: ANN201
    """Close the consortium: every lot taken, reserved SME share met; hands over to contract signing."""
    project = _managed(project_id)
    terms, error = commit(lambda: finalize(get_db(), project, auth.current_user))
    if error:
        abort(409, message=str(error), detail={error.field or "input": str(error)})
    return terms


@bp.get("/report")
@bp.auth_required(auth)
def report():  # noqa: ANN201
    """SME share reserved and achieved across projects (organizers: their region; admins: all)."""
    user = auth.current_user
    db = get_db()
    if user.role not in (Role.ORGANIZER, Role.ADMIN):
        abort(403, message="the report is for organizers and admins")
    return sme_share_report(db, region=report_region(db, user))
