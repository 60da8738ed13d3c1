"""JSON API of tier readiness under /api/v1/tiers: criteria, a firm's figures and assessment,
the organizers' pipeline. A firm's figures go through ``can_view_figures`` only."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from apiflask import Schema, abort
from apiflask.fields import Dict, Integer, List, String
from apiflask.validators import OneOf
from marshmallow import ValidationError

from marketplace.enterprise.tiers import (
    MAX_FIGURE,
    assess_firm,
    available_years,
    can_view_figures,
    load_criteria,
    pipeline,
    report_region,
    save_figures,
)
from marketplace.errors import InputError
from marketplace.models import Firm, Role
from marketplace.regions import parse_region
from web.api_fields import SCHEMA_RULES, Region
from web.db import commit, get_db
from web.demands.api import auth
from web.errors import api_fail
from web.extensions import api_blueprint

bp = api_blueprint("api_tiers", __name__, "/api/v1/tiers", "Tiers 梯度培育")


class YearQuery(Schema):
    year = Integer(
        load_default=None,
        allow_none=True,
        validate=OneOf(available_years()),
        metadata={"description": "an edition of the criteria; default: the newest"},
    )


def _typed_figures(figures: dict[str, Any]) -> None:
    """Each figure as the document types it (null removes it): a number for a number, true or false
    for a yes/no, one of the choices' names for a choice. The form's text ("1,000", 是/否) is for the
    page; unknown names and out-of-range numbers are the service's to refuse (400 naming them)."""
    fields = load_criteria().fields
    for key, value in figures.items():
        spec = fields.get(key)
        if spec is None or value is None:
            continue
        kind = spec["type"]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (kind == "bool" and not isinstance(value, bool)) or (kind == "number" and not number):
            raise ValidationError(f"{key}: give {'true or false' if kind == 'bool' else 'a number'} or null")
        if kind == "choice" and not isinstance(value, str):
            raise ValidationError(f"{key}: give one of {', '.join(spec['choices'])} or null")


class FiguresIn(Schema):
    figures = Dict(
        required=True,
        validate=_typed_figures,
        metadata={"description": "figure name -> value (see GET /criteria fields)"},
    )


def _figure_schema(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One figure as :func:`marketplace.enterprise.tiers.parse_figures` reads it; null removes it."""
    about = {"description": f"{spec.get('en') or spec['zh']} ({spec['zh']})", "nullable": True}
    if spec["type"] == "bool":
        return {"type": "boolean", **about}
    if spec["type"] == "choice":
        return {"type": "string", "enum": [*spec["choices"], None], **about}  # a nullable enum lists null
    signed = "growth" in key or key == "net_profit_margin"
    top = 100 if spec.get("unit") == "%" and "growth" not in key else MAX_FIGURE
    return {"type": "number", "minimum": -MAX_FIGURE if signed else 0, "maximum": top, **about}


# the figures of the newest criteria, each by its name (GET /criteria tells their meaning)
SCHEMA_RULES["FiguresIn"] = {
    "properties": {
        "figures": {
            "type": "object",
            "properties": {key: _figure_schema(key, spec) for key, spec in load_criteria().fields.items()},
            "additionalProperties": False,
            "description": "figure name -> value (see GET /criteria fields); null removes a figure",
        }
    }
}


class PipelineQuery(Schema):
    region = Region(load_default=None, allow_none=True)
    chain = String(load_default=None, allow_none=True)


class AssessmentOut(Schema):
    """A firm's tier assessment, as :func:`marketplace.enterprise.tiers.assess_firm` gives it."""

    firm_id = Integer()
    firm = String()
    region = String(allow_none=True)
    declared_tier = String(allow_none=True)
    criteria_year = Integer()
    highest = String(allow_none=True, metadata={"description": "the highest tier met (key), if any"})
    met = List(String(), metadata={"description": "keys of the tiers met"})
    next = Dict(allow_none=True, metadata={"description": "the next tier and what it still needs"})
    tiers = List(Dict(), metadata={"description": "every tier: met, nearly, conditions, missing, score"})
    figures = Dict(metadata={"description": "figure name -> value"})
    figure_sources = Dict()


def _firm(firm_id: int) -> Firm:
    db = get_db()
    firm = db.get(Firm, firm_id)
    if firm is None:
        abort(404, message=f"firm {firm_id} does not exist")
    if not can_view_figures(db, auth.current_user, firm):
        abort(403, message="a firm's figures are visible to the firm, its region's organizers and admins only")
    return firm


@bp.get("/criteria")
@bp.auth_required(auth)
@bp.input(YearQuery, location="query", arg_name="q")
def criteria(q: dict[str, Any]):  # noqa: ANN201
    """The tier criteria of an edition (default: the newest), with their sources."""
    try:
        return asdict(load_criteria(q.get("year")))
    except InputError as exc:
        api_fail(exc)


@bp.get("/firms/<int:firm_id>")
@bp.auth_required(auth)
@bp.output(AssessmentOut)
def assessment(firm_id: int):  # noqa: ANN201
    """Which tiers the firm meets, scores, missing conditions with gaps, and what the next tier needs."""
    return assess_firm(get_db(), _firm(firm_id))


@bp.put("/firms/<int:firm_id>/figures")
@bp.auth_required(auth)
@bp.input(FiguresIn, arg_name="data")
@bp.output(AssessmentOut)
def put_figures(firm_id: int, data: dict[str, Any]):  # noqa: ANN201
    """Update the firm's figures (an empty value removes one); returns the new assessment."""
    firm = _firm(firm_id)
    db = get_db()
    _row, error = commit(lambda: save_figures(db, firm, data["figures"], by=auth.current_user.email))
    if error:
        api_fail(error)
    return assess_firm(db, firm)


@bp.get("/pipeline")
@bp.auth_required(auth)
@bp.input(PipelineQuery, location="query", arg_name="q")
def get_pipeline(q: dict[str, Any]):  # noqa: ANN201
    """Firms meeting or nearly meeting each tier, by region and chain (organizers: their region)."""
    user = auth.current_user
    db = get_db()
    if user.role not in (Role.ORGANIZER, Role.ADMIN):
        abort(403, message="the pipeline is for organizers and admins")
    try:  # an unknown region or chain is a 400 naming it (an organizer's region replaces the one asked for)
        requested = parse_region(q.get("region"), "region")
        return pipeline(db, region=report_region(db, user, requested), chain=q.get("chain"))
    except InputError as exc:
        api_fail(exc)
