"""How the platform CA's private keys (root, issuing CA, TSA) are protected, opened and re-keyed.

One rule for every process (CLI commands and ``serve`` alike): the keys in
``<instance>/contracts/ca`` are encrypted under ``MARKETPLACE_CONTRACTS_CA_KEY`` when it is set,
else under a random passphrase kept in ``<instance>/contracts_ca_key`` (mode 0600), written
atomically by whichever process creates the CA first. No value in the source protects them.

Instances made by earlier versions encrypted the keys under a passphrase derived from the Flask
secret key (the development default in CLI commands, the persisted ``instance/secret_key`` in
``serve``); :func:`rekey` opens them with those and encrypts them under the current protection
(``python -m marketplace contracts pki rekey``). A key that cannot be opened raises
:class:`CAKeyError`, which names the setting to fix; ``serve`` checks this before it starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from marketplace.config import DEV_SECRET_KEY, SECRET_KEY_FILE, Settings, persisted_secret
from marketplace.contracts import pki
from marketplace.errors import MarketplaceError, SettingsError, msg

SETTING = "MARKETPLACE_CONTRACTS_CA_KEY"
REKEY_COMMAND = "python -m marketplace contracts pki rekey"


class CAKeyError(SettingsError):
    """The platform CA keys cannot be opened with the configured protection: the message names
    ``MARKETPLACE_CONTRACTS_CA_KEY`` or the passphrase file and what to do (CLI exit code 2, the
    server does not start)."""


@dataclass(frozen=True)
class Protection:
    """The passphrase that protects the CA keys and where it comes from (for messages: the
    setting's name or the file's path, never the value)."""

    passphrase: bytes
    source: str


def ca_dir(settings: Settings) -> Path:
    return settings.contracts_dir / "ca"


def ca_exists(settings: Settings) -> bool:
    return (ca_dir(settings) / "root.pem").is_file()


def protection(settings: Settings, *, create: bool | None = None) -> Protection:
    """The CA keys' protection: ``MARKETPLACE_CONTRACTS_CA_KEY``, else the passphrase file. The
    file is created (atomically, 0600) only while there is no CA yet, or when ``create`` is true
    (re-keying); a CA whose passphrase file is missing or empty is a :class:`CAKeyError`."""
    if settings.contracts_ca_key:
        return Protection(settings.contracts_ca_key.encode("utf-8"), SETTING)
    path = settings.contracts_ca_key_file
    if create is None:
        create = not ca_exists(settings)
    if create:
        return Protection(persisted_secret(path).encode("utf-8"), str(path))
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise CAKeyError(
            msg("%(file)s cannot be read (%(error)s)", file=str(path), error=exc.strerror or exc.__class__.__name__)
        ) from None
    if not text:
        raise cannot_open(settings, Protection(b"", str(path)), missing=True)
    return Protection(text.encode("utf-8"), str(path))


def legacy_passphrases(settings: Settings) -> list[tuple[str, bytes]]:
    """The passphrases earlier versions derived from a secret key, each with what it came from:
    the development default (CLI commands, hence ``demo load``), the configured
    ``MARKETPLACE_SECRET_KEY`` and the persisted ``instance/secret_key`` (``serve``)."""
    keys = [("the development secret key", DEV_SECRET_KEY)]
    persisted = Path(settings.instance_dir) / SECRET_KEY_FILE
    if persisted.is_file():
        keys.append((str(persisted), persisted.read_text(encoding="utf-8").strip()))
    keys.append(("MARKETPLACE_SECRET_KEY", settings.secret_key))
    seen: set[bytes] = set()
    found = []
    for label, key in keys:
        phrase = hashlib.sha256(f"chainmatch-ca:{key}".encode()).hexdigest().encode()
        if key and phrase not in seen:
            seen.add(phrase)
            found.append((label, phrase))
    return found


def _opens(path: Path, passphrase: bytes) -> bool:
    try:
        pki.load_key(path, passphrase)
    except (ValueError, TypeError):
        return False
    return True


def cannot_open(settings: Settings, current: Protection, *, missing: bool = False) -> CAKeyError:
    """The error for CA keys that ``current`` does not open, saying what to do: re-key an instance
    made by an earlier version, else fix the setting or restore the passphrase file."""
    folder = str(ca_dir(settings))
    root_key = ca_dir(settings) / "root.key.pem"
    if root_key.is_file() and any(_opens(root_key, phrase) for _label, phrase in legacy_passphrases(settings)):
        return CAKeyError(
            msg(
                "the platform CA keys in %(dir)s are protected by a passphrase an earlier version derived from the "
                "secret key; re-key them once with `%(command)s` (docs/contracts.md, 'CA keys'), then start again",
                dir=folder,
                command=REKEY_COMMAND,
            )
        )
    if current.source == SETTING:
        return CAKeyError(
            msg(
                "%(setting)s does not open the platform CA keys in %(dir)s: set it to the passphrase the keys were "
                "made with, or re-key them with `%(command)s --old-key-file FILE`",
                setting=SETTING,
                dir=folder,
                command=REKEY_COMMAND,
            )
        )
    if missing:
        return CAKeyError(
            msg(
                "the passphrase file %(file)s of the platform CA keys in %(dir)s is missing or empty: restore it "
                "from your backup, or set %(setting)s to the passphrase the keys were made with",
                file=current.source,
                dir=folder,
                setting=SETTING,
            )
        )
    return CAKeyError(
        msg(
            "the passphrase in %(file)s does not open the platform CA keys in %(dir)s: restore the file from your "
            "backup, or set %(setting)s to the passphrase the keys were made with",
            file=current.source,
            dir=folder,
            setting=SETTING,
        )
    )


def check(settings: Settings) -> None:
    """Raise :class:`CAKeyError` unless the CA keys, when there are any, open with the current
    protection (``serve`` and the web app call this before they accept requests; creating a
    missing CA is left to its first use)."""
    if not ca_exists(settings):
        return
    current = protection(settings)
    for name in pki.CA_FILES:
        if not _opens(ca_dir(settings) / f"{name}.key.pem", current.passphrase):
            raise cannot_open(settings, current)


def load_or_create(settings: Settings, crl_url: str) -> pki.PlatformCA:
    """The platform CA of this instance, created under the current protection on first use."""
    current = protection(settings)
    try:
        return pki.load_or_create_ca(ca_dir(settings), current.passphrase, crl_url)
    except (ValueError, TypeError):
        raise cannot_open(settings, current) from None


class RekeyError(MarketplaceError):
    """A CA key that none of the known passphrases opens (exit code 1): neither bad input nor a
    setting to fix, but keys that need the operator's old passphrase."""


@dataclass(frozen=True)
class RekeyReport:
    """What :func:`rekey` did: ``status`` is ``rekeyed``, ``current`` (nothing to do) or ``absent``
    (no CA yet); ``opened_with`` names, per key, what opened it (never the passphrase)."""

    status: str
    ca_dir: str
    protected_by: str
    opened_with: dict[str, str]

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "ca_dir": self.ca_dir,
            "protected_by": self.protected_by,
            "opened_with": self.opened_with,
        }


def _configured(settings: Settings) -> list[tuple[str, bytes]]:
    """The current protection when it exists already (the setting, or a non-empty passphrase
    file), without creating anything."""
    if settings.contracts_ca_key:
        return [(SETTING, settings.contracts_ca_key.encode("utf-8"))]
    path = settings.contracts_ca_key_file
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return []
    return [(str(path), text.encode("utf-8"))] if text else []


def rekey(settings: Settings, old_passphrases: list[tuple[str, bytes]] | None = None) -> RekeyReport:
    """Encrypt the CA keys under the current protection (``MARKETPLACE_CONTRACTS_CA_KEY``, else
    the passphrase file, created when missing). Each key is opened with the current protection,
    the ``old_passphrases`` given (``(label, passphrase)``) or a passphrase an earlier version
    derived (:func:`legacy_passphrases`), and rewritten atomically, one file at a time, so that a
    re-key interrupted half-way can simply be run again. Certificates do not change, so every
    signature made before stays valid. Raises :class:`RekeyError` naming a key that none of them
    opens; then nothing is changed or created."""
    folder = ca_dir(settings)
    if not ca_exists(settings):
        target = protection(settings, create=True)
        return RekeyReport("absent", str(folder), target.source, {})
    candidates = [*_configured(settings), *(old_passphrases or []), *legacy_passphrases(settings)]
    opened: dict[str, tuple[str, bytes, pki.PrivateKey]] = {}
    for name in pki.CA_FILES:
        path = folder / f"{name}.key.pem"
        if not path.is_file():
            raise RekeyError(msg("%(file)s is missing", file=str(path)))
        for label, phrase in candidates:
            try:
                opened[name] = (label, phrase, pki.load_key(path, phrase))
                break
            except (ValueError, TypeError):
                continue
        else:
            raise RekeyError(
                msg(
                    "%(file)s opens neither with %(setting)s or %(key_file)s nor with a passphrase an earlier "
                    "version derived from the secret key; give the passphrase it was made with in a file: "
                    "`%(command)s --old-key-file FILE`",
                    file=str(path),
                    setting=SETTING,
                    key_file=str(settings.contracts_ca_key_file),
                    command=REKEY_COMMAND,
                )
            )
    target = protection(settings, create=True)
    changed = False
    for name, (_label, phrase, key) in opened.items():
        if phrase != target.passphrase:
            pki.write_key(folder / f"{name}.key.pem", key, target.passphrase)
            changed = True
    pki.forget_cached(folder)
    return RekeyReport(
        "rekeyed" if changed else "current",
        str(folder),
        target.source,
        {name: label for name, (label, _phrase, _key) in opened.items()},
    )
