"""Service messages in the reader's language: every page shows a service error through
:func:`localized`, which renders a :func:`marketplace.errors.msg` message from the Simplified
Chinese catalogue in ``web/translations_errors`` (gettext domain ``errors``; English is the text in
the code). The JSON API answers in English, the text the code raises.

Service messages start with the field they are about (``title: a policy needs its title``), which
the API returns and forms use to put the message under that field. A reader sees no code names: on
pages a field the user fills in is named by its label (标题：…), and any other key (``status``,
``to_firm_id``, ``registration``) is dropped, the sentence saying what went wrong on its own."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import NoReturn

from flask import abort, flash, request
from flask_babel import Domain, get_locale

from marketplace.errors import Term, message_of, render
from web.errors import error_status

ERRORS_DIR = Path(__file__).parent / "translations_errors"
errors_domain = Domain(translation_directories=[str(ERRORS_DIR)], domain="errors")

# one "field: message" part of a message that joins several with "; "
FIELD_PART = re.compile(r"; (?=[A-Za-z_][\w.\[\]]*: )")
_KEYED = re.compile(r"([a-z_][a-z0-9_]*)(?:\.[\w.]+|\[(\d+)\][\w.\[\]]*)?: (.*)", re.S)

# fields users fill in, named on pages by their label; other keys are left out
FIELD_LABELS = {
    "title": Term("标题", "Title"),
    "description": Term("描述", "Description"),
    "name": Term("名称", "Name"),
    "email": Term("邮箱", "E-mail"),
    "password": Term("密码", "Password"),
    "new_password": Term("新密码", "New password"),
    "current_password": Term("当前密码", "Current password"),
    "signing_password": Term("签署密码", "Signing password"),
    "totp_code": Term("动态验证码", "Authenticator code"),
    "firm_name": Term("企业名称", "Firm name"),
    "organization_name": Term("机构名称", "Organization name"),
    "note": Term("备注", "Note"),
    "message": Term("留言", "Message"),
    "text": Term("内容", "Text"),
    "q": Term("搜索词", "Search"),
    "page": Term("页码", "Page"),
    "region": Term("地区", "Region"),
    "tier": Term("企业资质", "Tier"),
    "round": Term("轮次", "Round"),
    "decision": Term("审批决定", "Decision"),
    "my_party": Term("本企业是", "Your side"),
    "approver_id": Term("审批人", "Approver"),
    "signer_id": Term("签署人", "Signer"),
    "other_firm_id": Term("对方企业", "Other firm"),
    "firm": Term("企业", "Firm"),
    "industry": Term("行业", "Industry"),
    "deadline": Term("截止日期", "Deadline"),
    "start_date": Term("开始日期", "Start date"),
    "sessions": Term("场次时段", "Sessions"),
    "tables": Term("洽谈桌数", "Tables"),
    "budget_min": Term("预算下限", "Minimum budget"),
    "budget_max": Term("预算上限", "Maximum budget"),
    "expires_in_days": Term("有效天数", "Valid for (days)"),
    "source_url": Term("来源链接", "Source link"),
    "year": Term("年份", "Year"),
    "valid_to": Term("有效期至", "Valid to"),
    "representatives": Term("参会人数", "Representatives"),
    "time_limit_s": Term("求解时限", "Time limit"),
    "share": Term("份额", "Share"),
    "sme_share": Term("中小企业份额", "SME share"),
    "budget": Term("预算", "Budget"),
    "lots": Term("标段", "Lots"),
    "rules": Term("条件", "Rules"),
    "registration_opens": Term("报名开始", "Registration opens"),
    "registration_closes": Term("报名截止", "Registration closes"),
}


@cache
def _contract_field_labels() -> dict[str, Term]:
    from marketplace.contracts.templates import TEMPLATES

    return {spec.key: spec.term() for template in TEMPLATES.values() for spec in template.fields}


def for_people(text: str, locale: str) -> str:
    """``text`` with each leading field key replaced by the field's label (a field users fill in)
    or dropped (any other key): what pages show."""
    english = locale.startswith("en")
    parts = []
    for part in FIELD_PART.split(text):
        keyed = _KEYED.fullmatch(part)
        if keyed:
            key, index, rest = keyed.groups()
            label = FIELD_LABELS.get(key) or _contract_field_labels().get(key)
            if label:
                number = f" #{int(index) + 1}" if index else ""  # rules[0] is the first rule
                part = f"{label.label(locale)}{number}{': ' if english else '：'}{rest}"
            else:
                part = rest[:1].upper() + rest[1:] if english else rest
        parts.append(part)
    return ("; " if english else "；").join(parts)


def page_locale() -> str:
    """The current request's language code (``zh`` unless the reader chose English)."""
    return str(get_locale() or "zh")


def localized(error: BaseException | str, *, field_keys: bool = False) -> str:
    """An error (or its message) in the current request's language, as people read it
    (:func:`for_people`); ``field_keys`` keeps the "field: " keys, for forms that place each part
    under its field."""
    message = message_of(error) if isinstance(error, BaseException) else error
    text = render(message, page_locale(), errors_domain.get_translations().gettext)
    return text if field_keys else for_people(text, page_locale())


def for_reader(message: str) -> str:
    """A message as the caller reads it: English for the JSON API, the reader's language on pages."""
    return str(message) if request.path.startswith("/api/") else localized(message)


def refuse(error: BaseException) -> NoReturn:
    """A refused action: the HTTP status the service error means (:func:`web.errors.error_status`)
    with its message in the reader's language."""
    abort(error_status(error), description=localized(error))


def flash_outcome(error: Exception | None, done: str | Callable[[], str]) -> None:
    """Flash the service error in the reader's language, or ``done`` when the action succeeded
    (a callable when the text needs the action's result, which is None after an error)."""
    if error:
        flash(localized(error), "error")
    else:
        flash(done() if callable(done) else done, "success")
