"""The server answers while its matching engine loads in the background (web.matching_engine.EngineLoader):
pages that need the engine say it is warming up (503, Retry-After), the others work, /healthz and
/readyz say where it stands, and a build that fails is reported instead of hanging the server.

The loading state is held open by a gate: the real loader (web.matching_engine.load_engine_from_database)
runs once the test opens it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketplace.accounts.users import create_user
from marketplace.db import session_scope
from marketplace.demands.workflow import create_demand
from marketplace.enterprise.firms import create_firm
from marketplace.models import MatchSuggestion, Role
from web import create_app
from web.matching_engine import EngineLoader, get_encoder, load_engine_from_database, start_engine_loading

REPO_ROOT = Path(__file__).resolve().parents[2]
WARMING_UP_EN = "the matching engine is warming up; try again in a minute"
CONFIG = {"TESTING": True, "WTF_CSRF_ENABLED": False, "MATCH_USE_DENSE": False}


class Gate:
    """Holds a background load back: the real loader runs when the test opens the gate; a gate
    cancelled at the end of a test that never opened it fails the load instead of building."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._open = False

    def open(self) -> None:
        self._open = True
        self._event.set()

    def cancel(self) -> None:
        self._event.set()

    def load(self, app):  # noqa: ANN001, ANN201
        assert self._event.wait(timeout=120), "the test neither opened nor cancelled the gate"
        if not self._open:
            raise RuntimeError("the test ended before the gate opened")
        return load_engine_from_database(app)


def start_gated(app):  # noqa: ANN001, ANN202
    """Start the app's background load behind a gate: (gate, loader)."""
    gate = Gate()
    return gate, start_engine_loading(app, gate.load)


@pytest.fixture
def warming(app):
    gate, loader = start_gated(app)
    yield gate, loader
    gate.cancel()
    loader.wait(timeout=120)


def test_while_the_engine_loads_health_says_loading_and_readiness_answers_503(app, client, warming):
    health = client.get("/healthz")
    data = health.get_json()
    assert health.status_code == 200
    assert data["status"] == "ok" and data["ready"] is False and data["engine"] == "loading"
    assert data["database"] == "ok" and data["counts"]["firms"] > 0 and data["engine_loaded"] is False
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "15"
    assert ready.get_json()["engine"] == "loading"

    gate, loader = warming
    gate.open()
    assert loader.wait(timeout=120) and loader.state == EngineLoader.READY
    data = client.get("/healthz").get_json()
    assert data["ready"] is True and data["engine"] == "ready" and data["engine_loaded"] is True
    assert data["engine_seconds"] >= 0 and "error" not in data
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json() == {
        "status": "ok",
        "ready": True,
        "engine": "ready",
        "engine_seconds": data["engine_seconds"],
    }


def test_while_the_engine_loads_pages_without_it_work_and_matching_says_warming_up(app, login, people, warming):
    client = login("large")
    assert "采购锂电池隔膜" in client.get("/").get_data(as_text=True)
    assert client.get(f"/demands/{people['demand']}").status_code == 200
    assert client.get("/policies/?q=补贴").status_code == 200

    refused = client.post(f"/demands/{people['demand']}/match")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "15"
    assert "服务繁忙" in page and 'id="error-detail"' in page
    client.get("/lang/en")
    english = client.post(f"/demands/{people['demand']}/match")
    assert english.status_code == 503 and WARMING_UP_EN in english.get_data(as_text=True)

    gate, loader = warming
    gate.open()
    assert loader.wait(timeout=120) and loader.state == EngineLoader.READY
    matched = client.post(f"/demands/{people['demand']}/match")
    assert matched.status_code == 302
    with session_scope(app.extensions["settings"]) as s:
        assert s.scalar(select(func.count()).where(MatchSuggestion.demand_id == people["demand"])) > 0


def test_api_matching_while_the_engine_loads_answers_503_json_with_retry_after(client, people, warming):
    token = people["tokens"]["large"]
    answer = client.post(f"/api/v1/demands/{people['demand']}/match", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "15"
    assert answer.get_json() == {
        "status": 503,
        "message": "Service Unavailable",
        "detail": {"error": WARMING_UP_EN},
    }


def test_an_inbox_refresh_refused_while_warming_up_does_not_count_against_the_next_one(login, warming):
    """The refresh is refused before the 30-second debounce records it: once the engine is ready,
    the firm refreshes at once instead of being told it refreshed too recently (429)."""
    client = login("sme")
    client.get("/lang/en")
    refused = client.post("/inbox/refresh")
    assert refused.status_code == 503 and WARMING_UP_EN in refused.get_data(as_text=True)
    gate, loader = warming
    gate.open()
    assert loader.wait(timeout=120)
    assert client.post("/inbox/refresh").status_code == 302


def test_policy_search_while_the_engine_loads_ranks_by_words_without_loading_a_second_model(loaded, people):
    app = create_app(loaded, {**CONFIG, "MATCH_USE_DENSE": True})
    gate, loader = start_gated(app)
    try:
        with app.test_request_context("/policies/?q=补贴"):
            assert get_encoder() is None
        assert app.test_client().get("/policies/?q=补贴").status_code == 200
        assert "policy_encoder" not in app.extensions
    finally:
        gate.open()
        assert loader.wait(timeout=120) and loader.state == EngineLoader.READY
    with app.test_request_context("/policies/?q=补贴"):
        assert get_encoder() is app.extensions["engine"].encoder is not None  # the engine's own, once built


def test_the_engine_loads_once_per_app(app, warming):
    with pytest.raises(RuntimeError, match="already loading or loaded"):
        start_engine_loading(app)


def _firm_without_data(settings):  # noqa: ANN001, ANN202
    """One firm with a user and a published demand, and nothing to match against."""
    with session_scope(settings) as s:
        firm = create_firm(s, name="唯一企业有限公司")
        create_user(s, email="a@b.cn", password="longenough1", name="a", role=Role.LARGE, firm_id=firm.id)
        return create_demand(s, {"owner_firm_id": firm.id, "type": "rd", "title": "研发需求", "publish": True}).id


def test_a_failed_load_is_reported_by_health_and_pages_say_matching_is_unavailable(settings):
    demand_id = _firm_without_data(settings)
    app = create_app(settings, CONFIG)
    loader = start_engine_loading(app)
    assert loader.wait(timeout=120) and loader.state == EngineLoader.FAILED
    client = app.test_client()

    data = client.get("/healthz").get_json()
    assert data["status"] == "degraded" and data["ready"] is False and data["engine"] == "failed"
    assert data["error"].startswith("MarketplaceError: no firm profiles to match against; import data first")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "Retry-After" not in ready.headers and ready.get_json()["engine"] == "failed"

    assert client.get("/").status_code == 200  # the rest of the site keeps working
    client.post("/auth/login", data={"email": "a@b.cn", "password": "longenough1"})
    client.get("/lang/en")
    refused = client.post(f"/demands/{demand_id}/match")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 503 and "Retry-After" not in refused.headers
    assert "matching is unavailable: no firm profiles to match against; import data first" in page


def test_a_load_failing_on_an_unreadable_file_names_it_in_health_and_pages_send_users_to_the_administrator(
    loaded, people
):
    index = loaded.index_dir
    index.mkdir(parents=True, exist_ok=True)
    (index / "embeddings.sqlite").write_bytes(b"not a database " * 100)
    app = create_app(loaded, {**CONFIG, "MATCH_USE_DENSE": True})
    loader = start_engine_loading(app)
    assert loader.wait(timeout=120) and loader.state == EngineLoader.FAILED
    client = app.test_client()
    data = client.get("/healthz").get_json()
    assert data["engine"] == "failed" and data["error"] == "DatabaseError: file is not a database"

    client.post("/auth/login", data={"email": people["emails"]["large"], "password": "correct-horse-1"})
    client.get("/lang/en")
    refused = client.post(f"/demands/{people['demand']}/match")
    assert refused.status_code == 503
    page = refused.get_data(as_text=True)
    assert "matching is unavailable: the engine failed to load; tell the platform administrator" in page
    assert "not a database" not in page  # the technical reason is for the operator, not the user


# --- the real server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> tuple[int, dict]:
    import json

    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_serve_accepts_connections_within_seconds_and_reports_ready_when_the_engine_is_built(loaded, tmp_path):
    """`python -m marketplace serve` on the fixture data: /healthz answers a few seconds after the
    start, before the engine is built (the log says the server listened first), and /readyz turns
    200 once it is."""
    if not loaded.database_url.startswith("sqlite"):
        pytest.skip("one database is enough for the process test")
    port = _free_port()
    env = {
        **os.environ,
        "MARKETPLACE_INSTANCE_DIR": str(loaded.instance_dir),
        "MARKETPLACE_DATABASE_URL": loaded.database_url,
        "MARKETPLACE_DATA_DIR": str(loaded.data_dir),
        "MARKETPLACE_RATE_LIMITS": "0",
        "HF_HUB_OFFLINE": "1",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "marketplace", "serve", "--port", str(port), "--threads", "4"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        first = None
        while time.monotonic() - started < 60 and proc.poll() is None:
            try:
                first = _get_json(f"{base}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        answered_after = time.monotonic() - started
        assert first is not None, f"no answer from /healthz; log:\n{log.read_text()[-3000:]}"
        status, health = first
        # it answers while the engine is still being built (seconds even on the fixture data: the
        # word segmenter's dictionary alone), as soon as the app is imported: 2 s of CPU, a few
        # seconds on an idle machine, about 20 s on a test machine with five busy processes per core
        assert status == 200 and health["status"] == "ok" and health["engine"] == "loading", health
        assert health["ready"] is False and health["counts"]["firms"] > 0
        assert answered_after < 60, f"/healthz first answered after {answered_after:.1f} s"

        while time.monotonic() - started < 180:
            status, ready = _get_json(f"{base}/readyz")
            if status == 200:
                break
            assert status == 503 and ready["engine"] == "loading", ready
            time.sleep(0.5)
        assert status == 200 and ready["ready"] is True
        text = log.read_text()
        listening = text.index(f"Serving on http://127.0.0.1:{port}")
        assert re.search(r"matching engine ready: \d+ firm profiles", text[listening:]), text[-3000:]
        assert "objects kept out of garbage collection" in text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
