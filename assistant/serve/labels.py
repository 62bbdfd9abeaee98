"""How the pages name things: report kinds by their Chinese names (`vocab/library.toml [kind_names]`),
and stored UTC times in the local time zone (setting `time_zone`, Asia/Shanghai)."""

from __future__ import annotations

import tomllib
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assistant.vocab import VOCAB_DIR

DEFAULT_ZONE = "Asia/Shanghai"


@lru_cache(maxsize=1)
def kind_names() -> dict[str, str]:
    """kind id -> its Chinese name, in the catalog's order (yearly_report -> 年度计划执行情况报告)."""
    data = tomllib.loads((VOCAB_DIR / "library.toml").read_text(encoding="utf-8"))
    return dict(data["kind_names"])


def kind_label(kind: str) -> str:
    return kind_names().get(kind, kind)


@lru_cache(maxsize=8)
def zone(name: str = DEFAULT_ZONE) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def zone_of(settings: object) -> ZoneInfo:
    return zone(str(getattr(settings, "time_zone", DEFAULT_ZONE)))


def local_time(iso: str, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored ISO time (UTC, or any offset; naive counts as UTC) in `tz`; "" when it is not a time."""
    try:
        when = datetime.fromisoformat(str(iso))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(tz).strftime(fmt)


def now_local(tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.now(tz).strftime(fmt)

