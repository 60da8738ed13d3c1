"""Concurrency on a real multi-threaded server (waitress, 8 threads, real sockets): parallel
accept/decline of one suggestion, accept racing a close, double submits of the same form. Every
request gets a definite answer (success or 409), never a 500, and the database ends consistent."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import func, select
from waitress.server import create_server

from marketplace.db import session_scope
from marketplace.models import Demand, DemandStatus, MatchSuggestion, SuggestionStatus, User
from tests.web.conftest import PASSWORD
from tests.web.trust_world import world  # noqa: F401  (fixture)
from web import create_app

THREADS = 8


@pytest.fixture
def server(loaded, world):  # noqa: F811
    app = create_app(loaded, {"TESTING": True, "WTF_CSRF_ENABLED": False, "MATCH_USE_DENSE": False})
    app.config["INBOX_REFRESH_INTERVAL"] = 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = create_server(app, host="127.0.0.1", port=port, threads=THREADS)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    srv.close()


def signed_in(base: str, email: str) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{base}/auth/login", data={"email": email, "password": PASSWORD}, allow_redirects=False)
    assert response.status_code == 302
    return session


def at_once(calls: list[Callable[[], requests.Response]]) -> list[int]:
    """Run the calls in parallel threads released together; their status codes, in order."""
    barrier = threading.Barrier(len(calls))
    codes: list[int] = [0] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        codes[i] = calls[i]().status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return codes


def test_parallel_accept_and_decline_of_one_suggestion_has_one_winner(server, world, loaded):  # noqa: F811
    sid = world.suggestions["sme@A-public"]
    token = {"Authorization": f"Bearer {world.tokens['sme']}"}
    answers = ["accepted", "declined"] * (THREADS // 2)
    codes = at_once(
        [
            lambda a=a: requests.post(
                f"{server}/api/v1/suggestions/{sid}/respond", json={"status": a}, headers=token, timeout=60
            )
            for a in answers
        ]
    )
    assert Counter(codes) == {200: 1, 409: THREADS - 1}, codes
    with session_scope(loaded) as s:
        suggestion = s.get(MatchSuggestion, sid)
        demand = s.get(Demand, world.demands["A-public"])
        assert suggestion.status in (SuggestionStatus.ACCEPTED, SuggestionStatus.DECLINED)
        assert (demand.status is DemandStatus.MATCHED) == (suggestion.status is SuggestionStatus.ACCEPTED)


def test_accept_racing_close_never_leaves_an_accepted_suggestion_on_a_closed_demand(server, world, loaded):  # noqa: F811
    demand = world.demands["A-public"]
    sme = signed_in(server, world.emails["sme"])
    owner = signed_in(server, world.emails["large"])
    sids = [world.suggestions["sme@A-public"]]
    calls = [lambda: owner.post(f"{server}/demands/{demand}/status/close", allow_redirects=False)]
    calls += [lambda sid=sid: sme.post(f"{server}/inbox/{sid}/accept", allow_redirects=False) for sid in sids]
    codes = at_once(calls)
    close, accept = codes
    assert close in (302, 409) and accept in (302, 409) and 302 in codes, codes
    with session_scope(loaded) as s:
        d = s.get(Demand, demand)
        suggestion = s.get(MatchSuggestion, sids[0])
        if close == 409:  # the accept moved the demand to matched first: the owner's stale close is refused
            assert d.status is DemandStatus.MATCHED and suggestion.status is SuggestionStatus.ACCEPTED
        else:
            assert d.status is DemandStatus.CLOSED
            if suggestion.status is SuggestionStatus.ACCEPTED:  # accepted while it was still open
                assert suggestion.decided_at <= d.closed_at
            else:
                assert accept == 409 and suggestion.status is SuggestionStatus.SUGGESTED


def test_double_submitted_answer_is_applied_once(server, world, loaded):  # noqa: F811
    sme = signed_in(server, world.emails["sme"])
    sid = world.suggestions["sme@B-public"]
    codes = at_once([lambda: sme.post(f"{server}/inbox/{sid}/accept", allow_redirects=False)] * THREADS)
    assert Counter(codes) == {302: 1, 409: THREADS - 1}, codes


def test_double_submitted_sign_up_creates_one_account_and_no_500(server, loaded):
    form = {
        "name": "并发",
        "email": "twice@t.cn",
        "password": "longenough1",
        "role": "sme",
        "firm_choice": "new",
        "firm_name": "并发注册科技有限公司",
    }
    codes = at_once([lambda: requests.post(f"{server}/auth/register", data=form, allow_redirects=False)] * 4)
    assert all(code in (302, 400, 409) for code in codes) and 302 in codes, codes
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.email == "twice@t.cn")) == 1


def test_double_clicked_match_runs_once_at_a_time_and_never_500(server, world):  # noqa: F811
    owner = signed_in(server, world.emails["large"])
    demand = world.demands["A-public"]
    codes = at_once([lambda: owner.post(f"{server}/demands/{demand}/match", allow_redirects=False)] * 4)
    assert all(code in (302, 409, 503) for code in codes) and 302 in codes, codes
