"""Notifications: one per user, e-mail queued in the same transaction, delivered by SMTP or kept."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from marketplace.db import session_scope
from marketplace.errors import InputError
from marketplace.models import FirmKind, Notification, OutboxEmail, Role
from marketplace.services.accounts import create_user
from marketplace.services.firms import create_firm
from marketplace.services.notifications import (
    OutboxSender,
    SmtpSender,
    deliver_outbox,
    mark_read,
    notifications_for,
    notify,
    unread_count,
)


@pytest.fixture
def two_users(session):
    firm = create_firm(session, name="通知测试有限公司", kind=FirmKind.SME)
    a = create_user(session, email="a@t.cn", password="pw-123456789", name="甲", role=Role.SME, firm_id=firm.id)
    b = create_user(session, email="b@t.cn", password="pw-123456789", name="乙", role=Role.SME, firm_id=firm.id)
    session.commit()
    return a.id, b.id


def _notify(session, user_ids, **kw):
    return notify(session, user_ids=user_ids, kind="test.kind", title_zh="会议已调整", title_en="Meeting moved", **kw)


def test_notify_writes_one_notification_and_one_mail_per_distinct_user(session, two_users):
    a, b = two_users
    assert _notify(session, [a, b, a], link="/events/1/agenda") == 2
    assert session.scalar(select(func.count()).select_from(Notification)) == 2
    mails = session.scalars(select(OutboxEmail)).all()
    assert sorted(m.to_address for m in mails) == ["a@t.cn", "b@t.cn"]
    assert "会议已调整" in mails[0].body and "Meeting moved" in mails[0].body and "/events/1/agenda" in mails[0].body


def test_notify_skips_inactive_users_and_can_skip_email(session, two_users):
    a, b = two_users
    from marketplace.models import User

    session.get(User, b).is_active = False
    assert _notify(session, [a, b], email=False) == 1
    assert session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


@pytest.mark.parametrize("link", ["https://evil.example/x", "//evil.example", "/\\evil.example", "events/1"])
def test_notify_refuses_links_that_leave_the_app(session, two_users, link):
    with pytest.raises(InputError) as err:
        _notify(session, [two_users[0]], link=link)
    assert err.value.field == "link"


def test_a_rolled_back_change_leaves_no_notification_behind(settings, two_users):
    with pytest.raises(RuntimeError), session_scope(settings) as s:
        _notify(s, list(two_users))
        raise RuntimeError("the change that caused the notification failed")
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxEmail)) == 0


def test_mark_read_touches_only_the_users_own_notifications(session, two_users):
    a, b = two_users
    _notify(session, [a, b])
    others = notifications_for(session, b)[0]
    assert mark_read(session, a, others.id) == 0  # another user's id matches nothing
    assert unread_count(session, b) == 1
    assert mark_read(session, a) == 1
    assert unread_count(session, a) == 0 and unread_count(session, b) == 1


def test_outbox_sender_keeps_mail_pending(session, two_users):
    _notify(session, list(two_users))
    assert deliver_outbox(session, OutboxSender()) == {"sent": 0, "failed": 0, "pending": 2}


class _Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_smtp_sender_delivers_to_a_real_smtp_server_and_marks_sent(session, two_users):
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        _notify(session, list(two_users))
        result = deliver_outbox(session, SmtpSender(host="127.0.0.1", port=controller.port))
    finally:
        controller.stop()
    assert result == {"sent": 2, "failed": 0, "pending": 0}
    assert sorted(r[0][0] for r in handler.messages) == ["a@t.cn", "b@t.cn"]
    assert all(m.sent_at is not None for m in session.scalars(select(OutboxEmail)))


def test_smtp_failure_keeps_the_mail_queued_with_its_error(session, two_users):
    _notify(session, [two_users[0]])
    result = deliver_outbox(session, SmtpSender(host="127.0.0.1", port=_free_port(), timeout_s=2))
    assert result == {"sent": 0, "failed": 1, "pending": 1}
    mail = session.scalars(select(OutboxEmail)).one()
    assert mail.sent_at is None and mail.attempts == 1 and mail.last_error


def test_deliver_command_reports_pending_as_json(runner, settings, two_users):
    with session_scope(settings) as s:
        _notify(s, list(two_users))
    result = runner.invoke(["notifications", "deliver", "--json"])
    assert result.exit_code == 0
    assert '"pending": 2' in result.output
