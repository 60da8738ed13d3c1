"""JSON API of policies under /api/v1/policies: list and search, create and change (organizers),
publish, and a firm's matches. Rules are validated and refused with the field named (400)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, abort
from apiflask.fields import Boolean, Dict, Integer, List, Raw, String
from apiflask.validators import Regexp

from marketplace.enterprise.policies import (
    can_manage_policy,
    can_view_policy,
    create_policy,
    list_policies,
    match_firm,
    policy_dict,
    publish_policy,
    search_policies,
    update_policy,
)
from marketplace.enterprise.policy_rules import RULES, KeywordRule, RangeRule
from marketplace.enterprise.tiers import can_view_figures
from marketplace.models import Firm, FirmKind, Policy, PolicyStatus, Tier
from marketplace.regions import PROVINCES
from web.api_fields import ID_RANGE, NOT_BLANK, SEARCH_LENGTH, JsonBoolean, Region
from web.db import commit, get_db
from web.demands.api import auth
from web.errors import api_fail
from web.extensions import api_blueprint
from web.matching_engine import get_encoder

bp = api_blueprint("api_policies", __name__, "/api/v1/policies", "Policies 惠企政策")


def _rule_schemas() -> list[dict[str, Any]]:
    """Each rule a policy may hold, as :func:`marketplace.enterprise.policy_rules.validate_rules` reads it."""
    tiers = [t.value for t in Tier]

    def rule(name: str, required: list[str], **properties: Any) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"field": {"type": "string", "enum": [name]}, **properties},
            "required": ["field", *required],
            "additionalProperties": False,
        }

    def one_of(values: list[str]) -> dict[str, Any]:
        return {"type": "array", "minItems": 1, "items": {"type": "string", "enum": values}}

    out = [
        rule("tier", ["min"], min={"type": "string", "enum": tiers}),
        rule("tier", ["in"], **{"in": one_of(tiers)}),
        rule("region", ["in"], **{"in": one_of(list(PROVINCES))}),
        rule("kind", ["in"], **{"in": one_of([k.value for k in FirmKind])}),
    ]
    words = {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "pattern": r"^[^\u0000\n]*[^\s\u0000][^\u0000\n]*$"},
    }
    for name, kind in RULES.items():
        if isinstance(kind, KeywordRule):
            out.append(rule(name, ["any"], any=words))
        elif isinstance(kind, RangeRule):  # at least one bound (null: none); min not above max
            bound = {"type": "number", "nullable": True}
            some = [
                {"required": [key], "properties": {key: {"type": "number", "nullable": False}}}
                for key in ("min", "max")
            ]
            out.append({**rule(name, [], min=bound, max=bound), "anyOf": some})
    return out


RULES_DESCRIPTION = 'e.g. [{"field": "rd_share", "min": 3}]; one rule per field, a range\'s min not above its max'


# a day written YYYY-MM-DD, or empty for none
DAY = Regexp(r"^(|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))$", error="use YYYY-MM-DD")


class PolicyIn(Schema):
    title = String(required=True, validate=NOT_BLANK)
    issuer = String(required=True, validate=NOT_BLANK)
    document_number = String(allow_none=True)
    region = Region(allow_none=True)
    valid_from = String(allow_none=True, validate=DAY, metadata={"description": "YYYY-MM-DD"})
    valid_to = String(allow_none=True, validate=DAY, metadata={"description": "YYYY-MM-DD, not before valid_from"})
    benefit = String(load_default="")
    original_text = String(load_default="")
    source_url = String(
        allow_none=True,
        validate=Regexp(r"^(|https?://[^\u0000]*)$", error="give the http(s) address of the original document"),
    )
    rules = List(
        Raw(metadata={"oneOf": _rule_schemas()}), load_default=list, metadata={"description": RULES_DESCRIPTION}
    )
    publish = JsonBoolean(load_default=False)


class PolicyPatch(PolicyIn):
    title = String(validate=NOT_BLANK)
    issuer = String(validate=NOT_BLANK)
    rules = List(Raw(metadata={"oneOf": _rule_schemas()}), metadata={"description": RULES_DESCRIPTION})


class SearchQuery(Schema):
    q = String(load_default="", validate=SEARCH_LENGTH)


class MatchQuery(Schema):
    firm_id = Integer(required=True, validate=ID_RANGE)  # a query string: not strict


class PolicyOut(Schema):
    """A policy as :func:`marketplace.enterprise.policies.policy_dict` gives it."""

    policy_id = Integer()
    title = String()
    issuer = String()
    document_number = String(allow_none=True)
    region = String(allow_none=True)
    valid_from = String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    valid_to = String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    benefit = String()
    rules = List(Dict())
    rules_text = List(Dict(), metadata={"description": "each effective rule in words: {zh, en}"})
    original_text = String()
    source_url = String(allow_none=True)
    status = String()
    in_force = Boolean()
    organization_id = Integer(allow_none=True)


class PolicyReachOut(PolicyOut):
    reach = Dict(metadata={"description": "the firms the policy (newly) applies to, who were notified"})


def _visible(policy_id: int) -> Policy:
    policy = get_db().get(Policy, policy_id)
    if policy is None or not can_view_policy(auth.current_user, policy):
        abort(404, message=f"policy {policy_id} does not exist")
    return policy


def _managed(policy_id: int) -> Policy:
    policy = _visible(policy_id)
    if not can_manage_policy(auth.current_user, policy):
        abort(403, message="only the publishing organization's organizers and admins change a policy")
    return policy


@bp.get("")
@bp.auth_required(auth)
@bp.input(SearchQuery, location="query", arg_name="q")
def list_all(q: dict[str, Any]):  # noqa: ANN201
    """Published policies; with ``q`` a free-text search (Chinese BM25 + dense model) ranked by relevance."""
    db = get_db()
    if q["q"].strip():
        return {"items": search_policies(db, q["q"], encoder=get_encoder())}
    return {"items": [policy_dict(p) for p in list_policies(db)]}


@bp.post("")
@bp.auth_required(auth)
@bp.input(PolicyIn, arg_name="data")
@bp.output(PolicyOut, status_code=201)
def post_policy(data: dict[str, Any]):  # noqa: ANN201
    """Create a policy (organizers); ``publish`` matches every firm and notifies those it reaches."""
    user = auth.current_user
    if not can_manage_policy(user):
        abort(403, message="only organizers publish policies")
    publish = data.pop("publish", False)
    db = get_db()
    policy, error = commit(lambda: create_policy(db, data, organization_id=user.organization_id, publish=publish))
    if error:
        api_fail(error)
    return policy_dict(policy)


@bp.get("/<int:policy_id>")
@bp.auth_required(auth)
@bp.output(PolicyOut)
def get_one(policy_id: int):  # noqa: ANN201
    return policy_dict(_visible(policy_id))


@bp.patch("/<int:policy_id>")
@bp.auth_required(auth)
@bp.input(PolicyPatch(partial=True), arg_name="data")
@bp.output(PolicyReachOut)
def patch_policy(policy_id: int, data: dict[str, Any]):  # noqa: ANN201
    """Change a policy; a published one notifies the firms it newly applies to."""
    policy = _managed(policy_id)
    data.pop("publish", None)
    result, error = commit(lambda: update_policy(get_db(), policy, data))
    if error:
        api_fail(error)
    return {**policy_dict(policy), "reach": result}


@bp.post("/<int:policy_id>/publish")
@bp.auth_required(auth)
@bp.output(PolicyReachOut)
def publish(policy_id: int):  # noqa: ANN201
    policy = _managed(policy_id)
    if policy.status is PolicyStatus.PUBLISHED:
        abort(409, message="the policy is already published")
    result, error = commit(lambda: publish_policy(get_db(), policy))
    if error:
        abort(409, message=str(error))
    return {**policy_dict(policy), "reach": result}


@bp.get("/match")
@bp.auth_required(auth)
@bp.input(MatchQuery, location="query", arg_name="q")
def match(q: dict[str, Any]):  # noqa: ANN201
    """The policies a firm qualifies for and nearly qualifies for, each rule explained (the firm's
    own users, its region's organizers and admins)."""
    db = get_db()
    firm = db.get(Firm, q["firm_id"])
    if firm is None:
        abort(404, message=f"firm {q['firm_id']} does not exist")
    if not can_view_figures(db, auth.current_user, firm):
        abort(403, message="a firm's policy matches are visible to the firm, its region's organizers and admins")
    return {"firm_id": firm.id, "items": match_firm(db, firm.id)}
