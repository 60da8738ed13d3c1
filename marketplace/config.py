"""Settings and their defaults: the only module that reads ``MARKETPLACE_*`` environment variables.

Everything else receives a :class:`Settings` (or plain arguments), so the CLI, the web app and the
benchmarks share one configuration path.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from marketplace.errors import Message, SettingsError, msg

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = REPO_ROOT / "instance"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
DEFAULT_EMBEDDING_MODEL = "chainmatch-zh-static"  # models/chainmatch-zh-static, trained from the data
DEV_SECRET_KEY = "dev-only-change-me"
MIN_SECRET_KEY_LENGTH = 32
SECRET_KEY_FILE = "secret_key"
# Where `make run` serves: the address of links made outside a request (CLI, mail delivery) while
# MARKETPLACE_PUBLIC_BASE_URL is unset; a page served then uses the address it was reached at.
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:5000"
CONTRACTS_CA_KEY_FILE = "contracts_ca_key"  # the CA keys' passphrase when MARKETPLACE_CONTRACTS_CA_KEY is not set


class ConfigError(SettingsError):
    """A ``MARKETPLACE_*`` environment variable holds a value the platform cannot use; the message
    names the variable and what it accepts (the CLI exits 2, the web app refuses to start)."""

    def __init__(self, variable: str, value: str, accepts: Message) -> None:
        super().__init__(
            msg("%(variable)s=%(value)r is not valid: %(accepts)s", variable=variable, value=value, accepts=accepts)
        )
        self.variable = variable


def _env_int(
    e: Mapping[str, str], name: str, default: int, accepts: Message, low: int | None = None, high: int | None = None
) -> int:
    raw = e.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, raw, accepts) from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(name, raw, accepts)
    return value


def _env_weight(e: Mapping[str, str], name: str) -> float | None:
    raw = e.get(name, "")
    if not raw.strip():
        return None
    accepts = msg("expected a number of 0 or more, such as %(example)s", example="0.6")
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(name, raw, accepts) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(name, raw, accepts)
    return value


def _env_base_url(e: Mapping[str, str], name: str) -> str:
    """An absolute http(s) address (``https://chainmatch.example.cn``), or "" when unset."""
    raw = e.get(name, "").strip()
    if raw and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", raw):
        raise ConfigError(
            name, raw, msg("expected an http:// or https:// address, such as https://chainmatch.example.cn")
        )
    return raw


def _env_instance_dir(e: Mapping[str, str]) -> Path:
    """The instance directory, created when missing: a path that cannot hold it is named here, not
    as a FileNotFoundError deep inside the first command that opens the database."""
    raw = e.get("MARKETPLACE_INSTANCE_DIR", "") or str(DEFAULT_INSTANCE)
    path = Path(raw)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(
            "MARKETPLACE_INSTANCE_DIR",
            raw,
            msg("expected a directory that exists or can be created (%(error)s)", error=reason),
        ) from None
    return path


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Build it with :meth:`from_env` or directly in tests."""

    instance_dir: Path = DEFAULT_INSTANCE
    database_url: str = ""
    data_dir: Path = DEFAULT_DATA_DIR
    graph_backend: str = "networkx"
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: str = "chainmatch-dev"
    neo4j_database: str = "neo4j"
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    query_prefix: str = ""
    embedding_device: str = "cpu"
    encoder_runtime: str = "onnx"  # onnx (the model exported once, cached; no PyTorch at run time) or torch
    dense_weight: float | None = None  # fusion weight of the dense channel; None = per-type default
    secret_key: str = DEV_SECRET_KEY
    cookie_secure: bool = False  # send session cookies over HTTPS only (set behind a TLS proxy)
    rate_limits: bool = True  # Flask-Limiter on sign-in, sign-up, tokens, matching and the API
    # Contracts (云签约): public URL printed on PDFs and in mail (empty = unset: see site_url),
    # HTTP TSA (empty = in-process platform TSA),
    # the passphrase protecting the platform CA keys (empty = a random one kept in
    # instance_dir/contracts_ca_key, see marketplace.contracts.keys), the CJK font,
    # where derived font files are cached, and the signing provider ("local" or "module:Class").
    public_base_url: str = ""
    # the address the request being served came to: set per request by the web app (never from the
    # environment) for the links printed on PDFs while public_base_url is unset; CRL URLs ignore it
    request_base_url: str = ""
    contracts_tsa_url: str = ""
    contracts_ca_key: str = ""
    contracts_font: Path = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
    contracts_font_cache: Path = DEFAULT_INSTANCE / "fonts"
    contracts_provider: str = "local"
    match_slots: int = 2  # matching jobs (inbox refresh, demand match, API match) at once per process
    smtp_host: str = ""  # empty: e-mail stays in the outbox table
    smtp_port: int = 25
    smtp_from: str = "noreply@chainmatch.local"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database_url:
            url = f"sqlite:///{Path(self.instance_dir) / 'marketplace.db'}"
            object.__setattr__(self, "database_url", url)

    @property
    def index_dir(self) -> Path:
        """Where embedding caches and vector indexes are persisted."""
        return Path(self.instance_dir) / "index"

    def onnx_dir(self, model_id: str) -> Path:
        """Where the ONNX export of a model's transformer is cached."""
        return self.index_dir / "onnx" / re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id)

    @property
    def neo4j_home(self) -> Path:
        """Data directory of the Neo4j server that ``marketplace neo4j start`` runs."""
        return Path(self.instance_dir) / "neo4j"

    @property
    def contracts_dir(self) -> Path:
        """The platform CA (keys encrypted under :attr:`contracts_ca_key`) lives here."""
        return Path(self.instance_dir) / "contracts"

    @property
    def contracts_ca_key_file(self) -> Path:
        """Where the CA keys' random passphrase is kept when :attr:`contracts_ca_key` is empty."""
        return Path(self.instance_dir) / CONTRACTS_CA_KEY_FILE

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from ``MARKETPLACE_*`` variables; a value that cannot be used raises
        :class:`ConfigError` naming the variable and what it accepts."""
        e = os.environ if environ is None else environ
        instance = _env_instance_dir(e)
        return cls(
            instance_dir=instance,
            database_url=e.get("MARKETPLACE_DATABASE_URL", ""),
            data_dir=Path(e.get("MARKETPLACE_DATA_DIR", str(DEFAULT_DATA_DIR))),
            graph_backend=e.get("MARKETPLACE_GRAPH_BACKEND", "networkx"),
            neo4j_uri=e.get("MARKETPLACE_NEO4J_URI", "bolt://127.0.0.1:7687"),
            neo4j_user=e.get("MARKETPLACE_NEO4J_USER", "neo4j"),
            neo4j_password=e.get("MARKETPLACE_NEO4J_PASSWORD", "chainmatch-dev"),
            neo4j_database=e.get("MARKETPLACE_NEO4J_DATABASE", "neo4j"),
            embedding_model=e.get("MARKETPLACE_EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL),
            query_prefix=e.get("MARKETPLACE_EMBEDDING_QUERY_PREFIX", ""),
            embedding_device=e.get("MARKETPLACE_EMBEDDING_DEVICE", "cpu"),
            encoder_runtime=e.get("MARKETPLACE_ENCODER_RUNTIME", "onnx"),
            dense_weight=_env_weight(e, "MARKETPLACE_DENSE_WEIGHT"),
            secret_key=e.get("MARKETPLACE_SECRET_KEY", DEV_SECRET_KEY),
            cookie_secure=e.get("MARKETPLACE_COOKIE_SECURE", "0").lower() in ("1", "true", "yes"),
            rate_limits=e.get("MARKETPLACE_RATE_LIMITS", "1").lower() not in ("0", "false", "no"),
            public_base_url=_env_base_url(e, "MARKETPLACE_PUBLIC_BASE_URL"),
            contracts_tsa_url=e.get("MARKETPLACE_CONTRACTS_TSA_URL", ""),
            contracts_ca_key=e.get("MARKETPLACE_CONTRACTS_CA_KEY", ""),
            contracts_font=Path(e.get("MARKETPLACE_CONTRACTS_FONT", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),
            contracts_font_cache=Path(e.get("MARKETPLACE_CONTRACTS_FONT_CACHE", str(DEFAULT_INSTANCE / "fonts"))),
            contracts_provider=e.get("MARKETPLACE_CONTRACTS_PROVIDER", "local"),
            match_slots=max(
                1,
                _env_int(
                    e, "MARKETPLACE_MATCH_SLOTS", 2, msg("expected a whole number, such as %(example)s", example=2)
                ),
            ),
            smtp_host=e.get("MARKETPLACE_SMTP_HOST", ""),
            smtp_port=_env_int(
                e, "MARKETPLACE_SMTP_PORT", 25, msg("expected a TCP port number from 1 to 65535"), 1, 65535
            ),
            smtp_from=e.get("MARKETPLACE_SMTP_FROM", "noreply@chainmatch.local"),
            smtp_user=e.get("MARKETPLACE_SMTP_USER", ""),
            smtp_password=e.get("MARKETPLACE_SMTP_PASSWORD", ""),
            smtp_starttls=e.get("MARKETPLACE_SMTP_STARTTLS", "") in ("1", "true", "yes"),
        )

    def site_url(self, request_root: str | None = None) -> str:
        """The address users reach the platform at, without a trailing slash: what
        ``MARKETPLACE_PUBLIC_BASE_URL`` says when set; else, while serving a request, the address
        that request came to (``request_root``, e.g. Flask's ``request.host_url``); else
        :data:`DEFAULT_PUBLIC_BASE_URL` (the CLI)."""
        return (self.public_base_url or request_root or DEFAULT_PUBLIC_BASE_URL).rstrip("/")

    @property
    def has_strong_secret_key(self) -> bool:
        return self.secret_key != DEV_SECRET_KEY and len(self.secret_key) >= MIN_SECRET_KEY_LENGTH

    def with_persisted_secret_key(self) -> Settings:
        """These settings, with a random secret key kept in ``instance_dir/secret_key`` (created
        with mode 0600 on first use) when none was configured: ``make run`` works out of the box
        without a key anyone could know, and every command of the instance (CLI and ``serve``)
        reads the same key."""
        if self.has_strong_secret_key:
            return self
        key = persisted_secret(Path(self.instance_dir) / SECRET_KEY_FILE, replace_shorter_than=MIN_SECRET_KEY_LENGTH)
        return self.with_overrides(secret_key=key)


def persisted_secret(path: Path, *, replace_shorter_than: int = 0) -> str:
    """The secret kept in ``path``; when the file is missing (or holds fewer than
    ``replace_shorter_than`` characters) a random one is written first, with mode 0600.

    Creation is atomic, so that processes starting together (the CLI and ``serve``) agree: the
    value is written to a temporary file that is then hard-linked into place, which fails for
    every process but the first; the others read the first one's complete file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = None
    if text is not None and len(text) >= max(replace_shorter_than, 1):
        return text
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32))
            fh.flush()
            os.fsync(fh.fileno())
        if text is None:
            with contextlib.suppress(FileExistsError):  # another process came first: keep theirs
                os.link(tmp, path)
        else:  # too short to be a key: replaced as a whole
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path.read_text(encoding="utf-8").strip()
