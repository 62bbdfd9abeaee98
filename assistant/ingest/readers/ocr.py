"""OCR of a PDF page without a text layer (a scan), with rapidocr-onnxruntime when it is installed.

RapidOCR ships its PP-OCRv4 Chinese models inside the wheel, so it works offline. Measured on a
page of the 静安 report rendered at 200 dpi: 99.0-99.9% of the characters right, 4-8 s per page on
one busy core (eval/reports/formats.md). Each recognised line comes back with its box, so the
page's lines go through the same paragraph assembly as a text layer's.
"""

from __future__ import annotations

import threading
from functools import lru_cache

DPI = 200  # PP-OCR's detector is trained on text ~20-40 px high: 12 pt at 200 dpi is ~33 px
MIN_SCORE = 0.5  # lines recognised with less confidence are dropped
_lock = threading.Lock()  # one OCR at a time: the engine is not documented as thread-safe, and it uses every core


@lru_cache(maxsize=1)
def _engine():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


@lru_cache(maxsize=1)
def available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except Exception:  # not installed, or OpenCV missing a system library (libGL: `make ocr-libs`)
        return False
    return True


def recognise(pdf_path, page_index: int) -> list[tuple[str, float, float, float, float]]:
    """(text, x0, x1, top, bottom) of each line on the page, in PDF points (1/72 inch), top to bottom."""
    import numpy as np
    import pypdfium2

    scale = DPI / 72
    document = pypdfium2.PdfDocument(str(pdf_path))
    try:
        image = document[page_index].render(scale=scale).to_pil().convert("RGB")
    finally:
        document.close()
    with _lock:
        result, _ = _engine()(np.asarray(image)[:, :, ::-1])  # RGB -> BGR, as OpenCV reads images
    boxes = []
    for box, text, score in result or []:
        if float(score) < MIN_SCORE or not text.strip():
            continue
        xs, ys = [p[0] / scale for p in box], [p[1] / scale for p in box]
        boxes.append((text.strip(), min(xs), max(xs), min(ys), max(ys)))
    return _rows(boxes)


def _rows(boxes: list[tuple[str, float, float, float, float]]) -> list[tuple[str, float, float, float, float]]:
    """Boxes on one visual line (a table's cells come back one box each) joined left to right:
    cells more than a character height apart are separated by a tab, as parse.py reads rows."""
    if not boxes:
        return []
    height = sorted(b[4] - b[3] for b in boxes)[len(boxes) // 2]
    lines: list[list[tuple[str, float, float, float, float]]] = []
    for box in sorted(boxes, key=lambda b: (b[3] + b[4]) / 2):
        centre = (box[3] + box[4]) / 2
        if lines and abs(centre - sum((b[3] + b[4]) / 2 for b in lines[-1]) / len(lines[-1])) < 0.5 * height:
            lines[-1].append(box)
        else:
            lines.append([box])
    out = []
    for line in lines:
        line.sort(key=lambda b: b[1])
        text = line[0][0]
        for before, box in zip(line, line[1:]):
            text += ("\t" if box[1] - before[2] > height else "") + box[0]
        out.append((text, line[0][1], max(b[2] for b in line), min(b[3] for b in line), max(b[4] for b in line)))
    return out
