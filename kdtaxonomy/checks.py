"""Catalog-wide checks beyond the schema of a single entry (no torch)."""

from __future__ import annotations

from pathlib import Path

from kdtaxonomy.schema import Entry
from kdtaxonomy.vocabulary import Vocabulary


def run_extra_checks(entries: list[tuple[Path, Entry]], vocabulary: Vocabulary) -> list[object]:
    """Problems that need the whole catalog: survey rows claimed twice."""
    from kdtaxonomy.catalog import Problem

    problems: list[object] = []
    rows: dict[str, str] = {}
    for path, entry in entries:
        for index, config in enumerate(entry.configurations):
            row = config.survey_row
            if row is None:
                continue
            owner = f"{entry.id}#{config.name}"
            if row.work in rows:
                problems.append(
                    Problem(
                        str(path),
                        f"survey row {row.work!r} is already encoded by {rows[row.work]}",
                        None,
                        f"configurations.{index}.survey_row.work",
                    )
                )
            rows[row.work] = owner
    return problems
