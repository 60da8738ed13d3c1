"""The matching engine for the web app: built once per process on first use, refreshed when a
firm edits its profile. When Neo4j is configured but down, the graph falls back to networkx
(logged as a warning) and pages keep working."""

from __future__ import annotations

import threading

from flask import current_app

from marketplace.db import session_scope
from marketplace.matching import MatchEngine
from web.db import get_db

_lock = threading.Lock()


def get_engine() -> MatchEngine:
    app = current_app
    engine = app.extensions.get("engine")
    if engine is None:
        with _lock:
            engine = app.extensions.get("engine")
            if engine is None:
                settings = app.extensions["settings"]
                use_dense = app.config.get("MATCH_USE_DENSE", True)
                engine = MatchEngine(settings, use_dense=use_dense).build(get_db())
                app.extensions["engine"] = engine
    return engine


def refresh_firm(firm_id: int) -> None:
    """Re-index after a profile edit, in the background so the request returns at once."""
    engine = current_app.extensions.get("engine")
    if engine is None:
        return
    settings = current_app.extensions["settings"]
    logger = current_app.logger

    def work() -> None:
        try:
            with _lock, session_scope(settings) as session:
                engine.refresh(session, [firm_id])
        except Exception:  # noqa: BLE001 - a failed refresh must not take the app down; it is logged
            logger.exception("refreshing the matching engine after editing firm %s failed", firm_id)

    thread = threading.Thread(target=work, name=f"refresh-firm-{firm_id}", daemon=True)
    thread.start()
    current_app.extensions.setdefault("refresh_threads", []).append(thread)
