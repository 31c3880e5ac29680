"""Labels, number and date formats in Chinese (zh-CN, the default) and English.

The language of a page comes from ``?lang=`` (which also sets the ``rk_lang`` cookie), then the cookie,
then the default; pages render every label server-side in that language. Times are shown in city time
(Asia/Shanghai).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

Lang = Literal["zh", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh", "en")
DEFAULT_LANG: Final[Lang] = "zh"
COOKIE: Final = "rk_lang"
CITY_TZ: Final = ZoneInfo("Asia/Shanghai")

#: key -> (zh, en)
TEXT: Final[dict[str, tuple[str, str]]] = {
    "brand": ("红棉 城市治理指挥中心", "Red Kapok city command center"),
    "nav.wall": ("指挥大屏", "Wall"),
    "nav.rankings": ("区排名", "Rankings"),
    "nav.grids": ("网格地图", "Grid map"),
    "nav.warnings": ("预警", "Warnings"),
    "nav.hazards": ("隐患台账", "Hazards"),
    "lang.switch": ("English", "中文"),
    "lang.switch.label": ("切换到英文", "Switch to Chinese"),
    "stream.incidents": ("警情事件", "Incidents"),
    "stream.surveillance": ("视频告警", "Camera alerts"),
    "stream.hotline": ("12345 热线", "12345 hotline"),
    "stream.hazards": ("安全隐患", "Hazards"),
    "wall.past_hour": ("近 1 小时", "past hour"),
    "wall.vs_last_week": ("较上周同时段", "vs same hour last week"),
    "wall.no_baseline": ("上周同时段无数据", "no data a week ago"),
    "wall.map.index": ("按治理指数着色", "coloured by index"),
    "wall.map.warnings": ("按预警等级着色", "coloured by warning level"),
    "wall.open_warnings": ("未处置预警", "Open warnings"),
    "wall.no_warnings": ("当前无未处置预警", "No open warnings"),
    "wall.ranking": ("各区治理指数排名", "District ranking"),
    "wall.trend": ("近 48 小时每小时事件数", "Events per hour, last 48 h"),
    "stale.data": ("数据滞后：最新事件于 {age}", "Data is stale: newest event {age}"),
    "stale.none": ("尚无事件数据", "No events received yet"),
    "stale.link": (
        "与服务器的连接中断，正在重连…（上次成功刷新 {time}）",
        "Lost contact with the server, reconnecting… (last refresh {time})",
    ),
    "fresh": ("数据更新于 {time}", "Updated {time}"),
    "no_index": ("指数尚未计算", "No index yet"),
    "no_index.long": (
        "指数引擎尚未写入快照；指数、等级和排名将在其首次运行后显示。",
        "The index engine has not stored a snapshot yet; index, level and rank appear after its first run.",
    ),
    "no_history": ("暂无历史数据", "No history yet"),
    "no_data": ("无数据", "no data"),
    "level": ("等级", "Level"),
    "level.A": ("A 优", "A good"),
    "level.B": ("B 良", "B fair"),
    "level.C": ("C 中", "C watch"),
    "level.D": ("D 差", "D poor"),
    "wlevel.blue": ("蓝色", "Blue"),
    "wlevel.yellow": ("黄色", "Yellow"),
    "wlevel.orange": ("橙色", "Orange"),
    "wlevel.red": ("红色", "Red"),
    "wlevel.none": ("无预警", "No warning"),
    "status.raised": ("待确认", "Raised"),
    "status.acknowledged": ("已确认", "Acknowledged"),
    "status.dispatched": ("已派遣", "Dispatched"),
    "status.resolved": ("已解决", "Resolved"),
    "status.closed": ("已关闭", "Closed"),
    "status.auto_recovered": ("已自动恢复", "Recovered"),
    "status.open": ("未处置", "Open"),
    "action.ack": ("确认", "Acknowledge"),
    "action.dispatch": ("派遣", "Dispatch"),
    "action.resolve": ("解决", "Resolve"),
    "action.failed": ("操作失败：{error}", "Action failed: {error}"),
    "action.done": ("预警 {id} 已更新为「{status}」", "Warning {id} is now {status}"),
    "index": ("治理指数", "Index"),
    "rank": ("排名", "Rank"),
    "rank.interval": ("排名（区间）", "Rank (interval)"),
    "district": ("区", "District"),
    "districts.all": ("全部区", "All districts"),
    "change.day": ("日变化", "Change, day"),
    "change.week": ("周变化", "Change, week"),
    "insufficient": ("数据不足", "insufficient data"),
    "rankings.title": ("各区治理指数排名", "District governance index ranking"),
    "rankings.export.csv": ("导出 CSV", "Export CSV"),
    "rankings.export.xlsx": ("导出 Excel", "Export Excel"),
    "rankings.whatif": ("权重模拟", "What-if weights"),
    "rankings.whatif.help": (
        "调整各维度权重，查看重新计算的指数与排名（不影响正式指数）。",
        "Change the dimension weights to see the index and ranks recomputed (the "
        "official index is unchanged).",
    ),
    "rankings.whatif.reset": ("恢复默认权重", "Reset weights"),
    "rankings.whatif.score": ("模拟指数", "What-if index"),
    "rankings.whatif.rank": ("模拟排名", "What-if rank"),
    "rankings.back": ("← 返回排名", "← Back to rankings"),
    "rankings.counts": ("近 24 小时事件", "Events, last 24 h"),
    "rankings.trend": ("指数走势", "Index trend"),
    "rankings.drivers": ("指标贡献（分）", "Indicator contributions (points)"),
    "rankings.recent": ("最新事件（已脱敏）", "Latest events (personal data masked)"),
    "rankings.unknown": ("没有代码为 {code} 的区", "No district with code {code}"),
    "grids.title": ("网格地图", "Grid map"),
    "grids.metric": ("指标", "Metric"),
    "grids.scale": ("口径", "Scale"),
    "grids.scale.raw": ("原始数", "Raw"),
    "grids.scale.km2": ("每平方公里", "Per km²"),
    "grids.scale.10k": ("每万人（按面积估算）", "Per 10k residents (area estimate)"),
    "grids.window": ("时间窗", "Window"),
    "grids.time": ("回放（小时前）", "Replay (hours ago)"),
    "grids.play": ("播放", "Play"),
    "grids.pause": ("暂停", "Pause"),
    "grids.now": ("现在", "now"),
    "grids.hours_ago": ("{n} 小时前", "{n} h ago"),
    "grids.goto": ("网格编号", "Cell id"),
    "grids.goto.button": ("定位", "Open"),
    "grids.hint": ("点击网格查看详情。", "Click a cell for its details."),
    "grids.cell": ("网格 {id}", "Cell {id}"),
    "grids.unknown": ("没有编号为 {id} 的网格", "No cell {id}"),
    "grids.trend": ("近 7 天每小时事件", "Events per hour, last 7 days"),
    "grids.contributions": ("指标贡献", "Indicator contributions"),
    "grids.recent": ("最新事件（已脱敏）", "Latest events (personal data masked)"),
    "grids.neighbours": ("相邻网格", "Neighbouring cells"),
    "grids.summary": (
        "{metric}：{n} 个网格有数据，最高：{top}。",
        "{metric}: {n} cells with data; highest: {top}.",
    ),
    "grids.summary.none": ("{metric}：暂无数据。", "{metric}: no data yet."),
    "grids.index_latest": (
        "指数为最新快照，不随回放变化。",
        "The index is the latest snapshot; replay does not change it.",
    ),
    "metric.index": ("治理指数", "Governance index"),
    "metric.level": ("治理等级", "Index level"),
    "metric.events": ("全部事件", "All events"),
    "warnings.title": ("预警", "Warnings"),
    "warnings.none": ("没有符合条件的预警。", "No warnings match."),
    "warnings.engine": ("预警引擎尚未产生预警。", "The warning engine has raised no warnings yet."),
    "warnings.filter.level": ("等级", "Level"),
    "warnings.filter.status": ("状态", "Status"),
    "warnings.filter.district": ("区", "District"),
    "warnings.filter.stream": ("数据流", "Stream"),
    "warnings.col.raised": ("发出时间", "Raised"),
    "warnings.col.age": ("持续", "Age"),
    "warnings.col.target": ("对象", "Target"),
    "warnings.col.what": ("内容", "What"),
    "warnings.col.observed": ("实际 / 预期", "Observed / expected"),
    "warnings.col.actions": ("处置", "Actions"),
    "warnings.map": ("预警分布", "Where"),
    "any": ("全部", "Any"),
    "category": ("类别", "Category"),
    "events": ("事件", "events"),
    "time": ("时间", "Time"),
    "stage": ("环节", "Stage"),
    "details": ("详情（已脱敏）", "Details (masked)"),
    "hazards.open": ("未整改隐患", "Open hazards"),
    "hazards.overdue": ("超期", "overdue"),
    "hazards.title": ("安全隐患台账", "Hazard register"),
    "hazards.filter.status": ("状态", "Status"),
    "hazards.filter.grade": ("等级", "Grade"),
    "hazards.filter.district": ("区", "District"),
    "hazards.all_districts": ("全部（可见范围内）", "All (in your scope)"),
    "hazards.none": ("没有符合条件的隐患", "No hazards match these filters"),
    "hazards.count": ("共 {n} 条", "{n} hazards"),
    "hazards.count.cut": ("共 {n} 条，表中显示前 {shown} 条（导出包含全部）",
                          "{n} hazards; the table shows the first {shown} (exports hold all)"),
    "hazards.export.csv": ("导出 CSV", "Export CSV"),
    "hazards.export.xlsx": ("导出 Excel", "Export Excel"),
    "hazards.export.denied": ("当前角色无导出权限", "Your role may not export"),
    "hazards.export.done": ("已导出 {n} 条（{format}）", "Exported {n} hazards ({format})"),
    "hazards.col.id": ("编号", "ID"),
    "hazards.col.grade": ("等级", "Grade"),
    "hazards.col.category": ("类别", "Category"),
    "hazards.col.district": ("区", "District"),
    "hazards.col.grid": ("网格", "Cell"),
    "hazards.col.stage": ("环节", "Stage"),
    "hazards.col.reported": ("上报时间", "Reported"),
    "hazards.col.due": ("整改期限", "Due"),
    "hazards.col.overdue": ("超期", "Overdue"),
    "hazards.col.overdue_hours": ("超期小时数", "Hours overdue"),
    "hazards.col.escalation": ("督办层级", "Escalation"),
    "hazards.overdue.yes": ("超期 {age}", "overdue {age}"),
    "hazards.overdue.no": ("未超期", "on time"),
    "hazards.due.estimated": ("（估算）", " (estimated)"),
    "hazstatus.open": ("未整改", "Open"),
    "hazstatus.overdue": ("超期未整改", "Overdue"),
    "hazstatus.closed": ("已验收", "Closed"),
    "hazstatus.all": ("全部", "All"),
    "grade.A": ("A 重大", "A major"),
    "grade.B": ("B 较大", "B serious"),
    "grade.C": ("C 一般", "C moderate"),
    "grade.D": ("D 轻微", "D minor"),
    "hzstage.reported": ("已上报", "reported"),
    "hzstage.assessed": ("已评估", "assessed"),
    "hzstage.rectifying": ("整改中", "rectifying"),
    "hzstage.rectified": ("已整改", "rectified"),
    "hzstage.verified": ("已验收", "verified"),
    "hzstage.reopened": ("重新打开", "reopened"),
    "escalation.none": ("无", "none"),
    "escalation.street": ("街道", "street"),
    "escalation.district": ("区", "district"),
    "escalation.city": ("市", "city"),
    "wall.hazards": ("超期 A/B 级隐患", "Overdue A/B hazards"),
    "wall.hazards.detail": ("超期 A {oa} · B {ob}｜未整改 A {a} · B {b}",
                            "overdue A {oa} · B {ob} | open A {a} · B {b}"),
    "wall.hazards.alarm": ("有 A 级隐患超期", "A-grade hazard overdue"),
    "grids.hazard_layer": ("显示未整改隐患", "Show open hazards"),
    "grids.hazard_legend.overdue": ("超期（大号、白框）", "overdue (bigger, white outline)"),
    "grids.hazard_summary": ("地图显示 {n} 条未整改隐患，其中 {late} 条超期。",
                             "The map shows {n} open hazards, {late} of them overdue."),
    "grids.hazard_summary.cut": ("（仅显示最超期的 {n} 条）", " (only the {n} most overdue are drawn)"),
    "grids.hazard_summary.no_cell": ("{n} 条未定位到网格，未画出。", "{n} have no cell and are not drawn."),
    "legend": ("图例", "Legend"),
    "window.1h": ("1 小时", "1 hour"),
    "window.24h": ("24 小时", "24 hours"),
    "window.7d": ("7 天", "7 days"),
    "window.30d": ("30 天", "30 days"),
    "dim.public_order": ("治安秩序", "Public order"),
    "dim.disputes": ("矛盾纠纷", "Disputes"),
    "dim.safety_hazards": ("公共安全隐患", "Public-safety hazards"),
    "dim.service": ("12345 服务", "12345 service"),
    "dim.data_coverage": ("数据覆盖", "Data coverage"),
    "scope.grid": ("网格", "cell"),
    "scope.district": ("区", "district"),
    "scope.city": ("全市", "city"),
}


def lang_of(value: str | None) -> Lang:
    """A supported language from a query value or cookie; the default for anything else."""
    return value if value in LANGS else DEFAULT_LANG  # type: ignore[return-value]


def t(key: str, lang: Lang, **fields: object) -> str:
    """The label ``key`` in ``lang``, with ``{fields}`` filled in. An unknown key shows as itself, so a
    missing translation is visible rather than silently blank."""
    pair = TEXT.get(key)
    text = key if pair is None else pair[0 if lang == "zh" else 1]
    return text.format(**fields) if fields else text


def label_or(key: str, lang: Lang, fallback: str) -> str:
    """The label ``key`` when it is translated, else ``fallback`` (e.g. a configured English label)."""
    return t(key, lang) if key in TEXT else fallback


def category_label(stream: str, category: str, lang: Lang) -> str:
    """A category of a stream in ``lang`` (contract vocabulary)."""
    names = CATEGORY_NAMES.get(category)
    if names is None:
        return category
    return names[0] if lang == "zh" else names[1]


CATEGORY_NAMES: Final[dict[str, tuple[str, str]]] = {
    "theft": ("盗窃", "theft"),
    "robbery": ("抢劫", "robbery"),
    "assault": ("伤害", "assault"),
    "fight": ("打架斗殴", "fight"),
    "traffic_accident": ("交通事故", "traffic accident"),
    "fire": ("火灾", "fire"),
    "public_disorder": ("扰乱秩序", "public disorder"),
    "dispute": ("纠纷", "dispute"),
    "fraud": ("诈骗", "fraud"),
    "other": ("其他", "other"),
    "crowd_gathering": ("人员聚集", "crowd gathering"),
    "fire_smoke": ("烟火", "fire or smoke"),
    "intrusion": ("闯入", "intrusion"),
    "illegal_parking": ("违停", "illegal parking"),
    "street_vending": ("占道经营", "street vending"),
    "garbage_overflow": ("垃圾满溢", "garbage overflow"),
    "road_obstruction": ("道路占用", "road obstruction"),
    "waterlogging": ("积水", "waterlogging"),
    "noise": ("噪音", "noise"),
    "sanitation": ("环境卫生", "sanitation"),
    "property_management": ("物业管理", "property management"),
    "labor_dispute": ("劳资纠纷", "labour dispute"),
    "neighbour_dispute": ("邻里纠纷", "neighbour dispute"),
    "traffic": ("交通", "traffic"),
    "public_security": ("治安", "public security"),
    "illegal_construction": ("违法建设", "illegal construction"),
    "environment": ("环境", "environment"),
    "consultation": ("咨询", "consultation"),
    "gas": ("燃气", "gas"),
    "fire_safety": ("消防", "fire safety"),
    "structural": ("结构安全", "structural"),
    "construction_site": ("建筑工地", "construction site"),
    "hazardous_chemicals": ("危险化学品", "hazardous chemicals"),
    "flood_prone": ("易涝点", "flood-prone"),
    "electrical": ("用电", "electrical"),
    "road_traffic": ("道路交通", "road traffic"),
    "crowd_venue": ("人员密集场所", "crowded venue"),
}


# ------------------------------------------------------------------------------------------ numbers


def fmt_int(value: float | None, lang: Lang) -> str:
    """A count: grouped digits; Chinese uses 万 (10⁴) from 100,000 on, English k/M from 100,000 on."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    n = round(value)
    if abs(n) >= 100_000:
        if lang == "zh":
            return f"{n / 10_000:,.1f}万" if abs(n) < 100_000_000 else f"{n / 100_000_000:,.2f}亿"
        return f"{n / 1_000:,.1f}k" if abs(n) < 1_000_000 else f"{n / 1_000_000:,.2f}M"
    return f"{n:,}"


def fmt_num(value: float | None, lang: Lang, digits: int = 1) -> str:
    """A measured value with ``digits`` decimals (grouped); ``–`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100_000:
        return fmt_int(value, lang)
    return f"{value:,.{digits}f}"


def fmt_signed(value: float | None, lang: Lang, digits: int = 1) -> str:
    """A change with its sign (``+1.5``, ``−0.3``, using the true minus sign); ``–`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = fmt_num(abs(value), lang, digits)
    if round(value, digits) == 0:
        return "±" + text
    return ("+" if value > 0 else "−") + text


def fmt_pct_change(now: float, before: float, lang: Lang) -> str | None:
    """Relative change now vs before as ``+12%``; None when there is nothing to compare with."""
    if before <= 0:
        return None
    return fmt_signed(100.0 * (now - before) / before, lang, 0) + "%"


def fmt_rank(rank: int | None, lo: int | None, hi: int | None, lang: Lang) -> str:
    """``3 (2–5)``: rank with its uncertainty interval; the bare rank when the interval is one rank."""
    if rank is None:
        return "–"
    if lo is None or hi is None or lo == hi == rank:
        return str(rank)
    return f"{rank} ({lo}–{hi})"


# ------------------------------------------------------------------------------------------ time

_MONTHS_EN: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_time(ts: float | None, lang: Lang, *, date: bool = True) -> str:
    """Epoch seconds in city time: ``5月3日 14:05`` / ``3 May 14:05`` (time only with ``date=False``)."""
    if ts is None:
        return "–"
    local = datetime.fromtimestamp(ts, tz=CITY_TZ)
    clock = f"{local:%H:%M}"
    if not date:
        return clock
    if lang == "zh":
        return f"{local.month}月{local.day}日 {clock}"
    return f"{local.day} {_MONTHS_EN[local.month - 1]} {clock}"


def fmt_hour_tick(ts: float, lang: Lang) -> str:
    """An axis tick for an hour: ``3日14时`` / ``3 May 14h``."""
    local = datetime.fromtimestamp(ts, tz=CITY_TZ)
    return (
        f"{local.day}日{local.hour}时"
        if lang == "zh"
        else f"{local.day} {_MONTHS_EN[local.month - 1]} {local.hour}h"
    )


def fmt_age(seconds: float, lang: Lang) -> str:
    """How long ago: ``刚刚``/``just now``, ``12分钟前``/``12 min ago``, ``3小时前``, ``2天前``."""
    s = max(0.0, seconds)
    if s < 60:
        return "刚刚" if lang == "zh" else "just now"
    if s < 3600:
        n = int(s // 60)
        return f"{n}分钟前" if lang == "zh" else f"{n} min ago"
    if s < 86400:
        n = int(s // 3600)
        return f"{n}小时前" if lang == "zh" else f"{n} h ago"
    n = int(s // 86400)
    return f"{n}天前" if lang == "zh" else f"{n} d ago"


def fmt_duration(seconds: float, lang: Lang) -> str:
    """An elapsed time: ``45分``/``45 min``, ``3小时12分``/``3 h 12 min``, ``2天3小时``/``2 d 3 h``."""
    s = max(0, int(seconds))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m = rem // 60
    if lang == "zh":
        if d:
            return f"{d}天{h}小时"
        return f"{h}小时{m}分" if h else f"{m}分"
    if d:
        return f"{d} d {h} h"
    return f"{h} h {m} min" if h else f"{m} min"


def district_name(names: Mapping[str, str], lang: Lang) -> str:
    """A district's name from a row with ``name_zh`` and ``name_en``."""
    return str(names["name_zh"] if lang == "zh" or not names.get("name_en") else names["name_en"])
