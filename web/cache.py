"""Short-lived per-process cache for page parts that every visitor sees alike and that are costly
to compute on the full data: the home page's counts and firm lists (COUNT(*) over tables of
~100,000 rows) and the ids a firm-directory search finds (a substring scan of every product
name). Entries live PAGE_CACHE_SECONDS (default 30; 0 turns the cache off, and it is off under
TESTING unless the test sets PAGE_CACHE_SECONDS)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

from cachetools import TTLCache
from flask import current_app

T = TypeVar("T")
DEFAULT_SECONDS = 30.0
_lock = threading.Lock()
_MISSING = object()


def _cache() -> TTLCache | None:
    app = current_app
    seconds = app.config.get("PAGE_CACHE_SECONDS", 0.0 if app.testing else DEFAULT_SECONDS)
    if not seconds:
        return None
    cache = app.extensions.get("page_cache")
    if cache is None:
        with _lock:
            cache = app.extensions.setdefault("page_cache", TTLCache(maxsize=256, ttl=float(seconds)))
    return cache


def cached(key: Hashable, compute: Callable[[], T]) -> T:
    """The value under ``key`` if computed less than PAGE_CACHE_SECONDS ago, else ``compute()``."""
    cache = _cache()
    if cache is None:
        return compute()
    with _lock:
        # one look-up: between `key in cache` and `cache[key]` the entry can expire (a KeyError, a 500)
        value = cache.get(key, _MISSING)
    if value is not _MISSING:
        return value
    value = compute()  # outside the lock: two threads may compute it once each, never block each other
    with _lock:
        cache[key] = value
    return value
