"""The contract PDF (reportlab) in Chinese with an embedded, subset TrueType CJK font.

The font is WenQuanYi Zen Hei from Debian's fonts-wqy-zenhei; its first face is extracted from
the TrueType collection once (fontTools) so reportlab and pyHanko's signature stamp embed the same
TrueType subset. The last page is the signing page: parties, content hash, the audit-chain head
at finalisation, a verification link with its QR code, and two empty areas where the signature
fields go (:data:`SIGNATURE_BOXES`). User text is XML-escaped before it reaches reportlab markup.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from marketplace.contracts.templates import Template, render_clauses
from marketplace.errors import MarketplaceError, msg

DEFAULT_FONT_SOURCE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
FONT_NAME = "WQYZenHei"
# (x1, y1, x2, y2) in PDF points on the last page: buyer left, supplier right.
SIGNATURE_BOXES = {"buyer": (60, 70, 285, 190), "supplier": (310, 70, 535, 190)}


def cjk_font(cache_dir: Path, source: Path = DEFAULT_FONT_SOURCE) -> Path:
    """A plain TrueType file of the CJK font (first face of a .ttc), extracted once into cache_dir."""
    source = Path(source)
    if not source.is_file():
        raise MarketplaceError(
            msg(
                "CJK font %(path)s is missing: install Debian's fonts-wqy-zenhei (make system-deps) "
                "or set MARKETPLACE_CONTRACTS_FONT to a TrueType/TTC file",
                path=str(source),
            )
        )
    if source.suffix.lower() != ".ttc":
        return source
    target = Path(cache_dir) / f"{source.stem}-0.ttf"
    if not target.is_file():
        from fontTools.ttLib import TTCollection

        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".ttf")
        os.close(fd)
        TTCollection(str(source)).fonts[0].save(tmp)
        os.replace(tmp, target)
    return target


_SUBSET_OPTIONS: dict[str, object] = {
    "layout_features": [],
    "notdef_outline": True,
    "hinting": False,
}
_DROP_TABLES = ["FFTM", "BDF ", "EBDT", "EBLC", "EBSC"]


def _subset(src: Path, text: str, target: Path) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    opts = subset.Options(**_SUBSET_OPTIONS)
    opts.drop_tables += _DROP_TABLES
    font = TTFont(str(src), lazy=True)
    subsetter = subset.Subsetter(opts)
    subsetter.populate(text=text)
    subsetter.subset(font)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".ttf")
    os.close(fd)
    font.save(tmp)
    os.replace(tmp, target)


def _common_chars() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)}
    for b1 in range(0xA1, 0xF8):
        for b2 in range(0xA1, 0xFF):
            try:
                chars.add(bytes([b1, b2]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(sorted(chars))


def stamp_font(cache_dir: Path, text: str, source: Path = DEFAULT_FONT_SOURCE) -> Path:
    """A tiny TrueType font holding just the glyphs of ``text``, for pyHanko's signature stamp.

    Subsetting the 10 MB face per signature costs ~1 s, so a GB2312 subset is cut once and the
    per-signature subset comes from it; text outside GB2312 falls back to the full face."""
    import hashlib

    cache_dir = Path(cache_dir)
    full = cjk_font(cache_dir, source)
    common = cache_dir / f"{full.stem}-gb2312.ttf"
    if not common.is_file():
        _subset(full, _common_chars(), common)
    base = common if all(ch in _common_set() or ch in "\n" for ch in text) else full
    target = cache_dir / "stamps" / f"{hashlib.sha256((base.name + text).encode()).hexdigest()[:24]}.ttf"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        _subset(base, text, target)
    return target


_COMMON: set[str] = set()


def _common_set() -> set[str]:
    if not _COMMON:
        _COMMON.update(_common_chars())
    return _COMMON


def register_font(font_file: Path) -> str:
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(font_file)))
    return FONT_NAME


@dataclass(frozen=True)
class ContractDocument:
    """Everything printed on a contract PDF."""

    number: str
    token: str
    template: Template
    values: dict[str, str]
    buyer: str
    supplier: str
    round_number: int
    content_hash: str
    verify_url: str
    audit_head: str
    finalised_at: str  # with its zone, as the platform shows times: 2026-12-08 09:30 北京时间


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=10.5, leading=17, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=26, alignment=TA_CENTER, spaceAfter=6),
        "meta": ParagraphStyle(
            "meta", parent=base, fontSize=8.5, leading=12, textColor=colors.grey, alignment=TA_CENTER
        ),
        "h": ParagraphStyle("h", parent=base, fontSize=11.5, leading=19, spaceBefore=8, spaceAfter=2),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11),
    }


def _para(text: str, style: ParagraphStyle) -> list[Paragraph]:
    return [Paragraph(escape(line) or "&nbsp;", style) for line in text.splitlines() or [""]]


def _qr(url: str, size: float = 28 * mm) -> Drawing:
    widget = QrCodeWidget(url)
    x1, y1, x2, y2 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x2 - x1), 0, 0, size / (y2 - y1), 0, 0])
    drawing.add(widget)
    return drawing


def render_contract(doc: ContractDocument, font_file: Path) -> bytes:
    """The unsigned contract PDF: clauses, then the signing page."""
    font = register_font(font_file)
    st = _styles(font)
    t = doc.template
    story: list = [
        Paragraph(escape(doc.values.get("title") or t.zh), st["title"]),
        Paragraph(escape(f"合同编号 No. {doc.number} · 第 {doc.round_number} 轮定稿 · {t.zh} / {t.en}"), st["meta"]),
        Spacer(1, 6 * mm),
    ]
    parties = Table(
        [
            [Paragraph(escape(t.party_a), st["body"]), Paragraph(escape(doc.buyer), st["body"])],
            [Paragraph(escape(t.party_b), st["body"]), Paragraph(escape(doc.supplier), st["body"])],
            [Paragraph("签订地点", st["body"]), Paragraph(escape(doc.values.get("sign_place", "")), st["body"])],
        ],
        colWidths=[38 * mm, 130 * mm],
        splitInRow=1,  # a cell taller than a page (a very long place or firm name) continues on the next
    )
    parties.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [parties, Spacer(1, 4 * mm)]
    for _key, title, text in render_clauses(t, doc.values):
        story.append(Paragraph(escape(title), st["h"]))
        story += _para(text, st["body"])
    story += [PageBreak(), Paragraph("签署页 / Signature page", st["title"]), Spacer(1, 4 * mm)]
    info = [
        f"{t.party_a}：{doc.buyer}",
        f"{t.party_b}：{doc.supplier}",
        f"合同编号：{doc.number}    定稿轮次：第 {doc.round_number} 轮    定稿时间：{doc.finalised_at}",
        f"内容哈希 (SHA-256)：{doc.content_hash}",
        f"审计链头 (audit chain head)：{doc.audit_head}",
        "本合同以 PAdES 电子签名签署，每位签署人使用平台 CA 为其本人签发的证书，时间戳来自平台 RFC 3161 时间戳服务。",
        f"验证 / Verify：{doc.verify_url}",
    ]
    rows = [[[p for line in info for p in _para(line, st["small"])], _qr(doc.verify_url)]]
    table = Table(rows, colWidths=[135 * mm, 32 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(table)
    out = io.BytesIO()

    def last_page(canvas, _doc) -> None:  # noqa: ANN001 - reportlab callback
        canvas.saveState()
        canvas.setFont(font, 10)
        for party, label in (("buyer", t.party_a), ("supplier", t.party_b)):
            x1, y1, x2, y2 = SIGNATURE_BOXES[party]
            canvas.drawString(x1, y2 + 8, f"{label}签章")
            canvas.setStrokeColor(colors.lightgrey)
            canvas.rect(x1, y1, x2 - x1, y2 - y1)
        canvas.restoreState()

    def page_number(canvas, _doc) -> None:  # noqa: ANN001 - reportlab callback
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.drawCentredString(A4[0] / 2, 12 * mm, f"{doc.number} · 第 {canvas.getPageNumber()} 页")
        canvas.restoreState()

    pdf = _SigningPageDoc(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=20 * mm,
        title=doc.values.get("title") or t.zh,
        author="ChainMatch",
        subject=f"{t.zh} {doc.number}",
        keywords=f"chainmatch-contract:{doc.token} content-sha256:{doc.content_hash}",
        creator="ChainMatch 云签约",
    )
    pdf.last_page_hook = last_page
    pdf.build(story, onFirstPage=page_number, onLaterPages=page_number)
    return out.getvalue()


class _SigningPageDoc(SimpleDocTemplate):
    """Draws the signature areas on the final page only."""

    last_page_hook = None

    def handle_pageEnd(self) -> None:  # noqa: N802 - reportlab API
        if not self._nameSpace.get("_remaining_flowables", True) and self.last_page_hook:
            self.last_page_hook(self.canv, self)
        super().handle_pageEnd()

    def afterFlowable(self, flowable) -> None:  # noqa: ANN001, N802 - reportlab API
        if (
            isinstance(flowable, Table)
            and len(flowable._cellvalues[0]) == 2
            and isinstance(flowable._cellvalues[0][1], Drawing)
        ):
            self._nameSpace["_remaining_flowables"] = False


def render_completion(
    *,
    number: str,
    title: str,
    buyer: str,
    supplier: str,
    rounds: list[dict[str, str]],
    signatures: list[dict[str, str]],
    signed_sha256: str,
    audit_head: str,
    verify_url: str,
    font_file: Path,
) -> bytes:
    """The completion certificate (签署完成证明): who signed what, when, and how intent was proven."""
    font = register_font(font_file)
    st = _styles(font)
    story: list = [
        Paragraph("电子签署完成证明 / Completion certificate", st["title"]),
        Paragraph(escape(f"合同编号 No. {number}"), st["meta"]),
        Spacer(1, 5 * mm),
        Paragraph(escape(f"合同名称：{title}"), st["body"]),
        Paragraph(escape(f"甲方：{buyer}"), st["body"]),
        Paragraph(escape(f"乙方：{supplier}"), st["body"]),
        Paragraph("协商轮次与内容哈希 / Rounds and content hashes", st["h"]),
    ]
    for r in rounds:
        story.append(
            Paragraph(escape(f"第 {r['number']} 轮 · {r['at']} · {r['by']} · SHA-256 {r['hash']}"), st["small"])
        )
    story.append(Paragraph("签署记录 / Signatures", st["h"]))
    for s in signatures:
        story += _para(
            f"{s['party']}：{s['signer']}\n证书序列号 {s['serial']} · 可信时间 {s['timestamp']}"
            f" · 意愿认证 {s['intent']}\n"
            f"签署后文件 SHA-256 {s['sha256']}",
            st["small"],
        )
        story.append(Spacer(1, 2 * mm))
    story += [
        Paragraph("完整性 / Integrity", st["h"]),
        *_para(f"最终签署文件 SHA-256：{signed_sha256}\n审计链头 (audit chain head)：{audit_head}", st["small"]),
        Spacer(1, 3 * mm),
        Table(
            [[_para(f"验证 / Verify: {verify_url}", st["small"]), _qr(verify_url, 24 * mm)]],
            colWidths=[135 * mm, 30 * mm],
        ),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"完成证明 {number}",
        author="ChainMatch",
    ).build(story)
    return out.getvalue()
