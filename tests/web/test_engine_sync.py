"""Several server processes each hold a matching engine; a profile edit served by one reaches the
engines of the others through the database (web.matching_engine.follow_database)."""

from __future__ import annotations

from marketplace.db import session_scope
from marketplace.enterprise.firms import get_firm, update_profile
from web import create_app
from web.matching_engine import follow_database, get_engine, refresh_queue

CONFIG = {"TESTING": True, "WTF_CSRF_ENABLED": False, "MATCH_USE_DENSE": False, "ENGINE_SYNC_SECONDS": 0}
NEW_PRODUCT = "钠离子电池硬碳负极材料"


def _engine_of(app):  # noqa: ANN001, ANN202
    with app.app_context():
        return get_engine()


def test_profile_edit_written_by_one_process_reaches_another_process_engine(loaded, people):
    first, second = create_app(loaded, CONFIG), create_app(loaded, CONFIG)
    engine_first, engine_second = _engine_of(first), _engine_of(second)
    assert engine_first is not engine_second
    firm_id = people["sme_firm"]
    assert NEW_PRODUCT not in engine_second.profiles[firm_id].product_names

    with session_scope(loaded) as s:  # the edit, as the first process's profile page saves it
        update_profile(s, get_firm(s, firm_id), products=["锂电池隔膜", NEW_PRODUCT])

    with second.app_context():
        assert follow_database(second)
        assert refresh_queue(second).wait_idle(timeout=120)
        assert NEW_PRODUCT in engine_second.profiles[firm_id].product_names
        assert engine_second.match(NEW_PRODUCT, "supply_chain", top_k=3)[0].firm_id == firm_id
        assert not follow_database(second)  # in step now: no second refresh


def test_engine_is_not_refreshed_while_the_database_is_unchanged(loaded, people):
    app = create_app(loaded, CONFIG)
    _engine_of(app)
    with app.app_context():
        assert not follow_database(app)


def test_version_is_checked_at_most_once_per_interval(loaded, people):
    app = create_app(loaded, {**CONFIG, "ENGINE_SYNC_SECONDS": 3600})
    _engine_of(app)
    with session_scope(loaded) as s:
        update_profile(s, get_firm(s, people["sme_firm"]), products=[NEW_PRODUCT])
    with app.app_context():
        assert not follow_database(app)  # checked at build time, next check in an hour


def test_a_refresh_queued_while_serving_a_request_runs_after_it(loaded, people):
    """get_engine, as every request calls it, queues the refresh; the worker thread runs with no
    application context of its own, so it must hold the app itself, not Flask's current_app proxy."""
    app = create_app(loaded, CONFIG)
    engine = _engine_of(app)
    firm_id = people["sme_firm"]
    with session_scope(loaded) as s:
        update_profile(s, get_firm(s, firm_id), products=["锂电池隔膜", NEW_PRODUCT])
    with app.test_request_context("/"):
        assert get_engine() is engine  # and it noticed the change: a refresh is queued
    assert refresh_queue(app).wait_idle(timeout=120)
    assert NEW_PRODUCT in engine.profiles[firm_id].product_names
