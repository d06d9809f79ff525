"""Table commands: ``table summary|objectives|...|results``, ``table benchmark`` and ``reproduction-report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kdtaxonomy.commands.common import (
    DataPrepOpt,
    DatasetOpt,
    GouOpt,
    KnowledgeOpt,
    LocationOpt,
    LossOpt,
    ModalityOpt,
    ObjectiveOpt,
    SearchOpt,
    StudentOpt,
    TableFormat,
    TeacherOpt,
    TransferOpt,
    YearOpt,
    emit,
    facet_values,
    fail,
    get_catalog,
    select,
)

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog

table_app = typer.Typer(
    help="Comparison tables generated from the catalog.", no_args_is_help=True, rich_markup_mode=None
)


def _result_datasets(catalog: Catalog, queries: list[str]) -> set[str] | None:
    """Canonical labels every ``--dataset`` query of ``table results`` selects (None: no filter)."""
    from kdtaxonomy.lookup import VocabularyError

    only: set[str] | None = None
    for query in queries:
        try:
            labels = catalog.datasets.lookup.match(query)
        except VocabularyError as exc:
            fail(str(exc))
        only = labels if only is None else only & labels
    return only


def _table_command(name: str, doc: str) -> None:
    """Register ``kdtax table NAME`` with the facet filters of ``kdtax list``."""

    def command(
        ctx: typer.Context,
        objective: ObjectiveOpt = None,
        modality: ModalityOpt = None,
        data_prep: DataPrepOpt = None,
        teacher: TeacherOpt = None,
        knowledge: KnowledgeOpt = None,
        location: LocationOpt = None,
        transfer: TransferOpt = None,
        student: StudentOpt = None,
        gou: GouOpt = None,
        loss: LossOpt = None,
        dataset: DatasetOpt = None,
        year: YearOpt = None,
        search: SearchOpt = None,
        fmt: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.md,
        output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
    ) -> None:
        from kdtaxonomy.render import tables

        facets = facet_values(locals())
        queries = facets.pop("dataset") if name == "results" else None
        catalog, pairs = select(ctx, **facets)
        if name == "summary":
            built = tables.summary_tables(pairs)
        elif name == "results":
            only = _result_datasets(catalog, queries or [])
            built = [tables.results_table(pairs, only=only, lookup=catalog.datasets.lookup)]
        else:
            built = [tables.stage_table(catalog, name, pairs)]
        emit(tables.render(built, fmt.value, f"kdtaxonomy: {name} table"), output)

    command.__doc__ = doc
    table_app.command(name)(command)


_table_command("summary", "The survey's summary Tables I and II, generated from the catalog.")
_table_command("objectives", "Objectives and data of every configuration (survey Section II).")
_table_command("data-preparation", "Data preparation of every configuration (survey Section III).")
_table_command("teacher", "Teacher modeling of every configuration (survey Section IV).")
_table_command("distillation", "Knowledge distillation of every configuration (survey Section V).")
_table_command("student", "Student modeling of every configuration (survey Section VI).")
_table_command(
    "results",
    "Reported results with their sources, beside reproduced ones when they exist; --dataset selects results "
    "by their own dataset, best first in each metric's direction.",
)


@table_app.command("benchmark")
def table_benchmark_command(
    regime: Annotated[str | None, typer.Option("--regime", help="Only this regime (default: all).")] = None,
    results: Annotated[
        Path | None,
        typer.Option(
            "--results", help="Results folder holding suite/ (default: results/ of the repository)."
        ),
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.md,
    matrix: Annotated[
        bool, typer.Option("--matrix", help="One row per method, one Δ column per regime (not json).")
    ] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """The benchmark suite: distilled vs. student alone paired over seeds, beside the published gains."""
    from kdtaxonomy.bench import default_results_dir
    from kdtaxonomy.benchmark_table import build, only_regime
    from kdtaxonomy.render.benchmark import render

    folder = results or default_results_dir()
    table = build(folder)
    for problem in table.problems:
        sys.stderr.write(f"warning: {problem}\n")
    if not table.rows:
        fail(f"no benchmark-suite results under {folder / 'suite'} (suite/<regime>/<method>/seed-<s>.json)")
    if regime is not None:
        known = sorted({r.regime for r in table.rows})
        if regime not in known:
            fail(f"--regime: unknown regime {regime!r}; known regimes: {', '.join(known)}")
        table = only_regime(table, regime)
    emit(render(table, fmt.value, layout="matrix" if matrix else "long"), output)


@table_app.command("leaderboard")
def table_leaderboard_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset (id, label or synonym).")],
    teacher: Annotated[
        str | None, typer.Option("--teacher", help="Only pairs with this teacher (e.g. resnet32x4).")
    ] = None,
    student: Annotated[
        str | None, typer.Option("--student", help="Only pairs with this student (e.g. resnet8x4).")
    ] = None,
    metric: Annotated[str, typer.Option("--metric", help="Metric id (default: accuracy).")] = "accuracy",
    fmt: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.md,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Reported results of one dataset: methods x teacher -> student pairs, sources as footnotes, the best
    distilled student of each pair marked."""
    from kdtaxonomy.lookup import VocabularyError
    from kdtaxonomy.render import leaderboard

    catalog = get_catalog(ctx)
    label = catalog.datasets.lookup.resolve(dataset)
    if label is None:
        fail(f"--dataset: unknown dataset {dataset!r}.{catalog.datasets.lookup.suggest(dataset)}")
    try:
        catalog.datasets.require_metric(metric)
    except VocabularyError as exc:
        fail(f"--metric: {exc}")
    everything = leaderboard.build(catalog, label, metric)
    if not everything.rows:
        fail(f"no reported {metric} results with a teacher and a student on {label}")
    board = leaderboard.build(catalog, label, metric, teacher, student)
    if not board.rows:
        known = "; ".join(dict.fromkeys(c.pair for c in everything.columns))
        asked = f"{teacher or '*'} → {student or '*'}"
        fail(f"no {label} results for the pair {asked}; pairs: {known}")
    emit(leaderboard.render(board, fmt.value), output)


def reproduction_report_command(
    results: Annotated[
        Path | None, typer.Option("--results", help="Results folder (default: results/ of the repository).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """REPRODUCTION.md: the seed papers' claims against the benchmark results of kdtax bench."""
    from kdtaxonomy.claims import render_report

    problems: list[str] = []
    text = render_report(results, problems)
    for problem in problems:
        sys.stderr.write(f"warning: {problem}\n")
    emit(text, output)
