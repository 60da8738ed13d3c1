"""The platform admin's page: create organizer accounts, issue organizer invitation links for an
organization, and decide pending firm-membership requests of every firm."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from marketplace.accounts.users import create_organizer_invitation, create_user, pending_members
from marketplace.models import Organization, OrganizationKind, Role
from web.db import commit, get_db
from web.errors import error_status
from web.extensions import current_viewer, require_role
from web.forms import ActionForm, OrganizerForm, apply_error
from web.messages import refuse

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(form: OrganizerForm, status: int = 200, message: str | None = None, link: str | None = None):  # noqa: ANN202
    db = get_db()
    return render_template(
        "admin/index.html",
        form=form,
        action_form=ActionForm(),
        organizations=list(db.scalars(select(Organization).order_by(Organization.name))),
        requests=pending_members(db, current_viewer()),
        message=message,
        invitation_link=link,
    ), status


@bp.get("/")
def index():  # noqa: ANN201
    require_role()  # admins only
    return _page(OrganizerForm())


@bp.post("/organizers")
def create_organizer():  # noqa: ANN201
    require_role()
    form = OrganizerForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    user, error = commit(
        lambda: create_user(
            get_db(),
            email=form.email.data,
            password=form.password.data,
            name=form.name.data,
            role=Role.ORGANIZER,
            organization_name=form.organization_name.data,
            organization_kind=OrganizationKind(form.organization_kind.data),
        )
    )
    if error:
        apply_error(form, error)
        return _page(form, error_status(error))
    return _page(OrganizerForm(formdata=None), 201, _("组织方账号已创建：%(email)s", email=user.email))


@bp.post("/organizations/<int:organization_id>/invitation")
def invite_organizer(organization_id: int):  # noqa: ANN201
    require_role()
    if not ActionForm().validate_on_submit():
        abort(400)
    result, error = commit(lambda: create_organizer_invitation(get_db(), current_viewer(), organization_id))
    if error:
        refuse(error)
    link = request.host_url.rstrip("/") + url_for("auth.join_organization", token=result[0])
    return _page(OrganizerForm(formdata=None), 201, _("邀请链接（7 天内有效，只能使用一次）："), link)
