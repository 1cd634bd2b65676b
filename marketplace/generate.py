"""A synthetic Suzhou technology market, written as the registration system's CSV export.

`generate_market(out_dir, contracts, seed)` writes ``organisations.csv``, ``contracts.csv`` and
``payments.csv`` in the formats of interfaces.md. The same arguments give the same bytes. Only
the organisations are held in memory (at most ``MAX_ORGANISATIONS``); contracts and payments
are streamed day by day in registration order, so a million contracts need little memory.

What makes it look like the real market:

- registrations grow about 20 % a year, dip around the Spring Festival (and in February as a
  whole), on public holidays and at weekends, and rush before the end of the year;
- the ten Suzhou regions in believable proportions (苏州工业园区 and 虎丘区 largest, 姑苏区
  small); about a third of the seller and buyer places go to organisations outside Suzhou
  (Shanghai, Wuxi, Nanjing, Beijing, Hangzhou, Hefei, Shenzhen, ...), rarely both;
- universities and research institutes sell to enterprises often; a few organisations take
  part in many deals (Pareto-distributed activity);
- log-normal amounts by contract type with a heavier tail (a few deals about a thousand times
  the median), ``0 < technical_amount <= total_amount``, two decimals;
- an intermediary on about a fifth of the deals, about 3 % related-party deals, about 1.5 %
  cancelled after registration, 1-4 instalments per contract paid after signing and never
  more than the total (instalments that would fall after the period are not yet paid);
- registration numbers are year + 3205 + a seven-digit serial per year in registration order
  (201932050000527, as in the bureau's export); Spring Festival dates are known for 2010-2035
  (other years assume 10 February).

Standard library only; the USCC check character is computed by `uscc_check_char`.
"""

from __future__ import annotations

import csv
import math
import os
import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

# --------------------------------------------------------------------------- USCC (GB 32100)

USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE: Final = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    if len(first17) != 17:
        raise ValueError(f"expected the first 17 characters of a USCC, got {len(first17)}")
    try:
        total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not a USCC character") from None
    return USCC_ALPHABET[-total % 31]


def _org_code_check(digits8: str) -> str:
    """GB 11714 check character of an eight-digit organisation code."""
    c = 11 - sum(int(d) * w for d, w in zip(digits8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


# --------------------------------------------------------------------------- reference data

ORGANISATIONS_HEADER: Final = ("uscc", "name", "kind", "region_code")
CONTRACTS_HEADER: Final = (
    "contract_no", "type", "subtype", "title", "field", "seller_uscc", "buyer_uscc",
    "intermediary_uscc", "total_amount", "technical_amount", "signed_on", "registered_at",
    "related_party", "status", "cancelled_at",
)
PAYMENTS_HEADER: Final = ("contract_no", "paid_on", "amount")

MIN_ORGANISATIONS: Final = 60
MAX_ORGANISATIONS: Final = 40_000
CONTRACTS_PER_ORGANISATION: Final = 8

# Suzhou's regions: (code, enterprise name prefixes, weight for enterprises, for universities,
# for research institutes). Weights follow each region's share of registered contracts.
_SUZHOU: Final = (
    ("320571", ("苏州工业园区", "苏州"), 24, 40, 32),
    ("320505", ("苏州高新区", "苏州"), 17, 16, 24),
    ("320583", ("昆山市", "昆山"), 13, 6, 8),
    ("320506", ("苏州市吴中区", "苏州"), 10, 8, 8),
    ("320509", ("苏州市吴江区", "苏州"), 8, 3, 5),
    ("320581", ("常熟市", "常熟"), 7, 6, 5),
    ("320582", ("张家港市", "张家港"), 7, 4, 4),
    ("320507", ("苏州市相城区", "苏州"), 6, 3, 6),
    ("320585", ("太仓市", "太仓"), 5, 2, 4),
    ("320508", ("苏州市姑苏区", "苏州"), 3, 12, 4),
)
# Other real division codes that trade with Suzhou: (code, city, weights as above).
_OUTSIDE: Final = (
    ("310115", "上海", 16, 2, 8),    # 浦东新区
    ("310104", "上海", 5, 8, 5),     # 徐汇区
    ("310110", "上海", 3, 7, 3),     # 杨浦区
    ("320211", "无锡", 9, 2, 4),     # 滨湖区
    ("320102", "南京", 6, 8, 6),     # 玄武区
    ("320106", "南京", 3, 9, 4),     # 鼓楼区
    ("320412", "常州", 6, 2, 3),     # 武进区
    ("110108", "北京", 10, 14, 14),  # 海淀区
    ("330106", "杭州", 8, 7, 5),     # 西湖区
    ("330212", "宁波", 4, 1, 2),     # 鄞州区
    ("340104", "合肥", 5, 4, 6),     # 蜀山区
    ("440305", "深圳", 9, 3, 4),     # 南山区
    ("420111", "武汉", 3, 6, 3),     # 洪山区
    ("510107", "成都", 2, 5, 3),     # 武侯区
    ("610113", "西安", 2, 6, 3),     # 雁塔区
)
_SUZHOU_CITY: Final = {"320581": "常熟", "320582": "张家港", "320583": "昆山", "320585": "太仓"}

# Field code, weight, industry words (for names), research topics, and deal topics (titles).
_FIELDS: Final = (
    ("electronic_information", 27,
     ("信息技术", "半导体", "电子科技", "软件", "微电子", "通信技术", "智能科技", "数据科技"),
     ("集成电路", "人工智能", "电子信息"),
     ("工业互联网平台", "功率半导体器件", "机器视觉检测系统", "边缘计算网关", "芯片封装测试",
      "5G小基站", "智能语音识别", "工业软件", "数据安全网关", "射频前端模组")),
    ("aerospace", 2, ("航空科技", "航天技术", "无人机"), ("航空航天",),
     ("无人机飞控", "航空发动机叶片", "卫星导航终端", "机载复合材料构件")),
    ("advanced_manufacturing", 18,
     ("智能装备", "精密机械", "自动化", "机器人", "激光科技", "装备制造"),
     ("智能制造", "先进制造", "精密加工"),
     ("增材制造装备", "工业机器人减速器", "激光焊接工艺", "数控机床热误差补偿", "柔性装配产线",
      "伺服驱动系统", "精密注塑模具")),
    ("biomedicine", 14, ("生物医药", "医疗器械", "生物科技", "药业", "基因科技"),
     ("生物医药", "医疗器械", "药物研究"),
     ("抗体药物筛选", "体外诊断试剂", "手术机器人", "细胞培养基", "基因测序文库构建",
      "缓释制剂", "医用导管")),
    ("new_materials", 10, ("新材料", "纳米科技", "高分子材料", "复合材料"),
     ("新材料", "纳米技术", "材料科学"),
     ("光刻胶", "特种合金", "碳纤维复合材料", "石墨烯导热膜", "纳米涂层", "高性能密封材料")),
    ("new_energy", 8, ("新能源", "光伏科技", "储能技术", "节能科技"), ("新能源", "能源技术"),
     ("光伏逆变器", "锂电池正极材料", "储能系统热管理", "氢燃料电池电堆", "余热回收系统")),
    ("environment", 7, ("环保科技", "环境工程", "水务科技", "资源再生"),
     ("环境科学", "生态环境"),
     ("工业废水处理", "VOCs治理", "污泥干化", "固废资源化利用", "土壤修复")),
    ("nuclear", 1, ("核技术", "同位素科技", "辐射技术"), ("核技术",),
     ("辐照灭菌工艺", "放射性同位素检测", "核级阀门")),
    ("agriculture", 3, ("农业科技", "生态农业", "种业"), ("农业科学",),
     ("生物农药", "设施农业环境控制", "水稻新品种选育", "智慧渔业")),
    ("modern_transport", 4, ("交通科技", "汽车科技", "轨道交通", "智能网联"),
     ("智能交通", "交通科学"),
     ("港口自动化", "车路协同", "新能源汽车电驱", "轨道交通信号系统")),
    ("urban_social", 6, ("建筑科技", "规划设计", "文化科技", "检测技术"),
     ("城市发展", "建筑科学"),
     ("古建筑保护", "智慧社区平台", "海绵城市设计", "建筑节能检测", "公共安全监测")),
)
FIELD_CODES: Final = tuple(f[0] for f in _FIELDS)

_BRAND_A: Final = "博华蓝星启信科同纳清智德思新金瑞云睿海鼎长晶远恒卓宏泰凯汇天"
_BRAND_B: Final = "远芯海辰明达沃元微源联尔创宇帆盛合景泰鑫通航润成越川驰锐"
_DISCIPLINES: Final = ("科技", "理工", "工业", "信息工程", "工程技术", "医科", "农林", "交通",
                       "师范", "电子科技", "材料", "职业")

KINDS: Final = ("university", "research_institute", "enterprise", "intermediary")
# Share of organisations by kind, and the share of each kind registered outside Suzhou.
# Universities and institutes are few in the real market, so their counts have a ceiling.
_KIND_SHARE: Final = {"university": 0.04, "research_institute": 0.05, "intermediary": 0.07}
_KIND_CEILING: Final = {"university": 400, "research_institute": 1500, "intermediary": 2500}
_KIND_OUTSIDE: Final = {"university": 0.45, "research_institute": 0.35, "enterprise": 0.33,
                        "intermediary": 0.2}

# Contracts: who sells and who buys, and how often the parties are outside Suzhou.
_SELLER_KINDS: Final = (("university", 20), ("research_institute", 17), ("enterprise", 60),
                        ("intermediary", 3))
_BUYER_KINDS: Final = (("enterprise", 93), ("university", 3), ("research_institute", 3),
                       ("intermediary", 1))
P_SELLER_OUTSIDE: Final = 0.38
P_BUYER_OUTSIDE: Final = 0.42             # when the seller is in Suzhou
P_BUYER_OUTSIDE_TOO: Final = 0.03         # when the seller is outside
P_INTERMEDIARY: Final = 0.20
P_INTERMEDIARY_OUTSIDE: Final = 0.2
P_CANCELLED: Final = 0.015
P_RELATED_ENTERPRISES: Final = 0.05       # between two enterprises (subsidiaries, groups)
P_RELATED_OTHER: Final = 0.01

# type: (weight when a university or institute sells, weight otherwise, median total in yuan)
_TYPES: Final = (
    ("development_commissioned", 38, 30, 260_000),
    ("development_cooperative", 14, 9, 320_000),
    ("transfer", 18, 9, 180_000),
    ("license", 12, 8, 120_000),
    ("consulting", 8, 11, 60_000),
    ("service", 10, 33, 90_000),
)
_SUBTYPES: Final = {
    "transfer": (("patent_right", 45), ("patent_application_right", 15),
                 ("technical_secret", 25), ("other_ip", 15)),
    "license": (("ordinary", 60), ("exclusive", 25), ("sole", 15)),
}
_TITLES: Final = {
    "development_commissioned": ("{t}技术开发", "{t}关键技术研究", "{t}研制", "{t}委托开发",
                                 "基于{t}的样机开发"),
    "development_cooperative": ("{t}联合研发", "{t}合作开发", "{t}产业化关键技术合作研究",
                                "{t}联合实验室建设，一期"),
    "transfer": {"patent_right": ("一种{t}的制备方法专利权转让", "{t}发明专利转让"),
                 "patent_application_right": ("{t}专利申请权转让",),
                 "technical_secret": ("{t}技术秘密转让", "{t}工艺包转让"),
                 "other_ip": ("{t}软件著作权转让", "关于{t}的技术转让，含后续支持")},
    "license": {"exclusive": ("{t}专利独占实施许可",), "sole": ("{t}专利排他实施许可",),
                "ordinary": ("{t}专利普通实施许可", "{t}专利实施许可")},
    "consulting": ("{t}技术咨询", "{t}可行性论证", "{t}技术路线评估", "{t}产业发展咨询报告"),
    "service": ("{t}技术服务", "{t}检测分析服务", "{t}技术培训", "{t}工艺优化服务",
                "{t}技术成果转化经纪服务"),
}
_ODD_TITLE: Final = '"{t}" 项目, 二期'   # a few titles need CSV quoting, as real exports do

_AMOUNT_SIGMA: Final = 1.3
P_MEGA_DEAL: Final = 0.002
_MEGA_RANGE: Final = (30.0, 400.0)
_MIN_TOTAL_CENTS: Final = 100_000         # 1,000.00 yuan
_MAX_TOTAL_CENTS: Final = 300_000_000_000  # 3 billion yuan

YEARLY_GROWTH: Final = 1.20
_MONTH_FACTOR: Final = (0.95, 0.8, 1.0, 0.98, 0.95, 1.12, 0.95, 0.9, 1.05, 1.0, 1.1, 1.5)
# Spring Festival (the first day of the lunar year).
_SPRING_FESTIVAL: Final = {
    2010: (2, 14), 2011: (2, 3), 2012: (1, 23), 2013: (2, 10), 2014: (1, 31), 2015: (2, 19),
    2016: (2, 8), 2017: (1, 28), 2018: (2, 16), 2019: (2, 5), 2020: (1, 25), 2021: (2, 12),
    2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6),
    2028: (1, 26), 2029: (2, 13), 2030: (2, 3), 2031: (1, 23), 2032: (2, 11), 2033: (1, 31),
    2034: (2, 19), 2035: (2, 8),
}
_OFFICE_SECONDS: Final = 27_000  # 08:30-12:00 and 13:30-17:30
P_REGISTERED_DATE_ONLY: Final = 0.3
PROGRESS_EVERY: Final = 10_000
# Registration numbers: year, 3205 (Suzhou), a serial per year in registration order; seven
# digits as in the bureau's export (201932050000527).
SERIAL_DIGITS: Final = 7
SERIAL_LIMIT: Final = 10**SERIAL_DIGITS


@dataclass(frozen=True)
class MarketSummary:
    """What `generate_market` wrote."""

    out_dir: Path
    organisations_path: Path
    contracts_path: Path
    payments_path: Path
    organisations: int
    contracts: int
    payments: int
    cancelled: int
    related_party: int
    with_intermediary: int
    seed: int
    first_day: date   # first and last registration day of the period
    last_day: date


# --------------------------------------------------------------------------- helpers


class _Pick:
    """Weighted choice by bisection over cumulative weights."""

    __slots__ = ("cum", "items", "last", "total")

    def __init__(self, items: Sequence, weights: Sequence[float]) -> None:
        if not items:
            raise ValueError("nothing to choose from")
        self.items = list(items)
        self.cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)
        self.total = total
        self.last = len(self.items) - 1

    def __call__(self, u: float):  # u uniform in [0, 1)
        i = bisect_right(self.cum, u * self.total)
        return self.items[i if i <= self.last else self.last]


@dataclass(slots=True)
class _Org:
    uscc: str
    name: str
    kind: str
    region_code: str
    field: str
    outside: bool


def _cents(c: int) -> str:
    return f"{c // 100}.{c % 100:02d}"


class _Names:
    """Unique Chinese organisation names built from parts."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def brand(self) -> str:
        a = self.rng.choice(_BRAND_A)
        b = self.rng.choice(_BRAND_B)
        return a + b if a != b else a + "达"

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(60):
            name = make()
            if name not in self.used:
                break
        else:  # the part space is exhausted for this pattern: number the branch
            base, n = make(), 2
            while f"{base}（{n}）" in self.used:
                n += 1
            name = f"{base}（{n}）"
        self.used.add(name)
        return name


def _org_name(names: _Names, kind: str, region: str, outside: bool, field: int,
              rng: random.Random) -> str:
    if outside:
        city = next(c for code, c, *_ in _OUTSIDE if code == region)
        prefixes: tuple[str, ...] = (city,)
    else:
        prefixes = next(p for code, p, *_ in _SUZHOU if code == region)
        city = _SUZHOU_CITY.get(region, "苏州")
    _, _, industries, topics, _ = _FIELDS[field]
    ch = rng.choice

    if kind == "enterprise":
        return names.unique(lambda: ch(prefixes) + names.brand() + ch(industries)
                            + ("股份有限公司" if rng.random() < 0.2 else "有限公司"))
    if kind == "university":
        def make_university() -> str:
            if rng.random() < 0.6:
                d = ch(_DISCIPLINES)
                if d == "职业":
                    return city + "职业技术学院"
                if d in ("医科", "师范"):
                    return city + d + "大学"
                return city + d + ch(("大学", "大学", "学院"))
            return city + names.brand() + ch(("学院", "职业技术学院", "科技学院"))
        return names.unique(make_university)
    if kind == "research_institute":
        def make_institute() -> str:
            r = rng.random()
            if not outside and r < 0.35:  # a university's institute in Suzhou
                university = ch(("南京大学", "东南大学", "上海交通大学", "北京大学", "浙江大学",
                                 "中国科学技术大学", "西安交通大学", "武汉大学", "清华大学",
                                 "复旦大学", "南京理工大学", "哈尔滨工业大学", "同济大学"))
                return university + city + ch(("研究院", "创新研究院", "技术研究院"))
            if r < 0.55:
                return ("中国科学院" + (city if outside else "苏州") + ch(topics)
                        + ch(("研究所", "技术研究所")))
            return ch(prefixes) + names.brand() + ch(topics) + ch(("研究院", "技术研究院",
                                                                   "研究所", "产业技术研究院"))
        return names.unique(make_institute)
    # intermediary
    def make_intermediary() -> str:
        if rng.random() < 0.7:
            return ch(prefixes) + names.brand() + ch(("技术转移有限公司", "知识产权服务有限公司",
                                                       "科技服务有限公司", "科技咨询有限公司"))
        return ch(prefixes) + names.brand() + ch(("技术转移中心", "科技成果转化服务中心",
                                                   "技术经纪事务所"))
    return names.unique(make_intermediary)


def _uscc(kind: str, name: str, region: str, rng: random.Random) -> str:
    alphabet = USCC_ALPHABET
    if kind in ("university", "research_institute"):
        head = "12"
        digits = f"{rng.randrange(10_000_000, 100_000_000):08d}"
        body = digits + _org_code_check(digits)
    elif kind == "intermediary" and not name.endswith("公司"):
        head = "52"
        if rng.random() < 0.6:
            body = "MJ" + "".join(rng.choice(alphabet) for _ in range(7))
        else:
            digits = f"{rng.randrange(10_000_000, 100_000_000):08d}"
            body = digits + _org_code_check(digits)
    else:
        head = "91"
        if rng.random() < 0.7:  # registered since 2015
            body = "MA" + "".join(rng.choice(alphabet) for _ in range(7))
        else:
            digits = f"{rng.randrange(10_000_000, 100_000_000):08d}"
            body = digits + _org_code_check(digits)
    first17 = head + region + body
    return first17 + uscc_check_char(first17)


_REGION_COLUMN: Final = {"enterprise": 2, "intermediary": 2, "university": 3,
                         "research_institute": 4}


def _region_weights(kind: str, outside: bool) -> dict[str, int]:
    """How a kind's activity spreads over the regions in (or outside) Suzhou."""
    col = _REGION_COLUMN[kind]
    return {r[0]: r[col] for r in (_OUTSIDE if outside else _SUZHOU)}


def _organisation_count(contracts: int) -> int:
    return min(max(MIN_ORGANISATIONS, contracts // CONTRACTS_PER_ORGANISATION), MAX_ORGANISATIONS)


def _make_organisations(n: int, rng: random.Random) -> list[_Org]:
    counts = {k: max(4, min(round(n * s), _KIND_CEILING[k])) for k, s in _KIND_SHARE.items()}
    counts["enterprise"] = max(4, n - sum(counts.values()))
    region_picks = {}
    for kind in KINDS:
        region_picks[kind] = tuple(
            _Pick(list(weights), list(weights.values()))
            for weights in (_region_weights(kind, False), _region_weights(kind, True))
        )
    field_pick = _Pick(range(len(_FIELDS)), [f[1] for f in _FIELDS])
    names = _Names(rng)
    used: set[str] = set()
    orgs: list[_Org] = []
    for kind in KINDS:
        k = counts[kind]
        outside_n = min(k - 2, max(2, round(k * _KIND_OUTSIDE[kind])))
        for i in range(k):
            outside = i < outside_n
            region = region_picks[kind][outside](rng.random())
            field = field_pick(rng.random())
            name = _org_name(names, kind, region, outside, field, rng)
            while True:
                uscc = _uscc(kind, name, region, rng)
                if uscc not in used:
                    used.add(uscc)
                    break
            orgs.append(_Org(uscc, name, kind, region, _FIELDS[field][0], outside))
    rng.shuffle(orgs)
    return orgs


def _day_weights(first: date, last: date, rng: random.Random) -> list[float]:
    weights = []
    start_year = first.year
    festivals = {}
    for year in range(first.year - 1, last.year + 2):
        m, d = _SPRING_FESTIVAL.get(year, (2, 10))
        festivals[year] = date(year, m, d).toordinal()
    for o in range(first.toordinal(), last.toordinal() + 1):
        d = date.fromordinal(o)
        t = (d.year - start_year) + (d.timetuple().tm_yday - 1) / 366
        w = YEARLY_GROWTH ** t * _MONTH_FACTOR[d.month - 1]
        off = o - festivals[d.year]
        if -1 <= off <= 6:
            w *= 0.05
        elif 7 <= off <= 13:
            w *= 0.55
        elif 14 <= off <= 20:
            w *= 0.85
        elif (d.month, d.day) in ((1, 1), (5, 1), (5, 2), (5, 3)) or (d.month == 10 and d.day <= 7):
            w *= 0.05
        elif d.weekday() >= 5:
            w *= 0.04
        weights.append(w * rng.lognormvariate(0.0, 0.2))
    return weights


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` over the days in proportion to their weights (exactly, by cumulation)."""
    s = sum(weights)
    out, cum, before = [], 0.0, 0
    for w in weights:
        cum += w
        upto = min(total, int(total * cum / s + 1e-9))
        out.append(upto - before)
        before = upto
    out[-1] += total - before
    return out


# --------------------------------------------------------------------------- the generator


def generate_market(
    out_dir: Path,
    contracts: int,
    seed: int,
    start_year: int = 2019,
    years: int = 5,
    progress: Callable[[int], None] | None = None,
    end: date | None = None,
) -> MarketSummary:
    """Write organisations.csv, contracts.csv and payments.csv of a synthetic market to out_dir.

    Contracts are registered from 1 January `start_year` to 31 December of the last of `years`
    years; there are about contracts/8 organisations (at least 60, at most 40,000). The same
    arguments give byte-identical files. `progress`, if given, is called with the number of
    contracts written since its previous call (so `tqdm.update` fits); the calls add up to
    `contracts`. Files are written under temporary names and renamed when complete.
    `end`, if given, is the last registration day instead (a market that runs up to today).
    """
    if isinstance(contracts, bool) or not isinstance(contracts, int) or contracts < 0:
        raise ValueError("contracts must be a whole number, 0 or more")
    if not isinstance(years, int) or years < 1:
        raise ValueError("years must be 1 or more")
    if not 1000 <= start_year <= 9999 - years:
        raise ValueError("start_year must be a four-digit year")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {n: out_dir / f"{n}.csv" for n in ("organisations", "contracts", "payments")}
    tmp = {n: p.with_name(p.name + ".tmp") for n, p in paths.items()}
    rng = random.Random(seed)
    first_day, last_day = date(start_year, 1, 1), date(start_year + years - 1, 12, 31)
    if end is not None:
        if end < first_day:
            raise ValueError("end must not be before the first day")
        last_day = min(last_day, end)
    try:
        orgs = _make_organisations(_organisation_count(contracts), rng)
        with open(tmp["organisations"], "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(ORGANISATIONS_HEADER)
            w.writerows((o.uscc, o.name, o.kind, o.region_code) for o in orgs)
        with open(tmp["contracts"], "w", newline="", encoding="utf-8",
                  buffering=1 << 20) as fc, \
             open(tmp["payments"], "w", newline="", encoding="utf-8", buffering=1 << 20) as fp:
            counts = _write_deals(csv.writer(fc, lineterminator="\n"),
                                  csv.writer(fp, lineterminator="\n"), orgs, contracts,
                                  first_day, last_day, rng, progress)
        for n in paths:
            os.replace(tmp[n], paths[n])
    except BaseException:
        for p in tmp.values():
            p.unlink(missing_ok=True)
        raise
    return MarketSummary(
        out_dir=out_dir, organisations_path=paths["organisations"],
        contracts_path=paths["contracts"], payments_path=paths["payments"],
        organisations=len(orgs), contracts=contracts, payments=counts["payments"],
        cancelled=counts["cancelled"], related_party=counts["related_party"],
        with_intermediary=counts["with_intermediary"], seed=seed,
        first_day=first_day, last_day=last_day,
    )


def _write_deals(wc, wp, orgs: list[_Org], n: int, first_day: date, last_day: date,
                 rng: random.Random, progress: Callable[[int], None] | None) -> dict[str, int]:
    # Who takes part: one weighted pool per (kind, outside), activity Pareto-distributed.
    # Each region's total stays in proportion to its weight, whoever its busiest members are.
    pools: dict[tuple[str, bool], _Pick] = {}
    for kind in KINDS:
        for outside in (False, True):
            members = [o for o in orgs if o.kind == kind and o.outside == outside]
            activity = [min(rng.paretovariate(1.2), 300.0) for _ in members]
            per_region: dict[str, float] = {}
            for o, a in zip(members, activity, strict=True):
                per_region[o.region_code] = per_region.get(o.region_code, 0.0) + a
            target = _region_weights(kind, outside)
            pools[kind, outside] = _Pick(members, [
                a * target[o.region_code] / per_region[o.region_code]
                for o, a in zip(members, activity, strict=True)
            ])
    seller_kind = _Pick([k for k, _ in _SELLER_KINDS], [w for _, w in _SELLER_KINDS])
    buyer_kind = _Pick([k for k, _ in _BUYER_KINDS], [w for _, w in _BUYER_KINDS])
    field_pick = _Pick(FIELD_CODES, [f[1] for f in _FIELDS])
    topics = {f[0]: f[4] for f in _FIELDS}
    academic_type = _Pick([t[0] for t in _TYPES], [t[1] for t in _TYPES])
    other_type = _Pick([t[0] for t in _TYPES], [t[2] for t in _TYPES])
    log_median = {t[0]: math.log(t[3] * 100) for t in _TYPES}
    subtype_pick = {t: _Pick([s for s, _ in v], [w for _, w in v]) for t, v in _SUBTYPES.items()}
    instalments = _Pick((1, 2, 3, 4), (45, 30, 17, 8))
    log_mega = (math.log(_MEGA_RANGE[0]), math.log(_MEGA_RANGE[1]))

    base = first_day.toordinal() - 800
    end = last_day.toordinal()
    iso = [date.fromordinal(o).isoformat() for o in range(base, end + 1)]
    day_counts = _allocate(n, _day_weights(first_day, last_day, rng))

    rand, gauss, randint, choice = rng.random, rng.gauss, rng.randint, rng.choice
    lognorm, triangular, uniform = rng.lognormvariate, rng.triangular, rng.uniform
    write_contract, write_payment = wc.writerow, wp.writerow
    wc.writerow(CONTRACTS_HEADER)
    wp.writerow(PAYMENTS_HEADER)
    n_pay = n_cancelled = n_related = n_inter = 0
    done = reported = 0
    serial = 0
    year = 0
    for day_index, count in enumerate(day_counts):
        if not count:
            continue
        reg = first_day.toordinal() + day_index
        reg_iso = iso[reg - base]
        reg_year = int(reg_iso[:4])
        if reg_year != year:
            year, serial = reg_year, 0
        prefix = f"{year}3205"
        t_from = (reg_year - first_day.year) + 0.0
        seconds = sorted(int(rand() * _OFFICE_SECONDS) for _ in range(count))
        for s in seconds:
            serial += 1
            if serial >= SERIAL_LIMIT:
                raise ValueError(f"more than {SERIAL_LIMIT - 1} contracts in a year")
            contract_no = f"{prefix}{serial:0{SERIAL_DIGITS}d}"

            # parties
            s_out = rand() < P_SELLER_OUTSIDE
            seller = pools[seller_kind(rand()), s_out](rand())
            b_out = rand() < (P_BUYER_OUTSIDE_TOO if s_out else P_BUYER_OUTSIDE)
            b_pool = pools[buyer_kind(rand()), b_out]
            buyer = b_pool(rand())
            while buyer is seller:
                buyer = b_pool(rand())
            inter = ""
            if rand() < P_INTERMEDIARY:
                i_out = rand() < P_INTERMEDIARY_OUTSIDE
                for attempt in range(20):
                    cand = pools["intermediary", i_out if attempt < 10 else not i_out](rand())
                    if cand is not seller and cand is not buyer:
                        inter = cand.uscc
                        n_inter += 1
                        break

            # what
            academic = seller.kind in ("university", "research_institute")
            ctype = (academic_type if academic else other_type)(rand())
            subtype = subtype_pick[ctype](rand()) if ctype in subtype_pick else ""
            if seller.kind == "enterprise" and rand() < 0.5:
                field = seller.field
            elif buyer.kind == "enterprise" and rand() < 0.35:
                field = buyer.field
            else:
                field = field_pick(rand())
            topic = choice(topics[field])
            if rand() < 0.004:
                title = _ODD_TITLE.format(t=topic)
            else:
                patterns = _TITLES[ctype]
                if subtype:
                    patterns = patterns[subtype]
                title = choice(patterns).format(t=topic)

            # amounts, in cents
            x = log_median[ctype] + _AMOUNT_SIGMA * gauss(0.0, 1.0) + 0.05 * t_from
            if rand() < P_MEGA_DEAL:
                x += uniform(*log_mega)
            total = int(math.exp(min(x, 27.0)))
            r = rand()
            if r < 0.3:
                total = round(total, -5)        # whole thousands of yuan
            elif r < 0.5:
                total = round(total, -2)        # whole yuan
            total = min(max(total, _MIN_TOTAL_CENTS), _MAX_TOTAL_CENTS)
            if ctype in ("consulting", "service"):
                ratio = 1.0 if rand() < 0.7 else uniform(0.6, 1.0)
            elif ctype in ("transfer", "license"):
                ratio = 1.0 if rand() < 0.6 else uniform(0.7, 1.0)
            else:
                ratio = triangular(0.45, 1.0, 0.85)
            technical = int(total * ratio)
            if technical < total and rand() < 0.5:
                technical -= technical % 100
            technical = min(max(technical, 1), total)

            # dates
            signed = reg - min(1 + int(lognorm(3.0, 0.8)), 365)
            if rand() < P_REGISTERED_DATE_ONLY:
                registered_at = reg_iso
            else:
                sec = s + (30_600 if s < 12_600 else 36_000)
                registered_at = (f"{reg_iso}T{sec // 3600:02d}:{sec // 60 % 60:02d}:"
                                 f"{sec % 60:02d}+08:00")
            related = rand() < (P_RELATED_ENTERPRISES
                                if seller.kind == "enterprise" and buyer.kind == "enterprise"
                                else P_RELATED_OTHER)
            n_related += related
            cancelled = 0
            if rand() < P_CANCELLED and reg < end:
                cancelled = min(reg + randint(7, 540), end)
                if cancelled <= reg:
                    cancelled = reg + 1
                n_cancelled += 1

            write_contract((
                contract_no, ctype, subtype, title, field, seller.uscc, buyer.uscc, inter,
                _cents(total), _cents(technical), iso[signed - base], registered_at,
                "1" if related else "0", "cancelled" if cancelled else "registered",
                iso[cancelled - base] if cancelled else "",
            ))

            # payments (到账): instalments after signing, never more than the total
            if cancelled:
                k, paid = 1, int(total * uniform(0.1, 0.5))
                limit = cancelled
            else:
                k = instalments(rand())
                paid = total if rand() < 0.65 else int(total * uniform(0.3, 1.0))
                limit = end
            paid = max(paid, k)
            shares = [rand() + 0.5 for _ in range(k)]
            share_sum = sum(shares)
            on = min(signed + min(int(lognorm(2.7, 0.9)), 150), limit)
            left = paid
            for i in range(k):
                amount = left if i == k - 1 else max(1, int(paid * shares[i] / share_sum))
                left -= amount
                write_payment((contract_no, iso[on - base], _cents(amount)))
                n_pay += 1
                on += randint(30, 200)
                if on > limit:
                    break
            done += 1
            if progress is not None and done - reported >= PROGRESS_EVERY:
                progress(done - reported)
                reported = done
    if progress is not None and done > reported:
        progress(done - reported)
    return {"payments": n_pay, "cancelled": n_cancelled, "related_party": n_related,
            "with_intermediary": n_inter}
