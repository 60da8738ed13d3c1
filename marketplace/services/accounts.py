"""Accounts: sign-up with the firm or organization a user belongs to, password checks, API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from marketplace.errors import InputError, NotFoundError
from marketplace.models import Firm, FirmKind, Organization, OrganizationKind, Role, User
from marketplace.services.firms import create_firm

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    name: str,
    role: Role,
    firm_id: int | None = None,
    firm_name: str | None = None,
    organization_name: str | None = None,
    organization_kind: OrganizationKind = OrganizationKind.ASSOCIATION,
) -> User:
    """A new user. Firm users join ``firm_id`` or a new firm called ``firm_name``; organizers
    join (or found) ``organization_name``."""
    email = (email or "").strip().lower()
    if not _EMAIL.match(email):
        raise InputError("email: enter a valid e-mail address", field="email")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise InputError("email: this e-mail address is already registered", field="email")
    if len(password or "") < MIN_PASSWORD:
        raise InputError(f"password: use at least {MIN_PASSWORD} characters", field="password")
    if not (name or "").strip():
        raise InputError("name: enter your name", field="name")
    user = User(email=email, name=name.strip(), password_hash=generate_password_hash(password), role=role)
    if role in (Role.LARGE, Role.SME):
        user.firm_id = _firm_for(session, role, firm_id, firm_name)
    elif role is Role.ORGANIZER:
        org_name = (organization_name or "").strip()
        if not org_name:
            raise InputError("organization_name: organizers belong to an organization", field="organization_name")
        org = session.scalar(select(Organization).where(Organization.name == org_name))
        if org is None:
            org = Organization(name=org_name, kind=organization_kind)
            session.add(org)
            session.flush()
        user.organization_id = org.id
    session.add(user)
    session.flush()
    return user


def _firm_for(session: Session, role: Role, firm_id: int | None, firm_name: str | None) -> int:
    if firm_id is not None:
        if session.get(Firm, firm_id) is None:
            raise NotFoundError(f"firm_id: firm {firm_id} does not exist", field="firm_id")
        return firm_id
    if not (firm_name or "").strip():
        raise InputError("firm_name: enter your firm's registered name", field="firm_name")
    existing = session.scalar(select(Firm).where(Firm.name == firm_name.strip()))
    if existing is not None:
        raise InputError(
            "firm_name: this firm already exists; ask a colleague who manages it to invite you", field="firm_name"
        )
    kind = FirmKind.LARGE if role is Role.LARGE else FirmKind.SME
    return create_firm(session, name=firm_name, kind=kind).id


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None or not user.is_active or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def issue_api_token(session: Session, user: User) -> str:
    """A new API token for the user (shown once; only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    user.api_token_hash = _token_hash(token)
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    if not token:
        return None
    user = session.scalar(select(User).where(User.api_token_hash == _token_hash(token)))
    return user if user is not None and user.is_active else None
