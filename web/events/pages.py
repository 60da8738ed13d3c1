"""Chain-matching event pages: organizers create events, invite from the chain, approve
registrations, run proposals and the scheduler, check participants in and read the statistics;
participants register, set availability, browse the other side, request and answer meetings,
read and download their agenda, and report outcomes. Every view asks the events service's
permission rules (``event_access``, ``meeting_access``, ``request_access``)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from marketplace.enterprise.units import wan_number
from marketplace.errors import NotFoundError
from marketplace.events import events as ev
from marketplace.events.agenda import agenda_ics, agenda_rows, checkin_path, checkin_qr_png, checkin_qr_svg
from marketplace.events.invitees import (
    invite_from_suggestions,
    invite_suggestions,
    render_reasons,
    segment_name,
)
from marketplace.events.scheduling import schedule_event, send_agendas
from marketplace.events.stats import (
    FUNNEL,
    FUNNEL_LABELS,
    UNSEGMENTED,
    event_stats,
    report_csv,
    report_xlsx,
)
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
    Tier,
)
from web.accounts.auth import same_site_referrer
from web.db import commit, get_db
from web.errors import error_status
from web.events.forms import EventForm, OutcomeForm, RegisterForm, RequestForm, SurveyForm
from web.extensions import require_role
from web.forms import ActionForm, apply_error
from web.matching_engine import get_engine
from web.messages import flash_outcome, localized, page_locale
from web.params import form_id, form_ids, int_arg

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
        "Access": ev.Access,
        "access": g.get("event_access", ev.Access.NONE),
        "as_event_time": ev.as_event_time,  # stored UTC timestamps as 北京时间, like the slot times
        "invitee_reasons": lambda reasons: render_reasons(reasons, page_locale()),
        "segment_name": lambda value: segment_name(value, page_locale()),
    }


@bp.errorhandler(ev.PermissionDeniedError)
def denied(exc: ev.PermissionDeniedError):  # noqa: ANN201
    return render_template("errors/error.html", code=403, name=_("无权访问"), description=localized(exc)), 403


@bp.errorhandler(NotFoundError)
def not_found(exc: NotFoundError):  # noqa: ANN201
    return render_template("errors/error.html", code=404, name=_("未找到"), description=localized(exc)), 404


def _viewer():  # noqa: ANN202
    return current_user if current_user.is_authenticated else None


def _event(event_id: int, need: ev.Access):  # noqa: ANN202
    db = get_db()
    event = ev.get_event(db, event_id)
    access = ev.event_access(db, _viewer(), event)
    if access is ev.Access.NONE:
        abort(404 if current_user.is_authenticated else 401)
    if access < need:
        abort(403)
    g.event_access = access
    return event, access


def _own_registration(event) -> EventRegistration:  # noqa: ANN001
    reg = ev.registration_for(get_db(), event, current_user.firm_id) if current_user.firm_id else None
    if reg is None or reg.status is not RegistrationStatus.APPROVED:
        abort(403)
    return reg


def _post_ok() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


def _flash_form_errors(form) -> None:  # noqa: ANN001
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
    rows = [(e, ev.event_access(db, current_user, e)) for e in ev.visible_events(db, current_user)]
    return render_template("events/index.html", rows=rows, Access=ev.Access)


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
    event, _access = _event(event_id, ev.Access.ORGANIZER)
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
    event, access = _event(event_id, ev.Access.PUBLIC)
    db = get_db()
    reg = ev.registration_for(db, event, current_user.firm_id) if current_user.firm_id else None
    invitation = None
    if current_user.firm_id:
        invitation = db.scalar(
            select(EventInvitation).where(
                EventInvitation.event_id == event.id, EventInvitation.firm_id == current_user.firm_id
            )
        )
    registrations = []
    if access is ev.Access.ORGANIZER:
        registrations = list(
            db.scalars(
                select(EventRegistration).where(EventRegistration.event_id == event.id).order_by(EventRegistration.id)
            )
        )
    open_demands = []
    if access is ev.Access.ORGANIZER:
        from marketplace.events.invitees import chain_demands, chain_segments

        listed = {d.demand_id for d in event.demands}
        open_demands = [d for d, _h in chain_demands(db, event, chain_segments(db, event)) if d.id not in listed][:20]
    return render_template(
        "events/show.html",
        event=event,
        access=access,
        Access=ev.Access,
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
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
    if status not in {s.value for s in EventStatus}:
        abort(400)
    _r, error = commit(lambda: ev.set_event_status(get_db(), event, EventStatus(status)))
    flash_outcome(error, _("活动状态已更新"))
    return redirect(url_for("events.show", event_id=event.id))


@bp.post("/<int:event_id>/demands")
@login_required
def add_demands(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
    ids = form_ids("demand_id")
    _r, error = commit(lambda: ev.add_event_demands(get_db(), event, ids))
    flash_outcome(error, _("已加入发榜需求"))
    return redirect(url_for("events.show", event_id=event.id))


# --- invitations and registrations -------------------------------------------------------------


@bp.get("/<int:event_id>/invite")
@login_required
def invite(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    suggestions = invite_suggestions(get_db(), get_engine(), event, locale=page_locale())
    return render_template("events/invite.html", event=event, s=suggestions, form=ActionForm())


@bp.post("/<int:event_id>/invite")
@login_required
def send_invitations(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
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
    event, _a = _event(event_id, ev.Access.PUBLIC)
    if current_user.firm_id is None:
        abort(403)
    form = RegisterForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return redirect(url_for("events.show", event_id=event.id))
    reg, error = commit(
        lambda: ev.register_firm(get_db(), event, current_user.firm_id, representatives=form.representatives.data or 1)
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
    event, _a = _event(event_id, ev.Access.INVITED)
    if current_user.firm_id is None:
        abort(403)
    _post_ok()
    _r, error = commit(lambda: ev.decline_invitation(get_db(), event, current_user.firm_id))
    flash_outcome(error, _("已谢绝邀请"))
    return redirect(url_for("events.index"))


@bp.post("/<int:event_id>/registrations/<int:reg_id>/<decision>")
@login_required
def decide(event_id: int, reg_id: int, decision: str):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
    reg = get_db().get(EventRegistration, reg_id)
    if reg is None or reg.event_id != event.id or decision not in ("approve", "reject"):
        abort(404)
    _r, error = commit(lambda: ev.decide_registration(get_db(), reg, decision == "approve"))
    flash_outcome(error, _("已处理报名"))
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/<int:event_id>/availability", methods=["GET", "POST"])
@login_required
def availability(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    reg = _own_registration(event)
    slots = event.slot_times()
    if request.method == "POST":
        _post_ok()
        chosen = form_ids("slot")
        _r, error = commit(lambda: ev.set_availability(get_db(), reg, chosen))
        flash_outcome(error, _("可参会时段已保存"))
        return redirect(url_for("events.availability", event_id=event.id))
    return render_template(
        "events/availability.html",
        event=event,
        slots=slots,
        available=set(reg.available(len(slots))),
        form=ActionForm(),
    )


# --- browsing and requests ---------------------------------------------------------------------


@bp.get("/<int:event_id>/browse")
@login_required
def browse(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    reg = _own_registration(event)
    q = (request.args.get("q") or "").strip()
    region = (request.args.get("region") or "").strip() or None
    min_tier = int_arg("tier", 0, low=0, high=len(Tier))
    rows = ev.browse_participants(get_db(), event, reg.firm_id, q=q, region=region, min_tier=min_tier)
    form = RequestForm()
    form.demand_id.choices = [("", "—")] + [(str(d.demand_id), d.demand.title) for d in event.demands]
    return render_template(
        "events/browse.html", event=event, rows=rows, reg=reg, form=form, q=q, region=region or "", tier=min_tier
    )


@bp.post("/<int:event_id>/requests/<int:to_firm_id>")
@login_required
def send_request(event_id: int, to_firm_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    reg = _own_registration(event)
    form = RequestForm()
    form.demand_id.choices = [("", "—")] + [(str(d.demand_id), d.demand.title) for d in event.demands]
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return redirect(url_for("events.browse", event_id=event.id))
    demand_id = form_id("demand_id", form.demand_id.data or "")
    _r, error = commit(
        lambda: ev.request_meeting(
            get_db(), event, reg.firm_id, to_firm_id, message=form.message.data or "", demand_id=demand_id
        )
    )
    flash_outcome(error, _("洽谈申请已发送"))
    return redirect(url_for("events.browse", event_id=event.id))


@bp.get("/<int:event_id>/requests")
@login_required
def requests_page(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    reg = _own_registration(event)
    db = get_db()
    groups = ev.requests_for_firm(db, event, reg.firm_id)
    db.commit()  # expired requests are written
    pairs = [(r.from_firm_id, r.to_firm_id) for rows in groups.values() for r in rows]
    met = ev.met_before(db, event, pairs)
    met_ids = {r.id for rows in groups.values() for r in rows if frozenset((r.from_firm_id, r.to_firm_id)) in met}
    return render_template("events/requests.html", event=event, groups=groups, met_ids=met_ids, form=ActionForm())


@bp.post("/<int:event_id>/requests/<int:request_id>/answer/<answer>")
@login_required
def answer(event_id: int, request_id: int, answer: str):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    _post_ok()
    db = get_db()
    req = db.get(MeetingRequest, request_id)
    if req is None or req.event_id != event.id or answer not in ("accept", "decline"):
        abort(404)
    if ev.request_access(db, _viewer(), req) is ev.Access.NONE:
        abort(404)  # another pair's request is not shown to exist
    if req.to_firm_id != current_user.firm_id:
        abort(403)  # visible (the asking firm, the organizer) but not theirs to answer
    _r, error = commit(lambda: ev.answer_request(db, req, accept=answer == "accept"))
    if error:
        db.commit()  # an expired request stays expired
    flash_outcome(error, _("已回复洽谈申请"))
    return redirect(url_for("events.requests_page", event_id=event.id))


@bp.post("/<int:event_id>/proposals/accept")
@login_required
def accept_proposals(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    reg = _own_registration(event)
    _post_ok()
    ids = form_ids("request_id")
    done, error = commit(lambda: ev.accept_proposals(get_db(), event, reg.firm_id, ids))
    flash_outcome(error, lambda: _("已接受 %(n)d 个推荐洽谈", n=len(done)))
    return redirect(url_for("events.requests_page", event_id=event.id))


@bp.post("/<int:event_id>/propose")
@login_required
def propose(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
    run, error = commit(lambda: ev.propose(get_db(), get_engine(), event))
    if error or run.made:
        flash_outcome(error, lambda: _("平台已推荐 %(n)d 场洽谈", n=len(run.made)))
    else:  # nothing proposed: say why, from the event's data
        flash(_("平台已推荐 0 场洽谈：%(reason)s", reason=localized(run.why_none)), "info")
    return redirect(url_for("events.schedule_page", event_id=event.id))


# --- schedule ------------------------------------------------------------------------------------


@bp.get("/<int:event_id>/schedule")
@login_required
def schedule_page(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.ORGANIZER)
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
        cancellable=_cancellable(meetings),
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
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
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
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
    db = get_db()
    req = ev.get_request(db, request_id)
    if req.event_id != event.id:
        abort(404)
    _r, error = commit(lambda: ev.set_must_meet(db, req, not req.must_meet))
    flash_outcome(error, _("已更新必见标记"))
    return redirect(url_for("events.schedule_page", event_id=event.id))


@bp.post("/<int:event_id>/send")
@login_required
def send(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
    n, error = commit(lambda: send_agendas(get_db(), event))
    flash_outcome(error, lambda: _("日程已发送给 %(n)d 家企业并锁定", n=n))
    return redirect(url_for("events.schedule_page", event_id=event.id))


def _cancellable(meetings) -> set[int]:  # noqa: ANN001
    """Ids of the meetings the viewer may cancel (the service's rule), for the cancel buttons."""
    db = get_db()
    return {m.id for m in meetings if ev.can_cancel_meeting(db, _viewer(), m)}


# --- agenda --------------------------------------------------------------------------------------


def _agenda_firm(event, access):  # noqa: ANN001, ANN202
    """Whose agenda: the participant's own; the organizer may pass ?firm=ID (400 when it is no id)."""
    db = get_db()
    firm_id = form_id("firm", request.args.get("firm", ""))
    if access is ev.Access.ORGANIZER and firm_id is not None:
        reg = ev.registration_for(db, event, firm_id)
        if reg is None:
            abort(404)
        return reg
    return _own_registration(event)


@bp.get("/<int:event_id>/agenda")
@login_required
def agenda(event_id: int):  # noqa: ANN201
    event, access = _event(event_id, ev.Access.PARTICIPANT)
    reg = _agenda_firm(event, access)
    db = get_db()
    rows = agenda_rows(db, event, reg.firm_id)
    url = request.host_url.rstrip("/") + checkin_path(reg)
    meetings = [db.get(Meeting, r["meeting_id"]) for r in rows]
    return render_template(
        "events/agenda.html",
        event=event,
        reg=reg,
        rows=rows,
        cancellable=_cancellable(meetings),
        markable={m.id for m in meetings if ev.can_mark_meeting(db, m)},  # held / no-show from the meeting's day
        qr=checkin_qr_svg(url),
        checkin_url=url,
        form=ActionForm(),
        printable=False,
        statuses={s.value: s for s in MeetingStatus},
    )


@bp.get("/<int:event_id>/agenda/print")
@login_required
def agenda_print(event_id: int):  # noqa: ANN201
    event, access = _event(event_id, ev.Access.PARTICIPANT)
    reg = _agenda_firm(event, access)
    rows = agenda_rows(get_db(), event, reg.firm_id, include_waiting=False)
    url = request.host_url.rstrip("/") + checkin_path(reg)
    return render_template(
        "events/agenda_print.html", event=event, reg=reg, rows=rows, qr=checkin_qr_svg(url), checkin_url=url
    )


@bp.get("/<int:event_id>/agenda.ics")
@login_required
def agenda_calendar(event_id: int):  # noqa: ANN201
    event, access = _event(event_id, ev.Access.PARTICIPANT)
    reg = _agenda_firm(event, access)
    body = agenda_ics(get_db(), event, reg.firm_id, reg.firm.display_name)
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f"attachment; filename=chainmatch-event-{event.id}-agenda.ics"},
    )


@bp.get("/<int:event_id>/checkin-qr.png")
@login_required
def checkin_png(event_id: int):  # noqa: ANN201
    event, access = _event(event_id, ev.Access.PARTICIPANT)
    reg = _agenda_firm(event, access)
    return Response(checkin_qr_png(request.host_url.rstrip("/") + checkin_path(reg)), mimetype="image/png")


@bp.route("/<int:event_id>/checkin/<token>", methods=["GET", "POST"])
@login_required
def checkin(event_id: int, token: str):  # noqa: ANN201
    """What the organizer's device opens when it scans a participant's QR code. The participant
    itself opening its own link gets a page saying what the link is for and who scans it; anyone
    else is denied as on the organizer's pages."""
    db = get_db()
    event = ev.get_event(db, event_id)
    access, reg = ev.checkin_access(db, _viewer(), event, token)
    if access is ev.Access.NONE:
        abort(404 if current_user.is_authenticated else 401)
    if access is ev.Access.PARTICIPANT and request.method == "GET":
        g.event_access = ev.event_access(db, _viewer(), event)  # the event tabs of a participant
        return render_template("events/checkin_own.html", event=event, reg=reg)
    if access is not ev.Access.ORGANIZER:
        abort(403)
    g.event_access = access
    if reg is None:
        abort(404)
    if request.method == "POST":
        _post_ok()
        _r, error = commit(lambda: ev.check_in(db, event, token))
        flash_outcome(error, _("%(firm)s 已签到", firm=reg.firm.display_name))
        return redirect(url_for("events.checkin", event_id=event.id, token=token))
    rows = agenda_rows(db, event, reg.firm_id, include_waiting=False)
    return render_template(
        "events/checkin.html",
        event=event,
        reg=reg,
        rows=rows,
        has_begun=ev.event_has_begun(event),  # check-in from the event's first day
        form=ActionForm(),
    )


# --- meetings on the day -----------------------------------------------------------------------


def _meeting(event, meeting_id: int) -> Meeting:  # noqa: ANN001
    db = get_db()
    meeting = db.get(Meeting, meeting_id)
    if meeting is None or meeting.event_id != event.id:
        abort(404)
    if ev.meeting_access(db, _viewer(), meeting) is ev.Access.NONE:
        abort(404)  # another pair's meeting is not shown to exist
    return meeting


@bp.post("/<int:event_id>/meetings/<int:meeting_id>/<action>")
@login_required
def meeting_action(event_id: int, meeting_id: int, action: str):  # noqa: ANN201
    event, access = _event(event_id, ev.Access.PARTICIPANT)
    meeting = _meeting(event, meeting_id)
    _post_ok()
    db = get_db()
    actions = {
        "held": lambda: ev.mark_meeting(db, meeting, held=True),
        "no-show": lambda: ev.mark_meeting(db, meeting, held=False),
        "cancel": lambda: ev.cancel_meeting(db, meeting),
    }
    if action not in actions:
        abort(404)
    _r, error = commit(actions[action])
    flash_outcome(error, _("洽谈状态已更新"))
    # back to the page the button was on; without a referrer the organizer's schedule (the
    # organizer has no agenda of its own) or the firm's agenda
    back = "events.schedule_page" if access is ev.Access.ORGANIZER else "events.agenda"
    return redirect(same_site_referrer() or url_for(back, event_id=event.id))


@bp.route("/<int:event_id>/meetings/<int:meeting_id>/outcome", methods=["GET", "POST"])
@login_required
def outcome(event_id: int, meeting_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    meeting = _meeting(event, meeting_id)
    if current_user.firm_id not in (meeting.large_firm_id, meeting.sme_firm_id):
        abort(403)
    form = OutcomeForm()
    mine = next((o for o in meeting.outcomes if o.firm_id == current_user.firm_id), None)
    if request.method == "GET" and mine is not None:
        form.outcome.data, form.amount.data, form.note.data = mine.outcome.value, mine.amount, mine.note
    if form.validate_on_submit():
        data = {
            "outcome": form.outcome.data,
            "amount": float(form.amount.data) if form.amount.data is not None else None,
            "note": form.note.data or "",
        }
        row, error = commit(lambda: ev.record_outcome(get_db(), meeting, current_user.firm_id, data))
        if error:
            apply_error(form, error)
        else:
            flash(_("洽谈成果已记录"), "success")
            return redirect(url_for("events.outcome", event_id=event.id, meeting_id=meeting.id))
    contract = ev.meeting_contract_source(meeting) if mine is not None and mine.outcome.value == "agreement" else None
    return render_template(
        "events/outcome.html",
        event=event,
        meeting=meeting,
        form=form,
        mine=mine,
        contract=contract,
        contract_url=contract_draft_url(meeting) if contract else None,
    ), 400 if form.errors or form.form_errors else 200


def contract_draft_url(meeting: Meeting) -> str:
    """Where "cooperation agreement" leads: a contract draft started from the meeting."""
    return url_for("events.start_contract", event_id=meeting.event_id, meeting_id=meeting.id)


@bp.post("/<int:event_id>/meetings/<int:meeting_id>/contract")
@login_required
def start_contract(event_id: int, meeting_id: int):  # noqa: ANN201
    """Open the contract draft of a meeting with a reported cooperation agreement (the contracts
    area pre-fills buyer, supplier, demand, place and amount; one contract per meeting)."""
    from marketplace.contracts import workflow as contracts
    from marketplace.models import User

    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    meeting = _meeting(event, meeting_id)
    if current_user.firm_id not in (meeting.large_firm_id, meeting.sme_firm_id):
        abort(403)
    _post_ok()
    db = get_db()
    try:
        contract, error = commit(lambda: contracts.start_from_meeting(db, db.get(User, current_user.id), meeting.id))
    except contracts.ContractAccessDenied:
        db.rollback()
        abort(403)
    if error:
        flash(localized(error), "error")
        return redirect(url_for("events.outcome", event_id=event.id, meeting_id=meeting.id))
    return redirect(url_for("contracts.detail", contract_id=contract.id))


@bp.route("/<int:event_id>/survey", methods=["GET", "POST"])
@login_required
def survey(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.PARTICIPANT)
    reg = _own_registration(event)
    form = SurveyForm()
    if form.validate_on_submit():
        data = {
            "still_in_contact": bool(form.still_in_contact.data),
            "contracts_signed": form.contracts_signed.data or 0,
            "contract_amount": float(form.contract_amount.data or 0),
            "satisfaction": int(form.satisfaction.data),
            "comment": form.comment.data or "",
        }
        _r, error = commit(lambda: ev.submit_survey(get_db(), event, reg.firm_id, data))
        if error:
            apply_error(form, error)
        else:
            flash(_("感谢填写回访问卷"), "success")
            return redirect(url_for("events.show", event_id=event.id))
    status = 400 if request.method == "POST" else 200  # a form shown again carries its errors
    return render_template("events/survey.html", event=event, form=form), status


# --- statistics and report ---------------------------------------------------------------------


@bp.post("/<int:event_id>/survey/invite")
@login_required
def survey_invite(event_id: int):  # noqa: ANN201
    event, _a = _event(event_id, ev.Access.ORGANIZER)
    _post_ok()
    done, error = commit(lambda: ev.survey_invitations(get_db(), event))
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
    event, _a = _event(event_id, ev.Access.ORGANIZER)
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
    event, _a = _event(event_id, ev.Access.ORGANIZER)
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
