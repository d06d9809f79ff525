"""The tables of ``kdtax list`` and ``kdtax registry``, drawn from plain rows (no pydantic, no torch).

Both are :class:`~kdtaxonomy.render.fit.Grid` s: a wide table when it fits, else one block per row (the
layout rule and the output width are in :mod:`kdtaxonomy.render.fit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kdtaxonomy.render.fit import Column, Grid

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


def list_table(rows: Sequence[dict[str, Any]], multi: set[str]) -> Grid:
    """The table of ``kdtax list``; ``multi`` holds ids of entries with several configurations.

    ``ID`` (``id`` or ``id#configuration``) is never wrapped; the term columns put one term a line and
    never break a term; Datasets wraps between words. Wide when the console has at least
    :meth:`Grid.wide_width` columns (about 200 for the whole shipped catalog, fewer for a filtered list),
    else one block per configuration: ``id#configuration``, then ``Year:``, ``Objective:`` ... lines.
    """
    columns = [
        Column(name, keep=key in {None, "year"}, join=", " if key == "datasets" else "\n")
        for name, key in COLUMNS
    ]
    cells: list[list[str | list[str]]] = []
    for row in rows:
        ident = f"{row['id']}#{row['configuration']}" if row["id"] in multi else row["id"]
        line: list[str | list[str]] = [ident]
        for _, key in COLUMNS[1:]:
            value = row[key]
            line.append([str(v) for v in value] if isinstance(value, list) else str(value))
        cells.append(line)
    return Grid(columns, cells, title=f"{len(rows)} configuration(s)", show_lines=True)


REGISTRY_KEYS = ("kind", "key", "term", "params", "reads", "summary")


def registry_table(rows: Sequence[dict[str, str]], keys: Sequence[str] = REGISTRY_KEYS) -> Grid:
    """The table of ``kdtax registry`` (columns ``keys``): kind, key and term kept whole; the others wrap
    between words. Stacked, each block is headed by the component's key."""
    columns = [Column(key, keep=key in {"kind", "key", "term"}) for key in keys]
    cells = [[row[k] for k in keys] for row in rows]
    return Grid(columns, cells, title=f"{len(rows)} registered component(s)", heading=1)
