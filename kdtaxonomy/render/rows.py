"""Flat rows of catalog data for the list/show/table commands and their text formats (no torch)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kdtaxonomy.lookup import FACETS
from kdtaxonomy.render.formats import cell, md_escape, to_csv, to_json, to_markdown
from kdtaxonomy.schema import Configuration, Entry, step_terms
from kdtaxonomy.vocabulary import Vocabulary

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


__all__ = [
    "cell",
    "facet_terms",
    "labels",
    "list_row",
    "md_escape",
    "summary_rows",
    "to_csv",
    "to_json",
    "to_markdown",
]


def labels(vocabulary: Vocabulary, step: str, terms: Sequence[str]) -> str:
    """Display labels of terms, joined."""
    return ", ".join(vocabulary.label(step, t) for t in terms) or "-"
