"""Tell users what changed: in-app notifications plus e-mail through a pluggable sender.

``notify`` is the one way any area (events, policies, contracts ...) reaches a user. It writes one
:class:`Notification` per user and, when asked, queues an e-mail in the outbox table in the same
transaction, so a rolled-back change never leaves a message behind. ``deliver_outbox`` hands queued
mail to a :class:`MailSender`: the default :class:`OutboxSender` keeps mail in the table (readable by
admins and tests); :class:`SmtpSender` sends it through an SMTP server named in the settings.

Titles are one line: line breaks and other control characters become spaces, so a title (a consortium
name, a policy title ...) can never add a header to the e-mail whose subject it becomes. Each queued
message is delivered on its own and committed at once: one that fails keeps its error for the next
run, and none that went out is sent again.
"""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from marketplace.config import Settings
from marketplace.errors import InputError, msg
from marketplace.models import User, utcnow
from marketplace.models.notifications import Notification, OutboxEmail

log = logging.getLogger(__name__)

# C0 controls (CR, LF, tab, NUL ...), DEL, C1 controls (NEL ...) and the Unicode line/paragraph separators
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
LINK_LABEL = "ChainMatch: "  # the last line of a mail body: the link to the page the notification is about


TITLE_MAX = 300  # the notifications.title_* columns


def single_line(text: str, limit: int = TITLE_MAX) -> str:
    """``text`` with each run of control characters and line breaks collapsed to one space, trimmed,
    cut to ``limit`` characters (an ellipsis marks the cut): safe for a title column and an e-mail
    header, whatever length of demand, event or contract title and firm name it quotes."""
    text = _CONTROL_RUN.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def notify(
    session: Session,
    *,
    user_ids: Iterable[int],
    kind: str,
    title_zh: str,
    title_en: str,
    body_zh: str = "",
    body_en: str = "",
    link: str | None = None,
    email: bool = True,
) -> int:
    """Write one notification per (distinct, active) user and queue its e-mail; returns how many.

    ``link`` must be a path inside the app ("/events/3/agenda"), never an outside URL; the e-mail
    shows it under ``settings.public_base_url`` when it is delivered (:func:`deliver_outbox`).
    Titles are made one line (:func:`single_line`): they become the e-mail's subject.
    """
    title_zh, title_en = single_line(title_zh or ""), single_line(title_en or "")
    if not kind or not title_zh or not title_en:
        raise InputError(msg("kind, title_zh and title_en are required"), field="title_zh")
    if link is not None and (not link.startswith("/") or link.startswith("//") or "\\" in link):
        raise InputError(
            msg("link: %(link)r must be a path inside the app, starting with one /", link=link), field="link"
        )
    ids = sorted(set(user_ids))
    if not ids:
        return 0
    users = session.scalars(select(User).where(User.id.in_(ids), User.is_active.is_(True))).all()
    for user in users:
        note = Notification(
            user_id=user.id,
            kind=kind,
            title_zh=title_zh[:300],
            title_en=title_en[:300],
            body_zh=body_zh,
            body_en=body_en,
            link=link,
        )
        session.add(note)
        if email:
            session.flush()
            session.add(
                OutboxEmail(
                    to_address=user.email,
                    subject=f"{title_zh} / {title_en}"[:300],
                    body=_mail_body(note),
                    notification_id=note.id,
                )
            )
    session.flush()
    return len(users)


def _mail_body(note: Notification) -> str:
    parts = [note.title_zh, note.body_zh, "", note.title_en, note.body_en]
    if note.link:
        parts += ["", f"{LINK_LABEL}{note.link}"]
    return "\n".join(p for p in parts if p is not None).strip() + "\n"


def notifications_for(session: Session, user_id: int, *, unread_only: bool = False, limit: int = 100) -> list:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def unread_count(session: Session, user_id: int) -> int:
    query = select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    return session.scalar(query.select_from(Notification)) or 0


def mark_read(session: Session, user_id: int, notification_id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) read; another user's ids match nothing."""
    query = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    return session.execute(query.values(read_at=utcnow())).rowcount or 0


# --- e-mail delivery ---------------------------------------------------------------------------


class MailSender(Protocol):
    """Sends one message or raises; ``keeps_in_outbox`` senders leave the row unsent on purpose."""

    keeps_in_outbox: bool

    def send(self, to_address: str, subject: str, body: str) -> None: ...


class OutboxSender:
    """The default: mail stays in the outbox table, nothing leaves the machine."""

    keeps_in_outbox = True

    def send(self, to_address: str, subject: str, body: str) -> None:  # noqa: ARG002 - nothing to do
        return None


@dataclass
class SmtpSender:
    host: str
    port: int = 25
    sender: str = "noreply@chainmatch.local"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0
    keeps_in_outbox = False

    def send(self, to_address: str, subject: str, body: str) -> None:
        message = EmailMessage()
        # one line even for mail queued before titles were made one line: no header can be added
        message["From"], message["To"], message["Subject"] = self.sender, to_address, single_line(subject)
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def sender_from_settings(settings: Settings) -> MailSender:
    """``MARKETPLACE_SMTP_HOST`` (and ``_PORT``, ``_FROM``, ``_USER``, ``_PASSWORD``, ``_STARTTLS``)
    switch delivery to SMTP; without them mail stays in the outbox."""
    if not settings.smtp_host:
        return OutboxSender()
    return SmtpSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_user or None,
        password=settings.smtp_password or None,
        starttls=settings.smtp_starttls,
    )


def absolute_link(body: str, base_url: str) -> str:
    """``body`` with its closing in-app link (``ChainMatch: /events/3``) under ``base_url``
    (``settings.public_base_url``), so that a mail client can open it; other text is left alone."""
    base = base_url.strip().rstrip("/")
    lines = body.rstrip("\n").split("\n")
    path = lines[-1][len(LINK_LABEL) :] if lines[-1].startswith(LINK_LABEL) else ""
    if not base or not path.startswith("/") or path.startswith("//"):
        return body
    lines[-1] = f"{LINK_LABEL}{base}{path}"
    return "\n".join(lines) + "\n"


def _pending(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.sent_at.is_(None))) or 0


def deliver_outbox(session: Session, sender: MailSender, *, limit: int = 500, base_url: str = "") -> dict[str, int]:
    """Send queued mail, oldest first, each message on its own, and return the counts.

    A message that went out is marked sent (with the body as sent: its link under ``base_url``,
    normally ``settings.public_base_url``) and committed at once, so a later failure, in this run or
    the process, never sends it again. A message the sender refuses, or that cannot be sent at all,
    keeps its error in ``last_error`` and stays queued for the next run; the others still go out.
    The session is committed after every message.
    """
    if sender.keeps_in_outbox:
        return {"sent": 0, "failed": 0, "pending": _pending(session)}
    sent = failed = 0
    rows = session.scalars(
        select(OutboxEmail).where(OutboxEmail.sent_at.is_(None)).order_by(OutboxEmail.id).limit(limit)
    ).all()
    for mail in rows:
        body = absolute_link(mail.body, base_url)
        mail.attempts += 1
        try:
            sender.send(mail.to_address, mail.subject, body)
        except Exception as exc:  # noqa: BLE001 - any failure of one message is its own, never the run's
            mail.last_error = f"{exc.__class__.__name__}: {exc}"
            failed += 1
            log.warning("mail %s to %r not sent (attempt %s): %s", mail.id, mail.to_address, mail.attempts, exc)
        else:
            mail.sent_at, mail.last_error, mail.body = utcnow(), None, body
            sent += 1
        session.commit()
    return {"sent": sent, "failed": failed, "pending": _pending(session)}
