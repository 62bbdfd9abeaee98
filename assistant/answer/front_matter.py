"""Questions about a document itself: its number (文号), who issued it and when, who delivered a work
report and at which meeting. They are answered from the document's front matter (its opening lines:
title, 文号, the notice and its signature with the date; a work report's subtitle "——2026年1月27日在…
会议上" and "省长 叶建春"), each fact cited to the line that states it, never from its body.
"""

from __future__ import annotations

import re
from typing import Sequence

from assistant.answer.verify import Sentence
from assistant.models import Chunk, Query

FRONT = 16  # the opening blocks of a document searched for its front matter
_NUMBER = re.compile(r"[\u4e00-\u9fff]{1,12}[〔【\[(（]\s*\d{4}\s*[〕】\])）]\s*第?\s*\d{1,4}\s*号")
_DATE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日")
_ORGANISATION = r"(?:委员会|人民政府|政府|办公室|办公厅|局|委|办|厅|部|中心|集团)"
_ISSUER = re.compile(rf"^(?:上海市|[\u4e00-\u9fff]{{2,6}}[省市区县])?[\u4e00-\u9fff（）()]{{2,30}}{_ORGANISATION}$")
_SPEAKER = re.compile(r"(?:^|\s|政府)((?:省长|市长|区长|县长|主席|主任)\s*[\u4e00-\u9fff]{2,4})(?:\s|$)")
# "在…第四次会议上" (a work report delivered), "（2026年1月22日…第九次会议通过）" (a plan approved)
_MEETING = re.compile(r"(\d{4}年\d{1,2}月\d{1,2}日)?(在)?([\u4e00-\u9fff\d]{4,40}?(?:会议|大会))(上|审议通过|通过|批准)")
_ISSUED_TITLE = re.compile(r"^(.{2,80}?)关于(?:印发|转发)")
_SHORT = 60  # a front-matter line is short; a paragraph of the body is not
_BODY = re.compile(rf"[\u4e00-\u9fff（）()]{{2,30}}?{_ORGANISATION}")
_SIGNED = re.compile(rf"^((?:{_BODY.pattern}\s*)+)({_DATE.pattern})")


def document_asked(query: Query, passages: Sequence[Chunk]) -> str:
    """The document a question about a document itself asks of (its number, issuer, date…): the one it
    names, else the one of its best passage; "" when it asks of the content. A date alone is asked of a
    document only when the question names one."""
    if not query.metadata or (set(query.metadata) == {"date"} and not (query.doc_ids or query.doc_kinds)):
        return ""
    if query.doc_ids:
        return query.doc_ids[0]
    return passages[0].doc_id if passages else ""


class FrontMatter:
    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.opening: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            blocks = self.opening.setdefault(chunk.doc_id, [])
            if len(blocks) < FRONT:
                blocks.append(chunk)

    def answer(self, query: Query, doc_id: str) -> list[Sentence] | None:
        """The asked facts of the document, each cited; None when its opening states none of them."""
        blocks = self.opening.get(doc_id, [])
        if not blocks:
            return None
        found = {name: finder(blocks) for name, finder in _FINDERS.items() if name in query.metadata}
        found = {name: hit for name, hit in found.items() if hit is not None}
        if not found:
            return None
        sentences = []
        for name in query.metadata:
            if name in found:
                value, chunk = found[name]
                sentences.append(Sentence(_say(name, value, query.english), [chunk.chunk_id], chunks=[chunk]))
        missing = [n for n in query.metadata if n not in found]
        if missing:
            words = "、".join(_LABEL[n][0] for n in missing)
            sentences.append(Sentence(f"The document's opening does not state its {', '.join(_LABEL[n][1] for n in missing)}."
                                      if query.english else f"文件开头和落款中没有写明{words}。", [blocks[0].chunk_id], chunks=[blocks[0]]))
        return sentences


def _number(blocks: list[Chunk]) -> tuple[str, Chunk] | None:
    for chunk in blocks:
        match = _NUMBER.search(chunk.text)
        if match and (len(chunk.text) <= _SHORT or chunk is blocks[0]):
            return re.sub(r"\s+", "", match.group(0)), chunk
    return None


def _opening_date(text: str) -> str:
    """The signature's date a block opens with, or "". What follows the date line may have been read into
    the same block ("2024年12月19日头桥街道…实施方案(2025-2027年)", "2026年7月7日松江区…规划为进一步落实…"):
    a full date followed by no verb of its own ("2025年6月起实施" is body text)."""
    match = _DATE.match(text.strip())
    if not match or re.match(r"[\d年月日]*[在起前后至到，,、]", text.strip()[match.end():]):
        return ""
    return match.group(0)


def _date_line(blocks: list[Chunk]) -> int | None:
    return next((i for i, c in enumerate(blocks) if _opening_date(c.text)), None)


def _signature(blocks: list[Chunk]) -> tuple[str, str, Chunk] | None:
    """(bodies, date, block) of a signature whose lines were read as one block with what follows
    ("上海市静安区发展和改革委员会上海市静安区科技和经济委员会2026年3月25日静安区打造…")."""
    for chunk in blocks:
        match = _SIGNED.search(chunk.text)
        if match:
            return "、".join(_BODY.findall(match.group(1))), match.group(2), chunk
    return None


def _date(blocks: list[Chunk]) -> tuple[str, Chunk] | None:
    at = _date_line(blocks)
    if at is not None:
        return _opening_date(blocks[at].text), blocks[at]
    signed = _signature(blocks)
    if signed:
        return signed[1], signed[2]
    for chunk in blocks[:4]:  # a work report's subtitle: "——2026年1月27日在…会议上"
        match = _DATE.search(chunk.text)
        if match and len(chunk.text) <= _SHORT:
            return match.group(0), chunk
    return None


def _issuer(blocks: list[Chunk]) -> tuple[str, Chunk] | None:
    at = _date_line(blocks)
    if at is not None:  # the signature: the bodies' names on the lines just above the date
        names = []
        for chunk in reversed(blocks[:at]):
            if not _ISSUER.match(chunk.text.strip()):
                break
            names.insert(0, chunk.text.strip())
        if names:
            return "、".join(names), blocks[at - 1]
    signed = _signature(blocks)
    if signed and signed[0]:
        return signed[0], signed[2]
    match = _ISSUED_TITLE.match(blocks[0].text)  # "X、Y关于印发《…》的通知"
    return (match.group(1), blocks[0]) if match else None


def _speaker(blocks: list[Chunk]) -> tuple[str, Chunk] | None:
    for chunk in blocks[:8]:
        match = _SPEAKER.search(chunk.text.strip())
        if match and len(chunk.text) <= _SHORT:
            return re.sub(r"\s+", "", match.group(1)), chunk
    return None


def _meeting(blocks: list[Chunk]) -> tuple[str, Chunk] | None:
    """The meeting, with the day when the line gives it ("2024年1月17日在…第四次会议上")."""
    for chunk in blocks[:6]:
        match = _MEETING.search(chunk.text)
        if match and len(chunk.text) <= _SHORT * 2 and (match.group(2) or match.group(4) != "上"):
            day, meeting, verb = match.group(1) or "", match.group(3), match.group(4)
            if verb == "上":
                return f"报告于{day}在{meeting}上作出", chunk
            return f"{day}{'' if meeting.startswith('经') else '经'}{meeting}{verb}", chunk
    return None


_FINDERS = {"number": _number, "issuer": _issuer, "date": _date, "speaker": _speaker, "meeting": _meeting}
_LABEL = {"number": ("文号", "document number"), "issuer": ("印发单位", "issuer"), "date": ("日期", "date"),
          "speaker": ("报告人", "speaker"), "meeting": ("会议", "meeting")}


def _say(name: str, value: str, english: bool) -> str:
    if english:
        return {"number": f"Document number: {value}", "issuer": f"Issued by: {value}", "date": f"Date: {value}",
                "speaker": f"Delivered by: {value}", "meeting": f"Delivered: {value}"}[name] + "."
    return {"number": f"文号为{value}。", "issuer": f"印发单位为{value}。", "date": f"日期为{value}。",
            "speaker": f"报告人为{value}。", "meeting": f"{value}。"}[name]
