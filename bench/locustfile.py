"""Locust users for bench/load_web.py: visitors browse and search, SMEs answer the demands
suggested to them, large firms open their demands, run matches and act on candidates.

Run it through ``python bench/load_web.py`` (which creates the accounts, starts the server and
computes the numbers). Settings come from environment variables the runner sets:
LOAD_ACCOUNTS (JSON file: accounts, demand ids, search words), LOAD_SAMPLES (where every request's
category, name, time and error are written at the end), LOAD_WAIT_MIN / LOAD_WAIT_MAX (think time
in seconds).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from pathlib import Path

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

ACCOUNTS = json.loads(Path(os.environ["LOAD_ACCOUNTS"]).read_text(encoding="utf-8"))
WAIT = between(float(os.environ.get("LOAD_WAIT_MIN", "2")), float(os.environ.get("LOAD_WAIT_MAX", "8")))
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
INBOX_ANSWER = re.compile(r'action="(/inbox/(\d+)/(?:accept|decline))"')
OWNER_ACT = re.compile(r'action="(/demands/\d+/suggestions/\d+/(?:shortlist|invite))"')
SAMPLES: list[tuple[str, str, float, str, float]] = []  # category, name, ms, error ("" if none), when
SPAWNED: list[float] = []  # when every user had been started
_next_large = itertools.count()
_next_sme = itertools.count()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None, **_kw) -> None:  # noqa: ANN001
    category = name.split(":", 1)[0]
    SAMPLES.append((category, name, float(response_time), repr(exception) if exception else "", time.time()))


@events.spawning_complete.add_listener
def _spawned(user_count, **_kw) -> None:  # noqa: ANN001
    SPAWNED.append(time.time())


@events.quitting.add_listener
def _dump(environment, **_kw) -> None:  # noqa: ANN001
    data = {"samples": SAMPLES, "spawned_at": SPAWNED[0] if SPAWNED else None}
    Path(os.environ["LOAD_SAMPLES"]).write_text(json.dumps(data), encoding="utf-8")


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    return found.group(1) if found else ""


class Visitor(FastHttpUser):
    """Anyone: the home page, browsing and searching demands and firms, opening them."""

    weight = 4
    wait_time = WAIT

    def page(self, path: str, name: str) -> str:
        with self.client.get(path, name=f"page:{name}", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            return r.text or ""

    @task(3)
    def home(self) -> None:
        self.page("/", "home")

    @task(3)
    def browse_demands(self) -> None:
        html = self.page("/demands/", "demands")
        ids = re.findall(r'href="/demands/(\d+)"', html)
        if ids:
            self.page(f"/demands/{random.choice(ids)}", "demand detail")

    @task(2)
    def search_demands(self) -> None:
        self.page(f"/demands/?q={random.choice(ACCOUNTS['words'])}", "demand search")

    @task(3)
    def search_firms(self) -> None:
        html = self.page(f"/firms/?q={random.choice(ACCOUNTS['words'])}", "firm search")
        ids = re.findall(r'href="/firms/(\d+)"', html)
        if ids:
            self.page(f"/firms/{random.choice(ids)}", "firm detail")


class SignedIn(Visitor):
    abstract = True
    role = ""

    def on_start(self) -> None:
        accounts = ACCOUNTS[self.role]
        counter = _next_large if self.role == "large" else _next_sme
        self.account = accounts[next(counter) % len(accounts)]
        form = self.client.get("/auth/login", name="login:form").text or ""
        with self.client.post(
            "/auth/login",
            data={"email": self.account["email"], "password": ACCOUNTS["password"], "csrf_token": _csrf(form)},
            name="login:submit",
            catch_response=True,
        ) as r:
            if r.status_code != 200 or "/auth/logout" not in (r.text or ""):
                r.failure(f"sign-in failed: HTTP {r.status_code}")

    def post_form(self, path: str, html: str, name: str) -> str:
        with self.client.post(path, data={"csrf_token": _csrf(html)}, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            return r.text or ""


class Sme(SignedIn):
    """An SME: reads its inbox of suggested demands, opens them, accepts or declines."""

    weight = 2
    role = "sme"

    @task(4)
    def answer_suggestion(self) -> None:
        html = self.page("/inbox/", "inbox")
        open_ones = INBOX_ANSWER.findall(html)
        if open_ones:
            path, _sid = random.choice(open_ones)
            self.post_form(path, html, "answer:inbox")
        demand_ids = re.findall(r'href="/demands/(\d+)"', html)
        if demand_ids:
            self.page(f"/demands/{random.choice(demand_ids)}", "demand detail")


class Large(SignedIn):
    """A large firm: opens its demand with the candidates, runs the match, acts on a candidate,
    and matches free text through the API."""

    weight = 1
    role = "large"

    @task(3)
    def review_candidates(self) -> None:
        demand = self.account["demand_id"]
        html = self.page(f"/demands/{demand}", "own demand")
        actions = OWNER_ACT.findall(html)
        if actions:
            self.post_form(random.choice(actions), html, "answer:candidate")

    @task(2)
    def run_match(self) -> None:
        demand = self.account["demand_id"]
        html = self.page(f"/demands/{demand}", "own demand")
        self.post_form(f"/demands/{demand}/match", html, "match:demand (page)")

    @task(2)
    def match_text(self) -> None:
        with self.client.post(
            "/api/v1/match",
            json={"text": random.choice(ACCOUNTS["words"]), "type": "supply_chain", "top_k": 10},
            headers={"Authorization": f"Bearer {self.account['token']}"},
            name="match:text (API)",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:200]}")
