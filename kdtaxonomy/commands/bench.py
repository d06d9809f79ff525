"""``kdtax bench``: run configurations over several seeds, write one results file per run, aggregate."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
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
    jobs: int = 1,
    threads: int = 1,
    steps: int | None = None,
    teacher_steps: int | None = None,
    batch_size: int | None = None,
    teacher_model: str | None = None,
    student_model: str | None = None,
) -> int:
    """Run ``kdtax bench``; returns the exit code (1 if any run failed).

    Every run uses ``threads`` torch threads (CPU numbers depend on it, so it is fixed and recorded); with
    ``jobs`` > 1, runs go to that many worker processes. Teachers and students alone shared between runs are
    trained once (the model cache is locked per model).
    """
    from kdtaxonomy.recipe import RecipeError, dataset_override, resolve, with_models

    pairs = select(catalog, ids, run_all, config)
    if isinstance(pairs, str):
        return _error(pairs)
    given_dir = results_dir
    results_dir = results_dir or default_results_dir()
    recipes: dict[tuple[str, str], Any] = {}
    where: dict[tuple[str, str], Path] = {}  # each configuration's results folder
    for entry_id, name in pairs:
        configuration = catalog.get(entry_id).configuration(name)
        try:
            own = resolve(configuration, entry_id).dataset.component
            override = dataset_override(configuration, entry_id, dataset, dict(dataset_params or {}))
            recipes[(entry_id, name)] = with_models(
                resolve(configuration, entry_id, dataset=override), teacher_model, student_model
            )
        except RecipeError as exc:
            return _error(f"{entry_id}#{name}: recipe: {exc}")
        other = recipes[(entry_id, name)].dataset.component != own
        # runs on another dataset than the configuration's own go to results/<dataset>/ unless --results
        key = recipes[(entry_id, name)].dataset.component
        where[(entry_id, name)] = results_dir / key if other and not given_dir else results_dir
    from kdtaxonomy.folders import cache_dir, writable_dir

    for folder in sorted(set(where.values())) or [results_dir]:
        problem = writable_dir(folder, "--results")
        if problem:
            return _error(problem)
    problem = writable_dir(cache_dir(), "the cache folder")
    if problem:
        return _error(problem)

    from rich.markup import escape

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
        "steps": steps,
        "teacher_steps": teacher_steps,
        "max_steps": max_steps,
        "dataset_params": dict(dataset_params or {}),
        "threads": threads,
    }
    if batch_size is not None:  # only when given, so that earlier results without it still match
        settings["batch_size"] = batch_size
    from kdtaxonomy.render.console import progress_bar

    progress = progress_bar()
    records: list[dict[str, Any]] = []
    todo: list[Job] = []
    for entry_id, name in pairs:
        for seed in range(seeds):
            path = result_path(where[(entry_id, name)], entry_id, name, seed)
            done = _done(path, settings, recipes[(entry_id, name)].digest()) if skip_done else None
            if done is not None:
                records.append(done)
            else:
                todo.append(Job(entry_id, name, seed, recipes[(entry_id, name)]))
    clash = _other_dataset_runs(where, todo)
    if clash:
        return _error(clash)
    # configurations whose recipes are identical (e.g. variants the stand-ins do not tell apart) share a run:
    # an earlier run kept by --skip-done, or the first job of the recipe; a follower is written as soon as its
    # run is, so an interrupted bench keeps it
    earlier = {(r["provenance"]["recipe_hash"], r["seed"]): r for r in records if not r.get("same_run_as")}
    ready: list[tuple[Job, dict[str, Any]]] = []
    first: dict[tuple[str, int], Job] = {}
    followers: dict[tuple[str, str, int], list[Job]] = {}
    for job in todo:
        key = (job.recipe.digest(), job.seed)
        if key in earlier:
            ready.append((job, earlier[key]))
        elif key in first:
            source = first[key]
            followers.setdefault((source.entry_id, source.name, source.seed), []).append(job)
        else:
            first[key] = job
    todo = [job for job in todo if first.get((job.recipe.digest(), job.seed)) is job]
    common = {
        "device": str(target),
        "epochs": epochs,
        "teacher_epochs": teacher_epochs,
        "steps": steps,
        "teacher_steps": teacher_steps,
        "max_steps": max_steps,
        "dataset_params": dict(dataset_params or {}),
        "threads": threads,
        "batch_size": batch_size,
        "commit": commit,
        "settings": settings,
    }
    start = time.perf_counter()
    with progress:
        overall = progress.add_task("bench", total=len(pairs) * seeds, completed=len(records))

        def finish(record: dict[str, Any]) -> None:
            label = f"{record['id']}#{record['configuration']} seed {record['seed']}"
            if record["status"] != "ok":
                error = escape(f"{label}: {record.get('error', '')}")
                progress.console.print(f"[red]failed[/red] {error}", markup=True)
            else:
                progress.console.print(run_line(label, record), markup=False, highlight=False, soft_wrap=True)
            atomic_write_text(
                result_path(
                    where[(record["id"], record["configuration"])],
                    record["id"],
                    record["configuration"],
                    record["seed"],
                ),
                json.dumps(record, indent=2, default=str) + "\n",
            )
            records.append(record)
            progress.advance(overall)
            if not record.get("same_run_as"):
                for job in followers.pop((record["id"], record["configuration"], record["seed"]), []):
                    finish(shared_record(job, record))

        for follower, run in ready:
            finish(shared_record(follower, run))

        if jobs <= 1 or len(todo) <= 1:
            import torch

            torch.set_num_threads(threads)
            for job in todo:
                progress.update(overall, description=f"{job.entry_id}#{job.name} seed {job.seed}")
                before = set(progress.task_ids)
                finish(run_job(job, common, target, progress))
                for task in set(progress.task_ids) - before:
                    progress.remove_task(task)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            progress.update(overall, description=f"bench ({jobs} jobs x {threads} thread(s))")
            context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
            with ProcessPoolExecutor(
                jobs, mp_context=context, initializer=_worker_init, initargs=(threads,)
            ) as pool:
                futures = [pool.submit(run_job, job, common) for job in todo]
                for future in as_completed(futures):
                    finish(future.result())
        progress.update(overall, description="bench")
    records.sort(key=lambda r: (r["id"], r["configuration"], r["seed"]))
    total = time.perf_counter() - start
    aggregates = aggregate(records)
    shown = ", ".join(str(d) for d in sorted(set(where.values())))
    if fmt == "json":
        out = {"results_dir": shown, "wall_seconds": total}
        out["aggregates"] = [a.summary() for a in aggregates.values()]
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    else:
        print_table(list(aggregates.values()), title="Reproduced on the embedded benchmark")
        sys.stdout.write(f"results in {shown}; wall time {total:.1f} s\n")
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        sys.stderr.write(f"{len(failed)} of {len(records)} run(s) failed\n")
        return 1
    return 0


@dataclass(frozen=True)
class Job:
    """One run of the bench: a configuration's recipe and a seed."""

    entry_id: str
    name: str
    seed: int
    recipe: Any


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_job(job: Job, common: dict[str, Any], target: Any = None, progress: Any = None) -> dict[str, Any]:
    """Train one run (teacher, student alone, distilled student) and return its results record.

    A failure is recorded in the record (``status: failed``) instead of raised, so the bench goes on.
    """
    import torch

    from kdtaxonomy.runner import Runner, RunOptions

    options = RunOptions(
        seed=job.seed,
        device=target if target is not None else torch.device(common["device"]),
        epochs=common["epochs"],
        teacher_epochs=common["teacher_epochs"],
        steps=common["steps"],
        teacher_steps=common["teacher_steps"],
        max_steps=common["max_steps"],
        batch_size=common.get("batch_size"),
        cache=True,
        progress=progress,
        dataset_params=dict(common["dataset_params"]),
    )
    record: dict[str, Any] = {
        "format": RESULT_FORMAT,
        "protocol": RESULT_FORMAT,
        "id": job.entry_id,
        "configuration": job.name,
        "seed": job.seed,
    }
    result = run_into(record, lambda: Runner(job.recipe, options).run())
    record["provenance"] = {
        "git_commit": common["commit"],
        "recipe": job.recipe.model_dump(mode="json", exclude={"entry", "configuration"}),
        "recipe_hash": job.recipe.digest(),
        "dataset": result.get("dataset"),
        "seed": job.seed,
        "device": common["device"],
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),  # CPU results depend on it (reduction order)
        "settings": common["settings"],
    }
    return record


def run_into(record: dict[str, Any], run: Any) -> dict[str, Any]:
    """Call ``run()`` and add its result, its status and its wall time to ``record``; a failure is recorded
    (``status: failed`` with the error) instead of raised, so a benchmark goes on. Returns the result."""
    start = time.perf_counter()
    try:
        result: dict[str, Any] = run()
    except Exception as exc:  # a failed run is recorded and the benchmark goes on
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        record.update(status="failed", error=f"{type(exc).__name__}: {message}")
        result = {}
    else:
        record["status"] = "ok"
    record.update(result)
    record.setdefault("wall_seconds", time.perf_counter() - start)
    return result


def run_line(label: str, record: dict[str, Any]) -> str:
    """One line per finished run: its accuracies and wall time (or the run it shares)."""
    parts = []
    for name, key in (("teacher", "teacher_accuracy"), ("alone", "student_baseline_accuracy"),
                      ("distilled", "student_accuracy")):  # fmt: skip
        value = record.get(key)
        parts.append(f"{name} {value:.2f}" if isinstance(value, int | float) else f"{name} -")
    shared = record.get("same_run_as")
    when = f"same run as {shared}" if shared else f"{float(record.get('wall_seconds') or 0):.1f} s"
    line = f"done {label}: {', '.join(parts)} ({when})"
    from kdtaxonomy.datasets.base import skipped_note

    note = skipped_note(list((record.get("dataset") or {}).get("skipped_files") or []))
    return f"{line}; {note}" if note else line


def shared_record(job: Job, source: dict[str, Any]) -> dict[str, Any]:
    """The record of ``job`` from the run of another configuration with the identical recipe and seed."""
    record: dict[str, Any] = json.loads(json.dumps(source, default=str))
    record.update(id=job.entry_id, configuration=job.name, wall_seconds=0.0)
    record["same_run_as"] = f"{source['id']}#{source['configuration']}"
    record["provenance"]["recipe"] = job.recipe.model_dump(mode="json", exclude={"entry", "configuration"})
    return record


def _other_dataset_runs(where: dict[tuple[str, str], Path], jobs: list[Job]) -> str:
    """Why these runs must not be written where they would replace runs on another dataset ("" if they may):
    a run on a user's dataset never overwrites the catalog's results on the embedded one."""
    for job in jobs:
        path = result_path(where[(job.entry_id, job.name)], job.entry_id, job.name, job.seed)
        try:
            old = json.loads(path.read_text(encoding="utf-8"))["provenance"]["recipe"]["dataset"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        new = job.recipe.model_dump(mode="json")["dataset"]
        if old != new:
            return (
                f"{path.parent} holds runs on dataset {old.get('component', old)!r}"
                f"{' ' + json.dumps(old.get('params')) if old.get('params') else ''}; these runs use "
                f"{new.get('component', new)!r}: give --results DIR so that they do not replace them"
            )
    return ""


def _done(path: Path, settings: dict[str, Any], recipe_hash: str) -> dict[str, Any] | None:
    """The earlier successful run at ``path`` with the same settings and recipe (None if there is none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("status") != "ok" or data.get("format") != RESULT_FORMAT:
        return None
    provenance = data.get("provenance")
    if not isinstance(provenance, dict):
        return None
    if provenance.get("settings") != settings or provenance.get("recipe_hash") != recipe_hash:
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
