"""DOT (Zhao et al. 2023): the optimizer against a hand-written float64 reference of its momentum buffers and
updates, Delta = 0 against SGD with momentum on the summed loss, and the training option end to end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import Tensor, nn

import kdtaxonomy.losses as L
from kdtaxonomy.data import ArrayData
from kdtaxonomy.optim import DistillationOrientedTrainer
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.recipe import Recipe, TrainingSpec
from kdtaxonomy.schema import ComponentSpec, KnowledgeSpec
from kdtaxonomy.train import FitConfig, fit, loader

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3))
Y = RNG.normal(size=4)
Z = RNG.normal(size=4)
H0 = RNG.normal(size=2)
W0, B0, HEAD0 = RNG.normal(size=3), RNG.normal(size=1), RNG.normal(size=2)


class Toy(nn.Module):
    """``w`` reached by both losses, ``b`` by the task loss only, ``h`` by the distillation loss only."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(W0))
        self.b = nn.Parameter(torch.tensor(B0))
        self.h = nn.Parameter(torch.tensor(HEAD0))

    def parts(self) -> tuple[Tensor, Tensor]:
        x = torch.tensor(X)
        task = 0.5 * ((x @ self.w + self.b - torch.tensor(Y)) ** 2).sum()
        distill = (
            0.5 * ((x @ self.w - torch.tensor(Z)) ** 2).sum() + 0.5 * ((self.h - torch.tensor(H0)) ** 2).sum()
        )
        return task, distill


def reference(steps: int, lr: float, mu: float, delta: float, wd: float) -> list[dict[str, np.ndarray]]:
    """The DOT updates by hand: the gradients of the two quadratic losses in closed form, one buffer per loss
    (``mu - delta`` / ``mu + delta`` where a parameter gets both gradients, ``mu`` where it gets one), weight
    decay with the task gradient (with the distillation gradient for ``h``, which the task does not reach)."""
    w, b, h = W0.copy(), B0.copy(), HEAD0.copy()
    buf: dict[str, np.ndarray] = {}
    out = []

    def push(name: str, d_p: np.ndarray, m: float) -> np.ndarray:
        buf[name] = d_p.copy() if name not in buf else m * buf[name] + d_p
        return buf[name]

    for _ in range(steps):
        r = X @ w + b - Y  # task residuals
        q = X @ w - Z  # distillation residuals
        g_task_w, g_task_b = X.T @ r + wd * w, np.array([r.sum()]) + wd * b
        g_dist_w, g_dist_h = X.T @ q, (h - H0) + wd * h
        step_w = push("task_w", g_task_w, mu - delta) + push("dist_w", g_dist_w, mu + delta)
        step_b = push("task_b", g_task_b, mu)
        step_h = push("dist_h", g_dist_h, mu)
        w, b, h = w - lr * step_w, b - lr * step_b, h - lr * step_h
        out.append({"w": w.copy(), "b": b.copy(), "h": h.copy(), **{k: v.copy() for k, v in buf.items()}})
    return out


def dot_step(model: Toy, optimizer: DistillationOrientedTrainer) -> None:
    task, distill = model.parts()
    optimizer.zero_grad(set_to_none=True)
    distill.backward(retain_graph=True)
    optimizer.hold_distillation_gradients()
    task.backward()
    optimizer.step()


@pytest.mark.parametrize(("delta", "wd"), [(0.075, 0.0), (0.09, 0.01), (0.0, 0.02)])
def test_three_steps_match_the_hand_reference(delta: float, wd: float) -> None:
    model = Toy()
    optimizer = DistillationOrientedTrainer(
        model.parameters(), lr=0.05, momentum=0.9, delta=delta, weight_decay=wd
    )
    expected = reference(3, 0.05, 0.9, delta, wd)
    for step in expected:
        dot_step(model, optimizer)
        state = {name: optimizer.state[p] for name, p in model.named_parameters()}
        np.testing.assert_allclose(state["w"]["task_buffer"].numpy(), step["task_w"], rtol=1e-13)
        np.testing.assert_allclose(state["w"]["distillation_buffer"].numpy(), step["dist_w"], rtol=1e-13)
        np.testing.assert_allclose(state["b"]["task_buffer"].numpy(), step["task_b"], rtol=1e-13)
        np.testing.assert_allclose(state["h"]["distillation_buffer"].numpy(), step["dist_h"], rtol=1e-13)
        assert "distillation_buffer" not in state["b"] and "task_buffer" not in state["h"]
        assert not any("held_distillation_grad" in s for s in state.values())
        for name in ("w", "b", "h"):
            np.testing.assert_allclose(getattr(model, name).detach().numpy(), step[name], rtol=1e-13)


def test_fit_with_loss_parts_runs_the_same_updates() -> None:
    model = Toy()
    cfg = FitConfig(
        steps=3, lr=0.05, optimizer="dot", momentum_delta=0.09, weight_decay=0.01, schedule="constant"
    )

    def never(batch: dict[str, Tensor], epoch: int) -> Tensor:
        raise AssertionError("with loss_parts, fit does not call loss_fn under DOT")

    result = fit(
        model, never, lambda e: [{"x": torch.zeros(1)}] * 2, cfg, loss_parts=lambda b, e: model.parts()
    )
    last = reference(3, 0.05, 0.9, 0.09, 0.01)[-1]
    for name in ("w", "b", "h"):
        np.testing.assert_allclose(getattr(model, name).detach().numpy(), last[name], rtol=1e-13)
    assert result.steps == 3 and len(result.losses) == 2


def test_delta_zero_is_sgd_with_momentum_on_the_summed_loss() -> None:
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    ys = [torch.randint(0, 3, (6,), generator=g) for _ in range(3)]
    t_logits = [torch.randn(6, 3, generator=g, dtype=torch.float64) for _ in range(3)]

    def net() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).double()

    def parts(model: nn.Module, i: int) -> tuple[Tensor, Tensor]:
        logits = model(xs[i])
        return nn.functional.cross_entropy(logits, ys[i]), 0.7 * L.soft_label_kd(logits, t_logits[i], 2.0)

    sgd_net, dot_net = net(), net()
    sgd = torch.optim.SGD(sgd_net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    dot = DistillationOrientedTrainer(
        dot_net.parameters(), lr=0.1, momentum=0.9, delta=0.0, weight_decay=1e-3
    )
    for i in range(3):
        task, distill = parts(sgd_net, i)
        sgd.zero_grad()
        (task + distill).backward()
        sgd.step()
        task, distill = parts(dot_net, i)
        dot.zero_grad(set_to_none=True)
        distill.backward(retain_graph=True)
        dot.hold_distillation_gradients()
        task.backward()
        dot.step()
        for a, b in zip(sgd_net.parameters(), dot_net.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    moved = net()
    dot = DistillationOrientedTrainer(moved.parameters(), lr=0.1, delta=0.075, weight_decay=1e-3)
    for i in range(3):
        task, distill = parts(moved, i)
        dot.zero_grad(set_to_none=True)
        distill.backward(retain_graph=True)
        dot.hold_distillation_gradients()
        task.backward()
        dot.step()
    assert not torch.allclose(next(moved.parameters()), next(sgd_net.parameters()))


@pytest.mark.parametrize(("momentum", "delta"), [(0.9, 0.1), (0.9, -0.01), (0.05, 0.075)])
def test_momenta_must_stay_in_range(momentum: float, delta: float) -> None:
    with pytest.raises(ValueError, match="momentum"):
        DistillationOrientedTrainer([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=momentum, delta=delta)


def _data(n: int = 96) -> ArrayData:
    g = torch.Generator().manual_seed(0)
    return ArrayData.from_tensors(torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g))


def _model(width: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv1d(1, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(4), nn.Flatten(),
        nn.Linear(4 * width, 16), nn.ReLU(), nn.Linear(16, 10),
    )  # fmt: skip


def _distilled(optimizer: str, knowledge: list[KnowledgeSpec], **kw: Any) -> Distiller:
    d = Distiller(_model(4, 2), [_model(8, 1)], knowledge=knowledge, ce_weight=0.5)
    d.fit(_data(), steps=12, batch_size=16, lr=0.01, optimizer=optimizer, weight_decay=1e-4, seed=3, **kw)
    return d


KD_PAD = [
    KnowledgeSpec(component="soft-label-kd", location="output", weight=0.9),
    KnowledgeSpec(component="pad-l2", location="embedding", weight=1.0),
]


def test_distiller_parts_sum_to_its_loss() -> None:
    d = Distiller(_model(4, 2), [_model(8, 1)], knowledge=KD_PAD, ce_weight=0.5)
    data = _data()
    d._build_terms({"x": data.x[:16], "y": data.y[:16]}, len(data))
    batch = {"x": data.x[:16], "y": data.y[:16], "row": torch.arange(16)}
    torch.manual_seed(0)
    whole = d.loss(dict(batch))
    torch.manual_seed(0)
    task, distill = d.loss_parts(dict(batch))
    assert distill is not None and torch.equal(whole, task + distill)
    alone = Distiller(_model(4, 2), [_model(8, 1)], ce_weight=0.5)
    task, none = alone.loss_parts(dict(batch))
    assert none is None and torch.equal(task, alone.loss(dict(batch)))


def test_distiller_dot_with_delta_zero_is_its_sgd_run() -> None:
    sgd = _distilled("sgd", KD_PAD)
    same = _distilled("dot", KD_PAD, momentum_delta=0.0)
    dot = _distilled("dot", KD_PAD)
    for a, b in zip(sgd.trainable().parameters(), same.trainable().parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert any(
        not torch.allclose(a, c)
        for a, c in zip(sgd.student.parameters(), dot.student.parameters(), strict=True)
    )


def test_dot_without_parts_trains_like_sgd_and_mutual_learning_is_refused() -> None:
    # a model trained on its labels alone (a teacher): all of the loss is the task loss, momentum 0.9
    data = _data()
    nets = [_model(4, 5), _model(4, 5)]
    for net, optimizer in zip(nets, ("sgd", "dot"), strict=True):
        fit(
            net,
            lambda batch, _e, net=net: nn.functional.cross_entropy(net(batch["x"]), batch["y"]),
            lambda e: [{"x": data.x[i : i + 16], "y": data.y[i : i + 16]} for i in range(0, 96, 16)],
            FitConfig(steps=8, lr=0.05, optimizer=optimizer, weight_decay=1e-3),
        )
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    mutual = Distiller(_model(4, 2), [_model(4, 3)], knowledge=[KnowledgeSpec(component="dml")],
                       transfer=ComponentSpec(component="mutual"))  # fmt: skip
    with pytest.raises(ValueError, match="mutual"):
        mutual.fit(_data(), steps=2, batch_size=16, optimizer="dot")


def test_training_spec_option_keeps_the_other_recipes_digests() -> None:
    assert TrainingSpec(optimizer="dot").momentum_delta == 0.075
    assert TrainingSpec(optimizer="dot", momentum_delta=0.09).model_dump()["momentum_delta"] == 0.09
    assert "momentum_delta" not in TrainingSpec(momentum_delta=0.05).model_dump()
    for bad in (0.1, -0.01):
        with pytest.raises(ValidationError):
            TrainingSpec(optimizer="dot", momentum_delta=bad)
    # digests computed before the option existed (kdtax-bench results are keyed by them)
    assert Recipe().digest() == "2a406310670d6d22"
    sgd = TrainingSpec(optimizer="sgd", lr=0.05, weight_decay=5e-4, momentum_delta=0.05)
    assert Recipe(training=sgd).digest() == "0c475f8c3c8f1a52"
    dot = Recipe(training=TrainingSpec(optimizer="dot"))
    assert dot.digest() != Recipe(training=TrainingSpec(optimizer="dot", momentum_delta=0.05)).digest()


def test_dot_resumes_from_its_checkpoint_to_the_same_weights(tmp_path: Any) -> None:
    data = _data()
    t_logits = torch.randn(96, 10, generator=torch.Generator().manual_seed(4))

    def run(cfg: FitConfig, fail_at: int | None = None) -> nn.Module:
        net, calls = _model(4, 6), {"n": 0}

        def parts(batch: dict[str, Tensor], _epoch: int) -> tuple[Tensor, Tensor]:
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise KeyboardInterrupt  # killed in the middle of an epoch
            logits = net(batch["x"])
            return nn.functional.cross_entropy(logits, batch["y"]), L.soft_label_kd(
                logits, t_logits[batch["row"]]
            )

        fit(net, lambda b, e: parts(b, e)[0], lambda e: loader(data, 16, shuffle=True, seed=2, epoch=e), cfg,
            loss_parts=parts)  # fmt: skip
        return net

    common = {"epochs": 3, "seed": 2, "lr": 0.05, "optimizer": "dot", "weight_decay": 1e-3}
    reference = run(FitConfig(**common))
    with pytest.raises(KeyboardInterrupt):
        run(FitConfig(**common, checkpoint=tmp_path / "m.ckpt"), fail_at=6 + 3)
    state = torch.load(tmp_path / "m.ckpt", weights_only=False)["optimizer"]["state"]
    assert state and all({"task_buffer", "distillation_buffer"} <= set(s) for s in state.values())
    resumed = run(FitConfig(**common, checkpoint=tmp_path / "m.ckpt", resume=True))
    for a, b in zip(reference.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
