"""Firm directory, public firm pages and the signed-in firm's own capability profile."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from marketplace.enterprise.firms import firm_detail, get_firm, list_firms, search_firms, update_profile
from marketplace.enterprise.tiers import claim_tier
from marketplace.errors import NotFoundError
from marketplace.models import Firm, FirmKind, Role, Tier
from web.cache import cached
from web.db import commit, get_db
from web.extensions import require_role
from web.forms import ProfileForm, apply_error
from web.matching_engine import refresh_firm
from web.params import Page, choice_arg

bp = Blueprint("firms", __name__)
PER_PAGE = 30


def _lines(text: str | None) -> list[str]:
    return [part.strip() for line in (text or "").splitlines() for part in line.split("、") if part.strip()]


@bp.get("/firms/")
def directory():  # noqa: ANN201
    db = get_db()
    q = (request.args.get("q") or "").strip()[:200]
    kind = choice_arg("kind", [k.value for k in FirmKind])
    page = Page.from_request(PER_PAGE)
    kind_filter = FirmKind(kind) if kind else None
    if q:
        # the matching ids are cached (a substring scan of ~100,000 product names); the firms are read live
        ids = cached(
            ("firms:search", q, kind_filter, page.offset),
            lambda: [f.id for f in search_firms(db, q, limit=page.fetch, offset=page.offset, kind=kind_filter)],
        )
        found = {f.id: f for f in db.scalars(select(Firm).where(Firm.id.in_(ids)))}
        rows = [found[i] for i in ids if i in found]
    else:
        rows = list_firms(db, limit=page.fetch, offset=page.offset, kind=kind_filter)
    rows, has_next = page.window(rows)
    return render_template(
        "firms/directory.html",
        firms=rows,
        has_next=has_next,
        page=page.number,
        q=q,
        kind=kind,
        kinds=list(FirmKind),
    )


@bp.get("/firms/<int:firm_id>")
def show(firm_id: int):  # noqa: ANN201
    try:
        firm = firm_detail(get_db(), firm_id)
    except NotFoundError:
        abort(404)
    kind = FirmKind(firm["kind"]) if firm["kind"] else None  # labels in the reader's language
    tier = Tier(firm["tier"]) if firm["tier"] else None
    return render_template("firms/show.html", firm=firm, kind=kind, tier=tier)


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():  # noqa: ANN201
    require_role(Role.SME, Role.LARGE)
    if current_user.firm_id is None:
        abort(403)
    db = get_db()
    firm = get_firm(db, current_user.firm_id)
    form = ProfileForm()
    if request.method == "GET":
        form.description.data = firm.description
        form.region.data = firm.region
        claimed = firm.tier_claim or firm.tier
        form.tier.data = claimed.value if claimed else ""
        form.products.data = "\n".join(fp.product.name for fp in firm.products)
        form.industries.data = "\n".join(fi.industry.name for fi in firm.industries)
        form.patents.data = "\n".join(fp.patent.title for fp in firm.patents)
    elif form.validate_on_submit():

        def save() -> str:
            update_profile(
                db,
                firm,
                description=form.description.data or "",
                region=form.region.data or "",
                products=_lines(form.products.data),
                industries=_lines(form.industries.data),
                patents=_lines(form.patents.data),
            )
            # the tier is claimed, not set: an organizer of the region or an admin recognises it
            return claim_tier(db, firm, Tier(form.tier.data) if form.tier.data else None)

        tier_change, error = commit(save)
        if error:
            apply_error(form, error)
        else:
            refresh_firm(firm.id)
            flash(_("企业档案已保存"), "success")
            if tier_change == "claimed":
                flash(_("梯度申报已提交，待所在地区的主管部门或平台管理员认定"), "info")
            return redirect(url_for("firms.profile"))
    status = 400 if request.method == "POST" else 200
    return render_template("firms/profile.html", form=form, firm=firm), status
