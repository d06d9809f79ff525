"""Comparison tables of the catalog: the survey's summary, one table per stage, reported results (no torch).

A table is plain data (:class:`TableData`: caption, columns, rows, and the catalog id of each row for
citations) rendered as Markdown, CSV, JSON, HTML (a jinja2 template with autoescaping, so catalog text is
never markup) or LaTeX (booktabs, ``\\cite{id}`` keys matching ``kdtax cite --format bibtex``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.render.formats import cell, to_csv, to_json, to_markdown
from kdtaxonomy.render.results_table import results_table as results_table
from kdtaxonomy.render.rows import SUMMARY_CAPTIONS, SUMMARY_HEADERS, SUMMARY_KEYS, summary_rows
from kdtaxonomy.render.table_data import TableData as TableData
from kdtaxonomy.schema import Configuration, Entry, step_terms

STAGE_TABLES: dict[str, tuple[str, str]] = {
    "objectives": ("inputs", "Objectives and data of the catalogued methods (survey Section II, Fig. 2)."),
    "data-preparation": ("data-preparation", "Data preparation (survey Section III, Fig. 3)."),
    "teacher": ("teacher", "Teacher modeling (survey Section IV, Fig. 4)."),
    "distillation": ("distillation", "Knowledge distillation (survey Section V, Fig. 5)."),
    "student": ("student", "Student modeling (survey Section VI, Fig. 6)."),
}
"""Stage tables: table name -> (vocabulary stage, caption)."""

TABLES = ("summary", *STAGE_TABLES, "results")


def stage_table(catalog: Catalog, name: str, pairs: Iterable[tuple[Entry, Configuration]]) -> TableData:
    """One row per configuration, one column per step of the stage (terms shown by their labels)."""
    stage, caption = STAGE_TABLES[name]
    vocab = catalog.vocabulary
    steps = list(vocab.data.stages[stage].steps)
    columns = [("id", "Method"), ("survey", "Survey")]
    columns += [(step, vocab.data.stages[stage].steps[step].label) for step in steps]
    extra = {"teacher": ("teacher_models", "Teacher models"), "student": ("student_models", "Student models")}
    if name in extra:
        columns.append(extra[name])
    columns.append(("datasets", "Datasets"))
    table = TableData(caption, columns)
    for entry, config in pairs:
        row: dict[str, Any] = {
            "id": f"{entry.id}#{config.name}",
            "survey": config.survey_row.work if config.survey_row else "",
        }
        for step in steps:
            row[step] = ", ".join(vocab.label(step, t) for t in step_terms(config, step)) or "-"
        if name == "teacher":
            row["teacher_models"] = ", ".join([*config.teacher.models, *config.teacher.assistants]) or "-"
        if name == "student":
            row["student_models"] = ", ".join(config.student.models) or "-"
        row["datasets"] = ", ".join(config.datasets)
        table.rows.append(row)
        table.cite.append(entry.id)
    return table


def summary_tables(pairs: Iterable[tuple[Entry, Configuration]]) -> list[TableData]:
    """The survey's Tables I and II (each only if some selected configuration has a row in it)."""
    selected = [(e, c) for e, c in pairs if c.survey_row is not None]
    out = []
    for name in ("I", "II"):
        rows = sorted(
            (
                (c.survey_row.row, e.id, summary_rows([(e, c)])[0][1])
                for e, c in selected
                if c.survey_row and c.survey_row.table == name
            ),
            key=lambda item: item[0],
        )
        if rows:
            columns = list(zip(SUMMARY_KEYS, SUMMARY_HEADERS[name], strict=True))
            out.append(
                TableData(SUMMARY_CAPTIONS[name], columns, [r for _, _, r in rows], [i for _, i, _ in rows])
            )
    return out


# -- formats ------------------------------------------------------------------------------------------------
_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "Δ": r"$\Delta$",  # of the reproduced rows; pdflatex's utf8 input does not set these two up
    "−": r"$-$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def to_latex(table: TableData) -> str:
    """A booktabs ``table`` environment; rows with a catalog id get ``\\cite{id}`` after the first cell."""
    spec = "l" * len(table.columns)
    lines = [
        r"% requires \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.caption)}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(header) for _, header in table.columns) + r" \\",
        r"\midrule",
    ]
    for row, key in zip(table.rows, table.cite or [""] * len(table.rows), strict=True):
        cells = [latex_escape(cell(row.get(k))) for k in table.keys]
        if key:
            cells[0] += rf"~\cite{{{key}}}"
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def template_dir() -> Path:
    """The jinja2 templates shipped with the package (or the checkout's ``templates/``)."""
    here = Path(__file__).resolve().parent.parent
    shipped = here / "_data" / "templates"
    return shipped if shipped.is_dir() else here.parent / "templates"


def to_html(tables: list[TableData], title: str) -> str:
    """A standalone HTML page (no scripts, no network) holding the tables; all text is autoescaped."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("tables.html.j2")
    return template.render(
        title=title, tables=[(t, [[cell(r.get(k)) for k in t.keys] for r in t.rows]) for t in tables]
    )


def render(tables: list[TableData], fmt: str, title: str) -> str:
    """Tables in ``md``, ``csv``, ``json``, ``html`` or ``latex``."""
    if fmt == "html":
        return to_html(tables, title)
    if fmt == "latex":
        return "\n".join(to_latex(t) for t in tables)
    if fmt == "json":
        return to_json([row for t in tables for row in t.json_rows()])
    if fmt == "csv":
        keys = tables[0].keys if tables else []
        return to_csv([row for t in tables for row in t.rows], keys)
    parts = [f"{t.caption}\n\n" + to_markdown(t.rows, t.keys, [h for _, h in t.columns]) for t in tables]
    return "\n".join(parts) if parts else "(no rows match)\n"
