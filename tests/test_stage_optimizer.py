"""A new training stage (FitNets-style hint stage, then the task) starts with a fresh optimizer state.

RepDistiller trains the initialisation stage of AB, FT and FSP with an optimizer of its own; before this,
Adam's second moments built from the hint terms' gradients (FSP's are ~10^3 times CE's) carried into the
cross-entropy stage and shrank its steps for about a thousand steps.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kdtaxonomy.pipeline as P
from kdtaxonomy.data import ArrayData
from kdtaxonomy.interrupt import Interrupted
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.schema import ComponentSpec, KnowledgeSpec
from kdtaxonomy.train import FitConfig, fit, loader


def _data(n: int = 96) -> ArrayData:
    g = torch.Generator().manual_seed(5)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randn(n, 1, 12, generator=g) + y.view(-1, 1, 1).float()
    return ArrayData(x=x, y=y, index=torch.arange(n))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))


def _fit(
    model: nn.Module,
    cfg: FitConfig,
    *,
    first_epoch: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> None:
    """Epoch 0 trains a loss 1000 times larger (a hint stage), later epochs the plain CE; 6 batches an epoch."""
    data = _data()

    def loss(batch: dict[str, torch.Tensor], epoch: int) -> torch.Tensor:
        ce = F.cross_entropy(model(batch["x"]), batch["y"])
        return 1000.0 * ce if epoch + first_epoch == 0 else ce

    batches = lambda e: loader(data, 16, shuffle=True, seed=1, epoch=e + first_epoch)  # noqa: E731
    fit(model, loss, batches, cfg, on_step=on_step)


def _adam_steps(checkpoint: Path) -> set[int]:
    """The step counts in the optimizer state the fit saved at its last epoch."""
    state = torch.load(checkpoint, weights_only=False)["optimizer"]["state"]
    return {int(s["step"]) for s in state.values()}


def test_the_state_is_cleared_at_a_stage_start_and_equals_a_new_optimizer(tmp_path: Path) -> None:
    constant = {"steps": 12, "schedule": "constant"}
    staged = _model()
    _fit(staged, FitConfig(**constant, fresh_optimizer_at=(1,), checkpoint=tmp_path / "a.ckpt"))
    assert _adam_steps(tmp_path / "a.ckpt") == {6}  # counted from the stage start
    kept = _model()
    _fit(kept, FitConfig(**constant, checkpoint=tmp_path / "b.ckpt"))
    assert _adam_steps(tmp_path / "b.ckpt") == {12}
    # independent reference: stage 1 with one optimizer, stage 2 with a new one from those parameters
    reference = _model()
    _fit(reference, FitConfig(steps=6, schedule="constant"))
    _fit(reference, FitConfig(steps=6, schedule="constant"), first_epoch=1)
    for key, value in reference.state_dict().items():
        assert torch.allclose(value, staged.state_dict()[key], rtol=0, atol=1e-6), key
    assert not all(torch.equal(v, kept.state_dict()[k]) for k, v in reference.state_dict().items())


def test_an_interruption_inside_the_first_epoch_of_a_stage_resumes_exactly(tmp_path: Path) -> None:
    reference = _model()
    _fit(reference, FitConfig(steps=14, fresh_optimizer_at=(1,), checkpoint=tmp_path / "a.ckpt"))

    def interrupting(step: int, _per_epoch: int) -> None:
        if step == 8:  # epoch 1 (the new stage), batch 3
            os.kill(os.getpid(), signal.SIGINT)

    model = _model()
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(Interrupted):
            _fit(model, FitConfig(steps=14, fresh_optimizer_at=(1,), checkpoint=tmp_path / "b.ckpt"),
                 on_step=interrupting)  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, before)
    resumed = _model()
    _fit(resumed, FitConfig(steps=14, fresh_optimizer_at=(1,), checkpoint=tmp_path / "b.ckpt", resume=True))
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


@pytest.mark.parametrize(
    ("transfer", "knowledge", "expected"),
    [
        (ComponentSpec(component="intermediate-layer", params={"hint_epochs": 2}), True, (2,)),
        (ComponentSpec(component="intermediate-layer", params={"hint_epochs": 0}), True, ()),
        (ComponentSpec(component="permuted"), True, ()),
        (ComponentSpec(component="intermediate-layer", params={"hint_epochs": 2}), False, ()),
    ],
)
def test_the_distiller_starts_a_fresh_optimizer_where_its_transfer_changes_stage(
    monkeypatch: pytest.MonkeyPatch, transfer: ComponentSpec, knowledge: bool, expected: tuple[int, ...]
) -> None:
    seen: list[FitConfig] = []
    real = P.fit

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(P, "fit", spy)
    terms = [KnowledgeSpec(component="fitnets", location="embedding", weight=1.0)] if knowledge else []
    student = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4))
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
    d = Distiller(student, [teacher], knowledge=terms, transfer=transfer, num_classes=4)
    d.fit(_data(), steps=3, batch_size=32)
    assert seen and seen[0].fresh_optimizer_at == expected
