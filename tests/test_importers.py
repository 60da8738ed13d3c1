"""Importers on fixtures cut from the real files: counts, idempotency, bad rows, typing, identity."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from marketplace.db import session_scope
from marketplace.errors import DataFileError
from marketplace.importers.chainkg import import_chainkg
from marketplace.importers.ickg import Quad, import_ickg, looks_like_company, type_entities
from marketplace.models import Firm, FirmKind, FirmName, FirmPatent, FirmProduct, Industry, Patent, Product
from marketplace.stats import counts


def _lines(path) -> int:
    return sum(1 for line in path.open(encoding="utf-8") if line.strip())


def test_chainkg_import_loads_every_company_and_industry(settings, fixture_data):
    with session_scope(settings) as s:
        report = import_chainkg(s, fixture_data / "chainkg", progress=False)
    assert report.added["firms"] == _lines(fixture_data / "chainkg" / "companies.jsonl")
    assert report.added["industries"] == _lines(fixture_data / "chainkg" / "industries.jsonl")
    with session_scope(settings) as s:
        catl = s.scalar(select(Firm).where(Firm.stock_code == "300568"))
        assert catl.name == "深圳市星源材质科技股份有限公司" and catl.short_name == "星源材质"
        assert catl.kind is FirmKind.LARGE and catl.region == "广东"
        assert {n.name for n in catl.names} >= {"星源材质", "深圳市星源材质科技股份有限公司"}
        assert s.scalar(select(func.count()).select_from(FirmProduct).where(FirmProduct.firm_id == catl.id)) > 0
        child = s.scalar(select(Industry).where(Industry.code == "110101"))
        assert child.level == 3 and child.parent.code == "110100"


def test_importing_twice_leaves_the_same_counts(settings, fixture_data):
    with session_scope(settings) as s:
        import_chainkg(s, fixture_data / "chainkg", progress=False)
        import_ickg(s, fixture_data / "ickg25", progress=False)
        first = counts(s)
    with session_scope(settings) as s:
        again_ck = import_chainkg(s, fixture_data / "chainkg", progress=False)
        again_ickg = import_ickg(s, fixture_data / "ickg25", progress=False)
        assert counts(s) == first
    assert sum(again_ck.added.values()) == 0 and sum(again_ickg.added.values()) == 0


def test_malformed_row_names_file_and_line_and_writes_nothing(settings, fixture_data):
    path = fixture_data / "chainkg" / "company_product.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(4, '{"company": "300568", "product": ')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFileError) as err, session_scope(settings) as s:
        import_chainkg(s, fixture_data / "chainkg", progress=False)
    assert err.value.path.endswith("company_product.jsonl") and err.value.line == 5
    assert "invalid JSON" in str(err.value)
    with session_scope(settings) as s:
        assert counts(s)["firms"] == 0 and counts(s)["products"] == 0


def test_skip_bad_skips_rows_and_reports_each(settings, fixture_data):
    path = fixture_data / "chainkg" / "companies.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"code": "12", "name": "坏代码"}\n')
        fh.write('{"name": "缺代码"}\n')
    with session_scope(settings) as s:
        report = import_chainkg(s, fixture_data / "chainkg", progress=False, skip_bad=True)
    reasons = [str(b) for b in report.skipped]
    assert len(reasons) == 2
    assert "not 6 digits" in reasons[0] and "missing field 'code'" in reasons[1]
    assert report.added["firms"] == _lines(path) - 2


def test_wrong_field_type_is_a_bad_row(settings, fixture_data):
    path = fixture_data / "chainkg" / "company_product.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"company": "300568", "product": "隔膜", "weight": "high"}, ensure_ascii=False) + "\n")
    with pytest.raises(DataFileError, match="weight must be a number"), session_scope(settings) as s:
        import_chainkg(s, fixture_data / "chainkg", progress=False)


def test_unknown_company_code_is_reported_and_skipped(settings, fixture_data):
    path = fixture_data / "chainkg" / "company_industry.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"company": "999999", "industry": "110101"}\n')
    with session_scope(settings) as s:
        report = import_chainkg(s, fixture_data / "chainkg", progress=False)
    assert report.notes["company_industry: unknown company code (skipped)"] >= 1
    assert report.skipped == []


def test_missing_file_is_a_clear_error(settings, fixture_data):
    (fixture_data / "chainkg" / "products.jsonl").unlink()
    with pytest.raises(Exception, match="products.jsonl: file not found"), session_scope(settings) as s:
        import_chainkg(s, fixture_data / "chainkg", progress=False)


def test_ickg_entities_are_typed_from_their_relations(settings, fixture_data):
    with session_scope(settings) as s:
        report = import_ickg(s, fixture_data / "ickg25", progress=False)
        assert report.notes["entities typed patent"] == s.scalar(select(func.count()).select_from(Patent))
        holder = s.scalar(select(Firm).join(FirmPatent, FirmPatent.firm_id == Firm.id).limit(1))
        assert holder is not None


def test_typing_votes_by_role_and_name():
    names = {1: "江苏某某科技有限公司", 2: "一种隔膜涂布装置", 3: "锂电池行业", 4: "格力", 5: "海信"}
    quads = [Quad(1, "持有专利", 2, None), Quad(1, "涉足行业", 3, None), Quad(4, "竞争", 5, None)]
    types = type_entities(names, quads)
    assert types == {1: "company", 2: "patent", 3: "industry", 4: "company", 5: "company"}
    assert looks_like_company("深圳市星源材质科技股份有限公司") and not looks_like_company("磷酸铁锂")


def test_firm_in_both_data_sets_under_same_registered_name_is_one_firm(settings, fixture_data):
    full = "深圳市星源材质科技股份有限公司"
    ickg = fixture_data / "ickg25"
    ids = [int(line.rsplit("\t", 1)[1]) for line in (ickg / "entity2id.txt").read_text(encoding="utf-8").splitlines()]
    new_firm, new_patent = max(ids) + 1, max(ids) + 2
    with (ickg / "entity2id.txt").open("a", encoding="utf-8") as fh:
        fh.write(f"{full}\t{new_firm}\n一种电池模组的热管理装置\t{new_patent}\n")
    with (ickg / "train.txt").open("a", encoding="utf-8") as fh:
        fh.write(f"{new_firm}\t5\t{new_patent}\t10\n")
    with session_scope(settings) as s:
        import_chainkg(s, fixture_data / "chainkg", progress=False)
        import_ickg(s, ickg, progress=False)
        firms = s.scalars(select(Firm).where(Firm.name == full)).all()
        assert len(firms) == 1
        assert "ickg" in firms[0].source and firms[0].stock_code == "300568"
        titles = {fp.patent.title for fp in firms[0].patents}
        assert "一种电池模组的热管理装置" in titles
        assert s.scalar(select(func.count()).select_from(FirmName).where(FirmName.name == full)) == 1


def test_ickg_bad_quad_names_file_and_line(settings, fixture_data):
    with (fixture_data / "ickg25" / "valid.txt").open("a", encoding="utf-8") as fh:
        fh.write("1\t2\n")
    with pytest.raises(DataFileError) as err, session_scope(settings) as s:
        import_ickg(s, fixture_data / "ickg25", progress=False)
    assert err.value.path.endswith("valid.txt") and "expected 4 tab-separated fields" in str(err.value)
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(Product)) == 0


def test_unknown_ickg_relation_is_refused(settings, fixture_data):
    with (fixture_data / "ickg25" / "relation2id.txt").open("a", encoding="utf-8") as fh:
        fh.write("借贷\t13\n")
    with (
        pytest.raises(DataFileError, match=r"relation2id.txt.*unknown relation\(s\) \['借贷'\]"),
        session_scope(settings) as s,
    ):
        import_ickg(s, fixture_data / "ickg25", progress=False)
