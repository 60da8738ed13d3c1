"""The notifications page: a user sees and marks read only their own notifications."""

from __future__ import annotations

from marketplace.accounts.notifications import notify
from marketplace.db import session_scope
from marketplace.models import User


def _notify(settings, email: str, title: str) -> None:
    from sqlalchemy import select

    with session_scope(settings) as s:
        user = s.scalar(select(User).where(User.email == email))
        notify(s, user_ids=[user.id], kind="test", title_zh=title, title_en=title + " (en)", link="/inbox/")


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/notifications/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_user_sees_own_notification_with_unread_badge_and_not_others(app, loaded, people, login):
    _notify(loaded, people["emails"]["sme"], "<b>会议已调整</b>")
    _notify(loaded, people["emails"]["large"], "大企业的私有通知")
    client = login("sme")
    html = client.get("/notifications/").get_data(as_text=True)
    assert "&lt;b&gt;会议已调整&lt;/b&gt;" in html  # escaped
    assert "大企业的私有通知" not in html
    assert 'class="badge">1<' in html
    assert 'href="/inbox/"' in html  # the page links inside the app; only e-mail adds the public address


def test_marking_read_clears_the_badge_and_another_users_id_is_ignored(app, loaded, people, login):
    _notify(loaded, people["emails"]["large"], "别人的通知")
    _notify(loaded, people["emails"]["sme"], "我的通知")
    from sqlalchemy import select

    from marketplace.models import Notification

    with session_scope(loaded) as s:
        foreign = s.scalar(select(Notification).where(Notification.title_zh == "别人的通知")).id
    client = login("sme")
    assert client.post(f"/notifications/{foreign}/read").status_code == 302
    with session_scope(loaded) as s:
        assert s.scalar(select(Notification).where(Notification.id == foreign)).read_at is None
    client.post("/notifications/read")
    html = client.get("/notifications/").get_data(as_text=True)
    assert 'class="badge"' not in html
