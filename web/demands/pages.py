"""Demands: browse and search, post with a type-specific form, review ranked candidates with
reasons and the chain graph, and act on them (shortlist, invite to talk, decline)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from graph.protocol import Label
from marketplace.accounts.permissions import can_edit_demand, can_view_demand, visible_demands_clause
from marketplace.demands.suggestions import owner_act, suggestions_for_demand
from marketplace.demands.workflow import EDITABLE, MATCHABLE, create_demand_once, set_status, update_demand
from marketplace.enterprise.units import format_wan_range
from marketplace.errors import ConflictError, InputError, msg
from marketplace.matching.reasons import chain_path
from marketplace.matching.refresh import match_demand, require_matchable
from marketplace.models import (
    Demand,
    DemandStatus,
    DemandType,
    FirmKind,
    MatchSuggestion,
    OwnerAction,
    Role,
    Tier,
    Visibility,
)
from marketplace.regions import parse_region
from web.db import commit, get_db
from web.errors import error_status
from web.extensions import current_viewer, limit, require_role
from web.forms import DETAIL_FIELD_TYPES, DETAIL_FIELDS, ActionForm, DemandForm, apply_error
from web.i18n import label
from web.matching_engine import get_engine, heavy_work
from web.messages import localized, page_locale, refuse
from web.params import Page, choice_arg

bp = Blueprint("demands", __name__, url_prefix="/demands")
PER_PAGE = 20
# candidates a match stores: enough that the page's filters (kind, tier, region, industry) still leave
# some; shown PER_PAGE at a time. Storing 100 instead of 20 costs ~13 ms per match on the demo data.
MATCH_TOP_K = 100
STATUS_ACTIONS = {"publish": DemandStatus.OPEN, "close": DemandStatus.CLOSED, "withdraw": DemandStatus.WITHDRAWN}
OWNER_ACTIONS = {"shortlist": OwnerAction.SHORTLISTED, "invite": OwnerAction.INVITED, "decline": OwnerAction.REJECTED}


@bp.app_template_filter("budget")
def budget(low: float | None, high: float | None = None) -> str:
    """An amount (or a ``low``–``high`` range) of 万元 with its unit, as readers of the page's
    language write it: "500–3,000 万元" / "CNY 5–30 million"."""
    return format_wan_range(low, low if high is None else high, english=page_locale().startswith("en"))


@bp.app_template_filter("budget_range")
def budget_range(low: float | None, high: float | None) -> str:
    """A budget range whose ends may be missing: "不低于 500 万元" / "up to CNY 30 million"."""
    return format_wan_range(low, high, english=page_locale().startswith("en"))


def is_owner(demand: Demand) -> bool:
    return can_edit_demand(current_viewer(), demand)


def viewable_demand(demand_id: int) -> Demand:
    """The demand when the viewer may see it; 404 otherwise (a hidden demand looks missing)."""
    db = get_db()
    demand = db.get(Demand, demand_id)
    if demand is None or not can_view_demand(db, current_viewer(), demand):
        abort(404)
    return demand


def owned_demand(demand_id: int) -> Demand:
    """The demand when the viewer may manage it: 404 if it may not even see it, else 403."""
    demand = viewable_demand(demand_id)
    if not is_owner(demand):
        abort(403)
    return demand


@bp.get("/")
def browse():  # noqa: ANN201
    db = get_db()
    q = (request.args.get("q") or "").strip()[:200]
    dtype = choice_arg("type", [t.value for t in DemandType])
    page = Page.from_request(PER_PAGE)
    query = (
        select(Demand)
        .options(joinedload(Demand.owner))  # each row shows its owner: one query, not one per row
        .where(Demand.status == DemandStatus.OPEN, visible_demands_clause(current_viewer()))
    )
    if dtype:
        query = query.where(Demand.type == DemandType(dtype))
    if q:
        # % and _ are what the user typed, not wildcards
        literal = {"autoescape": True}
        query = query.where(or_(Demand.title.contains(q, **literal), Demand.description.contains(q, **literal)))
    rows, has_next = page.window(
        list(db.scalars(query.order_by(Demand.id.desc()).offset(page.offset).limit(page.fetch)))
    )
    return render_template(
        "demands/browse.html",
        demands=rows,
        has_next=has_next,
        page=page.number,
        q=q,
        dtype=dtype,
        types=list(DemandType),
    )


@bp.get("/mine")
@login_required
def mine():  # noqa: ANN201
    if current_user.firm_id is None:
        abort(403)
    rows = list(
        get_db().scalars(select(Demand).where(Demand.owner_firm_id == current_user.firm_id).order_by(Demand.id.desc()))
    )
    # SMEs answer demands rather than post them: their page says so and leads to the demands for them
    posts = current_user.role in (Role.LARGE, Role.ADMIN)
    return render_template("demands/mine.html", demands=rows, posts_demands=posts)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    require_role(Role.LARGE)
    if current_user.firm_id is None:
        abort(403)
    form = DemandForm()
    if request.method == "GET" and request.args.get("type") in DETAIL_FIELDS:
        form.type.data = request.args["type"]
    if form.validate_on_submit():
        data = {**form.to_data(current_user.firm_id), "publish": request.form.get("publish") == "1"}
        result, error = commit(lambda: create_demand_once(get_db(), data))
        if error:
            apply_error(form, error)
        else:
            demand, created = result
            if not created:  # the same form posted twice: the demand it made the first time
                flash(_("这条需求刚刚已提交，没有重复创建"), "info")
            else:
                flash(_("需求已发布") if demand.status is DemandStatus.OPEN else _("草稿已保存"), "success")
            return redirect(url_for("demands.detail", demand_id=demand.id))
    status = 400 if request.method == "POST" else 200
    return render_template("demands/form.html", form=form, detail_fields=DETAIL_FIELD_TYPES, demand=None), status


@bp.route("/<int:demand_id>/edit", methods=["GET", "POST"])
@login_required
def edit(demand_id: int):  # noqa: ANN201
    demand = owned_demand(demand_id)
    if request.method == "GET" and demand.status not in EDITABLE:  # a stale POST is refused by the service
        refuse(ConflictError(msg("status: a %(status)s demand can no longer be edited", status=demand.status)))
    form = DemandForm()
    if request.method == "GET":
        form.fill(demand)
    elif form.validate_on_submit():
        _result, error = commit(lambda: update_demand(get_db(), demand, form.to_data(demand.owner_firm_id)))
        if error:
            apply_error(form, error)
            page = render_template("demands/form.html", form=form, detail_fields=DETAIL_FIELD_TYPES, demand=demand)
            return page, error_status(error)
        flash(_("需求已更新"), "success")
        return redirect(url_for("demands.detail", demand_id=demand.id))
    status = 400 if request.method == "POST" else 200
    return render_template("demands/form.html", form=form, detail_fields=DETAIL_FIELD_TYPES, demand=demand), status


def _region_arg() -> tuple[str, str | None]:
    """The suggestions' region filter as a province (its name as the data writes it), and the
    error to show next to the filter when it names none (the filter is then left out)."""
    raw = (request.args.get("region") or "").strip()[:60]
    if not raw:
        return "", None
    try:
        return parse_region(raw, "region") or "", None
    except InputError as exc:
        return "", localized(exc)


@bp.get("/<int:demand_id>")
def detail(demand_id: int):  # noqa: ANN201
    db = get_db()
    demand = viewable_demand(demand_id)
    owner = is_owner(demand)
    region, region_error = _region_arg() if owner else ("", None)  # only the owner sees the filters
    filters = {
        "tier": choice_arg("tier", [t.value for t in Tier]),
        "kind": choice_arg("kind", [k.value for k in FirmKind]),
        "region": region,
        "industry": (request.args.get("industry") or "").strip()[:100],
    }
    page = Page.from_request(PER_PAGE)
    suggestions = suggestions_for_demand(db, demand.id, industry=filters["industry"] or None) if owner else []
    suggestions = [s for s in suggestions if _passes(s.firm, filters)]
    shown, has_next = page.window(suggestions, from_start=True)
    filtered = bool(region_error or any(filters.values()))
    return render_template(
        "demands/detail.html",
        demand=demand,
        owner=owner,
        can_edit=demand.status in EDITABLE,
        can_act=demand.status in MATCHABLE,
        can_invite=demand.visibility is not Visibility.PRIVATE,
        suggestions=shown,
        page=page.number,
        has_next=has_next,
        filters=filters,
        filtered=filtered,
        page_args={k: v for k, v in filters.items() if v},
        region_input=(request.args.get("region") or "").strip()[:60] if region_error else filters["region"],
        region_error=region_error,
        tiers=list(Tier),
        kinds=list(FirmKind),
        action_form=ActionForm(),
        detail_labels={f.name: f.label.text for f in DemandForm(meta={"csrf": False})},
    ), 400 if region_error else 200


def _passes(firm, filters: dict[str, str]) -> bool:  # noqa: ANN001
    """The kind, tier and region filters (the industry filter is applied by the query)."""
    if filters["kind"] and firm.kind.value != filters["kind"]:
        return False
    if filters["tier"] and (firm.tier is None or firm.tier.rank < Tier(filters["tier"]).rank):
        return False
    return not (filters["region"] and firm.region != filters["region"])  # already a province (_region_arg)


@bp.post("/<int:demand_id>/status/<action>")
@login_required
def change_status(demand_id: int, action: str):  # noqa: ANN201
    demand = owned_demand(demand_id)
    if action not in STATUS_ACTIONS or not ActionForm().validate_on_submit():
        abort(400)
    _result, error = commit(lambda: set_status(get_db(), demand, STATUS_ACTIONS[action]))
    if error:
        refuse(error)
    flash(_("状态已更新：%(status)s", status=label(demand.status)), "success")
    return redirect(url_for("demands.detail", demand_id=demand_id))


@bp.post("/<int:demand_id>/match")
@login_required
@limit("RATELIMIT_MATCH")
def run_match(demand_id: int):  # noqa: ANN201
    demand = owned_demand(demand_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:  # refused before the engine is asked for: no slot, no engine load for a demand not matched
        require_matchable(demand)
    except ConflictError as exc:
        abort(error_status(exc), description=_not_matched(demand.status))
    db = get_db()
    with heavy_work(f"demand-{demand.id}"):
        results = match_demand(db, get_engine(), demand, top_k=MATCH_TOP_K)
        db.commit()
    flash(_("已生成 %(n)d 家候选企业", n=len(results)), "success")
    return redirect(url_for("demands.detail", demand_id=demand_id))


def _not_matched(status: DemandStatus) -> str:
    """What the page says when the service refuses to match a demand in ``status``."""
    if status is DemandStatus.DRAFT:
        return _("请先发布需求，再匹配候选企业")
    if status is DemandStatus.CLOSED:
        return _("已关闭的需求不再匹配候选企业")
    return _("已撤回的需求不再匹配候选企业")


@bp.post("/<int:demand_id>/suggestions/<int:suggestion_id>/<action>")
@login_required
def act(demand_id: int, suggestion_id: int, action: str):  # noqa: ANN201
    demand = owned_demand(demand_id)
    if action not in OWNER_ACTIONS or not ActionForm().validate_on_submit():
        abort(400)
    db = get_db()
    suggestion = db.get(MatchSuggestion, suggestion_id)
    if suggestion is None or suggestion.demand_id != demand.id:
        abort(404)
    _result, error = commit(lambda: owner_act(db, suggestion, OWNER_ACTIONS[action], current_user.id))
    if error:  # e.g. a form left open on a demand closed since: say why, back on the demand as it is now
        flash(localized(error), "error")
    return redirect(url_for("demands.detail", demand_id=demand_id) + f"#s{suggestion_id}")


@bp.get("/<int:demand_id>/graph.json")
@login_required
def chain_graph(demand_id: int):  # noqa: ANN201
    """Nodes and links of the chain paths that reached the current candidates (for ECharts), read
    from the paths stored with the suggestions: what the owner sees is why they were suggested."""
    demand = owned_demand(demand_id)
    nodes: dict[str, dict] = {"demand": {"id": "demand", "name": demand.title[:20], "category": 0}}
    links: list[dict] = []
    categories = {Label.PRODUCT.value: 1, Label.INDUSTRY.value: 2, Label.PATENT.value: 3, Label.FIRM.value: 4}
    for suggestion in suggestions_for_demand(get_db(), demand.id)[:20]:
        previous = "demand"
        for step in chain_path(suggestion.reasons) or []:
            key = str(step.get("key") or "")
            if not key:
                continue
            category = categories.get(str(step.get("label")), 1)
            nodes.setdefault(key, {"id": key, "name": str(step.get("name") or "")[:24], "category": category})
            links.append({"source": previous, "target": key, "label": step.get("via") or "提及"})
            previous = key
    unique = {(link["source"], link["target"]): link for link in links}
    return jsonify({"nodes": list(nodes.values()), "links": list(unique.values())})
