"""Province-level regions of China and inference of a firm's region from its registered name.

Registered Chinese company names usually start with, or put in brackets, the place of
registration ("江苏晟之光农业科技有限公司", "复瑞医疗科技（上海）有限公司"). The region is stored
as the province's short name (上海, 江苏, 广东 ...).
"""

from __future__ import annotations

import re

from marketplace.errors import InputError, msg

PROVINCES: tuple[str, ...] = (
    "北京",
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
)

CITY_PROVINCE: dict[str, str] = {
    "深圳": "广东",
    "广州": "广东",
    "东莞": "广东",
    "佛山": "广东",
    "珠海": "广东",
    "惠州": "广东",
    "中山": "广东",
    "汕头": "广东",
    "苏州": "江苏",
    "南京": "江苏",
    "无锡": "江苏",
    "常州": "江苏",
    "南通": "江苏",
    "徐州": "江苏",
    "扬州": "江苏",
    "昆山": "江苏",
    "杭州": "浙江",
    "宁波": "浙江",
    "温州": "浙江",
    "绍兴": "浙江",
    "嘉兴": "浙江",
    "台州": "浙江",
    "金华": "浙江",
    "湖州": "浙江",
    "厦门": "福建",
    "福州": "福建",
    "泉州": "福建",
    "青岛": "山东",
    "济南": "山东",
    "烟台": "山东",
    "潍坊": "山东",
    "成都": "四川",
    "绵阳": "四川",
    "武汉": "湖北",
    "宜昌": "湖北",
    "合肥": "安徽",
    "芜湖": "安徽",
    "西安": "陕西",
    "长沙": "湖南",
    "株洲": "湖南",
    "郑州": "河南",
    "洛阳": "河南",
    "大连": "辽宁",
    "沈阳": "辽宁",
    "长春": "吉林",
    "哈尔滨": "黑龙江",
    "石家庄": "河北",
    "唐山": "河北",
    "太原": "山西",
    "南昌": "江西",
    "昆明": "云南",
    "贵阳": "贵州",
    "南宁": "广西",
    "兰州": "甘肃",
    "银川": "宁夏",
    "西宁": "青海",
    "乌鲁木齐": "新疆",
    "呼和浩特": "内蒙古",
    "包头": "内蒙古",
    "拉萨": "西藏",
    "海口": "海南",
    "三亚": "海南",
    "宁德": "福建",
    "龙岩": "福建",
    "漳州": "福建",
    "江门": "广东",
    "肇庆": "广东",
    "盐城": "江苏",
    "镇江": "江苏",
    "泰州": "江苏",
    "淄博": "山东",
    "威海": "山东",
    "临沂": "山东",
    "襄阳": "湖北",
    "岳阳": "湖南",
    "衡阳": "湖南",
    "赣州": "江西",
    "宜春": "江西",
    "遵义": "贵州",
    "柳州": "广西",
    "桂林": "广西",
    "鄂尔多斯": "内蒙古",
}

_BRACKETED = re.compile(r"[（(]([^）)]{2,6})[）)]")


def _place_to_province(text: str) -> str | None:
    for province in PROVINCES:
        if text.startswith(province):
            return province
    for city, province in CITY_PROVINCE.items():
        if text.startswith(city):
            return province
    return None


def infer_region(registered_name: str | None) -> str | None:
    """The province a registered company name points to, or None when it names none."""
    if not registered_name:
        return None
    found = _place_to_province(registered_name)
    if found:
        return found
    for bracketed in _BRACKETED.findall(registered_name):
        found = _place_to_province(bracketed)
        if found:
            return found
    return None


def normalize_region(raw: str | None) -> str | None:
    """Map user input such as "上海市", "广东省深圳市" or "苏州" to a province short name."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    return _place_to_province(text) or text


def parse_region(raw: str | None, field: str = "region") -> str | None:
    """What a user typed as a region, as a province short name (None when empty); anything that
    names no province or known city is refused naming the field. Imports use
    :func:`normalize_region`, which keeps what it cannot map."""
    region = normalize_region(raw)
    if region is not None and region not in PROVINCES:
        raise InputError(
            msg(
                "%(field)s: %(raw)r is not a province or city of China (e.g. 上海, 江苏, 苏州); "
                "leave it empty for anywhere",
                field=field,
                raw=raw.strip()[:40],
            ),
            field=field,
        )
    return region
