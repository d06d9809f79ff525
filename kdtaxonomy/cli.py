"""The ``kdtax`` command line: a thin typer layer over the Python API.

Query commands never import torch; training commands import it inside their bodies.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog, Problem
    from kdtaxonomy.lookup import CatalogIndex
    from kdtaxonomy.vocabulary import Vocabulary

app = typer.Typer(
    name="kdtax",
    help="kdtaxonomy: the knowledge base and method registry of knowledge distillation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
table_app = typer.Typer(
    help="Comparison tables generated from the catalog.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(table_app, name="table")


class ListFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


class CiteFormat(StrEnum):
    bibtex = "bibtex"
    csl_json = "csl-json"


class TableFormat(StrEnum):
    json = "json"
    md = "md"
    csv = "csv"
    html = "html"
    latex = "latex"


@dataclass
class State:
    catalog_path: Path | None = None
    catalog: Catalog | None = None


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def report_problems(problems: list[Problem]) -> None:
    """Print every problem on stderr, one line each."""
    for problem in problems:
        sys.stderr.write(f"error: {problem}\n")
    sys.stderr.write(f"{len(problems)} problem(s) found\n")


def get_catalog(ctx: typer.Context) -> Catalog:
    """The catalog selected by ``--catalog`` / ``KDTAX_CATALOG``, loaded once; errors exit 1."""
    from kdtaxonomy.catalog import CatalogError, load_catalog

    state: State = ctx.ensure_object(State)
    if state.catalog is None:
        try:
            state.catalog = load_catalog(state.catalog_path)
        except CatalogError as exc:
            report_problems(exc.problems)
            raise typer.Exit(1) from None
    return state.catalog


def get_index(ctx: typer.Context) -> CatalogIndex:
    """The query index: from the cache when up to date (no validation, no pydantic), else from a full load."""
    from kdtaxonomy.lookup import default_catalog_dir, fast_index

    state: State = ctx.ensure_object(State)
    if state.catalog is None:
        index = fast_index(state.catalog_path or default_catalog_dir())
        if index is not None:
            return index
    return get_catalog(ctx).index


def get_vocabulary(ctx: typer.Context) -> Vocabulary:
    """The vocabulary of the selected catalog (or the shipped one), without validating the entries."""
    from kdtaxonomy.catalog import CatalogError, default_vocabulary_path, read_vocabulary
    from kdtaxonomy.lookup import default_catalog_dir

    state: State = ctx.ensure_object(State)
    path = (state.catalog_path or default_catalog_dir()) / "vocabulary.yaml"
    try:
        return read_vocabulary(path if path.is_file() else default_vocabulary_path())
    except CatalogError as exc:
        report_problems(exc.problems)
        raise typer.Exit(1) from None


def emit(text: str, output: Path | None = None) -> None:
    """Write text to stdout, or atomically to ``output``."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from kdtaxonomy.yamlio import atomic_write_text

    try:
        atomic_write_text(output, text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    sys.stderr.write(f"wrote {output}\n")


def console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=False)


def _version(value: bool) -> None:
    if value:
        from kdtaxonomy import __version__

        sys.stdout.write(f"kdtax {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def main_callback(
    ctx: typer.Context,
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog", envvar="KDTAX_CATALOG", help="Catalog directory (vocabulary.yaml + methods/)."
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Find, compare, cite and run knowledge-distillation methods."""
    ctx.obj = State(catalog_path=catalog)


# Facet options shared by `list` and the `table` commands.
ObjectiveOpt = Annotated[
    list[str] | None, typer.Option("--objective", help="Objective term (repeat to AND).")
]
ModalityOpt = Annotated[list[str] | None, typer.Option("--modality", help="Data modality term.")]
DataPrepOpt = Annotated[list[str] | None, typer.Option("--data-prep", help="Data preparation term.")]
TeacherOpt = Annotated[
    list[str] | None, typer.Option("--teacher", help="Teacher setup/architecture/construction term.")
]
KnowledgeOpt = Annotated[list[str] | None, typer.Option("--knowledge", help="Knowledge type term, e.g. MI.")]
LocationOpt = Annotated[list[str] | None, typer.Option("--location", help="Distillation location term.")]
TransferOpt = Annotated[list[str] | None, typer.Option("--transfer", help="Transfer method term.")]
StudentOpt = Annotated[
    list[str] | None, typer.Option("--student", help="Student setup/architecture/construction term.")
]
DatasetOpt = Annotated[
    list[str] | None, typer.Option("--dataset", help="Dataset name (substring, any case).")
]
YearOpt = Annotated[list[str] | None, typer.Option("--year", help="Year or range, e.g. 2019 or 2018-2020.")]
SearchOpt = Annotated[
    list[str] | None, typer.Option("--search", help="Words that must occur in the entry's text.")
]


FACET_PARAMS = (
    "objective",
    "modality",
    "data_prep",
    "teacher",
    "knowledge",
    "location",
    "transfer",
    "student",
    "dataset",
    "year",
    "search",
)


def facet_values(values: dict[str, Any]) -> dict[str, Any]:
    """The facet options among a command's parameters."""
    return {name: values[name] for name in FACET_PARAMS}


def select(ctx: typer.Context, **facets: Any) -> tuple[Catalog, list[Any]]:
    """Load the catalog and filter it; vocabulary errors exit 1 with close matches."""
    from kdtaxonomy.lookup import VocabularyError

    catalog = get_catalog(ctx)
    try:
        return catalog, catalog.filter(**facets)
    except VocabularyError as exc:
        fail(str(exc))


@app.command("list")
def list_command(
    ctx: typer.Context,
    objective: ObjectiveOpt = None,
    modality: ModalityOpt = None,
    data_prep: DataPrepOpt = None,
    teacher: TeacherOpt = None,
    knowledge: KnowledgeOpt = None,
    location: LocationOpt = None,
    transfer: TransferOpt = None,
    student: StudentOpt = None,
    dataset: DatasetOpt = None,
    year: YearOpt = None,
    search: SearchOpt = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List catalogued method configurations matching every given facet."""
    from kdtaxonomy.lookup import VocabularyError

    index = get_index(ctx)
    try:
        positions = index.select(**facet_values(locals()))
    except VocabularyError as exc:
        fail(str(exc))
    data = [index.rows[i] for i in positions]
    if fmt is ListFormat.table:
        from collections import Counter

        from kdtaxonomy.render.listing import list_table

        multi = {key for key, n in Counter(r["id"] for r in index.rows).items() if n > 1}
        console().print(list_table(data, multi))
        return
    from kdtaxonomy.render import formats

    if fmt is ListFormat.json:
        emit(formats.to_json(data))
    else:
        keys = list(data[0]) if data else ["id", "configuration", "title", "year"]
        emit(formats.to_csv(data, keys) if fmt is ListFormat.csv else formats.to_markdown(data, keys))


@app.command("show")
def show_command(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Catalog id, e.g. ahn2019-vid.")],
    config: Annotated[str | None, typer.Option("--config", help="Show only this configuration.")] = None,
    fmt: Annotated[
        ListFormat, typer.Option("--format", help="Output format (csv: one row per configuration).")
    ] = ListFormat.table,
    results: Annotated[
        Path | None,
        typer.Option(
            "--results", help="Folder of kdtax bench results (default: results/ of the repository)."
        ),
    ] = None,
) -> None:
    """Show one method's four-stage description, references and reported results."""
    catalog = get_catalog(ctx)
    try:
        entry = catalog.get(entry_id)
        configs = [entry.configuration(config)] if config else entry.configurations
    except KeyError as exc:
        fail(str(exc.args[0]))
    from kdtaxonomy.bench import load_reproduced
    from kdtaxonomy.render import console as render
    from kdtaxonomy.render import rows

    problems: list[str] = []
    reproduced = [
        agg
        for (rid, name), agg in load_reproduced(results, problems).items()
        if rid == entry.id and name in {c.name for c in configs}
    ]
    for problem in problems:
        if f"/{entry.id}/" in problem.replace("\\", "/"):
            sys.stderr.write(f"warning: {problem}\n")
    if fmt is ListFormat.table:
        console().print(render.show_renderable(entry, catalog, config, reproduced))
    elif fmt is ListFormat.json:
        emit(rows.to_json(render.entry_json(entry, config, reproduced)))
    elif fmt is ListFormat.md:
        emit(render.show_markdown(entry, catalog, config, reproduced))
    else:
        data = [rows.list_row(entry, c) for c in configs]
        emit(rows.to_csv(data, list(data[0])))


@app.command("vocab")
def vocab_command(
    ctx: typer.Context,
    stage: Annotated[
        str | None, typer.Argument(help="Stage, step or facet (e.g. distillation, knowledge, teacher).")
    ] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """Show the controlled vocabulary: terms, synonyms and their Gou et al. categories."""
    from kdtaxonomy.lookup import FACETS

    catalog = get_catalog(ctx)
    vocab = catalog.vocabulary
    if stage is None:
        steps = vocab.steps
    elif stage in vocab.data.stages:
        steps = list(vocab.data.stages[stage].steps)
    elif stage in vocab.steps:
        steps = [stage]
    elif stage in FACETS:
        steps = list(FACETS[stage])
    else:
        from kdtaxonomy.registry import suggest

        names = [*vocab.data.stages, *vocab.steps, *FACETS]
        fail(
            f"unknown stage or step {stage!r}.{suggest(stage, names)} Stages: {', '.join(vocab.data.stages)}"
        )
    from kdtaxonomy.render import rows

    if fmt is ListFormat.table:
        from kdtaxonomy.render.console import vocab_table

        console().print(vocab_table(catalog, steps))
        return
    data = [
        {
            "stage": vocab.step_stage[step],
            "step": step,
            "term": term,
            "label": vocab.term(step, term).label,
            "description": vocab.term(step, term).description,
            "synonyms": list(vocab.term(step, term).synonyms),
            "gou": list(vocab.term(step, term).gou),
        }
        for step in steps
        for term in vocab.terms(step)
    ]
    keys = ["stage", "step", "term", "label", "description", "synonyms", "gou"]
    if fmt is ListFormat.json:
        emit(rows.to_json(data))
    else:
        emit(rows.to_csv(data, keys) if fmt is ListFormat.csv else rows.to_markdown(data, keys))


@app.command("validate")
def validate_command(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Entry files or directories (default: the catalog).")
    ] = None,
) -> None:
    """Validate catalog files, reporting every problem (file:line: field: reason); exit 1 if any."""
    from kdtaxonomy.catalog import validate_paths
    from kdtaxonomy.lookup import default_catalog_dir

    state: State = ctx.ensure_object(State)
    vocabulary = get_vocabulary(ctx)
    targets = list(paths) if paths else [state.catalog_path or default_catalog_dir()]
    entries, problems = validate_paths(targets, vocabulary)
    if problems:
        report_problems(problems)
        raise typer.Exit(1)
    configs = sum(len(e.configurations) for e in entries)
    sys.stdout.write(f"ok: {len(entries)} entries, {configs} configurations valid\n")


@app.command("schema")
def schema_command(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Print the documented JSON Schema of a catalog entry (terms listed as enums)."""
    from kdtaxonomy.schema import entry_json_schema

    emit(json.dumps(entry_json_schema(get_vocabulary(ctx)), indent=2), output)


@app.command("cite")
def cite_command(
    ctx: typer.Context,
    entry_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Catalog id(s).")],
    fmt: Annotated[CiteFormat, typer.Option("--format", help="Citation format.")] = CiteFormat.bibtex,
) -> None:
    """Print citations of catalog entries as BibTeX or CSL-JSON."""
    from kdtaxonomy.render import cite

    catalog = get_catalog(ctx)
    try:
        entries = [catalog.get(i) for i in entry_ids]
    except KeyError as exc:
        fail(str(exc.args[0]))
    if fmt is CiteFormat.bibtex:
        emit("\n".join(cite.bibtex(e) for e in entries))
    else:
        emit(json.dumps([cite.csl_json(e) for e in entries], indent=2, ensure_ascii=False))


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
        dataset: DatasetOpt = None,
        year: YearOpt = None,
        search: SearchOpt = None,
        fmt: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.md,
        output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
    ) -> None:
        from kdtaxonomy.render import tables

        catalog, pairs = select(ctx, **facet_values(locals()))
        if name == "summary":
            built = tables.summary_tables(pairs)
        elif name == "results":
            built = [tables.results_table(pairs)]
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
_table_command("results", "Reported results with their sources, beside reproduced ones when they exist.")


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


class TrainFormat(StrEnum):
    table = "table"
    json = "json"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@app.command("train")
def train_command(
    ctx: typer.Context,
    entry_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="Catalog id, e.g. ahn2019-vid (or use --recipe).")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="Configuration name (default: the first).")
    ] = None,
    recipe_file: Annotated[
        Path | None, typer.Option("--recipe", help="A configuration YAML file (e.g. from kdtax compose).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Dataset key (default: the recipe's, mnist1d).")
    ] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder of a dataset you bring.")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Epochs of the student and baseline.")
    ] = None,
    teacher_epochs: Annotated[
        int | None, typer.Option("--teacher-epochs", min=1, help="Epochs of each teacher.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Optimizer steps of the student and baseline.")
    ] = None,
    teacher_steps: Annotated[
        int | None, typer.Option("--teacher-steps", min=1, help="Optimizer steps of each teacher.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Cap optimizer steps per model.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=2, help="Mini-batch size.")] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="Torch threads (fixed: CPU numbers depend on it).")
    ] = 1,
    device: Annotated[Device, typer.Option("--device", help="auto, cpu or cuda.")] = Device.auto,
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for checkpoints and results.json.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoints in --out.")] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not reuse cached teachers/baselines.")
    ] = False,
    nproc: Annotated[
        int, typer.Option("--nproc", min=1, help="Processes for data-parallel training (torchrun).")
    ] = 1,
    fmt: Annotated[TrainFormat, typer.Option("--format", help="Output format.")] = TrainFormat.table,
) -> None:
    """Train a catalogued method end to end: teacher(s), student alone, distilled student."""
    from kdtaxonomy.commands.train import run_train

    if resume and out is None:
        fail("--resume needs --out (the folder holding the checkpoints)")
    catalog = get_catalog(ctx)
    state: State = ctx.ensure_object(State)
    code = run_train(
        catalog,
        entry_id,
        config=config,
        recipe_file=recipe_file,
        dataset=dataset,
        data_root=data_root,
        epochs=epochs,
        teacher_epochs=teacher_epochs,
        steps=steps,
        teacher_steps=teacher_steps,
        max_steps=max_steps,
        batch_size=batch_size,
        threads=threads,
        device=device.value,
        amp=amp,
        seed=seed,
        out=out,
        resume=resume,
        cache=not no_cache,
        nproc=nproc,
        fmt=fmt.value,
        catalog_path=state.catalog_path,
    )
    if code:
        raise typer.Exit(code)


@app.command("registry")
def registry_command(
    kind: Annotated[
        str | None,
        typer.Argument(help="Component kind: loss, model, dataset, prep, teacher, transfer, student."),
    ] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List the registered components (and their vocabulary terms and parameters)."""
    from kdtaxonomy.registry import RegistryError, load_components
    from kdtaxonomy.render import rows

    registry = load_components()
    try:
        components = registry.list(kind)
    except RegistryError as exc:
        fail(f"{exc} Kinds: {', '.join(registry.kinds())}")
    data = [
        {
            "kind": c.kind,
            "key": c.key,
            "term": c.term or "",
            "params": ", ".join(f"{n}={f.default!r}" for n, f in c.params.model_fields.items()),
            "summary": c.summary,
        }
        for c in components
    ]
    keys = ["kind", "key", "term", "params", "summary"]
    if fmt is ListFormat.table:
        from rich.table import Table

        table = Table(title=f"{len(data)} registered component(s)")
        for key in keys:
            table.add_column(key, overflow="fold")
        for row in data:
            table.add_row(*(row[k] for k in keys))
        console().print(table)
    elif fmt is ListFormat.json:
        emit(rows.to_json(data))
    else:
        emit(rows.to_csv(data, keys) if fmt is ListFormat.csv else rows.to_markdown(data, keys))


class GraphFormat(StrEnum):
    graphml = "graphml"
    json = "json"
    dot = "dot"
    svg = "svg"


class QueryFormat(StrEnum):
    table = "table"
    json = "json"


def _facet_line(values: dict[str, Any]) -> str:
    return "; ".join(f"{facet}: {', '.join(terms)}" for facet, terms in values.items())


@app.command("graph")
def graph_command(
    ctx: typer.Context,
    fmt: Annotated[GraphFormat, typer.Option("--format", help="Output format.")] = GraphFormat.graphml,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Export the taxonomy graph: stages, steps, terms and the configurations using them."""
    from kdtaxonomy.graph import taxonomy_graph, write_graph

    emit(write_graph(taxonomy_graph(get_catalog(ctx)), fmt.value), output)


@app.command("similar")
def similar_command(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Catalog id, e.g. ahn2019-vid.")],
    config: Annotated[
        str | None, typer.Option("--config", help="Configuration (default: the first).")
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="How many configurations.")] = 5,
    fmt: Annotated[QueryFormat, typer.Option("--format", help="Output format.")] = QueryFormat.table,
) -> None:
    """Configurations most similar to one (weighted Jaccard over the terms of each facet)."""
    from kdtaxonomy.graph import similar

    catalog = get_catalog(ctx)
    try:
        found = similar(catalog, entry_id, config, k)
    except KeyError as exc:
        fail(str(exc.args[0]))
    if fmt is QueryFormat.json:
        emit(json.dumps([s.as_dict() for s in found], indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"configurations similar to {entry_id}" + (f"#{config}" if config else ""))
    for name, justify in (("ID", "left"), ("Score", "right"), ("Shared", "left"), ("Different", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for s in found:
        different = {
            f: [f"-{t}" for t in d["query"]] + [f"+{t}" for t in d["other"]] for f, d in s.different.items()
        }
        table.add_row(
            f"{s.id}#{s.configuration}", f"{s.score:.3f}", _facet_line(s.shared), _facet_line(different)
        )
    console().print(table)
    sys.stdout.write("Different: -term only in the query, +term only in the listed configuration.\n")


@app.command("gaps")
def gaps_command(
    ctx: typer.Context,
    stages: Annotated[
        str, typer.Option("--stages", help="Comma-separated facets to cross (knowledge, transfer, ...).")
    ] = "knowledge,transfer,student",
    top: Annotated[int, typer.Option("--top", min=1, help="How many combinations.")] = 20,
    fmt: Annotated[QueryFormat, typer.Option("--format", help="Output format.")] = QueryFormat.table,
) -> None:
    """Combinations of terms no catalogued configuration uses, whose composed recipe is valid."""
    from kdtaxonomy.graph import gaps

    catalog = get_catalog(ctx)
    facets = [s.strip() for s in stages.split(",") if s.strip()]
    try:
        found = gaps(catalog, facets, top)
    except ValueError as exc:
        fail(str(exc))
    if fmt is QueryFormat.json:
        emit(json.dumps([g.as_dict() for g in found], indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} uncovered combination(s), most supported first")
    table.add_column("#", justify="right")
    for facet in facets:
        table.add_column(f"{facet} (configs)")
    table.add_column("Support", justify="right")
    for i, gap in enumerate(found, 1):
        cells = [f"{gap.terms[f]} ({gap.counts[f]})" for f in facets]
        table.add_row(str(i), *cells, str(gap.support))
    console().print(table)


@app.command("compose")
def compose_command(
    ctx: typer.Context,
    knowledge: Annotated[list[str], typer.Option("--knowledge", help="Knowledge term(s), e.g. MI.")],
    transfer: Annotated[list[str], typer.Option("--transfer", help="Transfer method term.")],
    teacher: Annotated[
        list[str] | None, typer.Option("--teacher", help="Teacher term(s) (default: implied by --transfer).")
    ] = None,
    student: Annotated[list[str] | None, typer.Option("--student", help="Student term(s).")] = None,
    objective: Annotated[list[str] | None, typer.Option("--objective", help="Objective term(s).")] = None,
    data_prep: Annotated[
        list[str] | None, typer.Option("--data-prep", help="Data preparation term(s).")
    ] = None,
    location: Annotated[
        list[str] | None, typer.Option("--location", help="Distillation location term(s).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the YAML to this file.")
    ] = None,
) -> None:
    """Compose a new configuration from terms; checks compatibility and writes it as YAML."""
    from kdtaxonomy.graph import ComposeError, compose, configuration_yaml

    try:
        config = compose(
            knowledge,
            transfer,
            teacher,
            student,
            objective,
            data_prep,
            location,
            vocabulary=get_vocabulary(ctx),
        )
    except ComposeError as exc:
        fail(str(exc))
    emit(configuration_yaml(config), output)


@app.command("views")
def views_command(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Catalog id, e.g. ahn2019-vid.")],
    config: Annotated[
        str | None, typer.Option("--config", help="Configuration (default: the first).")
    ] = None,
    fmt: Annotated[QueryFormat, typer.Option("--format", help="Output format.")] = QueryFormat.table,
) -> None:
    """One configuration under the four-stage model and under Gou et al.'s taxonomy."""
    from kdtaxonomy.graph import views

    catalog = get_catalog(ctx)
    try:
        data = views(catalog, entry_id, config)
    except KeyError as exc:
        fail(str(exc.args[0]))
    if fmt is QueryFormat.json:
        emit(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    title = f"{data['id']}#{data['configuration']}"
    four = Table(title=f"{title}: four-stage model (Abbasi et al.)")
    for name in ("Stage", "Step", "Terms"):
        four.add_column(name, overflow="fold")
    for stage in data["four_stage"].values():
        for i, step in enumerate(stage["steps"].values()):
            four.add_row(stage["label"] if i == 0 else "", step["label"], ", ".join(step["terms"]) or "-")
    gou = Table(title=f"{title}: Gou et al. 2021")
    for name in ("Axis", "Category", "From terms"):
        gou.add_column(name, overflow="fold")
    for axis, categories in data["gou"].items():
        for category in categories or [{"label": "-", "from": []}]:
            gou.add_row(axis, category["label"], ", ".join(category["from"]))
    out = console()
    out.print(four)
    out.print(gou)


@app.command("bench")
def bench_command(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID ...]", help="Catalog ids (ID or ID#CONFIG) to run.")
    ] = None,
    run_all: Annotated[bool, typer.Option("--all", help="Run every configuration of the catalog.")] = False,
    config: Annotated[
        str | None, typer.Option("--config", help="Only this configuration (default: all of each id).")
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option("--seeds", min=1, help="Seeds 0..S-1 per configuration (default 3; suite 10, quick 3)."),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Dataset key (default: each recipe's, mnist1d).")
    ] = None,
    device: Annotated[Device, typer.Option("--device", help="auto, cpu or cuda.")] = Device.auto,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Epochs of the student and baseline.")
    ] = None,
    teacher_epochs: Annotated[
        int | None, typer.Option("--teacher-epochs", min=1, help="Epochs of each teacher.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Cap optimizer steps per model.")
    ] = None,
    dataset_param: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset-param", help="KEY=VALUE dataset parameter (e.g. train_limit=192); repeatable."
        ),
    ] = None,
    results: Annotated[
        Path | None, typer.Option("--results", help="Results folder (default: results/ of the repository).")
    ] = None,
    fmt: Annotated[TrainFormat, typer.Option("--format", help="Output format (json: the aggregates).")] = (
        TrainFormat.table
    ),
    skip_done: Annotated[
        bool, typer.Option("--skip-done", help="Keep earlier successful runs with the same settings.")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", min=1, help="Runs in parallel worker processes (each with --threads)."),
    ] = 1,
    threads: Annotated[
        int,
        typer.Option("--threads", min=1, help="Torch threads per run (fixed: CPU numbers depend on it)."),
    ] = 1,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Optimizer steps of the student and baseline.")
    ] = None,
    teacher_steps: Annotated[
        int | None, typer.Option("--teacher-steps", min=1, help="Optimizer steps of each teacher.")
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option("--suite", help="Run a benchmark suite ('standard': every method x every regime)."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Suite: 3 seeds, budgets / 5, cited defaults (same code path); results/quick/."
        ),
    ] = False,
    regime: Annotated[
        list[str] | None, typer.Option("--regime", help="Suite: only this regime (repeatable).")
    ] = None,
    method: Annotated[
        list[str] | None, typer.Option("--method", help="Suite: only this method (repeatable).")
    ] = None,
) -> None:
    """Benchmark configurations (or the standard suite) over paired seeds under protocol kdtax-bench/2."""
    from kdtaxonomy.commands.bench import run_bench

    if suite is not None:
        if suite != "standard":
            fail(f"--suite {suite!r}: the known suite is 'standard'")
        if ids or run_all or config:
            fail("--suite runs its own methods; give no IDs, --all or --config with it")
        from kdtaxonomy.commands.suite import run_suite

        code = run_suite(
            seeds=seeds or (3 if quick else 10),
            quick=quick,
            regimes=list(regime or []),
            methods=list(method or []),
            jobs=jobs,
            threads=threads,
            device=device.value,
            results_dir=results,
            skip_done=skip_done,
        )
        if code:
            raise typer.Exit(code)
        return
    if quick or regime or method:
        fail("--quick, --regime and --method go with --suite standard")

    params: dict[str, Any] = {}
    for item in dataset_param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--dataset-param wants KEY=VALUE, got {item!r}")
        params[key] = int(value) if value.lstrip("-").isdigit() else value
    code = run_bench(
        get_catalog(ctx),
        list(ids or []),
        run_all=run_all,
        config=config,
        seeds=seeds or 3,
        dataset=dataset,
        device=device.value,
        epochs=epochs,
        teacher_epochs=teacher_epochs,
        max_steps=max_steps,
        dataset_params=params,
        results_dir=results,
        fmt=fmt.value,
        skip_done=skip_done,
        jobs=jobs,
        threads=threads,
        steps=steps,
        teacher_steps=teacher_steps,
    )
    if code:
        raise typer.Exit(code)


@app.command("reproduction-report")
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


site_app = typer.Typer(
    help="The static HTML site of the catalog (works from disk, no network).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(site_app, name="site")


@site_app.command("build")
def site_build_command(
    ctx: typer.Context,
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Output folder (replaced whole; only a site built earlier)."),
    ] = Path("site"),
    results: Annotated[
        Path | None, typer.Option("--results", help="Results folder of kdtax bench (default: results/).")
    ] = None,
) -> None:
    """Build the static site: index.html, results.html, benchmark.html, methods/<id>.html, vocab/<step>.html."""
    from kdtaxonomy.bench import load_reproduced
    from kdtaxonomy.benchmark_table import build
    from kdtaxonomy.render.site import SiteError, build_site

    catalog = get_catalog(ctx)
    problems: list[str] = []
    reproduced = load_reproduced(results, problems)
    benchmark = build(results)
    for problem in [*problems, *benchmark.problems]:
        sys.stderr.write(f"warning: {problem}\n")
    try:
        report = build_site(catalog, output, results, reproduced=reproduced, benchmark=benchmark)
    except SiteError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    sys.stdout.write(f"wrote {len(report.pages)} page(s)\n{output / 'index.html'}\n")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
