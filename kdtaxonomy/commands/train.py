"""``kdtax train``: resolve the recipe, run it (one process or data-parallel), report accuracies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.schema import Configuration


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def _error(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 1


def _spawn(nproc: int) -> int:
    """Re-run this command under torchrun with ``nproc`` processes (gloo on CPU, NCCL on GPU)."""
    args = [a for a in sys.argv[1:]]
    cleaned: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        cleaned.append(arg)
    if "train" not in cleaned:
        cleaned = ["train", *cleaned]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "kdtaxonomy.launch",
        *cleaned,
    ]
    return subprocess.call(command)


def run_train(
    catalog: Catalog,
    entry_id: str | None,
    *,
    config: str | None,
    recipe_file: Path | None = None,
    dataset: str | None,
    data_root: Path | None,
    dataset_params: dict[str, Any] | None = None,
    teacher_model: str | None = None,
    student_model: str | None = None,
    epochs: int | None,
    teacher_epochs: int | None,
    max_steps: int | None,
    steps: int | None = None,
    teacher_steps: int | None = None,
    threads: int = 1,
    batch_size: int | None,
    device: str,
    amp: bool,
    seed: int,
    out: Path | None,
    resume: bool,
    cache: bool,
    nproc: int,
    fmt: str,
    catalog_path: Path | None = None,
) -> int:
    """Run ``kdtax train``; returns the exit code."""
    from kdtaxonomy.folders import cache_dir, readable_dir, writable_dir
    from kdtaxonomy.recipe import RecipeError, dataset_override, resolve, with_models

    checks = [
        writable_dir(out, "--out") if out is not None else None,
        readable_dir(data_root, "--data-root") if data_root is not None else None,
        writable_dir(cache_dir(), "the cache folder (KDTAX_CACHE_DIR)") if cache else None,
    ]
    for problem in checks:
        if problem:
            return _error(problem)
    if (entry_id is None) == (recipe_file is None):
        return _error("give either a catalog ID or --recipe FILE (not both)")
    if recipe_file is not None:
        if config is not None:
            return _error("--config selects a configuration of a catalog entry; it cannot go with --recipe")
        loaded = _read_recipe_file(recipe_file, catalog)
        if isinstance(loaded, str):
            return _error(loaded)
        run_id, configuration = "composed", loaded
    else:
        assert entry_id is not None
        try:
            entry = catalog.get(entry_id)
            configuration = entry.configuration(config)
        except KeyError as exc:
            return _error(str(exc.args[0]))
        run_id = entry.id
    try:
        data_params = {**(dataset_params or {}), **({"root": str(data_root)} if data_root else {})}
        override = dataset_override(configuration, run_id, dataset, data_params)
        recipe = resolve(configuration, run_id, dataset=override)
        recipe = with_models(recipe, teacher_model, student_model)
    except RecipeError as exc:
        where = str(recipe_file) if recipe_file is not None else f"{run_id}#{configuration.name}"
        return _error(f"{where}: recipe: {exc}")
    manifest = _manifest(run_id, configuration.name, recipe.digest(), locals())
    if out is not None:
        from kdtaxonomy.folders import check_run_folder

        problem = check_run_folder(out, manifest, resume)
        if problem is not None:
            return _error(problem)
    if nproc > 1 and "RANK" not in os.environ:
        return _spawn(nproc)

    import torch

    from kdtaxonomy.runner import RunOptions, run_recipe

    torch.set_num_threads(threads)
    from kdtaxonomy.train import TrainingError, init_distributed, rank, shutdown_distributed, world_size

    try:
        target = init_distributed(device)
    except TrainingError as exc:
        return _error(str(exc))
    my_rank, processes = rank(), world_size()
    progress = None
    if my_rank == 0 and fmt == "table":
        from kdtaxonomy.render.console import progress_bar

        progress = progress_bar()
    if out is not None and my_rank == 0:
        _write_manifest(out, manifest)
    options = RunOptions(
        seed=seed,
        device=target,
        amp=amp and target.type == "cuda",
        epochs=epochs,
        teacher_epochs=teacher_epochs,
        steps=steps,
        teacher_steps=teacher_steps,
        batch_size=batch_size,
        max_steps=max_steps,
        out=out,
        resume=resume,
        cache=cache,
        progress=progress,
        dataset_params={**(dataset_params or {}), **({"root": str(data_root)} if data_root else {})},
    )
    from kdtaxonomy.interrupt import Interrupted

    try:
        if progress is not None:
            with progress:
                result = run_recipe(recipe, options)
        else:
            result = run_recipe(recipe, options)
    except Interrupted as exc:
        again = [a for a in sys.argv[1:] if a != "--resume"]
        sys.stderr.write(f"interrupted: {exc}\ncontinue with: kdtax {' '.join(again)} --resume\n")
        return 130
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; nothing to resume from (give --out DIR to keep checkpoints)\n")
        return 130
    except (TrainingError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return _error(f"{run_id}#{configuration.name}: {message}")
    finally:
        shutdown_distributed()
    if my_rank != 0:
        return 0
    result = {
        "id": run_id,
        "configuration": configuration.name,
        **result,
        "provenance": {
            "recipe": recipe.model_dump(mode="json", exclude={"entry", "configuration"}),
            "recipe_hash": recipe.digest(),
            "seed": seed,
            "device": str(target),
            "amp": options.amp,
            "processes": processes,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "git_commit": _git_commit(),
            "catalog": str(catalog_path or catalog.root),
        },
    }
    if out is not None:
        from kdtaxonomy.yamlio import atomic_write_text

        atomic_write_text(out / "results.json", json.dumps(result, indent=2, default=str) + "\n")
    if fmt == "json":
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        _print_table(result)
    from kdtaxonomy.datasets.base import skipped_note

    note = skipped_note(list(result.get("dataset", {}).get("skipped_files") or []))
    if note:
        sys.stderr.write(f"{run_id}#{configuration.name}: {note}\n")
    return 0


_MANIFEST_SETTINGS = (
    "seed", "epochs", "teacher_epochs", "steps", "teacher_steps", "max_steps", "batch_size", "threads",
    "device", "amp", "data_root", "dataset_params", "nproc",
)  # fmt: skip
"""The options of ``kdtax train`` that change what a run computes (recorded in, and compared with, run.json)."""


def _manifest(run_id: str, name: str, recipe_hash: str, options: dict[str, Any]) -> dict[str, Any]:
    """The ``run.json`` of a run: what it is (recipe hash, settings) and which code wrote it."""
    from kdtaxonomy import __version__
    from kdtaxonomy.folders import MANIFEST_FORMAT

    settings = {
        k: str(v) if isinstance(v, Path) else v for k, v in options.items() if k in _MANIFEST_SETTINGS
    }
    return {
        "format": MANIFEST_FORMAT,
        "id": run_id,
        "configuration": name,
        "recipe_hash": recipe_hash,
        "settings": settings,
        "kdtaxonomy": __version__,
        "git_commit": _git_commit(),
    }


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    from kdtaxonomy.folders import MANIFEST
    from kdtaxonomy.yamlio import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _read_recipe_file(path: Path, catalog: Catalog) -> Configuration | str:
    """The configuration in a YAML file (e.g. from ``kdtax compose``), or the error: file:line: field: reason."""
    from pydantic import ValidationError

    from kdtaxonomy.catalog import _pydantic_problems
    from kdtaxonomy.yamlio import YamlError, read_document

    try:
        doc = read_document(path)
    except YamlError as exc:
        return f"{path}{':' + str(exc.line) if exc.line else ''}: {exc.reason}"
    if not isinstance(doc.data, dict):
        return f"{path}: top level must be a mapping of configuration fields"
    try:
        return Configuration.model_validate(doc.data, context={"vocabulary": catalog.vocabulary})
    except ValidationError as exc:
        return "; ".join(str(p) for p in _pydantic_problems(path, exc, doc))


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = f"{result['id']}#{result['configuration']}"
    caption = f"dataset: {result['dataset']['name']}; student alone = same pipeline without distillation"
    if "student_bleu" in result:  # a sequence run: one row per model, one column per translation metric
        _print_sequence_table(result, title, caption)
        return
    if "student_mean_cosine" in result:  # a sentence-embedding run: agreement with the teacher, size, speed
        _print_embedding_table(result, title)
        return
    table = Table(title=title, caption=caption, min_width=len(title) + 4)
    table.add_column("model")
    table.add_column("validation (%)", justify="right")
    table.add_column("test (%)", justify="right")
    labels = {
        "teacher": "teacher",
        "student_baseline": "student alone",
        "student": "distilled student",
        "ensemble": "ensemble of generations",
    }
    for key, value in result.items():
        if not key.endswith("_accuracy") or key.endswith("_val_accuracy") or value is None:
            continue
        name = key.removesuffix("_accuracy")
        val = result.get(f"{name}_val_accuracy")
        table.add_row(labels.get(name, name), "-" if val is None else f"{val:.2f}", f"{value:.2f}")
    Console().print(table)
    extra = ", ".join(
        f"{k} {v:g}" for k, v in result.get("construction", {}).items() if k != "reinitialised_modules"
    )
    sys.stdout.write(f"wall time {result['wall_seconds']:.1f} s" + (f"; {extra}" if extra else "") + "\n")


def _print_embedding_table(result: dict[str, Any], title: str) -> None:
    """Agreement with the teacher on the test sentences (mean cosine, nearest-neighbour agreement, top-5
    overlap), parameters and encode speed of each model of a sentence-embedding run."""
    from rich.console import Console
    from rich.table import Table

    caption = (
        f"dataset: {result['dataset']['name']}, {result['dataset']['sizes']['test']} test sentences; agreement "
        "with the teacher (NN: the same nearest test sentence; top-5: shared among the 5 nearest); sent/s: "
        "encode speed on 1 CPU thread; step: selected on validation; student alone = the same student at its "
        "initialisation from the teacher, without distillation"
    )
    table = Table(title=title, caption=caption, min_width=len(title) + 4)
    for name in ("model", "layers", "parameters", "mean cos", "NN agree %", "top-5 %", "sent/s", "step"):
        table.add_column(name, justify="left" if name == "model" else "right")
    t_speed, s_speed = result["teacher_sentences_per_second"], result["student_sentences_per_second"]
    teacher_layers = ",".join(str(i) for i in result["teacher_layers"])
    table.add_row(
        "teacher", teacher_layers, f"{result['teacher_parameters']:,}", "1.0000", "100", "100",
        f"{t_speed:.1f}", "-",
    )  # fmt: skip
    curves = result.get("curves", {})
    for role, label in (("student_baseline", "student alone"), ("student", "distilled")):
        table.add_row(
            label,
            ",".join(str(i) for i in result["student_layers"]),
            f"{result['student_parameters']:,}",
            f"{result[f'{role}_mean_cosine']:.4f}",
            f"{result[f'{role}_accuracy']:.2f}",
            f"{result[f'{role}_top5_overlap_accuracy']:.2f}",
            f"{s_speed:.1f}",
            str(curves.get(role, {}).get("selected_step", "-")),
        )
    Console().print(table)
    sys.stdout.write(
        f"student/teacher: {result['parameter_ratio']:.3f} of the parameters, {result['speedup']:.2f}x the "
        f"encode speed; wall time {result['wall_seconds']:.1f} s\n"
    )


SEQUENCE_COLUMNS = (
    ("exact match %", "accuracy"),
    ("token acc. %", "token_accuracy"),
    ("BLEU", "bleu"),
    ("chrF", "chrf"),
    ("greedy BLEU", "greedy_bleu"),
)


def _print_sequence_table(result: dict[str, Any], title: str, caption: str) -> None:
    """Test-split metrics of a sequence run (beam search unless marked greedy) and each model's selected step."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, min_width=len(title) + 4)
    table.add_column("model")
    for name, _ in SEQUENCE_COLUMNS:
        table.add_column(name, justify="right")
    table.add_column("selected step", justify="right")
    curves = result.get("curves", {})
    for role, label in (
        ("teacher", "teacher"),
        ("student_baseline", "student alone"),
        ("student", "distilled"),
    ):
        cells = [f"{result[f'{role}_{key}']:.2f}" for _, key in SEQUENCE_COLUMNS]
        table.add_row(label, *cells, str(curves.get(role, {}).get("selected_step", "-")))
    Console().print(table)
    sys.stdout.write(f"wall time {result['wall_seconds']:.1f} s\n")
