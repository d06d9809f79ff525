"""Feature-map and batch-similarity losses against float64 re-derivations (explicit loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kdtaxonomy.losses import (
    assistant_distillation_loss,
    assistant_feature_matching,
    attention_transfer,
    correlation_congruence,
    fitnets,
    nst,
    similarity_preserving,
    vid,
)
from kdtaxonomy.registry import REGISTRY

RTOL = 1e-10


def rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def close(value: torch.Tensor, ref: float) -> None:
    assert value.dim() == 0
    assert value.item() == pytest.approx(ref, rel=RTOL, abs=1e-13)


def adaptive_pool(x: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Adaptive average pooling of one (C, *spatial) map: bins [floor(i*n/o), ceil((i+1)*n/o))."""

    def bins(n: int, o: int) -> list[tuple[int, int]]:
        return [(math.floor(i * n / o), math.ceil((i + 1) * n / o)) for i in range(o)]

    if len(size) == 1:
        return np.stack([x[:, a:b].mean(axis=1) for a, b in bins(x.shape[1], size[0])], axis=1)
    out = np.zeros((x.shape[0], *size))
    for i, (a, b) in enumerate(bins(x.shape[1], size[0])):
        for j, (c, d) in enumerate(bins(x.shape[2], size[1])):
            out[:, i, j] = x[:, a:b, c:d].mean(axis=(1, 2))
    return out


def normalise(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.sqrt((v * v).sum())), 1e-12)


MAP_PAIRS = [
    ((3, 4, 10), (3, 6, 10)),  # 1-D maps, equal length
    ((4, 3, 12), (4, 5, 8)),  # 1-D maps, student longer
    ((2, 3, 4, 4), (2, 5, 4, 4)),  # 2-D maps
    ((3, 2, 6, 5), (3, 4, 3, 5)),  # 2-D maps, different heights
]


def ref_attention(s: torch.Tensor, t: torch.Tensor, p: float) -> float:
    b = s.shape[0]
    size = tuple(min(a, c) for a, c in zip(s.shape[2:], t.shape[2:], strict=True))
    total, count = 0.0, 0
    for i in range(b):
        fs = adaptive_pool(s[i].numpy(), size)
        ft = adaptive_pool(t[i].numpy(), size)
        qs = normalise((np.abs(fs) ** p).mean(axis=0).ravel())
        qt = normalise((np.abs(ft) ** p).mean(axis=0).ravel())
        for a, c in zip(qs, qt, strict=True):
            total += (a - c) ** 2
            count += 1
    return total / count


@pytest.mark.parametrize(("s_shape", "t_shape"), MAP_PAIRS)
@pytest.mark.parametrize("p", [2.0, 1.5])
def test_attention_transfer(s_shape: tuple[int, ...], t_shape: tuple[int, ...], p: float) -> None:
    s, t = rand(*s_shape, seed=1), rand(*t_shape, seed=2)
    close(attention_transfer(s, t, p), ref_attention(s, t, p))
    close(attention_transfer(t, s, p), ref_attention(t, s, p))
    assert attention_transfer(s, s.clone() * 3.0).item() == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize(("s_shape", "t_shape"), [((5, 3, 4), (5, 7)), ((4, 2, 3, 3), (4, 6, 2, 2))])
def test_similarity_preserving(s_shape: tuple[int, ...], t_shape: tuple[int, ...]) -> None:
    s, t = rand(*s_shape, seed=3), rand(*t_shape, seed=4)
    b = s.shape[0]
    fs, ft = s.reshape(b, -1).numpy(), t.reshape(b, -1).numpy()
    gs = [normalise(np.array([fs[i] @ fs[j] for j in range(b)])) for i in range(b)]
    gt = [normalise(np.array([ft[i] @ ft[j] for j in range(b)])) for i in range(b)]
    ref = sum((gt[i][j] - gs[i][j]) ** 2 for i in range(b) for j in range(b)) / b**2
    close(similarity_preserving(s, t), ref)
    assert similarity_preserving(s, s.clone()).item() == pytest.approx(0.0, abs=1e-15)


def ref_correlation(x: torch.Tensor, gamma: float, order: int | None) -> np.ndarray:
    b = x.shape[0]
    f = [normalise(v) for v in x.reshape(b, -1).numpy()]
    c = np.zeros((b, b))
    for i in range(b):
        for j in range(b):
            if order is None:
                c[i, j] = math.exp(-gamma * float(((f[i] - f[j]) ** 2).sum()))
            else:
                dot = float(f[i] @ f[j])
                c[i, j] = sum(
                    math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p) * dot**p
                    for p in range(order + 1)
                )
    return c


@pytest.mark.parametrize(("b", "ds", "dt"), [(2, 3, 3), (6, 4, 9), (9, 16, 5)])
@pytest.mark.parametrize(("gamma", "order"), [(0.4, 2), (0.4, None), (1.3, 0), (0.7, 5)])
def test_correlation_congruence(b: int, ds: int, dt: int, gamma: float, order: int | None) -> None:
    s, t = rand(b, ds, seed=5), rand(b, dt, seed=6)
    cs, ct = ref_correlation(s, gamma, order), ref_correlation(t, gamma, order)
    ref = sum((ct[i, j] - cs[i, j]) ** 2 for i in range(b) for j in range(b)) / b**2
    close(correlation_congruence(s, t, gamma, order), ref)


def test_correlation_congruence_taylor_converges_and_zero() -> None:
    s, t = rand(7, 5, seed=7), rand(7, 8, seed=8)
    exact = correlation_congruence(s, t, 0.4, None).item()
    assert correlation_congruence(s, t, 0.4, 25).item() == pytest.approx(exact, rel=1e-9)
    assert correlation_congruence(s, 2.0 * s, 0.4, 2).item() == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize(("s_shape", "t_shape"), MAP_PAIRS)
def test_nst(s_shape: tuple[int, ...], t_shape: tuple[int, ...]) -> None:
    s, t = rand(*s_shape, seed=9), rand(*t_shape, seed=10)
    b = s.shape[0]
    size = tuple(min(a, c) for a, c in zip(s.shape[2:], t.shape[2:], strict=True))
    sums = {"tt": 0.0, "ss": 0.0, "st": 0.0}
    counts = {"tt": 0, "ss": 0, "st": 0}
    for i in range(b):
        fs = [normalise(c.ravel()) for c in adaptive_pool(s[i].numpy(), size)]
        ft = [normalise(c.ravel()) for c in adaptive_pool(t[i].numpy(), size)]
        for key, xs, ys in (("tt", ft, ft), ("ss", fs, fs), ("st", fs, ft)):
            for x in xs:
                for y in ys:
                    sums[key] += float(x @ y) ** 2
                    counts[key] += 1
    ref = sums["tt"] / counts["tt"] + sums["ss"] / counts["ss"] - 2 * sums["st"] / counts["st"]
    close(nst(s, t), ref)
    assert nst(s, s.clone()).item() == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize("shape", [(3, 4), (3, 2, 5), (2, 3, 2, 4)])
def test_fitnets(shape: tuple[int, ...]) -> None:
    r, t = rand(*shape, seed=11), rand(*shape, seed=12)
    flat_r, flat_t = r.numpy().ravel(), t.numpy().ravel()
    ref = sum((a - c) ** 2 for a, c in zip(flat_r, flat_t, strict=True)) / flat_r.size
    close(fitnets(r, t), ref)
    assert fitnets(t, t.clone()).item() == 0.0


def test_fitnets_module_regressor_pools_then_projects() -> None:
    loss = REGISTRY.get("loss", "fitnets").obj(s_shape=(3, 12), t_shape=(5, 6)).double()
    s, t = rand(2, 3, 12, seed=13), rand(2, 5, 6, seed=14)
    w = loss.regressor.weight.detach().numpy()[:, :, 0]
    bias = loss.regressor.bias.detach().numpy()
    ref = 0.0
    for i in range(2):
        pooled = adaptive_pool(s[i].numpy(), (6,))
        out = w @ pooled + bias[:, None]
        ref += float(((out - t[i].numpy()) ** 2).sum())
    close(loss(s, t), ref / t.numel())


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (3, 2, 2, 3)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_vid(shape: tuple[int, ...], eps: float) -> None:
    mu, t = rand(*shape, seed=15), rand(*shape, seed=16)
    alpha = rand(shape[1], seed=17)
    var = [math.log1p(math.exp(a)) + eps for a in alpha.tolist()]
    b, c = shape[0], shape[1]
    positions = math.prod(shape[2:])
    mu_n, t_n = mu.numpy().reshape(b, c, positions), t.numpy().reshape(b, c, positions)
    ref = 0.0
    for i in range(b):
        for ch in range(c):
            for x in range(positions):
                ref += 0.5 * math.log(var[ch]) + (t_n[i, ch, x] - mu_n[i, ch, x]) ** 2 / (2 * var[ch])
    close(vid(mu, t, alpha, eps), ref / (b * positions))


def ref_kl_softmax(a: np.ndarray, s: np.ndarray) -> float:
    p, q = np.exp(a - a.max()), np.exp(s - s.max())
    p, q = p / p.sum(), q / q.sum()
    return float(sum(pk * math.log(pk / qk) for pk, qk in zip(p, q, strict=True)))


@pytest.mark.parametrize("shape", [(4, 6), (3, 2, 5), (2, 2, 3, 3)])
def test_assistant_feature_matching(shape: tuple[int, ...]) -> None:
    s, a = rand(*shape, seed=18), rand(*shape, seed=19)
    b = shape[0]
    ref = sum(ref_kl_softmax(a[i].numpy().ravel(), s[i].numpy().ravel()) for i in range(b)) / b
    close(assistant_feature_matching(s, a), 0.4 * ref)
    close(assistant_feature_matching(s, a, lam=1.0), ref)
    assert assistant_feature_matching(s, s.clone()).item() == pytest.approx(0.0, abs=1e-15)


def test_assistant_distillation_loss_eq4_eq5() -> None:
    b, k, tau, alpha, lam = 5, 4, 3.0, 0.4, 0.4
    s_log, a_log = rand(b, k, seed=20), rand(b, k, seed=21)
    y = torch.tensor([0, 3, 1, 1, 2])
    s_f, a_f = rand(b, 7, seed=22), rand(b, 7, seed=23)
    ce = kd = feat = 0.0
    for i in range(b):
        z = s_log[i].numpy()
        ce += -(z[int(y[i])] - z.max() - math.log(np.exp(z - z.max()).sum()))
        kd += ref_kl_softmax(a_log[i].numpy() / tau, z / tau)
        feat += ref_kl_softmax(a_f[i].numpy(), s_f[i].numpy())
    eq4 = (1 - alpha) * ce / b + alpha * tau**2 * kd / b
    close(assistant_distillation_loss(s_log, a_log, y, temperature=tau), eq4)
    close(assistant_distillation_loss(s_log, a_log, y, s_f, a_f, temperature=tau), eq4 + lam * feat / b)
