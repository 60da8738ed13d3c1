"""Service messages: English as the code writes it, Simplified Chinese from the "errors" catalogue,
every message translated with the same placeholders, the compiled catalogue in step with its source."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from marketplace.errors import InputError, Message, Term, from_data, join, message_of, msg, render, to_data
from marketplace.models import DemandStatus
from marketplace.models.base import _check_transition
from tests.messages_helpers import CATALOGUE, zh

ROOT = Path(__file__).resolve().parent.parent
PO = CATALOGUE / "zh" / "LC_MESSAGES" / "errors.po"
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([srdfgx%])")


def test_a_message_keeps_its_english_text_and_renders_in_chinese_from_the_catalogue():
    message = msg("budget_min: larger than budget_max; swap them or leave one out")
    assert message == "budget_min: larger than budget_max; swap them or leave one out"
    assert zh(message) == "budget_min: 预算下限大于预算上限；请对调两者，或只填一个"
    assert render(message, "en", lambda t: "never used") == str(message)


def test_enum_parameters_read_as_their_value_in_english_and_their_label_in_chinese():
    with pytest.raises(InputError) as raised:
        _check_transition("demand", DemandStatus.OPEN, DemandStatus.DRAFT, {DemandStatus.CLOSED})
    message = message_of(raised.value)
    assert str(raised.value) == "demand cannot go from open to draft; allowed next: closed"
    assert zh(message) == "需求不能从“征集中”变为“草稿”；下一步只能是：已关闭"


def test_joined_and_nested_messages_are_each_translated():
    joined = join([msg("demand"), msg("contract")])
    assert joined == "demand; contract" and zh(joined) == "需求; 合同"
    nested = msg("%(field)s: %(reason)s", field="deadline", reason=msg("none (final state)"))
    assert zh(nested) == "deadline: 无（已是最终状态）"


def test_a_term_reads_in_english_in_the_message_and_in_chinese_on_a_chinese_page():
    message = msg(
        "%(key)s: %(name)s must be a finite number", key="revenue", name=Term("上年度营业收入总额", "Revenue")
    )
    assert message == "revenue: Revenue must be a finite number"
    assert zh(message) == "revenue: 上年度营业收入总额 须为有限数值"
    assert to_data(message)["params"]["name"] == "Revenue"


def test_a_message_without_translation_or_with_a_broken_one_falls_back_to_english():
    assert zh(msg("no such message %(x)s", x=1)) == "no such message 1"
    broken = Message("demand %(id)s", {"id": 3})
    assert render(broken, "zh", lambda t: "需求 %(missing)s") == "demand 3"


def test_a_message_survives_pickling_with_its_template():
    message = msg("firm %(id)s does not exist; find firms with `firms search TEXT`", id=7)
    copy = pickle.loads(pickle.dumps(message))
    assert copy == message and copy.template == message.template and copy.params == {"id": 7}


def test_a_stored_message_comes_back_with_its_template_and_nested_parts():
    message = msg(
        "%(summary)s: %(detail)s",
        summary=msg("not scheduled"),
        detail=join([msg("participant %(pid)r is available in no slot", pid="华为"), msg("the meeting has weight 0")]),
    )
    data = to_data(message)
    assert json.loads(json.dumps(data)) == data  # stored in a JSON column as it is
    copy = from_data(data)
    assert copy == message and isinstance(copy, Message)
    assert zh(copy) == "未排入：参会方 '华为' 没有任何可参会时段; 该洽谈权重为 0"
    assert to_data("plain text") == "plain text" and from_data("plain text") == "plain text"
    assert to_data(msg("%(status)s", status=DemandStatus.OPEN)) == {
        "template": "%(status)s",
        "params": {"status": "open"},
    }


def _templates_in_code() -> set[str]:
    found = set()
    for package in ("marketplace", "web", "embeddings", "graph"):
        for _file, _line, text, _comments, _context in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords={"msg": None}, comment_tags=()
        ):
            found.add(text)
    return found


def _placeholders(text: str) -> list[tuple[str, str]]:
    return sorted(PLACEHOLDER.findall(text))


def test_every_message_in_the_code_has_a_chinese_translation_with_the_same_placeholders():
    with PO.open("rb") as f:
        catalogue = {m.id: m.string for m in read_po(f) if m.id}
    templates = _templates_in_code()
    assert len(templates) > 100  # the extraction found the services' messages
    untranslated = sorted(t for t in templates if not catalogue.get(t))
    assert not untranslated, f"run `make translations` and translate: {untranslated[:5]}"
    mismatched = [t for t in templates if _placeholders(t) != _placeholders(catalogue[t])]
    assert not mismatched, mismatched[:5]
    assert not any(re.search(r"[\u4e00-\u9fff]", t) and t == catalogue[t] for t in templates if "%(" not in t)


def test_the_compiled_catalogue_matches_its_source():
    with PO.open("rb") as f:
        source = {m.id: m.string for m in read_po(f) if m.id and m.string}
    with PO.with_suffix(".mo").open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    assert compiled == source, "run `make translations` to compile web/translations_errors"


def test_pydantic_messages_are_translated_only_where_their_english_is_unchanged():
    from marketplace.demands.workflow import parse_demand

    with pytest.raises(InputError) as raised:
        parse_demand({"owner_firm_id": 1, "type": "rd", "title": "x", "budget_min": "abc"})
    assert str(raised.value) == (
        "title: String should have at least 2 characters; "
        "budget_min: Input should be a valid number, unable to parse string as a number"
    )
    assert zh(message_of(raised.value)) == "title: 至少需要 2 个字符; budget_min: 请填写数字"


def test_pages_name_fields_by_their_label_and_show_no_code_keys():
    """Messages start with their field for the API and forms; people read a label or nothing."""
    from web.messages import for_people

    assert for_people("to_firm_id: 企业 19483 不是本活动的参会企业", "zh") == "企业 19483 不是本活动的参会企业"
    assert for_people("status: nothing is scheduled yet; run the scheduler first", "en") == (
        "Nothing is scheduled yet; run the scheduler first"
    )
    assert for_people("title: 请填写政策名称", "zh") == "标题：请填写政策名称"
    assert for_people("sign_place: at most 100 characters", "en") == "Place of signing: at most 100 characters"
    assert for_people("rules[1].min: must be a number; registration: already approved", "en") == (
        "Rules #2: must be a number; Already approved"
    )
    assert for_people("纯文本，无字段", "zh") == "纯文本，无字段"
    assert for_people("上年度营业收入总额: 须为数字", "zh") == "上年度营业收入总额: 须为数字"  # not a code key
