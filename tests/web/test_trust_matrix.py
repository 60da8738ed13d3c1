"""Role × route matrix generated from ``app.url_map``: every route, every role (anonymous
included), against draft / private / invited / public demands of two firms and two
organizations. Each request must be allowed or denied as ``EXPECT`` says, never answer 5xx, and
no response may contain the title of a demand that role may not see.

A new route fails ``test_every_route_has_an_expectation`` until it gets an entry in ``EXPECT``
(docs/security.md, "Adding a route to the matrix").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.web.conftest import PASSWORD
from tests.web.trust_world import EVENT_ACCESS, EVENT_FIRMS, ROLES, World, world  # noqa: F401  (fixture)
from web import create_app

FIRM_USERS = {"large", "large_b", "sme", "sme2"}  # active members of a firm
TOKEN_HOLDERS = set(ROLES) - {"anonymous", "pending"}
ORGANIZERS = {"organizer", "organizer2"}
EXEMPT = {"static"}  # static files are public by design


@dataclass
class Case:
    """One request and who may make it: ``allowed(role) -> bool``."""

    method: str
    url: str
    allowed: Callable[[str], bool]
    data: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    api: bool = False
    last: int = 0  # 1: after the other cases (changes state); 2: at the very end (signs out)


def anyone(_role: str) -> bool:
    return True


def signed_in(role: str) -> bool:
    return role != "anonymous"


def member(role: str) -> bool:
    return role in FIRM_USERS


def only(*roles: str) -> Callable[[str], bool]:
    return lambda role: role in roles


def token_holder(role: str) -> bool:
    return role in TOKEN_HOLDERS


def per_demand(
    method: str, pattern: str, rule: Callable[[World, str, str], bool], api: bool = False
) -> Callable[[World], list[Case]]:
    def cases(w: World) -> list[Case]:
        return [
            Case(method, pattern.format(d=w.demands[key]), lambda role, key=key: rule(w, role, key), api=api)
            for key in w.demands
        ]

    return cases


def sees(w: World, role: str, key: str) -> bool:
    return w.sees(role, key)


def owns(w: World, role: str, key: str) -> bool:
    return w.owns(role, key)


def api_sees(w: World, role: str, key: str) -> bool:
    return role in TOKEN_HOLDERS and w.sees(role, key)


def api_owns(w: World, role: str, key: str) -> bool:
    return role in TOKEN_HOLDERS and w.owns(role, key)


def answer_cases(prefix: str, api: bool) -> Callable[[World], list[Case]]:
    def cases(w: World) -> list[Case]:
        out = []
        for key, sid in w.suggestions.items():
            firm_role, demand_key = key.split("@")

            def allowed(role: str, firm_role: str = firm_role, demand_key: str = demand_key) -> bool:
                return role == firm_role and w.sees(role, demand_key)

            if api:
                out.append(Case("POST", f"{prefix}/{sid}/respond", allowed, json={"status": "declined"}, api=True))
            else:
                out.append(Case("POST", f"{prefix}/{sid}/decline", allowed))
        return out

    return cases


def event_level(level: int) -> Callable[[str], bool]:
    """Roles whose access to the world's event is at least ``level`` (1 public .. 4 organizer)."""
    return lambda role: EVENT_ACCESS[role] >= level


def event_firm(role: str) -> bool:
    """Users of a firm with an approved registration (their own agenda, requests, survey)."""
    return role in EVENT_FIRMS


def api_event(level: int) -> Callable[[str], bool]:
    return lambda role: role in TOKEN_HOLDERS and EVENT_ACCESS[role] >= level


def api_event_firm(role: str) -> bool:
    return role in TOKEN_HOLDERS and role in EVENT_FIRMS


def ecase(method: str, tail: str, allowed: Callable[[str], bool], **kw: Any) -> Callable[[World], list[Case]]:
    """A case on the world's event: ``tail`` is formatted with the event's ids."""

    def cases(w: World) -> list[Case]:
        e = w.event
        url = tail.format(
            e=e["id"],
            reg=e["pending_registration"],
            req=e["request"],
            m=e["meeting"],
            token=e["checkin_token"],
            A=w.firms["A"],
            sme=w.firms["sme"],
            public=w.demands["A-public"],
            private=w.demands["A-private"],
        )
        return [Case(method, url, allowed, **kw)]

    return cases


ORGANIZER, PARTICIPANT, INVITED, PUBLIC = 4, 3, 2, 1
EVENTS: dict[str, Callable[[World], list[Case]]] = {
    "events.index": ecase("GET", "/events/", signed_in),
    "events.new": ecase("GET", "/events/new", only("organizer", "organizer2")),
    "events.edit": ecase("GET", "/events/{e}/edit", event_level(ORGANIZER)),
    "events.show": ecase("GET", "/events/{e}", event_level(PUBLIC)),
    "events.change_status": ecase("POST", "/events/{e}/status/open", event_level(ORGANIZER)),
    "events.add_demands": lambda w: [  # a private demand of firm A: refused like a missing one, title not shown
        Case(
            "POST",
            f"/events/{w.event['id']}/demands",
            event_level(4),
            data={"demand_id": [str(w.demands["A-private"])]},
        )
    ],
    "events.invite": ecase("GET", "/events/{e}/invite", event_level(ORGANIZER)),
    "events.send_invitations": ecase("POST", "/events/{e}/invite", event_level(ORGANIZER), data={}),
    "events.register": ecase("POST", "/events/{e}/register", lambda r: EVENT_ACCESS[r] >= PUBLIC and r in FIRM_USERS),
    # only a firm answers its invitation (an organizer or admin has none to decline)
    "events.decline": ecase(
        "POST", "/events/{e}/decline", lambda r: EVENT_ACCESS[r] >= INVITED and r in FIRM_USERS, last=1
    ),
    "events.decide": ecase("POST", "/events/{e}/registrations/{reg}/reject", event_level(ORGANIZER)),
    "events.availability": ecase("GET", "/events/{e}/availability", event_firm),
    "events.browse": ecase("GET", "/events/{e}/browse", event_firm),
    "events.send_request": ecase("POST", "/events/{e}/requests/{A}", event_firm, data={"message": "你好"}),
    "events.requests_page": ecase("GET", "/events/{e}/requests", event_firm),
    "events.answer": ecase("POST", "/events/{e}/requests/{req}/answer/decline", only("large")),
    "events.accept_proposals": ecase("POST", "/events/{e}/proposals/accept", event_firm),
    "events.propose": ecase("POST", "/events/{e}/propose", event_level(ORGANIZER)),
    "events.schedule_page": ecase("GET", "/events/{e}/schedule", event_level(ORGANIZER)),
    "events.run_schedule": ecase("POST", "/events/{e}/schedule", event_level(ORGANIZER)),
    "events.must_meet": ecase("POST", "/events/{e}/requests/{req}/must-meet", event_level(ORGANIZER)),
    "events.send": ecase("POST", "/events/{e}/send", event_level(ORGANIZER)),
    "events.agenda": ecase("GET", "/events/{e}/agenda", event_firm),
    "events.agenda_print": ecase("GET", "/events/{e}/agenda/print", event_firm),
    "events.agenda_calendar": ecase("GET", "/events/{e}/agenda.ics", event_firm),
    "events.checkin_png": ecase("GET", "/events/{e}/checkin-qr.png", event_firm),
    # the organizer's staff scan the link; the participant it belongs to (sme) reads what it is for
    "events.checkin": ecase("GET", "/events/{e}/checkin/{token}", lambda r: EVENT_ACCESS[r] >= ORGANIZER or r == "sme"),
    "events.meeting_action": ecase("POST", "/events/{e}/meetings/{m}/held", only("large", "sme", "organizer", "admin")),
    "events.outcome": ecase("GET", "/events/{e}/meetings/{m}/outcome", only("large", "sme")),
    "events.survey": ecase("GET", "/events/{e}/survey", event_firm),
    # no agreement was reported in the world: the two firms get an error message, everyone else a denial
    "events.start_contract": ecase("POST", "/events/{e}/meetings/{m}/contract", only("large", "sme")),
    "events.survey_invite": ecase("POST", "/events/{e}/survey/invite", event_level(ORGANIZER)),
    "events.stats": ecase("GET", "/events/{e}/stats", event_level(ORGANIZER)),
    "events.report": ecase("GET", "/events/{e}/report.csv", event_level(ORGANIZER)),
    "api_events.list_events": ecase("GET", "/api/v1/events", token_holder, api=True),
    "api_events.create_event": ecase(
        "POST",
        "/api/v1/events",
        only("organizer", "organizer2"),
        json={"title": "API 活动", "start_date": "2030-01-01"},
        api=True,
    ),
    "api_events.get_event": ecase("GET", "/api/v1/events/{e}", api_event(PUBLIC), api=True),
    "api_events.update_event": ecase(
        "PATCH", "/api/v1/events/{e}", api_event(ORGANIZER), json={"description": "x"}, api=True
    ),
    "api_events.get_invite_suggestions": ecase(
        "GET", "/api/v1/events/{e}/invite-suggestions", api_event(ORGANIZER), api=True
    ),
    "api_events.post_invitations": ecase(
        "POST", "/api/v1/events/{e}/invitations", api_event(ORGANIZER), json={"firm_ids": [1]}, api=True
    ),
    "api_events.get_registrations": ecase("GET", "/api/v1/events/{e}/registrations", api_event(ORGANIZER), api=True),
    "api_events.post_registration": ecase(
        "POST",
        "/api/v1/events/{e}/registrations",
        lambda r: api_event(PUBLIC)(r) and r in FIRM_USERS,
        json={},
        api=True,
    ),
    "api_events.decide_registration": ecase(
        "POST",
        "/api/v1/events/{e}/registrations/{reg}/decision",
        api_event(ORGANIZER),
        json={"accept": False},
        api=True,
    ),
    "api_events.put_availability": ecase(
        "PUT", "/api/v1/events/{e}/availability", api_event_firm, json={"slots": None}, api=True
    ),
    "api_events.get_participants": ecase("GET", "/api/v1/events/{e}/participants", api_event_firm, api=True),
    "api_events.get_requests": ecase("GET", "/api/v1/events/{e}/requests", api_event(PARTICIPANT), api=True),
    "api_events.post_request": lambda w: [
        Case(
            "POST",
            f"/api/v1/events/{w.event['id']}/requests",
            api_event_firm,
            json={"to_firm_id": w.firms["A"]},
            api=True,
        )
    ],
    "api_events.answer_request": ecase(
        "POST", "/api/v1/events/{e}/requests/{req}/answer", only("large"), json={"accept": False}, api=True
    ),
    "api_events.must_meet": ecase(
        "POST", "/api/v1/events/{e}/requests/{req}/must-meet", api_event(ORGANIZER), json={"must_meet": True}, api=True
    ),
    "api_events.post_proposals": ecase("POST", "/api/v1/events/{e}/proposals", api_event(ORGANIZER), api=True),
    "api_events.accept_proposals": ecase(  # the request is no proposal to anyone: every role is refused
        "POST", "/api/v1/events/{e}/proposals/accept", lambda r: False, json={"request_ids": [1]}, api=True
    ),
    "api_events.post_schedule": ecase("POST", "/api/v1/events/{e}/schedule", api_event(ORGANIZER), json={}, api=True),
    "api_events.get_meetings": ecase("GET", "/api/v1/events/{e}/meetings", api_event(ORGANIZER), api=True),
    "api_events.get_agenda": ecase("GET", "/api/v1/events/{e}/agenda", api_event_firm, api=True),
    "api_events.mark_meeting": ecase(
        "POST",
        "/api/v1/events/{e}/meetings/{m}/status",
        only("large", "sme", "organizer", "admin"),
        json={"status": "held"},
        api=True,
    ),
    "api_events.put_outcome": ecase(
        "PUT", "/api/v1/events/{e}/meetings/{m}/outcome", only("large", "sme"), json={"outcome": "follow_up"}, api=True
    ),
    "api_events.put_survey": ecase(
        "PUT", "/api/v1/events/{e}/survey", api_event_firm, json={"satisfaction": 4}, api=True
    ),
    "api_events.get_stats": ecase("GET", "/api/v1/events/{e}/stats", api_event(ORGANIZER), api=True),
}


# endpoint -> function of the world giving the cases; every route of the app needs one.
# Enterprise services (issue 13): this world holds no policies or procurement projects, so the routes of
# one such object answer 404 to everyone (their per-object rules are tested in
# tests/web/test_enterprise_services.py); the organizers' organizations have no region, so they see no
# firm's figures and no regional report.
NO_ONE: Callable[[str], bool] = only()
SERVICES: dict[str, Callable[[World], list[Case]]] = {
    "tiers.mine": lambda w: [Case("GET", "/tiers/", signed_in)],
    "tiers.firm_page": lambda w: [Case("GET", f"/tiers/firm/{w.firms['sme']}", only("sme", "admin"))],
    "tiers.pipeline_page": lambda w: [Case("GET", "/tiers/pipeline", only("admin"))],
    # the world's organizers look after no region: only the admin may decide (409: no claim waits)
    "tiers.decide_claim": lambda w: [Case("POST", f"/tiers/claims/{w.firms['sme']}/recognise", only("admin"))],
    "policies.browse": lambda w: [Case("GET", "/policies/", anyone), Case("GET", "/policies/?q=研发", anyone)],
    "policies.mine": lambda w: [Case("GET", "/policies/mine", member)],
    "policies.detail": lambda w: [Case("GET", "/policies/999999", NO_ONE)],
    "policies.new": lambda w: [Case("GET", "/policies/new", only("organizer", "organizer2", "admin"))],
    "policies.edit": lambda w: [Case("GET", "/policies/999999/edit", NO_ONE)],
    "policies.change_status": lambda w: [Case("POST", "/policies/999999/publish", NO_ONE)],
    "consortia.index": lambda w: [Case("GET", "/consortia/", signed_in)],
    "consortia.new": lambda w: [Case("GET", "/consortia/new", only("large", "large_b"))],
    "consortia.detail": lambda w: [Case("GET", "/consortia/999999", NO_ONE)],
    "consortia.run_propose": lambda w: [Case("POST", "/consortia/999999/propose", NO_ONE)],
    "consortia.send_invitations": lambda w: [Case("POST", "/consortia/999999/invite", NO_ONE)],
    "consortia.run_finalize": lambda w: [Case("POST", "/consortia/999999/finalize", NO_ONE)],
    "consortia.answer": lambda w: [Case("POST", "/consortia/members/999999/accept", NO_ONE)],
    "consortia.report": lambda w: [Case("GET", "/consortia/report", only("admin"))],
    "api_tiers.criteria": lambda w: [Case("GET", "/api/v1/tiers/criteria", token_holder, api=True)],
    "api_tiers.assessment": lambda w: [
        Case("GET", f"/api/v1/tiers/firms/{w.firms['sme']}", only("sme", "admin"), api=True)
    ],
    "api_tiers.put_figures": lambda w: [
        Case(
            "PUT", f"/api/v1/tiers/firms/{w.firms['sme']}/figures", only("sme", "admin"), json={"figures": {}}, api=True
        )
    ],
    "api_tiers.get_pipeline": lambda w: [Case("GET", "/api/v1/tiers/pipeline", only("admin"), api=True)],
    "api_policies.list_all": lambda w: [Case("GET", "/api/v1/policies", token_holder, api=True)],
    "api_policies.post_policy": lambda w: [
        Case(
            "POST",
            "/api/v1/policies",
            only("organizer", "organizer2", "admin"),
            json={"title": "矩阵政策", "issuer": "矩阵"},
            api=True,
            last=1,
        )
    ],
    "api_policies.get_one": lambda w: [Case("GET", "/api/v1/policies/999999", NO_ONE, api=True)],
    "api_policies.patch_policy": lambda w: [
        Case("PATCH", "/api/v1/policies/999999", NO_ONE, json={"title": "改名"}, api=True)
    ],
    "api_policies.publish": lambda w: [Case("POST", "/api/v1/policies/999999/publish", NO_ONE, api=True)],
    "api_policies.match": lambda w: [
        Case("GET", f"/api/v1/policies/match?firm_id={w.firms['sme']}", only("sme", "admin"), api=True)
    ],
    "api_consortia.list_all": lambda w: [Case("GET", "/api/v1/consortia", token_holder, api=True)],
    "api_consortia.post_project": lambda w: [
        Case(
            "POST",
            "/api/v1/consortia",
            only("large", "large_b"),
            api=True,
            last=1,
            json={"title": "矩阵项目", "lots": [{"title": "一包", "products": ["隔膜"], "budget": 1}]},
        )
    ],
    "api_consortia.get_one": lambda w: [Case("GET", "/api/v1/consortia/999999", NO_ONE, api=True)],
    "api_consortia.run_propose": lambda w: [
        Case("POST", "/api/v1/consortia/999999/propose", NO_ONE, json={}, api=True)
    ],
    "api_consortia.post_invitation": lambda w: [
        Case("POST", "/api/v1/consortia/999999/invitations", NO_ONE, json={"lot_id": 1, "firm_id": 1}, api=True)
    ],
    "api_consortia.answer": lambda w: [
        Case("POST", "/api/v1/consortia/members/999999/answer", NO_ONE, json={"accept": True}, api=True)
    ],
    "api_consortia.withdraw_invitation": lambda w: [
        Case("POST", "/api/v1/consortia/members/999999/withdraw", NO_ONE, api=True)
    ],
    "api_consortia.run_finalize": lambda w: [Case("POST", "/api/v1/consortia/999999/finalize", NO_ONE, api=True)],
    "api_consortia.report": lambda w: [Case("GET", "/api/v1/consortia/report", only("admin"), api=True)],
}

EXPECT: dict[str, Callable[[World], list[Case]]] = {
    "openapi.spec": lambda w: [Case("GET", "/api/v1/openapi.json", anyone)],
    "main.index": lambda w: [Case("GET", "/", anyone)],
    "main.healthz": lambda w: [Case("GET", "/healthz", anyone)],
    "main.readyz": lambda w: [Case("GET", "/readyz", anyone)],
    "main.set_language": lambda w: [Case("GET", "/lang/zh", anyone)],
    "auth.login": lambda w: [
        Case("GET", "/auth/login", anyone),
        Case("POST", "/auth/login?next=/", anyone, data={"email": "nobody@t.cn", "password": "wrong-password"}),
    ],
    "auth.register": lambda w: [
        Case("GET", "/auth/register", anyone),
        Case("POST", "/auth/register", anyone, data={"name": "", "email": "bad"}),
    ],
    "auth.logout": lambda w: [Case("POST", "/auth/logout", signed_in, last=2)],
    "auth.token": lambda w: [Case("GET", "/auth/token", signed_in)],
    "auth.create_token": lambda w: [
        Case("POST", "/auth/token", signed_in, data={"name": "matrix", "expires_in_days": "30"})
    ],
    "auth.revoke_token": lambda w: [Case("POST", f"/auth/token/{w.spare_token_id}/revoke", only("sme2"))],
    "auth.join_organization": lambda w: [
        Case("GET", f"/auth/join/{w.invitation_token}", anyone),
        Case("GET", "/auth/join/not-a-real-invitation", lambda role: False),
    ],
    "account.password": lambda w: [
        Case("GET", "/account/password", signed_in),
        Case("POST", "/account/password", signed_in, data={"current_password": "wrong"}),
    ],
    "account.members": lambda w: [Case("GET", "/account/members", only("large", "large_b", "sme", "sme2", "admin"))],
    "account.decide": lambda w: [
        Case("POST", f"/account/members/{w.users['pending']}/reject", only("large", "admin")),
    ],
    # firm A's only admin (`large`): removing them or ending their admin role is refused as a
    # conflict (409, the firm's last admin) for those who may manage firm A, denied to everyone else
    "account.remove": lambda w: [Case("POST", f"/account/members/{w.users['large']}/remove", only("large", "admin"))],
    "account.firm_admin": lambda w: [
        Case("POST", f"/account/members/{w.users['large']}/admin/revoke", only("large", "admin")),
        Case("POST", f"/account/members/{w.users['pending']}/admin/grant", only("large", "admin")),  # 409: pending
    ],
    "admin.index": lambda w: [Case("GET", "/admin/", only("admin"))],
    "admin.create_organizer": lambda w: [Case("POST", "/admin/organizers", only("admin"), data={"name": ""})],
    "admin.invite_organizer": lambda w: [
        Case("POST", f"/admin/organizations/{w.organizations['organizer2']}/invitation", only("admin"))
    ],
    "demands.browse": lambda w: [Case("GET", "/demands/?q=需求", anyone), Case("GET", "/demands/", anyone)],
    "demands.mine": lambda w: [Case("GET", "/demands/mine", member)],
    "demands.new": lambda w: [
        Case("GET", "/demands/new", only("large", "large_b")),
        Case("POST", "/demands/new", only("large", "large_b"), data={"type": "rd", "title": "x"}),
    ],
    "demands.edit": per_demand("GET", "/demands/{d}/edit", owns),
    "demands.detail": per_demand("GET", "/demands/{d}", sees),
    "demands.change_status": per_demand("POST", "/demands/{d}/status/withdraw", owns),
    "demands.run_match": per_demand("POST", "/demands/{d}/match", owns),
    "demands.act": lambda w: [
        Case(
            "POST",
            f"/demands/{w.demands[key]}/suggestions/{w.suggestions['sme2@' + key]}/shortlist",
            lambda role, key=key: w.owns(role, key),
        )
        for key in ("A-private", "A-invited", "A-public", "B-public")
    ],
    "demands.chain_graph": per_demand("GET", "/demands/{d}/graph.json", owns),
    "firms.directory": lambda w: [Case("GET", "/firms/", anyone)],
    "firms.show": lambda w: [Case("GET", f"/firms/{w.firms['A']}", anyone)],
    "firms.profile": lambda w: [Case("GET", "/profile", member)],
    "suggestions.show": lambda w: [Case("GET", "/inbox/", member)],
    "suggestions.refresh": lambda w: [Case("POST", "/inbox/refresh", member)],
    "suggestions.answer": answer_cases("/inbox", api=False),
    "notifications.show": lambda w: [Case("GET", "/notifications/", signed_in)],
    "notifications.read": lambda w: [Case("POST", "/notifications/read", signed_in)],
    "organizer.dashboard": lambda w: [Case("GET", "/organizer/", only("organizer", "organizer2", "admin"))],
    "organizer.invite": lambda w: [Case("POST", "/organizer/invite", only("organizer", "organizer2"))],
    "organizer.export_csv": lambda w: [Case("GET", "/organizer/export.csv", only("organizer", "organizer2", "admin"))],
    "api.list_demands": lambda w: [Case("GET", "/api/v1/demands?per_page=100", token_holder, api=True)],
    "api.post_demand": lambda w: [
        Case("POST", "/api/v1/demands", only("large", "large_b"), json={"type": "rd", "title": "API"}, api=True)
    ],
    "api.get_demand": per_demand("GET", "/api/v1/demands/{d}", api_sees, api=True),
    "api.demand_suggestions": per_demand("GET", "/api/v1/demands/{d}/suggestions", api_owns, api=True),
    "api.match_stored_demand": per_demand("POST", "/api/v1/demands/{d}/match", api_owns, api=True),
    "api.list_firms": lambda w: [Case("GET", "/api/v1/firms", token_holder, api=True)],
    "api.get_firm_detail": lambda w: [Case("GET", f"/api/v1/firms/{w.firms['A']}", token_holder, api=True)],
    "api.my_suggestions": lambda w: [Case("GET", "/api/v1/suggestions", member, api=True)],
    "api.respond": answer_cases("/api/v1/suggestions", api=True),
    "api.match_text": lambda w: [
        Case("POST", "/api/v1/match", token_holder, json={"text": "锂电池隔膜", "type": "supply_chain"}, api=True)
    ],
    # contracts: the two parties (firm A's "large", the SME "sme"), members, the public, staff
    **{
        f"contracts.{name}": (lambda method, url, rule, data=None: lambda w: [Case(method, url(w), rule, data=data)])(
            *spec
        )
        for name, spec in {
            "index": ("GET", lambda w: "/contracts/", member),
            "new": ("GET", lambda w: "/contracts/new", member),
            "suggestions": ("GET", lambda w: "/contracts/suggestions", member),
            "signing_key": ("GET", lambda w: "/contracts/signing-key", member),
            "from_suggestion": (
                "POST",
                lambda w: f"/contracts/from-suggestion/{w.suggestions['sme@A-public']}",
                only("large", "sme"),
            ),
            "detail": ("GET", lambda w: f"/contracts/{w.contract_id}", only("large", "sme")),
            "counter": ("GET", lambda w: f"/contracts/{w.contract_id}/counter", only("large", "sme")),
            "sign": ("GET", lambda w: f"/contracts/{w.contract_id}/sign", only("large", "sme")),
            "download": ("GET", lambda w: f"/contracts/{w.contract_id}/contract.pdf", only("large", "sme")),
            "certificate": ("GET", lambda w: f"/contracts/{w.contract_id}/certificate.pdf", only("large", "sme")),
            "audit_json": ("GET", lambda w: f"/contracts/{w.contract_id}/audit.json", only("large", "sme")),
            "accept": ("POST", lambda w: f"/contracts/{w.contract_id}/accept", only("large", "sme")),
            "add_comment": (
                "POST",
                lambda w: f"/contracts/{w.contract_id}/comment",
                only("large", "sme"),
                {"clause": "general", "text": "矩阵测试"},
            ),
            "designate": ("POST", lambda w: f"/contracts/{w.contract_id}/designate", only("large", "sme")),
            "approve": ("POST", lambda w: f"/contracts/{w.contract_id}/approve", only("large", "sme")),
            "supplement": ("POST", lambda w: f"/contracts/{w.contract_id}/supplement", only("large", "sme")),
            "verify": ("GET", lambda w: f"/contracts/verify/{w.contract_token}", anyone),
            "root_pem": ("GET", lambda w: "/contracts/pki/root.pem", anyone),
            "issuing_pem": ("GET", lambda w: "/contracts/pki/issuing.pem", anyone),
            "crl": ("GET", lambda w: "/contracts/pki/crl", anyone),
            "root_crl": ("GET", lambda w: "/contracts/pki/crl/root", anyone),
            "stats": ("GET", lambda w: "/contracts/stats", only("organizer", "organizer2", "admin")),
        }.items()
    },
    "tsa.tsa": lambda w: [Case("POST", "/tsa", anyone)],
    "api_contracts.list_contracts": lambda w: [Case("GET", "/api/v1/contracts", token_holder, api=True)],
    "api_contracts.start": lambda w: [
        Case("POST", "/api/v1/contracts", member, json={"other_firm_id": w.firms["sme"]}, api=True)
    ],
    "api_contracts.get_one": lambda w: [
        Case("GET", f"/api/v1/contracts/{w.contract_id}", only("large", "sme"), api=True)
    ],
    "api_contracts.pdf": lambda w: [
        Case("GET", f"/api/v1/contracts/{w.contract_id}/pdf", only("large", "sme"), api=True)
    ],
    "api_contracts.counter": lambda w: [
        Case(
            "POST",
            f"/api/v1/contracts/{w.contract_id}/counter",
            only("large", "sme"),
            json={"fields": {"unit_price": "0.61"}},
            api=True,
        )
    ],
    "api_contracts.accept": lambda w: [
        Case("POST", f"/api/v1/contracts/{w.contract_id}/accept", only("large", "sme"), api=True)
    ],
    "api_contracts.approve": lambda w: [
        Case("POST", f"/api/v1/contracts/{w.contract_id}/approve", only("large", "sme"), json={}, api=True)
    ],
    "api_contracts.sign": lambda w: [
        Case(
            "POST",
            f"/api/v1/contracts/{w.contract_id}/sign",
            only("large", "sme"),
            json={"signing_password": "not-enrolled"},
            api=True,
        )
    ],
    "api_contracts.verify": lambda w: [
        Case("POST", "/api/v1/contracts/verify", anyone, json={"pdf_base64": "not base64!"}, api=True)
    ],
    "api_contracts.stats": lambda w: [
        Case("GET", "/api/v1/contracts/stats", only("organizer", "organizer2", "admin"), api=True)
    ],
    "api_tokens.list_tokens": lambda w: [Case("GET", "/api/v1/tokens", token_holder, api=True)],
    "api_tokens.create_token": lambda w: [
        Case("POST", "/api/v1/tokens", token_holder, json={"name": "matrix"}, api=True)
    ],
    "api_tokens.revoke_token": lambda w: [
        Case("DELETE", f"/api/v1/tokens/{w.token_ids['sme2']}", only("sme2"), api=True, last=1)
    ],
    **EVENTS,
    **SERVICES,
}


@pytest.fixture(scope="module")
def sparse_engine(loaded_session_settings):
    """One BM25 + graph engine (no dense model) shared by the matrix apps."""
    from marketplace.db import session_scope
    from marketplace.matching.engine import MatchEngine

    with session_scope(loaded_session_settings) as s:
        return MatchEngine(loaded_session_settings, use_dense=False).build(s)


def make_app(settings, engine):  # noqa: ANN001
    app = create_app(settings, {"TESTING": True, "WTF_CSRF_ENABLED": False, "MATCH_USE_DENSE": False})
    app.config["INBOX_REFRESH_INTERVAL"] = 0
    app.extensions["engine"] = engine
    return app


def routes(app) -> set[str]:  # noqa: ANN001
    return {rule.endpoint for rule in app.url_map.iter_rules()} - EXEMPT


def test_every_route_has_an_expectation(loaded):
    app = create_app(loaded, {"TESTING": True})
    missing = sorted(routes(app) - set(EXPECT))
    assert not missing, (
        f"routes without an entry in tests/web/test_trust_matrix.py EXPECT: {missing}; "
        "say who may call each (docs/security.md, 'Adding a route to the matrix')"
    )
    stale = sorted(set(EXPECT) - routes(app))
    assert not stale, f"EXPECT names routes the app no longer has: {stale}"


def _denied(role: str, case: Case, response) -> bool:  # noqa: ANN001
    if response.status_code in (401, 403, 404):
        return True
    login_redirect = response.status_code == 302 and "/auth/login" in response.headers.get("Location", "")
    return role == "anonymous" and not case.api and login_redirect


@pytest.mark.parametrize("role", ROLES)
def test_role_route_matrix(role, loaded, world, sparse_engine):  # noqa: F811
    app = make_app(loaded, sparse_engine)
    client = app.test_client()
    if role != "anonymous":
        signed = client.post("/auth/login", data={"email": world.emails[role], "password": PASSWORD})
        assert signed.status_code == 302, f"{role} cannot sign in"
    headers = {"Authorization": f"Bearer {world.tokens[role]}"} if role in world.tokens else {}
    cases = [case for endpoint in sorted(EXPECT) for case in EXPECT[endpoint](world)]
    cases.sort(key=lambda c: (c.last, c.method != "GET"))
    hidden = world.hidden_titles(role)
    problems = []
    for case in cases:
        response = client.open(
            case.url, method=case.method, data=case.data, json=case.json, headers=headers if case.api else {}
        )
        body = response.get_data().decode("utf-8", "replace")  # binary answers too (CRLs, TSA, PDFs)
        expected = "allow" if case.allowed(role) else "deny"
        got = "deny" if _denied(role, case, response) else "allow"
        if response.status_code >= 500:
            problems.append(f"{case.method} {case.url}: {response.status_code}")
        elif got != expected:
            problems.append(f"{case.method} {case.url}: expected {expected}, got {response.status_code}")
        leaked = [t for t in hidden if t in body]
        if leaked:
            problems.append(f"{case.method} {case.url} leaks {leaked}")
    assert not problems, f"{role}:\n" + "\n".join(problems)
