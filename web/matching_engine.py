"""The matching engine for the web app: built once per process, refreshed when a firm edits its
profile. When Neo4j is configured but down, the graph falls back to networkx (logged as a
warning) and pages keep working.

Two ways to build it:

* ``serve`` starts an :class:`EngineLoader` (:func:`start_engine_loading`) before it listens: the
  engine is built in a background thread (about a minute on the full data) while the server
  already answers. Meanwhile every page and API call that needs the engine answers 503 with
  ``Retry-After`` and "the matching engine is warming up" in the reader's language; pages that do
  not need it work as usual. A build that fails is logged with its traceback and leaves the engine
  *failed*: those pages then say matching is unavailable (503, no retry) until a restart.
  :func:`engine_status` is what ``/healthz`` and ``/readyz`` report.
* without a loader (tests, scripts), the first request that needs the engine builds it.

Heavy work is bounded so one user cannot starve the others:

* :func:`heavy_work` — at most ``HEAVY_WORK_SLOTS`` matching jobs (inbox refresh, matching a
  stored demand) run at once per process, and one per key (firm or demand) at a time; a second
  request for the same key answers 409, a request finding every slot busy for 10 s answers 503;
* :class:`RefreshQueue` — profile edits only mark the firm dirty; one background worker per
  process re-indexes dirty firms in batches, so ten saves in a row cost one refresh, not ten
  threads each rebuilding.

With several server processes, each follows the database (``marketplace.matching.engine_sync``): at most
every ``ENGINE_SYNC_SECONDS`` (default 5) a request compares the firms' data version with the one
its engine was built from and, when it moved, queues the firms changed since for the same
background refresh (:func:`follow_database`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from flask import Flask, abort, current_app
from sqlalchemy.orm import Session
from werkzeug.exceptions import ServiceUnavailable

from marketplace.db import session_scope
from marketplace.errors import MarketplaceError, message_of, msg
from marketplace.matching.engine import MatchEngine
from marketplace.matching.engine_sync import data_version, firms_changed_since
from web.db import get_db
from web.messages import for_reader

log = logging.getLogger(__name__)
_lock = threading.Lock()  # building and refreshing the engine
_setup = threading.Lock()  # creating the per-app helpers below
SLOT_WAIT_SECONDS = 10.0
WARMING_UP_RETRY_AFTER = 15  # seconds a client is told to wait while the engine loads (Retry-After)
ERROR_REASON_CHARS = 300  # of a failed build's reason, shown by /healthz


def get_engine() -> MatchEngine:
    """The app's engine; while a background load runs or after it failed, a 503 answer (see the
    module docstring); without a loader, built here on first use."""
    # the app itself, not the current_app proxy: follow_database may hand it to the refresh thread,
    # which runs with no application context
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine = app.extensions.get("engine")
    if engine is None:
        loader: EngineLoader | None = app.extensions.get("engine_loader")
        if loader is not None:
            if loader.state != EngineLoader.READY:
                refuse_without_engine(loader)
            engine = app.extensions["engine"]
        else:
            with _lock:
                engine = app.extensions.get("engine")
                if engine is None:
                    engine = load_engine(app, get_db())
    follow_database(app)
    return engine


def load_engine(app: Flask, session: Session) -> MatchEngine:
    """Build the app's engine from the database and hand it to the app (both ways above run this)."""
    settings = app.extensions["settings"]
    use_dense = app.config.get("MATCH_USE_DENSE", True)
    version = data_version(session)  # read first: later changes are picked up by the next check
    engine = MatchEngine(settings, use_dense=use_dense).build(session)
    app.extensions["engine_sync"] = {"version": version, "queued": None, "checked": time.monotonic()}
    app.extensions["engine"] = engine
    return engine


def load_engine_from_database(app: Flask) -> MatchEngine:
    """What a background load runs by default: :func:`load_engine` in a session of its own."""
    with session_scope(app.extensions["settings"]) as session:
        return load_engine(app, session)


class EngineLoader:
    """Builds an app's engine once, in a background thread, and says where it stands:
    ``state`` is loading, ready or failed (``error`` then holds what went wrong)."""

    LOADING, READY, FAILED = "loading", "ready", "failed"

    def __init__(self, app: Flask, load: Callable[[Flask], MatchEngine]) -> None:
        self._app = app
        self._load = load
        self.state = self.LOADING
        self.error: BaseException | None = None
        self._started = time.monotonic()
        self._finished: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-load", daemon=True)

    def start(self) -> EngineLoader:
        self._thread.start()
        return self

    @property
    def seconds(self) -> float:
        """How long the load took, or has taken so far."""
        return round((self._finished or time.monotonic()) - self._started, 1)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the load has finished, ready or failed (tests, scripts); False on timeout."""
        return self._done.wait(timeout)

    def _run(self) -> None:
        log.info("loading the matching engine in the background; pages that need it answer 503 until it is ready")
        try:
            with self._app.app_context():
                engine = self._load(self._app)
        except Exception as exc:  # noqa: BLE001 - reported by /healthz and on the pages, logged with its traceback
            self.error = exc
            self._finished = time.monotonic()
            self.state = self.FAILED
            log.exception(
                "the matching engine failed to load after %.1f s; matching stays unavailable until the server "
                "is restarted (the other pages keep working)",
                self.seconds,
            )
        else:
            self._finished = time.monotonic()
            self.state = self.READY
            log.info("matching engine ready: %d firm profiles in %.1f s", len(engine.profiles), self.seconds)
        finally:
            self._done.set()


def start_engine_loading(app: Flask, load: Callable[[Flask], MatchEngine] | None = None) -> EngineLoader:
    """Build the app's engine in a background thread (``load``: :func:`load_engine_from_database`
    unless given); requests that need it answer 503 until it is ready."""
    with _setup:
        if "engine_loader" in app.extensions or "engine" in app.extensions:
            raise RuntimeError("the matching engine of this app is already loading or loaded")
        loader = app.extensions["engine_loader"] = EngineLoader(app, load or load_engine_from_database)
    return loader.start()


def failure_reason(error: BaseException) -> str:
    """A failed build's reason in one line: the exception's class and the first line of its message."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    reason = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    return reason if len(reason) <= ERROR_REASON_CHARS else reason[: ERROR_REASON_CHARS - 1] + "…"


def engine_status(app: Flask) -> dict[str, Any]:
    """Where the app's engine stands, as /healthz and /readyz report it: ``engine`` is loading,
    ready, failed (with ``error``) or on_first_use (no background load: the first request that
    needs it builds it); ``ready`` is whether every page can be served now."""
    loader: EngineLoader | None = app.extensions.get("engine_loader")
    if loader is None:
        state = EngineLoader.READY if app.extensions.get("engine") is not None else "on_first_use"
        return {"ready": True, "engine": state}
    status: dict[str, Any] = {
        "ready": loader.state == EngineLoader.READY,
        "engine": loader.state,
        "engine_seconds": loader.seconds,
    }
    if loader.error is not None:
        status["error"] = failure_reason(loader.error)
    return status


def refuse_without_engine(loader: EngineLoader) -> NoReturn:
    """The 503 a request that needs the engine gets while it loads (with Retry-After) or after
    it failed to load (no retry: it stays so until a restart)."""
    if loader.state == EngineLoader.FAILED:
        if isinstance(loader.error, MarketplaceError):  # a message written for people ("import data first")
            reason = msg("matching is unavailable: %(reason)s", reason=message_of(loader.error))
        else:
            reason = msg("matching is unavailable: the engine failed to load; tell the platform administrator")
        abort(503, description=for_reader(reason))
    raise ServiceUnavailable(
        description=for_reader(msg("the matching engine is warming up; try again in a minute")),
        retry_after=WARMING_UP_RETRY_AFTER,
    )


def freeze_built_objects() -> int:
    """Move every object alive now (the built engine above all: 1.2 million tracked containers on
    the full data) out of reach of Python's cyclic garbage collector; returns how many.

    A full collection walks every tracked object and holds the interpreter meanwhile: ~490 ms with
    the engine loaded, a pause every thread of the server shares, often enough under load to set the
    p95 of every page (docs/benchmarks.md, "Load"). Frozen objects are still freed by reference
    counting; only cyclic garbage among them would stay. Called by `serve`'s background load once
    the engine is built (:func:`load_and_freeze`), not by tests or scripts."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def load_and_freeze(app: Flask) -> MatchEngine:
    """``serve``'s background load: the engine, then every object built kept out of the cyclic
    garbage collector (:func:`freeze_built_objects`)."""
    engine = load_engine_from_database(app)
    log.info("%d objects kept out of garbage collection", freeze_built_objects())
    return engine


def follow_database(app: Flask) -> bool:
    """Queue a refresh of this process's engine when firms changed in the database since it was
    built or last refreshed (by any process); checked at most every ENGINE_SYNC_SECONDS. True
    when a refresh was queued."""
    state = app.extensions.get("engine_sync")
    if state is None:
        return False
    now = time.monotonic()
    if now - state["checked"] < float(app.config.get("ENGINE_SYNC_SECONDS", 5.0)):
        return False
    state["checked"] = now
    current = data_version(get_db())
    if current in (state["version"], state["queued"]):
        return False
    state["queued"] = current
    queue = refresh_queue(app)
    for firm_id in firms_changed_since(get_db(), state["version"]):
        queue.mark(firm_id)
    return True


class HeavyWork:
    """A bounded number of concurrent matching jobs, and one job per key at a time."""

    def __init__(self, slots: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self._running: set[str] = set()
        self._guard = threading.Lock()

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        with self._guard:
            if key in self._running:
                abort(409, description=for_reader(msg("this match is already running; wait for it to finish")))
            self._running.add(key)
        try:
            if not self._slots.acquire(timeout=SLOT_WAIT_SECONDS):
                abort(503, description=for_reader(msg("matching is busy; try again shortly")))
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._guard:
                self._running.discard(key)


def _heavy(app: Flask) -> HeavyWork:
    work = app.extensions.get("heavy_work")
    if work is None:
        with _setup:
            work = app.extensions.setdefault("heavy_work", HeavyWork(int(app.config.get("HEAVY_WORK_SLOTS", 2))))
    return work


@contextmanager
def heavy_work(key: str) -> Iterator[None]:
    """Run a matching job within the process's bounds (see the module docstring)."""
    with _heavy(current_app._get_current_object()).slot(key):  # type: ignore[attr-defined]
        yield


class RefreshQueue:
    """Dirty firms waiting to be re-indexed, and the one worker thread that does it."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._dirty: set[int] = set()
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None

    def mark(self, firm_id: int) -> None:
        with self._cond:
            self._dirty.add(firm_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="engine-refresh", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until nothing is queued or running (tests and shutdown); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._dirty and not self._busy, timeout=timeout)

    def _run(self) -> None:
        app = self._app
        while True:
            with self._cond:
                if not self._cond.wait_for(lambda: bool(self._dirty), timeout=30.0):
                    self._thread = None
                    return
                batch, self._dirty = sorted(self._dirty), set()
                self._busy = True
            try:
                engine = app.extensions.get("engine")
                if engine is not None:
                    with _lock, session_scope(app.extensions["settings"]) as session:
                        version = data_version(session)
                        engine.refresh(session, batch)
                    sync = app.extensions.get("engine_sync")
                    if sync is not None:
                        sync["version"] = version  # the refresh read everything up to this version
            except Exception:  # noqa: BLE001 - a failed refresh must not take the app down; it is logged
                app.logger.exception("refreshing the matching engine after editing firms %s failed", batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def refresh_queue(app: Flask) -> RefreshQueue:
    queue = app.extensions.get("refresh_queue")
    if queue is None:
        with _setup:
            queue = app.extensions.setdefault("refresh_queue", RefreshQueue(app))
    return queue


def refresh_firm(firm_id: int) -> None:
    """Queue a re-index after a profile edit; the request returns at once."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions.get("engine") is None:
        return
    refresh_queue(app).mark(firm_id)


def get_encoder():  # noqa: ANN201
    """The dense encoder for small searches outside the engine (policy search): the engine's own
    when it is built, else the configured model loaded once per process; None when dense matching
    is switched off (MATCH_USE_DENSE) and while a background load runs or after it failed."""
    app = current_app
    if not app.config.get("MATCH_USE_DENSE", True):
        return None
    engine = app.extensions.get("engine")
    if engine is not None and engine.encoder is not None:
        return engine.encoder
    loader = app.extensions.get("engine_loader")
    if loader is not None and loader.state != EngineLoader.READY:
        return None  # loading or failed: search by words only, neither waiting nor loading the model twice
    encoder = app.extensions.get("policy_encoder")
    if encoder is None:
        with _lock:
            encoder = app.extensions.get("policy_encoder")
            if encoder is None:
                from embeddings.dense import encoder_from_settings

                encoder = encoder_from_settings(app.extensions["settings"])
                app.extensions["policy_encoder"] = encoder
    return encoder
