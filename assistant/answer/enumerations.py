"""Lists written inside one sentence, for list questions whose items are not sub-headings (lists.py):

    "在南西、苏河湾、大宁、市北四大功能区举行…"          the count and kind follow the items
    "七大场景是指智能分诊导诊、院内导航、…"             an introducing word (包括, 是指) precedes them
    "包括浦江镇、吴泾镇、…、莘庄工业区"                  the items are of the asked kind (镇, 街道)
    "…总部经济的“贡献度”；…数字经济的“活跃度”；…"   parallel clauses quoting the asked kind (“…度”)

An enumeration is only taken when something anchors it to the question: the asked count and kind
next to the items, an introducing word after the question's subject, or items of the asked kind.
Otherwise the answerer keeps its other list strategies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.answer.lists import term_share
from assistant.models import Chunk, Hit, Query
from assistant.ingest.normalize import sentences
from assistant.vocab import vocabulary

SEARCHED_HITS = 8  # the question's best passages; an enumeration further down is rarely the one asked for
MIN_TOPIC_MATCH = 0.5  # share of the question's terms the stating sentence (or its heading) must contain
_ITEM = r"[^，,。；;：:、（）()\s]{1,20}"
_SERIAL = re.compile(rf"{_ITEM}(?:、{_ITEM})+(?:(?:和|及|以及|与){_ITEM})?")
_INTRO = re.compile(r"(包括|包含|是指|分别是|分别为)")
_QUOTED = re.compile(r"“([^”]{1,12})”")
_NOT_ITEM_TAGS = {"p", "d", "c", "u", "x", "r", "vd"}  # prepositions, adverbs, conjunctions, particles, quotes


@dataclass(frozen=True)
class Enumeration:
    items: tuple[str, ...]
    chunk: Chunk
    sentence: str  # the sentence that states them, as written
    label: str  # what they are, in the report's words ("四大功能区", "七大场景") or the question's
    clauses: bool = False  # items are whole clauses (parallel quoted clauses), shown one per line
    counted: bool = False  # anchored by the asked count and kind ("两大城市副中心"), the strongest anchor


def _count_words(count: int) -> list[str]:
    numerals = [n for n, value in vocabulary().item_numerals.items() if value == count] + [str(count)]
    return [n + c for n in numerals for c in vocabulary().item_counters]


def _trim_first(first: str) -> str:
    """The item at the end of the words before the first 、: "高标准建设虹桥" -> "虹桥", "在南西" -> "南西",
    "重大文化活动和“莘庄灯会" -> "莘庄灯会": the trailing words up to a verb, preposition, adverb or quote."""
    import jieba.posseg  # part-of-speech tags only here; the lexical index needs plain segmentation

    kept = ""
    for word in reversed(list(jieba.posseg.cut(first))):
        if word.flag in _NOT_ITEM_TAGS or (kept and word.flag.startswith("v")):
            break
        kept = word.word + kept
    return kept or first


def _kind_at(text: str, kinds: list[str]) -> int:
    """Where the asked kind ends in `text` (its last two characters suffice: 产业基地 for 文化产业基地), or -1."""
    for kind in kinds:
        for form in dict.fromkeys((kind, kind[-2:])):
            at = text.find(form)
            if at >= 0:
                return at + len(form)
    return -1


def _clean(item: str) -> str:
    """Without the 等 that ends a list and the quote marks that open or close it (便民“一键呼救” keeps its pair)."""
    item = item.strip().removesuffix("等")
    if item.startswith("“") and "”" not in item:
        item = item[1:]
    if item.endswith("”") and "“" not in item:
        item = item[:-1]
    return item.strip()


def _serial_items(query: Query, sentence: str) -> list[tuple[tuple[str, ...], str, int]]:
    """(items, label, strength) of each enumeration in the sentence that is anchored to the question;
    strength 3: the asked count and kind (or an introducing word after them), 2: the count and a kind
    that ends like the asked one (五大产业基地 for 五大文化产业基地), 1: weaker anchors."""
    kinds = [k for k in re.split(r"[和及与、]", query.item_kind) if k]
    found = []
    for match in _SERIAL.finditer(sentence):
        parts = match.group(0).split("、")
        last = re.split(r"和|以及|及|与", parts[-1])
        if len(last) == 2 and all(0 < len(p) <= 12 for p in last):
            parts = parts[:-1] + last
        before = sentence[:match.start()]
        intro = _INTRO.search(parts[0])
        label, strength = "", 0
        if query.item_count:
            # "…市北四大功能区": the count and the kind right after the last item
            for word in _count_words(query.item_count):
                at = parts[-1].find(word)
                kind_end = _kind_at(parts[-1][at:], kinds) if at > 0 else -1
                if at > 0 and (not kinds or kind_end > 0):
                    label = parts[-1][at:][:kind_end] if kinds else word
                    exact = not kinds or any(k in label for k in kinds)  # 三大潜能产业, not 三大优势产业
                    parts[-1] = parts[-1][:at]
                    parts = parts[-query.item_count:]
                    strength = 3 if exact else 2
                    break
        if intro is not None:
            head = parts[0][:intro.start()]
            parts[0] = parts[0][intro.end():]
            stated = (before + head)[-16:]
            if query.item_count and any(w in stated for w in _count_words(query.item_count)) and (not kinds or _kind_at(stated, kinds) > 0):
                label, strength = re.sub(r"^[^\u4e00-\u9fff]+", "", stated), 3  # "² 七大场景是指…"
            elif not strength:
                label, strength = "", 1
        elif strength:
            parts[0] = _trim_first(parts[0][parts[0].rfind("“") + 1:])
        parts = [_clean(p) for p in parts]
        if kinds and sum(any(p.endswith(k) for k in kinds) for p in parts) * 2 >= len(parts) >= 3:
            strength = max(strength, 1)
        if (query.item_count and len(parts) != query.item_count) or (strength < 2 and len(parts) < 3):
            continue
        if strength and all(parts):
            found.append((tuple(parts), _clean(label), strength))
    return found


def _quoted_clauses(query: Query, text: str) -> list[str]:
    """Clauses quoting a phrase of the asked kind: "不断扩大总部经济的“贡献度”" for "哪三个“度”"."""
    kind = query.item_kind
    if not kind or len(kind) > 2:
        return []
    clauses = re.split(r"[，,。；;]", text)
    return [c.strip() for c in clauses if any(q.endswith(kind) and q != kind for q in _QUOTED.findall(c))]


def find(query: Query, hits: list[Hit]) -> Enumeration | None:
    """The best anchored enumeration in the question's passages, or None."""
    if query.intent != "list" or not (query.item_count or query.item_kind):
        return None
    terms = [t for t in query.terms if len(t) > 1]
    candidates: list[tuple[tuple[int, float, int], Enumeration]] = []
    for rank, hit in enumerate(hits[:SEARCHED_HITS]):
        chunk = hit.chunk
        context = " ".join(chunk.breadcrumb)
        clauses = _quoted_clauses(query, chunk.text)
        if len(clauses) >= 2 and (not query.item_count or len(clauses) == query.item_count):
            candidate = Enumeration(tuple(clauses), chunk, chunk.text, query.item_kind, clauses=True, counted=bool(query.item_count))
            candidates.append(((2, term_share(terms, chunk.text + context), -rank), candidate))
        previous = ""
        for sentence in sentences(chunk.text):
            found = _serial_items(query, sentence)
            # "南部打造上海南部科创中心。包括浦江镇、…": the subject may be the sentence before
            topic = term_share(terms, previous + sentence + context) if found else 0.0
            previous = sentence
            for items, label, strength in found:
                if strength >= 2 or topic >= MIN_TOPIC_MATCH:
                    candidates.append(((strength, topic, -rank),
                                       Enumeration(items, chunk, sentence.strip(), label or query.item_kind, counted=strength >= 2)))
    best = max(candidates, key=lambda c: c[0], default=None)
    return best[1] if best else None
