"""RKD distance/angle/area against float64 re-derivations with explicit pair/triple loops."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdtaxonomy.losses import relational, rkd_angle, rkd_area, rkd_distance

RTOL = 1e-10
SHAPES = [(2, 3, 3), (5, 4, 7), (7, 6, 2)]


def rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def close(value: torch.Tensor, ref: float) -> None:
    assert value.dim() == 0
    assert value.item() == pytest.approx(ref, rel=RTOL, abs=1e-13)


def huber(a: float, b: float) -> float:
    d = abs(a - b)
    return 0.5 * d * d if d < 1.0 else d - 0.5


def normalised_pairs(x: torch.Tensor, fn: Callable[[np.ndarray, np.ndarray], float]) -> list[list[float]]:
    e = x.reshape(x.shape[0], -1).numpy()
    b = e.shape[0]
    m = [[fn(e[i], e[j]) if i != j else 0.0 for j in range(b)] for i in range(b)]
    mu = sum(m[i][j] for i in range(b) for j in range(b) if i != j) / (b * (b - 1))
    return [[v / mu for v in row] for row in m]


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


def area(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * math.sqrt(max(float(a @ a) * float(b @ b) - float(a @ b) ** 2, 0.0))


def pair_reference(s: torch.Tensor, t: torch.Tensor, fn: Callable[[np.ndarray, np.ndarray], float]) -> float:
    ps, pt = normalised_pairs(s, fn), normalised_pairs(t, fn)
    b = s.shape[0]
    return sum(huber(ps[i][j], pt[i][j]) for i in range(b) for j in range(b)) / b**2


def angle_reference(s: torch.Tensor, t: torch.Tensor) -> float:
    def cosines(x: torch.Tensor) -> np.ndarray:
        e = x.reshape(x.shape[0], -1).numpy()
        b = e.shape[0]
        out = np.zeros((b, b, b))
        for i in range(b):
            for j in range(b):
                for k in range(b):
                    u, v = e[j] - e[i], e[k] - e[i]
                    nu, nv = max(np.linalg.norm(u), 1e-12), max(np.linalg.norm(v), 1e-12)
                    out[i, j, k] = float((u / nu) @ (v / nv))
        return out

    cs, ct = cosines(s), cosines(t)
    return sum(huber(a, c) for a, c in zip(cs.ravel(), ct.ravel(), strict=True)) / cs.size


@pytest.mark.parametrize(("b", "ds", "dt"), SHAPES)
def test_rkd_distance(b: int, ds: int, dt: int) -> None:
    s, t = 3.0 * rand(b, ds, seed=1), rand(b, dt, seed=2)
    close(rkd_distance(s, t), pair_reference(s, t, distance))


@pytest.mark.parametrize(("b", "ds", "dt"), SHAPES)
def test_rkd_area(b: int, ds: int, dt: int) -> None:
    s, t = 3.0 * rand(b, ds, seed=3), rand(b, dt, seed=4)
    close(rkd_area(s, t), pair_reference(s, t, area))


@pytest.mark.parametrize(("b", "ds", "dt"), [(2, 3, 3), (3, 2, 2), (5, 4, 7)])
@pytest.mark.parametrize("chunk", [None, 1, 2])
def test_rkd_angle(b: int, ds: int, dt: int, chunk: int | None) -> None:
    s, t = 3.0 * rand(b, ds, seed=5), rand(b, dt, seed=6)
    close(rkd_angle(s, t, chunk), angle_reference(s, t))


def test_rkd_angle_zero_length_differences() -> None:
    s, t = rand(5, 3, seed=7), rand(5, 4, seed=8)
    s[3] = s[1]  # a duplicated embedding: e_3 - e_1 = 0 is normalised to the zero vector
    close(rkd_angle(s, t), angle_reference(s, t))


def test_rkd_on_maps_flattens() -> None:
    s, t = rand(4, 2, 3, seed=9), rand(4, 5, seed=10)
    close(rkd_distance(s, t), rkd_distance(s.reshape(4, -1), t).item())
    close(rkd_angle(s, t), rkd_angle(s.reshape(4, -1), t).item())
    close(rkd_area(s, t), rkd_area(s.reshape(4, -1), t).item())


def unchunked_angle(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    def cos(e: torch.Tensor) -> torch.Tensor:
        d = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), p=2, dim=2)
        return torch.einsum("ijd,ikd->ijk", d, d)

    return F.smooth_l1_loss(cos(s), cos(t))


def test_rkd_angle_chunked_equals_unchunked(monkeypatch: pytest.MonkeyPatch) -> None:
    s = rand(40, 12, seed=11).requires_grad_(True)
    t = rand(40, 20, seed=12)
    full = unchunked_angle(s, t)
    (g_full,) = torch.autograd.grad(full, s)
    for chunk in (None, 1, 7, 40, 100):
        value = rkd_angle(s, t, chunk)
        (g,) = torch.autograd.grad(value, s)
        assert value.item() == pytest.approx(full.item(), rel=RTOL)
        torch.testing.assert_close(g, g_full, rtol=1e-9, atol=1e-12)
    monkeypatch.setattr(relational, "ANGLE_CHUNK_ELEMENTS", 40 * 40 * 3)  # automatic chunks of 3 anchors
    assert rkd_angle(s, t).item() == pytest.approx(full.item(), rel=RTOL)


@pytest.mark.parametrize("fn", [rkd_distance, rkd_angle, rkd_area])
def test_rkd_scale_invariance_and_zero(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    s, t = rand(6, 5, seed=13), rand(6, 8, seed=14)
    base = fn(s, t).item()
    for c in (0.01, 3.0, 250.0):
        assert fn(c * s, t).item() == pytest.approx(base, rel=1e-9)
        assert fn(s, c * t).item() == pytest.approx(base, rel=1e-9)
    assert fn(s, 4.0 * s).item() == pytest.approx(0.0, abs=1e-13)


def test_rkd_translation_invariance_of_distance_and_angle() -> None:
    s, t = rand(6, 5, seed=15), rand(6, 5, seed=16)
    shift = rand(1, 5, seed=17)
    assert rkd_distance(s + shift, t).item() == pytest.approx(rkd_distance(s, t).item(), rel=1e-9)
    assert rkd_angle(s + shift, t).item() == pytest.approx(rkd_angle(s, t).item(), rel=1e-9)


def test_rkd_area_gradient_finite_for_parallel_and_duplicate_vectors() -> None:
    s = rand(5, 4, seed=18)
    s[2] = 2.0 * s[0]  # parallel: zero area
    s[3] = s[1]  # duplicate: zero area and zero distance
    s.requires_grad_(True)
    t = rand(5, 6, seed=19)
    for fn in (rkd_area, rkd_distance, rkd_angle):
        (g,) = torch.autograd.grad(fn(s, t), s)
        assert torch.isfinite(g).all()
