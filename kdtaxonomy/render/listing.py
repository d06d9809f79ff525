"""The rich table of ``kdtax list``, drawn from plain index rows (no pydantic, no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

COLUMNS = (
    ("ID", None),
    ("Year", "year"),
    ("Objective", "objective"),
    ("Teacher", "teacher"),
    ("Knowledge", "knowledge"),
    ("Transfer", "transfer"),
    ("Student", "student"),
    ("Datasets", "datasets"),
)


def list_table(rows: Sequence[dict[str, Any]], multi: set[str]) -> Table:
    """The table of ``kdtax list``; ``multi`` holds ids of entries with several configurations."""
    table = Table(title=f"{len(rows)} configuration(s)")
    for name, _ in COLUMNS:
        table.add_column(name, overflow="fold")
    for row in rows:
        ident = f"{row['id']}#{row['configuration']}" if row["id"] in multi else row["id"]
        cells = [ident]
        for _, key in COLUMNS[1:]:
            value = row[key]
            cells.append(", ".join(value) if isinstance(value, list) else str(value))
        table.add_row(*cells)
    return table
