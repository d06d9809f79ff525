"""Ctrl-C during training: the step finishes, a checkpoint is written, and a resume continues exactly."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdtaxonomy.data import ArrayData
from kdtaxonomy.interrupt import Interrupted
from kdtaxonomy.train import Chance, FitConfig, TrainingError, fit, loader


@pytest.fixture(autouse=True)
def _python_sigint_handler() -> Iterator[None]:
    """Python's own SIGINT handler, whatever the test run inherited (a job started in the background by a
    non-interactive shell starts with SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _data(n: int = 96) -> ArrayData:
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randn(n, 1, 12, generator=g) + y.view(-1, 1, 1).float()
    return ArrayData(x=x, y=y, index=torch.arange(n))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4))


def _train(model: nn.Module, cfg: FitConfig, interrupt_at: int | None = None) -> None:
    data = _data()

    def loss(batch: dict[str, torch.Tensor], _epoch: int) -> torch.Tensor:
        noisy = batch["x"] + 0.1 * torch.randn_like(batch["x"])  # random augmentation: needs the RNG state
        return F.cross_entropy(model(noisy), batch["y"])

    def on_step(step: int, _per_epoch: int) -> None:
        if step == interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)  # arrives during this step; the step still completes

    fit(
        model,
        loss,
        lambda e: loader(data, 16, shuffle=True, seed=cfg.seed, epoch=e),
        cfg,
        on_step=on_step,
        validate=lambda: 50.0,
    )


def test_ctrl_c_checkpoints_mid_epoch_and_resume_is_exact(tmp_path: Path) -> None:
    steps = 20  # 6 batches per epoch: the interruption at step 8 is in the middle of the second epoch
    reference = _model()
    _train(reference, FitConfig(steps=steps, eval_every=5, checkpoint=tmp_path / "a.ckpt"))
    model = _model()
    cfg = FitConfig(steps=steps, eval_every=5, checkpoint=tmp_path / "b.ckpt", label="teacher")
    with pytest.raises(Interrupted) as info:
        _train(model, cfg, interrupt_at=8)
    assert info.value.steps == 9 and info.value.checkpoint == tmp_path / "b.ckpt"
    state = torch.load(tmp_path / "b.ckpt", weights_only=False)
    assert state["steps"] == 9 and state["epoch"] == 1 and state["batch"] == 3  # 6 + 3 batches done
    resumed = _model()
    _train(resumed, FitConfig(steps=steps, eval_every=5, checkpoint=tmp_path / "b.ckpt", resume=True))
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is removed again


def test_without_a_checkpoint_ctrl_c_is_a_keyboard_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt):
        _train(_model(), FitConfig(steps=10), interrupt_at=2)


def test_chance_level_and_divergence() -> None:
    chance = Chance.of(torch.tensor([0] * 40 + [1] * 30 + [2] * 30))
    assert chance.accuracy == pytest.approx(40.0) and chance.n == 100
    assert chance.bound() == pytest.approx(100 * (0.4 + 2 * (0.4 * 0.6 / 100) ** 0.5))
    assert chance.diverged(45.0, 1.0, 1.5)  # at chance, loss rose
    assert not chance.diverged(45.0, 1.0, 0.9)  # at chance but learning (a short budget)
    assert not chance.diverged(60.0, 1.0, 5.0)  # better than chance


def test_a_model_that_learns_nothing_is_refused() -> None:
    data = _data()
    model = _model()

    def loss(batch: dict[str, torch.Tensor], _epoch: int) -> torch.Tensor:
        return (
            F.cross_entropy(model(batch["x"]), batch["y"]) * 0
            + 5.0
            + 0 * sum(p.sum() for p in model.parameters())
        )

    with pytest.raises(TrainingError, match=r"diverged: its best validation accuracy 25\.00% is at chance"):
        fit(
            model,
            loss,
            lambda e: loader(data, 16, shuffle=True, seed=0, epoch=e),
            FitConfig(steps=60, label="teacher"),
            validate=lambda: 25.0,
            chance=Chance.of(data.y),
        )
    short = fit(  # a smoke run of a few steps is not judged
        model,
        loss,
        lambda e: loader(data, 16, shuffle=True, seed=0, epoch=e),
        FitConfig(steps=12, label="teacher"),
        validate=lambda: 25.0,
        chance=Chance.of(data.y),
    )
    assert short.steps == 12
