"""The matching engine for the web app: built once per process on first use, refreshed when a
firm edits its profile. When Neo4j is configured but down, the graph falls back to networkx
(logged as a warning) and pages keep working."""

from __future__ import annotations

import threading

from flask import current_app

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
    engine = current_app.extensions.get("engine")
    if engine is not None:
        with _lock:
            engine.refresh(get_db(), [firm_id])
