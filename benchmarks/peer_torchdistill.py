"""Peer comparison: kdtaxonomy's functional losses vs torchdistill 1.1.5's loss modules.

For every loss both libraries implement, identical seeded tensors (drawn in float64, then cast, so the
float32 and float64 runs see the same values up to rounding) go to kdtaxonomy's functional form and to
torchdistill's module, built with matching hyperparameters. The value table shows both values, their
absolute and relative difference, the ratio ours/theirs and, where they differ, the value torchdistill
*should* give according to the identified cause ("predicted") with the residual |theirs - predicted| /
|theirs|; the notes under the table give each cause, read from both sources. The timing table is the
median forward+backward time per loss at B = 64, 256, 1024 on the same thread count (2).

torchdistill needs its own environment (it must not touch the project venv). Reproduce with::

    bash benchmarks/peer_env.sh                      # idempotent; creates /tmp/peer-venv
    /tmp/peer-venv/bin/python benchmarks/peer_torchdistill.py

``peer_env.sh`` runs ``python3 -m venv /tmp/peer-venv``, then
``/tmp/peer-venv/bin/pip install torch==2.13.0 numpy pyyaml pydantic`` and
``/tmp/peer-venv/bin/pip install --no-deps torchdistill==1.1.5``. torchdistill's ``losses.mid_level``
imports with torch alone (no torchvision, nothing stubbed). kdtaxonomy is imported from this checkout
(its root is put on ``sys.path``); ``kdtaxonomy.losses`` needs only torch and pydantic.

Options: ``--batches 64 256 1024``, ``--value-batch 64``, ``--budget 1.0`` (seconds of timed repeats per
loss, library and batch; 3 to 15 repeats after one warm-up), ``--no-timing``, ``--threads 2``.

This file runs the tables; the constants, seeded draws and input builders are in ``peer_inputs.py``, the
torchdistill calls and the predictors in ``peer_wrappers.py``, the comparisons (with their notes) in
``peer_cases.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peer_cases import Case, cases
from benchmarks.peer_inputs import Inputs

# ------------------------------------------------------------------------------------------- running


def describe(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}"[:90]


def value(fn: Callable[[Inputs], Tensor] | None, x: Inputs) -> float | str:
    if fn is None:
        return "-"
    try:
        return float(fn(x).detach())
    except Exception as e:
        return "ERROR " + describe(e)


def fmt(v: float | str | None, spec: str = ".9g") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return "error" if v.startswith("ERROR") else v
    return format(v, spec)


def run_values(all_cases: list[Case], batch: int) -> list[str]:
    errors = []
    head = (
        f"{'loss':42} {'dtype':7} {'kdtaxonomy':>15} {'torchdistill':>15} {'abs diff':>9} {'rel diff':>9} "
        f"{'ours/theirs':>12} {'predicted theirs':>16} {'resid':>8}"
    )
    print(f"VALUES (B={batch}; rel diff = |ours-theirs|/|theirs|; resid = |theirs-predicted|/|theirs|)")
    print(head)
    print("-" * len(head))
    for i, case in enumerate(all_cases, 1):
        for dtype in (torch.float32, torch.float64):
            try:
                x = case.make(batch, dtype)
            except Exception as e:
                print(f"[{i:2}] {case.name:37} inputs failed: {describe(e)}")
                continue
            ours, theirs = value(case.ours, x), value(case.theirs, x)
            for lib, v in (("kdtaxonomy", ours), ("torchdistill", theirs)):
                if isinstance(v, str) and v.startswith("ERROR"):
                    errors.append(f"[{i:2}] {case.name} / {lib} / {str(dtype)[6:]}: {v[6:]}")
            absd = reld = ratio = pred = resid = None
            if isinstance(ours, float) and isinstance(theirs, float):
                absd = abs(ours - theirs)
                if theirs != 0:
                    reld, ratio = absd / abs(theirs), ours / theirs
            if case.predict is not None and isinstance(ours, float):
                try:
                    pred = case.predict(x, ours)
                    if isinstance(theirs, float) and theirs != 0:
                        resid = abs(theirs - pred) / abs(theirs)
                except Exception as e:
                    errors.append(f"[{i:2}] {case.name} / predict: {describe(e)}")
            print(
                f"[{i:2}] {case.name:37} {str(dtype)[6:]:7} {fmt(ours):>15} {fmt(theirs):>15} "
                f"{fmt(absd, '.2e'):>9} {fmt(reld, '.2e'):>9} {fmt(ratio, '.9g'):>12} "
                f"{fmt(pred):>16} {fmt(resid, '.1e'):>8}"
            )
    return errors


SINGLE_SHOT_S = 20.0  # a warm-up call longer than this is reported as the time (no repeats), marked '*'


def run_timing(all_cases: list[Case], batches: list[int], budget: float) -> list[str]:
    """Per loss and batch: one warm-up call per library, then 3-15 repeats (within about ``budget`` seconds
    per library) alternating kdtaxonomy and torchdistill so both see the same machine load; medians."""
    errors = []
    head = (
        f"{'loss':42} {'B':>5} {'kdtaxonomy ms':>14} {'torchdistill ms':>16} {'ours/theirs':>12} "
        f"{'min ratio':>10}"
    )
    print(
        "TIMING (forward+backward, float32, median of alternating repeats; grads w.r.t. the student inputs, "
        "VID: mean and alpha, CRD: both embeddings; min ratio = fastest ours / fastest theirs)"
    )
    print(head)
    print("-" * len(head))
    for i, case in enumerate(all_cases, 1):
        if not case.timed:
            continue
        for b in batches:
            cells: dict[str, float | str] = {}
            runs: dict[str, Callable[[], float]] = {}
            for lib, fn in (("kdtaxonomy", case.ours), ("torchdistill", case.theirs)):
                if fn is None:
                    cells[lib] = "-"
                elif lib == "torchdistill" and case.max_b_theirs is not None and b > case.max_b_theirs:
                    cells[lib] = "skipped"
                else:
                    try:
                        x = case.make(b, torch.float32)
                        for k in case.grad_keys:
                            x[k].requires_grad_(True)
                        runs[lib] = timer(fn, x, case.grad_keys)
                    except Exception as e:
                        cells[lib] = "error"
                        errors.append(f"[{i:2}] {case.name} / {lib} / B={b}: {describe(e)}")
            samples: dict[str, list[float]] = {lib: [] for lib in runs}
            first: dict[str, float] = {}
            for lib in list(runs):
                try:
                    first[lib] = runs[lib]()
                except Exception as e:
                    del runs[lib]
                    cells[lib] = "error"
                    errors.append(f"[{i:2}] {case.name} / {lib} / B={b}: {describe(e)}")
            single = {lib for lib, t in first.items() if t > SINGLE_SHOT_S}
            for lib in single:
                cells[lib] = first[lib] * 1e3
                del runs[lib]
            if runs:
                n = min(15, max(3, int(budget / max(max(first[lib] for lib in runs), 1e-6))))
                for _ in range(n):
                    for lib, run in runs.items():
                        samples[lib].append(run())
                for lib in runs:
                    cells[lib] = statistics.median(samples[lib]) * 1e3
            ours, theirs = cells["kdtaxonomy"], cells["torchdistill"]
            ratio = ours / theirs if isinstance(ours, float) and isinstance(theirs, float) else None
            both = all(samples.get(lib) for lib in ("kdtaxonomy", "torchdistill"))
            min_ratio = min(samples["kdtaxonomy"]) / min(samples["torchdistill"]) if both else None
            star = {lib: "*" if lib in single else " " for lib in cells}
            print(
                f"[{i:2}] {case.name:37} {b:>5} {fmt(ours, '.3f'):>13}{star['kdtaxonomy']} "
                f"{fmt(theirs, '.3f'):>15}{star['torchdistill']} {fmt(ratio, '.2f'):>12} {fmt(min_ratio, '.2f'):>10}"
            )
            runs.clear()
    return errors


def timer(fn: Callable[[Inputs], Tensor], x: Inputs, grad_keys: tuple[str, ...]) -> Callable[[], float]:
    """A closure timing one forward+backward of ``fn`` on ``x`` (gradients reset first)."""

    def once() -> float:
        for k in grad_keys:
            x[k].grad = None
        t0 = time.perf_counter()
        fn(x).backward()
        return time.perf_counter() - t0

    return once


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--value-batch", type=int, default=64)
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # torchdistill's CRDLoss draws its (overwritten) memory banks from the global RNG
    import torchdistill

    print(
        f"torch {torch.__version__}, torchdistill {torchdistill.__version__}, threads {torch.get_num_threads()}, "
        f"python {sys.version.split()[0]}"
    )
    print()
    all_cases = cases()
    errors = run_values(all_cases, args.value_batch)
    print()
    print("NOTES (why the values agree or differ)")
    for i, case in enumerate(all_cases, 1):
        print(f"[{i:2}] {case.name}: {case.note}")
    print(
        "[--] Not compared: DKD (kdtaxonomy dkd) has no torchdistill 1.1.5 counterpart (its logit losses are "
        "KD, LogitStdKD, DIST/DIST+, SSKD, SKD); nst, mmd, rkd_area, conditional/weighted/multi-teacher KD, "
        "dml, cosine_embedding are kdtaxonomy-only; SSKD, FT, PAD and ReviewKD are compared on their loss terms "
        "only (SSKD: SSKDLoss's self-supervision and transform terms and the head stage's AuxSSKDLoss, not the "
        "heads, the transformations or its CE/KD on the normal samples; not the paraphraser/translator, "
        "variance head or ABF modules); KTA/Affinity, ChSim and SKD have none."
    )
    if not args.no_timing:
        print()
        print(f"load average before timing: {load()}")
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        if args.threads > 1 and busy > (os.cpu_count() or 1) - args.threads + 1:
            print(
                f"WARNING: the machine is busy (load {busy:.1f} on {os.cpu_count()} CPUs): with {args.threads} "
                "threads each parallel region waits for a descheduled OpenMP worker (tens of ms), which swamps "
                "these timings; rerun on an idle machine or with --threads 1."
            )
        errors += run_timing(all_cases, args.batches, args.budget)
        print(
            f"load average after timing: {load()}  ('*' = single call, warm-up included, > {SINGLE_SHOT_S:g} s)"
        )
        for case in all_cases:
            limit = case.max_b_theirs
            if case.timed and case.skip_note and limit is not None and max(args.batches) > limit:
                print(f"     {case.skip_note}")
        print()
        print("TIMING NOTES (what each side does differently)")
        for i, case in enumerate(all_cases, 1):
            if case.timed and case.time_note:
                print(f"[{i:2}] {case.name}: {case.time_note}")
    print()
    print("ERRORS (reported, not fatal)" if errors else "ERRORS: none")
    for e in errors:
        print("  " + e)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
