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
    table = Table(title=f"{len(rows)} configuration(s)", show_lines=True)
    for name, key in COLUMNS:
        longest = max((len(t) for r in rows for t in r[key]), default=0) if key not in {None, "year"} else 0
        min_width = min(longest, 13) if key != "datasets" else 10
        table.add_column(name, no_wrap=key == "year", overflow="fold", min_width=min_width or None)
    for row in rows:
        ident = f"{row['id']}#{row['configuration']}" if row["id"] in multi else row["id"]
        cells = [ident]
        for _, key in COLUMNS[1:]:
            value = row[key]
            joiner = ", " if key == "datasets" else "\n"
            cells.append(joiner.join(value) if isinstance(value, list) else str(value))
        table.add_row(*cells)
    return table
