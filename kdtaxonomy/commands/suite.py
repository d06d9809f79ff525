"""``kdtax bench --suite standard``: every single-teacher method in every regime, paired with its student alone.

Two phases, both under protocol ``kdtax-bench/2``:

1. **Grid** (validation only): each method runs at every variant of its grid (weights scaled, temperature)
   on the grid seeds; the variant with the best mean *validation* accuracy of the distilled student is
   kept (ties go to the cited default). The grid and the choice are written to ``grid.json``.
2. **Evaluation**: each method at its chosen weights on seeds ``0..N-1``; one results file per run at
   ``<results>/suite/<regime>/<method>/seed-<s>.json``. Test accuracies are read once, at the end of a run.

Teachers (one per seed, shared by every regime and method) and students alone (one per regime and seed) are
trained once and cached. Each grid run's record is kept under ``grid/`` beside ``grid.json``, so that an
interrupted suite resumes with ``--skip-done`` without retraining what finished.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdtaxonomy import suite as S
from kdtaxonomy.bench import RESULT_FORMAT, default_results_dir
from kdtaxonomy.commands.train import _git_commit


def _error(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 1


@dataclass(frozen=True)
class SuiteJob:
    """One run of the suite: a method in a regime at a grid variant and a seed."""

    method: str
    regime: str
    variant: S.Variant
    seed: int
    quick: bool
    threads: int
    device: str
    commit: str


def suite_path(results_dir: Path, regime: str, method: str, name: str) -> Path:
    return results_dir / "suite" / regime / method / name


def run_suite_job(job: SuiteJob) -> dict[str, Any]:
    """Train the teacher (cached), the student alone (cached) and the distilled student; a results record.

    A failure is recorded (``status: failed``) instead of raised, so the suite goes on.
    """
    import torch

    from kdtaxonomy.commands.bench import run_into
    from kdtaxonomy.recipe import Recipe
    from kdtaxonomy.runner import Runner, RunOptions

    torch.set_num_threads(job.threads)
    m, r = S.method(job.method), S.regime(job.regime)
    recipe = Recipe.model_validate(S.recipe_data(m, r, variant=job.variant, quick=job.quick))
    record: dict[str, Any] = {
        "format": RESULT_FORMAT,
        "protocol": S.PROTOCOL,
        "kind": "suite",
        "suite": "standard",
        "profile": "quick" if job.quick else "standard",
        "regime": r.id,
        "method": m.id,
        "seed": job.seed,
        "configuration": m.configuration,
        "published_method": m.published,
    }
    options = RunOptions(seed=job.seed, device=torch.device(job.device))
    run_into(record, lambda: Runner(recipe, options).run())
    record["hyperparameters"] = {
        "variant": dict(job.variant),
        "ce_weight": m.ce_weight,
        "terms": [k.model_dump(mode="json") for k in recipe.knowledge],
        "source": m.source,
    }
    record["regime_description"] = r.description
    record["provenance"] = {
        "git_commit": job.commit,
        "recipe": recipe.model_dump(mode="json", exclude={"entry", "configuration"}),
        "recipe_hash": recipe.digest(),
        "seed": job.seed,
        "device": job.device,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    return record


def _execute(
    jobs: list[SuiteJob], workers: int, done: Callable[[SuiteJob, dict[str, Any]], None], label: str
) -> None:

    from kdtaxonomy.render.console import progress_bar

    progress = progress_bar()
    with progress:
        task = progress.add_task(label, total=len(jobs))

        def finish(job: SuiteJob, record: dict[str, Any]) -> None:
            done(job, record)
            progress.console.print(_line(job, record), markup=False, highlight=False, soft_wrap=True)
            progress.advance(task)

        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                finish(job, run_suite_job(job))
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(run_suite_job, job): job for job in jobs}
            for future in as_completed(futures):
                finish(futures[future], future.result())


def _line(job: SuiteJob, record: dict[str, Any]) -> str:
    head = f"{job.regime}/{job.method} [{S.variant_key(job.variant)}] seed {job.seed}"
    if record.get("status") != "ok":
        return f"failed {head}: {record.get('error', '')}"
    acc = [record.get(k) for k in ("teacher_accuracy", "student_baseline_accuracy", "student_accuracy")]
    val = record.get("student_val_accuracy")
    text = ", ".join("-" if a is None else f"{a:.2f}" for a in acc)
    return f"done {head}: teacher/alone/distilled {text}; val {val:.2f} ({record['wall_seconds']:.1f} s)"


def choose(scores: dict[S.Variant, list[float]]) -> S.Variant:
    """The variant with the best mean validation accuracy; ties go to the cited default (then the first)."""

    def key(variant: S.Variant) -> tuple[float, bool]:
        values = scores[variant]
        return (sum(values) / len(values), variant == S.DEFAULT)

    return max((v for v in scores if scores[v]), key=key, default=S.DEFAULT)


def _done(path: Path, job: SuiteJob) -> dict[str, Any] | None:
    """An earlier successful record of the same recipe and profile at ``path``."""
    from kdtaxonomy.recipe import Recipe

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    recipe = Recipe.model_validate(
        S.recipe_data(S.method(job.method), S.regime(job.regime), variant=job.variant, quick=job.quick)
    )
    ok = (
        isinstance(data, dict)
        and data.get("status") == "ok"
        and data.get("protocol") == S.PROTOCOL
        and data.get("profile") == ("quick" if job.quick else "standard")
        and (data.get("provenance") or {}).get("recipe_hash") == recipe.digest()
    )
    return data if ok else None


def run_suite(
    *,
    seeds: int = 10,
    quick: bool = False,
    regimes: list[str] | None = None,
    methods: list[str] | None = None,
    jobs: int = 1,
    threads: int = 1,
    device: str = "cpu",
    results_dir: Path | None = None,
    skip_done: bool = False,
) -> int:
    """Run the standard suite; returns the exit code (1 if any run failed)."""
    from kdtaxonomy.yamlio import atomic_write_text

    try:
        chosen_regimes = [S.regime(r) for r in regimes] if regimes else list(S.REGIMES)
        chosen_methods = [S.method(m) for m in methods] if methods else list(S.METHODS)
    except KeyError as exc:
        return _error(str(exc.args[0]))
    if device not in {"cpu", "auto"} and not device.startswith("cuda"):
        return _error(f"--device {device!r}: use auto, cpu or cuda")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    results_dir = results_dir or (default_results_dir() / "quick" if quick else default_results_dir())
    from kdtaxonomy.folders import cache_dir, writable_dir

    for problem in (writable_dir(results_dir, "--results"), writable_dir(cache_dir(), "the cache folder")):
        if problem:
            return _error(problem)
    commit = _git_commit()
    failed: list[str] = []
    start = time.perf_counter()

    def job(m: S.Method, r: S.Regime, variant: S.Variant, seed: int) -> SuiteJob:
        return SuiteJob(m.id, r.id, variant, seed, quick, threads, device, commit)

    # -- phase 1: the validation grid ----------------------------------------------------------------
    grid_jobs = [
        job(m, r, variant, seed)
        for r in chosen_regimes
        for m in chosen_methods
        if len(m.grid) > 1 and not quick  # the quick profile runs the cited defaults
        for variant in m.grid
        for seed in S.GRID_SEEDS
    ]
    scores: dict[tuple[str, str], dict[S.Variant, list[float]]] = {}
    grid_records: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def grid_done(j: SuiteJob, record: dict[str, Any]) -> None:
        per = scores.setdefault((j.regime, j.method), {})
        per.setdefault(j.variant, [])
        grid_records.setdefault((j.regime, j.method), []).append(
            {"variant": S.variant_key(j.variant), "seed": j.seed, "status": record.get("status"),
             "student_val_accuracy": record.get("student_val_accuracy"), "error": record.get("error")}
        )  # fmt: skip
        if record.get("status") == "ok":
            per[j.variant].append(float(record["student_val_accuracy"]))
        else:
            failed.append(f"grid {j.regime}/{j.method} [{S.variant_key(j.variant)}] seed {j.seed}: "
                          f"{record.get('error')}")  # fmt: skip

    todo = []
    for j in grid_jobs:
        earlier = _done(_grid_run_path(results_dir, j), j) if skip_done else None
        if earlier is None:
            todo.append(j)
        else:
            grid_done(j, earlier)

    def grid_run_done(j: SuiteJob, record: dict[str, Any]) -> None:
        atomic_write_text(_grid_run_path(results_dir, j), json.dumps(record, indent=2, default=str) + "\n")
        grid_done(j, record)

    _execute(todo, jobs, grid_run_done, "suite grid (validation)")
    choice: dict[tuple[str, str], S.Variant] = {}
    for key, per in scores.items():
        choice[key] = choose(per)
        grid_file = {
            "protocol": S.PROTOCOL,
            "profile": "quick" if quick else "standard",
            "regime": key[0],
            "method": key[1],
            "grid": [S.variant_key(v) for v in S.method(key[1]).grid],
            "seeds": list(S.GRID_SEEDS),
            "runs": sorted(grid_records[key], key=lambda g: (g["variant"], g["seed"])),
            "mean_val_accuracy": {S.variant_key(v): (sum(a) / len(a) if a else None) for v, a in per.items()},
            "chosen": S.variant_key(choice[key]),
            "rule": "best mean validation accuracy of the distilled student over the grid seeds; "
            "ties go to the cited default",
        }
        atomic_write_text(
            suite_path(results_dir, key[0], key[1], "grid.json"), json.dumps(grid_file, indent=2) + "\n"
        )

    # -- phase 2: evaluation on seeds 0..N-1 -----------------------------------------------------------
    eval_jobs = [
        job(m, r, choice.get((r.id, m.id), S.DEFAULT), seed)
        for r in chosen_regimes
        for m in chosen_methods
        for seed in range(seeds)
    ]

    def eval_done(j: SuiteJob, record: dict[str, Any]) -> None:
        grid = S.method(j.method).grid if not quick else (S.DEFAULT,)
        record["hyperparameters"]["grid"] = [S.variant_key(v) for v in grid]
        record["hyperparameters"]["chosen_on"] = (
            f"mean validation accuracy over grid seeds {list(S.GRID_SEEDS)}" if len(grid) > 1 else None
        )
        atomic_write_text(
            suite_path(results_dir, j.regime, j.method, f"seed-{j.seed}.json"),
            json.dumps(record, indent=2, default=str) + "\n",
        )
        if record.get("status") != "ok":
            failed.append(f"{j.regime}/{j.method} seed {j.seed}: {record.get('error')}")

    todo = []
    for j in eval_jobs:
        path = suite_path(results_dir, j.regime, j.method, f"seed-{j.seed}.json")
        if not (skip_done and _done(path, j) is not None):
            todo.append(j)
    _execute(todo, jobs, eval_done, "suite (test)")
    total = time.perf_counter() - start
    sys.stdout.write(
        f"suite: {len(eval_jobs)} runs ({len(todo)} trained now) and {len(grid_jobs)} grid runs; results in "
        f"{results_dir / 'suite'}; wall time {total:.1f} s; `kdtax table benchmark --results {results_dir}` "
        "prints the table\n"
    )
    if failed:
        sys.stderr.write(f"{len(failed)} run(s) failed:\n" + "".join(f"  {f}\n" for f in failed))
        return 1
    return 0


def _grid_run_path(results_dir: Path, job: SuiteJob) -> Path:
    """Where one grid run's record is kept (so an interrupted grid resumes with ``--skip-done``)."""
    name = f"{S.variant_key(job.variant)}-seed-{job.seed}.json"
    return suite_path(results_dir, job.regime, job.method, "grid") / name


__all__ = ["SuiteJob", "choose", "run_suite", "run_suite_job"]
