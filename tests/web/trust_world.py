"""A marketplace with something to hide: draft / private / invited / public demands of two firms,
two organizations, an invited and an uninvited SME (both with suggestions on the hidden
demands), a pending member, and API tokens. Used by the trust tests (matrix, leaks, fuzzing)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from marketplace.accounts.users import create_user, issue_api_token
from marketplace.db import session_scope
from marketplace.demands.suggestions import invite_firm
from marketplace.demands.workflow import create_demand
from marketplace.enterprise.firms import create_firm
from marketplace.models import FirmKind, MatchSuggestion, Membership, Role, User
from tests.web.conftest import PASSWORD

ROLES = ("anonymous", "large", "large_b", "sme", "sme2", "pending", "organizer", "organizer2", "admin")
KINDS = ("draft", "private", "invited", "public")


@dataclass
class World:
    """Ids of everything the trust tests talk about."""

    demands: dict[str, int] = field(default_factory=dict)  # "A-private" -> id
    titles: dict[str, str] = field(default_factory=dict)  # "A-private" -> title
    suggestions: dict[str, int] = field(default_factory=dict)  # "sme@A-public" -> id
    users: dict[str, int] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)
    spare_token_id: int = 0  # a second token of sme2's, for revoking on the web page
    firms: dict[str, int] = field(default_factory=dict)
    organizations: dict[str, int] = field(default_factory=dict)
    invitation_token: str = ""
    event: dict[str, int | str] = field(default_factory=dict)  # ids of the event of `organizer`'s organization
    contract_id: int = 0  # a contract in negotiation between firm A (large) and sme
    contract_token: str = ""

    def sees(self, role: str, key: str) -> bool:
        """The visibility rule restated for the tests (docs/security.md)."""
        owner, kind = key.split("-")
        if role == "admin" or (role == "large" and owner == "A") or (role == "large_b" and owner == "B"):
            return True
        if kind == "public":
            return True
        return kind == "invited" and owner == "A" and role == "sme"

    def owns(self, role: str, key: str) -> bool:
        owner = key.split("-")[0]
        return role == "admin" or (role == "large" and owner == "A") or (role == "large_b" and owner == "B")

    def hidden_titles(self, role: str) -> list[str]:
        hidden = [self.titles[k] for k in self.demands if not self.sees(role, k)]
        if not self.sees(role, "A-draft"):
            hidden.append("草稿需求")  # the `people` fixture's draft of firm A
        return hidden


def build_world(settings, people) -> World:  # noqa: ANN001
    from marketplace.accounts.permissions import Viewer
    from marketplace.accounts.users import create_organizer_invitation

    w = World()
    with session_scope(settings) as s:
        firm_b = create_firm(s, name="乙方测试集团有限公司", kind=FirmKind.LARGE)
        w.firms = {"A": people["large_firm"], "B": firm_b.id, "sme": people["sme_firm"], "sme2": people["other_sme"]}
        extra = {
            "large_b": create_user(
                s, email="largeb@t.cn", password=PASSWORD, name="乙方", role=Role.LARGE, firm_id=firm_b.id
            ),
            "organizer2": create_user(
                s,
                email="org2@t.cn",
                password=PASSWORD,
                name="第二组织方",
                role=Role.ORGANIZER,
                organization_name="第二测试园区",
            ),
            "pending": create_user(
                s,
                email="pending@t.cn",
                password=PASSWORD,
                name="待批准",
                role=Role.LARGE,
                firm_id=people["large_firm"],
                membership=Membership.PENDING,
            ),
        }
        users = {u.email: u for u in s.scalars(select(User))}
        for role, email in {**people["emails"], **{k: u.email for k, u in extra.items()}}.items():
            w.users[role] = users[email].id
            w.emails[role] = email
        for owner, firm_id in (("A", people["large_firm"]), ("B", firm_b.id)):
            for kind in KINDS:
                key = f"{owner}-{kind}"
                title = (
                    f"需求{owner}{kind}机密标记{len(w.titles)}" if kind != "public" else f"公开需求{owner}锂电池隔膜"
                )
                d = create_demand(
                    s,
                    {
                        "owner_firm_id": firm_id,
                        "type": "supply_chain",
                        "title": title,
                        "description": "采购锂电池隔膜 涂覆隔膜",
                        "wanted_products": ["锂电池隔膜"],
                        "visibility": "public" if kind in ("draft", "public") else kind,
                        "publish": kind != "draft",
                    },
                )
                w.demands[key] = d.id
                w.titles[key] = title
        for firm_role in ("sme", "sme2"):
            for key in ("A-private", "A-invited", "A-public", "B-public"):
                sug = MatchSuggestion(demand_id=w.demands[key], firm_id=w.firms[firm_role], score=0.5, reasons=["测试"])
                s.add(sug)
                s.flush()
                w.suggestions[f"{firm_role}@{key}"] = sug.id
        invite_firm(s, w.demands["A-invited"], w.firms["sme"], w.users["large"])
        from marketplace.contracts.starting import start_contract
        from marketplace.contracts.workflow import designate

        contract = start_contract(
            s, s.get(User, w.users["large"]), buyer_firm_id=w.firms["A"], supplier_firm_id=w.firms["sme"]
        )
        designate(s, s.get(User, w.users["sme"]), contract)  # sme becomes the supplier's approver and signer
        w.contract_id, w.contract_token = contract.id, contract.token
        w.tokens = dict(people["tokens"])
        for role in ("large_b", "organizer2"):
            w.tokens[role] = issue_api_token(s, extra[role], name="matrix")
        from marketplace.models import ApiToken

        for row in s.scalars(select(ApiToken)):
            role = next(r for r, uid in w.users.items() if uid == row.user_id)
            w.token_ids.setdefault(role, row.id)
        spare = issue_api_token(s, s.get(User, w.users["sme2"]), name="spare")
        w.spare_token_id = s.scalar(select(ApiToken.id).where(ApiToken.name == "spare"))
        assert spare
        org_user = s.get(User, w.users["organizer"])
        w.organizations = {"organizer": org_user.organization_id, "organizer2": extra["organizer2"].organization_id}
        w.invitation_token, _ = create_organizer_invitation(
            s, Viewer(user_id=org_user.id, role=Role.ORGANIZER, organization_id=org_user.organization_id)
        )
        w.event = _build_event(s, w)
    return w


EVENT_ACCESS = {  # what each role may do in the world's event (Access levels of marketplace/events/events.py)
    "anonymous": 0,
    "pending": 0,
    "organizer2": 0,  # organizer of another organization
    "large_b": 2,  # registered, waiting for approval
    "large": 3,  # approved participants
    "sme": 3,
    "sme2": 3,
    "organizer": 4,  # the organizing organization
    "admin": 4,
}
EVENT_FIRMS = {"large", "sme", "sme2"}  # firms with an approved registration


def _build_event(s, w: World) -> dict[str, int | str]:  # noqa: ANN001
    from marketplace.accounts.permissions import firm_viewer
    from marketplace.events import events as ev
    from marketplace.events import meeting_requests as evreq
    from marketplace.events import registrations as evreg
    from marketplace.models import EventStatus, Meeting
    from tests.events_helpers import event_data

    event = ev.create_event(s, w.organizations["organizer"], event_data(title="信任测试对接会"))
    ev.set_event_status(s, event, EventStatus.OPEN)
    ev.add_event_demands(s, event, [w.demands["A-public"]])
    evreg.invite_firms(s, event, [w.firms["A"], w.firms["sme"], w.firms["sme2"]])
    regs = {role: evreg.register_firm(s, event, w.firms[role]) for role in ("A", "sme", "sme2")}
    pending = evreg.register_firm(s, event, w.firms["B"])  # not invited: waits for the organizer
    accepted = evreq.request_meeting(s, event, w.firms["sme"], w.firms["A"])
    evreq.answer_request(s, accepted, user=firm_viewer(accepted.to_firm_id), accept=True, notify=False)
    waiting = evreq.request_meeting(s, event, w.firms["sme2"], w.firms["A"])
    meeting = s.scalar(select(Meeting.id).where(Meeting.event_id == event.id))
    return {
        "id": event.id,
        "pending_registration": pending.id,
        "request": waiting.id,
        "meeting": meeting,
        "checkin_token": regs["sme"].checkin_token,
    }


@pytest.fixture
def world(loaded, people) -> World:  # noqa: F811
    return build_world(loaded, people)
