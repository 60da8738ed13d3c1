"""One mapping from service errors to HTTP (web/errors.py): the status a service error answers is
the same on pages and in the API, whether a view translated it or no view caught it."""

from __future__ import annotations

import pytest

from marketplace.errors import (
    ConflictError,
    InputError,
    MarketplaceError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    TransitionError,
    msg,
)
from web.errors import error_status

SAYS = "the probe says no"

# (the error a service raises, the status it answers, the API's detail)
CASES = {
    "denied": (PermissionDeniedError(msg(SAYS), field="firm"), 403, {"firm": SAYS}),
    "denied, no field": (PermissionDeniedError(msg(SAYS)), 403, {}),
    "missing": (NotFoundError(msg(SAYS), field="demand_id"), 404, {"demand_id": SAYS}),
    "conflict": (ConflictError(msg(SAYS), field="status"), 409, {"status": SAYS}),
    "refused transition": (TransitionError(msg(SAYS)), 409, {"input": SAYS}),
    "bad input": (InputError(msg(SAYS)), 400, {"input": SAYS}),
    "dependency down": (ServiceUnavailableError(SAYS), 503, {}),
    "platform setup": (MarketplaceError(SAYS), 503, {}),
}


def h(people, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {people['tokens'][who]}"}


@pytest.fixture
def raising(monkeypatch):
    """Make the inbox service (which the API's and the page's inbox call, and which no blueprint
    catches) raise ``error``."""

    def arm(error: Exception) -> None:
        def refuse(*_args, **_kwargs):
            raise error

        monkeypatch.setattr("web.demands.api.inbox", refuse)
        monkeypatch.setattr("web.demands.suggestions.inbox", refuse)

    return arm


@pytest.mark.parametrize("case", list(CASES))
def test_a_service_error_no_view_catches_answers_its_mapped_status_on_the_api(client, people, raising, case):
    error, status, detail = CASES[case]
    raising(error)
    answer = client.get("/api/v1/suggestions", headers=h(people, "sme"))
    assert answer.status_code == status
    assert answer.get_json() == {"status": status, "message": SAYS, "detail": detail}


@pytest.mark.parametrize("case", list(CASES))
def test_a_service_error_no_view_catches_answers_its_mapped_status_on_a_page(login, raising, case):
    error, status, _detail = CASES[case]
    raising(error)
    page = login("sme").get("/inbox/")
    assert page.status_code == status and SAYS in page.get_data(as_text=True)


@pytest.mark.parametrize("case", list(CASES))
def test_pages_and_the_api_take_the_status_from_one_mapping(case):
    error, status, _detail = CASES[case]
    assert error_status(error) == status


def test_a_denial_a_view_translates_answers_403_with_the_same_body_as_an_uncaught_one(client, people, monkeypatch):
    """The API views translate through web.errors.api_fail: a denial the demand service raises
    while posting a demand answers as the app-wide handler does."""
    error = PermissionDeniedError(msg(SAYS), field="firm")

    def refuse(*_args, **_kwargs):
        raise error

    monkeypatch.setattr("web.demands.api.create_demand", refuse)
    posted = client.post(
        "/api/v1/demands", headers=h(people, "large"), json={"type": "rd", "title": "研发需求", "publish": True}
    )
    assert posted.status_code == 403
    assert posted.get_json() == {"status": 403, "message": SAYS, "detail": {"firm": SAYS}}
