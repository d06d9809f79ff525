"""``kdtax bench``: run configurations over several seeds, write one results file per run, aggregate."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from kdtaxonomy.bench import (
    RESULT_FORMAT,
    TABLE_HEADER,
    Aggregate,
    aggregate,
    default_results_dir,
    fmt_dataset,
    result_path,
    table_row,
)
from kdtaxonomy.catalog import Catalog
from kdtaxonomy.commands.train import _git_commit


def _error(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 1


def select(
    catalog: Catalog, ids: list[str], run_all: bool, config: str | None
) -> list[tuple[str, str]] | str:
    """(id, configuration) pairs to run, or an error message."""
    if run_all:
        if ids or config:
            return "--all runs every configuration; give no IDs or --config with it"
        return [(e.id, c.name) for e, c in catalog.configurations()]
    if not ids:
        return "give catalog IDs or --all"
    pairs: list[tuple[str, str]] = []
    for item in ids:
        entry_id, _, own = item.partition("#")
        try:
            entry = catalog.get(entry_id)
            name = own or config
            configs = [entry.configuration(name)] if name else entry.configurations
        except KeyError as exc:
            return str(exc.args[0])
        pairs += [(entry.id, c.name) for c in configs]
    return pairs


def run_bench(
    catalog: Catalog,
    ids: list[str],
    *,
    run_all: bool = False,
    config: str | None = None,
    seeds: int = 3,
    dataset: str | None = None,
    device: str = "auto",
    epochs: int | None = None,
    teacher_epochs: int | None = None,
    max_steps: int | None = None,
    dataset_params: dict[str, Any] | None = None,
    results_dir: Path | None = None,
    fmt: str = "table",
    skip_done: bool = False,
) -> int:
    """Run ``kdtax bench``; returns the exit code (1 if any run failed)."""
    from kdtaxonomy.recipe import RecipeError, resolve
    from kdtaxonomy.schema import ComponentSpec

    pairs = select(catalog, ids, run_all, config)
    if isinstance(pairs, str):
        return _error(pairs)
    results_dir = results_dir or default_results_dir()
    recipes: dict[tuple[str, str], Any] = {}
    for entry_id, name in pairs:
        overrides = {"dataset": ComponentSpec(component=dataset)} if dataset else {}
        try:
            recipes[(entry_id, name)] = resolve(
                catalog.get(entry_id).configuration(name), entry_id, **overrides
            )
        except RecipeError as exc:
            return _error(f"{entry_id}#{name}: recipe: {exc}")

    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kdtaxonomy.runner import Runner, RunOptions
    from kdtaxonomy.train import TrainingError, init_distributed
    from kdtaxonomy.yamlio import atomic_write_text

    try:
        target = init_distributed(device)
    except TrainingError as exc:
        return _error(str(exc))
    commit = _git_commit()
    settings = {
        "dataset": dataset,
        "epochs": epochs,
        "teacher_epochs": teacher_epochs,
        "max_steps": max_steps,
        "dataset_params": dict(dataset_params or {}),
    }
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    with progress:
        overall = progress.add_task("bench", total=len(pairs) * seeds)
        for entry_id, name in pairs:
            recipe = recipes[(entry_id, name)]
            for seed in range(seeds):
                label = f"{entry_id}#{name} seed {seed}"
                done = _done(result_path(results_dir, entry_id, name, seed), settings) if skip_done else None
                if done is not None:
                    records.append(done)
                    progress.advance(overall)
                    continue
                progress.update(overall, description=label)
                before = set(progress.task_ids)
                options = RunOptions(
                    seed=seed,
                    device=target,
                    epochs=epochs,
                    teacher_epochs=teacher_epochs,
                    max_steps=max_steps,
                    cache=True,
                    progress=progress,
                    dataset_params=dict(dataset_params or {}),
                )
                record: dict[str, Any] = {
                    "format": RESULT_FORMAT,
                    "id": entry_id,
                    "configuration": name,
                    "seed": seed,
                }
                run_start = time.perf_counter()
                try:
                    result = Runner(recipe, options).run()
                except Exception as exc:  # a failed run is recorded and the bench goes on
                    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
                    record.update(status="failed", error=f"{type(exc).__name__}: {message}")
                    result = {}
                    progress.console.print(f"[red]failed[/red] {label}: {message}")
                else:
                    record["status"] = "ok"
                record.update(result)
                record.setdefault("wall_seconds", time.perf_counter() - run_start)
                record["provenance"] = {
                    "git_commit": commit,
                    "recipe": recipe.model_dump(mode="json", exclude={"entry", "configuration"}),
                    "recipe_hash": recipe.digest(),
                    "dataset": result.get("dataset"),
                    "seed": seed,
                    "device": str(target),
                    "torch": torch.__version__,
                    "settings": settings,
                }
                atomic_write_text(
                    result_path(results_dir, entry_id, name, seed),
                    json.dumps(record, indent=2, default=str) + "\n",
                )
                records.append(record)
                for task in set(progress.task_ids) - before:
                    progress.remove_task(task)
                progress.advance(overall)
        progress.update(overall, description="bench")
    total = time.perf_counter() - start
    aggregates = aggregate(records)
    if fmt == "json":
        out = {"results_dir": str(results_dir), "wall_seconds": total}
        out["aggregates"] = [a.summary() for a in aggregates.values()]
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    else:
        print_table(list(aggregates.values()), title="Reproduced on the embedded benchmark")
        sys.stdout.write(f"results in {results_dir}; wall time {total:.1f} s\n")
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        sys.stderr.write(f"{len(failed)} of {len(records)} run(s) failed\n")
        return 1
    return 0


def _done(path: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier successful run at ``path`` with the same settings (None if there is none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and data.get("status") == "ok" and data.get("format") == RESULT_FORMAT
    if not ok or (data.get("provenance") or {}).get("settings") != settings:
        return None
    record: dict[str, Any] = data
    return record


def print_table(aggregates: list[Aggregate], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("ID")
    for name in TABLE_HEADER:
        table.add_column(name, justify="left" if name == "Configuration" else "right")
    table.add_column("Dataset", overflow="fold")
    for agg in aggregates:
        table.add_row(agg.entry_id, *table_row(agg), fmt_dataset(agg.dataset))
    Console().print(table)
