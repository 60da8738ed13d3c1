"""Who may do what with a contract: the one permission rule :func:`authorize` (``user``,
``contract``, ``action``), the contracts a user may see, and loading a contract for an action.

A contract the user may not see answers exactly as one that does not exist (the same
:class:`~marketplace.errors.NotFoundError`, message and field); a party's user who may not do the
action gets :class:`~marketplace.errors.PermissionDeniedError`.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from marketplace.accounts.permissions import viewer_of
from marketplace.errors import Message, NotFoundError, PermissionDeniedError, msg
from marketplace.models import Contract, ContractStatus, Party, Role, User

ACTIONS = ("view", "negotiate", "approve", "sign", "designate", "download")


def _no_contract(contract_id: int) -> Message:
    """What a missing contract answers, and what a hidden one answers too."""
    return msg("contract %(id)s does not exist", id=contract_id)


def acting_firm(user: User | None) -> int | None:
    """The firm a user acts for: only active, approved members act for a firm (as for demands)."""
    if user is None or not user.is_active:
        return None
    return viewer_of(user).firm_id


def require_firm_user(user: User | None) -> int:
    """The firm the user acts for, or a refusal: only a firm's users start contracts (organizers
    and admins have no side to sign for)."""
    firm_id = acting_firm(user)
    if firm_id is None:
        raise PermissionDeniedError(msg("only firm users start contracts"))
    return firm_id


def authorize(user: User | None, contract: Contract, action: str) -> Party:
    """The one permission rule for contracts. Returns the user's party or raises
    NotFoundError (whoever may not see the contract: the very answer of a missing one) or
    PermissionDeniedError (a party's user who may not do the action).

    * view / download / negotiate / designate: a user of one of the two firms;
    * approve: the approver that the user's firm designated;
    * sign: the signer that the user's firm designated (with their own key, checked at signing).
    Nobody else sees a contract, not even organizers or admins (they see statistics only)."""
    if action not in ACTIONS:
        raise ValueError(action)
    firm_id = acting_firm(user)
    party = contract.party_of_firm(firm_id) if firm_id is not None else None
    if party is None:
        # answered exactly as a contract that does not exist (see get_contract)
        raise NotFoundError(_no_contract(contract.id), field="contract_id")
    if action == "approve":
        approver = contract.buyer_approver_id if party is Party.BUYER else contract.supplier_approver_id
        if user.id != approver:
            raise PermissionDeniedError(msg("only the approver your firm designated can approve this contract"))
    if action == "sign":
        signer = contract.buyer_signer_id if party is Party.BUYER else contract.supplier_signer_id
        if user.id != signer:
            raise PermissionDeniedError(msg("only the signer your firm designated can sign this contract"))
    return party


def can(user: User | None, contract: Contract, action: str) -> bool:
    """Whether :func:`authorize` lets the user do ``action``."""
    try:
        authorize(user, contract, action)
    except (NotFoundError, PermissionDeniedError):
        return False
    return True


def visible_contracts(session: Session, user: User, status: ContractStatus | None = None) -> list[Contract]:
    """The contracts the user may see (the same rule as :func:`authorize` for ``view``)."""
    firm_id = acting_firm(user)
    if firm_id is None:
        return []
    query = select(Contract).where(or_(Contract.buyer_firm_id == firm_id, Contract.supplier_firm_id == firm_id))
    if status is not None:
        query = query.where(Contract.status == status)
    return list(session.scalars(query.order_by(Contract.updated_at.desc(), Contract.id.desc())))


def get_contract(session: Session, contract_id: int, user: User | None, action: str = "view") -> Contract:
    """The contract if ``user`` may do ``action`` with it (see :func:`authorize`)."""
    contract = session.get(Contract, contract_id)
    if contract is None:
        raise NotFoundError(_no_contract(contract_id), field="contract_id")
    authorize(user, contract, action)
    return contract


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(msg("user %(id)s does not exist", id=user_id), field="user_id")
    return user


def is_staff(user: User) -> bool:
    """Organizers and admins: they see the statistics of signed contracts, never a contract."""
    return user.role in (Role.ORGANIZER, Role.ADMIN)
