"""Runs our Neo4j launcher (graph/neo4j_server, real Neo4j Community 5.26 in process with Bolt)
as a background process: start waits until Bolt answers, stop shuts it down cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from marketplace.config import REPO_ROOT, Settings
from marketplace.errors import MarketplaceError, ServiceUnavailableError

SERVER_DIR = REPO_ROOT / "graph" / "neo4j_server"
MAIN_CLASS = "chainmatch.neo4j.Launcher"


@dataclass
class ServerStatus:
    running: bool
    pid: int | None
    uri: str
    data_dir: str
    nodes: int | None = None
    message: str = ""

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _pid_file(settings: Settings) -> Path:
    return settings.neo4j_home / "server.pid"


def _read_pid(settings: Settings) -> int | None:
    try:
        pid = int(_pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _bolt_answers(settings: Settings) -> tuple[bool, int | None, str]:
    from graph.neo4j_backend import connect

    try:
        driver = connect(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password)
    except ServiceUnavailableError as exc:
        return False, None, str(exc)
    try:
        records, _, _ = driver.execute_query("MATCH (n) RETURN count(n) AS c", database_=settings.neo4j_database)
        return True, records[0]["c"], ""
    finally:
        driver.close()


def status(settings: Settings) -> ServerStatus:
    ok, nodes, message = _bolt_answers(settings)
    return ServerStatus(ok, _read_pid(settings), settings.neo4j_uri, str(settings.neo4j_home), nodes, message)


def _java_command(settings: Settings) -> list[str]:
    classes, lib = SERVER_DIR / "target" / "classes", SERVER_DIR / "target" / "lib"
    if not (classes / "chainmatch" / "neo4j" / "Launcher.class").is_file() or not lib.is_dir():
        raise MarketplaceError(f"the Neo4j launcher is not built; run `make neo4j-build` (mvn package in {SERVER_DIR})")
    url = urlparse(settings.neo4j_uri)
    host, port = url.hostname or "127.0.0.1", url.port or 7687
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise MarketplaceError(f"{settings.neo4j_uri} is not local; `neo4j start` only runs a server on this machine")
    java = os.environ.get("JAVA_HOME")
    java_bin = str(Path(java) / "bin" / "java") if java else "java"
    return [
        java_bin,
        "-Xms512m",
        "-Xmx2g",
        "-XX:+UseG1GC",
        "-cp",
        f"{classes}{os.pathsep}{lib}/*",
        MAIN_CLASS,
        "--data",
        str(settings.neo4j_home),
        "--host",
        host,
        "--port",
        str(port),
        "--password",
        settings.neo4j_password,
        "--pagecache",
        "512",
    ]


def start(settings: Settings, timeout: float = 180.0) -> ServerStatus:
    current = status(settings)
    if current.running:
        current.message = "already running"
        return current
    command = _java_command(settings)
    settings.neo4j_home.mkdir(parents=True, exist_ok=True)
    log_path = settings.neo4j_home / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    _pid_file(settings).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            raise ServiceUnavailableError(
                f"Neo4j exited with code {proc.returncode}; see {log_path}:\n" + "\n".join(tail)
            )
        ready = "READY" in log_path.read_text(errors="replace")  # printed after the password is set
        current = status(settings) if ready else None
        if current is not None and current.running and proc.poll() is None:
            current.message = "started"
            return current
        time.sleep(1.0)
    raise ServiceUnavailableError(
        f"Neo4j did not answer on {settings.neo4j_uri} within {timeout:.0f} s; see {log_path}"
    )


def stop(settings: Settings, timeout: float = 60.0) -> ServerStatus:
    pid = _read_pid(settings)
    if pid is None:
        return ServerStatus(False, None, settings.neo4j_uri, str(settings.neo4j_home), message="not running")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _read_pid(settings) is not None:
        time.sleep(0.5)
    if _read_pid(settings) is not None:
        os.kill(pid, signal.SIGKILL)
    _pid_file(settings).unlink(missing_ok=True)
    return ServerStatus(False, None, settings.neo4j_uri, str(settings.neo4j_home), message="stopped")
