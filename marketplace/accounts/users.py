"""Accounts: sign-up rules (no role can be self-granted), firm membership approval, organizer
accounts and invitations, password checks in constant time, password change, and named
expiring API tokens, and a firm's members (removing one, making one firm admin or stepping down).

``create_user`` is the trusted path (CLI, demo data, tests and the admin page call it);
the public sign-up page calls :func:`register_firm_user`, which can only create a user of a new
firm or a *pending* request to join an existing one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from marketplace.accounts.permissions import Viewer, acts_for_firms
from marketplace.enterprise.firms import clean_firm_name, create_firm, firms_named
from marketplace.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError, msg
from marketplace.models import (
    ApiToken,
    Contract,
    ContractSignature,
    ContractStatus,
    Firm,
    FirmKind,
    Membership,
    Organization,
    OrganizationKind,
    OrganizerInvitation,
    Party,
    Role,
    User,
    utcnow,
)
from marketplace.models.base import INT_MAX

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 128
TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 365
INVITATION_DAYS = 7
# Compared against when the e-mail is unknown, so a failed sign-in costs the same either way.
_DUMMY_HASH = generate_password_hash("chainmatch-timing-equaliser")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_password(password: str | None) -> str:
    if not (MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD):
        raise InputError(
            msg("password: use %(min)s to %(max)s characters", min=MIN_PASSWORD, max=MAX_PASSWORD), field="password"
        )
    return password or ""


def _clean_email(email: str | None) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 255:
        raise InputError(msg("email: enter a valid e-mail address"), field="email")
    return email


def _check_name(name: str | None) -> None:
    if not (name or "").strip():
        raise InputError(msg("name: enter your name"), field="name")


def _email_taken(session: Session, email: str) -> bool:
    return session.scalar(select(User.id).where(User.email == email)) is not None


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
    membership: Membership = Membership.ACTIVE,
) -> User:
    """A new user (trusted path: CLI, admin page, demo data). Firm users join ``firm_id`` or a
    new firm called ``firm_name``; organizers join (or found) ``organization_name``. The first
    active user of a firm becomes its firm admin."""
    email = _clean_email(email)
    if _email_taken(session, email):
        raise ConflictError(msg("email: this e-mail address is already registered"), field="email")
    _check_password(password)
    _check_name(name)
    user = User(
        email=email,
        name=name.strip()[:120],
        password_hash=generate_password_hash(password),
        role=role,
        membership=membership,
    )
    if role in (Role.LARGE, Role.SME):
        user.firm_id = _firm_for(session, role, firm_id, firm_name)
        user.is_firm_admin = membership is Membership.ACTIVE and not _firm_has_admin(session, user.firm_id)
    elif role is Role.ORGANIZER:
        org_name = (organization_name or "").strip()
        if not org_name:
            raise InputError(msg("organization_name: organizers belong to an organization"), field="organization_name")
        org = session.scalar(select(Organization).where(Organization.name == org_name))
        if org is None:
            org = Organization(name=org_name[:255], kind=organization_kind)
            session.add(org)
            session.flush()
        user.organization_id = org.id
    session.add(user)
    session.flush()
    return user


def _firm_has_admin(session: Session, firm_id: int) -> bool:
    return (
        session.scalar(
            select(User.id).where(
                User.firm_id == firm_id, User.is_firm_admin.is_(True), User.membership == Membership.ACTIVE
            )
        )
        is not None
    )


def _firm_for(session: Session, role: Role, firm_id: int | None, firm_name: str | None) -> int:
    if firm_id is not None:
        if session.get(Firm, firm_id) is None:
            raise NotFoundError(msg("firm_id: firm %(firm_id)s does not exist", firm_id=firm_id), field="firm_id")
        return firm_id
    _check_new_firm_name(session, firm_name)
    kind = FirmKind.LARGE if role is Role.LARGE else FirmKind.SME
    return create_firm(session, name=firm_name or "", kind=kind).id


def _check_new_firm_name(session: Session, firm_name: str | None) -> None:
    """A new firm's name must be given and name no firm already here — by its registered name,
    short name or any other name, however written (brackets, case, invisible characters): one
    could otherwise sign up as 福莱特 and become the admin of a look-alike firm."""
    if not clean_firm_name(firm_name or ""):
        raise InputError(msg("firm_name: enter your firm's registered name"), field="firm_name")
    if firms_named(session, firm_name or ""):
        raise InputError(
            msg("firm_name: this firm already exists; choose 'join an existing firm' to ask its admin to let you in"),
            field="firm_name",
        )


def _firm_to_join(session: Session, firm_name: str | None) -> Firm:
    found = firms_named(session, firm_name or "")
    if not found:
        raise InputError(
            msg("firm_name: no firm is registered under this exact name; check the firm directory"), field="firm_name"
        )
    if len(found) > 1:
        raise InputError(
            msg("firm_name: several firms go by this name; enter the full registered name from the firm directory"),
            field="firm_name",
        )
    return session.get(Firm, found.pop())


def register_firm_user(
    session: Session, *, email: str, password: str, name: str, role: Role, firm_name: str, join: bool
) -> User | None:
    """Public sign-up. Only large-firm or SME users: of a NEW firm (its first user and admin), or
    a pending request to join an EXISTING firm (its firm admin or the platform admin approves).
    Returns None when the e-mail is already registered: the page answers the same either way
    (no account enumeration), and the password is hashed either way (same timing)."""
    if role not in (Role.LARGE, Role.SME):
        raise InputError(msg("role: sign-up is for large-firm and SME users; organizers are invited"), field="role")
    email = _clean_email(email)
    _check_password(password)
    _check_name(name)
    # the firm is checked before the e-mail: otherwise a bad firm name would answer 400 for a new
    # e-mail and "done" for a registered one, telling which e-mails have accounts
    firm = _firm_to_join(session, firm_name) if join else None
    if not join:
        _check_new_firm_name(session, firm_name)
    if _email_taken(session, email):
        generate_password_hash(password)  # same work as a real sign-up
        return None
    if firm is None:
        return create_user(session, email=email, password=password, name=name, role=role, firm_name=firm_name)
    # a member acts as what the firm is: joining an SME as a "large" user must not let it post demands
    role = {FirmKind.LARGE: Role.LARGE, FirmKind.SME: Role.SME}.get(firm.kind, role)
    return create_user(
        session, email=email, password=password, name=name, role=role, firm_id=firm.id, membership=Membership.PENDING
    )


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user when e-mail and password match. An unknown e-mail costs the same password hash
    check as a known one, so response time does not tell which e-mails are registered."""
    user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.is_active:
        return None
    return user


def change_password(session: Session, user: User, current: str, new: str) -> User:
    if not check_password_hash(user.password_hash, current or ""):
        raise InputError(msg("current_password: the current password is not correct"), field="current_password")
    _check_password(new)
    if new == current:
        raise InputError(msg("new_password: choose a password different from the current one"), field="new_password")
    user.password_hash = generate_password_hash(new)
    user.session_epoch += 1  # every other session signed in with the old password ends
    session.flush()
    return user


def end_sessions(session: Session, user: User) -> None:
    """Sign the user out everywhere: every session and remember-me cookie issued so far stops
    working (a copied session cookie too)."""
    user.session_epoch += 1
    session.flush()


# --- firm membership -------------------------------------------------------------------------


def can_manage_members(session: Session, viewer: Viewer, firm_id: int) -> bool:
    """Platform admin, or an active firm admin of that firm."""
    if viewer.is_admin:
        return True
    if viewer.firm_id != firm_id or viewer.user_id is None:
        return False
    user = session.get(User, viewer.user_id)
    return user is not None and user.is_firm_admin and user.membership is Membership.ACTIVE


def pending_members(session: Session, viewer: Viewer) -> list[User]:
    """Membership requests the viewer may decide: all for the admin, its firm's for a firm admin."""
    query = select(User).where(User.membership == Membership.PENDING).order_by(User.id)
    if not viewer.is_admin:
        if viewer.firm_id is None or not can_manage_members(session, viewer, viewer.firm_id):
            return []
        query = query.where(User.firm_id == viewer.firm_id)
    return list(session.scalars(query))


def decide_membership(session: Session, viewer: Viewer, user_id: int, approve: bool) -> User:
    """Approve or reject a pending request (conditional update: a second decision gets 409).
    The first approved member of a firm without a firm admin becomes its firm admin."""
    user = session.get(User, user_id)
    if user is None or user.firm_id is None or not can_manage_members(session, viewer, user.firm_id):
        raise NotFoundError(
            msg("user_id: no membership request %(user_id)s for you to decide", user_id=user_id), field="user_id"
        )
    new = Membership.ACTIVE if approve else Membership.REJECTED
    changed = session.execute(
        update(User)
        .where(User.id == user_id, User.membership == Membership.PENDING)
        .values(membership=new, updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(user)
    if changed != 1:
        raise ConflictError(
            msg("user_id: this request was already decided (%(status)s)", status=user.membership), field="user_id"
        )
    if approve and not _firm_has_admin(session, user.firm_id):
        user.is_firm_admin = True
    session.flush()
    return user


def firm_members(session: Session, viewer: Viewer) -> list[User]:
    """The active members of the firm the viewer manages (every firm's for the platform admin),
    its admins first; empty for anyone else."""
    query = select(User).where(User.role.in_([Role.LARGE, Role.SME]), User.membership == Membership.ACTIVE)
    if not viewer.is_admin:
        if viewer.firm_id is None or not can_manage_members(session, viewer, viewer.firm_id):
            return []
        query = query.where(User.firm_id == viewer.firm_id)
    return list(session.scalars(query.order_by(User.firm_id, User.is_firm_admin.desc(), User.name, User.id)))


def _member_to_manage(session: Session, viewer: Viewer, user_id: int) -> User:
    """The firm user ``user_id`` when the viewer manages its firm (:func:`can_manage_members`,
    the one rule). A user of another firm, or any user for one who acts for no firm, answers
    like a missing one (404); a colleague of a member who is not an admin is refused (403)."""
    user = session.get(User, user_id) if 0 < user_id <= INT_MAX else None
    firm_user = user is not None and user.firm_id is not None and user.role in (Role.LARGE, Role.SME)
    if not firm_user or not (viewer.is_admin or viewer.firm_id == user.firm_id):
        raise NotFoundError(
            msg("user_id: no member %(user_id)s of a firm you manage", user_id=user_id), field="user_id"
        )
    if not can_manage_members(session, viewer, user.firm_id):
        raise PermissionDeniedError(msg("user_id: only your firm's administrators manage its members"), field="user_id")
    return user


def _lock_firm(session: Session, firm_id: int) -> None:
    """Serialise membership changes of one firm (PostgreSQL row lock; SQLite has one writer), so
    that two admins removing each other cannot both succeed and leave the firm without one."""
    session.execute(select(Firm.id).where(Firm.id == firm_id).with_for_update())


def _require_member(session: Session, user: User) -> None:
    session.refresh(user)
    if user.membership is Membership.PENDING:
        raise ConflictError(
            msg(
                "user_id: %(name)s has asked to join and is not a member yet; approve or reject the request",
                name=user.name,
            ),
            field="user_id",
        )
    if user.membership is not Membership.ACTIVE:
        raise ConflictError(msg("user_id: %(name)s is no longer a member of the firm", name=user.name), field="user_id")


def _require_another_admin(session: Session, user: User) -> None:
    """Never leave a firm without an administrator: someone else must act for it as one."""
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(acts_for_firms([user.firm_id]), User.is_firm_admin.is_(True), User.id != user.id)
    )
    if not others:
        raise ConflictError(
            msg(
                "user_id: %(name)s is the firm's last administrator; make another member firm admin first",
                name=user.name,
            ),
            field="user_id",
        )


OPEN_CONTRACT = (ContractStatus.NEGOTIATING, ContractStatus.APPROVING, ContractStatus.SIGNING)


def open_designations(session: Session, user: User) -> list[Contract]:
    """Open contracts on which the user is still needed as their firm's designated approver
    (until approval is over) or signer (until their firm has signed)."""
    firm_id = user.firm_id
    rows = session.scalars(
        select(Contract)
        .where(Contract.status.in_(OPEN_CONTRACT))
        .where(
            (
                (Contract.buyer_firm_id == firm_id)
                & ((Contract.buyer_approver_id == user.id) | (Contract.buyer_signer_id == user.id))
            )
            | (
                (Contract.supplier_firm_id == firm_id)
                & ((Contract.supplier_approver_id == user.id) | (Contract.supplier_signer_id == user.id))
            )
        )
        .order_by(Contract.id)
    )
    needed = []
    for contract in rows:
        party = contract.party_of_firm(firm_id)
        approver, signer = (
            (contract.buyer_approver_id, contract.buyer_signer_id)
            if party is Party.BUYER
            else (contract.supplier_approver_id, contract.supplier_signer_id)
        )
        approving = approver == user.id and contract.status is not ContractStatus.SIGNING
        signed = session.scalar(
            select(ContractSignature.id).where(
                ContractSignature.contract_id == contract.id, ContractSignature.party == party
            )
        )
        if approving or (signer == user.id and signed is None):
            needed.append(contract)
    return needed


def remove_member(session: Session, viewer: Viewer, user_id: int) -> User:
    """End a member's membership of the firm (a firm admin or the platform admin does it). The
    account stays, acts for no firm, and every session and API token it had ends; what it did
    (demands, contract rounds, signatures) stays attributed to it. Refused (409) for the firm's
    last administrator and while the member is the designated approver or signer of an open
    contract (the firm designates a colleague there first)."""
    user = _member_to_manage(session, viewer, user_id)
    _lock_firm(session, user.firm_id)
    _require_member(session, user)
    if user.is_firm_admin:
        _require_another_admin(session, user)
    held = open_designations(session, user)
    if held:
        raise ConflictError(
            msg(
                "user_id: %(name)s is the designated approver or signer of open contracts %(numbers)s; designate a "
                "colleague on each first (a contract already out for signature is signed or cancelled first)",
                name=user.name,
                numbers=", ".join(c.number for c in held),
            ),
            field="user_id",
        )
    changed = session.execute(
        update(User)
        .where(User.id == user.id, User.firm_id == user.firm_id, User.membership == Membership.ACTIVE)
        .values(
            membership=Membership.REJECTED,
            is_firm_admin=False,
            session_epoch=User.session_epoch + 1,  # the removed user's open sessions end
            updated_at=utcnow(),
        ),
        execution_options={"synchronize_session": False},
    ).rowcount
    if changed != 1:
        raise ConflictError(msg("user_id: %(name)s is no longer a member of the firm", name=user.name), field="user_id")
    session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    session.refresh(user)
    return user


def set_firm_admin(session: Session, viewer: Viewer, user_id: int, admin: bool) -> User:
    """Make a member firm admin (``admin=True``) or end their admin role (stepping down, when it
    is the viewer's own). Only a firm admin of that firm or the platform admin does it; nobody
    makes themselves admin, and the firm's last administrator cannot step down (409)."""
    if admin and viewer.user_id is not None and viewer.user_id == user_id:
        raise PermissionDeniedError(
            msg("user_id: you cannot make yourself firm admin; ask one of your firm's administrators"), field="user_id"
        )
    user = _member_to_manage(session, viewer, user_id)
    _lock_firm(session, user.firm_id)
    _require_member(session, user)
    if not admin and user.is_firm_admin:
        _require_another_admin(session, user)
    changed = session.execute(
        update(User)
        .where(
            User.id == user.id,
            User.membership == Membership.ACTIVE,
            User.is_firm_admin.is_(not admin),
        )
        .values(is_firm_admin=admin, updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(user)
    if changed != 1:
        text = (
            msg("user_id: %(name)s is already firm admin", name=user.name)
            if admin
            else msg("user_id: %(name)s is not firm admin", name=user.name)
        )
        raise ConflictError(text, field="user_id")
    return user


# --- organizers ------------------------------------------------------------------------------


def create_organizer_invitation(
    session: Session, inviter: Viewer, organization_id: int | None = None
) -> tuple[str, OrganizerInvitation]:
    """A single-use link token for a colleague to join the inviter's organization (the admin may
    name any organization). Shown once; only its hash is stored."""
    if inviter.is_admin:
        org_id = organization_id
    elif inviter.is_organizer:
        org_id = inviter.organization_id
        if organization_id not in (None, org_id):
            raise InputError(
                msg("organization_id: organizers invite only into their own organization"), field="organization_id"
            )
    else:
        raise InputError(msg("role: only organizers and the admin can invite organizers"), field="role")
    if org_id is None or session.get(Organization, org_id) is None:
        raise NotFoundError(
            msg("organization_id: organization %(organization_id)s does not exist", organization_id=org_id),
            field="organization_id",
        )
    token = secrets.token_urlsafe(24)
    invitation = OrganizerInvitation(
        organization_id=org_id,
        token_hash=_token_hash(token),
        invited_by_id=inviter.user_id,
        expires_at=utcnow() + timedelta(days=INVITATION_DAYS),
    )
    session.add(invitation)
    session.flush()
    return token, invitation


def open_organizer_invitation(session: Session, token: str) -> OrganizerInvitation:
    invitation = session.scalar(select(OrganizerInvitation).where(OrganizerInvitation.token_hash == _token_hash(token)))
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= utcnow():
        raise NotFoundError(
            msg("token: this invitation link is unknown, used or expired; ask for a new one"), field="token"
        )
    return invitation


def accept_organizer_invitation(session: Session, token: str, *, email: str, password: str, name: str) -> User:
    """Create the invited organizer account; the link is used up (conditionally, so a double
    submit creates one account and answers 409 to the other)."""
    invitation = open_organizer_invitation(session, token)
    user = create_user(
        session,
        email=email,
        password=password,
        name=name,
        role=Role.ORGANIZER,
        organization_name=invitation.organization.name,
    )
    changed = session.execute(
        update(OrganizerInvitation)
        .where(OrganizerInvitation.id == invitation.id, OrganizerInvitation.used_at.is_(None))
        .values(used_at=utcnow(), used_by_id=user.id),
        execution_options={"synchronize_session": False},
    ).rowcount
    if changed != 1:
        raise ConflictError(msg("token: this invitation link was just used"), field="token")
    return user


# --- API tokens ------------------------------------------------------------------------------


def create_api_token(session: Session, user: User, name: str, days: int | None = TOKEN_DAYS) -> tuple[str, ApiToken]:
    """A new named token that expires after ``days`` (1..365). Shown once; only its hash is stored."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise InputError(msg("name: give the token a name of 1 to 80 characters"), field="name")
    if days is None or not 1 <= days <= MAX_TOKEN_DAYS:
        raise InputError(msg("expires_in_days: choose 1 to %(max)s days", max=MAX_TOKEN_DAYS), field="expires_in_days")
    if user.role in (Role.LARGE, Role.SME) and user.membership is not Membership.ACTIVE:
        raise InputError(msg("membership: API tokens need an approved firm membership"), field="membership")
    token = "cm_" + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, name=name, token_hash=_token_hash(token), expires_at=utcnow() + timedelta(days=days)
    )
    session.add(row)
    session.flush()
    return token, row


def issue_api_token(session: Session, user: User, name: str = "default") -> str:
    """A new API token with the default lifetime (kept for callers that only need the secret)."""
    return create_api_token(session, user, name)[0]


def list_api_tokens(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())))


def revoke_api_token(session: Session, user_id: int, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (others' tokens look like missing ones)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id:
        raise NotFoundError(msg("token_id: you have no token %(token_id)s", token_id=token_id), field="token_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row


def user_for_token(session: Session, token: str) -> User | None:
    """The active user of a usable (not revoked, not expired) token; records its last use."""
    if not token:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    now = utcnow()
    if row is None or not row.is_usable(now):
        return None
    user = row.user
    if not user.is_active:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        session.commit()
    return user


def token_dict(row: ApiToken, now: datetime | None = None) -> dict[str, object]:
    now = now or utcnow()
    return {
        "token_id": row.id,
        "name": row.name,
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "expires_at": row.expires_at.isoformat(timespec="seconds") if row.expires_at else None,
        "last_used_at": row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else None,
        "revoked": row.revoked_at is not None,
        "active": row.is_usable(now),
    }


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
