"""The question vocabulary, loaded once from `assistant/vocab/*.toml` (data, not code).

places.toml: the corpus districts and their aliases, places outside the corpus, street suffixes.
question.toml: period, relative-time, intent, measure, follow-up and stop words.
synonyms.toml: colloquial wording -> the reports' terms. english.toml: English -> Chinese terms.

Shared by every stage (facts, question parsing, answers). May import: nothing of the assistant.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

VOCAB_DIR = Path(__file__).resolve().parent


def _load(name: str) -> dict:
    with open(VOCAB_DIR / name, "rb") as handle:
        return tomllib.load(handle)


@dataclass(frozen=True)
class Measure:
    name: str  # growth | share | amount | count | area | length
    words: tuple[str, ...]
    units: tuple[str, ...]
    label: str  # how an answer names it: 增长率, 金额…


@dataclass(frozen=True)
class Vocabulary:
    districts: dict[str, tuple[str, ...]]  # corpus district -> aliases (lower case)
    other_places: dict[str, tuple[str, ...]]
    street_suffixes: tuple[str, ...]
    period_words: dict[str, tuple[str, ...]]  # outcome | target | fyp | prior -> words
    milestones: tuple[str, ...]  # "到{year}年": a year said as a deadline is a target year
    relative_years: dict[str, int]
    intents: tuple[tuple[str, tuple[str, ...]], ...]  # in priority order
    measures: tuple[Measure, ...]  # in priority order (growth before amount…)
    follow_up_starts: tuple[str, ...]
    follow_up_ends: tuple[str, ...]
    pronouns: tuple[str, ...]
    pronoun_lookalikes: tuple[str, ...]  # 其他, 其中: a pronoun's character inside another word
    figure_asks: tuple[str, ...]  # 多少, 几, how much: a figure is asked
    extra_asks: tuple[str, ...]  # what else a question asks for beside a figure ("and what", 是什么)
    table_words: dict[str, tuple[str, ...]]  # last, first, count, which, sole, footnote_mark, meaning
    threshold_words: dict[str, tuple[str, ...]]  # above, below, asks
    courtesy: tuple[str, ...]  # 您好, 想请教一下: a leading clause of these is no part of the question
    self_reference: tuple[str, ...]  # 我是…, 领导让我…: a leading clause about the asker
    ask_starts: tuple[str, ...]  # 想麻烦您帮我查一下: where the asking starts after the asker's story
    question_phrases: tuple[str, ...]
    premise: dict[str, tuple[str, ...]]  # asks_why | missed | down | up -> words
    contrasts: tuple[tuple[str, str], ...]  # quantities that sound alike (支出 / 收入)
    all_districts: tuple[str, ...]  # "两区"
    broad: frozenset[str]  # words too general to search for ("经济", "情况")
    stopwords: frozenset[str]
    synonyms: dict[str, str]  # colloquial (lower case) -> report term
    english: dict[str, str]  # English phrase -> Chinese term
    columns_en: dict[str, str]
    operations: dict[str, tuple[str, ...]]  # sum | consistency -> words
    document_kinds: dict[str, tuple[str, ...]]  # five_year_plan | task_table | yearly_report -> words
    units_en: dict[str, str]  # 亿元 -> hundred million yuan
    districts_en: dict[str, str]  # 闵行区 -> Minhang
    kinds_en: dict[str, str]  # five_year_plan -> 14th Five-Year Plan
    item_numerals: dict[str, int]  # 四 -> 4 (how many items a list question asks for)
    item_counters: tuple[str, ...]  # 大, 个, 项 …
    item_ends: tuple[str, ...]  # words after the kind of item (是, 包括, ？)
    item_which: tuple[str, ...]  # 哪些: names the kind without a count
    plans: dict[str, tuple[int, int]]  # 十四五 -> (2021, 2025)
    plan_start: tuple[str, ...]  # 开好局: a heading about a plan's first year
    plans_en: dict[str, str]  # 十四五 -> 14th Five-Year Plan
    part_asks: tuple[str, ...] = ()  # 多少, 吗: a part of a several-part question asks something
    part_starts_en: tuple[str, ...] = ()  # how, what: an English part starts with one of these
    metadata: tuple[tuple[str, tuple[str, ...]], ...] = ()  # number | issuer | date | speaker | meeting -> words

    def count_pattern(self, open_end: bool = False) -> re.Pattern[str]:
        """numeral + counter + the kind of item (quoted or not) up to an end word (`open_end`: the
        CJK text that follows, for the caller to cut)."""
        numerals = "|".join(map(re.escape, self.item_numerals)) + r"|\d{1,2}"
        counters = "|".join(map(re.escape, sorted(self.item_counters, key=len, reverse=True)))
        ends = "|".join(map(re.escape, self.item_ends))
        if open_end:
            return re.compile(rf"({numerals})(?:{counters})[“\"‘]?([\u4e00-\u9fff]{{2,8}})")
        return re.compile(rf"({numerals})(?:{counters})[“\"‘]?([\u4e00-\u9fff]{{0,8}}?)[”\"’]?(?={ends}|$)")

    @property
    def table_word_set(self) -> frozenset[str]:
        return frozenset(w for words in self.table_words.values() for w in words)

    def plan_ending(self, year: int | None) -> str:
        """The name of the five-year plan whose last year is `year` (2025 -> 十四五), or ""."""
        return next((name for name, (_, last) in self.plans.items() if last == year), "")

    def plan_named(self, text: str) -> tuple[str, tuple[int, int]] | None:
        """The plan a text names ("十五五", "“十四五”") and its years, or None."""
        found = [(text.find(name), name) for name in self.plans if name in text]
        if not found:
            return None
        name = min(found)[1]
        return name, self.plans[name]

    def count_of(self, numeral: str) -> int:
        """四 -> 4, 12 -> 12 (a numeral count_pattern matched)."""
        return self.item_numerals.get(numeral) or int(numeral)

    def is_count_word(self, token: str) -> bool:
        """四大, 两个, 3项: a count, not what the question is about."""
        return any(token.startswith(n) and token[len(n):] in self.item_counters for n in self.item_numerals) or bool(
            re.fullmatch(r"\d{1,2}", token[:-1]) and token[-1:] in self.item_counters)

    def shield(self, text: str) -> str:
        """The text with each pronoun lookalike (其他, 其中) as one private-use character, so that
        neither a pronoun search nor a cut of follow-up words splits it; `unshield` restores it."""
        for i, word in enumerate(self.pronoun_lookalikes):
            text = text.replace(word, chr(_SHIELD + i))
        return text

    def unshield(self, text: str) -> str:
        return re.sub(r"[\ue000-\ue0ff]", lambda m: self.pronoun_lookalikes[ord(m.group(0)) - _SHIELD], text)

    def refers_back(self, text: str) -> bool:
        """A pronoun points back ("它的…", "这个指标", "its target"), not a lookalike (其他) or an
        English word that holds one ("city", "with")."""
        shielded = self.shield(text)
        return any(re.search(rf"\b{re.escape(p)}\b", shielded) if p.isascii() else p in shielded for p in self.pronouns)

    # ------------------------------------------------------------------ matching

    def find_places(self, lowered: str, table: dict[str, tuple[str, ...]]) -> list[str]:
        """Canonical names of the places of `table` named in the text, streets excluded."""
        found = []
        for name, aliases in table.items():
            for alias in sorted({name.lower(), *aliases}, key=len, reverse=True):
                if any(not self._is_street(lowered, m.end()) for m in re.finditer(re.escape(alias), lowered)):
                    found.append(name)
                    break
        return found

    def _is_street(self, text: str, end: int) -> bool:
        return any(text.startswith(suffix, end) for suffix in self.street_suffixes)

    def alias_spans(self) -> list[str]:
        """Every district alias, longest first (to cut them out of a topic)."""
        names = {a for name, aliases in self.districts.items() for a in (name.lower(), *aliases)}
        names |= {a for name, aliases in self.other_places.items() for a in (name.lower(), *aliases)}
        return sorted(names, key=len, reverse=True)


_SHIELD = 0xE000  # first private-use code point: pronoun lookalikes while a question is cut


def _phrases(words: list[str]) -> tuple[str, ...]:
    return tuple(sorted((w.lower() for w in words), key=len, reverse=True))


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    places, question, synonyms, english = (_load(n) for n in ("places.toml", "question.toml", "synonyms.toml", "english.toml"))
    measures = tuple(Measure(name, _phrases(spec["words"]), tuple(spec["units"]), spec["name"])
                     for name, spec in question["measure"].items())
    return Vocabulary(
        districts={name: tuple(a.lower() for a in aliases) for name, aliases in places["corpus_districts"].items()},
        other_places={name: tuple(a.lower() for a in aliases) for name, aliases in places["other_places"].items()},
        street_suffixes=tuple(places["street_suffixes"]["suffixes"]),
        # a plan's name (“十五五”) says a five-year-plan period as the listed words do
        period_words={kind: _phrases(words + (list(question["plans"]) if kind == "fyp" else [])) for kind, words in question["period"].items()
                      if kind != "milestone"},
        milestones=tuple(question["period"]["milestone"]),
        relative_years={word.lower(): offset for word, offset in question["relative_years"].items()},
        intents=tuple((name, _phrases(words)) for name, words in question["intent"].items()),
        measures=measures,
        follow_up_starts=_phrases(question["follow_up"]["starts"]),
        follow_up_ends=tuple(question["follow_up"]["ends"]),
        pronouns=_phrases(question["follow_up"]["pronouns"]),
        pronoun_lookalikes=_phrases(question["follow_up"]["lookalikes"]),
        figure_asks=_phrases(question["question_phrases"]["figure"]),
        extra_asks=_phrases(question["question_phrases"]["also"]),
        courtesy=_phrases(question["courtesy"]["words"]),
        threshold_words={name: _phrases(words) for name, words in question["threshold"].items()},
        self_reference=_phrases(question["courtesy"]["self_reference"]),
        ask_starts=_phrases(question["courtesy"]["ask"]),
        table_words={name: _phrases(words) for name, words in question["table"].items()},
        question_phrases=_phrases(question["question_phrases"]["words"]),
        premise={name: _phrases(words) for name, words in question["premise"].items()},
        contrasts=tuple(tuple(pair) for pair in question["contrast"]["pairs"]),
        all_districts=_phrases(places["all_districts"]["words"]),
        broad=frozenset(question["overview"]["broad"]),
        stopwords=frozenset(w.lower() for w in question["stopwords"]["words"]),
        synonyms={k.lower(): v for k, v in synonyms["zh"].items()},
        # corpus phrases win over the general planning glossary where both name a phrase
        english={k.lower(): v for k, v in {**english.get("general", {}), **english["phrases"]}.items()},
        columns_en=dict(english["columns"]),
        operations={name: _phrases(words) for name, words in question["operation"].items()},
        document_kinds={name: _phrases(words) for name, words in question["document_kinds"].items()},
        units_en=dict(english["units"]),
        districts_en=dict(english["districts"]),
        kinds_en=dict(english["document_kinds"]),
        item_numerals=dict(question["items"]["numerals"]),
        item_counters=tuple(question["items"]["counters"]),
        item_ends=tuple(question["items"]["ends"]),
        plans={name: (int(years[0]), int(years[1])) for name, years in question["plans"].items()},
        plans_en=dict(english["plans"]),
        plan_start=tuple(question["plan_start"]["words"]),
        item_which=_phrases(question["items"]["which"]),
        part_asks=tuple(question["parts"]["asks"]),
        part_starts_en=tuple(question["parts"]["starts_en"]),
        metadata=tuple((name, _phrases(words)) for name, words in question["metadata"].items()),
    )
