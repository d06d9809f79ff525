"""What every ``kdtax`` command shares: the catalog state, error exits, output and the facet options.

Light on purpose (typer, no pydantic, no torch): the query path imports it before any command runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog
    from kdtaxonomy.dataset_vocabulary import DatasetVocabulary
    from kdtaxonomy.lookup import CatalogIndex
    from kdtaxonomy.problems import Problem
    from kdtaxonomy.vocabulary import Vocabulary


class ListFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


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


def split_id(text: str, config: str | None = None) -> tuple[str, str | None]:
    """``ID#CONFIG`` -> ``(ID, CONFIG)`` (the form tables, the site and ``bench`` print); plain ``ID`` keeps
    ``config``. A ``--config`` that names another configuration than ``#CONFIG`` exits 1."""
    entry_id, sep, name = text.partition("#")
    if not sep:
        return text, config
    if not entry_id or not name:
        fail(f"{text!r}: write ID or ID#CONFIG")
    if config is not None and config != name:
        fail(f"{text!r} and --config {config!r} name different configurations")
    return entry_id, name


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


def get_datasets(ctx: typer.Context, vocabulary: Vocabulary | None = None) -> DatasetVocabulary:
    """The dataset vocabulary of the selected catalog (or the shipped one), without validating the entries."""
    from kdtaxonomy.catalog import CatalogError, read_datasets
    from kdtaxonomy.lookup import datasets_file, default_catalog_dir

    state: State = ctx.ensure_object(State)
    try:
        return read_datasets(datasets_file(state.catalog_path or default_catalog_dir()), vocabulary)
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
GouOpt = Annotated[
    list[str] | None,
    typer.Option("--gou", help="Gou et al. 2021 category, e.g. feature-based, online, multi-teacher."),
]
LossOpt = Annotated[
    list[str] | None, typer.Option("--loss", help="Registry loss component of the recipe, e.g. rkd-area.")
]
DatasetOpt = Annotated[
    list[str] | None,
    typer.Option("--dataset", help="Dataset id, name or synonym (any case), or a part of one."),
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
    "gou",
    "loss",
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


class TrainFormat(StrEnum):
    table = "table"
    json = "json"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class QueryFormat(StrEnum):
    table = "table"
    json = "json"
