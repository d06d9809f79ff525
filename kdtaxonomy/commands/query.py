"""Query commands: ``list``, ``show``, ``vocab``, ``validate``, ``schema``, ``cite`` and ``registry``."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kdtaxonomy.commands.common import (
    DataPrepOpt,
    DatasetOpt,
    GouOpt,
    KnowledgeOpt,
    ListFormat,
    LocationOpt,
    LossOpt,
    ModalityOpt,
    ObjectiveOpt,
    SearchOpt,
    State,
    StudentOpt,
    TeacherOpt,
    TransferOpt,
    YearOpt,
    console,
    emit,
    facet_values,
    fail,
    get_catalog,
    get_datasets,
    get_index,
    get_vocabulary,
    report_problems,
    split_id,
)


class CiteFormat(StrEnum):
    bibtex = "bibtex"
    csl_json = "csl-json"


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
    gou: GouOpt = None,
    loss: LossOpt = None,
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
    if not data and fmt is ListFormat.table:
        sys.stderr.write("no configuration matches these options (kdtax vocab lists the terms)\n")
        return
    if fmt is ListFormat.table:
        from collections import Counter

        from kdtaxonomy.render.fit import fit_width, print_fitted
        from kdtaxonomy.render.listing import list_table

        multi = {key for key, n in Counter(r["id"] for r in index.rows).items() if n > 1}
        print_fitted(fit_width(console()), list_table(data, multi))
        return
    from kdtaxonomy.render import formats

    if fmt is ListFormat.json:
        emit(formats.to_json(data))
    else:
        keys = list(data[0]) if data else ["id", "configuration", "title", "year"]
        emit(formats.to_csv(data, keys) if fmt is ListFormat.csv else formats.to_markdown(data, keys))


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
    entry_id, config = split_id(entry_id, config)
    catalog = get_catalog(ctx)
    try:
        entry = catalog.get(entry_id)
        configs = [entry.configuration(config)] if config else entry.configurations
    except KeyError as exc:
        fail(str(exc.args[0]))
    from kdtaxonomy.bench import load_reproduced_all
    from kdtaxonomy.render import console as render
    from kdtaxonomy.render import rows

    problems: list[str] = []
    reproduced = [
        agg
        for agg in load_reproduced_all(results, problems)
        if agg.entry_id == entry.id and agg.config in {c.name for c in configs}
    ]
    for problem in problems:
        if f"/{entry.id}/" in problem.replace("\\", "/"):
            sys.stderr.write(f"warning: {problem}\n")
    if fmt is ListFormat.table:
        from kdtaxonomy.render.fit import fit_width, print_fitted

        print_fitted(fit_width(console()), render.show_renderable(entry, catalog, config, reproduced))
    elif fmt is ListFormat.json:
        emit(rows.to_json(render.entry_json(entry, config, reproduced)))
    elif fmt is ListFormat.md:
        emit(render.show_markdown(entry, catalog, config, reproduced))
    else:
        data = [rows.list_row(entry, c) for c in configs]
        emit(rows.to_csv(data, list(data[0])))


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

        names = list(dict.fromkeys([*vocab.data.stages, *vocab.steps, *FACETS]))
        fail(
            f"unknown stage or step {stage!r}.{suggest(stage, names)} Stages: {', '.join(vocab.data.stages)}"
        )
    from kdtaxonomy.render import rows

    if fmt is ListFormat.table:
        from kdtaxonomy.render.console import vocab_table
        from kdtaxonomy.render.fit import fit_width, print_fitted

        print_fitted(fit_width(console()), vocab_table(catalog, steps))
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
    entries, problems = validate_paths(targets, vocabulary, get_datasets(ctx, vocabulary))
    if problems:
        report_problems(problems)
        raise typer.Exit(1)
    configs = sum(len(e.configurations) for e in entries)
    sys.stdout.write(f"ok: {len(entries)} entries, {configs} configurations valid\n")


def schema_command(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Print the documented JSON Schema of a catalog entry (terms listed as enums)."""
    from kdtaxonomy.schema import entry_json_schema

    emit(json.dumps(entry_json_schema(get_vocabulary(ctx)), indent=2), output)


def cite_command(
    ctx: typer.Context,
    entry_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Catalog id(s).")],
    fmt: Annotated[CiteFormat, typer.Option("--format", help="Citation format.")] = CiteFormat.bibtex,
) -> None:
    """Print citations of catalog entries as BibTeX or CSL-JSON."""
    from kdtaxonomy.render import cite

    catalog = get_catalog(ctx)
    try:
        entries = list({id(e): e for e in (catalog.get(split_id(i)[0]) for i in entry_ids)}.values())
    except KeyError as exc:
        fail(str(exc.args[0]))
    if fmt is CiteFormat.bibtex:
        emit("\n".join(cite.bibtex(e) for e in entries))
    else:
        emit(json.dumps([cite.csl_json(e) for e in entries], indent=2, ensure_ascii=False))


READS = {
    "logits": "output (logits)",
    "embeddings": "embedding (B, D)",
    "features": "feature map (e.g. block2)",
}
"""What a loss reads, by its registered ``inputs`` (shown by ``kdtax registry``)."""


def reads(inputs: str, maps: tuple[int, int | None]) -> str:
    """What a loss reads: :data:`READS` of its ``inputs``, with the multi-map locations its spec allows."""
    one = READS.get(inputs, "")
    fewest, most = maps
    if most == 1:
        return one
    several = "a pair (block1&block2)" if most == 2 else "several maps (block1&block2&...)"
    return f"{one}, or {several}" if fewest <= 1 else f"{several[0].upper()}{several[1:]}"


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
            "params": ", ".join(
                f"{n}=(required)" if f.is_required() else f"{n}={f.default!r}"
                for n, f in c.params.model_fields.items()
            ),
            "reads": reads(str(c.extra.get("inputs", "")), getattr(c.params, "maps", (1, 1)))
            if c.kind == "loss"
            else "",
            "summary": c.summary,
        }
        for c in components
    ]
    keys = ["kind", "key", "term", "params", "reads", "summary"]
    if not any(row["reads"] for row in data):
        keys.remove("reads")
        for row in data:
            del row["reads"]
    if fmt is ListFormat.table:
        from kdtaxonomy.render.fit import fit_width, print_fitted
        from kdtaxonomy.render.listing import registry_table

        print_fitted(fit_width(console()), registry_table(data, keys))
    elif fmt is ListFormat.json:
        emit(rows.to_json(data))
    else:
        emit(rows.to_csv(data, keys) if fmt is ListFormat.csv else rows.to_markdown(data, keys))
