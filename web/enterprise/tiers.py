"""Tier readiness pages: a firm's figures and assessment, and the organizers' pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.enterprise.tiers import (
    UNKNOWN_CHAIN,
    UNKNOWN_REGION,
    assess_firm,
    can_recognise_tier,
    can_view_figures,
    decide_tier_claim,
    get_figures,
    load_criteria,
    pending_tier_claims,
    pipeline,
    report_region,
    save_figures,
)
from marketplace.enterprise.units import unit_en
from marketplace.models import Firm, Role, Tier
from web.db import commit, get_db
from web.extensions import require_role
from web.messages import page_locale, refuse

bp = Blueprint("tiers", __name__, url_prefix="/tiers")


@bp.app_template_filter("zhen")
def zhen(item: dict[str, Any] | None, zh: str = "zh", en: str = "en") -> str:
    """The Chinese or English text of a criteria item, by the page language."""
    if not item:
        return ""
    return str(item.get(en) or item.get(zh) or "") if page_locale().startswith("en") else str(item.get(zh) or "")


@bp.app_template_filter("unit")
def unit(value: str | None) -> str:
    """A figure's unit (万元, 年 …) by the page language."""
    return unit_en(value) if page_locale().startswith("en") else (value or "")


@bp.app_template_filter("unit_label")
def unit_label(value: str | None) -> str:
    """A figure's unit as it follows the figure's label: "（万元）" / " (×10k CNY)"; English units
    that carry their own brackets ("(rank)") are not bracketed again, and one with no word shows nothing."""
    text = unit(value)
    if not text:
        return ""
    if page_locale().startswith("en"):
        return f" {text}" if text.startswith("(") else f" ({text})"
    return f"（{text}）"


@bp.app_template_filter("tier_label")
def tier_label(value: str | None) -> str:
    """A tier code (little_giant ...) as its label in the page language."""
    from web.i18n import label

    return label(Tier(value)) if value in {t.value for t in Tier} else ""


def _firm_for(firm_id: int, allowed: Callable[[Any, Any, Firm], bool]) -> Firm:
    """The firm (404 when missing), if ``allowed(session, user, firm)`` lets the signed-in user at it
    (403 otherwise)."""
    db = get_db()
    firm = db.get(Firm, firm_id)
    if firm is None:
        abort(404)
    if not allowed(db, current_user, firm):
        abort(403)
    return firm


def viewable_firm(firm_id: int) -> Firm:
    """The firm, if the signed-in user may see its figures."""
    return _firm_for(firm_id, can_view_figures)


@bp.route("/", methods=["GET", "POST"])
@login_required
def mine():  # noqa: ANN201
    """The signed-in firm's figures form and assessment; organizers go to the pipeline."""
    if current_user.firm_id is None:
        return redirect(url_for("tiers.pipeline_page"))
    return _firm_page(current_user.firm_id)


@bp.route("/firm/<int:firm_id>", methods=["GET", "POST"])
@login_required
def firm_page(firm_id: int):  # noqa: ANN201
    return _firm_page(firm_id)


def _firm_page(firm_id: int):  # noqa: ANN202
    firm = viewable_firm(firm_id)
    db = get_db()
    criteria = load_criteria()
    error = None
    if request.method == "POST":
        # yes/no figures come as "true" / "false" / "" (not sure: unknown), like the others
        raw = {key: request.form.get(key, "") for key in criteria.fields if key in request.form}
        _row, error = commit(lambda: save_figures(db, firm, raw, by=current_user.email))
        if error is None:  # say it was saved and what the new figures reach, where the page opens
            highest = assess_firm(db, firm)["highest"]
            top = zhen(next(t for t in criteria.tiers if t["key"] == highest)) if highest else _("尚未达到任何梯度")
            flash(_("企业数据已保存，已按新数据重新评估：%(result)s", result=top), "success")
            return redirect(request.path)
    figures, sources = get_figures(db, firm)
    if error is not None:
        figures = {**figures, **{k: v for k, v in request.form.items() if k in criteria.fields}}
    result = assess_firm(db, firm)
    return (
        render_template(
            "tiers/firm.html",
            firm=firm,
            criteria=criteria,
            figures=figures,
            sources=sources,
            result=result,
            error=error,
        ),
        400 if error else 200,
    )


@bp.get("/pipeline")
@login_required
def pipeline_page():  # noqa: ANN201
    require_role(Role.ORGANIZER)
    db = get_db()
    region = report_region(db, current_user, request.args.get("region") or None)
    data = pipeline(db, region=region, chain=(request.args.get("chain") or None))
    claims = pending_tier_claims(db, region)
    return render_template(
        "tiers/pipeline.html",
        data=data,
        region=region,
        chain=request.args.get("chain", ""),
        claims=claims,
        unknown_chain=UNKNOWN_CHAIN,
        unknown_region=UNKNOWN_REGION,
    )


@bp.post("/claims/<int:firm_id>/<any(recognise, reject):decision>")
@login_required
def decide_claim(firm_id: int, decision: str):  # noqa: ANN201
    """An organizer of the firm's region or an admin recognises or turns down its claimed tier."""
    require_role(Role.ORGANIZER)
    firm = _firm_for(firm_id, can_recognise_tier)
    db = get_db()
    _firm, error = commit(lambda: decide_tier_claim(db, current_user, firm, accept=decision == "recognise"))
    if error is not None:
        refuse(error)
    flash(_("已认定该企业的梯度") if decision == "recognise" else _("已退回该企业的梯度申报"), "success")
    return redirect(url_for("tiers.pipeline_page"))
