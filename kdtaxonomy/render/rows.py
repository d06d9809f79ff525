"""Flat rows of catalog data for the list/show/table commands and their text formats (no torch)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from kdtaxonomy.schema import Configuration, Entry, step_terms
from kdtaxonomy.vocabulary import FACETS, Vocabulary

SUMMARY_KEYS = (
    "work",
    "objective",
    "data_preparation",
    "teacher_model",
    "knowledge_type",
    "kd_method",
    "student_model",
    "dataset",
)
"""Keys of ``kdtax table summary`` rows (the columns of the survey's Tables I and II)."""

SUMMARY_HEADERS = {
    "I": (
        "Work",
        "Objective",
        "Data Modification",
        "Teacher Model",
        "Knowledge Type",
        "KD method",
        "Student Model",
        "Dataset",
    ),
    "II": (
        "Work",
        "Objective",
        "Data Preparation",
        "Teacher Model",
        "Knowledge Type",
        "KD method",
        "Student Model",
        "Dataset",
    ),
}
SUMMARY_CAPTIONS = {
    "I": "TABLE I. Summarization of different methods on TS based on the proposed general model.",
    "II": "TABLE II. Summarization of different methods on TS based on the proposed general model.",
}


def facet_terms(config: Configuration, facet: str) -> list[str]:
    """Terms of a configuration for a query facet (several steps for teacher/student/data-prep)."""
    terms: list[str] = []
    for step in FACETS[facet]:
        terms.extend(t for t in step_terms(config, step) if t not in terms)
    return terms


def list_row(entry: Entry, config: Configuration) -> dict[str, Any]:
    """One configuration as a flat JSON object (``kdtax list --format json``)."""
    return {
        "id": entry.id,
        "configuration": config.name,
        "title": entry.title,
        "authors": list(entry.authors),
        "year": entry.year,
        "survey_label": config.survey_row.work if config.survey_row else entry.survey_label,
        "objective": facet_terms(config, "objective"),
        "modality": facet_terms(config, "modality"),
        "data_prep": facet_terms(config, "data-prep"),
        "teacher": facet_terms(config, "teacher"),
        "knowledge": facet_terms(config, "knowledge"),
        "location": facet_terms(config, "location"),
        "transfer": facet_terms(config, "transfer"),
        "student": facet_terms(config, "student"),
        "datasets": list(config.datasets),
    }


def summary_rows(pairs: Iterable[tuple[Entry, Configuration]]) -> list[tuple[str, dict[str, str]]]:
    """Survey Table I/II rows (table, row) of the configurations that carry one, in the survey's order."""
    rows = []
    for _entry, config in pairs:
        row = config.survey_row
        if row is None:
            continue
        rows.append((row.table, row.row or 0, {key: getattr(row, key) for key in SUMMARY_KEYS}))
    rows.sort(key=lambda item: (item[0] != "I", item[1]))
    return [(table, data) for table, _, data in rows]


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


def labels(vocabulary: Vocabulary, step: str, terms: Sequence[str]) -> str:
    """Display labels of terms, joined."""
    return ", ".join(vocabulary.label(step, t) for t in terms) or "-"
