"""Reading a region as users type it: Chinese short and full names, cities, and English or pinyin
province names with or without 省 / Province; what names no place is refused naming the field."""

from __future__ import annotations

import pytest

from marketplace.errors import InputError
from marketplace.regions import normalize_region, parse_region


@pytest.mark.parametrize(
    ("typed", "province"),
    [
        ("福建", "福建"),
        ("福建省", "福建"),
        ("广东省深圳市", "广东"),
        ("苏州", "江苏"),
        ("Fujian", "福建"),
        ("fujian", "福建"),
        ("Fujian Province", "福建"),
        ("FUJIAN PROVINCE", "福建"),
        ("Fujian Sheng", "福建"),
        ("fujiansheng", "福建"),
        ("Fujian省", "福建"),
        ("Fújiàn", "福建"),
        ("Shaanxi", "陕西"),
        ("Shanxi", "山西"),
        ("Inner Mongolia", "内蒙古"),
        ("Guangxi Zhuang Autonomous Region", "广西"),
        ("Hong Kong SAR", "香港"),
        ("Shanghai, China", "上海"),
        ("Beijing Municipality", "北京"),
        ("Shenzhen City", "广东"),
        ("Xi'an", "陕西"),
    ],
)
def test_a_region_is_read_in_chinese_english_or_pinyin(typed, province):
    assert parse_region(typed) == province


@pytest.mark.parametrize("typed", ["Atlantis", "Fujianese", "shi", "Taizhou", "火星"])
def test_what_names_no_province_is_refused_naming_the_field(typed):
    with pytest.raises(InputError) as err:
        parse_region(typed, "region")
    assert err.value.field == "region"


def test_imports_keep_what_they_cannot_map():
    assert normalize_region("Atlantis") == "Atlantis"
    assert normalize_region("  ") is None
