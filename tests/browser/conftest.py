"""Browser tests: the app served by waitress on a free local port, driven by Playwright in the
machine's headless Chromium (Debian's package; Playwright's own browser download is not used)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading

import pytest
from waitress.server import create_server

from tests.web.conftest import PASSWORD, people  # noqa: F401  (fixture reused)
from web import create_app

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def live_server(loaded, people):  # noqa: F811
    # served like production (TESTING off): a real random secret key, as `serve` keeps one
    # the flows sign in many times a minute: rate limits off here (tests/web prove the 429)
    config = {
        "TESTING": False,
        "MATCH_USE_DENSE": False,
        "SECRET_KEY": secrets.token_hex(32),
        "RATELIMIT_ENABLED": False,
    }
    app = create_app(loaded, config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}; `make system-deps` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def sign_in(page, live_server):
    def go(email: str) -> None:
        page.goto(f"{live_server}/auth/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_load_state("networkidle")

    return go
