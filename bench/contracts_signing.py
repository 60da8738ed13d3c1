"""Benchmark: PAdES signing and verification of a 10-page contract with the platform CA and the
in-process RFC 3161 TSA, signed PDF size, and N contracts signed one after the other.

Baseline in the same run: a PAdES B-B signature (no timestamp, no embedded validation data) with
the same key and document, to show what B-T + B-LTA cost.

Usage: python bench/contracts_signing.py [--samples 20] [--sequential 1000] [--json]
Works in a throw-away instance directory; needs Debian's fonts-wqy-zenhei.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, percentiles, timed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from tqdm import tqdm

from marketplace.config import Settings
from marketplace.contracts import pades, pki, render, tsa
from marketplace.contracts.templates import clean_fields, content_hash, get_template
from marketplace.contracts.tsa import to_asn1_cert, to_asn1_key

ANNEX_LINE = "附件技术要求第{n}项：隔膜孔隙率 40%±3%，透气度 200±50 s/100mL，热收缩率（90℃/1h）MD≤3%、TD≤1%，"
FIELDS = {
    "title": "锂电池湿法涂覆隔膜年度采购合同（基准测试）",
    "amount": "12000000",
    "sign_place": "上海",
    "product": "锂电池湿法涂覆隔膜",
    "specification": "9μm 湿法基膜 + 3μm 陶瓷涂覆，符合 GB/T 36363-2018",
    "quantity": "2000 万平方米",
    "unit_price": "0.60",
    "delivery_schedule": "2027 年每月交付",
    "acceptance": "到货 10 日内抽检",
    "payment_milestones": "预付 30%，验收后 60%，质保期满 10%",
}


def ten_page_pdf(font: Path) -> tuple[bytes, int, render.ContractDocument]:
    """Grow the annex until the contract has 10 pages."""
    tpl = get_template("supply_chain")
    lines = 60
    while True:
        annex = "\n".join(ANNEX_LINE.format(n=i + 1) * 2 for i in range(lines))
        values = clean_fields(tpl, {**FIELDS, "extra_terms": annex})
        doc = render.ContractDocument(
            "CM-BENCH-000001",
            "benchtoken",
            tpl,
            values,
            "测试采购集团股份有限公司",
            "测试隔膜科技（上海）有限公司",
            2,
            content_hash(tpl, values, "a", "b"),
            "http://127.0.0.1:5000/contracts/verify/benchtoken",
            "0" * 64,
            "2026-11-26 03:00",
        )
        pdf = pades.add_signature_fields(render.render_contract(doc, font))
        pages = int(PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Count"])
        if pages >= 10:
            return pdf, pages, doc
        lines += 12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--sequential", type=int, default=1000, help="contracts signed one after the other")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-contracts-"))
    settings = Settings(instance_dir=tmp)
    ca = pki.create_ca("http://127.0.0.1:5000/contracts/pki/crl")
    font = render.cjk_font(settings.contracts_font_cache, settings.contracts_font)
    pdf, pages, doc = ten_page_pdf(font)
    render_ms = timed(lambda: pades.add_signature_fields(render.render_contract(doc, font)))
    crls = [pki.make_crl(ca, []), pki.make_crl(ca, [], issuer=ca.root)]
    users = {}
    for party, name, firm in (
        ("buyer", "采购经理王", "测试采购集团股份有限公司"),
        ("supplier", "总经理赵", "测试隔膜科技（上海）有限公司"),
    ):
        key = pki.new_user_key()
        users[party] = (key, pki.issue_user_cert(ca, key, name=name, email=f"{party}@bench.cn", firm=firm), name, firm)
    provider = pades.LocalPadesProvider()

    def request(party: str) -> pades.SignRequest:
        key, cert, name, firm = users[party]
        return pades.SignRequest(
            party,
            party == "buyer",
            name,
            firm,
            "同意签署",
            "上海",
            cert,
            key,
            [ca.issuing.cert, ca.root.cert],
            pades.validation_context([ca.root.cert], [ca.issuing.cert], crls, for_signing=True),
            tsa.PlatformTimeStamper(ca),
            settings.contracts_font_cache,
        )

    provider.sign(pdf, request("buyer"))  # warm-up: stamp-font cache, imports
    sign_ms = [timed(lambda: provider.sign(pdf, request("buyer"))) for _ in range(args.samples)]
    buyer_signed = provider.sign(pdf, request("buyer"))
    both = provider.sign(buyer_signed, request("supplier"))
    roots, others = [ca.root.cert], [ca.issuing.cert]
    report = pades.verify_pdf(both, roots, others, crls)
    assert report.ok, report.problems
    verify_ms = [timed(lambda: pades.verify_pdf(both, roots, others, crls)) for _ in range(args.samples)]

    key, cert, _name, _firm = users["buyer"]
    plain = signers.SimpleSigner(
        signing_cert=to_asn1_cert(cert),
        signing_key=to_asn1_key(key),
        cert_registry=SimpleCertificateStore.from_certs([to_asn1_cert(ca.issuing.cert), to_asn1_cert(ca.root.cert)]),
    )

    def baseline() -> bytes:
        meta = signers.PdfSignatureMetadata(
            field_name="BuyerSignature", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
        )
        out = io.BytesIO()
        signers.PdfSigner(meta, signer=plain).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
        return out.getvalue()

    baseline_ms = [timed(baseline) for _ in range(args.samples)]

    errors = 0
    seq_started = time.perf_counter()
    for i in tqdm(range(args.sequential), desc="sequential signings", file=sys.stderr, mininterval=10):
        try:
            signed = provider.sign(pdf, request("buyer"))
            if i % 100 == 0 and not pades.verify_pdf(signed, roots, others, crls).ok:
                errors += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors += 1
            print(f"signing {i} failed: {exc}", file=sys.stderr)
        if (i + 1) % 100 == 0:  # partial numbers survive an interrupted run
            elapsed = time.perf_counter() - seq_started
            print(
                json.dumps({"done": i + 1, "errors": errors, "seconds": round(elapsed, 1)}), file=sys.stderr, flush=True
            )
    seq_s = time.perf_counter() - seq_started
    result = {
        "machine": machine(),
        "pages": pages,
        "render_10_pages_ms": round(render_ms, 1),
        "sign_b_lta_ms": percentiles(sign_ms),
        "baseline_sign_b_b_ms": percentiles(baseline_ms),
        "verify_two_signatures_ms": percentiles(verify_ms),
        "sizes_bytes": {
            "unsigned": len(pdf),
            "buyer_signed": len(buyer_signed),
            "both_signed": len(both),
            "font_file": font.stat().st_size,
        },
        "sequential": {
            "n": args.sequential,
            "errors": errors,
            "seconds": round(seq_s, 1),
            "per_second": round(args.sequential / seq_s, 2) if seq_s else None,
        },
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
