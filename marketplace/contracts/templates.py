"""Contract templates, one per demand type (and the supplement): the fields a contract has, their
labels, and the clauses they fill. Rendering a template with field values gives the clause text
that rounds are diffed on, hashed and printed."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from marketplace.errors import InputError, Term, msg


class _Labelled:
    """A Chinese and an English name; ``label`` picks one by locale, as the domain enums do."""

    zh: str
    en: str

    def label(self, locale: str = "zh") -> str:
        return self.en if locale.startswith("en") else self.zh

    def term(self) -> Term:
        """The name as a message parameter: English in the message, Chinese on a Chinese page."""
        return Term(self.zh, self.en)


@dataclass(frozen=True)
class FieldSpec(_Labelled):
    key: str
    zh: str
    en: str
    kind: str = "text"  # text | textarea | money | date
    required: bool = True
    max_length: int = 20000  # characters; short single-line fields (title, place) much less


@dataclass(frozen=True)
class Clause:
    key: str
    title: str
    body: str  # str.format template over the field values


@dataclass(frozen=True)
class Template(_Labelled):
    code: str
    zh: str
    en: str
    party_a: str
    party_b: str
    fields: tuple[FieldSpec, ...]
    clauses: tuple[Clause, ...]

    def party_label(self, which: str, locale: str = "zh") -> str:
        """``甲方（采购方）`` for party ``a``, ``乙方…`` for ``b``, in the page's language."""
        return heading(self.party_a if which == "a" else self.party_b, locale)


MAX_AMOUNT = Decimal(10) ** 13  # yuan: ten trillion, beyond any contract signed here
MAX_TITLE = 200  # the contracts.title column
MAX_PLACE = 100  # one line in the parties table of the PDF
COMMON_HEAD = (
    FieldSpec("title", "合同名称", "Contract title", max_length=MAX_TITLE),
    FieldSpec("amount", "合同总金额（元）", "Total amount (CNY)", "money"),
    FieldSpec("sign_place", "签订地点", "Place of signing", max_length=MAX_PLACE),
)
COMMON_TAIL = (FieldSpec("extra_terms", "其他约定", "Other terms", "textarea", required=False),)
DISPUTE = Clause(
    "disputes",
    "争议解决",
    "因本合同引起的争议，双方应友好协商；协商不成的，提交{sign_place}有管辖权的人民法院诉讼解决。",
)
EFFECT = Clause(
    "effect",
    "合同生效",
    "本合同经双方使用各自的电子签名签署后生效。双方确认，依《中华人民共和国电子签名法》第十三条和第十四条，"
    "可靠的电子签名与手写签名或者盖章具有同等的法律效力。",
)
OTHER = Clause("other", "其他约定", "{extra_terms}")

# English names of the parties and articles, for English pages only: the contract itself (the text
# that is hashed, diffed, printed and signed) is Chinese.
HEADINGS_EN = {
    "甲方": "Party A",
    "乙方": "Party B",
    "甲方（采购方）": "Party A (buyer)",
    "乙方（供应方）": "Party B (supplier)",
    "甲方（委托方）": "Party A (client)",
    "乙方（研究开发方）": "Party B (developer)",
    "甲方（投资方）": "Party A (investor)",
    "乙方（被投资方）": "Party B (investee)",
    "甲方（孵化方）": "Party A (incubator)",
    "乙方（入孵企业）": "Party B (incubatee)",
    "乙方（服务方）": "Party B (service provider)",
    "标的": "Subject",
    "规格与质量标准": "Specification and quality",
    "交货": "Delivery",
    "验收": "Acceptance",
    "付款": "Payment",
    "违约责任": "Liability for breach",
    "争议解决": "Disputes",
    "其他约定": "Other terms",
    "合同生效": "Entry into force",
    "项目内容": "Project",
    "交付成果": "Deliverables",
    "进度": "Schedule",
    "知识产权": "Intellectual property",
    "保密": "Confidentiality",
    "投资金额": "Investment",
    "资金用途": "Use of funds",
    "公司治理": "Governance",
    "交割条件": "Closing conditions",
    "排他期": "Exclusivity",
    "孵化服务": "Incubation services",
    "孵化期限": "Term",
    "阶段目标": "Milestones",
    "服务内容": "Scope of service",
    "服务标准": "Service level",
    "服务期限": "Term",
    "协议依据": "Basis",
    "变更内容": "Changes",
    "金额": "Amount",
}


def heading(zh: str, locale: str = "zh") -> str:
    """A party's or an article's name in the page's language."""
    return HEADINGS_EN.get(zh, zh) if locale.startswith("en") else zh


TEMPLATES: dict[str, Template] = {}


def _register(t: Template) -> Template:
    TEMPLATES[t.code] = t
    return t


_register(
    Template(
        "supply_chain",
        "采购合同",
        "Purchase contract",
        "甲方（采购方）",
        "乙方（供应方）",
        COMMON_HEAD
        + (
            FieldSpec("product", "产品名称", "Product"),
            FieldSpec("specification", "规格型号及质量标准", "Specification and quality standard", "textarea"),
            FieldSpec("quantity", "数量", "Quantity"),
            FieldSpec("unit_price", "单价（元）", "Unit price (CNY)"),
            FieldSpec("delivery_schedule", "交货时间及地点", "Delivery schedule and place", "textarea"),
            FieldSpec("acceptance", "验收标准及方法", "Acceptance", "textarea"),
            FieldSpec("payment_milestones", "付款节点", "Payment by milestone", "textarea"),
        )
        + COMMON_TAIL,
        (
            Clause(
                "subject",
                "标的",
                "乙方向甲方供应{product}，数量{quantity}，单价{unit_price}元，合同总金额{amount}元（含税）。",
            ),
            Clause("quality", "规格与质量标准", "{specification}"),
            Clause("delivery", "交货", "{delivery_schedule}"),
            Clause("acceptance", "验收", "{acceptance}"),
            Clause("payment", "付款", "{payment_milestones}"),
            Clause(
                "liability",
                "违约责任",
                "任何一方违反本合同约定的，应赔偿守约方因此遭受的直接损失；逾期交货或逾期付款的，每日按逾期部分金额的万分之五支付违约金。",
            ),
            DISPUTE,
            OTHER,
            EFFECT,
        ),
    )
)
_register(
    Template(
        "rd",
        "技术开发合同",
        "R&D contract",
        "甲方（委托方）",
        "乙方（研究开发方）",
        COMMON_HEAD
        + (
            FieldSpec("project", "项目名称及目标", "Project and goals", "textarea"),
            FieldSpec("deliverables", "交付成果", "Deliverables", "textarea"),
            FieldSpec("schedule", "研发进度", "Schedule", "textarea"),
            FieldSpec("ip_ownership", "知识产权归属", "IP ownership", "textarea"),
            FieldSpec("acceptance", "验收标准及方法", "Acceptance", "textarea"),
            FieldSpec("payment_milestones", "付款节点", "Payment by milestone", "textarea"),
        )
        + COMMON_TAIL,
        (
            Clause("project", "项目内容", "甲方委托乙方研究开发：{project}。研究开发经费及报酬合计{amount}元。"),
            Clause("deliverables", "交付成果", "{deliverables}"),
            Clause("schedule", "进度", "{schedule}"),
            Clause("ip", "知识产权", "{ip_ownership}"),
            Clause("acceptance", "验收", "{acceptance}"),
            Clause("payment", "付款", "{payment_milestones}"),
            Clause(
                "confidentiality",
                "保密",
                "双方对在合作中知悉的对方技术秘密和商业秘密负有保密义务，保密期限自本合同生效之日起五年。",
            ),
            DISPUTE,
            OTHER,
            EFFECT,
        ),
    )
)
_register(
    Template(
        "investment",
        "投资条款清单",
        "Investment term sheet",
        "甲方（投资方）",
        "乙方（被投资方）",
        COMMON_HEAD
        + (
            FieldSpec("valuation", "投前估值（元）", "Pre-money valuation (CNY)"),
            FieldSpec("equity", "认购股权比例", "Equity subscribed"),
            FieldSpec("use_of_funds", "资金用途", "Use of funds", "textarea"),
            FieldSpec("governance", "治理安排", "Governance", "textarea"),
            FieldSpec("closing_conditions", "交割条件", "Closing conditions", "textarea"),
        )
        + COMMON_TAIL,
        (
            Clause("investment", "投资金额", "甲方以{amount}元认购乙方{equity}的股权，投前估值{valuation}元。"),
            Clause("use", "资金用途", "{use_of_funds}"),
            Clause("governance", "公司治理", "{governance}"),
            Clause("closing", "交割条件", "{closing_conditions}"),
            Clause("exclusivity", "排他期", "本条款清单签署后六十日内，乙方不得与第三方就同类融资进行实质性谈判。"),
            DISPUTE,
            OTHER,
            EFFECT,
        ),
    )
)
_register(
    Template(
        "incubation",
        "孵化协议",
        "Incubation agreement",
        "甲方（孵化方）",
        "乙方（入孵企业）",
        COMMON_HEAD
        + (
            FieldSpec("services", "孵化服务内容", "Incubation services", "textarea"),
            FieldSpec("term", "孵化期限", "Term"),
            FieldSpec("milestones", "阶段目标", "Milestones", "textarea"),
        )
        + COMMON_TAIL,
        (
            Clause("services", "孵化服务", "甲方为乙方提供以下孵化服务：{services}。服务费用合计{amount}元。"),
            Clause("term", "孵化期限", "{term}"),
            Clause("milestones", "阶段目标", "{milestones}"),
            DISPUTE,
            OTHER,
            EFFECT,
        ),
    )
)
_register(
    Template(
        "service",
        "服务合同",
        "Service contract",
        "甲方（委托方）",
        "乙方（服务方）",
        COMMON_HEAD
        + (
            FieldSpec("service_scope", "服务内容", "Scope of service", "textarea"),
            FieldSpec("service_level", "服务标准", "Service level", "textarea"),
            FieldSpec("term", "服务期限", "Term"),
            FieldSpec("payment_milestones", "付款方式", "Payment", "textarea"),
        )
        + COMMON_TAIL,
        (
            Clause("scope", "服务内容", "乙方为甲方提供：{service_scope}。服务费用合计{amount}元。"),
            Clause("level", "服务标准", "{service_level}"),
            Clause("term", "服务期限", "{term}"),
            Clause("payment", "付款", "{payment_milestones}"),
            DISPUTE,
            OTHER,
            EFFECT,
        ),
    )
)
_register(
    Template(
        "supplement",
        "补充协议",
        "Supplementary agreement",
        "甲方",
        "乙方",
        COMMON_HEAD
        + (
            FieldSpec("parent_number", "原合同编号", "Original contract number"),
            FieldSpec("changes", "变更内容", "Changes", "textarea"),
        )
        + COMMON_TAIL,
        (
            Clause(
                "basis",
                "协议依据",
                "双方就编号为{parent_number}的原合同达成如下补充协议；本协议未约定的，仍按原合同执行。",
            ),
            Clause("changes", "变更内容", "{changes}"),
            Clause("amount", "金额", "本补充协议涉及金额{amount}元。"),
            DISPUTE,
            OTHER,
            EFFECT,
        ),
    )
)

DEMAND_TYPE_TEMPLATE = {
    "supply_chain": "supply_chain",
    "rd": "rd",
    "investment": "investment",
    "incubation": "incubation",
    "service": "service",
}


def get_template(code: str) -> Template:
    try:
        return TEMPLATES[code]
    except KeyError:
        raise InputError(
            msg("template: unknown template %(code)r; use one of %(codes)s", code=code, codes=", ".join(TEMPLATES)),
            field="template",
        ) from None


# digits with optional thousands separators in groups of three, then at most a decimal part
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


def clean_money(key: str, text: str) -> str:
    """An amount in yuan as it is stored: ``1234567.50``. Refused rather than rewritten: more than
    two decimals (fen), thousands separators out of place, not a number, negative, beyond
    :data:`MAX_AMOUNT`; ``-0`` is 0."""
    if "," in text and not _GROUPED.fullmatch(text):
        raise InputError(
            msg("%(key)s: a thousands separator is out of place; write 1,234,567.89 or 1234567.89", key=key),
            field=key,
        )
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise InputError(msg("%(key)s: enter an amount in yuan, e.g. 1200000", key=key), field=key) from None
    if not number.is_finite() or number > MAX_AMOUNT:
        raise InputError(
            msg("%(key)s: enter an amount in yuan up to %(max)s", key=key, max=f"{MAX_AMOUNT:,.0f}"), field=key
        )
    if number < 0:
        raise InputError(msg("%(key)s: the amount cannot be negative", key=key), field=key)
    cents = number.quantize(Decimal("0.01"))
    if cents != number:
        raise InputError(
            msg("%(key)s: at most two decimal places (fen), e.g. 1200000.50; got %(raw)s", key=key, raw=text[:40]),
            field=key,
        )
    return f"{cents + 0:.2f}" if cents else "0.00"  # + 0 drops the sign of -0


def clean_fields(template: Template, values: dict[str, Any], *, partial: bool = False) -> dict[str, str]:
    """Field values as stripped strings; unknown keys rejected, lengths and money checked, required
    ones present unless ``partial`` (drafts may still have blanks)."""
    known = {f.key: f for f in template.fields}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InputError(
            msg("%(key)s: not a field of %(template)s", key=unknown[0], template=template.zh), field=unknown[0]
        )
    out: dict[str, str] = {}
    for spec in template.fields:
        raw = values.get(spec.key, "")
        # text or a number: a list or an object would be stored as its Python repr
        if not (raw is None or isinstance(raw, str) or _is_number(raw)):
            raise InputError(
                msg(
                    "%(key)s: give %(label)s as text or a number, not a list, an object or true/false",
                    key=spec.key,
                    label=spec.term(),
                ),
                field=spec.key,
            )
        text = "" if raw is None else str(raw).strip()
        if len(text) > 20000:
            raise InputError(msg("%(key)s: at most 20,000 characters", key=spec.key), field=spec.key)
        if len(text) > spec.max_length:
            raise InputError(
                msg(
                    "%(key)s: at most %(max)s characters (got %(n)s); keep it to one short line",
                    key=spec.key,
                    max=spec.max_length,
                    n=len(text),
                ),
                field=spec.key,
            )
        if spec.kind == "money" and text:
            text = clean_money(spec.key, text)
        if spec.required and not text and not partial:
            raise InputError(msg("%(key)s: %(label)s is required", key=spec.key, label=spec.term()), field=spec.key)
        out[spec.key] = text
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def clip_fields(template: Template, values: dict[str, Any]) -> dict[str, Any]:
    """Pre-filled values (from a demand, a meeting, a parent contract) cut to each field's length,
    so that a long demand title does not make a contract impossible to start."""
    limits = {f.key: f.max_length for f in template.fields}
    return {k: v[: limits[k]].strip() if isinstance(v, str) and k in limits else v for k, v in values.items()}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "____"


def render_clauses(template: Template, values: dict[str, str], locale: str = "zh") -> list[tuple[str, str, str]]:
    """``(clause key, numbered title, text)`` for every clause; blanks print as ____. The text is the
    Chinese that is signed; with an English ``locale`` only the numbered title is English."""
    filled = _Blank({k: v for k, v in values.items() if v})
    rows = []
    for n, clause in enumerate(template.clauses, start=1):
        text = clause.body.format_map(filled)
        if clause.key == "other" and not values.get("extra_terms"):
            text = "无。"
        if locale.startswith("en"):
            title = f"Article {n}. {heading(clause.title, locale)} ({clause.title})"
        else:
            title = f"第{n}条 {clause.title}"
        rows.append((clause.key, title, text))
    return rows


def content_text(template: Template, values: dict[str, str], buyer: str, supplier: str) -> str:
    """The contract as plain text, one clause paragraph per line (what round diffs compare)."""
    lines = [values.get("title") or template.zh, f"{template.party_a}：{buyer}", f"{template.party_b}：{supplier}"]
    for _key, title, text in render_clauses(template, values):
        lines.append(title)
        lines.extend(text.splitlines() or [""])
    return "\n".join(lines)


def content_hash(template: Template, values: dict[str, str], buyer: str, supplier: str) -> str:
    """SHA-256 over the canonical JSON of the template, parties and field values."""
    canonical = json.dumps(
        {"template": template.code, "buyer": buyer, "supplier": supplier, "fields": values},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
