"""Cost of a distillation step: cached teacher outputs vs the plain cross-entropy step vs an online teacher.

On the embedded benchmark (MNIST-1D, batch 128): student cnn1d-small, teacher cnn1d-large, soft-label KD
(Hinton) through :class:`kdtaxonomy.pipeline.Distiller`. Each variant runs the same optimizer steps; the
three are interleaved round by round and the medians compared as ratios (target: cached <= 1.15x plain).
Also times ``kdtax train`` end to end and a 2-process gloo run against 1 process.

Usage: python benchmarks/training_step.py [--steps 30] [--rounds 7] [--no-train]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from kdtaxonomy.data import ArrayData
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.registry import load_components
from kdtaxonomy.schema import KnowledgeSpec
from kdtaxonomy.train import loader


def model(key: str, size: str) -> torch.nn.Module:
    component = load_components().get("model", key)
    built: torch.nn.Module = component.obj(
        component.validate_params({"size": size}), input_shape=(1, 40), num_classes=10
    )
    return built


def data() -> ArrayData:
    component = load_components().get("dataset", "mnist1d")
    bundle = component.obj(component.validate_params({}), seed=0)
    return bundle.train


def time_steps(
    step: object, batches: list[dict[str, torch.Tensor]], params: list[torch.nn.Parameter]
) -> float:
    optimizer = torch.optim.Adam(params, lr=1e-3)
    start = time.perf_counter()
    for batch in batches:
        loss = step(batch)  # type: ignore[operator]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / len(batches)


def step_costs(steps: int, rounds: int) -> None:
    train = data()
    teacher = model("cnn1d", "large").eval()
    student = model("cnn1d", "small")
    knowledge = [KnowledgeSpec(component="soft-label-kd", location="output")]
    cached = Distiller(student, [teacher], knowledge=knowledge)
    cached.build_cache(train)
    online = Distiller(student, [teacher], knowledge=knowledge)
    batches = [
        b for _, b in zip(range(steps), loader(train, 128, shuffle=True, seed=0, epoch=0), strict=False)
    ]
    first = {k: v for k, v in batches[0].items()}
    cached.loss(dict(first))
    online.loss({k: v for k, v in first.items() if k != "row"})
    plain_batches = [{k: v for k, v in b.items()} for b in batches]
    online_batches = [{k: v for k, v in b.items() if k != "row"} for b in batches]

    def plain(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(student(batch["x"]), batch["y"])

    results: dict[str, list[float]] = {
        "plain CE step": [],
        "KD, cached teacher": [],
        "KD, online teacher": [],
    }
    params = list(student.parameters())
    for _ in range(rounds):
        results["plain CE step"].append(time_steps(plain, plain_batches, params))
        results["KD, cached teacher"].append(time_steps(cached.loss, [dict(b) for b in batches], params))
        results["KD, online teacher"].append(
            time_steps(online.loss, [dict(b) for b in online_batches], params)
        )
    base = statistics.median(results["plain CE step"])
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 128, {steps} steps x {rounds} rounds"
    )
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:22} {median * 1000:7.2f} ms/step   {median / base:5.2f}x plain")


def end_to_end() -> None:
    env = {**os.environ, "KDTAX_CACHE_DIR": tempfile.mkdtemp(prefix="kdtax-bench-")}
    kdtax = os.path.join(os.path.dirname(sys.executable), "kdtax")
    for label, extra in (("cold caches", []), ("teacher cached", [])):
        start = time.perf_counter()
        out = subprocess.run(
            [kdtax, "train", "ahn2019-vid", "--format", "json", *extra],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        wall = time.perf_counter() - start
        data = json.loads(out.stdout)
        print(
            f"  kdtax train ahn2019-vid ({label}): {wall:6.1f} s wall; teacher {data['teacher_accuracy']:.2f} "
            f"student alone {data['student_baseline_accuracy']:.2f} distilled {data['student_accuracy']:.2f}"
        )
    args = [
        "train",
        "park2019-rkd",
        "--format",
        "json",
        "--no-cache",
        "--epochs",
        "4",
        "--teacher-epochs",
        "4",
    ]
    for nproc in (1, 2):
        start = time.perf_counter()
        subprocess.run(
            [kdtax, *args, "--nproc", str(nproc)], capture_output=True, text=True, env=env, check=True
        )
        print(
            f"  kdtax train park2019-rkd (4+4 epochs), {nproc} process(es): {time.perf_counter() - start:6.1f} s wall"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-train", action="store_true", help="skip the end-to-end runs")
    args = parser.parse_args()
    step_costs(args.steps, args.rounds)
    if not args.no_train:
        end_to_end()


if __name__ == "__main__":
    main()
