"""Text formats of plain rows: JSON, CSV, Markdown (no pydantic, no torch; used by the fast query path)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any


def cell(value: Any) -> str:
    """Text of a value in CSV/Markdown cells: lists joined by ', '."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def to_json(data: Any) -> str:
    """Indented JSON."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_csv(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    """CSV with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([cell(row.get(k)) for k in keys])
    return out.getvalue()


def md_escape(text: str) -> str:
    """Escape a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], headers: Sequence[str] | None = None
) -> str:
    """A GitHub-flavoured Markdown table."""
    head = list(headers or keys)
    lines = ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(md_escape(cell(row.get(k))) for k in keys) + " |")
    return "\n".join(lines) + "\n"
