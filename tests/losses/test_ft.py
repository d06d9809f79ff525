"""FT (Kim et al. 2018): against a float64 loop re-derivation of the factor-transfer loss; the paraphraser and
translator of the module and its training phases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.registry import REGISTRY


def ft_reference(s: np.ndarray, t: np.ndarray, p: float) -> float:
    """``(1/B) sum_b (sum_k |s_k / ||s|| - t_k / ||t|| |^p)^(1/p)`` over each sample's flattened factor."""
    total = 0.0
    for s_row, t_row in zip(s.reshape(s.shape[0], -1), t.reshape(t.shape[0], -1), strict=True):
        ns = math.sqrt(sum(x * x for x in s_row))
        nt = math.sqrt(sum(y * y for y in t_row))
        total += sum(abs(x / ns - y / nt) ** p for x, y in zip(s_row, t_row, strict=True)) ** (1 / p)
    return float(total / s.shape[0])


def _maps(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("shape", [(3, 4, 7), (2, 3, 4, 5), (4, 9)])
@pytest.mark.parametrize("p", [1.0, 2.0, 1.5])
def test_ft_matches_the_formula(shape: tuple[int, ...], p: float) -> None:
    s, t = _maps(*shape, seed=1), _maps(*shape, seed=2)
    expected = ft_reference(s.numpy(), t.numpy(), p)
    assert L.factor_transfer(s, t, p).item() == pytest.approx(expected, rel=1e-12)


def test_ft_hand_computed() -> None:
    # s = [3, 4] -> [0.6, 0.8]; t = [1, 0] -> [1, 0]; difference [-0.4, 0.8]: L1 1.2, L2 sqrt(0.8)
    s = torch.tensor([[[3.0, 4.0]]], dtype=torch.float64)
    t = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    assert L.factor_transfer(s, t).item() == pytest.approx(1.2, rel=1e-15)
    assert L.factor_transfer(s, t, 2.0).item() == pytest.approx(math.sqrt(0.8), rel=1e-15)
    # scale-free per sample, and 0 for proportional factors
    assert L.factor_transfer(10 * s, 0.1 * t).item() == pytest.approx(1.2, rel=1e-15)
    assert L.factor_transfer(2 * t, t).item() == 0.0


def test_ft_pools_the_larger_factor() -> None:
    s, t = _maps(2, 3, 6, seed=3), _maps(2, 3, 3, seed=4)
    pooled = s.reshape(2, 3, 3, 2).mean(dim=3)
    assert L.factor_transfer(s, t).item() == pytest.approx(
        ft_reference(pooled.numpy(), t.numpy(), 1.0), rel=1e-12
    )
    with pytest.raises(ValueError, match="one shape"):
        L.factor_transfer(_maps(2, 4, 6, seed=5), t)


def test_ft_module_paraphraser_and_translator() -> None:
    comp = REGISTRY.get("loss", "factor-transfer")
    assert comp.term == "deep-features" and comp.extra["needs"] == () and comp.extra["inputs"] == "features"
    loss = comp.obj(s_shape=(3, 10), t_shape=(8, 5)).double()
    convs = [m for m in loss.encoder if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (8, 8, (3,)),
        (8, 4, (3,)),
        (4, 4, (3,)),
    ]
    deconvs = [m for m in loss.decoder if isinstance(m, torch.nn.ConvTranspose1d)]
    assert [(c.in_channels, c.out_channels) for c in deconvs] == [(4, 4), (4, 8), (8, 8)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in loss.translator) == 3
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in (*loss.encoder, *loss.decoder))
    s, t = _maps(4, 3, 10, seed=6), _maps(4, 8, 5, seed=7)
    factors = loss.encoder(t)
    assert factors.shape == (4, 4, 5) and loss.decoder(factors).shape == t.shape
    assert loss.translator(s).shape == (4, 4, 10)
    rec = torch.nn.functional.mse_loss(loss.decoder(factors), t)
    torch.testing.assert_close(loss(s, t), L.factor_transfer(loss.translator(s), factors, 1.0) + rec)
    assert comp.obj(s_shape=(3, 4, 4), t_shape=(5, 2, 2), factor_rate=0.1).encoder[2].out_channels == 1
    assert isinstance(comp.obj(s_shape=(3, 4, 4), t_shape=(5, 2, 2)).translator[0], torch.nn.Conv2d)
    for bad in ({"s_shape": (6,), "t_shape": (6,)}, {}):
        with pytest.raises(ValueError):
            comp.obj(**bad)
    with pytest.raises(ValueError):
        comp.validate_params({"p": 0.5})


def _grads(loss: torch.nn.Module, part: str) -> list[torch.Tensor | None]:
    return [p.grad for p in getattr(loss, part).parameters()]


def test_ft_module_phases() -> None:
    comp = REGISTRY.get("loss", "factor-transfer")
    s, t = torch.randn(4, 3, 10, requires_grad=True), torch.randn(4, 8, 5)
    # joint (no phase): the FT term does not reach the paraphraser, which learns from the reconstruction only
    joint = comp.obj(s_shape=(3, 10), t_shape=(8, 5))
    joint(s, t).backward()
    enc = [g.clone() for g in _grads(joint, "encoder") if g is not None]
    joint.zero_grad()
    joint.reconstruction(t)[1].backward()
    for a, b in zip(enc, _grads(joint, "encoder"), strict=True):
        assert b is not None
        torch.testing.assert_close(a, b)
    # with a paraphraser phase: reconstruction only (the student untouched), then FT only (paraphraser frozen)
    staged = comp.obj(s_shape=(3, 10), t_shape=(8, 5), paraphraser_epochs=3)
    assert staged.phase() == "joint"
    staged.set_progress(3.0)
    s.grad = None
    value = staged(s, t)
    assert staged.phase() == "paraphraser"
    torch.testing.assert_close(value, staged.reconstruction(t)[1])
    value.backward()
    assert s.grad is None and all(g is None for g in _grads(staged, "translator"))
    staged.zero_grad(set_to_none=True)
    staged.set_progress(3.1)
    value = staged(s, t)
    assert staged.phase() == "transfer"
    value.backward()
    assert s.grad is not None and all(g is not None for g in _grads(staged, "translator"))
    assert all(g is None for g in (*_grads(staged, "encoder"), *_grads(staged, "decoder")))
