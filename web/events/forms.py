"""Forms of the event pages (Flask-WTF, CSRF on every one); labels Chinese first via Babel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from marketplace.events.agenda import EVENT_TZ
from marketplace.events.events import as_event_time
from marketplace.models import Event, EventFormat, Outcome, RequestRule
from web.forms import LocalizedChoices


class EventForm(LocalizedChoices, FlaskForm):
    enum_fields = {"format": EventFormat, "request_rule": RequestRule}
    title = StringField(_l("活动名称"), validators=[DataRequired(), Length(min=2, max=200)])
    description = TextAreaField(_l("活动简介"), validators=[Optional(), Length(max=5000)])
    format = SelectField(_l("形式"), choices=[(f.value, f.label_zh) for f in EventFormat])
    location = StringField(_l("地点 / 线上会议室"), validators=[Optional(), Length(max=255)])
    focus_products = StringField(_l("聚焦产品（逗号分隔，如 锂电池, 隔膜）"), validators=[Optional(), Length(max=1000)])
    focus_industries = StringField(_l("聚焦行业（逗号分隔）"), validators=[Optional(), Length(max=1000)])
    start_date = DateField(_l("开始日期"), validators=[DataRequired()])
    days = IntegerField(_l("天数"), default=1, validators=[DataRequired(), NumberRange(min=1, max=7)])
    sessions = StringField(_l("每天的场次（如 09:00-12:00, 13:30-17:00）"), default="09:00-12:00, 13:30-17:00")
    slot_minutes = IntegerField(_l("每场洽谈（分钟）"), default=20, validators=[NumberRange(min=5, max=240)])
    gap_minutes = IntegerField(_l("间隔（分钟）"), default=5, validators=[NumberRange(min=0, max=120)])
    tables = IntegerField(_l("洽谈桌 / 线上会议室数"), default=20, validators=[NumberRange(min=1, max=5000)])
    registration_opens = DateTimeLocalField(_l("报名开始"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    registration_closes = DateTimeLocalField(_l("报名截止"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    capacity_large = IntegerField(_l("大企业名额"), default=50, validators=[NumberRange(min=0)])
    capacity_sme = IntegerField(_l("中小企业名额"), default=200, validators=[NumberRange(min=0)])
    open_registration = BooleanField(_l("开放报名（组织方审核）"), default=True)
    request_rule = SelectField(_l("洽谈申请规则"), choices=[(r.value, r.label_zh) for r in RequestRule])
    request_expiry_hours = IntegerField(_l("申请未回复自动过期（小时）"), default=48, validators=[NumberRange(min=1)])
    pending_cap = IntegerField(_l("每家企业待回复申请上限"), default=10, validators=[NumberRange(min=1)])
    sme_min_meetings = IntegerField(_l("每家中小企业至少洽谈场次"), default=1, validators=[NumberRange(min=0)])
    large_max_meetings = IntegerField(_l("每家大企业最多洽谈场次"), default=16, validators=[NumberRange(min=1)])
    max_representatives = IntegerField(_l("大企业最多代表人数（并行洽谈）"), default=3, validators=[NumberRange(min=1)])

    TIMES = ("registration_opens", "registration_closes")

    def to_data(self) -> dict[str, Any]:
        """Every field as the form holds it: an emptied optional field (description, location,
        focus, registration window) is cleared, not kept (the service reads None as cleared). The
        registration window is wall-clock time in the event time zone (``EVENT_TZ``), as shown."""
        data: dict[str, Any] = {}
        for name, field in self._fields.items():
            if name == "csrf_token":
                continue
            value = field.data
            if name in self.TIMES and isinstance(value, datetime):
                value = value.replace(tzinfo=EVENT_TZ)
            data[name] = value
        return data

    def fill(self, event: Event) -> None:
        for name, field in self._fields.items():
            if name == "csrf_token":
                continue
            value = getattr(event, name)
            if isinstance(value, list):
                value = ", ".join(value)
            elif hasattr(value, "value"):
                value = value.value
            elif name in self.TIMES and value is not None:
                value = as_event_time(value)  # stored in UTC, shown in the event time zone
            field.data = value


class RegisterForm(FlaskForm):
    representatives = IntegerField(_l("参会代表人数"), default=1, validators=[NumberRange(min=1, max=50)])


class RequestForm(FlaskForm):
    message = TextAreaField(_l("留言（介绍来意）"), validators=[Optional(), Length(max=1000)])
    demand_id = SelectField(_l("针对的需求"), choices=[], validate_choice=False, validators=[Optional()])


class OutcomeForm(LocalizedChoices, FlaskForm):
    enum_fields = {"outcome": Outcome}
    outcome = SelectField(_l("洽谈成果"), choices=[(o.value, o.label_zh) for o in Outcome])
    amount = DecimalField(_l("意向金额（万元，可不填）"), validators=[Optional(), NumberRange(min=0)])
    note = TextAreaField(_l("备注"), validators=[Optional(), Length(max=2000)])


class SurveyForm(FlaskForm):
    still_in_contact = BooleanField(_l("活动后是否仍与对接企业保持联系"))
    contracts_signed = IntegerField(_l("已签订的合同数"), default=0, validators=[NumberRange(min=0)])
    contract_amount = DecimalField(_l("合同金额（万元）"), default=0, validators=[Optional(), NumberRange(min=0)])
    satisfaction = SelectField(_l("满意度（1–5）"), choices=[(str(i), str(i)) for i in range(5, 0, -1)])
    comment = TextAreaField(_l("意见与建议"), validators=[Optional(), Length(max=2000)])
