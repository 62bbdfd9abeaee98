"""A new report's catalog fields guessed from its title and first lines (the user edits them before indexing).

- title: the file's name when it says something in Chinese, else the first lines of the text that are
  not web-page chrome (下载/打印/【字号：…】), up to one that ends like a title; a notice that
  publishes a plan ("关于印发《X》的通知") gives X; a generic title (政府工作报告) is completed
  from the place and year found ("广东省2026年政府工作报告");
- district: the most specific place the title names (district > city > province); when it names
  none, the place of the first lines (the speaker's signature "广东省省长", "在上海市第十六届人民代表大会");
- kind: the first kind of `library.toml [kinds]` whose cue the title holds (the order matters);
- year: a plan's period (“十五五” -> 2026-2030, "(2021-2025)"); a work report of year Y covers Y-1
  (last year's results) and Y (this year's plan).

Cues are data: `vocab/library.toml` (kinds, chrome, title endings, plan spellings), `vocab/places.toml`
(places), `vocab/question.toml [plans]` (plan names and years).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from functools import lru_cache
from pathlib import Path

from assistant.ingest.corpus import slugify
from assistant.vocab import VOCAB_DIR, vocabulary

_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?=\s*年|\D|$)")
_RANGE = re.compile(r"(?<!\d)((?:19|20)\d\d)\s*(?:年)?\s*[-–—~～至到]\s*((?:19|20)\d\d)(?!\d)")
_DATE = re.compile(r"((?:19|20)\d\d)年\d{1,2}月\d{1,2}日")
_CHROME_MARKS = re.compile(r"[【】\[\]()（）:：|/·\s]")
_NOTICE = re.compile(r"(?:印发|转发|发布)[《“\"]?(.{4,}?)[》”\"]?(?:的)?通知$")


@lru_cache(maxsize=1)
def rules() -> dict:
    return tomllib.loads((VOCAB_DIR / "library.toml").read_text(encoding="utf-8"))


def _squash(text: str) -> str:
    """No spaces between CJK characters (PDF text layers break titles into pieces); the report's own
    characters are kept (（2021-2025）), matching folds them (_nfkc)."""
    return re.sub(r"(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])", "", text.replace("\u3000", " ").strip())


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _is_chrome(line: str) -> bool:
    """A web page's buttons kept with the text: 下载, 打印, 【字号： 加大 还原 减小 】."""
    rest = _CHROME_MARKS.sub("", _nfkc(line))
    for word in sorted(rules()["title"]["chrome"], key=len, reverse=True):
        rest = rest.replace(word, "")
    return not rest


def first_lines(text: str, limit: int) -> list[str]:
    """The text's first `limit` non-empty lines, squashed, without bookmarks and web-page chrome."""
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"^\[bookmark:[^\]]*\]", "", _squash(raw))
        if line and not _is_chrome(line):
            lines.append(line)
            if len(lines) == limit:
                break
    return lines


# ----------------------------------------------------------------------------- places


def _level(name: str) -> int:
    """How specific a place is: a district or county 3, a city 2, a province (or anything else) 1."""
    return 3 if name.endswith(("区", "县")) else 2 if name.endswith("市") else 1


@lru_cache(maxsize=1)
def _places() -> tuple[tuple[str, tuple[str, ...]], ...]:
    vocab = vocabulary()
    table = {**vocab.districts, **vocab.other_places}
    return tuple((name, tuple(sorted({name.lower(), *aliases}, key=len, reverse=True))) for name, aliases in table.items())


def _first_at(text: str, alias: str) -> int:
    suffixes = vocabulary().street_suffixes
    for match in re.finditer(re.escape(alias), text):
        if not text.startswith(suffixes, match.end()):  # 北京西路 is a street of 静安, not 北京
            return match.start()
    return -1


def _most_specific(text: str, full_names_only: bool) -> str:
    folded = unicodedata.normalize("NFKC", text).lower()
    found = []
    for name, aliases in _places():
        spots = [_first_at(folded, a) for a in ((name.lower(),) if full_names_only else aliases)]
        spots = [s for s in spots if s >= 0]
        if spots:
            found.append((-_level(name), min(spots), name))
    return min(found)[2] if found else ""


def place_from(title: str, text: str = "") -> str:
    """The place the title names (aliases count: 闵行 = 闵行区); else the one the first lines name in
    full, the speaker's signature (广东省省长) or the congress (在上海市第十六届人民代表大会) first."""
    place = _most_specific(title, full_names_only=False)
    if place or not text:
        return place
    lines = first_lines(text, rules()["place"]["max_lines"])
    for pattern in rules()["place"]["signatures"]:
        for line in [*lines, "".join(lines)]:  # a line break may cut the congress's name
            match = re.search(pattern, line)
            if match:
                return _most_specific(match.group(1), full_names_only=True) or match.group(1)
    return _most_specific("\n".join(lines), full_names_only=True)


# ----------------------------------------------------------------------------- kind, years, title


def kind_from(title: str) -> str:
    cues = rules()["kinds"]
    folded = _nfkc(title)
    for kind, words in cues.items():
        if kind != "default" and any(word in folded for word in words):
            return kind
    return cues["default"]


def report_year(title: str, text: str = "") -> int | None:
    """The year a report is of: the last year its title names, else the date of its first lines."""
    years = [int(y) for y in _YEAR.findall(_nfkc(title))]
    if years:
        return max(years)
    for line in first_lines(text, rules()["place"]["max_lines"]):
        date = _DATE.search(_nfkc(line))
        if date:
            return int(date.group(1))
    return None


# "到2030年底", "至2025年": a year a plan sets its targets for
_TARGET_YEAR = re.compile(r"(?:到|至)\s*((?:19|20)\d\d)\s*年")


def years_from(title: str, kind: str = "", text: str = "") -> str:
    if kind == "work_report":
        year = report_year(title, text)
        return f"{year - 1}-{year}" if year else ""
    plans, title = vocabulary().plans, _nfkc(title)
    span = _RANGE.search(title)  # "（2026-2028年）" says more than the plan's name
    if span:
        return f"{span.group(1)}-{span.group(2)}"
    spelled = {spelling: name for spelling, name in rules()["plan_names"].items()} | {name: name for name in plans}
    for spelling in sorted(spelled, key=len, reverse=True):
        if spelling in title and spelled[spelling] in plans:
            first, last = plans[spelled[spelling]]
            return f"{first}-{last}"
    years = sorted({int(y) for y in _YEAR.findall(_nfkc(title))})
    if not years and text and kind in ("action_plan", "special_plan", "five_year_plan"):
        # a plan whose title names no years ("…实施方案"): from its date to the last year it sets targets for
        start = report_year(title, text)
        targets = [int(y) for y in _TARGET_YEAR.findall(_nfkc(text))]
        if targets:
            first = min([start] if start else targets)
            return f"{first}-{max(targets)}" if max(targets) > first else str(first)
    if not years:
        return ""
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


def title_from(file_name: str, text: str) -> str:
    """The file's name when it says something in Chinese, else the report's first lines up to a
    line that ends like a title (…报告, …纲要), else the file's name; then a published plan's own
    title out of its notice, and a generic title completed with the place and year."""
    stem = Path(file_name).stem
    title_rules = rules()["title"]
    if re.search(r"[\u4e00-\u9fff]{4,}", stem):
        title = _squash(stem)
    else:
        lines = first_lines(text, title_rules["max_lines"])
        title = ""
        for n in range(1, len(lines) + 1):
            candidate = "".join(lines[:n])
            if len(candidate) > title_rules["max_chars"]:
                break
            if re.sub(r"[（(][^（）()]{1,20}[)）]$", "", candidate).endswith(tuple(title_rules["endings"])):  # …规划（2022年更新）
                title = candidate
                break
        if not title:
            title = lines[0][: title_rules["max_chars"]] if lines and re.search(r"[\u4e00-\u9fff]", lines[0]) else stem
    notice = _NOTICE.search(title)
    if notice:  # "关于转发区建设管理委制订的《X》的通知": the quoted title, not who drew it up
        quoted = re.findall(r"《([^《》]{4,})》", notice.group(0))
        title = quoted[-1] if quoted else notice.group(1)
    if title in title_rules["generic"]:
        place, year = place_from("", text), report_year("", text)
        title = f"{place}{f'{year}年' if year else ''}{title}"
    return title


def doc_id_base(file_name: str, fields: dict) -> str:
    """An ASCII file name gives the id ("jingan-2023-plan-report.pdf"); otherwise district, year
    and kind do (the place's pinyin alias from places.toml)."""
    stem = Path(file_name).stem
    if re.search(r"[a-zA-Z]{3,}", stem) and not re.search(r"[^\x00-\x7f]", stem):
        return slugify(stem)
    aliases = dict(_places()).get(fields.get("district", ""), ())
    pinyin = next((a for a in aliases if re.fullmatch(r"[a-z]+", a)), "")
    year = fields.get("year", "").split("-")[-1 if fields.get("kind") == "work_report" else 0]
    kind = fields.get("kind", "").replace("_", "-")
    return slugify("-".join(p for p in (pinyin, year, kind) if p and p != "unknown") or "report")


def prefill_fields(file_name: str, text: str) -> dict:
    """title, district, year and kind of a new report (doc_id: catalog.doc_id_for)."""
    title = title_from(file_name, text)
    kind = kind_from(title)
    return {"title": title, "district": place_from(title, text), "year": years_from(title, kind, text), "kind": kind}
