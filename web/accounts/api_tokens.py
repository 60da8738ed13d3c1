"""JSON API for the caller's own API tokens under /api/v1/tokens: list, create (rate-limited;
the secret is shown once) and revoke. Bearer-token auth like web/demands/api.py."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import Boolean, Integer, List, Nested, String
from apiflask.validators import Length, Range

from marketplace.accounts.users import (
    MAX_TOKEN_DAYS,
    TOKEN_DAYS,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
    token_dict,
)
from web.api_fields import Whole
from web.db import commit, get_db
from web.demands.api import auth
from web.errors import api_fail
from web.extensions import api_blueprint, limit

bp = api_blueprint("api_tokens", __name__, "/api/v1/tokens", "Tokens")


class TokenIn(Schema):
    name = String(required=True, validate=Length(min=1, max=80))
    expires_in_days = Whole(load_default=TOKEN_DAYS, validate=Range(min=1, max=MAX_TOKEN_DAYS))


class TokenOut(Schema):
    token_id = Integer()
    name = String()
    created_at = String()
    expires_at = String(allow_none=True)
    last_used_at = String(allow_none=True)
    revoked = Boolean()
    active = Boolean()


class NewTokenOut(Schema):
    token_id = Integer()
    name = String()
    created_at = String()
    expires_at = String(allow_none=True)
    last_used_at = String(allow_none=True)
    revoked = Boolean()
    active = Boolean()
    token = String()


class TokenList(Schema):
    items = List(Nested(TokenOut))


@bp.get("")
@bp.auth_required(auth)
@bp.output(TokenList)
def list_tokens():  # noqa: ANN201
    """The caller's tokens (never their secrets)."""
    return {"items": [token_dict(t) for t in list_api_tokens(get_db(), auth.current_user.id)]}


@bp.post("")
@bp.auth_required(auth)
@bp.input(TokenIn, arg_name="data")
@bp.output(NewTokenOut, status_code=201)
@limit("RATELIMIT_TOKENS")
def create_token(data: dict[str, Any]):  # noqa: ANN201
    """A new named token that expires after ``expires_in_days``; the secret is in this answer only."""
    db = get_db()
    result, error = commit(lambda: create_api_token(db, auth.current_user, data["name"], data["expires_in_days"]))
    if error:
        api_fail(error)
    secret, row = result
    return {**token_dict(row), "token": secret}


@bp.delete("/<int:token_id>")
@bp.auth_required(auth)
@bp.output(TokenOut)
def revoke_token(token_id: int):  # noqa: ANN201
    """Revoke one of the caller's tokens (it stops working at once)."""
    row, error = commit(lambda: revoke_api_token(get_db(), auth.current_user.id, token_id))
    if error:
        api_fail(error)
    return token_dict(row)
