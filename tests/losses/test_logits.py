"""Logit losses against float64 re-derivations written here from the equations (per-sample loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kdtaxonomy.losses import (
    conditional_kd,
    dkd,
    dml,
    hard_label_kd,
    multi_teacher_kd,
    soft_label_kd,
    weighted_kd,
)
from kdtaxonomy.losses.dkd import dkd_parts

RTOL = 1e-10
SHAPES = [(1, 3), (5, 4), (8, 10)]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    out: np.ndarray = e / e.sum()
    return out


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(sum(pk * math.log(pk / qk) for pk, qk in zip(p, q, strict=True) if pk > 0))


def data(b: int, k: int, seed: int, scale: float = 2.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = scale * torch.randn(b, k, generator=g, dtype=torch.float64)
    t = scale * torch.randn(b, k, generator=g, dtype=torch.float64)
    y = torch.randint(0, k, (b,), generator=g)
    return s, t, y


def close(value: torch.Tensor, ref: float) -> None:
    assert value.dim() == 0
    assert value.item() == pytest.approx(ref, rel=RTOL, abs=1e-13)


@pytest.mark.parametrize(("b", "k"), SHAPES)
@pytest.mark.parametrize("temp", [1.0, 4.0])
def test_soft_label_kd(b: int, k: int, temp: float) -> None:
    s, t, _ = data(b, k, 1)
    ref = sum(kl(softmax(t[i].numpy() / temp), softmax(s[i].numpy() / temp)) for i in range(b))
    close(soft_label_kd(s, t, temp), temp**2 * ref / b)


def test_soft_label_kd_temperature_scaling_and_zero() -> None:
    s, t, _ = data(6, 5, 2)
    for temp in (0.5, 2.0, 7.0):
        close(soft_label_kd(s, t, temp), temp**2 * soft_label_kd(s / temp, t / temp, 1.0).item())
    assert soft_label_kd(s, s.clone()).item() == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize(("b", "k"), SHAPES)
def test_hard_label_kd(b: int, k: int) -> None:
    s, t, _ = data(b, k, 3)
    ref = sum(-math.log(softmax(s[i].numpy())[int(np.argmax(t[i].numpy()))]) for i in range(b))
    close(hard_label_kd(s, t), ref / b)


@pytest.mark.parametrize(("b", "k"), SHAPES)
@pytest.mark.parametrize("temp", [1.0, 3.0])
def test_conditional_kd(b: int, k: int, temp: float) -> None:
    s, t, y = data(b, k, 4)
    y[: b // 2] = t[: b // 2].argmax(1)  # make sure both branches occur
    ref = 0.0
    for i in range(b):
        if int(np.argmax(t[i].numpy())) == int(y[i]):
            p, q = softmax(t[i].numpy() / temp), softmax(s[i].numpy() / temp)
            ref += temp**2 * -sum(p[c] * math.log(q[c]) for c in range(k))
        else:
            ref += -math.log(softmax(s[i].numpy())[int(y[i])])
    close(conditional_kd(s, t, y, temp), ref / b)


@pytest.mark.parametrize(("b", "k"), SHAPES)
def test_weighted_kd(b: int, k: int) -> None:
    temp = 4.0
    s, t, y = data(b, k, 5)
    w = np.array([softmax(t[i].numpy())[int(y[i])] for i in range(b)])
    w = w / w.mean()
    terms = [temp**2 * kl(softmax(t[i].numpy() / temp), softmax(s[i].numpy() / temp)) for i in range(b)]
    close(weighted_kd(s, t, y, temp), float(sum(w[i] * terms[i] for i in range(b))) / b)


@pytest.mark.parametrize(("b", "k"), SHAPES)
@pytest.mark.parametrize("weights", [None, [0.2, 0.5, 0.3]])
def test_multi_teacher_kd(b: int, k: int, weights: list[float] | None) -> None:
    temp = 4.0
    s, _, _ = data(b, k, 6)
    ts = [data(b, k, 10 + m)[1] for m in range(3)]
    w = weights or [1 / 3] * 3
    ref = 0.0
    for i in range(b):
        mix = np.sum([w[m] * softmax(ts[m][i].numpy() / temp) for m in range(3)], axis=0)
        ref += kl(mix, softmax(s[i].numpy() / temp))
    close(multi_teacher_kd(s, ts, temp, weights), temp**2 * ref / b)
    close(multi_teacher_kd(s, torch.stack(ts), temp, weights), temp**2 * ref / b)


def test_multi_teacher_invariants() -> None:
    s, t, _ = data(5, 6, 7)
    close(multi_teacher_kd(s, [t], 3.0), soft_label_kd(s, t, 3.0).item())
    close(multi_teacher_kd(s, t, 3.0), soft_label_kd(s, t, 3.0).item())
    close(multi_teacher_kd(s, [t, t], 3.0, [2.0, 6.0]), soft_label_kd(s, t, 3.0).item())
    assert multi_teacher_kd(s, [s, s.clone()]).item() == pytest.approx(0.0, abs=1e-14)
    with pytest.raises(ValueError):
        multi_teacher_kd(s, [t, t], weights=[1.0])


@pytest.mark.parametrize("temp", [1.0, 2.0])
def test_dml(temp: float) -> None:
    s, t, _ = data(6, 5, 8)
    s.requires_grad_(True)
    t.requires_grad_(True)
    ref = sum(
        kl(softmax(t[i].detach().numpy() / temp), softmax(s[i].detach().numpy() / temp)) for i in range(6)
    )
    value = dml(s, t, temp)
    close(value, temp**2 * ref / 6)
    torch.autograd.backward(value)
    assert s.grad is not None and t.grad is None


def dkd_reference(s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, temp: float) -> tuple[float, float]:
    tckd = nckd = 0.0
    b, k = s.shape
    for i in range(b):
        zs, zt = s[i].numpy() / temp, t[i].numpy() / temp
        ps, pt = softmax(zs), softmax(zt)
        yi = int(y[i])
        tckd += kl(np.array([pt[yi], 1 - pt[yi]]), np.array([ps[yi], 1 - ps[yi]]))
        mask = np.zeros(k)
        mask[yi] = 1000.0
        nckd += kl(softmax(zt - mask), softmax(zs - mask))
    return temp**2 * tckd / b, temp**2 * nckd / b


@pytest.mark.parametrize(("b", "k"), [(1, 3), (5, 4), (8, 10)])
@pytest.mark.parametrize(("alpha", "beta", "temp"), [(1.0, 8.0, 4.0), (0.5, 2.0, 1.0)])
def test_dkd(b: int, k: int, alpha: float, beta: float, temp: float) -> None:
    s, t, y = data(b, k, 9)
    tckd, nckd = dkd_reference(s, t, y, temp)
    parts = dkd_parts(s, t, y, temp)
    close(parts[0], tckd)
    close(parts[1], nckd)
    close(dkd(s, t, y, alpha, beta, temp), alpha * tckd + beta * nckd)


def test_dkd_identity_with_classical_kd() -> None:
    """Zhao et al. Sec. 3.1: per sample KD = TCKD + (1 - p_t^T) NCKD."""
    s, t, y = data(7, 6, 11)
    temp = 4.0
    for i in range(7):
        si, ti, yi = s[i : i + 1], t[i : i + 1], y[i : i + 1]
        p_target = torch.softmax(ti / temp, dim=1)[0, yi].item()
        close(
            dkd(si, ti, yi, alpha=1.0, beta=1.0 - p_target, temperature=temp),
            soft_label_kd(si, ti, temp).item(),
        )
    assert dkd(s, s.clone(), y).item() == pytest.approx(0.0, abs=1e-13)
