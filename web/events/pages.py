"""Chain-matching event pages, the ``events`` blueprint: organizers create and edit events,
invite from the chain, approve registrations, run proposals and the scheduler, send agendas and
read the statistics and report; participants register, decline and set availability. Also the
blueprint's helpers and error pages, shared with :mod:`web.events.meeting_pages` (requests,
agendas, check-in, meetings on the day). Every view asks the events service's permission rules
(``event_access``, ``meeting_access``, ``request_access``)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from marketplace.enterprise.units import wan_number
from marketplace.errors import NotFoundError, PermissionDeniedError
from marketplace.events import access as evacl
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.events import meetings as evmeet
from marketplace.events import registrations as evreg
from marketplace.events.invitees import invite_from_suggestions, invite_suggestions, render_reasons, segment_name
from marketplace.events.scheduling import schedule_event, send_agendas
from marketplace.events.stats import FUNNEL, FUNNEL_LABELS, UNSEGMENTED, event_stats, report_csv, report_xlsx
from marketplace.models import (
    EventInvitation,
    EventRegistration,
    EventStatus,
    Meeting,
    MeetingRequest,
    MeetingStatus,
    RegistrationStatus,
    RequestSource,
    RequestStatus,
    Role,
)
from web.db import commit, get_db
from web.errors import error_status
from web.events.forms import EventForm, RegisterForm
from web.extensions import require_role
from web.forms import ActionForm, apply_error
from web.matching_engine import get_engine
from web.messages import flash_outcome, localized, page_locale
from web.params import form_ids

bp = Blueprint("events", __name__, url_prefix="/events")

# The report's figures are keyed by their Chinese names (the API, the CLI and the CSV/XLSX exports
# keep those keys); the statistics page shows them in the reader's language.
REPORT_LABELS = {
    "参会企业数": _l("参会企业数"),
    "其中大企业": _l("其中大企业"),
    "其中中小企业": _l("其中中小企业"),
    "已签到企业": _l("已签到企业"),
    "对接场次": _l("对接场次"),
    "已排程场次": _l("已排程场次"),
    "意向数": _l("意向数"),
    "达成合作意向": _l("达成合作意向"),
    "意向金额（万元）": _l("意向金额（万元）"),
    "签约数": _l("签约数"),
    "金额（万元）": _l("金额（万元）"),
}


@bp.app_template_filter("report_figure")
def report_figure(value: object, key: str) -> object:
    """A report figure as the statistics page shows it: amounts in 万元 with thousands separators and
    no trailing ".0" (1,250.5, 120), as budgets are written; counts as they are."""
    return wan_number(value) if key.endswith("（万元）") and isinstance(value, int | float) else value


@bp.context_processor
def event_context() -> dict:
    """The viewer's access to the current event, for the event tabs; an invitation's stored
    reasons and a stored chain segment in the reader's language."""
    return {
        "Access": evacl.Access,
        "access": g.get("event_access", evacl.Access.NONE),
        "as_event_time": ev.as_event_time,  # stored UTC timestamps as 北京时间, like the slot times
        "invitee_reasons": lambda reasons: render_reasons(reasons, page_locale()),
        "segment_name": lambda value: segment_name(value, page_locale()),
    }


@bp.errorhandler(PermissionDeniedError)
def denied(exc: PermissionDeniedError):  # noqa: ANN201
    return render_template("errors/error.html", code=403, name=_("无权访问"), description=localized(exc)), 403


@bp.errorhandler(NotFoundError)
def not_found(exc: NotFoundError):  # noqa: ANN201
    return render_template("errors/error.html", code=404, name=_("未找到"), description=localized(exc)), 404


def commit_or_deny(action):  # noqa: ANN001, ANN202
    """:func:`web.db.commit` for a service call that may refuse the account: a denial is no bad
    input to show on the form but the 403 page (:func:`denied`)."""
    result, error = commit(action)
    if isinstance(error, PermissionDeniedError):
        raise error
    return result, error


def page_viewer():  # noqa: ANN202
    return current_user if current_user.is_authenticated else None


def event_or_abort(event_id: int, need: evacl.Access):  # noqa: ANN202
    db = get_db()
    event = ev.get_event(db, event_id)
    access = evacl.event_access(db, page_viewer(), event)
    if access is evacl.Access.NONE:
        abort(404 if current_user.is_authenticated else 401)
    if access < need:
        abort(403)
    g.event_access = access
    return event, access


def own_registration(event) -> EventRegistration:  # noqa: ANN001
    reg = evacl.registration_for(get_db(), event, current_user.firm_id) if current_user.firm_id else None
    if reg is None or reg.status is not RegistrationStatus.APPROVED:
        abort(403)
    return reg


def post_ok() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


def flash_form_errors(form) -> None:  # noqa: ANN001
    """Flash each field error of a small inline form, naming the field by its label."""
    for name, errors in form.errors.items():
        label = form[name].label.text if name in form else name
        for error in errors:
            flash(_("%(field)s：%(message)s", field=label, message=error), "error")


# --- list, create, edit -----------------------------------------------------------------------


@bp.get("/")
@login_required
def index():  # noqa: ANN201
    db = get_db()
    rows = [(e, evacl.event_access(db, current_user, e)) for e in evacl.visible_events(db, current_user)]
    return render_template("events/index.html", rows=rows, Access=evacl.Access)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    require_role(Role.ORGANIZER)
    if current_user.organization_id is None:
        abort(403)
    form = EventForm()
    error = None
    if form.validate_on_submit():
        db = get_db()
        # the same organizer, title and start date twice (a double submit) is refused with 409
        event, error = commit(lambda: ev.create_event(db, current_user.organization_id, form.to_data()))
        if error:
            apply_error(form, error)
        else:
            flash(_("活动已创建"), "success")
            return redirect(url_for("events.show", event_id=event.id))
    return render_template("events/form.html", form=form, event=None), _form_status(form, error)


def _form_status(form, error) -> int:  # noqa: ANN001
    """200 for a clean form; a refused change answers like the API (409 for a conflict), other
    errors 400."""
    if error is not None:
        return error_status(error)
    return 400 if form.errors or form.form_errors else 200


@bp.route("/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit(event_id: int):  # noqa: ANN201
    event, _access = event_or_abort(event_id, evacl.Access.ORGANIZER)
    form = EventForm()
    error = None
    if request.method == "GET":
        form.fill(event)
    elif form.validate_on_submit():
        # refused (409, on the field) when it would move placed meetings or take their table
        _r, error = commit(lambda: ev.update_event(get_db(), event, form.to_data()))
        if error:
            apply_error(form, error)
        else:
            flash(_("活动已保存"), "success")
            return redirect(url_for("events.show", event_id=event.id))
    return render_template("events/form.html", form=form, event=event), _form_status(form, error)


@bp.get("/<int:event_id>")
@login_required
def show(event_id: int):  # noqa: ANN201
    event, access = event_or_abort(event_id, evacl.Access.PUBLIC)
    db = get_db()
    reg = evacl.registration_for(db, event, current_user.firm_id) if current_user.firm_id else None
    invitation = None
    if current_user.firm_id:
        invitation = db.scalar(
            select(EventInvitation).where(
                EventInvitation.event_id == event.id, EventInvitation.firm_id == current_user.firm_id
            )
        )
    registrations = []
    if access is evacl.Access.ORGANIZER:
        registrations = list(
            db.scalars(
                select(EventRegistration).where(EventRegistration.event_id == event.id).order_by(EventRegistration.id)
            )
        )
    open_demands = []
    if access is evacl.Access.ORGANIZER:
        from marketplace.events.invitees import chain_demands, chain_segments

        listed = {d.demand_id for d in event.demands}
        open_demands = [d for d, _h in chain_demands(db, event, chain_segments(db, event)) if d.id not in listed][:20]
    return render_template(
        "events/show.html",
        event=event,
        access=access,
        Access=evacl.Access,
        reg=reg,
        invitation=invitation,
        registrations=registrations,
        open_demands=open_demands,
        slots=event.slot_times(),
        has_begun=ev.event_has_begun(event),  # 结束活动 is offered from the event's first day
        form=ActionForm(),
        register_form=RegisterForm(),
    )


@bp.post("/<int:event_id>/status/<status>")
@login_required
def change_status(event_id: int, status: str):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    if status not in {s.value for s in EventStatus}:
        abort(400)
    _r, error = commit(lambda: ev.set_event_status(get_db(), event, EventStatus(status)))
    flash_outcome(error, _("活动状态已更新"))
    return redirect(url_for("events.show", event_id=event.id))


@bp.post("/<int:event_id>/demands")
@login_required
def add_demands(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    ids = form_ids("demand_id")
    _r, error = commit(lambda: ev.add_event_demands(get_db(), event, ids))
    flash_outcome(error, _("已加入发榜需求"))
    return redirect(url_for("events.show", event_id=event.id))


# --- invitations and registrations -------------------------------------------------------------


@bp.get("/<int:event_id>/invite")
@login_required
def invite(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    suggestions = invite_suggestions(get_db(), get_engine(), event, locale=page_locale())
    return render_template("events/invite.html", event=event, s=suggestions, form=ActionForm())


@bp.post("/<int:event_id>/invite")
@login_required
def send_invitations(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    ids = form_ids("firm_id")
    if not ids:
        flash(_("请先勾选要邀请的企业"), "error")
        return redirect(url_for("events.invite", event_id=event.id))
    db = get_db()
    sent, error = commit(lambda: invite_from_suggestions(db, get_engine(), event, ids))
    flash_outcome(error, lambda: _("已发送 %(n)d 份邀请", n=len(sent)))
    return redirect(url_for("events.show", event_id=event.id))


@bp.post("/<int:event_id>/register")
@login_required
def register(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PUBLIC)
    if current_user.firm_id is None:
        abort(403)
    form = RegisterForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("events.show", event_id=event.id))
    reg, error = commit(
        lambda: evreg.register_firm(
            get_db(), event, current_user.firm_id, representatives=form.representatives.data or 1
        )
    )
    if error:
        flash(localized(error), "error")
    elif reg.status is RegistrationStatus.APPROVED:
        flash(_("报名成功"), "success")
    else:
        flash(_("报名已提交，等待组织方审核"), "success")
    return redirect(url_for("events.show", event_id=event.id))


@bp.post("/<int:event_id>/decline")
@login_required
def decline(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.INVITED)
    if current_user.firm_id is None:
        abort(403)
    post_ok()
    _r, error = commit(lambda: evreg.decline_invitation(get_db(), event, current_user.firm_id))
    flash_outcome(error, _("已谢绝邀请"))
    return redirect(url_for("events.index"))


@bp.post("/<int:event_id>/registrations/<int:reg_id>/<decision>")
@login_required
def decide(event_id: int, reg_id: int, decision: str):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    reg = get_db().get(EventRegistration, reg_id)
    if reg is None or reg.event_id != event.id or decision not in ("approve", "reject"):
        abort(404)
    _r, error = commit(lambda: evreg.decide_registration(get_db(), reg, decision == "approve"))
    flash_outcome(error, _("已处理报名"))
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/availability", methods=["GET", "POST"])
@login_required
def availability(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    reg = own_registration(event)
    slots = event.slot_times()
    if request.method == "POST":
        post_ok()
        chosen = form_ids("slot")
        _r, error = commit(lambda: evreg.set_availability(get_db(), reg, chosen))
        flash_outcome(error, _("可参会时段已保存"))
        return redirect(url_for("events.availability", event_id=event.id))
    return render_template(
        "events/availability.html",
        event=event,
        slots=slots,
        available=set(reg.available(len(slots))),
        form=ActionForm(),
    )


# --- schedule ------------------------------------------------------------------------------------


@bp.get("/<int:event_id>/schedule")
@login_required
def schedule_page(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    db = get_db()
    meetings = list(
        db.scalars(select(Meeting).where(Meeting.event_id == event.id).order_by(Meeting.slot, Meeting.table_no))
    )
    proposals = list(
        db.scalars(
            select(MeetingRequest).where(
                MeetingRequest.event_id == event.id,
                MeetingRequest.source == RequestSource.PROPOSAL,
                MeetingRequest.status == RequestStatus.PROPOSED,
            )
        )
    )
    grid: dict[int, list[Meeting]] = {}
    for m in meetings:
        if m.slot is not None and m.status is not MeetingStatus.CANCELLED:
            grid.setdefault(m.slot, []).append(m)
    waiting = [m for m in meetings if m.status is MeetingStatus.WAITING]
    return render_template(
        "events/schedule.html",
        event=event,
        cancellable=cancellable_ids(meetings),
        slots=event.slot_times(),
        grid=grid,
        waiting=waiting,
        proposals=proposals,
        meetings=meetings,
        form=ActionForm(),
    )


@bp.post("/<int:event_id>/schedule")
@login_required
def run_schedule(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    summary, error = commit(lambda: schedule_event(get_db(), event))
    if error:
        flash(localized(error), "error")
    else:
        flash(
            _("已排程 %(n)d 场洽谈，%(w)d 场未排入", n=summary["scheduled"], w=len(summary["unscheduled"])), "success"
        )
    return redirect(url_for("events.schedule_page", event_id=event.id))


@bp.post("/<int:event_id>/requests/<int:request_id>/must-meet")
@login_required
def must_meet(event_id: int, request_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    db = get_db()
    req = evreq.get_request(db, request_id)
    if req.event_id != event.id:
        abort(404)
    _r, error = commit(lambda: evreq.set_must_meet(db, req, not req.must_meet))
    flash_outcome(error, _("已更新必见标记"))
    return redirect(url_for("events.schedule_page", event_id=event.id))


@bp.post("/<int:event_id>/send")
@login_required
def send(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    n, error = commit(lambda: send_agendas(get_db(), event))
    flash_outcome(error, lambda: _("日程已发送给 %(n)d 家企业并锁定", n=n))
    return redirect(url_for("events.schedule_page", event_id=event.id))


def cancellable_ids(meetings) -> set[int]:  # noqa: ANN001
    """Ids of the meetings the viewer may cancel (the service's rule), for the cancel buttons."""
    db = get_db()
    return {m.id for m in meetings if evmeet.can_cancel_meeting(db, page_viewer(), m)}


# --- statistics and report ---------------------------------------------------------------------


@bp.post("/<int:event_id>/survey/invite")
@login_required
def survey_invite(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    done, error = commit(lambda: evmeet.survey_invitations(get_db(), event))
    # idempotent: a participant already asked is not asked again (a second post invites nobody)
    flash_outcome(
        error,
        lambda: _(
            "已邀请 %(n)d 家参会企业填写回访问卷（%(m)d 家此前已邀请，不再重复发送）",
            n=done["invited"],
            m=done["already"],
        ),
    )
    return redirect(url_for("events.stats", event_id=event.id))


@bp.get("/<int:event_id>/stats")
@login_required
def stats(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    data = event_stats(get_db(), event)
    return render_template(
        "events/stats.html",
        event=event,
        s=data,
        funnel=FUNNEL,
        labels=FUNNEL_LABELS,
        report_labels=REPORT_LABELS,
        unsegmented=UNSEGMENTED,
    )


@bp.get("/<int:event_id>/report.<fmt>")
@login_required
def report(event_id: int, fmt: str):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    db = get_db()
    if fmt == "csv":
        return Response(
            report_csv(db, event, localized),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename=chainmatch-event-{event.id}-report.csv"},
        )
    if fmt == "xlsx":
        return Response(
            report_xlsx(db, event, localized),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f"attachment; filename=chainmatch-event-{event.id}-report.xlsx"},
        )
    abort(404)
