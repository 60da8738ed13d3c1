"""Event pages of meetings: participants browse the other side, request and answer meetings and
accept proposals; agendas (page, print, calendar file), the check-in QR code and check-in; on the
day, held / no-show and cancelling, outcomes, a contract draft from a meeting and the survey. The
views join the ``events`` blueprint of :mod:`web.events.pages`, which also holds their helpers."""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.events import access as evacl
from marketplace.events import events as ev
from marketplace.events import meeting_requests as evreq
from marketplace.events import meetings as evmeet
from marketplace.events.agenda import agenda_ics, agenda_rows, checkin_path, checkin_qr_png, checkin_qr_svg
from marketplace.models import Meeting, MeetingRequest, MeetingStatus, Tier
from web.accounts.auth import same_site_referrer
from web.db import commit, get_db
from web.events.forms import OutcomeForm, RequestForm, SurveyForm
from web.events.pages import (
    bp,
    cancellable_ids,
    commit_or_deny,
    event_or_abort,
    flash_form_errors,
    own_registration,
    page_viewer,
    post_ok,
)
from web.forms import ActionForm, apply_error
from web.matching_engine import get_engine
from web.messages import flash_outcome, localized
from web.params import form_id, form_ids, int_arg

# --- browsing and requests ---------------------------------------------------------------------


@bp.get("/<int:event_id>/browse")
@login_required
def browse(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    reg = own_registration(event)
    q = (request.args.get("q") or "").strip()
    region = (request.args.get("region") or "").strip() or None
    min_tier = int_arg("tier", 0, low=0, high=len(Tier))
    rows = evreq.browse_participants(get_db(), event, reg.firm_id, q=q, region=region, min_tier=min_tier)
    form = RequestForm()
    form.demand_id.choices = [("", "—")] + [(str(d.demand_id), d.demand.title) for d in event.demands]
    return render_template(
        "events/browse.html", event=event, rows=rows, reg=reg, form=form, q=q, region=region or "", tier=min_tier
    )


@bp.post("/<int:event_id>/requests/<int:to_firm_id>")
@login_required
def send_request(event_id: int, to_firm_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    reg = own_registration(event)
    form = RequestForm()
    form.demand_id.choices = [("", "—")] + [(str(d.demand_id), d.demand.title) for d in event.demands]
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("events.browse", event_id=event.id))
    demand_id = form_id("demand_id", form.demand_id.data or "")
    _r, error = commit_or_deny(
        lambda: evreq.request_meeting(
            get_db(), event, reg.firm_id, to_firm_id, message=form.message.data or "", demand_id=demand_id
        )
    )
    flash_outcome(error, _("洽谈申请已发送"))
    return redirect(url_for("events.browse", event_id=event.id))


@bp.get("/<int:event_id>/requests")
@login_required
def requests_page(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    reg = own_registration(event)
    db = get_db()
    groups = evreq.requests_for_firm(db, event, reg.firm_id)
    db.commit()  # expired requests are written
    pairs = [(r.from_firm_id, r.to_firm_id) for rows in groups.values() for r in rows]
    met = evreq.met_before(db, event, pairs)
    met_ids = {r.id for rows in groups.values() for r in rows if frozenset((r.from_firm_id, r.to_firm_id)) in met}
    return render_template("events/requests.html", event=event, groups=groups, met_ids=met_ids, form=ActionForm())


@bp.post("/<int:event_id>/requests/<int:request_id>/answer/<answer>")
@login_required
def answer(event_id: int, request_id: int, answer: str):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    post_ok()
    db = get_db()
    req = db.get(MeetingRequest, request_id)
    if req is None or req.event_id != event.id or answer not in ("accept", "decline"):
        abort(404)
    if evacl.request_access(db, page_viewer(), req) is evacl.Access.NONE:
        abort(404)  # another pair's request is not shown to exist
    # visible to the asking firm and the organizer, but the service refuses all but the asked firm (403)
    _r, error = commit_or_deny(lambda: evreq.answer_request(db, req, user=current_user, accept=answer == "accept"))
    if error:
        db.commit()  # an expired request stays expired
    flash_outcome(error, _("已回复洽谈申请"))
    return redirect(url_for("events.requests_page", event_id=event.id))


@bp.post("/<int:event_id>/proposals/accept")
@login_required
def accept_proposals(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    reg = own_registration(event)
    post_ok()
    ids = form_ids("request_id")
    done, error = commit_or_deny(lambda: evreq.accept_proposals(get_db(), event, reg.firm_id, ids))
    flash_outcome(error, lambda: _("已接受 %(n)d 个推荐洽谈", n=len(done)))
    return redirect(url_for("events.requests_page", event_id=event.id))


@bp.post("/<int:event_id>/propose")
@login_required
def propose(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.ORGANIZER)
    post_ok()
    run, error = commit(lambda: evreq.propose(get_db(), get_engine(), event))
    if error or run.made:
        flash_outcome(error, lambda: _("平台已推荐 %(n)d 场洽谈", n=len(run.made)))
    else:  # nothing proposed: say why, from the event's data
        flash(_("平台已推荐 0 场洽谈：%(reason)s", reason=localized(run.why_none)), "info")
    return redirect(url_for("events.schedule_page", event_id=event.id))


# --- agenda --------------------------------------------------------------------------------------


def _agenda_firm(event, access):  # noqa: ANN001, ANN202
    """Whose agenda: the participant's own; the organizer may pass ?firm=ID (400 when it is no id)."""
    db = get_db()
    firm_id = form_id("firm", request.args.get("firm", ""))
    if access is evacl.Access.ORGANIZER and firm_id is not None:
        reg = evacl.registration_for(db, event, firm_id)
        if reg is None:
            abort(404)
        return reg
    return own_registration(event)


@bp.get("/<int:event_id>/agenda")
@login_required
def agenda(event_id: int):  # noqa: ANN201
    event, access = event_or_abort(event_id, evacl.Access.PARTICIPANT)
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
        cancellable=cancellable_ids(meetings),
        markable={m.id for m in meetings if evmeet.can_mark_meeting(db, m)},  # held / no-show from the meeting's day
        qr=checkin_qr_svg(url),
        checkin_url=url,
        form=ActionForm(),
        printable=False,
        statuses={s.value: s for s in MeetingStatus},
    )


@bp.get("/<int:event_id>/agenda/print")
@login_required
def agenda_print(event_id: int):  # noqa: ANN201
    event, access = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    reg = _agenda_firm(event, access)
    rows = agenda_rows(get_db(), event, reg.firm_id, include_waiting=False)
    url = request.host_url.rstrip("/") + checkin_path(reg)
    return render_template(
        "events/agenda_print.html", event=event, reg=reg, rows=rows, qr=checkin_qr_svg(url), checkin_url=url
    )


@bp.get("/<int:event_id>/agenda.ics")
@login_required
def agenda_calendar(event_id: int):  # noqa: ANN201
    event, access = event_or_abort(event_id, evacl.Access.PARTICIPANT)
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
    event, access = event_or_abort(event_id, evacl.Access.PARTICIPANT)
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
    access, reg = evmeet.checkin_access(db, page_viewer(), event, token)
    if access is evacl.Access.NONE:
        abort(404 if current_user.is_authenticated else 401)
    if access is evacl.Access.PARTICIPANT and request.method == "GET":
        g.event_access = evacl.event_access(db, page_viewer(), event)  # the event tabs of a participant
        return render_template("events/checkin_own.html", event=event, reg=reg)
    if access is not evacl.Access.ORGANIZER:
        abort(403)
    g.event_access = access
    if reg is None:
        abort(404)
    if request.method == "POST":
        post_ok()
        _r, error = commit(lambda: evmeet.check_in(db, event, token))
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
    if evacl.meeting_access(db, page_viewer(), meeting) is evacl.Access.NONE:
        abort(404)  # another pair's meeting is not shown to exist
    return meeting


@bp.post("/<int:event_id>/meetings/<int:meeting_id>/<action>")
@login_required
def meeting_action(event_id: int, meeting_id: int, action: str):  # noqa: ANN201
    event, access = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    meeting = _meeting(event, meeting_id)
    post_ok()
    db = get_db()
    actions = {
        "held": lambda: evmeet.mark_meeting(db, meeting, held=True),
        "no-show": lambda: evmeet.mark_meeting(db, meeting, held=False),
        "cancel": lambda: evmeet.cancel_meeting(db, meeting),
    }
    if action not in actions:
        abort(404)
    _r, error = commit(actions[action])
    flash_outcome(error, _("洽谈状态已更新"))
    # back to the page the button was on; without a referrer the organizer's schedule (the
    # organizer has no agenda of its own) or the firm's agenda
    back = "events.schedule_page" if access is evacl.Access.ORGANIZER else "events.agenda"
    return redirect(same_site_referrer() or url_for(back, event_id=event.id))


@bp.route("/<int:event_id>/meetings/<int:meeting_id>/outcome", methods=["GET", "POST"])
@login_required
def outcome(event_id: int, meeting_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
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
        row, error = commit_or_deny(lambda: evmeet.record_outcome(get_db(), meeting, current_user.firm_id, data))
        if error:
            apply_error(form, error)
        else:
            flash(_("洽谈成果已记录"), "success")
            return redirect(url_for("events.outcome", event_id=event.id, meeting_id=meeting.id))
    contract = (
        evmeet.meeting_contract_source(meeting) if mine is not None and mine.outcome.value == "agreement" else None
    )
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
    from marketplace.contracts import starting
    from marketplace.models import User

    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    meeting = _meeting(event, meeting_id)
    if current_user.firm_id not in (meeting.large_firm_id, meeting.sme_firm_id):
        abort(403)
    post_ok()
    db = get_db()
    contract, error = commit_or_deny(lambda: starting.start_from_meeting(db, db.get(User, current_user.id), meeting.id))
    if error:
        flash(localized(error), "error")
        return redirect(url_for("events.outcome", event_id=event.id, meeting_id=meeting.id))
    return redirect(url_for("contracts.detail", contract_id=contract.id))


@bp.route("/<int:event_id>/survey", methods=["GET", "POST"])
@login_required
def survey(event_id: int):  # noqa: ANN201
    event, _a = event_or_abort(event_id, evacl.Access.PARTICIPANT)
    reg = own_registration(event)
    form = SurveyForm()
    if form.validate_on_submit():
        data = {
            "still_in_contact": bool(form.still_in_contact.data),
            "contracts_signed": form.contracts_signed.data or 0,
            "contract_amount": float(form.contract_amount.data or 0),
            "satisfaction": int(form.satisfaction.data),
            "comment": form.comment.data or "",
        }
        _r, error = commit_or_deny(lambda: evmeet.submit_survey(get_db(), event, reg.firm_id, data))
        if error:
            apply_error(form, error)
        else:
            flash(_("感谢填写回访问卷"), "success")
            return redirect(url_for("events.show", event_id=event.id))
    status = 400 if request.method == "POST" else 200  # a form shown again carries its errors
    return render_template("events/survey.html", event=event, form=form), status
