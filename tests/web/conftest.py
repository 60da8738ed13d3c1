"""Web fixtures: an app over a fresh copy of the fixture database, users of every role, and a
helper that signs them in."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.accounts.users import create_user, issue_api_token
from marketplace.db import session_scope
from marketplace.demands.workflow import create_demand
from marketplace.enterprise.firms import create_firm, update_profile
from marketplace.models import Firm, FirmKind, Role
from web import create_app

PASSWORD = "correct-horse-1"


@pytest.fixture
def people(loaded):
    """Users: a large firm (福莱特) with an open demand, an SME with a separator profile, an
    organizer, an admin, and a second SME; plus API tokens."""
    with session_scope(loaded) as s:
        large_firm = s.scalar(select(Firm).where(Firm.stock_code == "601865"))
        sme_firm = create_firm(s, name="测试隔膜科技（上海）有限公司", kind=FirmKind.SME, region="上海")
        update_profile(s, sme_firm, products=["锂电池隔膜", "涂覆隔膜"], patents=["一种锂电池隔膜涂覆方法"])
        other_sme = create_firm(s, name="另一家测试企业有限公司", kind=FirmKind.SME)
        demand = create_demand(
            s,
            {
                "owner_firm_id": large_firm.id,
                "type": "supply_chain",
                "title": "采购锂电池隔膜",
                "wanted_products": ["锂电池隔膜"],
                "publish": True,
            },
        )
        draft = create_demand(s, {"owner_firm_id": large_firm.id, "type": "rd", "title": "草稿需求"})
        users = {
            "large": create_user(
                s, email="large@t.cn", password=PASSWORD, name="大企业", role=Role.LARGE, firm_id=large_firm.id
            ),
            "sme": create_user(
                s, email="sme@t.cn", password=PASSWORD, name="小企业", role=Role.SME, firm_id=sme_firm.id
            ),
            "sme2": create_user(
                s, email="sme2@t.cn", password=PASSWORD, name="另一家", role=Role.SME, firm_id=other_sme.id
            ),
            "organizer": create_user(
                s, email="org@t.cn", password=PASSWORD, name="组织方", role=Role.ORGANIZER, organization_name="测试协会"
            ),
            "admin": create_user(s, email="admin@t.cn", password=PASSWORD, name="管理员", role=Role.ADMIN),
        }
        tokens = {k: issue_api_token(s, u) for k, u in users.items()}
        return {
            "large_firm": large_firm.id,
            "sme_firm": sme_firm.id,
            "other_sme": other_sme.id,
            "demand": demand.id,
            "draft": draft.id,
            "tokens": tokens,
            "emails": {k: u.email for k, u in users.items()},
        }


@pytest.fixture
def app(loaded, people):
    return create_app(loaded, {"TESTING": True, "WTF_CSRF_ENABLED": False, "MATCH_USE_DENSE": False})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(client, people):
    def sign_in(who: str):
        client.post("/auth/logout")
        response = client.post("/auth/login", data={"email": people["emails"][who], "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return sign_in


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in page"
    return match.group(1)
