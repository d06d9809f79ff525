"""Training: exact resume, NaN guard, the CLI's train command, DDP with 2 gloo processes, instantiate()."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import kdtaxonomy
from kdtaxonomy.cli import app
from kdtaxonomy.data import ArrayData
from kdtaxonomy.train import FitConfig, TrainingError, fit, loader

from .conftest import CATALOG

TINY_ARGS = [
    "--epochs",
    "2",
    "--teacher-epochs",
    "1",
    "--batch-size",
    "64",
    "--seed",
    "3",
    "--format",
    "json",
]


def tiny_data(n: int = 96) -> ArrayData:
    g = torch.Generator().manual_seed(0)
    return ArrayData.from_tensors(torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g))


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 10))


def ce_fit(model: nn.Module, data: ArrayData, cfg: FitConfig, fail_at: int | None = None) -> None:
    calls = {"n": 0}

    def loss(batch: dict[str, torch.Tensor], _epoch: int) -> torch.Tensor:
        calls["n"] += 1
        if fail_at is not None and calls["n"] == fail_at:
            raise KeyboardInterrupt  # a run killed in the middle of an epoch
        return nn.functional.cross_entropy(model(batch["x"]), batch["y"])

    fit(model, loss, lambda e: loader(data, 16, shuffle=True, seed=cfg.seed, epoch=e), cfg)


def test_resume_after_interruption_gives_identical_weights(tmp_path: Path) -> None:
    data = tiny_data()
    reference = tiny_model()
    ce_fit(reference, data, FitConfig(epochs=4, seed=5))
    interrupted = tiny_model()
    cfg = FitConfig(epochs=4, seed=5, checkpoint=tmp_path / "m.ckpt")
    with pytest.raises(KeyboardInterrupt):
        ce_fit(interrupted, data, cfg, fail_at=6 * 2 + 3)  # 6 batches per epoch: dies in epoch 3
    assert torch.load(tmp_path / "m.ckpt", weights_only=False)["epoch"] == 2
    resumed = tiny_model()
    ce_fit(resumed, data, FitConfig(epochs=4, seed=5, checkpoint=tmp_path / "m.ckpt", resume=True))
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    data = tiny_data()
    model = tiny_model()
    calls = {"n": 0}

    def loss(batch: dict[str, torch.Tensor], _epoch: int) -> torch.Tensor:
        calls["n"] += 1
        value = nn.functional.cross_entropy(model(batch["x"]), batch["y"])
        return value * float("nan") if calls["n"] == 9 else value

    cfg = FitConfig(epochs=3, checkpoint=tmp_path / "m.ckpt", label="student")
    with pytest.raises(
        TrainingError, match=r"student: the loss became nan at epoch 2, step 9; the last good checkpoint"
    ):
        fit(model, loss, lambda e: loader(data, 16, shuffle=True, seed=0, epoch=e), cfg)
    assert torch.load(tmp_path / "m.ckpt", weights_only=False)["epoch"] == 1


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kdtaxonomy.cli", "--catalog", str(CATALOG), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_train_json_reports_the_three_accuracies(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--out", str(tmp_path), *TINY_ARGS]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("teacher_accuracy", "student_baseline_accuracy", "student_accuracy", "wall_seconds"):
        assert isinstance(data[key], float)
    assert data["provenance"]["seed"] == 3 and data["provenance"]["device"] == "cpu"
    assert data["provenance"]["recipe"]["knowledge"][1]["component"] == "rkd-distance"
    assert json.loads((tmp_path / "results.json").read_text()) == data


def test_train_errors_exit_1(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--catalog", str(CATALOG), "train", "park2019-rk"])
    assert result.exit_code == 1 and "Did you mean: park2019-rkd" in result.stderr
    result = runner.invoke(app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--device", "cuda"])
    if not torch.cuda.is_available():
        assert result.exit_code == 1 and "CUDA is not available" in result.stderr
    result = runner.invoke(app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--dataset", "mnist2d"])
    assert result.exit_code == 1 and "unknown dataset 'mnist2d'" in result.stderr
    result = runner.invoke(app, ["--catalog", str(CATALOG), "train", "park2019-rkd", "--resume"])
    assert result.exit_code == 1 and "--resume needs --out" in result.stderr


def test_killed_run_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    args = [
        "train",
        "furlanello2018-born-again",
        "--epochs",
        "6",
        "--teacher-epochs",
        "2",
        "--no-cache",
        *TINY_ARGS[4:],
    ]
    reference = run_cli(*args)
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kdtaxonomy.cli", "--catalog", str(CATALOG), *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while not (out / "student-r0.ckpt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = run_cli(*args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    want, got = json.loads(reference.stdout), json.loads(resumed.stdout)
    for key in ("teacher_accuracy", "student_baseline_accuracy", "student_accuracy", "ensemble_accuracy"):
        assert got.get(key) == want.get(key), key


def test_two_process_gloo_run(tmp_path: Path) -> None:
    result = run_cli(
        "train", "park2019-rkd", "--nproc", "2", "--no-cache", "--out", str(tmp_path), *TINY_ARGS, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout)
    assert data["provenance"]["processes"] == 2
    assert 0.0 <= data["student_accuracy"] <= 100.0


class UserNet(nn.Module):
    """A user's model with its own layer names (no kdtaxonomy attributes)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, width, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten()
        )
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def test_instantiate_on_user_models_and_plain_loader() -> None:
    torch.manual_seed(0)
    teacher, student = UserNet(32), UserNet(8)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    distiller = kdtaxonomy.instantiate(
        "park2019-rkd",
        teacher=teacher,
        student=student,
        layers={"student": {"embedding": "features"}, "teacher": {"embedding": "features"}},
        catalog=kdtaxonomy.load_catalog(CATALOG),
    )
    x, y = torch.randn(64, 1, 40), torch.randint(0, 10, (64,))
    train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    results = distiller.fit(train_loader, epochs=2)
    assert results[0].steps == 8 and all(torch.isfinite(torch.tensor(results[0].losses)))
    assert any(not torch.equal(before[k], v) for k, v in distiller.student.state_dict().items())
    assert all(torch.equal(teacher_before[k], v) for k, v in teacher.state_dict().items())
    assert not any(p.requires_grad for p in teacher.parameters())
    assert 0.0 <= distiller.evaluate(ArrayData.from_tensors(x, y)) <= 100.0


def test_instantiate_names_missing_locations() -> None:
    # a location nobody can guess (FitNets' intermediate block) is named when the distiller is built;
    # RKD's embedding is found by default (the input of the last nn.Linear), see test_distiller_api.py
    with pytest.raises(ValueError, match=r"block2 on the student"):
        kdtaxonomy.instantiate(
            "romero2015-fitnets",
            teacher=UserNet(8),
            student=UserNet(4),
            catalog=kdtaxonomy.load_catalog(CATALOG),
        )


@pytest.mark.parametrize("shuffle", [True, False])
def test_sliced_batches_equal_a_dataloader_over_the_rows(shuffle: bool) -> None:
    """The one-process loader gives exactly the batches of torch's DataLoader with the same generator."""
    from torch.utils.data import DataLoader

    from kdtaxonomy.data import ArrayDataset

    n = 203
    data = ArrayData(
        x=torch.randn(n, 1, 8), y=torch.randint(0, 10, (n,)), index=torch.arange(n) + 1000,
        views={"spectral": torch.randn(n, 2, 4)},
    )  # fmt: skip

    class Rows(ArrayDataset):
        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {**super().__getitem__(i), "row": torch.tensor(i)}

    for epoch in range(3):
        seed = 7 * 100_003 + epoch
        reference = DataLoader(
            Rows(data), batch_size=32, shuffle=shuffle, generator=torch.Generator().manual_seed(seed)
        )
        ours = loader(data, 32, shuffle=shuffle, seed=7, epoch=epoch)
        expected, got = list(reference), list(ours)
        assert len(got) == len(expected) == len(ours) == 7
        for a, b in zip(expected, got, strict=True):
            assert a.keys() == b.keys()
            for key in a:
                assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
