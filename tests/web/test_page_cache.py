"""The home page's counts and firm lists are cached per process for PAGE_CACHE_SECONDS; the open
demands on it are always read live."""

from __future__ import annotations

import re

from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.demands.workflow import create_demand
from marketplace.enterprise.firms import create_firm
from marketplace.models import Firm
from web import create_app

BASE = {"TESTING": True, "WTF_CSRF_ENABLED": False, "MATCH_USE_DENSE": False}


def _firm_count(html: str) -> int:
    return int(re.search(r"企业 <b>(\d+)</b>", html).group(1))


def _add_firm_and_demand(settings, owner_id: int) -> None:  # noqa: ANN001
    with session_scope(settings) as s:
        create_firm(s, name="缓存测试新企业有限公司")
        create_demand(
            s, {"owner_firm_id": owner_id, "type": "rd", "title": "缓存测试需求：新型电解液研发", "publish": True}
        )


def test_home_page_counts_are_served_from_the_cache_until_it_expires(loaded, people):
    client = create_app(loaded, {**BASE, "PAGE_CACHE_SECONDS": 300}).test_client()
    before = _firm_count(client.get("/").get_data(as_text=True))
    _add_firm_and_demand(loaded, people["large_firm"])
    html = client.get("/").get_data(as_text=True)
    assert _firm_count(html) == before  # cached
    assert "缓存测试需求：新型电解液研发" in html  # demands are live


def test_without_the_cache_the_home_page_counts_every_view(loaded, people):
    client = create_app(loaded, {**BASE, "PAGE_CACHE_SECONDS": 0}).test_client()
    before = _firm_count(client.get("/").get_data(as_text=True))
    _add_firm_and_demand(loaded, people["large_firm"])
    with session_scope(loaded) as s:
        assert s.scalar(select(Firm).where(Firm.name == "缓存测试新企业有限公司")) is not None
    assert _firm_count(client.get("/").get_data(as_text=True)) == before + 1


def test_cached_firm_search_still_shows_each_firm_as_it_is_now(loaded, people):
    client = create_app(loaded, {**BASE, "PAGE_CACHE_SECONDS": 300}).test_client()
    assert "测试隔膜科技" in client.get("/firms/?q=隔膜科技").get_data(as_text=True)
    with session_scope(loaded) as s:
        s.get(Firm, people["sme_firm"]).short_name = "改名后的隔膜公司"
    html = client.get("/firms/?q=隔膜科技").get_data(as_text=True)
    assert "改名后的隔膜公司" in html  # same hit from the cache, read fresh from the database


def test_an_entry_expiring_while_it_is_read_is_computed_again_not_an_error(loaded):
    from cachetools import TTLCache

    from web.cache import cached

    app = create_app(loaded, {**BASE, "PAGE_CACHE_SECONDS": 5})
    clock = iter(range(0, 1000, 3))  # every reading of the clock is 3 s later: an entry lives 5 s
    with app.app_context():
        app.extensions["page_cache"] = TTLCache(maxsize=8, ttl=5, timer=lambda: next(clock))
        assert cached("k", lambda: "first") == "first"
        assert cached("k", lambda: "second") in ("first", "second")  # expired mid-read: never a KeyError
