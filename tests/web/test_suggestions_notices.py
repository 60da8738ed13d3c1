"""An invitation to talk reaches the suggested firm (notice and inbox tag), and its answer reaches
the demand's owner, each in the reader's language."""

from __future__ import annotations

from sqlalchemy import select

from marketplace.db import session_scope
from marketplace.demands.suggestions import Candidate, save_suggestions
from marketplace.models import Demand, User
from marketplace.models.notifications import Notification, OutboxEmail


def _notices(settings, email: str) -> list[Notification]:  # noqa: ANN001
    with session_scope(settings) as s:
        user = s.scalar(select(User).where(User.email == email))
        rows = list(s.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)))
        s.expunge_all()
        return rows


def test_an_invitation_to_talk_notifies_the_firm_and_its_answer_notifies_the_owner(login, loaded, people):
    with session_scope(loaded) as s:
        demand = s.get(Demand, people["demand"])
        sid = save_suggestions(s, demand, [Candidate(people["sme_firm"], 0.9, [])])[0].id
    owner, sme = people["emails"]["large"], people["emails"]["sme"]
    client = login("large")
    assert client.post(f"/demands/{people['demand']}/suggestions/{sid}/shortlist").status_code == 302
    assert _notices(loaded, sme) == []  # a shortlist is the owner's own note
    assert client.post(f"/demands/{people['demand']}/suggestions/{sid}/invite").status_code == 302
    assert client.post(f"/demands/{people['demand']}/suggestions/{sid}/invite").status_code == 302  # again
    [invited] = _notices(loaded, sme)
    assert invited.kind == "demand.invited" and invited.link == f"/inbox/#s{sid}"
    assert "采购锂电池隔膜" in invited.title_zh and "邀请贵企业洽谈" in invited.title_zh
    assert "invites your firm to talk" in invited.title_en
    with session_scope(loaded) as s:
        mail = s.scalar(select(OutboxEmail).where(OutboxEmail.notification_id == invited.id))
        assert mail is not None and f"/inbox/#s{sid}" in mail.body

    client = login("sme")
    inbox = client.get("/inbox/").get_data(as_text=True)
    card = inbox[inbox.index(f'id="s{sid}"') :]
    assert "已邀请洽谈" in card[: card.index("</li>")]
    assert "邀请贵企业洽谈" in client.get("/notifications/").get_data(as_text=True)
    client.get("/lang/en")
    assert "Invited to talk" in client.get("/inbox/").get_data(as_text=True)
    assert "invites your firm to talk" in client.get("/notifications/").get_data(as_text=True)
    client.get("/lang/zh")

    assert _notices(loaded, owner) == []
    assert client.post(f"/inbox/{sid}/accept").status_code == 302
    [answered] = _notices(loaded, owner)
    assert answered.kind == "demand.answered" and answered.link == f"/demands/{people['demand']}#s{sid}"
    assert "测试隔膜科技" in answered.title_zh and "接受" in answered.title_zh
    assert "accepted" in answered.title_en


def test_a_declined_suggestion_notifies_the_owner_too(login, loaded, people):
    with session_scope(loaded) as s:
        demand = s.get(Demand, people["demand"])
        sid = save_suggestions(s, demand, [Candidate(people["sme_firm"], 0.9, [])])[0].id
    assert login("sme").post(f"/inbox/{sid}/decline").status_code == 302
    [answered] = _notices(loaded, people["emails"]["large"])
    assert "婉拒" in answered.title_zh and "declined" in answered.title_en
    assert _notices(loaded, people["emails"]["sme"]) == []  # the firm that answered is not told itself
