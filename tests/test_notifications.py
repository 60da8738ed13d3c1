"""Notifications: one per user, e-mail queued in the same transaction, delivered by SMTP or kept."""

from __future__ import annotations

import json
import socket
from email import message_from_string
from email.message import EmailMessage
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from marketplace.accounts.notifications import (
    OutboxSender,
    SmtpSender,
    absolute_link,
    deliver_outbox,
    mark_read,
    notifications_for,
    notify,
    unread_count,
)
from marketplace.accounts.users import create_user
from marketplace.db import session_scope
from marketplace.enterprise.firms import create_firm
from marketplace.errors import InputError
from marketplace.models import FirmKind, Notification, OutboxEmail, Role


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


# --- one line per title, one message at a time, links a mail client can open ---------------------


class _SmtpServer:
    """A real SMTP server on a free local port that keeps what it receives."""

    def __init__(self) -> None:
        self.handler = _Collect()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=_free_port())

    def __enter__(self) -> _SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port

    def received(self) -> list[tuple[list[str], EmailMessage]]:
        return [(rcpt, message_from_string(raw, policy=default)) for rcpt, raw in self.handler.messages]


def _headers(raw: str) -> list[str]:
    return raw.split("\n\n", 1)[0].replace("\r", "").split("\n")


def test_titles_with_line_breaks_become_one_line_so_no_mail_header_can_be_injected(session, two_users):
    a, _ = two_users
    notify(
        session,
        user_ids=[a],
        kind="consortium",
        title_zh="隔膜\r\nBcc: x@evil.example",
        title_en="Lot\nX-Evil: 1\x00\u2028end",
    )
    note = session.scalars(select(Notification)).one()
    assert note.title_zh == "隔膜 Bcc: x@evil.example" and note.title_en == "Lot X-Evil: 1 end"
    mail = session.scalars(select(OutboxEmail)).one()
    assert "\r" not in mail.subject and "\n" not in mail.subject
    with _SmtpServer() as server:
        assert deliver_outbox(session, SmtpSender(host="127.0.0.1", port=server.port)) == {
            "sent": 1,
            "failed": 0,
            "pending": 0,
        }
    [(rcpt, message)] = server.received()
    assert rcpt == ["a@t.cn"] and message["Bcc"] is None and message["X-Evil"] is None
    assert message["Subject"] == "隔膜 Bcc: x@evil.example / Lot X-Evil: 1 end"


def test_a_title_of_only_line_breaks_is_refused_as_missing(session, two_users):
    with pytest.raises(InputError):
        notify(session, user_ids=[two_users[0]], kind="k", title_zh="\r\n", title_en="x")


def test_mail_queued_with_a_line_break_in_its_subject_is_sent_with_one_line(session):
    session.add(OutboxEmail(to_address="d@t.cn", subject="隔膜\r\nBcc: x@evil.example", body="正文\n"))
    session.commit()
    with _SmtpServer() as server:
        assert deliver_outbox(session, SmtpSender(host="127.0.0.1", port=server.port))["sent"] == 1
    [(rcpt, message)] = server.received()
    assert rcpt == ["d@t.cn"] and message["Bcc"] is None
    assert not any(h.startswith("Bcc") for h in _headers(server.handler.messages[0][1]))


def _queue_good_bad_good(settings, a: int, b: int) -> None:
    with session_scope(settings) as s:
        _notify(s, [a])
        s.add(OutboxEmail(to_address="c@t.cn\r\nBcc: x@evil.example", subject="坏地址 / bad address", body="x\n"))
        s.flush()
        _notify(s, [b])


def test_one_mail_that_cannot_be_sent_does_not_stop_the_others_and_none_goes_out_twice(settings, two_users):
    a, b = two_users
    _queue_good_bad_good(settings, a, b)
    with _SmtpServer() as server:
        sender = SmtpSender(host="127.0.0.1", port=server.port)
        with session_scope(settings) as s:
            assert deliver_outbox(s, sender) == {"sent": 2, "failed": 1, "pending": 1}
        with session_scope(settings) as s:
            rows = s.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()
            assert [r.sent_at is not None for r in rows] == [True, False, True]
            assert rows[1].attempts == 1 and rows[1].last_error.startswith("ValueError")
        with session_scope(settings) as s:  # the next run tries only the failed one again
            assert deliver_outbox(s, sender) == {"sent": 0, "failed": 1, "pending": 1}
            assert s.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()[1].attempts == 2
    assert sorted(rcpt[0] for rcpt, _ in server.received()) == ["a@t.cn", "b@t.cn"]


class _KilledOnSecondMail(SmtpSender):
    """The real SMTP sender, in a process that dies while sending the second mail."""

    calls = 0

    def send(self, to_address: str, subject: str, body: str) -> None:
        self.calls += 1
        if self.calls == 2:
            raise KeyboardInterrupt
        super().send(to_address, subject, body)


def test_a_mail_that_went_out_stays_marked_sent_when_the_run_dies_later(settings, two_users):
    with session_scope(settings) as s:
        _notify(s, list(two_users))
    with _SmtpServer() as server:
        with pytest.raises(KeyboardInterrupt), session_scope(settings) as s:
            deliver_outbox(s, _KilledOnSecondMail(host="127.0.0.1", port=server.port))
        with session_scope(settings) as s:
            rows = s.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()
            assert [r.sent_at is not None for r in rows] == [True, False]
            assert deliver_outbox(s, SmtpSender(host="127.0.0.1", port=server.port))["sent"] == 1
    assert sorted(rcpt[0] for rcpt, _ in server.received()) == ["a@t.cn", "b@t.cn"]  # nobody twice


def _invoke_with_smtp(settings, port: int, args: list[str], **overrides):
    from click.testing import CliRunner

    from marketplace.cli import cli
    from marketplace.cli_common import AppContext

    app = AppContext(settings.with_overrides(smtp_host="127.0.0.1", smtp_port=port, **overrides))
    return CliRunner().invoke(cli, args, obj=app, catch_exceptions=False)


def test_deliver_command_reports_a_failed_mail_and_exits_1_without_a_traceback(settings, two_users):
    a, b = two_users
    _queue_good_bad_good(settings, a, b)
    with _SmtpServer() as server:
        result = _invoke_with_smtp(settings, server.port, ["notifications", "deliver", "--json"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert json.loads(result.stdout) == {"sent": 2, "failed": 1, "pending": 1}
    assert "1 message(s) could not be sent" in result.stderr and "Traceback" not in result.output
    assert len(server.handler.messages) == 2


def test_deliver_command_exits_0_when_every_mail_went_out(settings, two_users):
    with session_scope(settings) as s:
        _notify(s, list(two_users))
    with _SmtpServer() as server:
        result = _invoke_with_smtp(settings, server.port, ["notifications", "deliver"])
    assert result.exit_code == 0 and "sent 2, 失败 / failed 0" in result.output


def test_mail_links_start_with_the_public_base_url_while_pages_keep_in_app_paths(settings, two_users):
    with session_scope(settings) as s:
        _notify(s, [two_users[0]], link="/consortia/1")
    with _SmtpServer() as server:
        result = _invoke_with_smtp(
            settings, server.port, ["notifications", "deliver"], public_base_url="https://chainmatch.example.cn/"
        )
    assert result.exit_code == 0, result.output
    [(_, message)] = server.received()
    assert message.get_content().rstrip().endswith("ChainMatch: https://chainmatch.example.cn/consortia/1")
    with session_scope(settings) as s:
        assert s.scalars(select(Notification)).one().link == "/consortia/1"  # the page links inside the app
        assert s.scalars(select(OutboxEmail)).one().body.endswith("https://chainmatch.example.cn/consortia/1\n")


def test_absolute_link_touches_only_the_closing_in_app_link():
    assert (
        absolute_link("标题\n\nChainMatch: /events/3\n", "https://x.cn")
        == "标题\n\nChainMatch: https://x.cn/events/3\n"
    )
    assert absolute_link("ChainMatch: //evil.example\n", "https://x.cn") == "ChainMatch: //evil.example\n"
    assert absolute_link("ChainMatch: /a\nmore\n", "https://x.cn") == "ChainMatch: /a\nmore\n"
    assert absolute_link("ChainMatch: /a\n", "") == "ChainMatch: /a\n"


def test_titles_longer_than_their_column_are_cut_with_an_ellipsis(session, two_users):
    """A 200-character demand title and a 255-character firm name quoted in one title must not
    fail the action that notifies (PostgreSQL refuses values over the column's 300)."""
    notify(session, user_ids=[two_users[0]], kind="k", title_zh="【" + "需" * 400 + "】", title_en="T" * 301)
    note = session.scalars(select(Notification)).one()
    assert len(note.title_zh) == len(note.title_en) == 300
    assert note.title_zh.endswith("…") and note.title_en == "T" * 299 + "…"
    assert len(session.scalars(select(OutboxEmail)).one().subject) <= 300
