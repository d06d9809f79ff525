"""PKT, MMD, cosine embedding and CRD against float64 re-derivations; CRD memory-bank behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdtaxonomy.losses import cosine_embedding, crd_nce, mmd, pkt
from kdtaxonomy.losses.crd import CRD

RTOL = 1e-10


def rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def close(value: torch.Tensor, ref: float) -> None:
    assert value.dim() == 0
    assert value.item() == pytest.approx(ref, rel=RTOL, abs=1e-13)


@pytest.mark.parametrize(("b", "ds", "dt"), [(2, 3, 3), (6, 4, 9), (9, 2, 5)])
@pytest.mark.parametrize("eps", [1e-7, 1e-3])
def test_pkt(b: int, ds: int, dt: int, eps: float) -> None:
    s, t = rand(b, ds, seed=1), rand(b, dt, seed=2)

    def conditional(x: torch.Tensor) -> list[list[float]]:
        rows = [v / (np.linalg.norm(v) + eps) for v in x.numpy()]
        k = [[(float(rows[i] @ rows[j]) + 1) / 2 for j in range(b)] for i in range(b)]
        return [[v / sum(row) for v in row] for row in k]

    ps, pt = conditional(s), conditional(t)
    ref = sum(pt[i][j] * math.log((pt[i][j] + eps) / (ps[i][j] + eps)) for i in range(b) for j in range(b))
    close(pkt(s, t, eps), ref / b**2)
    assert pkt(s, 2.0 * s).item() == pytest.approx(0.0, abs=1e-12)


def mmd_reference(s: torch.Tensor, t: torch.Tensor, bandwidths: tuple[float, ...]) -> float:
    xs = [v / np.linalg.norm(v) for v in t.reshape(t.shape[0], -1).numpy()]
    ys = [v / np.linalg.norm(v) for v in s.reshape(s.shape[0], -1).numpy()]

    def k(a: np.ndarray, b: np.ndarray) -> float:
        d2 = float(((a - b) ** 2).sum())
        return sum(math.exp(-d2 / (2 * sg * sg)) for sg in bandwidths)

    def mean_k(u: list[np.ndarray], v: list[np.ndarray]) -> float:
        return sum(k(a, b) for a in u for b in v) / (len(u) * len(v))

    return math.sqrt(max(mean_k(xs, xs) - 2 * mean_k(xs, ys) + mean_k(ys, ys), 0.0))


@pytest.mark.parametrize(("b", "d"), [(2, 3), (5, 4), (8, 16)])
@pytest.mark.parametrize("bandwidths", [(0.25, 0.5, 1.0, 2.0, 4.0), (0.3,)])
def test_mmd(b: int, d: int, bandwidths: tuple[float, ...]) -> None:
    s, t = rand(b, d, seed=3), rand(b, d, seed=4) + 0.5
    close(mmd(s, t, bandwidths), mmd_reference(s, t, bandwidths))


def test_mmd_zero_with_finite_gradient() -> None:
    t = rand(6, 5, seed=5)
    s = (3.0 * t).clone().requires_grad_(True)  # same directions: identical after L2 normalisation
    value = mmd(s, t)
    assert value.item() == pytest.approx(0.0, abs=1e-7)
    (g,) = torch.autograd.grad(value, s)
    assert torch.isfinite(g).all()
    exact = t.clone().requires_grad_(True)
    value = mmd(exact, t)
    assert value.item() == 0.0
    (g,) = torch.autograd.grad(value, exact)
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("shape", [(1, 3), (5, 4), (4, 2, 3)])
def test_cosine_embedding(shape: tuple[int, ...]) -> None:
    s, t = rand(*shape, seed=6), rand(*shape, seed=7)
    b = shape[0]
    fs, ft = s.reshape(b, -1).numpy(), t.reshape(b, -1).numpy()
    ref = (
        sum(1 - float(fs[i] @ ft[i]) / float(np.linalg.norm(fs[i]) * np.linalg.norm(ft[i])) for i in range(b))
        / b
    )
    close(cosine_embedding(s, t), ref)
    assert cosine_embedding(s, 5.0 * s).item() == pytest.approx(0.0, abs=1e-14)


def crd_reference(
    s: torch.Tensor,
    t: torch.Tensor,
    s_mem: torch.Tensor,
    t_mem: torch.Tensor,
    n: int,
    tau: float,
    lzs: float,
    lzt: float,
) -> float:
    def side(emb: np.ndarray, mem: np.ndarray, log_z: float) -> float:
        b, k1, _ = mem.shape
        noise = (k1 - 1) / n
        total = 0.0
        for i in range(b):
            for j in range(k1):
                p = math.exp(float(mem[i, j] @ emb[i]) / tau - log_z)
                h = p / (p + noise)
                total += math.log(h) if j == 0 else math.log(1 - h)
        return -total / float(b)

    return side(s.numpy(), t_mem.numpy(), lzs) + side(t.numpy(), s_mem.numpy(), lzt)


@pytest.mark.parametrize(("b", "k", "d"), [(1, 1, 3), (4, 6, 5), (6, 3, 8)])
@pytest.mark.parametrize(("tau", "lzs", "lzt"), [(0.07, 0.0, 0.0), (0.07, 9.5, 11.0), (0.5, -1.0, 2.0)])
def test_crd_nce(b: int, k: int, d: int, tau: float, lzs: float, lzt: float) -> None:
    n = 50
    s, t = F.normalize(rand(b, d, seed=8), dim=1), F.normalize(rand(b, d, seed=9), dim=1)
    s_mem = F.normalize(rand(b, k + 1, d, seed=10), dim=2)
    t_mem = F.normalize(rand(b, k + 1, d, seed=11), dim=2)
    ref = crd_reference(s, t, s_mem, t_mem, n, tau, lzs, lzt)
    close(crd_nce(s, t, s_mem, t_mem, n, tau, lzs, lzt), ref)


def test_crd_negatives_exclude_positive_and_cover_range() -> None:
    torch.manual_seed(0)
    loss = CRD(s_shape=(6,), t_shape=(4,), num_samples=20, num_negatives=4096)
    assert loss.num_negatives == 19
    idx = torch.arange(20)
    contrast = loss.sample_contrast(idx)
    assert contrast.shape == (20, 20)
    assert torch.equal(contrast[:, 0], idx)
    neg = contrast[:, 1:]
    assert bool((neg != idx.unsqueeze(1)).all())
    assert int(neg.min()) == 0 and int(neg.max()) == 19


def test_crd_memory_update_and_fixed_normaliser() -> None:
    torch.manual_seed(1)
    loss = CRD(s_shape=(6,), t_shape=(4,), num_samples=30, num_negatives=8, momentum=0.5)
    s, t = torch.randn(5, 6), torch.randn(5, 4)
    idx = torch.tensor([3, 7, 0, 29, 12])
    before = loss.memory_s.clone()
    loss.eval()
    loss(s, t, indices=idx)
    assert torch.equal(loss.memory_s, before)  # no update in eval mode
    log_z = (loss.log_z_s.clone(), loss.log_z_t.clone())
    assert torch.isfinite(log_z[0]) and torch.isfinite(log_z[1])
    loss.train()
    loss(s, t, indices=idx)
    v_s = F.normalize(loss.embed_s(s), dim=1).detach()
    expected = F.normalize(0.5 * before[idx] + 0.5 * v_s, dim=1)
    torch.testing.assert_close(loss.memory_s[idx], expected)
    others = torch.ones(30, dtype=torch.bool)
    others[idx] = False
    assert torch.equal(loss.memory_s[others], before[others])
    torch.testing.assert_close(loss.memory_s.norm(dim=1), torch.ones(30))
    assert torch.equal(loss.log_z_s, log_z[0]) and torch.equal(loss.log_z_t, log_z[1])


def test_crd_requires_indices_and_dataset_size() -> None:
    with pytest.raises(ValueError):
        CRD(s_shape=(6,), t_shape=(4,), num_samples=0)
    loss = CRD(s_shape=(6,), t_shape=(4,), num_samples=10)
    with pytest.raises(ValueError, match="indices"):
        loss(torch.randn(2, 6), torch.randn(2, 4))
