"""Province-level regions of China and inference of a firm's region from its registered name.

Registered Chinese company names usually start with, or put in brackets, the place of
registration ("江苏晟之光农业科技有限公司", "复瑞医疗科技（上海）有限公司"). The region is stored
as the province's short name (上海, 江苏, 广东 ...). What users type may also be English or pinyin
("Fujian", "Fujian Province", "fujiansheng", "Guangxi Zhuang Autonomous Region", "Shenzhen"):
:func:`normalize_region` reads those too.
"""

from __future__ import annotations

import re
import unicodedata

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

# English and pinyin names (lower case, without spaces) of the provinces and of the cities above
# whose pinyin is unambiguous (台州 and 泰州 are both "Taizhou": left out)
LATIN_PROVINCES: dict[str, str] = {
    "beijing": "北京", "peking": "北京", "tianjin": "天津", "shanghai": "上海", "chongqing": "重庆",
    "hebei": "河北", "shanxi": "山西", "liaoning": "辽宁", "jilin": "吉林", "heilongjiang": "黑龙江",
    "jiangsu": "江苏", "zhejiang": "浙江", "anhui": "安徽", "fujian": "福建", "jiangxi": "江西",
    "shandong": "山东", "henan": "河南", "hubei": "湖北", "hunan": "湖南", "guangdong": "广东",
    "hainan": "海南", "sichuan": "四川", "guizhou": "贵州", "yunnan": "云南", "shaanxi": "陕西",
    "gansu": "甘肃", "qinghai": "青海", "taiwan": "台湾", "innermongolia": "内蒙古", "neimenggu": "内蒙古",
    "neimongol": "内蒙古", "guangxi": "广西", "tibet": "西藏", "xizang": "西藏", "ningxia": "宁夏",
    "xinjiang": "新疆", "hongkong": "香港", "xianggang": "香港", "macau": "澳门", "macao": "澳门", "aomen": "澳门",
}  # fmt: skip
LATIN_CITIES: dict[str, str] = {
    "shenzhen": "深圳", "guangzhou": "广州", "canton": "广州", "dongguan": "东莞", "foshan": "佛山",
    "zhuhai": "珠海", "huizhou": "惠州", "zhongshan": "中山", "shantou": "汕头", "suzhou": "苏州",
    "nanjing": "南京", "wuxi": "无锡", "changzhou": "常州", "nantong": "南通", "xuzhou": "徐州",
    "yangzhou": "扬州", "kunshan": "昆山", "hangzhou": "杭州", "ningbo": "宁波", "wenzhou": "温州",
    "shaoxing": "绍兴", "jiaxing": "嘉兴", "jinhua": "金华", "huzhou": "湖州", "xiamen": "厦门",
    "fuzhou": "福州", "quanzhou": "泉州", "qingdao": "青岛", "jinan": "济南", "yantai": "烟台",
    "weifang": "潍坊", "chengdu": "成都", "mianyang": "绵阳", "wuhan": "武汉", "yichang": "宜昌",
    "hefei": "合肥", "wuhu": "芜湖", "xian": "西安", "changsha": "长沙", "zhuzhou": "株洲",
    "zhengzhou": "郑州", "luoyang": "洛阳", "dalian": "大连", "shenyang": "沈阳", "changchun": "长春",
    "harbin": "哈尔滨", "shijiazhuang": "石家庄", "tangshan": "唐山", "taiyuan": "太原", "nanchang": "南昌",
    "kunming": "昆明", "guiyang": "贵阳", "nanning": "南宁", "lanzhou": "兰州", "yinchuan": "银川",
    "xining": "西宁", "urumqi": "乌鲁木齐", "wulumuqi": "乌鲁木齐", "hohhot": "呼和浩特", "huhehaote": "呼和浩特",
    "baotou": "包头", "lhasa": "拉萨", "lasa": "拉萨", "haikou": "海口", "sanya": "三亚", "ningde": "宁德",
    "longyan": "龙岩", "zhangzhou": "漳州", "jiangmen": "江门", "zhaoqing": "肇庆", "yancheng": "盐城",
    "zhenjiang": "镇江", "zibo": "淄博", "weihai": "威海", "linyi": "临沂", "xiangyang": "襄阳",
    "yueyang": "岳阳", "hengyang": "衡阳", "ganzhou": "赣州", "yichun": "宜春", "zunyi": "遵义",
    "liuzhou": "柳州", "guilin": "桂林", "ordos": "鄂尔多斯", "eerduosi": "鄂尔多斯",
}  # fmt: skip
# what may follow a Latin name: "Province", "Sheng", "省", "City", "Shi", "市", "Autonomous Region" …
_LATIN_SUFFIXES = (
    "specialadministrativeregion", "autonomousregion", "municipality", "province", "zizhiqu", "uyghur",
    "uygur", "uighur", "zhuang", "china", "city", "sheng", "shi", "sar", "prc", "hui",
    "特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市",
)  # fmt: skip
_LATIN_NAMES = sorted({**LATIN_PROVINCES, **LATIN_CITIES}, key=len, reverse=True)

_BRACKETED = re.compile(r"[（(]([^）)]{2,6})[）)]")


def _place_to_province(text: str) -> str | None:
    for province in PROVINCES:
        if text.startswith(province):
            return province
    for city, province in CITY_PROVINCE.items():
        if text.startswith(city):
            return province
    return None


def _latin_key(text: str) -> str:
    """``text`` folded for comparing Latin names: NFKC, lower case, accents, spaces and
    punctuation dropped ("Xi'an" → "xian", "Fújiàn Province" → "fujianprovince")."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text)).casefold()
    return "".join(ch for ch in folded if ch.isalnum() or "\u4e00" <= ch <= "\u9fff")


def _only_suffixes(rest: str) -> bool:
    while rest:
        suffix = next((s for s in _LATIN_SUFFIXES if rest.startswith(s)), None)
        if suffix is None:
            return False
        rest = rest[len(suffix) :]
    return True


def _latin_to_province(text: str) -> str | None:
    """The province an English or pinyin place name points to ("Fujian", "Fujian Province",
    "fujiansheng", "Fujian省", "Shenzhen City"), or None."""
    key = _latin_key(text)
    if not key[:1].isascii():  # Chinese names are read by _place_to_province
        return None
    for name in _LATIN_NAMES:
        if key.startswith(name) and _only_suffixes(key[len(name) :]):
            return LATIN_PROVINCES.get(name) or CITY_PROVINCE[LATIN_CITIES[name]]
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
    """Map user input such as "上海市", "广东省深圳市", "苏州", "Fujian" or "Guangdong Province" to a
    province short name; what names no province is kept as typed."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    return _place_to_province(text) or _latin_to_province(text) or text


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
