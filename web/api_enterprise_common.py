"""Shared bits of the enterprise-service JSON APIs (tiers, policies, consortia): the Bearer-token
auth of web/api.py and the mapping of the marketplace's errors to HTTP statuses."""

from __future__ import annotations

from typing import NoReturn

from apiflask import abort

from marketplace.errors import InputError, NotFoundError, TransitionError
from web.api import auth

__all__ = ["auth", "fail"]


def fail(exc: InputError) -> NoReturn:
    """404 for a missing record, 409 for a workflow conflict, 400 for bad input; the field named."""
    status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, TransitionError) else 400
    abort(status, message=str(exc), detail={exc.field or "input": str(exc).split(": ", 1)[-1]})
