"""Secrets shown once on the page after a redirect (post/redirect/get), kept on the server.

Flask's session is a signed, not encrypted, cookie: what is put in it can be read by anyone who
sees the cookie (the browser's storage, a proxy log, a copied header). A secret that has to reach
the page after a redirect — a new API token — therefore stays in this process's memory under a
random one-time id; only that id travels in the session. The page after the redirect takes the
secret out (it is shown once), for the same user only, within REVEAL_SECONDS.

The store is per process: ``serve`` runs one waitress process. Where a later page finds the id but
not the secret (another process, a restart, the time passed), :func:`take` says so and the page
tells the user the secret can no longer be shown.
"""

from __future__ import annotations

import secrets
import threading

from cachetools import TTLCache
from flask import current_app, session

REVEAL_SECONDS = 300.0
_MAX_WAITING = 4096  # token creation is rate-limited per user; the oldest reveals give way first
_SESSION_KEY = "reveal_id"
_lock = threading.Lock()
LOST = object()  # take(): an id was waiting but its secret is gone


def _store() -> TTLCache:
    store = current_app.extensions.get("reveals")
    if store is None:
        with _lock:
            store = current_app.extensions.setdefault("reveals", TTLCache(maxsize=_MAX_WAITING, ttl=REVEAL_SECONDS))
    return store


def keep(user_id: int, secret: str) -> None:
    """Keep ``secret`` for the next page this user opens; only a random id goes in the session."""
    reveal_id, store = secrets.token_urlsafe(18), _store()
    with _lock:
        store[reveal_id] = (user_id, secret)
    session[_SESSION_KEY] = reveal_id


def take(user_id: int) -> str | object | None:
    """The secret kept for this user's page (removed: it is shown once); :data:`LOST` when the
    session named one that is no longer here; None when none was kept."""
    reveal_id = session.pop(_SESSION_KEY, None)
    if reveal_id is None:
        return None
    store = _store()
    with _lock:
        entry = store.pop(reveal_id, None)
    if entry is None or entry[0] != user_id:
        return LOST
    return entry[1]
