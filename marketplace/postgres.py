"""Runs a throw-away PostgreSQL server (Debian's ``postgresql`` binaries) for tests and load runs.

``start`` initialises a cluster in a fresh temporary directory, starts it on a free loopback port
and records where it runs in ``<instance>/postgres/server.json``; ``stop`` shuts it down and
removes the temporary directory. PostgreSQL refuses to run as root, so when we are root (as on CI)
``initdb`` and ``pg_ctl`` run as the unprivileged system user ``postgres`` (created by the Debian
package; created here when missing). The cluster trusts loopback connections and has one
superuser, so it is only fit for a test machine.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from marketplace.config import Settings
from marketplace.errors import MarketplaceError, ServiceUnavailableError

PG_ROOT = Path("/usr/lib/postgresql")
RUN_AS_USER = "postgres"
SUPERUSER = "chainmatch"


@dataclass
class PostgresStatus:
    running: bool
    url: str | None = None
    port: int | None = None
    data_dir: str | None = None
    bin_dir: str | None = None
    message: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def state_file(settings: Settings) -> Path:
    return Path(settings.instance_dir) / "postgres" / "server.json"


def find_bin_dir(root: Path = PG_ROOT) -> Path:
    """The newest installed server's bin directory (``/usr/lib/postgresql/<major>/bin``)."""
    found = []
    if root.is_dir():
        for child in root.iterdir():
            if re.fullmatch(r"\d+(\.\d+)?", child.name) and (child / "bin" / "pg_ctl").is_file():
                found.append((float(child.name), child / "bin"))
    if not found:
        raise MarketplaceError(
            f"no PostgreSQL server binaries under {root}; install them with `apt-get install postgresql` "
            "(`make system-deps` does it)"
        )
    return max(found)[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _service_user() -> pwd.struct_passwd | None:
    """The user the server runs as: ourselves, unless we are root (then ``postgres``)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(RUN_AS_USER)


def _run(argv: list[str], user: pwd.struct_passwd | None, cwd: Path, timeout: float) -> str:
    """Run a PostgreSQL tool, as ``user`` when given; raise with its output when it fails."""
    kwargs: dict = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": _groups(user)}
        env.update(HOME=str(cwd), USER=user.pw_name, LOGNAME=user.pw_name)
    proc = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, **kwargs
    )
    if proc.returncode != 0:
        raise ServiceUnavailableError(f"{Path(argv[0]).name} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc.stdout


def _groups(user: pwd.struct_passwd) -> list[int]:
    return [g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem]


def _url(port: int, database: str = "postgres") -> str:
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{database}"


def _read_state(settings: Settings) -> dict | None:
    try:
        return json.loads(state_file(settings).read_text())
    except (OSError, ValueError):
        return None


def _answers(port: int, bin_dir: Path) -> bool:
    try:
        proc = subprocess.run(
            [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def status(settings: Settings) -> PostgresStatus:
    state = _read_state(settings)
    if not state:
        return PostgresStatus(False, message="not started (no server.json)")
    running = _answers(state["port"], Path(state["bin_dir"]))
    return PostgresStatus(
        running,
        state["url"],
        state["port"],
        state["data_dir"],
        state["bin_dir"],
        "" if running else "does not answer",
    )


def server_url(settings: Settings) -> str | None:
    """The URL of the server that ``start`` runs for these settings, if it answers."""
    current = status(settings)
    return current.url if current.running else None


def start(settings: Settings, fast: bool = False, timeout: float = 120.0) -> PostgresStatus:
    """Initialise a cluster in a temporary directory and start it on a free loopback port.

    ``fast`` turns off fsync and synchronous commit: fine for tests, never for real data.
    """
    current = status(settings)
    if current.running:
        current.message = "already running"
        return current
    bin_dir = find_bin_dir()
    user = _service_user()
    base = Path(tempfile.mkdtemp(prefix="chainmatch-pg-"))
    if user is not None:
        os.chown(base, user.pw_uid, user.pw_gid)
    os.chmod(base, 0o700)
    data, log = base / "data", base / "server.log"
    _run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"]
        + ["--no-sync", "--no-instructions"],
        user,
        base,
        timeout,
    )
    port = free_port()
    options = [
        f"-p {port}",
        "-c listen_addresses=127.0.0.1",
        f"-c unix_socket_directories={base}",
        "-c max_connections=200",
    ]
    if fast:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    try:
        _run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(timeout))]
            + ["-o", " ".join(options), "start"],
            user,
            base,
            timeout + 10,
        )
    except ServiceUnavailableError as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise ServiceUnavailableError(f"{exc}\n{tail}") from exc
    state = {"url": _url(port), "port": port, "data_dir": str(data), "bin_dir": str(bin_dir), "base": str(base)}
    state_file(settings).parent.mkdir(parents=True, exist_ok=True)
    state_file(settings).write_text(json.dumps(state, indent=2))
    return PostgresStatus(True, state["url"], port, str(data), str(bin_dir), "started")


def stop(settings: Settings, timeout: float = 60.0) -> PostgresStatus:
    """Stop the server started by :func:`start` and delete its temporary directory."""
    state = _read_state(settings)
    if not state:
        return PostgresStatus(False, message="not running")
    base, data = Path(state["base"]), Path(state["data_dir"])
    if (data / "postmaster.pid").exists():
        owner = pwd.getpwuid(base.stat().st_uid)
        user = owner if os.geteuid() == 0 and owner.pw_uid != 0 else None
        try:
            _run(
                [str(Path(state["bin_dir"]) / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                user,
                base,
                timeout,
            )
        except ServiceUnavailableError:
            if status(settings).running:
                raise  # still up: keep its files so that it can be stopped by hand
    shutil.rmtree(base, ignore_errors=True)
    state_file(settings).unlink(missing_ok=True)
    return PostgresStatus(False, message="stopped")
