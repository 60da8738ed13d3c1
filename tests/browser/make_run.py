"""An instance built exactly as ``make run`` builds it: the commands of the Makefile's ``run`` recipe,
run in a subprocess each with a user's environment (no ``MARKETPLACE_*`` test settings, no test
secret key: ``serve`` keeps its own random key in the instance), and the server they start.

Only two things differ from a user's shell: the instance lives in a temporary folder, and the data
is the slice shipped in ``marketplace/demo_data`` (what ``make run`` loads on a machine without
``../shared/data``), so the instance is built in about a minute instead of five."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_DATA = ROOT / "marketplace" / "demo_data"


def run_recipe(makefile: Path = ROOT / "Makefile") -> list[list[str]]:
    """The command lines of the Makefile's ``run`` target, ``$(PY)`` replaced by this interpreter."""
    lines, inside = [], False
    for line in makefile.read_text(encoding="utf-8").splitlines():
        if re.match(r"^run\s*:", line):
            inside = True
            continue
        if inside:
            if not line.startswith("\t"):
                break
            lines.append(shlex.split(line.strip().replace("$(PY)", sys.executable)))
    if not lines or lines[-1][1:4] != ["-m", "marketplace", "serve"]:
        raise AssertionError(f"the Makefile's run recipe no longer ends with serve: {lines}")
    return lines


def user_environment(instance: Path) -> dict[str, str]:
    """The caller's environment without any ChainMatch setting, plus the instance and data folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
    env.update(
        MARKETPLACE_INSTANCE_DIR=str(instance),
        MARKETPLACE_DATA_DIR=str(DEMO_DATA),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MadeInstance:
    instance: Path
    url: str
    process: subprocess.Popen
    outputs: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def build_and_serve(instance: Path, *, ready_timeout: float = 240.0) -> MadeInstance:
    """Run every step of ``make run`` (the last one, serve, in the background on a free port) and
    wait until ``/readyz`` says its matching engine is ready."""
    env = user_environment(instance)
    *steps, serve = run_recipe()
    outputs: dict[str, str] = {}
    for argv in steps:
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        name = " ".join(argv[3:])
        if done.returncode != 0:
            raise AssertionError(f"`{name}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        outputs[name] = done.stdout
    port = free_port()
    serve = [str(port) if previous == "--port" else arg for previous, arg in zip(["", *serve[:-1]], serve, strict=True)]
    instance.mkdir(parents=True, exist_ok=True)
    log = instance / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    made = MadeInstance(instance, f"http://127.0.0.1:{port}", process, outputs, log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            status, body = _get(f"{made.url}/readyz")
        except OSError:
            status, body = 0, b""
        if status == 200:
            return made
        if status == 503 and b"loading" not in body:
            made.stop()
            raise AssertionError(f"the matching engine failed to load: {body!r}\n{log.read_text(errors='replace')}")
        time.sleep(1)
    made.stop()
    raise AssertionError(f"serve was not ready in {ready_timeout:.0f} s:\n{log.read_text(errors='replace')}")
