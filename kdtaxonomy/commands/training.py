"""Training commands: ``train`` and ``bench`` (the catalog benchmark and the standard suite).

Only the options live here; the bodies (:mod:`kdtaxonomy.commands.train`, :mod:`~kdtaxonomy.commands.bench`,
:mod:`~kdtaxonomy.commands.suite`) are imported when a command runs, so torch stays off the query path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kdtaxonomy.commands.common import Device, State, TrainFormat, fail, get_catalog, split_id

# Options shared by `train` and `bench` (one declaration, one help text).
DataRootOpt = Annotated[
    Path | None, typer.Option("--data-root", help="Folder of a dataset you bring (dataset parameter root).")
]
DatasetParamOpt = Annotated[
    list[str] | None,
    typer.Option("--dataset-param", help="KEY=VALUE dataset parameter (e.g. train_limit=192); repeatable."),
]
SkipBadFilesOpt = Annotated[
    bool,
    typer.Option(
        "--skip-bad-files",
        help="Leave out unreadable image/sound files (reported) instead of stopping at one.",
    ),
]
TeacherModelOpt = Annotated[
    str | None,
    typer.Option("--teacher-model", help="Teacher architecture KEY[:SIZE] (kdtax registry model)."),
]
StudentModelOpt = Annotated[
    str | None,
    typer.Option("--student-model", help="Student architecture KEY[:SIZE] (kdtax registry model)."),
]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", min=1, help="Epochs of the student and baseline.")]
TeacherEpochsOpt = Annotated[
    int | None, typer.Option("--teacher-epochs", min=1, help="Epochs of each teacher.")
]
StepsOpt = Annotated[
    int | None, typer.Option("--steps", min=1, help="Optimizer steps of the student and baseline.")
]
TeacherStepsOpt = Annotated[
    int | None, typer.Option("--teacher-steps", min=1, help="Optimizer steps of each teacher.")
]
MaxStepsOpt = Annotated[int | None, typer.Option("--max-steps", min=1, help="Cap optimizer steps per model.")]
BatchSizeOpt = Annotated[int | None, typer.Option("--batch-size", min=2, help="Mini-batch size.")]


def dataset_params(items: list[str] | None, *, skip_bad_files: bool = False) -> dict[str, Any]:
    """``--dataset-param KEY=VALUE`` options (integers parsed) and ``--skip-bad-files`` as dataset parameters;
    a malformed one exits 1."""
    params: dict[str, Any] = {"skip_bad_files": True} if skip_bad_files else {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"--dataset-param wants KEY=VALUE, got {item!r}")
        params[key] = int(value) if value.lstrip("-").isdigit() else value
    return params


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
    data_root: DataRootOpt = None,
    dataset_param: DatasetParamOpt = None,
    skip_bad_files: SkipBadFilesOpt = False,
    teacher_model: TeacherModelOpt = None,
    student_model: StudentModelOpt = None,
    epochs: EpochsOpt = None,
    teacher_epochs: TeacherEpochsOpt = None,
    steps: StepsOpt = None,
    teacher_steps: TeacherStepsOpt = None,
    max_steps: MaxStepsOpt = None,
    batch_size: BatchSizeOpt = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, help="Torch threads (fixed: CPU numbers depend on it).")
    ] = 1,
    device: Annotated[Device, typer.Option("--device", help="auto, cpu or cuda.")] = Device.auto,
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option("-o", "--output", help="Folder for run.json, checkpoints and results.json.")
    ] = None,
    out_alias: Annotated[Path | None, typer.Option("--out", hidden=True)] = None,
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

    if out is not None and out_alias is not None and out != out_alias:
        fail("give the output folder once (-o/--output; --out is its old name)")
    out = out or out_alias
    if resume and out is None:
        fail("--resume needs --out/-o/--output (the folder holding the checkpoints)")
    if entry_id is not None:
        entry_id, config = split_id(entry_id, config)
    catalog = get_catalog(ctx)
    state: State = ctx.ensure_object(State)
    code = run_train(
        catalog,
        entry_id,
        config=config,
        recipe_file=recipe_file,
        dataset=dataset,
        data_root=data_root,
        dataset_params=dataset_params(dataset_param, skip_bad_files=skip_bad_files),
        teacher_model=teacher_model,
        student_model=student_model,
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
    epochs: EpochsOpt = None,
    teacher_epochs: TeacherEpochsOpt = None,
    max_steps: MaxStepsOpt = None,
    dataset_param: DatasetParamOpt = None,
    data_root: DataRootOpt = None,
    skip_bad_files: SkipBadFilesOpt = False,
    batch_size: BatchSizeOpt = None,
    teacher_model: TeacherModelOpt = None,
    student_model: StudentModelOpt = None,
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
    steps: StepsOpt = None,
    teacher_steps: TeacherStepsOpt = None,
    suite: Annotated[
        str | None,
        typer.Option("--suite", help="Run a benchmark suite ('standard': every method x every regime)."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Suite: 3 seeds, budgets / 10, cited defaults (same code path); results/quick/."
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

    params = dataset_params(dataset_param, skip_bad_files=skip_bad_files)
    if data_root is not None:
        params["root"] = str(data_root)
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
        batch_size=batch_size,
        teacher_model=teacher_model,
        student_model=student_model,
    )
    if code:
        raise typer.Exit(code)
