"""Rich (terminal) and Markdown renderings of entries for ``kdtax show`` and ``kdtax vocab`` (no torch).

The terminal tables are :class:`~kdtaxonomy.render.fit.Grid` s and the panels keep their titles whole,
so the card fits any width (the layout rule is in :mod:`kdtaxonomy.render.fit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.text import Text

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.render.cite import short_citation
from kdtaxonomy.render.fit import Column, FitPanel, Grid
from kdtaxonomy.render.formats import md_escape
from kdtaxonomy.render.snippet import python_snippet
from kdtaxonomy.schema import Configuration, Entry, ReportedResult, step_terms

if TYPE_CHECKING:
    from kdtaxonomy.bench import Aggregate

STAGE_LAYOUT: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Objective & data", (("Objective", "objective"), ("Modality", "modality"))),
    ("1. Data preparation", (("Modification", "modification"), ("Partitioning", "partitioning"))),
    (
        "2. Teacher modeling",
        (
            ("Setup", "teacher-setup"),
            ("Architecture", "teacher-architecture"),
            ("Construction", "teacher-construction"),
        ),
    ),
    (
        "3. Knowledge distillation",
        (("Knowledge", "knowledge"), ("Location", "location"), ("Transfer", "transfer")),
    ),
    (
        "4. Student modeling",
        (
            ("Setup", "student-setup"),
            ("Architecture", "student-architecture"),
            ("Construction", "student-construction"),
        ),
    ),
)
"""How a configuration is laid out: the survey's stages and their steps."""


def _stage_rows(config: Configuration, catalog: Catalog) -> list[tuple[str, str, str]]:
    vocab = catalog.vocabulary
    rows: list[tuple[str, str, str]] = []
    notes = {
        "modification": config.data_preparation.notes,
        "teacher-setup": config.teacher.notes,
        "knowledge": config.distillation.notes,
        "student-setup": config.student.notes,
    }
    for stage, steps in STAGE_LAYOUT:
        for label, step in steps:
            terms = step_terms(config, step)
            rows.append((stage, label, ", ".join(vocab.label(step, t) for t in terms) or "-"))
            stage = ""
        if steps[0][1] == "objective":
            rows.append(("", "Data", config.data.description))
        if steps[0][1] == "teacher-setup":
            rows.append(("", "Count", str(config.teacher.count)))
            if config.teacher.models:
                rows.append(("", "Models", ", ".join(config.teacher.models)))
            if config.teacher.assistants:
                rows.append(("", "Assistants", " -> ".join(config.teacher.assistants)))
        if steps[0][1] == "knowledge" and config.distillation.loss:
            rows.append(("", "Loss", config.distillation.loss))
        if steps[0][1] == "student-setup":
            rows.append(("", "Count", str(config.student.count)))
            if config.student.models:
                rows.append(("", "Models", ", ".join(config.student.models)))
        note = notes.get(steps[0][1])
        if note:
            rows.append(("", "Notes", note))
    rows.append(("Datasets", "", ", ".join(config.datasets)))
    return rows


def result_setting(result: ReportedResult) -> str:
    """A reported result's teacher, student and setting as one text (``T: ...; S: ...; ...``)."""
    parts = (
        result.teacher and f"T: {result.teacher}",
        result.student and f"S: {result.student}",
        result.setting,
    )
    return "; ".join(x for x in parts if x)


def _result_cells(result: ReportedResult) -> list[str]:
    value = f"{result.value_text}{result.unit if result.unit in {'%', ''} else ' ' + result.unit}"
    setting = result_setting(result)
    source = result.source.text("self")
    return [result.method, result.dataset_text, result.metric, value, setting, source]


RESULT_HEADER = ("Method", "Dataset", "Metric", "Value", "Setting", "Source")


def reproduced_table(reproduced: Sequence[Aggregate]) -> Grid:
    """Reproduced results (kdtax bench), kept apart from the paper's reported results; stacked, each
    block is headed by the configuration."""
    from kdtaxonomy.bench import PAIRED_NOTE, TABLE_HEADER, fmt_dataset, fmt_verification, table_row

    kept = {"Configuration", "Δ [95% CI]"}
    columns = [Column(name, keep=name in kept) for name in (*TABLE_HEADER, "Dataset", "Commit")]
    rows = [
        [*table_row(agg), fmt_dataset(agg.dataset), ", ".join(c[:10] for c in agg.commits)]
        for agg in reproduced
    ]
    scored = [line for agg in reproduced if (line := fmt_verification(agg))]
    return Grid(
        columns,
        rows,
        title="Reproduced (kdtax bench)",
        title_justify="left",
        caption=" ".join([PAIRED_NOTE, *scored]),
    )


def show_renderable(
    entry: Entry, catalog: Catalog, config_name: str | None = None, reproduced: Sequence[Aggregate] = ()
) -> RenderableType:
    """The rich rendering of ``kdtax show``."""
    parts: list[RenderableType] = []
    head = Text()
    head.append(entry.title + "\n", style="bold")
    head.append(", ".join(entry.authors) + "\n")
    head.append(f"{entry.venue}, {entry.year}" + (f", pp. {entry.pages}" if entry.pages else "") + "\n")
    ids = entry.identifiers
    refs = [f"arXiv:{ids.arxiv}" if ids.arxiv else "", f"doi:{ids.doi}" if ids.doi else "", ids.url or ""]
    if any(refs):
        head.append("  ".join(r for r in refs if r) + "\n")
    if entry.survey_label:
        head.append(f"Survey (Abbasi et al.) citation: {entry.survey_label}\n")
    if entry.related:
        head.append("Related: " + ", ".join(entry.related) + "\n")
    parts.append(FitPanel(head, f"{entry.id} — {short_citation(entry)}", entry.id))
    parts.append(Text(entry.description + "\n"))
    configs = [entry.configuration(config_name)] if config_name else entry.configurations
    stage_columns = (
        Column("Stage", keep=True, style="bold cyan"),
        Column("Step", keep=True, style="cyan"),
        Column("Value"),
    )
    for config in configs:
        table = Grid(stage_columns, _stage_rows(config, catalog), boxed=False, sections=True)
        short = f"configuration {config.name}"
        title = short + (f": {config.title}" if config.title else "")
        if config.survey_row:
            title += f"  (survey Table {config.survey_row.table}, row {config.survey_row.work})"
        body: list[RenderableType] = [Text(config.summary + "\n"), table]
        body.append(Text(f"\nrun it: kdtax train {entry.id} --config {config.name}", style="green"))
        if len(configs) == 1:
            body.append(
                Text("\nor from Python (runs as printed; put your models and data in):\n", style="green")
            )
            body.append(Text(python_snippet(entry, config).rstrip(), no_wrap=True, overflow="fold"))
        else:
            body.append(Text(f"Python: kdtax show {entry.id} --config {config.name}", style="green"))
        parts.append(FitPanel(Group(*body), title, short))
    results = [r for r in entry.results if config_name is None or r.configuration in {None, config_name}]
    if results:
        columns = [Column(name, keep=name == "Value") for name in RESULT_HEADER]
        rows = [_result_cells(result) for result in results]
        parts.append(Grid(columns, rows, title="Reported results", title_justify="left"))
    else:
        parts.append(Text("Reported results: none recorded (unknown)."))
    if reproduced:
        parts.append(reproduced_table(reproduced))
    return Group(*parts)


def reproduced_markdown(reproduced: Sequence[Aggregate]) -> list[str]:
    """Markdown lines of the reproduced results (kdtax bench), with the paired Δ, its CI and p."""
    from kdtaxonomy.bench import PAIRED_NOTE, TABLE_HEADER, fmt_dataset, fmt_verification, table_row

    lines = ["## Reproduced (kdtax bench)", "", PAIRED_NOTE, ""]
    lines.append("| " + " | ".join((*TABLE_HEADER, "Dataset", "Commit")) + " |")
    lines.append("|" + "---|" * (len(TABLE_HEADER) + 2))
    for agg in reproduced:
        cells = [*table_row(agg), fmt_dataset(agg.dataset), ", ".join(c[:10] for c in agg.commits) or "-"]
        lines.append("| " + " | ".join(md_escape(c) for c in cells) + " |")
    scored = [line for agg in reproduced if (line := fmt_verification(agg))]
    return [*lines, "", *(f"- {md_escape(line)}" for line in scored), *([""] if scored else [])]


def show_markdown(
    entry: Entry, catalog: Catalog, config_name: str | None = None, reproduced: Sequence[Aggregate] = ()
) -> str:
    """Markdown rendering of ``kdtax show`` (with the reproduced results when there are any)."""
    lines = [
        f"# {entry.title}",
        "",
        f"**{entry.id}** — {', '.join(entry.authors)}. *{entry.venue}*, {entry.year}.",
        "",
    ]
    if entry.survey_label:
        lines += [f"Survey citation: {entry.survey_label}", ""]
    lines += [entry.description, ""]
    configs = [entry.configuration(config_name)] if config_name else entry.configurations
    for config in configs:
        lines += [
            f"## Configuration `{config.name}`" + (f": {config.title}" if config.title else ""),
            "",
            config.summary,
            "",
        ]
        lines += ["| Stage | Step | Value |", "|---|---|---|"]
        for stage, step, value in _stage_rows(config, catalog):
            lines.append(f"| {md_escape(stage)} | {md_escape(step)} | {md_escape(value)} |")
        lines += ["", f"Run it: `kdtax train {entry.id} --config {config.name}`, or from Python:", ""]
        lines += ["```python", python_snippet(entry, config).rstrip(), "```", ""]
    results = [r for r in entry.results if config_name is None or r.configuration in {None, config_name}]
    if results:
        lines += [
            "## Reported results",
            "",
            "| Method | Dataset | Metric | Value | Setting | Source |",
            "|---|---|---|---|---|---|",
        ]
        for result in results:
            lines.append("| " + " | ".join(md_escape(c) for c in _result_cells(result)) + " |")
        lines.append("")
    if reproduced:
        lines += reproduced_markdown(reproduced)
    return "\n".join(lines)


def entry_json(
    entry: Entry, config_name: str | None = None, reproduced: Sequence[Aggregate] = ()
) -> dict[str, Any]:
    """JSON of ``kdtax show --format json``: the entry as stored, plus flat configuration terms, the "run
    it" Python snippet of each configuration (``python``), and the reproduced results (``reproduced``, kdtax
    bench aggregates) when there are any."""
    data = entry.model_dump(mode="json", exclude_none=True)
    if config_name:
        data["configurations"] = [c for c in data["configurations"] if c["name"] == config_name]
        data["results"] = [r for r in data["results"] if r.get("configuration") in {None, config_name}]
    data["python"] = {
        c.name: python_snippet(entry, c)
        for c in entry.configurations
        if config_name is None or c.name == config_name
    }
    if reproduced:
        data["reproduced"] = [agg.summary() for agg in reproduced]
    return data


def vocab_table(catalog: Catalog, steps: Sequence[str]) -> Grid:
    """Table of vocabulary terms: step and term kept whole, the rest wrapped between words; stacked, each
    block is headed by the term."""
    vocab = catalog.vocabulary
    names = ("Step", "Term", "Label", "Synonyms", "Gou et al.", "Used by")
    columns = [Column(name, keep=name in {"Step", "Term", "Used by"}, join=", ") for name in names]
    rows: list[list[str | list[str]]] = []
    for step in steps:
        for term in vocab.terms(step):
            info = vocab.term(step, term)
            used = sum(1 for _e, c in catalog.configurations() if term in step_terms(c, step))
            rows.append([step, term, info.label, list(info.synonyms), list(info.gou), str(used)])
    return Grid(columns, rows, title="Vocabulary", heading=1)


def progress_bar() -> Any:
    """The progress display of training commands: description, bar, done/total and elapsed time, on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
