"""``kdtax table leaderboard``: reported results of one dataset, methods x teacher -> student pairs (no torch).

Every reported result of the dataset that names its teacher and student and is a teacher, a student alone or
a distilled student, in one metric (default ``accuracy``), is a cell value. Rows: the teacher, the student
alone, then one row per catalog configuration (by year and id). Columns: teacher -> student pairs (the
registry model keys where the results give them, else the names with case, spaces and hyphens ignored) and,
where a source prints several numbers for one pair (torchdistill: the ``original work`` beside its own
reproduction), one column per such ``setting`` side by side. A cell prints each value with the footnote
numbers of its sources (``73.33 [1,5]``); the best distilled value of a column is marked ``(best)`` in the
metric's direction. JSON prints one record per result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdtaxonomy.render.table_data import TableData

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog
    from kdtaxonomy.provenance import Source
    from kdtaxonomy.schema import Entry, ReportedResult

ROLES = {"teacher": 0, "student-baseline": 1, "student-distilled": 2}
"""Roles on a leaderboard, in row order."""
ALONE_LABELS = {"teacher": "teacher", "student-baseline": "student alone"}
BEST = " (best)"
_FOLD = re.compile(r"[\s_-]+")
_MARKS = re.compile(r"(.*?)([*\u2020\u2021]*)")


def fold(name: str) -> str:
    """An architecture name compared ignoring case, spaces, underscores and hyphens."""
    return _FOLD.sub("", name.lower())


def pair_key(result: ReportedResult) -> tuple[str, str]:
    """(teacher, student) of a result as compared: registry keys where given, else the folded names."""
    return fold(result.teacher_model or result.teacher or ""), fold(
        result.student_model or result.student or ""
    )


@dataclass
class Column:
    key: tuple[str, str, str]
    """(teacher, student, setting)."""
    header: str
    pair: str
    """``teacher → student`` as the first result of the column names them."""


@dataclass
class Row:
    key: str
    """``teacher``, ``student`` or ``entry#configuration``."""
    label: str
    entry: str
    cells: dict[tuple[str, str, str], list[ReportedResult]] = field(default_factory=dict)


@dataclass
class Leaderboard:
    dataset: str
    metric: str
    higher_is_better: bool
    columns: list[Column]
    rows: list[Row]
    sources: list[Source]
    best: dict[tuple[str, str, str], float]
    """Best distilled value of each column."""

    def mark(self, source: Source) -> int:
        """Footnote number (1-based) of a source."""
        return self.sources.index(source) + 1


def _row_key(entry: Entry, result: ReportedResult) -> str:
    if result.role in ALONE_LABELS:
        return "teacher" if result.role == "teacher" else "student"
    return f"{entry.id}#{result.configuration}" if result.configuration else entry.id


def pairs_of(catalog: Catalog, dataset: str, metric: str = "accuracy") -> list[tuple[Entry, ReportedResult]]:
    """The results a leaderboard of ``dataset`` holds, in row order (role, year, entry id, file order)."""
    found = [
        (entry, result)
        for entry in catalog
        for result in entry.results
        if result.dataset == dataset
        and result.metric_id == metric
        and result.role in ROLES
        and result.teacher
        and result.student
    ]
    order = {id(r): i for i, (_, r) in enumerate(found)}
    return sorted(found, key=lambda er: (ROLES[er[1].role], er[0].year, er[0].id, order[id(er[1])]))


def build(
    catalog: Catalog,
    dataset: str,
    metric: str = "accuracy",
    teacher: str | None = None,
    student: str | None = None,
) -> Leaderboard:
    """The leaderboard of a canonical dataset label; ``teacher``/``student`` keep only matching pairs."""
    found = [
        (e, r)
        for e, r in pairs_of(catalog, dataset, metric)
        if (teacher is None or pair_key(r)[0] == fold(teacher))
        and (student is None or pair_key(r)[1] == fold(student))
    ]
    higher = catalog.datasets.metric(metric).direction == "higher"
    rows: dict[str, Row] = {}
    pair_order: dict[tuple[str, str], int] = {}
    headers: dict[tuple[str, str, str], tuple[str, str]] = {}
    sources: list[Source] = []
    for entry, result in found:
        key = _row_key(entry, result)
        if key not in rows:
            label = ALONE_LABELS.get(result.role, result.method)
            rows[key] = Row(key, label, "" if result.role in ALONE_LABELS else key)
        pair = pair_key(result)
        column = (*pair, result.setting or "")
        pair_order.setdefault(pair, len(pair_order))
        if column not in headers:
            names = f"{result.teacher_model or result.teacher} → {result.student_model or result.student}"
            headers[column] = (names + (f" ({result.setting})" if result.setting else ""), names)
        rows[key].cells.setdefault(column, []).append(result)
        if result.source not in sources:
            sources.append(result.source)
    for row in rows.values():
        if row.entry:  # the label most of the row's results give (ties: the first)
            labels = [r.method for results in row.cells.values() for r in results]
            row.label = max(dict.fromkeys(labels), key=labels.count)
    columns = [
        Column(k, *headers[k]) for k in sorted(headers, key=lambda c: (pair_order[(c[0], c[1])], c[2]))
    ]
    best: dict[tuple[str, str, str], float] = {}
    for row in rows.values():
        for column_key, results in row.cells.items():
            for r in results:
                if r.role == "student-distilled":
                    old = best.get(column_key)
                    if old is None or (r.value > old if higher else r.value < old):
                        best[column_key] = r.value
    return Leaderboard(dataset, metric, higher, columns, list(rows.values()), sources, best)


def is_best(board: Leaderboard, column: tuple[str, str, str], result: ReportedResult) -> bool:
    """Whether a result is the best distilled value of its column."""
    return result.role == "student-distilled" and board.best.get(column) == result.value


def cell_text(board: Leaderboard, column: tuple[str, str, str], results: list[ReportedResult]) -> str:
    """``value [marks]`` per distinct printed value, ``(best)`` after the column's best distilled one."""
    groups: dict[str, list[int]] = {}
    best: set[str] = set()
    for r in results:
        number, marks_printed = _MARKS.fullmatch(r.value_text).groups()  # type: ignore[union-attr]
        text = f"{number}{r.unit}{marks_printed}"
        marks = groups.setdefault(text, [])
        if board.mark(r.source) not in marks:
            marks.append(board.mark(r.source))
        if is_best(board, column, r):
            best.add(text)
    return " / ".join(
        f"{text} [{','.join(map(str, marks))}]" + (BEST if text in best else "")
        for text, marks in groups.items()
    )


def tables(board: Leaderboard) -> tuple[TableData, TableData]:
    """(the leaderboard, its footnotes) as text tables."""
    columns = [("method", "Method"), ("entry", "Entry")]
    columns += [(c.header, c.header) for c in board.columns]
    direction = "higher" if board.higher_is_better else "lower"
    table = TableData(
        f"Leaderboard of {board.dataset}: reported {board.metric} ({direction} is better) of teacher → student "
        "pairs; [n] marks the sources listed below; (best) marks the best distilled student of a column.",
        columns,
    )
    for row in board.rows:
        text: dict[str, Any] = {"method": row.label, "entry": row.entry}
        for column in board.columns:
            text[column.header] = cell_text(board, column.key, row.cells.get(column.key, []))
        table.add(text, {}, row.entry.split("#")[0])
    notes = TableData(
        f"Sources of the {board.dataset} leaderboard.", [("mark", "Mark"), ("source", "Source")]
    )
    for i, source in enumerate(board.sources, 1):
        notes.add({"mark": f"[{i}]", "source": source.text()}, {}, "")
    return table, notes


def records(board: Leaderboard) -> list[dict[str, Any]]:
    """One JSON record per result: method, entry, role, pair, setting, value (number), unit, source, best."""
    out: list[dict[str, Any]] = []
    for row in board.rows:
        for column in board.columns:
            for r in row.cells.get(column.key, []):
                out.append(
                    {
                        "method": row.label,
                        "entry": row.entry or None,
                        "role": r.role,
                        "pair": column.pair,
                        "teacher": r.teacher,
                        "student": r.student,
                        "setting": r.setting,
                        "value": r.value,
                        "printed": r.value_text,
                        "unit": r.unit,
                        "source": r.source.text(),
                        "source_mark": board.mark(r.source),
                        "best": is_best(board, column.key, r),
                    }
                )
    return out


def render(board: Leaderboard, fmt: str) -> str:
    """The leaderboard in ``md``, ``csv``, ``json``, ``html`` or ``latex`` (csv and json carry no footnote
    table: csv is the leaderboard alone, json names each record's source)."""
    from kdtaxonomy.render import tables as formats
    from kdtaxonomy.render.formats import to_json

    if fmt == "json":
        return to_json(records(board))
    board_table, notes = tables(board)
    built = [board_table] if fmt == "csv" else [board_table, notes]
    return formats.render(built, fmt, f"kdtaxonomy: {board.dataset} leaderboard")


def datasets_with_results(catalog: Catalog, metric: str = "accuracy") -> list[str]:
    """Canonical labels of the datasets with a leaderboard (results naming teacher and student), sorted."""
    return sorted(
        {
            r.dataset
            for e in catalog
            for r in e.results
            if r.metric_id == metric and r.role in ROLES and r.teacher and r.student
        }
    )


def site_context(board: Leaderboard) -> dict[str, Any]:
    """What the site's leaderboard page shows: headers, rows of cells (best marked) and the sources."""
    rows = []
    for row in board.rows:
        cells = []
        for column in board.columns:
            results = row.cells.get(column.key, [])
            text = cell_text(board, column.key, results)
            cells.append({"text": text, "best": any(is_best(board, column.key, r) for r in results)})
        rows.append({"label": row.label, "entry": row.entry, "id": row.entry.split("#")[0], "cells": cells})
    table, _ = tables(board)
    return {
        "caption": table.caption,
        "headers": [c.header for c in board.columns],
        "rows": rows,
        "sources": [(i, s.text()) for i, s in enumerate(board.sources, 1)],
    }
