"""Web forms (Flask-WTF: every form carries a CSRF token). Labels are Chinese-first via Babel."""

from __future__ import annotations

import math

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, Optional, StopValidation

from marketplace.demands.workflow import DETAIL_FIELDS, MAX_BUDGET
from marketplace.models import DemandType, OrganizationKind, Role, Tier, Visibility
from web.messages import FIELD_PART, for_people, localized, page_locale

# each detail field once, with the demand types it belongs to: a field two types share (stage) is one
# input, so the form never posts two values under one name
DETAIL_FIELD_TYPES: dict[str, list[str]] = {}
for _type, _names in DETAIL_FIELDS.items():
    for _name in _names:
        DETAIL_FIELD_TYPES.setdefault(_name, []).append(_type)


class LocalizedChoices:
    """Sets the labels of enum choices in the request's language when a form is created."""

    enum_fields: dict[str, type] = {}

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        from web.i18n import label

        for name, enum_cls in self.enum_fields.items():
            field = getattr(self, name)
            field.choices = [(value, label(enum_cls(value)) if value else text) for value, text in field.choices]


class Finite:
    """Refuse what Decimal parses but no amount is: Infinity, NaN and numbers beyond a float."""

    def __call__(self, _form: FlaskForm, field) -> None:  # noqa: ANN001
        if field.data is None:
            return
        try:
            finite = math.isfinite(float(field.data))
        except (ValueError, OverflowError):  # a signalling NaN (Decimal("sNaN")) cannot even become a float
            finite = False
        if not finite:  # stop: the range check after this one cannot compare a signalling NaN either
            raise StopValidation(_l("请输入一个有限的数字"))


def strip_text(value: str | None) -> str | None:
    """Spaces around a typed or pasted value (an e-mail copied with a trailing space) are not part of it."""
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    email = StringField(_l("邮箱"), filters=[strip_text], validators=[DataRequired(), Email()])
    password = PasswordField(_l("密码"), validators=[DataRequired()])


class RegisterForm(LocalizedChoices, FlaskForm):
    """Public sign-up: large-firm or SME users only (organizers are created by the admin or
    invited by an organizer of their organization)."""

    enum_fields = {"role": Role}
    name = StringField(_l("姓名"), validators=[DataRequired(), Length(max=120)])
    email = StringField(_l("邮箱"), filters=[strip_text], validators=[DataRequired(), Email(), Length(max=255)])
    password = PasswordField(_l("密码（至少 8 位）"), validators=[DataRequired(), Length(min=8, max=128)])
    role = SelectField(
        _l("身份"),
        choices=[(r.value, r.label_zh) for r in (Role.LARGE, Role.SME)],  # relabelled per request
        validators=[DataRequired()],
    )
    firm_choice = RadioField(
        _l("企业"),
        choices=[
            ("new", _l("登记新企业（您将成为该企业管理员）")),
            ("join", _l("申请加入已登记的企业（需该企业管理员批准）")),
        ],
        default="new",
        validators=[DataRequired()],
    )
    firm_name = StringField(_l("企业注册名称"), validators=[DataRequired(), Length(max=255)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("当前密码"), validators=[DataRequired()])
    new_password = PasswordField(_l("新密码（至少 8 位）"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(
        _l("确认新密码"), validators=[DataRequired(), EqualTo("new_password", message=_l("两次输入的新密码不一致"))]
    )


class TokenForm(FlaskForm):
    name = StringField(_l("令牌名称"), validators=[DataRequired(), Length(max=80)], default="api")
    expires_in_days = SelectField(
        _l("有效期"),
        choices=[("30", _l("30 天")), ("90", _l("90 天")), ("365", _l("365 天"))],
        default="90",
    )


class OrganizerForm(LocalizedChoices, FlaskForm):
    """The admin creates an organizer account (and its organization when new)."""

    enum_fields = {"organization_kind": OrganizationKind}
    name = StringField(_l("姓名"), validators=[DataRequired(), Length(max=120)])
    email = StringField(_l("邮箱"), filters=[strip_text], validators=[DataRequired(), Email(), Length(max=255)])
    password = PasswordField(_l("初始密码（至少 8 位）"), validators=[DataRequired(), Length(min=8, max=128)])
    organization_name = StringField(_l("组织名称"), validators=[DataRequired(), Length(max=255)])
    organization_kind = SelectField(_l("组织类型"), choices=[(k.value, k.label_zh) for k in OrganizationKind])


class InvitationAcceptForm(FlaskForm):
    """An invited colleague creates an organizer account in the inviting organization."""

    name = StringField(_l("姓名"), validators=[DataRequired(), Length(max=120)])
    email = StringField(_l("邮箱"), filters=[strip_text], validators=[DataRequired(), Email(), Length(max=255)])
    password = PasswordField(_l("密码（至少 8 位）"), validators=[DataRequired(), Length(min=8, max=128)])


class ProfileForm(LocalizedChoices, FlaskForm):
    enum_fields = {"tier": Tier}
    description = TextAreaField(_l("企业简介与能力"), validators=[Optional(), Length(max=5000)])
    region = StringField(_l("所在地区（省/市）"), validators=[Optional(), Length(max=60)])
    tier = SelectField(
        _l("企业梯度"), choices=[("", "—")] + [(t.value, t.label_zh) for t in Tier], validators=[Optional()]
    )
    products = TextAreaField(_l("产品（每行一个）"), validators=[Optional(), Length(max=5000)])
    industries = TextAreaField(_l("行业（每行一个）"), validators=[Optional(), Length(max=2000)])
    patents = TextAreaField(_l("专利名称（每行一个）"), validators=[Optional(), Length(max=10000)])


class DemandForm(LocalizedChoices, FlaskForm):
    enum_fields = {"type": DemandType, "visibility": Visibility}
    type = SelectField(_l("需求类型"), choices=[(t.value, t.label_zh) for t in DemandType], validators=[DataRequired()])
    title = StringField(_l("标题"), validators=[DataRequired(), Length(min=2, max=200)])
    description = TextAreaField(_l("需求描述"), validators=[Optional(), Length(max=5000)])
    wanted_products = StringField(_l("所需产品/材料（逗号分隔）"), validators=[Optional(), Length(max=1000)])
    wanted_technologies = StringField(_l("所需技术/专利方向（逗号分隔）"), validators=[Optional(), Length(max=1000)])
    wanted_industries = StringField(_l("相关行业（逗号分隔）"), validators=[Optional(), Length(max=1000)])
    region_preference = StringField(_l("地区偏好"), validators=[Optional(), Length(max=60)])
    budget_min = DecimalField(
        _l("预算下限（万元）"), validators=[Optional(), Finite(), NumberRange(min=0, max=MAX_BUDGET)]
    )
    budget_max = DecimalField(
        _l("预算上限（万元）"), validators=[Optional(), Finite(), NumberRange(min=0, max=MAX_BUDGET)]
    )
    deadline = DateField(_l("截止日期"), validators=[Optional()])
    visibility = SelectField(_l("可见范围"), choices=[(v.value, v.label_zh) for v in Visibility])
    technical_problem = TextAreaField(_l("技术难题"), validators=[Optional(), Length(max=2000)])
    ip_terms = StringField(_l("知识产权约定"), validators=[Optional(), Length(max=500)])
    quantity = StringField(_l("采购数量"), validators=[Optional(), Length(max=200)])
    quality_standard = StringField(_l("质量标准"), validators=[Optional(), Length(max=200)])
    delivery = StringField(_l("交付要求"), validators=[Optional(), Length(max=200)])
    stage = StringField(_l("阶段"), validators=[Optional(), Length(max=200)])
    amount = StringField(_l("金额"), validators=[Optional(), Length(max=200)])
    support_needed = StringField(_l("所需孵化支持"), validators=[Optional(), Length(max=500)])
    service_scope = StringField(_l("服务范围"), validators=[Optional(), Length(max=500)])

    def to_data(self, owner_firm_id: int) -> dict:
        dtype = self.type.data
        details = {f: getattr(self, f).data for f in DETAIL_FIELDS.get(dtype, []) if getattr(self, f).data}
        return {
            "owner_firm_id": owner_firm_id,
            "type": dtype,
            "title": self.title.data,
            "description": self.description.data or "",
            "wanted_products": self.wanted_products.data or "",
            "wanted_technologies": self.wanted_technologies.data or "",
            "wanted_industries": self.wanted_industries.data or "",
            "region_preference": self.region_preference.data or None,
            "budget_min": float(self.budget_min.data) if self.budget_min.data is not None else None,
            "budget_max": float(self.budget_max.data) if self.budget_max.data is not None else None,
            "deadline": self.deadline.data,
            "visibility": self.visibility.data,
            "details": details,
        }

    def fill(self, demand) -> None:  # noqa: ANN001
        self.type.data = demand.type.value
        self.title.data = demand.title
        self.description.data = demand.description
        self.wanted_products.data = ", ".join(demand.wanted_products or [])
        self.wanted_technologies.data = ", ".join(demand.wanted_technologies or [])
        self.wanted_industries.data = ", ".join(demand.wanted_industries or [])
        self.region_preference.data = demand.region_preference
        self.budget_min.data = demand.budget_min
        self.budget_max.data = demand.budget_max
        self.deadline.data = demand.deadline
        self.visibility.data = demand.visibility.value
        # only the detail fields of the demand's type: a details key never fills another field
        details = demand.details or {}
        for key in DETAIL_FIELDS.get(demand.type.value, []):
            if details.get(key) is not None:
                getattr(self, key).data = str(details[key])


class ActionForm(FlaskForm):
    """An empty form: a CSRF token for POST buttons."""


def apply_error(form: FlaskForm, exc: Exception) -> None:
    """Attach each "field: message" part of a service InputError to that form field; anything
    that names no field of the form becomes a form-level error."""
    for part in FIELD_PART.split(localized(exc, field_keys=True)):  # one part per "field: message"
        name, sep, message = part.partition(": ")
        field = getattr(form, name.split(".")[0], None) if sep else None
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(for_people(part, page_locale()))
