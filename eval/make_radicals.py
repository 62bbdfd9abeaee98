"""Write assistant/readers/radicals.tsv from the Unicode Character Database.

    apt-get install -y unicode-data && .venv/bin/python eval/make_radicals.py

Some PDF fonts map their glyphs to CJK radical code points (⺠ U+2EA0, ⼤ U+2F24) instead of the
ideographs they show (民, 大); the PDF reader maps them back with this table.
"""

from __future__ import annotations

from pathlib import Path

SOURCE = Path("/usr/share/unicode/EquivalentUnifiedIdeograph.txt")
TARGET = Path(__file__).resolve().parent.parent / "assistant" / "readers" / "radicals.tsv"
HEADER = """# CJK radicals (CJK Radicals Supplement U+2E80-2EFF, Kangxi Radicals U+2F00-2FDF) -> the unified
# ideograph they look like. Some PDF fonts map their glyphs to these code points, so a PDF text layer
# reads "国⺠经济" or "⼤⼒" for 国民经济, 大力 (measured in eval/reports/formats.md); the PDF reader maps them back.
# Source: Unicode Character Database, EquivalentUnifiedIdeograph.txt (Debian package unicode-data),
# radical rows only; written by eval/make_radicals.py.
# radical<TAB>ideograph
"""


def main() -> int:
    rows = []
    for line in SOURCE.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        source, target = (field.strip() for field in line.split(";"))
        first, _, last = source.partition("..")
        for code in range(int(first, 16), int(last or first, 16) + 1):
            if 0x2E80 <= code <= 0x2FDF:
                rows.append(f"{chr(code)}\t{chr(int(target, 16))}")
    TARGET.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"{TARGET}: {len(rows)} radicals")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
