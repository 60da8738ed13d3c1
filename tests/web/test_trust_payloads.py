"""Hostile payloads in every field a user can fill: HTML/JS is escaped on every page that shows
it, CSV cells that a spreadsheet would run as formulas are neutralised, and ``next=`` never leaves
the site (tests/web/test_trust_leaks.py covers redirects)."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.models import Demand, MatchSuggestion
from tests.web.conftest import PASSWORD

XSS = '<script>alert("cm")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;cm&#34;)&lt;/script&gt;"
FORMULA = '=HYPERLINK("http://evil.example","点我")'


def test_html_in_every_user_field_is_escaped_everywhere(client, loaded, people):
    # sign-up fields: name and a new firm's name
    client.post(
        "/auth/register",
        data={
            "name": XSS,
            "email": "xss@t.cn",
            "password": "longenough1",
            "role": "large",
            "firm_choice": "new",
            "firm_name": "恶意" + XSS,
        },
    )
    client.post("/auth/login", data={"email": "xss@t.cn", "password": "longenough1"})
    # every demand field
    demand_form = {
        "type": "supply_chain",
        "title": "标题" + XSS,
        "description": XSS,
        "wanted_products": XSS,
        "wanted_technologies": XSS,
        "wanted_industries": XSS,
        "region_preference": "上海" + XSS[:40],
        "visibility": "public",
        "quantity": XSS,
        "quality_standard": XSS,
        "delivery": XSS,
        "publish": "1",
    }
    made = client.post("/demands/new", data=demand_form)
    assert made.status_code == 302, made.get_data(as_text=True)[:500]
    demand_id = int(made.headers["Location"].rstrip("/").split("/")[-1])
    # every profile field
    client.post(
        "/profile",
        data={"description": XSS, "region": XSS[:50], "products": XSS, "industries": XSS, "patents": XSS},
    )
    # token name
    client.post("/auth/token", data={"name": XSS[:80], "expires_in_days": "30"})
    with session_scope(loaded) as s:
        firm_id = s.get(Demand, demand_id).owner_firm_id
        s.add(MatchSuggestion(demand_id=demand_id, firm_id=people["sme_firm"], score=0.9, reasons=[XSS]))
    pages = [
        "/",
        "/demands/",
        f"/demands/{demand_id}",
        f"/demands/{demand_id}/edit",
        "/demands/mine",
        f"/firms/{firm_id}",
        "/firms/?q=恶意",
        "/profile",
        "/auth/token",
    ]
    seen_escaped = False
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        seen_escaped |= ESCAPED in html
    assert seen_escaped
    # the SME sees the hostile title and reasons in its inbox, escaped
    client.post("/auth/logout")
    client.post("/auth/login", data={"email": "sme@t.cn", "password": PASSWORD})
    inbox = client.get("/inbox/").get_data(as_text=True)
    assert "<script>alert" not in inbox and ESCAPED in inbox
    # the admin's pages show the hostile user's name escaped
    client.post("/auth/logout")
    client.post("/auth/login", data={"email": "admin@t.cn", "password": PASSWORD})
    admin = client.post(
        "/admin/organizers",
        data={
            "name": XSS,
            "email": "org-xss@t.cn",
            "password": "longenough1",
            "organization_name": "组织" + XSS,
            "organization_kind": "park",
        },
    ).get_data(as_text=True)
    assert "<script>alert" not in admin and ESCAPED in admin


def test_api_returns_hostile_text_as_json_data_only(client, people):
    headers = {"Authorization": f"Bearer {people['tokens']['large']}"}
    made = client.post(
        "/api/v1/demands", json={"type": "rd", "title": XSS, "description": XSS, "publish": True}, headers=headers
    )
    assert made.status_code == 201 and made.mimetype == "application/json"
    assert made.headers["X-Content-Type-Options"] == "nosniff"
    assert made.get_json()["title"] == XSS  # stored as given; every page escapes it


def test_formula_titles_and_owner_names_are_neutralised_in_the_csv(client, loaded, people):
    headers = {"Authorization": f"Bearer {people['tokens']['large']}"}
    for title in (FORMULA, "+SUM(1,2)", "-2+3", "@cmd"):
        assert (
            client.post(
                "/api/v1/demands", json={"type": "rd", "title": title, "publish": True}, headers=headers
            ).status_code
            == 201
        )
    client.post("/auth/login", data={"email": "org@t.cn", "password": PASSWORD})
    body = client.get("/organizer/export.csv").get_data(as_text=True)
    import csv
    import io

    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    titles = [r[1] for r in rows[1:]]
    assert "'" + FORMULA in titles and "'+SUM(1,2)" in titles and "'-2+3" in titles and "'@cmd" in titles
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    with session_scope(loaded) as s:
        assert s.scalar(select(Demand.id).where(Demand.title == FORMULA)) is not None  # data kept as entered
