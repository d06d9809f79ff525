"""DIST (Huang et al. 2022): against a float64 loop re-derivation of the paper's relation losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.losses.dist import dist_parts, pearson_rows
from kdtaxonomy.registry import REGISTRY


def _softmax(row: np.ndarray, tau: float) -> np.ndarray:
    e = np.exp(row / tau - np.max(row / tau))
    return e / e.sum()


def _pearson(u: list[float], v: list[float]) -> float:
    n = len(u)
    mu, mv = sum(u) / n, sum(v) / n
    num = sum((a - mu) * (b - mv) for a, b in zip(u, v, strict=True))
    su = math.sqrt(sum((a - mu) ** 2 for a in u))
    sv = math.sqrt(sum((b - mv) ** 2 for b in v))
    return num / (su * sv)


def dist_reference(s: np.ndarray, t: np.ndarray, tau: float) -> tuple[float, float]:
    """``(L_inter, L_intra)``: tau^2 times the mean Pearson distance of the rows, and of the columns."""
    b, k = s.shape
    ys = [_softmax(s[i], tau) for i in range(b)]
    yt = [_softmax(t[i], tau) for i in range(b)]
    inter = sum(1.0 - _pearson(list(ys[i]), list(yt[i])) for i in range(b)) / b
    intra = (
        sum(1.0 - _pearson([ys[i][j] for i in range(b)], [yt[i][j] for i in range(b)]) for j in range(k)) / k
    )
    return tau * tau * inter, tau * tau * intra


def _logits(b: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, k, generator=g, dtype=torch.float64) * 2,
        torch.randn(b, k, generator=g, dtype=torch.float64) * 2,
    )


@pytest.mark.parametrize(
    ("b", "k", "beta", "gamma", "tau"), [(6, 5, 1.0, 1.0, 1.0), (8, 10, 2.0, 0.5, 4.0), (3, 7, 0.0, 1.0, 2.0)]
)
def test_dist_matches_the_paper_formula(b: int, k: int, beta: float, gamma: float, tau: float) -> None:
    s, t = _logits(b, k, seed=b * k)
    inter, intra = dist_reference(s.numpy(), t.numpy(), tau)
    got_inter, got_intra = dist_parts(s, t, tau, eps=0.0)
    assert got_inter.item() == pytest.approx(inter, rel=1e-12, abs=1e-12)
    assert got_intra.item() == pytest.approx(intra, rel=1e-12, abs=1e-12)
    # the default eps of the authors' code (1e-8 on the norm product) changes nothing visible
    assert L.dist(s, t, beta, gamma, tau).item() == pytest.approx(beta * inter + gamma * intra, rel=1e-6)


def _prob_logits(p: torch.Tensor, tau: float) -> torch.Tensor:
    return tau * p.log()  # softmax(tau * log p / tau) = p


@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_dist_is_zero_under_a_positive_affine_map(tau: float) -> None:
    _, t = _logits(7, 6, seed=3)
    pt = torch.softmax(t / tau, dim=1)
    k = pt.shape[1]
    # one map a * p + (1 - a) / K for the whole batch: every row and every column is affine in the teacher's
    a = 0.6
    s = _prob_logits(a * pt + (1 - a) / k, tau)
    inter, intra = dist_parts(s, t, tau, eps=0.0)
    assert abs(inter.item()) < 1e-12 and abs(intra.item()) < 1e-12
    # a different positive scale per row keeps every row's correlation at 1 (the inter-class part is 0)
    rows = torch.linspace(0.2, 0.9, pt.shape[0], dtype=torch.float64).unsqueeze(1)
    s_rows = _prob_logits(rows * pt + (1 - rows) / k, tau)
    inter, intra = dist_parts(s_rows, t, tau, eps=0.0)
    assert abs(inter.item()) < 1e-12 and intra.item() > 1e-6
    # and a different student is not matched
    assert dist_parts(_logits(7, 6, seed=4)[0], t, tau)[0].item() > 1e-3


def test_pearson_rows_bounds_and_sign() -> None:
    u = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    v = torch.tensor([[2.0, 4.0, 6.0], [3.0, 2.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(pearson_rows(u, v, eps=0.0), torch.tensor([1.0, -1.0], dtype=torch.float64))


def test_dist_module_and_spec() -> None:
    comp = REGISTRY.get("loss", "dist")
    assert comp.term == "relations" and comp.extra["needs"] == () and comp.extra["inputs"] == "logits"
    loss = comp.obj(beta=2.0, gamma=0.5, temperature=3.0)
    s, t = _logits(5, 4, seed=9)
    t.requires_grad_(True)
    torch.testing.assert_close(loss(s, t), L.dist(s, t.detach(), 2.0, 0.5, 3.0))
    with pytest.raises(ValueError):
        comp.validate_params({"temperature": 0})
