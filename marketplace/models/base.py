"""Shared base of the domain model: the declarative Base, labelled enums, timestamps and the
status-transition check every workflow uses. Each area keeps its tables in its own module."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    String,
    event,
    inspect,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from marketplace.errors import InputError, TransitionError, join, msg

# what every database stores in an integer column (PostgreSQL's INTEGER: 32 bits; ids are INTEGER):
# the CLI and the API bound ids and counts by it, so an id of 2**70 is refused naming its field
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, list[dict[str, Any]]: JSON}


def _enum(cls: type[enum.Enum], name: str) -> SAEnum:
    """Store enums by value as short strings with a CHECK constraint (portable across databases)."""
    return SAEnum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class LabelledEnum(str, enum.Enum):
    """An enum whose members carry a Chinese label for user-facing text."""

    label_zh: str
    label_en: str

    def __new__(cls, value: str, label_zh: str, label_en: str) -> LabelledEnum:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label_zh = label_zh
        obj.label_en = label_en
        return obj

    def label(self, locale: str = "zh") -> str:
        return self.label_en if locale.startswith("en") else self.label_zh

    @classmethod
    def parse(cls, raw: str, field: str) -> LabelledEnum:
        """Accept the code or the Chinese label; raise InputError naming the field otherwise."""
        text = (raw or "").strip()
        for member in cls:
            if text in (member.value, member.label_zh, member.label_en):
                return member
        allowed = ", ".join(f"{m.value} ({m.label_zh})" for m in cls)
        raise InputError(
            msg("%(field)s: unknown value %(raw)r; use one of %(allowed)s", field=field, raw=raw, allowed=allowed),
            field=field,
        )


def _check_transition(kind: str, current: enum.Enum, new: enum.Enum, allowed: set) -> None:
    if new not in allowed:
        options = join(sorted(allowed, key=lambda s: s.value), ", ") if allowed else msg("none (final state)")
        raise TransitionError(
            msg(
                "%(kind)s cannot go from %(current)s to %(new)s; allowed next: %(options)s",
                kind=_RECORD_KINDS.get(kind, kind),
                current=current,
                new=new,
                options=options,
            ),
            field="status",
        )


_RECORD_KINDS = {  # what _check_transition names, translatable
    "demand": msg("demand"),
    "suggestion": msg("suggestion"),
    "consortium member": msg("consortium member"),
    "contract": msg("contract"),
    "event": msg("event"),
    "meeting request": msg("meeting request"),
}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


def _text_limits(cls: type) -> list[tuple[str, int]]:
    """(attribute, length) of a mapped class's bounded text columns; enums check themselves."""
    limits = []
    for attr in inspect(cls).column_attrs:
        column_type = attr.columns[0].type
        if isinstance(column_type, String) and not isinstance(column_type, SAEnum) and column_type.length:
            limits.append((attr.key, column_type.length))
    return limits


_LIMITS: dict[type, list[tuple[str, int]]] = {}


@event.listens_for(Session, "before_flush")
def _text_fits_its_column(session: Session, _ctx: object, _instances: object) -> None:
    """Text longer than its column is bad input, named, on every database and whichever code path
    wrote it: SQLite would store it, PostgreSQL refuse it with a DataError that names no field."""
    for obj in list(session.new) + list(session.dirty):
        cls = type(obj)
        if cls not in _LIMITS:
            _LIMITS[cls] = _text_limits(cls)
        for key, length in _LIMITS[cls]:
            value = obj.__dict__.get(key)
            if isinstance(value, str) and len(value) > length:
                raise InputError(
                    msg("%(field)s: at most %(max)s characters (got %(n)s)", field=key, max=length, n=len(value)),
                    field=key,
                )
