"""A rendered-format-independent table: caption, columns, text rows, JSON records and citation keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TableData:
    """A rendered-format-independent table."""

    caption: str
    columns: list[tuple[str, str]]
    """(key, header) pairs."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    cite: list[str] = field(default_factory=list)
    """Catalog id of each row (for ``\\cite``); empty string when a row cites nothing."""
    records: list[dict[str, Any]] = field(default_factory=list)
    """Typed rows for JSON (numbers as numbers), one per row; JSON prints ``rows`` when empty."""

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.columns]

    def add(self, row: dict[str, Any], record: dict[str, Any], cite: str) -> None:
        """Append a text row with its JSON record and citation key."""
        self.rows.append(row)
        self.records.append(record)
        self.cite.append(cite)

    def json_rows(self) -> list[dict[str, Any]]:
        """What JSON prints: the typed records, or the text rows when there are none."""
        return self.records if len(self.records) == len(self.rows) and self.records else self.rows
