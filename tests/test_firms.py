"""The firm detail read as rows says exactly what the firm's ORM relationships say."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.enterprise.firms import firm_detail, get_firm
from marketplace.errors import NotFoundError
from marketplace.models import Firm


def test_firm_detail_lists_names_products_by_revenue_share_industries_and_patents_as_the_firm_holds_them(loaded):
    with session_scope(loaded) as s:
        firm_ids = list(s.scalars(select(Firm.id).order_by(Firm.id)))
        checked = 0
        for firm_id in firm_ids:
            firm = get_firm(s, firm_id)
            detail = firm_detail(s, firm_id)
            products = sorted(sorted(firm.products, key=lambda fp: fp.id), key=lambda fp: -(fp.weight or 0))
            assert detail["products"] == [
                {"name": fp.product.name, "weight": fp.weight, "source": fp.source} for fp in products
            ]
            assert detail["names"] == [
                {"name": n.name, "kind": n.kind.value} for n in sorted(firm.names, key=lambda n: n.id)
            ]
            assert detail["industries"] == [
                {"name": fi.industry.name, "code": fi.industry.code, "source": fi.source}
                for fi in sorted(firm.industries, key=lambda fi: fi.id)
            ]
            assert detail["patents"] == [
                {"title": fp.patent.title, "source": fp.source} for fp in sorted(firm.patents, key=lambda fp: fp.id)
            ]
            assert detail["name"] == firm.name and detail["firm_id"] == firm_id
            checked += bool(firm.products) and any(fp.weight for fp in firm.products)
        assert checked > 0  # the fixture has firms with revenue shares, so the order is exercised


def test_firm_detail_of_an_unknown_firm_names_the_id(loaded):
    with session_scope(loaded) as s, pytest.raises(NotFoundError, match="firm 99999 does not exist"):
        firm_detail(s, 99999)
