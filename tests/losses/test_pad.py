"""PAD (Zhang et al. 2020) and its L2 baseline: against float64 loop re-derivations of the two feature terms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.registry import REGISTRY


def l2_reference(s: np.ndarray, t: np.ndarray) -> float:
    """``(1 / (B D)) sum_{b, d} (s_bd - t_bd)^2`` over the flattened features."""
    rows_s, rows_t = s.reshape(s.shape[0], -1), t.reshape(t.shape[0], -1)
    total = sum(
        (a - b) ** 2 for rs, rt in zip(rows_s, rows_t, strict=True) for a, b in zip(rs, rt, strict=True)
    )
    return float(total / rows_s.size)


def pad_reference(s: np.ndarray, t: np.ndarray, v: np.ndarray, eps: float) -> float:
    """``(1 / (B D)) sum_{b, d} [(t_bd - s_bd)^2 / (eps + exp(v_bd)) + v_bd]``."""
    rows = zip(s.reshape(s.shape[0], -1), t.reshape(t.shape[0], -1), v.reshape(v.shape[0], -1), strict=True)
    total = 0.0
    count = 0
    for rs, rt, rv in rows:
        for a, b, c in zip(rs, rt, rv, strict=True):
            total += (b - a) ** 2 / (eps + math.exp(c)) + c
            count += 1
    return total / count


def _x(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("shape", [(4, 7), (3, 2, 5), (2, 3, 2, 2)])
def test_feature_l2_matches_the_formula(shape: tuple[int, ...]) -> None:
    s, t = _x(*shape, seed=1), _x(*shape, seed=2)
    assert L.feature_l2(s, t).item() == pytest.approx(l2_reference(s.numpy(), t.numpy()), rel=1e-12)


@pytest.mark.parametrize("shape", [(4, 7), (3, 2, 5), (2, 3, 2, 2)])
@pytest.mark.parametrize("eps", [1e-6, 0.3])
def test_pad_l2_matches_the_formula(shape: tuple[int, ...], eps: float) -> None:
    s, t, v = _x(*shape, seed=3), _x(*shape, seed=4), _x(*shape, seed=5)
    expected = pad_reference(s.numpy(), t.numpy(), v.numpy(), eps)
    assert L.pad_l2(s, t, v, eps).item() == pytest.approx(expected, rel=1e-12)
    # the log-variances may come flattened, one row per sample
    assert L.pad_l2(s, t, v.reshape(shape[0], -1), eps).item() == pytest.approx(expected, rel=1e-12)


def test_pad_l2_is_twice_the_gaussian_negative_log_likelihood() -> None:
    s, t, v = _x(5, 6, seed=6), _x(5, 6, seed=7), _x(5, 6, seed=8)
    nll = torch.nn.functional.gaussian_nll_loss(s, t, v.exp(), full=False, eps=1e-300, reduction="mean")
    torch.testing.assert_close(L.pad_l2(s, t, v, eps=0.0), 2 * nll, rtol=1e-12, atol=1e-14)


def test_pad_l2_with_unit_variance_is_the_l2_term() -> None:
    s, t = _x(4, 9, seed=9), _x(4, 9, seed=10)
    zero = torch.zeros(4, 9, dtype=torch.float64)
    assert L.pad_l2(s, t, zero, 1e-6).item() == pytest.approx(
        L.feature_l2(s, t).item() / (1 + 1e-6), rel=1e-12
    )


def test_pad_l2_weights_each_difference_by_the_inverse_variance() -> None:
    s, t, v = (
        _x(3, 4, seed=11).requires_grad_(True),
        _x(3, 4, seed=12),
        _x(3, 4, seed=13).requires_grad_(True),
    )
    eps = 1e-6
    grad_s, grad_v = torch.autograd.grad(L.pad_l2(s, t, v, eps), (s, v))
    n, var = s.numel(), eps + v.detach().exp()
    r = t - s.detach()
    # d/ds: -2 (t - s) / (n (eps + e^v)); d/dv: (1 - r^2 e^v / (eps + e^v)^2) / n
    torch.testing.assert_close(grad_s, -2 * r / (n * var), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(grad_v, (1 - r**2 * v.detach().exp() / var**2) / n, rtol=1e-12, atol=1e-15)
    # the regulariser's optimum: sigma^2 = (t - s)^2 (eps -> 0) makes the log-variance gradient vanish
    best = (r**2).log().requires_grad_(True)
    (grad_best,) = torch.autograd.grad(L.pad_l2(s.detach(), t, best, 1e-300), best)
    assert float(grad_best.abs().max()) < 1e-12


def test_pad_l2_rejects_mismatched_sizes() -> None:
    s, t = _x(3, 4, seed=14), _x(3, 5, seed=15)
    with pytest.raises(ValueError, match="size"):
        L.feature_l2(s, t)
    with pytest.raises(ValueError, match="size"):
        L.pad_l2(s, t, t)
    with pytest.raises(ValueError, match="log-variance"):
        L.pad_l2(t, t, s)


def test_pad_l2_module_owns_the_variance_head() -> None:
    comp = REGISTRY.get("loss", "pad-l2")
    assert comp.term == "deep-features" and comp.extra["needs"] == () and comp.extra["inputs"] == "features"
    loss = comp.obj(s_shape=(6,), t_shape=(10,), eps=1e-4).double()
    linear, norm = loss.var_head
    assert isinstance(linear, torch.nn.Linear) and (linear.in_features, linear.out_features) == (6, 10)
    assert isinstance(norm, torch.nn.BatchNorm1d) and norm.num_features == 10
    assert isinstance(loss.proj, torch.nn.Linear) and (loss.proj.in_features, loss.proj.out_features) == (
        6,
        10,
    )
    s, t = _x(5, 6, seed=16), _x(5, 10, seed=17)
    torch.testing.assert_close(loss(s, t), L.pad_l2(loss.proj(s), t, loss.var_head(s), 1e-4))
    same = comp.obj(s_shape=(4, 3), t_shape=(12,)).double()  # a map, flattened: no projection
    assert isinstance(same.proj, torch.nn.Identity) and same.var_head[0].in_features == 12
    m = _x(5, 4, 3, seed=18)
    torch.testing.assert_close(
        same(m, _x(5, 12, seed=19)), L.pad_l2(m, _x(5, 12, seed=19), same.var_head(m.flatten(1)))
    )
    with pytest.raises(ValueError):
        comp.obj()
    with pytest.raises(ValueError):
        comp.validate_params({"eps": 0})


def test_feature_l2_module_projects_only_when_the_sizes_differ() -> None:
    comp = REGISTRY.get("loss", "feature-l2")
    assert comp.term == "deep-features" and comp.extra["inputs"] == "features"
    equal = comp.obj(s_shape=(8,), t_shape=(8,))
    assert isinstance(equal.proj, torch.nn.Identity) and not list(equal.parameters())
    s, t = torch.randn(4, 8), torch.randn(4, 8)
    torch.testing.assert_close(equal(s, t), torch.nn.functional.mse_loss(s, t))
    wider = comp.obj(s_shape=(6,), t_shape=(10,))
    assert isinstance(wider.proj, torch.nn.Linear)
    s6 = torch.randn(4, 6)
    torch.testing.assert_close(wider(s6, torch.ones(4, 10)), L.feature_l2(wider.proj(s6), torch.ones(4, 10)))


def test_two_stages_switch_at_the_same_epoch() -> None:
    l2 = REGISTRY.get("loss", "feature-l2").obj(s_shape=(5,), t_shape=(5,), until_epochs=3)
    pad = REGISTRY.get("loss", "pad-l2").obj(s_shape=(5,), t_shape=(5,), from_epochs=3)
    s, t = torch.randn(4, 5), torch.randn(4, 5)
    assert l2.active() and pad.active()  # no progress known: both on
    for epochs, l2_on in ((0.5, True), (3.0, True), (3.2, False), (10.0, False)):
        l2.set_progress(epochs)
        pad.set_progress(epochs)
        assert (l2.active(), pad.active()) == (l2_on, not l2_on)
        assert (l2(s, t).item() != 0.0) == l2_on and (pad(s, t).item() != 0.0) == (not l2_on)


def test_the_distiller_runs_the_two_stages_by_its_progress() -> None:
    from kdtaxonomy.data import ArrayData
    from kdtaxonomy.pipeline import Distiller
    from kdtaxonomy.schema import KnowledgeSpec

    def net(width: int, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, width), torch.nn.ReLU(),
                                   torch.nn.Linear(width, 4))  # fmt: skip

    g = torch.Generator().manual_seed(0)
    data = ArrayData.from_tensors(
        torch.randn(96, 1, 20, generator=g), torch.randint(0, 4, (96,), generator=g)
    )
    knowledge = [
        KnowledgeSpec(component="feature-l2", location="embedding", weight=15.0, params={"until_epochs": 1}),
        KnowledgeSpec(component="pad-l2", location="embedding", params={"from_epochs": 1}),
    ]
    distiller = Distiller(net(6, 1), [net(10, 2)], knowledge=knowledge)
    distiller.fit(data, steps=12, batch_size=16)  # 6 steps an epoch: 6 steps of L2, then 6 of PAD-L2
    pad = distiller.loss_modules[1]
    assert int(pad.var_head[1].num_batches_tracked) == 6  # the variance head ran in the second epoch only
    assert pad.progress == 2.0
