"""Design commands over the taxonomy: ``graph``, ``similar``, ``gaps``, ``compose`` and ``views``."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from kdtaxonomy.commands.common import (
    QueryFormat,
    console,
    emit,
    fail,
    get_catalog,
    get_vocabulary,
    split_id,
)


class GraphFormat(StrEnum):
    graphml = "graphml"
    json = "json"
    dot = "dot"
    svg = "svg"


def _facet_line(values: dict[str, Any]) -> str:
    return "; ".join(f"{facet}: {', '.join(terms)}" for facet, terms in values.items())


def graph_command(
    ctx: typer.Context,
    fmt: Annotated[GraphFormat, typer.Option("--format", help="Output format.")] = GraphFormat.graphml,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """Export the taxonomy graph: stages, steps, terms and the configurations using them."""
    from kdtaxonomy.graph import taxonomy_graph, write_graph

    emit(write_graph(taxonomy_graph(get_catalog(ctx)), fmt.value), output)


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
    from kdtaxonomy.similarity import similar

    entry_id, config = split_id(entry_id, config)
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


def gaps_command(
    ctx: typer.Context,
    stages: Annotated[
        str, typer.Option("--stages", help="Comma-separated facets to cross (knowledge, transfer, ...).")
    ] = "knowledge,transfer,student",
    top: Annotated[int, typer.Option("--top", min=1, help="How many combinations.")] = 20,
    fmt: Annotated[QueryFormat, typer.Option("--format", help="Output format.")] = QueryFormat.table,
) -> None:
    """Combinations of terms no catalogued configuration uses, whose composed recipe is valid."""
    from kdtaxonomy.gaps import gaps

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


def compose_command(
    ctx: typer.Context,
    knowledge: Annotated[
        list[str] | None,
        typer.Option(
            "--knowledge", help="Knowledge term(s), e.g. MI (default: those of --loss, else soft labels)."
        ),
    ] = None,
    transfer: Annotated[
        list[str] | None, typer.Option("--transfer", help="Transfer method term (default: permuted).")
    ] = None,
    loss: Annotated[
        list[str] | None,
        typer.Option(
            "--loss",
            help="Registry loss component KEY[@LOCATION] for the recipe, e.g. rkd-area@embedding (repeatable).",
        ),
    ] = None,
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
    from kdtaxonomy.compose import ComposeError, compose, configuration_yaml

    try:
        config = compose(
            knowledge,
            transfer,
            teacher,
            student,
            objective,
            data_prep,
            location,
            losses=list(loss or []),
            vocabulary=get_vocabulary(ctx),
        )
    except ComposeError as exc:
        fail(str(exc))
    emit(configuration_yaml(config), output)


def views_command(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Catalog id, e.g. ahn2019-vid.")],
    config: Annotated[
        str | None, typer.Option("--config", help="Configuration (default: the first).")
    ] = None,
    fmt: Annotated[QueryFormat, typer.Option("--format", help="Output format.")] = QueryFormat.table,
) -> None:
    """One configuration under the four-stage model and under Gou et al.'s taxonomy."""
    from kdtaxonomy.views import views

    entry_id, config = split_id(entry_id, config)
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
