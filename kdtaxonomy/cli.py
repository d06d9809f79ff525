"""The ``kdtax`` command line: the typer app, its global options and the wiring of every command.

The commands' bodies live in :mod:`kdtaxonomy.commands` (one module per group); they import heavy modules
(pydantic, torch, scipy) inside the functions that need them, so ``kdtax list`` stays light.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kdtaxonomy.commands import design, query, site, tables, training
from kdtaxonomy.commands.common import State

app = typer.Typer(
    name="kdtax",
    help="kdtaxonomy: the knowledge base and method registry of knowledge distillation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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
            "--catalog",
            envvar="KDTAX_CATALOG",
            help="Catalog directory (vocabulary.yaml, datasets.yaml + methods/).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Find, compare, cite and run knowledge-distillation methods."""
    ctx.obj = State(catalog_path=catalog)


EXAMPLES: dict[str, tuple[str, ...]] = {
    "list": ("kdtax list --knowledge=MI", "kdtax list --transfer mutual --year 2018-2020 --format json"),
    "show": ("kdtax show ahn2019-vid", "kdtax show park2019-rkd#angle --format md"),
    "vocab": ("kdtax vocab knowledge", "kdtax vocab --format json"),
    "validate": ("kdtax validate", "kdtax validate catalog/methods/ahn2019-vid.yaml"),
    "schema": ("kdtax schema -o entry.schema.json",),
    "cite": ("kdtax cite ahn2019-vid park2019-rkd", "kdtax cite hinton2015-distilling --format csl-json"),
    "train": (
        "kdtax train ahn2019-vid",
        "kdtax train park2019-rkd#angle --steps 500 -o runs/rkd",
    ),
    "registry": ("kdtax registry loss", "kdtax registry dataset --format md"),
    "graph": ("kdtax graph --format svg -o taxonomy.svg",),
    "similar": ("kdtax similar ahn2019-vid -k 3",),
    "gaps": ("kdtax gaps --stages knowledge,transfer --top 10",),
    "compose": (
        "kdtax compose --knowledge MI --transfer permuted -o mine.yaml",
        "kdtax train --recipe mine.yaml",
    ),
    "views": ("kdtax views park2019-rkd#distance",),
    "bench": (
        "kdtax bench park2019-rkd --seeds 5 --jobs 2",
        "kdtax bench --suite standard --quick --jobs 2",
    ),
    "reproduction-report": ("kdtax reproduction-report -o REPRODUCTION.md",),
}
"""One or two real command lines per command, printed at the end of its ``--help``."""


def _epilog(name: str) -> str:
    # "\b" keeps click from re-wrapping the example lines
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in EXAMPLES[name])


for _name, _command in (
    ("list", query.list_command),
    ("show", query.show_command),
    ("vocab", query.vocab_command),
    ("validate", query.validate_command),
    ("schema", query.schema_command),
    ("cite", query.cite_command),
    ("train", training.train_command),
    ("registry", query.registry_command),
    ("graph", design.graph_command),
    ("similar", design.similar_command),
    ("gaps", design.gaps_command),
    ("compose", design.compose_command),
    ("views", design.views_command),
    ("bench", training.bench_command),
    ("reproduction-report", tables.reproduction_report_command),
):
    app.command(_name, epilog=_epilog(_name))(_command)
app.add_typer(tables.table_app, name="table")
app.add_typer(site.site_app, name="site")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
