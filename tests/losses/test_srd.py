"""SRD (Miles & Mikolajczyk 2024): against a float64 loop re-derivation of the batch normalisation and of the
log-sum feature loss, through the module's projector."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.registry import REGISTRY


def standardize_reference(z: np.ndarray, eps: float) -> list[list[float]]:
    """Per feature: minus the batch mean, over the square root of the biased batch variance plus ``eps``."""
    rows, cols = z.shape
    out = [[0.0] * cols for _ in range(rows)]
    for d in range(cols):
        column = [float(z[b][d]) for b in range(rows)]
        mean = sum(column) / rows
        var = sum((x - mean) ** 2 for x in column) / rows
        for b in range(rows):
            out[b][d] = (column[b] - mean) / math.sqrt(var + eps)
    return out


def srd_reference(s_projected: np.ndarray, t: np.ndarray, exponent: float, eps: float) -> float:
    """``log sum_{b,d} |BN(s)_{b,d} - BN(t)_{b,d}|^alpha``."""
    a, b = standardize_reference(s_projected, eps), standardize_reference(t, eps)
    total = sum(
        abs(x - y) ** exponent for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)
    )
    return math.log(total)


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize(("exponent", "eps"), [(4.0, 1e-4), (2.0, 1e-4), (1.0, 0.5)])
def test_srd_matches_the_formula(exponent: float, eps: float) -> None:
    s, t = _rand(5, 3, seed=1), _rand(5, 3, seed=2)
    expected = srd_reference(s.numpy(), t.numpy(), exponent, eps)
    assert L.srd(s, t, exponent, eps).item() == pytest.approx(expected, rel=1e-12)
    standardized = np.array(standardize_reference(s.numpy(), eps))
    np.testing.assert_allclose(L.batch_standardize(s, eps).numpy(), standardized, rtol=1e-12, atol=1e-14)


def test_srd_hand_computed() -> None:
    # one feature, two samples: BN(s) = [-1, 1] / sqrt(1 + eps), BN(t) = [1, -1] / sqrt(1 + eps); the
    # differences are 2 / sqrt(1 + eps) twice, so the loss is log(2 * 16 / (1 + eps)^2)
    s = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    t = torch.tensor([[3.0], [1.0]], dtype=torch.float64)
    eps = 1e-4
    assert L.srd(s, t, 4.0, eps).item() == pytest.approx(math.log(32.0) - 2 * math.log1p(eps), rel=1e-13)
    # standardisation removes shift and scale: an affine teacher of the student gives the floor log(1e-30)
    assert L.srd(s, 3.0 * s + 1.0, 4.0, 0.0 + 1e-12).item() == pytest.approx(math.log(1e-30))
    with pytest.raises(ValueError, match="one shape"):
        L.srd(s, torch.zeros(2, 2, dtype=torch.float64))


def test_srd_module_projects_the_student_and_pools_maps() -> None:
    comp = REGISTRY.get("loss", "srd")
    assert comp.term == "deep-features" and comp.extra["inputs"] == "embeddings" and comp.extra["needs"] == ()
    loss = comp.obj(s_shape=(3,), t_shape=(4,)).double()
    assert isinstance(loss.proj, torch.nn.Linear) and loss.proj.bias is not None
    assert (loss.proj.in_features, loss.proj.out_features) == (3, 4)
    s, t = _rand(6, 3, seed=3).requires_grad_(True), _rand(6, 4, seed=4).requires_grad_(True)
    value = loss(s, t)
    weight, bias = loss.proj.weight.detach().numpy(), loss.proj.bias.detach().numpy()
    projected = np.array([[float(weight[o] @ row + bias[o]) for o in range(4)] for row in s.detach().numpy()])
    assert value.item() == pytest.approx(srd_reference(projected, t.detach().numpy(), 4.0, 1e-4), rel=1e-12)
    value.backward()
    assert s.grad is not None and t.grad is None and loss.proj.weight.grad is not None
    # feature maps (the last stage, as the authors read it) are averaged over their positions first
    maps = comp.obj(s_shape=(3, 5), t_shape=(4, 2, 2), exponent=2.0).double()
    assert (maps.proj.in_features, maps.proj.out_features) == (3, 4)
    fs, ft = _rand(6, 3, 5, seed=5), _rand(6, 4, 2, 2, seed=6)
    torch.testing.assert_close(maps(fs, ft), L.srd(maps.proj(fs.mean(dim=2)), ft.mean(dim=(2, 3)), 2.0))
    with pytest.raises(ValueError):
        comp.obj()
    for bad in ({"exponent": 0}, {"eps": 0}):
        with pytest.raises(ValueError):
            comp.validate_params(bad)
