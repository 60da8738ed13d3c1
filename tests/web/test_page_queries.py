"""No query per row: lists of demands read their owners in the same query, and saving a ranking
reads no firm per suggestion."""

from __future__ import annotations

from sqlalchemy import event, select

from marketplace.db import get_engine, session_scope
from marketplace.demands.workflow import create_demand


def _queries_for(client, settings, path: str) -> int:  # noqa: ANN001
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        seen.append(statement)

    engine = get_engine(settings.database_url)
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_demand_list_pages_do_not_query_once_per_owner(client, loaded, people):
    before = {p: _queries_for(client, loaded, p) for p in ("/demands/", "/")}
    with session_scope(loaded) as s:
        from marketplace.models import Firm

        owners = [f.id for f in s.query(Firm).filter(Firm.stock_code.is_not(None)).limit(8)]
        for i, owner in enumerate(owners):
            create_demand(s, {"owner_firm_id": owner, "type": "rd", "title": f"查询计数测试需求{i}", "publish": True})
    after = {p: _queries_for(client, loaded, p) for p in ("/demands/", "/")}
    assert after == before  # eight more demands of eight more owners, no more queries


def test_saving_a_ranking_again_reads_no_firm_per_suggestion(loaded, people):
    from marketplace.demands.suggestions import Candidate, save_suggestions
    from marketplace.models import Demand, Firm

    def firm_reads(n: int) -> int:
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
            seen.append(statement)

        with session_scope(loaded) as s:
            demand = s.get(Demand, people["demand"])
            firms = s.scalars(select(Firm.id).where(Firm.id != demand.owner_firm_id).order_by(Firm.id).limit(n)).all()
            save_suggestions(s, demand, [Candidate(f, 1.0, []) for f in firms])
            s.commit()
            demand = s.get(Demand, people["demand"])
            engine = get_engine(loaded.database_url)
            event.listen(engine, "before_cursor_execute", count)
            try:  # the same firms again with new scores: every row is updated
                save_suggestions(s, demand, [Candidate(f, 2.0 + n, []) for f in firms])
            finally:
                event.remove(engine, "before_cursor_execute", count)
        assert any(st.lstrip().upper().startswith("UPDATE MATCH_SUGGESTIONS") for st in seen)
        return sum(st.lstrip().upper().startswith("SELECT FIRMS") for st in seen)

    assert firm_reads(3) == firm_reads(15) == 0


def test_firm_page_reads_a_firm_in_the_same_number_of_queries_however_many_products_it_lists(client, loaded, people):
    from marketplace.enterprise.firms import update_profile
    from marketplace.models import Firm

    firm_id = people["sme_firm"]

    def listing(n: int) -> int:
        with session_scope(loaded) as s:
            update_profile(
                s,
                s.get(Firm, firm_id),
                products=[f"查询计数测试产品{i}" for i in range(n)],
                industries=[f"查询计数测试行业{i}" for i in range(n)],
                patents=[f"一种查询计数测试方法{i}" for i in range(n)],
            )
        return _queries_for(client, loaded, f"/firms/{firm_id}")

    before = listing(1)
    assert listing(12) == before  # no query per product, industry or patent
    page = client.get(f"/firms/{firm_id}").get_data(as_text=True)
    assert "查询计数测试产品11" in page and "查询计数测试行业11" in page and "一种查询计数测试方法11" in page
