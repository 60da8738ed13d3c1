"""Errors the marketplace raises on purpose. The CLI maps them to exit codes, the web app to 4xx."""

from __future__ import annotations


class MarketplaceError(Exception):
    """A failure with a message fit for a user (exit code 1)."""

    exit_code = 1


class InputError(MarketplaceError):
    """Bad input from the user: the message says what is wrong and how to fix it (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(InputError):
    """A referenced record does not exist."""


class TransitionError(InputError):
    """A status change that the workflow does not allow."""


class PermissionDeniedError(InputError):
    """The user may not do or see this (web and API answer 403)."""


class ConflictError(TransitionError):
    """Someone else changed the record first, or it already exists (web and API answer 409)."""


class DataFileError(InputError):
    """A malformed data file or row; names the file and line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.reason = message


class ServiceUnavailableError(MarketplaceError):
    """An external service (Neo4j) cannot be reached."""
