"""Chain-matching events (产业链对接活动): the event and its time grid, the demands it is about,
invitations, registrations with availability, meeting requests and engine proposals, scheduled
meetings with check-in and outcomes, and the follow-up survey."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marketplace.errors import from_data
from marketplace.models.accounts import Organization
from marketplace.models.base import Base, LabelledEnum, TimestampMixin, _check_transition, _enum, utcnow
from marketplace.models.demands import Demand
from marketplace.models.firms import Firm


class EventFormat(LabelledEnum):
    ONSITE = ("onsite", "线下", "On site")
    ONLINE = ("online", "线上", "Online")
    HYBRID = ("hybrid", "线上线下结合", "Hybrid")


class EventStatus(LabelledEnum):
    DRAFT = ("draft", "筹备中", "Draft")
    OPEN = ("open", "报名中", "Registration open")
    SCHEDULED = ("scheduled", "已排程", "Scheduled")
    FINISHED = ("finished", "已结束", "Finished")


class RequestRule(LabelledEnum):
    APPROVAL = ("approval", "需对方确认", "Recipient approves")
    AUTO_ACCEPT = ("auto_accept", "自动接受", "Auto-accept")


class Side(LabelledEnum):
    LARGE = ("large", "大企业（发榜方）", "Large firm (buyer)")
    SME = ("sme", "中小企业（揭榜方）", "SME (supplier)")


class InvitationStatus(LabelledEnum):
    SENT = ("sent", "已发送", "Sent")
    REGISTERED = ("registered", "已报名", "Registered")
    DECLINED = ("declined", "已谢绝", "Declined")


class RegistrationStatus(LabelledEnum):
    PENDING = ("pending", "待审核", "Pending approval")
    APPROVED = ("approved", "已通过", "Approved")
    REJECTED = ("rejected", "未通过", "Rejected")
    WITHDRAWN = ("withdrawn", "已退出", "Withdrawn")


class RequestSource(LabelledEnum):
    REQUEST = ("request", "企业申请", "Requested by a firm")
    PROPOSAL = ("proposal", "平台推荐", "Proposed by the engine")


class RequestStatus(LabelledEnum):
    PROPOSED = ("proposed", "待确认推荐", "Proposed")
    PENDING = ("pending", "待回复", "Awaiting answer")
    ACCEPTED = ("accepted", "已接受", "Accepted")
    DECLINED = ("declined", "已拒绝", "Declined")
    EXPIRED = ("expired", "已过期", "Expired")
    CANCELLED = ("cancelled", "已取消", "Cancelled")


REQUEST_TRANSITIONS: dict[RequestStatus, set[RequestStatus]] = {
    RequestStatus.PROPOSED: {RequestStatus.ACCEPTED, RequestStatus.DECLINED, RequestStatus.CANCELLED},
    RequestStatus.PENDING: {
        RequestStatus.ACCEPTED,
        RequestStatus.DECLINED,
        RequestStatus.EXPIRED,
        RequestStatus.CANCELLED,
    },
    RequestStatus.ACCEPTED: {RequestStatus.CANCELLED},
    RequestStatus.DECLINED: set(),
    RequestStatus.EXPIRED: set(),
    RequestStatus.CANCELLED: set(),
}


class MeetingStatus(LabelledEnum):
    WAITING = ("waiting", "候补（未排入）", "Waiting list")
    SCHEDULED = ("scheduled", "已排程", "Scheduled")
    HELD = ("held", "已举行", "Held")
    NO_SHOW = ("no_show", "缺席", "No-show")
    CANCELLED = ("cancelled", "已取消", "Cancelled")


class Outcome(LabelledEnum):
    NONE = ("none", "暂无进一步联系", "No further contact")
    FOLLOW_UP = ("follow_up", "后续跟进", "Follow-up")
    QUOTATION = ("quotation", "进入报价", "Quotation")
    AGREEMENT = ("agreement", "达成合作意向/协议", "Cooperation agreement")

    @property
    def is_intent(self) -> bool:
        """Counts as 意向 (an intention to cooperate) in the organizer's report."""
        return self in (Outcome.FOLLOW_UP, Outcome.QUOTATION, Outcome.AGREEMENT)


# --- The event ------------------------------------------------------------------------------


class Event(TimestampMixin, Base):
    """One chain-matching event run by an organization: its chain focus, time grid and rules."""

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("days >= 1 AND slot_minutes >= 5 AND gap_minutes >= 0 AND tables >= 1", name="event_grid"),
        CheckConstraint(
            "capacity_large >= 0 AND capacity_sme >= 0 AND pending_cap >= 1 AND sme_min_meetings >= 0 "
            "AND large_max_meetings >= 1 AND max_representatives >= 1 AND request_expiry_hours >= 1",
            name="event_limits",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[EventFormat] = mapped_column(_enum(EventFormat, "event_format"), default=EventFormat.ONSITE)
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus, "event_status"), default=EventStatus.DRAFT)
    location: Mapped[str] = mapped_column(String(255), default="")
    focus_products: Mapped[list[str]] = mapped_column(JSON, default=list)
    focus_industries: Mapped[list[str]] = mapped_column(JSON, default=list)
    start_date: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer, default=1)
    # sessions of each day as ["09:00-12:00", "13:30-17:00"]; every session is cut into slots
    sessions: Mapped[list[str]] = mapped_column(JSON, default=list)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=20)
    gap_minutes: Mapped[int] = mapped_column(Integer, default=5)
    tables: Mapped[int] = mapped_column(Integer, default=20)
    registration_opens: Mapped[datetime | None] = mapped_column(DateTime)
    registration_closes: Mapped[datetime | None] = mapped_column(DateTime)
    capacity_large: Mapped[int] = mapped_column(Integer, default=50)
    capacity_sme: Mapped[int] = mapped_column(Integer, default=200)
    open_registration: Mapped[bool] = mapped_column(Boolean, default=True)
    request_rule: Mapped[RequestRule] = mapped_column(
        _enum(RequestRule, "event_request_rule"), default=RequestRule.APPROVAL
    )
    request_expiry_hours: Mapped[int] = mapped_column(Integer, default=48)
    pending_cap: Mapped[int] = mapped_column(Integer, default=10)
    sme_min_meetings: Mapped[int] = mapped_column(Integer, default=1)
    large_max_meetings: Mapped[int] = mapped_column(Integer, default=16)
    max_representatives: Mapped[int] = mapped_column(Integer, default=3)
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime)

    organization: Mapped[Organization] = relationship()
    demands: Mapped[list[EventDemand]] = relationship(back_populates="event", cascade="all, delete-orphan")

    def transition(self, new: EventStatus) -> None:
        allowed = {
            EventStatus.DRAFT: {EventStatus.OPEN},
            EventStatus.OPEN: {EventStatus.SCHEDULED, EventStatus.FINISHED},
            EventStatus.SCHEDULED: {EventStatus.OPEN, EventStatus.FINISHED},
            EventStatus.FINISHED: set(),
        }
        current = self.status or EventStatus.DRAFT
        _check_transition("event", current, new, allowed[current])
        self.status = new

    def slot_times(self) -> list[tuple[datetime, datetime]]:
        """Start and end of every slot, numbered from 0 across days and sessions."""
        out = []
        for day in range(self.days):
            base = datetime.combine(self.start_date + timedelta(days=day), datetime.min.time())
            for session in self.sessions or []:
                begin, end = (_minutes(part) for part in session.split("-", 1))
                start = begin
                while start + self.slot_minutes <= end:
                    out.append((base + timedelta(minutes=start), base + timedelta(minutes=start + self.slot_minutes)))
                    start += self.slot_minutes + self.gap_minutes
        return out

    @property
    def slot_count(self) -> int:
        return len(self.slot_times())

    def registration_is_open(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        if self.status is not EventStatus.OPEN and self.status is not EventStatus.SCHEDULED:
            return False
        if self.registration_opens and now < self.registration_opens:
            return False
        return not (self.registration_closes and now > self.registration_closes)


def _minutes(text: str) -> int:
    hours, minutes = text.strip().split(":", 1)
    return int(hours) * 60 + int(minutes)


class EventDemand(Base):
    """A demand presented at the event (大企业发榜)."""

    __tablename__ = "event_demands"
    __table_args__ = (UniqueConstraint("event_id", "demand_id", name="uq_event_demand"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    demand_id: Mapped[int] = mapped_column(ForeignKey("demands.id", ondelete="CASCADE"), index=True)

    event: Mapped[Event] = relationship(back_populates="demands")
    demand: Mapped[Demand] = relationship()


class EventInvitation(TimestampMixin, Base):
    """An invitation sent to a firm, with the reasons it was suggested."""

    __tablename__ = "event_invitations"
    __table_args__ = (UniqueConstraint("event_id", "firm_id", name="uq_event_invitation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    side: Mapped[Side] = mapped_column(_enum(Side, "event_side"))
    status: Mapped[InvitationStatus] = mapped_column(
        _enum(InvitationStatus, "event_invitation_status"), default=InvitationStatus.SENT
    )
    segment: Mapped[str | None] = mapped_column(String(120))
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    responded_at: Mapped[datetime | None] = mapped_column(DateTime)

    firm: Mapped[Firm] = relationship()


class EventRegistration(TimestampMixin, Base):
    """A firm registered for the event: its side, representatives, availability and check-in."""

    __tablename__ = "event_registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "firm_id", name="uq_event_registration"),
        CheckConstraint("representatives >= 1", name="registration_representatives"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    side: Mapped[Side] = mapped_column(_enum(Side, "event_side"))
    status: Mapped[RegistrationStatus] = mapped_column(
        _enum(RegistrationStatus, "event_registration_status"), default=RegistrationStatus.PENDING
    )
    representatives: Mapped[int] = mapped_column(Integer, default=1)
    segment: Mapped[str | None] = mapped_column(String(120))
    # slots the firm can attend; None means every slot
    available_slots: Mapped[list[int] | None] = mapped_column(JSON)
    checkin_token: Mapped[str] = mapped_column(String(64), unique=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime)

    event: Mapped[Event] = relationship()
    firm: Mapped[Firm] = relationship()

    def available(self, slot_count: int) -> list[int]:
        if self.available_slots is None:
            return list(range(slot_count))
        return sorted({s for s in self.available_slots if 0 <= s < slot_count})


class MeetingRequest(TimestampMixin, Base):
    """A request for a 1:1 meeting, or the engine's proposal (tied to a demand, with score and
    reasons). ``from_firm`` asks, ``to_firm`` answers; for proposals the demand owner answers."""

    __tablename__ = "event_meeting_requests"
    __table_args__ = (
        UniqueConstraint("event_id", "from_firm_id", "to_firm_id", name="uq_event_request_pair"),
        CheckConstraint("from_firm_id <> to_firm_id", name="request_not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    from_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    to_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    demand_id: Mapped[int | None] = mapped_column(ForeignKey("demands.id"))
    source: Mapped[RequestSource] = mapped_column(_enum(RequestSource, "event_request_source"))
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus, "event_request_status"))
    message: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    must_meet: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)

    from_firm: Mapped[Firm] = relationship(foreign_keys=[from_firm_id])
    to_firm: Mapped[Firm] = relationship(foreign_keys=[to_firm_id])
    demand: Mapped[Demand | None] = relationship()

    def transition(self, new: RequestStatus) -> None:
        current = self.status
        _check_transition("meeting request", current, new, REQUEST_TRANSITIONS[current])
        self.status = new
        self.decided_at = utcnow()


class Meeting(TimestampMixin, Base):
    """An accepted meeting: its slot and table once scheduled; locked once sent or checked in."""

    __tablename__ = "event_meetings"
    __table_args__ = (
        UniqueConstraint("request_id", name="uq_event_meeting_request"),
        CheckConstraint("(slot IS NULL) = (table_no IS NULL)", name="meeting_slot_and_table"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("event_meeting_requests.id", ondelete="CASCADE"))
    large_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    sme_firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"), index=True)
    demand_id: Mapped[int | None] = mapped_column(ForeignKey("demands.id"))
    weight: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[MeetingStatus] = mapped_column(_enum(MeetingStatus, "event_meeting_status"))
    slot: Mapped[int | None] = mapped_column(Integer)
    table_no: Mapped[int | None] = mapped_column(Integer)
    unscheduled_reason: Mapped[str | None] = mapped_column(Text)  # English, as the API and exports give it
    # the same reason as a stored message (marketplace.errors.to_data), rendered in the reader's language
    unscheduled_detail: Mapped[Any | None] = mapped_column(JSON)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # bumped whenever slot or table change, so calendars replace the entry (ICS SEQUENCE)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime)

    request: Mapped[MeetingRequest] = relationship()
    large_firm: Mapped[Firm] = relationship(foreign_keys=[large_firm_id])
    sme_firm: Mapped[Firm] = relationship(foreign_keys=[sme_firm_id])
    demand: Mapped[Demand | None] = relationship()
    outcomes: Mapped[list[MeetingOutcome]] = relationship(back_populates="meeting", cascade="all, delete-orphan")

    def other(self, firm_id: int) -> Firm:
        return self.sme_firm if firm_id == self.large_firm_id else self.large_firm

    @property
    def reason(self) -> str | None:
        """Why the meeting is on the waiting list: a message pages render in the reader's
        language (English where it is used as plain text), or the stored text of a reason kept
        before reasons were stored as messages."""
        if self.unscheduled_detail is not None:
            return from_data(self.unscheduled_detail)
        return self.unscheduled_reason


class MeetingOutcome(TimestampMixin, Base):
    """What one side reports after the meeting; amounts in 万元 (10,000 CNY)."""

    __tablename__ = "event_meeting_outcomes"
    __table_args__ = (
        UniqueConstraint("meeting_id", "firm_id", name="uq_event_outcome"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="outcome_amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("event_meetings.id", ondelete="CASCADE"), index=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"))
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome, "event_outcome"))
    amount: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")

    meeting: Mapped[Meeting] = relationship(back_populates="outcomes")


class SurveyAnswer(TimestampMixin, Base):
    """The follow-up survey some months after the event, one answer per firm, kept as data."""

    __tablename__ = "event_survey_answers"
    __table_args__ = (UniqueConstraint("event_id", "firm_id", name="uq_event_survey"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    firm_id: Mapped[int] = mapped_column(ForeignKey("firms.id"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
