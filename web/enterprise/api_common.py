"""Shared bits of the enterprise-service JSON APIs (tiers, policies, consortia): the Bearer-token
auth of web/demands/api.py and the mapping of the marketplace's errors to HTTP statuses."""

from __future__ import annotations

from typing import NoReturn

from apiflask import abort

from marketplace.errors import InputError
from web import error_detail, error_status
from web.demands.api import auth

__all__ = ["auth", "fail"]


def fail(exc: InputError) -> NoReturn:
    """404 for a missing record, 403 for a denial, 409 for a workflow conflict, 400 for bad input;
    the field named."""
    abort(error_status(exc), message=str(exc), detail=error_detail(exc))
