"""Demands: validation of what a firm posts, and the demand workflow (draft → open → matched →
closed, or withdrawn)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from marketplace.accounts.permissions import Viewer, visible_demands_clause
from marketplace.errors import ConflictError, InputError, Message, NotFoundError, join, message_of, msg
from marketplace.models import DEMAND_TRANSITIONS, Demand, DemandStatus, DemandType, Firm, Visibility, utcnow
from marketplace.models.base import _check_transition
from marketplace.regions import parse_region

MAX_TEXT = 5000
MAX_BUDGET = 1e9  # 万元: ten trillion yuan, beyond any real demand
MAX_TERM = 200  # one wanted product, industry or technology
MAX_DETAILS = 5000  # characters of the type-specific details, as JSON
EDITABLE = (DemandStatus.DRAFT, DemandStatus.OPEN)  # a demand's content changes only in these states
MATCHABLE = (DemandStatus.OPEN, DemandStatus.MATCHED)  # candidates are matched and acted on only in these
DUPLICATE_WINDOW = timedelta(minutes=5)  # the same post again within this is a double submit
# the type-specific details each demand type takes (the demand form shows the same fields)
DETAIL_FIELDS: dict[str, list[str]] = {
    "rd": ["technical_problem", "ip_terms"],
    "supply_chain": ["quantity", "quality_standard", "delivery"],
    "investment": ["stage", "amount"],
    "incubation": ["stage", "support_needed"],
    "service": ["service_scope"],
}


def short_terms(value: list[str]) -> list[str]:
    """A list of product, industry or technology names, each a name, not a text (demands, events)."""
    for term in value:
        if len(term) > MAX_TERM:
            raise ValueError(
                msg(
                    "%(start)s… is %(n)s characters long; one term has at most %(max)s",
                    start=term[:20],
                    n=len(term),
                    max=MAX_TERM,
                )
            )
    return value


class DemandInput(BaseModel):
    """What a firm may post. Unknown fields are rejected so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    owner_firm_id: int = Field(gt=0)
    type: DemandType
    title: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=MAX_TEXT)
    wanted_products: list[str] = Field(default_factory=list, max_length=50)
    wanted_industries: list[str] = Field(default_factory=list, max_length=50)
    wanted_technologies: list[str] = Field(default_factory=list, max_length=50)
    region_preference: str | None = Field(default=None, max_length=60)
    budget_min: float | None = Field(default=None, ge=0, le=MAX_BUDGET, allow_inf_nan=False)
    budget_max: float | None = Field(default=None, ge=0, le=MAX_BUDGET, allow_inf_nan=False)
    deadline: date | None = None
    visibility: Visibility = Visibility.PUBLIC
    details: dict[str, Any] = Field(default_factory=dict)
    publish: bool = False

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: object) -> object:
        return DemandType.parse(value, "type") if isinstance(value, str) else value

    @field_validator("visibility", mode="before")
    @classmethod
    def _visibility(cls, value: object) -> object:
        return Visibility.parse(value, "visibility") if isinstance(value, str) else value

    @field_validator("wanted_products", "wanted_industries", "wanted_technologies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.replace("，", ",").replace("、", ",").split(",")
        if isinstance(value, list):
            return [v.strip() for v in value if isinstance(v, str) and v.strip()] + [
                v for v in value if not isinstance(v, str)
            ]
        return value

    @field_validator("wanted_products", "wanted_industries", "wanted_technologies")
    @classmethod
    def _short_terms(cls, value: list[str]) -> list[str]:
        return short_terms(value)

    @field_validator("details")
    @classmethod
    def _small_details(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, ensure_ascii=False, default=str))
        if size > MAX_DETAILS:
            raise ValueError(msg("%(n)s characters as JSON; at most %(max)s", n=size, max=MAX_DETAILS))
        return value

    @field_validator("deadline")
    @classmethod
    def _future(cls, value: date | None) -> date | None:
        if value is not None and value < date.today():
            raise ValueError(
                msg("deadline %(date)s is in the past; give a future date (YYYY-MM-DD)", date=value.isoformat())
            )
        return value

    @model_validator(mode="after")
    def _type_details(self) -> DemandInput:
        """Only the details the demand's type defines, each a text or a finite number: any other key
        (e.g. "visibility" or "title") would be mistaken for the demand's own field by its edit form."""
        allowed = DETAIL_FIELDS[self.type.value]
        for key, value in self.details.items():
            if key not in allowed:
                raise InputError(
                    msg(
                        "details.%(key)s: %(type)s demands have no such detail; give only %(allowed)s",
                        key=key[:60],
                        type=self.type,
                        allowed=", ".join(allowed),
                    ),
                    field=f"details.{key}",
                )
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise InputError(msg("details.%(key)s: give a text or a number", key=key), field=f"details.{key}")
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(
                    msg("details.%(key)s: %(value)s is not a finite number", key=key, value=value),
                    field=f"details.{key}",
                )
        self.details = {k: v for k, v in self.details.items() if v is not None}
        return self

    @model_validator(mode="after")
    def _budget(self) -> DemandInput:
        if self.budget_min is not None and self.budget_max is not None and self.budget_min > self.budget_max:
            raise InputError(msg("budget_min: larger than budget_max; swap them or leave one out"), field="budget_min")
        return self


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """One readable line per bad field, e.g. "type: unknown value 'x'; use one of ..."."""
    lines = []
    first_field = None
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "demand"
        first_field = first_field or loc
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, InputError):  # names its own field
            lines.append(message_of(cause))
            continue
        reason = message_of(cause) if isinstance(cause, ValueError) else _pydantic_reason(err)
        lines.append(msg("%(field)s: %(reason)s", field=loc, reason=reason))
    return join(lines), first_field


def _pydantic_reason(err: Any) -> str:
    """Pydantic's own message for the commonest errors as a translatable message when its English
    is exactly pydantic's (so API and CLI text do not change), else pydantic's text as it is."""
    make = _PYDANTIC_MESSAGES.get(err["type"])
    ctx = {k: _bound(v) for k, v in (err.get("ctx") or {}).items() if not isinstance(v, BaseException)}
    try:
        message = make(ctx) if make else None
    except KeyError:
        message = None
    return message if message is not None and message == err["msg"] else err["msg"].removeprefix("Value error, ")


def _bound(value: Any) -> Any:
    """A bound as pydantic writes it: an integral float without ".0" (le=1e9 reads 1000000000)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _too_short(c: dict[str, Any]) -> str | None:
    if c["field_type"] != "List":
        return None
    if c["min_length"] == 1:
        return msg("List should have at least 1 item after validation, not %(actual_length)s", **c)
    return msg("List should have at least %(min_length)s items after validation, not %(actual_length)s", **c)


def _too_long(c: dict[str, Any]) -> str | None:
    if c["field_type"] != "List":
        return None
    if c["max_length"] == 1:
        return msg("List should have at most 1 item after validation, not %(actual_length)s", **c)
    return msg("List should have at most %(max_length)s items after validation, not %(actual_length)s", **c)


_PYDANTIC_MESSAGES: dict[str, Any] = {
    "missing": lambda c: msg("Field required"),
    "extra_forbidden": lambda c: msg("Extra inputs are not permitted"),
    "string_too_short": lambda c: msg("String should have at least %(min_length)s characters", **c),
    "string_too_long": lambda c: msg("String should have at most %(max_length)s characters", **c),
    "int_parsing": lambda c: msg("Input should be a valid integer, unable to parse string as an integer"),
    "float_parsing": lambda c: msg("Input should be a valid number, unable to parse string as a number"),
    "bool_parsing": lambda c: msg("Input should be a valid boolean, unable to interpret input"),
    "list_type": lambda c: msg("Input should be a valid list"),
    "enum": lambda c: msg("Input should be %(expected)s", **c),
    "greater_than_equal": lambda c: msg("Input should be greater than or equal to %(ge)s", **c),
    "less_than_equal": lambda c: msg("Input should be less than or equal to %(le)s", **c),
    "too_short": _too_short,
    "too_long": _too_long,
}


def parse_demand(data: dict[str, Any]) -> DemandInput:
    try:
        return DemandInput.model_validate(data)
    except ValidationError as exc:
        message, field = validation_message(exc)
        raise InputError(message, field=field) from None


def create_demand(session: Session, data: dict[str, Any] | DemandInput) -> Demand:
    """Validate and store a demand (as a draft, or open when ``publish`` is set)."""
    spec = data if isinstance(data, DemandInput) else parse_demand(data)
    if session.get(Firm, spec.owner_firm_id) is None:
        raise NotFoundError(
            msg("owner_firm_id: firm %(id)s does not exist", id=spec.owner_firm_id), field="owner_firm_id"
        )
    values = spec.model_dump(exclude={"publish"})
    values["region_preference"] = parse_region(values["region_preference"], "region_preference")
    demand = Demand(**values, status=DemandStatus.DRAFT)
    session.add(demand)
    if spec.publish:
        demand.transition(DemandStatus.OPEN)
    session.flush()
    return demand


def create_demand_once(
    session: Session, data: dict[str, Any] | DemandInput, *, within: timedelta = DUPLICATE_WINDOW
) -> tuple[Demand, bool]:
    """:func:`create_demand`, unless the same firm created a demand of the same type and title less
    than ``within`` ago (a form posted twice): then that demand, untouched. Returns (demand, created).

    The owner firm's row is write-locked first (an UPDATE that changes nothing), so two posts at
    the same moment run one after the other and the second finds the first."""
    spec = data if isinstance(data, DemandInput) else parse_demand(data)
    session.execute(
        update(Firm).where(Firm.id == spec.owner_firm_id).values(updated_at=Firm.updated_at),
        execution_options={"synchronize_session": False},
    )
    earlier = session.scalar(
        select(Demand)
        .where(
            Demand.owner_firm_id == spec.owner_firm_id,
            Demand.type == spec.type,
            Demand.title == spec.title,
            Demand.created_at >= utcnow() - within,
        )
        .order_by(Demand.id.desc())
        .limit(1)
    )
    if earlier is not None:
        return earlier, False
    return create_demand(session, spec), True


def update_demand(session: Session, demand: Demand, data: dict[str, Any]) -> Demand:
    """Edit a draft or open demand with the same validation as creation; any other is refused (409)."""
    if demand.status not in EDITABLE:
        raise ConflictError(
            msg("status: a %(status)s demand can no longer be edited", status=demand.status), field="status"
        )
    merged = {**demand_input_dict(demand), **data, "owner_firm_id": demand.owner_firm_id}
    if "details" not in data:  # the stored details, of the type the demand now has
        kind = merged.get("type")
        allowed = DETAIL_FIELDS.get(kind.value if isinstance(kind, DemandType) else str(kind), [])
        merged["details"] = {k: v for k, v in merged["details"].items() if k in allowed}
    spec = parse_demand(merged)
    hold_demand(
        session,
        demand,
        EDITABLE,
        lambda d: msg(
            "status: demand %(id)s was %(status)s meanwhile and can no longer be edited", id=d.id, status=d.status
        ),
    )
    for key, value in spec.model_dump(exclude={"publish", "owner_firm_id"}).items():
        setattr(demand, key, value)
    demand.region_preference = parse_region(demand.region_preference, "region_preference")
    session.flush()
    return demand


def demand_input_dict(demand: Demand) -> dict[str, Any]:
    return {
        "owner_firm_id": demand.owner_firm_id,
        "type": demand.type.value,
        "title": demand.title,
        "description": demand.description,
        "wanted_products": list(demand.wanted_products or []),
        "wanted_industries": list(demand.wanted_industries or []),
        "wanted_technologies": list(demand.wanted_technologies or []),
        "region_preference": demand.region_preference,
        "budget_min": demand.budget_min,
        "budget_max": demand.budget_max,
        "deadline": demand.deadline,
        "visibility": demand.visibility.value,
        "details": dict(demand.details or {}),
    }


def hold_in_status(session: Session, demand_id: int, statuses: tuple[DemandStatus, ...]) -> bool:
    """Write-lock the demand row while it is in one of ``statuses`` (a conditional UPDATE of its
    timestamp): False when it is not. A concurrent status change then waits for, or fails
    against, this transaction instead of interleaving with it."""
    changed = session.execute(
        update(Demand).where(Demand.id == demand_id, Demand.status.in_(statuses)).values(updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount
    return changed == 1


def hold_demand(
    session: Session, demand: Demand, statuses: tuple[DemandStatus, ...], refusal: Callable[[Demand], Message]
) -> None:
    """:func:`hold_in_status`, or a 409 saying why: ``refusal`` of the demand as it is now (reloaded,
    so the message names the status a concurrent change left it in)."""
    if not hold_in_status(session, demand.id, statuses):
        session.refresh(demand)
        raise ConflictError(refusal(demand), field="status")


def get_demand(session: Session, demand_id: int) -> Demand:
    demand = session.get(Demand, demand_id)
    if demand is None:
        raise NotFoundError(
            msg("demand %(id)s does not exist; list demands with `demands list`", id=demand_id), field="demand_id"
        )
    return demand


def list_demands(
    session: Session,
    *,
    status: DemandStatus | None = None,
    type: DemandType | None = None,
    owner_firm_id: int | None = None,
    viewer: Viewer | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Demand]:
    """Demands newest first; with ``viewer``, only those the viewer may see (CLI callers, who run
    on the server, pass none)."""
    query = select(Demand).options(joinedload(Demand.owner)).order_by(Demand.id.desc())  # lists show the owner
    if viewer is not None:
        query = query.where(visible_demands_clause(viewer))
    if status is not None:
        query = query.where(Demand.status == status)
    if type is not None:
        query = query.where(Demand.type == type)
    if owner_firm_id is not None:
        query = query.where(Demand.owner_firm_id == owner_firm_id)
    return list(session.scalars(query.offset(offset).limit(limit)))


def set_status(session: Session, demand: Demand, status: DemandStatus) -> Demand:
    """Move a demand along its workflow with a conditional UPDATE (``WHERE status = <what this
    caller saw>``): when someone else changed it in between, nothing is written and a
    ConflictError (409) says so, instead of one update silently overwriting the other."""
    session.flush()
    seen = demand.status or DemandStatus.DRAFT
    _check_transition("demand", seen, status, DEMAND_TRANSITIONS[seen])
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if status is DemandStatus.OPEN:
        values["published_at"] = utcnow()
    if status in (DemandStatus.CLOSED, DemandStatus.WITHDRAWN):
        values["closed_at"] = utcnow()
    changed = session.execute(
        update(Demand).where(Demand.id == demand.id, Demand.status == seen).values(**values),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(demand)
    if changed != 1:
        raise ConflictError(
            msg(
                "status: demand %(id)s was changed meanwhile (now %(status)s); reload and try again",
                id=demand.id,
                status=demand.status,
            ),
            field="status",
        )
    return demand


def demand_dict(demand: Demand) -> dict[str, Any]:
    out = demand_input_dict(demand)
    out.update(
        {
            "demand_id": demand.id,
            "owner": demand.owner.display_name if demand.owner else None,
            "status": demand.status.value,
            "deadline": demand.deadline.isoformat() if demand.deadline else None,
            "created_at": demand.created_at.isoformat() if demand.created_at else None,
            "published_at": demand.published_at.isoformat() if demand.published_at else None,
        }
    )
    return out
