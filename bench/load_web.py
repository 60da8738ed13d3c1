"""Load test: simulated users (Locust) against the server that `make run` serves, on loopback.

Needs an instance built as `make run` builds it (init-db, demo load on the full data, index
build), chosen with MARKETPLACE_INSTANCE_DIR and MARKETPLACE_DATABASE_URL (SQLite or PostgreSQL).
The run is bounded: it creates its accounts (idempotent, e-mails ``load-*@loadtest.chainmatch.cn``) and one
published demand per large-firm account, starts ``python -m marketplace serve`` on a free
loopback port, primes suggestions through the API, lets Locust's users (bench/locustfile.py)
browse, search, open demands, run matches and answer suggestions for ``--duration`` seconds,
stops everything and prints throughput, errors and p50/p95 of page views and of match requests.

Usage:
  python bench/load_web.py [--users 200] [--duration 300] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from _common import machine, percentiles
from sqlalchemy import func, select

from marketplace.accounts.users import create_user, issue_api_token
from marketplace.config import REPO_ROOT, Settings
from marketplace.db import init_db, session_scope
from marketplace.demands.workflow import create_demand
from marketplace.models import Demand, Firm, FirmKind, FirmProduct, Product, Role, User
from marketplace.postgres import free_port
from marketplace.serve_cli import DEFAULT_THREADS

PASSWORD = "load-test-password-1"
TITLE_PREFIX = "[压测] "
BENCH_DIR = Path(__file__).resolve().parent


def _words(session, n: int = 80) -> list[str]:  # noqa: ANN001
    """The product names most firms make: what buyers search for."""
    rows = session.execute(
        select(Product.name, func.count(FirmProduct.firm_id).label("n"))
        .join(FirmProduct, FirmProduct.product_id == Product.id)
        .group_by(Product.name)
        .order_by(func.count(FirmProduct.firm_id).desc(), Product.name)
        .limit(n * 2)
    ).all()
    return [name for name, _ in rows if 2 <= len(name) <= 8][:n]


def _user(session, email: str, name: str, role: Role, firm_id: int) -> User:  # noqa: ANN001
    user = session.scalar(select(User).where(User.email == email))
    return user or create_user(session, email=email, password=PASSWORD, name=name, role=role, firm_id=firm_id)


def prepare_owners(settings: Settings, n_large: int, words: list[str]) -> list[dict]:
    """Large-firm accounts of listed firms, each owning one published demand (idempotent)."""
    rng = random.Random(7)
    owners = []
    with session_scope(settings) as s:
        firms = list(
            s.scalars(
                select(Firm)
                .where(Firm.kind == FirmKind.LARGE, Firm.stock_code.is_not(None))
                .order_by(Firm.id)
                .limit(n_large)
            )
        )
        for i, firm in enumerate(firms):
            user = _user(s, f"load-large-{i}@loadtest.chainmatch.cn", f"压测大企业{i}", Role.LARGE, firm.id)
            demand = s.scalar(
                select(Demand).where(Demand.owner_firm_id == firm.id, Demand.title.startswith(TITLE_PREFIX))
            )
            if demand is None:
                wanted = rng.sample(words, 2)
                demand = create_demand(
                    s,
                    {
                        "owner_firm_id": firm.id,
                        "type": "supply_chain",
                        "title": f"{TITLE_PREFIX}采购{wanted[0]}",
                        "description": f"长期采购{wanted[0]}和{wanted[1]}，要求稳定供货。",
                        "wanted_products": wanted,
                        "publish": True,
                    },
                )
            owners.append({"email": user.email, "demand_id": demand.id, "token": issue_api_token(s, user)})
    return owners


def prepare_smes(settings: Settings, firm_ids: list[int], n_sme: int) -> list[dict]:
    """Accounts for firms the primed matches suggested (so their inboxes have demands to answer)."""
    accounts = []
    with session_scope(settings) as s:
        for i, firm_id in enumerate(firm_ids[:n_sme]):
            firm = s.get(Firm, firm_id)
            role = Role.SME if firm.kind is FirmKind.SME else Role.LARGE
            user = _user(s, f"load-firm-{firm_id}@loadtest.chainmatch.cn", f"压测企业{i}", role, firm_id)
            accounts.append({"email": user.email})
    return accounts


def _call(url: str, token: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def prime_suggestions(base: str, owners: list[dict]) -> list[int]:
    """Run each owner's match once through the API; return the suggested firms, most often first."""
    seen: dict[int, int] = {}
    for owner in owners:
        listing = _call(f"{base}/api/v1/demands/{owner['demand_id']}/match", owner["token"], "POST")
        for row in listing["items"]:
            seen[row["firm_id"]] = seen.get(row["firm_id"], 0) + 1
    return sorted(seen, key=lambda f: (-seen[f], f))


def start_server(port: int, threads: int, log: Path, rate_limits: bool) -> subprocess.Popen:
    env = {**os.environ, "MARKETPLACE_SECRET_KEY": os.environ.get("MARKETPLACE_SECRET_KEY") or secrets.token_hex(32)}
    if not rate_limits:  # limits count per client address; every simulated user comes from 127.0.0.1
        env["MARKETPLACE_RATE_LIMITS"] = "0"
    cmd = [sys.executable, "-m", "marketplace", "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--threads", str(threads)]
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(base: str, proc: subprocess.Popen, log: Path, timeout: float = 900) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}); see {log}:\n{log.read_text()[-2000:]}")
        try:
            # readiness, not liveness: `serve` answers at once and builds its matching engine meanwhile
            with urllib.request.urlopen(f"{base}/readyz", timeout=5) as resp:
                if resp.status == 200:
                    return time.monotonic() - started
        except urllib.error.HTTPError as exc:  # 503: still loading, or failed (then it stays so)
            if json.load(exc).get("engine") == "failed":
                raise SystemExit(f"the server's matching engine failed to load; see {log}") from None
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s; see {log}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_locust(base: str, args: argparse.Namespace, accounts: Path, samples: Path) -> tuple[float, float]:
    env = {
        **os.environ,
        "LOAD_ACCOUNTS": str(accounts),
        "LOAD_SAMPLES": str(samples),
        "LOAD_WAIT_MIN": str(args.wait_min),
        "LOAD_WAIT_MAX": str(args.wait_max),
    }
    cmd = [sys.executable, "-m", "locust", "-f", str(BENCH_DIR / "locustfile.py"), "--headless"]
    cmd += ["--host", base, "-u", str(args.users), "-r", str(args.spawn_rate), "--run-time", f"{args.duration}s"]
    cmd += ["--stop-timeout", "15", "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=args.duration + 180)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit("Locust did not stop in time") from None
    wall = time.monotonic() - started
    if proc.returncode != 0 or not samples.exists():
        raise SystemExit(f"Locust failed ({proc.returncode}):\n{err[-3000:]}")
    return wall, cpu_seconds_children()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds_children() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def summarise(samples: list, seconds: float) -> dict:
    by_category: dict[str, list] = {}
    by_name: dict[str, list] = {}
    for category, name, ms, error, _when in samples:
        by_category.setdefault(category, []).append((ms, error))
        by_name.setdefault(name, []).append((ms, error))

    def stats(rows: list) -> dict:
        return {**percentiles([ms for ms, _ in rows]), "errors": sum(1 for _, e in rows if e)}

    timed = [s for s in samples if s[0] != "login"]
    errors = [s for s in samples if s[3]]
    return {
        "requests": len(samples),
        "requests_per_s": round(len(timed) / seconds, 1),
        "errors": len(errors),
        "error_examples": sorted({f"{s[1]}: {s[3][:160]}" for s in errors})[:10],
        "categories": {c: stats(rows) for c, rows in sorted(by_category.items())},
        "names": {n: stats(rows) for n, rows in sorted(by_name.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200, help="concurrent simulated users")
    parser.add_argument("--spawn-rate", type=float, default=5, help="users started per second")
    parser.add_argument("--duration", type=int, default=300, help="seconds of load (after spawning starts)")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="waitress worker threads (serve's default)"
    )
    parser.add_argument("--large", type=int, default=40, help="large-firm accounts (one demand each)")
    parser.add_argument("--sme", type=int, default=120, help="accounts for suggested firms")
    parser.add_argument("--wait-min", type=float, default=2.0, help="think time between tasks, seconds")
    parser.add_argument("--wait-max", type=float, default=8.0)
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="keep the per-address rate limits on (all simulated users share 127.0.0.1, so they answer 429)",
    )
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = parser.parse_args()
    if not 1 <= args.threads <= 64:
        parser.error("--threads must be 1..64 (as for serve)")
    if not 1 <= args.users <= 1000 or not 1 <= args.duration <= 900:
        parser.error("--users must be 1..1000 and --duration 1..900 (the run is bounded)")

    settings = Settings.from_env()
    init_db(settings)  # as `make run` does before serving (idempotent)
    with session_scope(settings) as s:
        words = _words(s)
        firms = s.scalar(select(func.count()).select_from(Firm))
    if not firms or len(words) < 10:
        raise SystemExit("no data: run `python -m marketplace demo load` and `index build` first (as make run does)")
    owners = prepare_owners(settings, args.large, words)

    work = Path(tempfile.mkdtemp(prefix="chainmatch-load-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = work / "server.log"
    server = start_server(port, args.threads, server_log, args.rate_limits)
    try:
        ready_s = wait_ready(base, server, server_log)
        suggested = prime_suggestions(base, owners)
        smes = prepare_smes(settings, [f for f in suggested if f], args.sme)
        accounts = work / "accounts.json"
        accounts.write_text(
            json.dumps({"password": PASSWORD, "large": owners, "sme": smes, "words": words}, ensure_ascii=False),
            encoding="utf-8",
        )
        server_cpu_before = cpu_seconds(server.pid)
        load_before = os.getloadavg()
        samples_path = work / "samples.json"
        wall, locust_cpu = run_locust(base, args, accounts, samples_path)
        server_cpu = cpu_seconds(server.pid) - server_cpu_before
        server_rss = rss_mb(server.pid)
        load_after = os.getloadavg()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    data = json.loads(samples_path.read_text(encoding="utf-8"))
    samples, spawned_at = data["samples"], data["spawned_at"] or 0.0
    steady = [s for s in samples if s[4] >= spawned_at]
    steady_s = max(1.0, max((s[4] for s in samples), default=spawned_at) - spawned_at)
    result = {
        "machine": machine(),
        "database": settings.database_url.split("://", 1)[0],
        "firms": firms,
        "users": args.users,
        "duration_s": args.duration,
        "wall_s": round(wall, 1),
        "threads": args.threads,
        "rate_limits": args.rate_limits,
        "think_time_s": [args.wait_min, args.wait_max],
        "server_ready_s": round(ready_s, 1),
        "server_cpu_s": round(server_cpu, 1),
        "server_rss_mb": server_rss,
        "locust_cpu_s": round(locust_cpu, 1),
        "loadavg_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        **summarise(samples, wall),
        "after_all_users_started": {"seconds": round(steady_s, 1), **summarise(steady, steady_s)},
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    print(f"{result['machine']}")
    print(
        f"{result['database']}: {args.users} users, {result['wall_s']} s, {result['requests_per_s']} requests/s, "
        f"{result['errors']} errors; server CPU {result['server_cpu_s']} s ({result['server_rss_mb']} MB), "
        f"Locust CPU {result['locust_cpu_s']} s, "
        f"load average {result['loadavg_1m_before_after']}"
    )
    steady = result["after_all_users_started"]
    print(
        f"after all {args.users} users had started ({steady['seconds']} s): {steady['requests_per_s']} requests/s, "
        f"{steady['errors']} errors"
    )
    print(f"{'what':<24} {'n':>7} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    groups = [("whole run, by category", result["categories"]), ("whole run, by request", result["names"])]
    groups += [("after all users started, by category", steady["categories"])]
    groups += [("after all users started, by request", steady["names"])]
    for title, group in groups:
        print(f"-- {title}")
        for name, st in group.items():
            print(f"{name:<24} {st['n']:>7} {st['errors']:>6} {st['p50_ms']:>8} {st['p95_ms']:>8} {st['p99_ms']:>8}")
    for example in result["error_examples"]:
        print(f"error: {example}")


if __name__ == "__main__":
    main()
