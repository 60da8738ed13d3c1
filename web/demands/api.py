"""JSON API under /api/v1 (APIFlask): demands, firms, suggestions and matching, with bearer-token
authentication, pagination and consistent JSON errors. The OpenAPI document is generated from
this code at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from apiflask import HTTPTokenAuth, Schema, abort
from apiflask.fields import Date, Dict, Float, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from sqlalchemy import func, select

from marketplace.accounts.permissions import (
    can_answer_suggestion,
    can_edit_demand,
    can_view_demand,
    viewer_of,
    visible_demands_clause,
)
from marketplace.accounts.users import user_for_token
from marketplace.demands.suggestions import (
    inbox,
    respond_and_follow_up,
    suggestion_dict,
    suggestions_for_demand,
)
from marketplace.demands.workflow import DemandInput, create_demand, demand_dict
from marketplace.enterprise.firms import count_firms, firm_detail, firm_summary, search_firms
from marketplace.errors import ConflictError, InputError
from marketplace.matching.engine import Filters
from marketplace.matching.refresh import match_demand, require_matchable
from marketplace.models import (
    Demand,
    DemandStatus,
    DemandType,
    Firm,
    FirmKind,
    Industry,
    MatchSuggestion,
    Role,
    SuggestionStatus,
    Tier,
    Visibility,
)
from marketplace.regions import parse_region
from web.api_fields import SEARCH_LENGTH, JsonBoolean, JsonNumber, Region, Whole, rules_of
from web.db import commit, get_db
from web.errors import api_error, api_fail
from web.extensions import api_blueprint, limit
from web.matching_engine import get_engine, heavy_work
from web.messages import page_locale

bp = api_blueprint("api", __name__, "/api/v1", "ChainMatch")
MAX_PAGE = 10_000
auth = HTTPTokenAuth(scheme="Bearer", description="Create a token on /auth/token")


@auth.verify_token
def verify_token(token: str):  # noqa: ANN201
    user = user_for_token(get_db(), token)
    return user


@auth.error_processor
def auth_error(error):  # noqa: ANN001, ANN201
    return api_error(error.status_code, error.message, {"auth": "send Authorization: Bearer <token>"}, error.headers)


# --- schemas --------------------------------------------------------------------------------


class PageQuery(Schema):
    page = Integer(load_default=1, validate=Range(min=1, max=MAX_PAGE))
    per_page = Integer(load_default=20, validate=Range(min=1, max=100))


class DemandQuery(PageQuery):
    type = String(validate=OneOf([t.value for t in DemandType]))


class FirmQuery(PageQuery):
    q = String(load_default="", validate=SEARCH_LENGTH, metadata={"description": "part of a firm or product name"})
    kind = String(validate=OneOf([k.value for k in FirmKind]))


class DemandIn(Schema):
    type = String(required=True, validate=OneOf([t.value for t in DemandType]))
    title = String(required=True, validate=rules_of(DemandInput, "title"))
    description = String(load_default="", validate=rules_of(DemandInput, "description"))
    wanted_products = List(String(), load_default=list, validate=rules_of(DemandInput, "wanted_products"))
    wanted_industries = List(String(), load_default=list, validate=rules_of(DemandInput, "wanted_industries"))
    wanted_technologies = List(String(), load_default=list, validate=rules_of(DemandInput, "wanted_technologies"))
    region_preference = Region(allow_none=True)
    budget_min = JsonNumber(allow_none=True, validate=rules_of(DemandInput, "budget_min"))
    budget_max = JsonNumber(allow_none=True, validate=rules_of(DemandInput, "budget_max"))
    deadline = Date(allow_none=True)
    visibility = String(load_default="public", validate=OneOf([v.value for v in Visibility]))
    details = Dict(load_default=dict)
    publish = JsonBoolean(load_default=False)


class DemandOut(Schema):
    demand_id = Integer()
    owner_firm_id = Integer()
    owner = String(allow_none=True)
    type = String()
    title = String()
    description = String()
    status = String()
    wanted_products = List(String())
    wanted_industries = List(String())
    wanted_technologies = List(String())
    region_preference = String(allow_none=True)
    budget_min = Float(allow_none=True)
    budget_max = Float(allow_none=True)
    deadline = String(allow_none=True)
    visibility = String()
    details = Dict()
    created_at = String(allow_none=True)
    published_at = String(allow_none=True)


class PageMeta(Schema):
    page = Integer()
    per_page = Integer()
    total = Integer()


class DemandPage(Schema):
    items = List(Nested(DemandOut))
    meta = Nested(PageMeta)


class FirmOut(Schema):
    firm_id = Integer()
    name = String()
    short_name = String(allow_none=True)
    stock_code = String(allow_none=True)
    kind = String(allow_none=True)
    tier = String(allow_none=True)
    region = String(allow_none=True)


class FirmPage(Schema):
    items = List(Nested(FirmOut))
    meta = Nested(PageMeta)


class FirmDetailOut(FirmOut):
    description = String(allow_none=True)
    products = List(Dict())
    industries = List(Dict())
    patents = List(Dict())
    names = List(Dict())
    source = String()


class SuggestionOut(Schema):
    suggestion_id = Integer()
    demand_id = Integer()
    firm_id = Integer()
    firm = String(allow_none=True)
    score = Float()
    rank = Integer(allow_none=True)
    reasons = List(String(), metadata={"description": "reasons rendered in the request's language (Accept-Language)"})
    reason_data = List(Dict(), metadata={"description": "the structured reasons (kind, terms, chain path ...)"})
    status = String()
    owner_action = String()


class SuggestionList(Schema):
    items = List(Nested(SuggestionOut))


class RespondIn(Schema):
    status = String(required=True, validate=OneOf(["accepted", "declined"]))


class MatchIn(Schema):
    text = String(required=True, validate=Length(min=1, max=20000))
    type = String(required=True, validate=OneOf([t.value for t in DemandType]))
    top_k = Whole(load_default=10, validate=Range(min=1, max=100))
    kind = String(validate=OneOf([k.value for k in FirmKind]))
    min_tier = String(validate=OneOf([t.value for t in Tier]))
    region = Region()
    industry = String()


class MatchResultOut(Schema):
    firm_id = Integer()
    name = String()
    short_name = String(allow_none=True)
    stock_code = String(allow_none=True)
    score = Float()
    reasons = List(String(), metadata={"description": "reasons rendered in the request's language (Accept-Language)"})
    reason_data = List(Dict(), metadata={"description": "the structured reasons (kind, terms, chain path ...)"})


class MatchOut(Schema):
    results = List(Nested(MatchResultOut))
    warning = String(allow_none=True)


# --- helpers --------------------------------------------------------------------------------


def _page(query, page: int, per_page: int) -> tuple[list, dict[str, int]]:  # noqa: ANN001
    db = get_db()
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(db.scalars(query.offset((page - 1) * per_page).limit(per_page)))
    return rows, {"page": page, "per_page": per_page, "total": total}


def _viewer():  # noqa: ANN202
    return viewer_of(auth.current_user)


def _visible(demand_id: int) -> Demand:
    """The demand if the caller may see it; 404 otherwise (hidden demands look missing)."""
    db = get_db()
    demand = db.get(Demand, demand_id)
    if demand is None or not can_view_demand(db, _viewer(), demand):
        abort(404, message=f"demand {demand_id} does not exist")
    return demand


def _owned(demand_id: int) -> Demand:
    demand = _visible(demand_id)
    if not can_edit_demand(_viewer(), demand):
        abort(403, message="only the demand owner's users may do this")
    return demand


# --- routes ---------------------------------------------------------------------------------


@bp.get("/demands")
@bp.auth_required(auth)
@bp.input(DemandQuery, location="query", arg_name="q")
@bp.output(DemandPage)
def list_demands(q: dict[str, Any]):  # noqa: ANN201
    """Open demands the caller may see (public, own, invited), newest first."""
    query = select(Demand).where(Demand.status == DemandStatus.OPEN, visible_demands_clause(_viewer()))
    if q.get("type"):
        query = query.where(Demand.type == DemandType(q["type"]))
    rows, meta = _page(query.order_by(Demand.id.desc()), q["page"], q["per_page"])
    return {"items": [demand_dict(d) for d in rows], "meta": meta}


@bp.post("/demands")
@bp.auth_required(auth)
@bp.input(DemandIn, arg_name="data")
@bp.output(DemandOut, status_code=201)
def post_demand(data: dict[str, Any]):  # noqa: ANN201
    """Post a demand for the caller's firm (large-firm users)."""
    viewer = _viewer()
    if viewer.role not in (Role.LARGE, Role.ADMIN) or viewer.firm_id is None:
        abort(403, message="only large-firm users can post demands")
    demand, error = commit(lambda: create_demand(get_db(), {**data, "owner_firm_id": viewer.firm_id}))
    if error:
        api_fail(error)
    return demand_dict(demand)


@bp.get("/demands/<int:demand_id>")
@bp.auth_required(auth)
@bp.output(DemandOut)
def get_demand(demand_id: int):  # noqa: ANN201
    return demand_dict(_visible(demand_id))


@bp.get("/demands/<int:demand_id>/suggestions")
@bp.auth_required(auth)
@bp.output(SuggestionList)
def demand_suggestions(demand_id: int):  # noqa: ANN201
    demand = _owned(demand_id)
    return {"items": [suggestion_dict(s, page_locale()) for s in suggestions_for_demand(get_db(), demand.id)]}


@bp.post("/demands/<int:demand_id>/match")
@bp.auth_required(auth)
@bp.output(SuggestionList)
@limit("RATELIMIT_MATCH")
def match_stored_demand(demand_id: int):  # noqa: ANN201
    """Rank firms for the demand and store them as suggestions."""
    demand = _owned(demand_id)
    try:  # refused before the engine is asked for: no slot, no engine load for a demand not matched
        require_matchable(demand)
    except ConflictError as exc:
        api_fail(exc, detail={})  # this refusal has always answered without a detail
    db = get_db()
    with heavy_work(f"demand-{demand.id}"):
        match_demand(db, get_engine(), demand, top_k=20)
        db.commit()
    return {"items": [suggestion_dict(s, page_locale()) for s in suggestions_for_demand(db, demand.id)]}


@bp.get("/firms")
@bp.auth_required(auth)
@bp.input(FirmQuery, location="query", arg_name="q")
@bp.output(FirmPage)
def list_firms(q: dict[str, Any]):  # noqa: ANN201
    kind = FirmKind(q["kind"]) if q.get("kind") else None
    if q["q"].strip():
        db = get_db()
        rows = search_firms(db, q["q"], limit=q["per_page"], offset=(q["page"] - 1) * q["per_page"], kind=kind)
        meta = {"page": q["page"], "per_page": q["per_page"], "total": count_firms(db, q["q"], kind=kind)}
    else:
        query = select(Firm).order_by(Firm.id)
        if kind is not None:
            query = query.where(Firm.kind == kind)
        rows, meta = _page(query, q["page"], q["per_page"])
    return {"items": [firm_summary(f) for f in rows], "meta": meta}


@bp.get("/firms/<int:firm_id>")
@bp.auth_required(auth)
@bp.output(FirmDetailOut)
def get_firm_detail(firm_id: int):  # noqa: ANN201
    try:
        return firm_detail(get_db(), firm_id)
    except InputError as exc:
        api_fail(exc)


@bp.get("/suggestions")
@bp.auth_required(auth)
@bp.output(SuggestionList)
def my_suggestions():  # noqa: ANN201
    """The caller's firm's inbox."""
    viewer = _viewer()
    if viewer.firm_id is None:
        abort(403, message="only firm users with an approved membership have an inbox")
    rows = inbox(get_db(), viewer.firm_id, viewer=viewer, answerable=True)
    return {"items": [suggestion_dict(s, page_locale()) for s in rows]}


@bp.post("/suggestions/<int:suggestion_id>/respond")
@bp.auth_required(auth)
@bp.input(RespondIn, arg_name="data")
@bp.output(SuggestionOut)
def respond(suggestion_id: int, data: dict[str, Any]):  # noqa: ANN201
    db = get_db()
    suggestion = db.get(MatchSuggestion, suggestion_id)
    viewer = _viewer()
    if suggestion is None or not can_answer_suggestion(db, viewer, suggestion):
        # the demand's managers see its suggestions but do not answer them; to anyone else (another
        # firm, or the firm itself on a demand it may no longer see) the suggestion does not exist
        if suggestion is not None and can_edit_demand(viewer, suggestion.demand):
            abort(403, message="only the suggested firm answers a suggestion")
        abort(404, message=f"suggestion {suggestion_id} does not exist")
    _result, error = commit(lambda: respond_and_follow_up(db, suggestion, SuggestionStatus(data["status"])))
    if error:
        api_fail(error)
    return suggestion_dict(suggestion, page_locale())


def _industry_filter(raw: str | None) -> str | None:
    """The industry filter of a match: blank is no filter; a text no industry name contains is
    refused (it would only ever answer an empty list)."""
    text = (raw or "").strip()
    if not text:
        return None
    if get_db().scalar(select(Industry.id).where(Industry.name.contains(text, autoescape=True)).limit(1)) is None:
        abort(
            400,
            message=f"industry: no industry name contains {text[:40]!r}",
            detail={"industry": "give part of an industry name as the firm pages show it, or leave it out"},
        )
    return text


@bp.post("/match")
@bp.auth_required(auth)
@bp.input(MatchIn, arg_name="data")
@bp.output(MatchOut)
@limit("RATELIMIT_MATCH")
def match_text(data: dict[str, Any]):  # noqa: ANN201
    """Rank firms for a free text (nothing is stored)."""
    from marketplace.matching.engine import clean_query

    text, warning = clean_query(data["text"]) if data["text"].strip() else ("", None)
    if not text:
        abort(400, message="text is empty", detail={"text": "describe what the demand needs"})
    if not any(ch.isalnum() for ch in text):  # only punctuation, emoji or invisible characters
        abort(400, message="text has nothing to search for", detail={"text": "describe what the demand needs in words"})
    try:  # a region that names no province is refused, as on demands, not matched to nothing
        region = parse_region(data.get("region"), "region")
    except InputError as exc:
        api_fail(exc)
    filters = Filters(
        kind=FirmKind(data["kind"]) if data.get("kind") else None,
        min_tier=Tier(data["min_tier"]) if data.get("min_tier") else None,
        region=region,
        industry=_industry_filter(data.get("industry")),
    )
    firm_id = _viewer().firm_id
    exclude = [firm_id] if firm_id else []
    with heavy_work(f"text-{auth.current_user.id}"):
        results = get_engine().match(text, data["type"], top_k=data["top_k"], filters=filters, exclude=exclude)
    return {"results": [r.as_dict(locale=page_locale()) for r in results], "warning": warning}
