"""AB (Heo et al. 2019): against a float64 loop re-derivation of the alternative activation-transfer loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.registry import REGISTRY


def ab_reference(s: np.ndarray, t: np.ndarray, margin: float) -> float:
    """Per neuron: ``max(mu - s, 0)^2`` where the teacher is active (``t > 0``), else ``max(mu + s, 0)^2``;
    summed over the neurons of a sample, averaged over the samples."""
    total = 0.0
    for s_row, t_row in zip(s.reshape(s.shape[0], -1), t.reshape(t.shape[0], -1), strict=True):
        for x, y in zip(s_row, t_row, strict=True):
            total += max(margin - x, 0.0) ** 2 if y > 0 else max(margin + x, 0.0) ** 2
    return float(total / s.shape[0])


def _maps(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("shape", [(3, 4, 7), (2, 3, 4, 5)])
@pytest.mark.parametrize("margin", [1.0, 0.3, 2.5])
def test_ab_matches_the_formula(shape: tuple[int, ...], margin: float) -> None:
    s, t = _maps(*shape, seed=1), _maps(*shape, seed=2)
    expected = ab_reference(s.numpy(), t.numpy(), margin)
    assert L.activation_boundary(s, t, margin).item() == pytest.approx(expected, rel=1e-12)


def test_ab_hand_computed() -> None:
    # margin 1: active & 2.0 -> 0; active & 0.5 -> 0.5^2; inactive (t = 0) & -0.5 -> 0.5^2; inactive & -2 -> 0
    s = torch.tensor([[[2.0, 0.5, -0.5, -2.0]]], dtype=torch.float64)
    t = torch.tensor([[[1.0, 1.0, 0.0, -1.0]]], dtype=torch.float64)
    assert L.activation_boundary(s, t).item() == 0.5
    # margin 3: (3 - 2)^2 + (3 - 0.5)^2 + (3 - 0.5)^2 + (3 - 2)^2 = 14.5
    assert L.activation_boundary(s, t, 3.0).item() == 14.5
    # a student on the wrong side: active teacher, student -1 -> (1 + 1)^2 = 4; batch of two: mean
    wrong = torch.tensor([[[-1.0]]], dtype=torch.float64)
    assert L.activation_boundary(wrong, torch.ones(1, 1, 1, dtype=torch.float64)).item() == 4.0
    pair = torch.cat([wrong, -wrong]), torch.ones(2, 1, 1, dtype=torch.float64)
    assert L.activation_boundary(*pair).item() == 2.0


def test_ab_is_zero_beyond_the_margin_and_depends_on_the_sign_only() -> None:
    t = _maps(3, 4, 6, seed=3)
    s: torch.Tensor = torch.where(t > 0, 1.5, -1.5).to(torch.float64).requires_grad_(True)
    value = L.activation_boundary(s, t)
    (grad,) = torch.autograd.grad(value, s)
    assert value.item() == 0.0 and bool((grad == 0).all())
    student = _maps(3, 4, 6, seed=4)
    assert L.activation_boundary(student, t).item() == L.activation_boundary(student, 5 * t.relu()).item()
    with pytest.raises(ValueError, match="shape"):
        L.activation_boundary(_maps(3, 4, 5, seed=5), t)


def test_ab_module_owns_the_connector() -> None:
    comp = REGISTRY.get("loss", "activation-boundary")
    assert comp.term == "deep-features" and comp.extra["needs"] == () and comp.extra["inputs"] == "features"
    loss = comp.obj(s_shape=(3, 6, 6), t_shape=(4, 3, 3), margin=0.5).double()
    conv, norm = loss.connector
    assert isinstance(conv, torch.nn.Conv2d) and (conv.in_channels, conv.out_channels) == (3, 4)
    assert isinstance(norm, torch.nn.BatchNorm2d)
    s, t = _maps(5, 3, 6, 6, seed=6), _maps(5, 4, 3, 3, seed=7)
    pooled = torch.nn.functional.adaptive_avg_pool2d(loss.connector(s), (3, 3))
    torch.testing.assert_close(loss(s, t), L.activation_boundary(pooled, t, 0.5))
    equal = comp.obj(s_shape=(4, 8), t_shape=(4, 8))
    assert isinstance(equal.connector[0], torch.nn.Conv1d)  # present even where the shapes agree
    for bad in ({"s_shape": (6,), "t_shape": (6,)}, {}):
        with pytest.raises(ValueError):
            comp.obj(**bad)
    with pytest.raises(ValueError):
        comp.validate_params({"margin": 0})


def test_ab_module_switches_off_after_until_epochs() -> None:
    loss = REGISTRY.get("loss", "activation-boundary").obj(s_shape=(3, 8), t_shape=(5, 8), until_epochs=4)
    s, t = torch.randn(4, 3, 8), torch.randn(4, 5, 8)
    loss.set_progress(4.0)
    assert loss.active() and loss(s, t).item() > 0
    loss.set_progress(4.5)
    assert not loss.active() and loss(s, t).item() == 0.0
