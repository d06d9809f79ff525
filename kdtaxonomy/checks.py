"""Catalog-wide checks beyond the schema of a single entry (no torch)."""

from __future__ import annotations

from pathlib import Path

from kdtaxonomy.problems import Problem
from kdtaxonomy.schema import Entry
from kdtaxonomy.vocabulary import Vocabulary
from kdtaxonomy.yamlio import Document, Loc


def _line(docs: dict[Path, Document], path: Path, loc: Loc) -> int | None:
    doc = docs.get(path)
    return doc.line_of(loc) if doc else None


def run_extra_checks(
    entries: list[tuple[Path, Entry]], vocabulary: Vocabulary, docs: dict[Path, Document] | None = None
) -> list[Problem]:
    """Problems that need the whole catalog or the component specs: survey rows claimed twice, recipes whose
    components or parameters do not exist, teacher-student topologies that cannot run."""
    from kdtaxonomy.recipe import RecipeError, placeholder_dataset, recipe_datasets, resolve
    from kdtaxonomy.topology import check_topology, topology

    sound: dict[str, str | None] = {}  # recipe (without its names) -> why its topology cannot run

    problems: list[Problem] = []
    docs = docs or {}
    rows: dict[str, str] = {}
    for path, entry in entries:
        for index, config in enumerate(entry.configurations):
            row = config.survey_row
            if row is None:
                continue
            owner = f"{entry.id}#{config.name}"
            if row.work in rows:
                problems.append(
                    Problem(
                        str(path),
                        f"survey row {row.work!r} is already encoded by {rows[row.work]}",
                        _line(docs, path, ("configurations", index, "survey_row", "work")),
                        f"configurations.{index}.survey_row.work",
                    )
                )
            rows[row.work] = owner
        for index, config in enumerate(entry.configurations):
            line = _line(docs, path, ("configurations", index, "implementation"))
            try:
                recipe = resolve(config, entry.id)
            except RecipeError as exc:
                problems.append(
                    Problem(str(path), f"recipe: {exc}", line, f"configurations.{index}.implementation")
                )
                continue
            for dataset in recipe_datasets(config):
                try:
                    resolve(config, entry.id, dataset=placeholder_dataset(config, dataset))
                except RecipeError as exc:
                    problems.append(
                        Problem(
                            str(path),
                            f"recipe on {dataset}: {exc}",
                            _line(
                                docs, path, ("configurations", index, "implementation", "recipes", dataset)
                            ),
                            f"configurations.{index}.implementation.recipes.{dataset}",
                        )
                    )
            key = recipe.model_dump_json(exclude={"entry", "configuration"})
            if key not in sound:
                try:
                    check_topology(topology(recipe))
                    sound[key] = None
                except ValueError as exc:
                    sound[key] = str(exc)
            if sound[key]:
                problems.append(
                    Problem(str(path), f"topology: {sound[key]}", line, f"configurations.{index}.teacher")
                )
    return problems
