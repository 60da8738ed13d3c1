"""CSRF protection is on for every form when the app runs as configured."""

from __future__ import annotations

import pytest

from tests.web.conftest import PASSWORD, csrf_token
from web import create_app


@pytest.fixture
def csrf_client(loaded, people):
    return create_app(loaded, {"TESTING": True, "MATCH_USE_DENSE": False}).test_client()


@pytest.mark.parametrize(
    "path", ["/auth/login", "/auth/register", "/auth/logout", "/profile", "/demands/new", "/inbox/refresh"]
)
def test_post_without_csrf_token_is_rejected(csrf_client, path):
    response = csrf_client.post(path, data={"email": "sme@t.cn", "password": PASSWORD})
    assert response.status_code == 400 and "请求无效" in response.get_data(as_text=True)


def test_login_with_csrf_token_works(csrf_client):
    token = csrf_token(csrf_client.get("/auth/login").get_data(as_text=True))
    response = csrf_client.post("/auth/login", data={"email": "sme@t.cn", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_signed_in_post_without_token_is_rejected(csrf_client, people):
    token = csrf_token(csrf_client.get("/auth/login").get_data(as_text=True))
    csrf_client.post("/auth/login", data={"email": "large@t.cn", "password": PASSWORD, "csrf_token": token})
    assert csrf_client.post(f"/demands/{people['demand']}/status/close").status_code == 400
    assert csrf_client.post("/profile", data={"description": "x"}).status_code == 400


def test_api_is_exempt_from_csrf_but_needs_a_token(csrf_client, people):
    assert csrf_client.get("/api/v1/demands").status_code == 401
    ok = csrf_client.get("/api/v1/demands", headers={"Authorization": f"Bearer {people['tokens']['sme']}"})
    assert ok.status_code == 200


def test_a_refused_form_says_why_in_the_readers_language(csrf_client):
    page = csrf_client.post("/auth/login", data={"email": "sme@t.cn"}).get_data(as_text=True)
    assert "表单已过期或缺少安全令牌" in page and "CSRF token is missing" not in page
    csrf_client.get("/lang/en")
    page = csrf_client.post("/auth/login", data={"email": "sme@t.cn"}).get_data(as_text=True)
    assert "The form has expired or lacks its security token" in page and "表单已过期" not in page
