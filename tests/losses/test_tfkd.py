"""Tf-KD_reg (Yuan et al. 2020): against a float64 loop re-derivation of the designed-teacher KL."""

from __future__ import annotations

import math

import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.registry import REGISTRY


def tfkd_reg_reference(s: list[list[float]], y: list[int], a: float, tau: float) -> float:
    """``(1/B) sum_i KL(softmax(p^d_i / tau) || softmax(s_i))`` with ``p^d`` = ``a`` on the label."""
    total = 0.0
    for row, label in zip(s, y, strict=True):
        k = len(row)
        pd = [a if c == label else (1 - a) / (k - 1) for c in range(k)]
        zt = sum(math.exp(p / tau) for p in pd)
        teacher = [math.exp(p / tau) / zt for p in pd]
        zs = sum(math.exp(v) for v in row)
        student = [math.exp(v) / zs for v in row]
        total += sum(p * math.log(p / q) for p, q in zip(teacher, student, strict=True))
    return total / len(s)


@pytest.mark.parametrize(("b", "k", "a", "tau"), [(6, 5, 0.99, 20.0), (4, 10, 0.9, 1.0), (3, 2, 0.7, 5.0)])
def test_tfkd_reg_matches_the_paper_formula(b: int, k: int, a: float, tau: float) -> None:
    g = torch.Generator().manual_seed(b + k)
    s = torch.randn(b, k, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, k, (b,), generator=g)
    expected = tfkd_reg_reference(s.tolist(), y.tolist(), a, tau)
    assert L.tfkd_reg(s, y, a, tau).item() == pytest.approx(expected, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize(("k", "a"), [(2, 0.6), (5, 0.99), (100, 0.9)])
def test_virtual_teacher_sums_to_one_and_puts_a_on_the_label(k: int, a: float) -> None:
    y = torch.tensor([0, k - 1, k // 2])
    pd = L.tfkd_virtual_teacher(y, k, a, torch.float64)
    assert pd.shape == (3, k)
    torch.testing.assert_close(pd.sum(dim=1), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(pd[torch.arange(3), y], torch.full((3,), a, dtype=torch.float64))
    others = pd.masked_select(~torch.nn.functional.one_hot(y, k).bool())
    torch.testing.assert_close(others, torch.full_like(others, (1 - a) / (k - 1)))
    with pytest.raises(ValueError):
        L.tfkd_virtual_teacher(y[:1] * 0, 1, a)


def test_tfkd_reg_minimum_is_the_softened_teacher() -> None:
    y = torch.tensor([1, 0, 2])
    pd = L.tfkd_virtual_teacher(y, 4, 0.9, torch.float64)
    s = torch.log_softmax(pd / 3.0, dim=1)  # the student predicts exactly softmax(p^d / tau)
    assert L.tfkd_reg(s, y, 0.9, 3.0).item() == pytest.approx(0.0, abs=1e-14)
    assert L.tfkd_reg(s + torch.tensor([1.0, 0, 0, 0], dtype=torch.float64), y, 0.9, 3.0).item() > 1e-4


def test_tfkd_reg_module_ignores_the_teacher_and_needs_targets() -> None:
    comp = REGISTRY.get("loss", "tfkd-reg")
    assert comp.term == "soft-labels" and comp.extra["needs"] == ("targets",)
    loss = comp.obj(correct_prob=0.95, temperature=10.0)
    s = torch.randn(4, 6, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 5])
    value = loss(s, torch.randn(4, 6), targets=y)
    assert value.item() == pytest.approx(L.tfkd_reg(s, y, 0.95, 10.0).item())
    with pytest.raises(ValueError, match="targets"):
        loss(s, s)
    for bad in ({"correct_prob": 1.0}, {"correct_prob": 0.0}, {"temperature": 0}):
        with pytest.raises(ValueError):
            comp.validate_params(bad)
