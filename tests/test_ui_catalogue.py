"""Page text: every Chinese msgid the pages and their Python code write (``_()``, ``_l()``, as
babel.cfg extracts them) has an English translation without Chinese in it, with the same
placeholders, and the compiled English catalogue is in step with its source."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = [ROOT / "web" / d / "en" / "LC_MESSAGES" for d in ("translations", "translations_services")]
CJK = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdrfg]")


def _english() -> dict[str, str]:
    out: dict[str, str] = {}
    for folder in CATALOGUES:
        with (folder / "messages.po").open("rb") as fh:
            out.update({m.id: m.string for m in read_po(fh) if isinstance(m.id, str) and m.id and m.string})
    return out


def _page_msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    method_map = [("web/**.py", "python"), ("web/templates/**.html", "jinja2")]
    keywords = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None}
    for filename, line, text, _comments, _context in extract_from_dir(
        ROOT, method_map=method_map, keywords=keywords, comment_tags=()
    ):
        if isinstance(text, str) and text:
            found.setdefault(text, f"{filename}:{line}")
    return found


def test_every_page_text_has_an_english_translation_with_the_same_placeholders():
    english = _english()
    msgids = _page_msgids()
    assert len(msgids) > 300  # the extraction found the pages' text
    missing = sorted(f"{where}: {text}" for text, where in msgids.items() if text not in english)
    assert not missing, f"add these to web/translations/en/LC_MESSAGES/messages.po: {missing[:5]}"
    chinese = sorted(text for text in msgids if CJK.search(english[text]))
    assert not chinese, f"English translations that keep Chinese: {chinese[:5]}"
    mismatched = [t for t in msgids if sorted(PLACEHOLDER.findall(t)) != sorted(PLACEHOLDER.findall(english[t]))]
    assert not mismatched, mismatched[:5]


def test_the_compiled_english_catalogues_match_their_sources():
    for folder in CATALOGUES:
        with (folder / "messages.po").open("rb") as fh:
            source = {m.id: m.string for m in read_po(fh) if m.id and m.string}
        with (folder / "messages.mo").open("rb") as fh:
            compiled = {m.id: m.string for m in read_mo(fh) if m.id}
        assert compiled == source, f"run `make translations` to compile {folder}"
