"""The matching engine for the web app: built once per process on first use, refreshed when a
firm edits its profile. When Neo4j is configured but down, the graph falls back to networkx
(logged as a warning) and pages keep working.

With several server processes, each follows the database (``marketplace.engine_sync``): at most
every ``ENGINE_SYNC_SECONDS`` (default 5) a request compares the firms' data version with the one
its engine was built from and, when it moved, refreshes the engine in the background.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, current_app

from marketplace.db import session_scope
from marketplace.engine_sync import data_version, firms_changed_since
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
                version = data_version(get_db())  # read first: later changes are picked up by the next check
                engine = MatchEngine(settings, use_dense=use_dense).build(get_db())
                app.extensions["engine_sync"] = {"version": version, "checked": time.monotonic(), "busy": False}
                app.extensions["engine"] = engine
    follow_database(app, engine)
    return engine


def follow_database(app: Flask, engine: MatchEngine) -> threading.Thread | None:
    """Refresh the engine in the background when another process changed firms since it was
    built (checked at most every ENGINE_SYNC_SECONDS); returns the refresh thread, if one started."""
    state = app.extensions.get("engine_sync")
    if state is None or state["busy"]:
        return None
    now = time.monotonic()
    if now - state["checked"] < float(app.config.get("ENGINE_SYNC_SECONDS", 5.0)):
        return None
    state["checked"] = now
    current = data_version(get_db())
    if current == state["version"]:
        return None
    changed = firms_changed_since(get_db(), state["version"])
    settings, logger = app.extensions["settings"], app.logger
    state["busy"] = True

    def work() -> None:
        try:
            with _lock, session_scope(settings) as session:
                engine.refresh(session, changed)
            state["version"] = current
        except Exception:  # noqa: BLE001 - a failed refresh must not take the app down; it is retried
            logger.exception("refreshing the matching engine from the database failed")
        finally:
            state["busy"] = False

    thread = threading.Thread(target=work, name="engine-follow-database", daemon=True)
    thread.start()
    return thread


def refresh_firm(firm_id: int) -> None:
    """Re-index after a profile edit, in the background so the request returns at once."""
    engine = current_app.extensions.get("engine")
    if engine is None:
        return
    settings = current_app.extensions["settings"]
    logger = current_app.logger
    sync_state = current_app.extensions.get("engine_sync")

    def work() -> None:
        try:
            with _lock, session_scope(settings) as session:
                version = data_version(session)
                engine.refresh(session, [firm_id])
            if sync_state is not None:
                sync_state["version"] = version  # this refresh read everything up to here
        except Exception:  # noqa: BLE001 - a failed refresh must not take the app down; it is logged
            logger.exception("refreshing the matching engine after editing firm %s failed", firm_id)

    thread = threading.Thread(target=work, name=f"refresh-firm-{firm_id}", daemon=True)
    thread.start()
    current_app.extensions.setdefault("refresh_threads", []).append(thread)
