"""Token-level sequence divergences against float64 re-derivations written here (per-position loops over
``softmax``), masking, chunking, limits, gradcheck and input validation."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import Tensor

import kdtaxonomy.losses as L
from kdtaxonomy.losses import sequence

RTOL = 1e-10
Ref = Callable[[np.ndarray, np.ndarray], float]  # (p_t, p_s) -> per-position divergence


pytestmark = pytest.mark.usefixtures("one_thread")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    out: np.ndarray = e / e.sum()
    return out


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(sum(pk * math.log(pk / qk) for pk, qk in zip(p, q, strict=True) if pk > 0))


def ref_jsd(beta: float) -> Ref:
    def d(pt: np.ndarray, ps: np.ndarray) -> float:
        m = beta * pt + (1 - beta) * ps
        return beta * kl(pt, m) + (1 - beta) * kl(ps, m)

    return d


REFS: dict[str, Ref] = {
    "forward_kl": lambda pt, ps: kl(pt, ps),
    "reverse_kl": lambda pt, ps: kl(ps, pt),
    "generalized_jsd": ref_jsd(0.5),
    "skew_kl": lambda pt, ps: kl(pt, 0.1 * pt + 0.9 * ps),
    "skew_reverse_kl": lambda pt, ps: kl(ps, 0.1 * ps + 0.9 * pt),
    "total_variation": lambda pt, ps: 0.5 * float(np.abs(pt - ps).sum()),
}
NAMES = sorted(REFS)


def fn(name: str) -> Callable[..., Tensor]:
    f: Callable[..., Tensor] = getattr(L, name)
    return f


def reference(d: Ref, s: Tensor, t: Tensor, mask: Tensor | None, temp: float = 1.0) -> float:
    """Mean over the masked-in positions of ``d(softmax(t/T), softmax(s/T))``, one position at a time."""
    v = s.shape[-1]
    s2, t2 = s.detach().reshape(-1, v).numpy(), t.detach().reshape(-1, v).numpy()
    keep = np.ones(len(s2), bool) if mask is None else mask.reshape(-1).numpy()
    vals = [d(softmax(t2[i] / temp), softmax(s2[i] / temp)) for i in range(len(s2)) if keep[i]]
    return sum(vals) / len(vals)


def data(shape: tuple[int, ...], seed: int, scale: float = 2.0) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    t = scale * torch.randn(*shape, generator=g, dtype=torch.float64)
    mask = torch.rand(*shape[:-1], generator=g) > 0.35
    mask.view(-1)[0] = True  # at least one position counts
    return s, t, mask


def close(value: Tensor, ref: float) -> None:
    assert value.dim() == 0
    assert value.item() == pytest.approx(ref, rel=RTOL, abs=1e-13)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(2, 5, 7), (6, 7), (1, 1, 3)])
@pytest.mark.parametrize("temp", [1.0, 2.5])
def test_matches_reference(name: str, shape: tuple[int, ...], temp: float) -> None:
    s, t, mask = data(shape, 1)
    close(fn(name)(s, t, mask, temperature=temp), reference(REFS[name], s, t, mask, temp))
    close(fn(name)(s, t, None, temperature=temp), reference(REFS[name], s, t, None, temp))


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
def test_generalized_jsd_beta(beta: float) -> None:
    s, t, mask = data((2, 5, 7), 2)
    close(L.generalized_jsd(s, t, mask, beta), reference(ref_jsd(beta), s, t, mask))


@pytest.mark.parametrize("alpha", [0.05, 0.5, 0.9])
def test_skew_alpha(alpha: float) -> None:
    s, t, mask = data((2, 5, 7), 3)
    close(
        L.skew_kl(s, t, mask, alpha),
        reference(lambda pt, ps: kl(pt, alpha * pt + (1 - alpha) * ps), s, t, mask),
    )
    close(
        L.skew_reverse_kl(s, t, mask, alpha),
        reference(lambda pt, ps: kl(ps, alpha * ps + (1 - alpha) * pt), s, t, mask),
    )


@pytest.mark.parametrize("name", NAMES)
def test_masked_out_positions_never_contribute(name: str) -> None:
    s, t, mask = data((2, 5, 7), 4)
    value = fn(name)(s, t, mask)
    (grad,) = torch.autograd.grad(value, s)
    for fill in (1e30, math.nan):
        s2 = s.detach().clone()
        t2 = t.clone()
        s2[~mask] = fill * torch.randn(int((~mask).sum()), 7, dtype=torch.float64)
        t2[~mask] = -fill * torch.randn(int((~mask).sum()), 7, dtype=torch.float64)
        s2.requires_grad_(True)
        value2 = fn(name)(s2, t2, mask)
        (grad2,) = torch.autograd.grad(value2, s2)
        assert value2.item() == value.item()
        assert torch.equal(grad2, grad)
    assert torch.all(grad[~mask] == 0)


@pytest.mark.parametrize("name", NAMES)
def test_mean_over_masked_positions(name: str) -> None:
    s, t, mask = data((2, 5, 7), 5)
    per_position = [
        fn(name)(s[i : i + 1, j : j + 1], t[i : i + 1, j : j + 1]) for i, j in mask.nonzero().tolist()
    ]
    close(fn(name)(s, t, mask), sum(p.item() for p in per_position) / len(per_position))
    close(fn(name)(s, t, mask), fn(name)(s[mask], t[mask]).item())  # the selected (N, V) rows
    # padding with positions that do not count leaves the mean unchanged
    pad = torch.zeros(2, 3, 7, dtype=torch.float64)
    padded = fn(name)(
        torch.cat([s, pad], 1), torch.cat([t, pad + 1], 1), torch.cat([mask, pad[..., 0] > 0], 1)
    )
    close(padded, fn(name)(s, t, mask).item())


@pytest.mark.parametrize("name", NAMES)
def test_empty_mask_is_zero_with_gradient(name: str) -> None:
    s, t, _ = data((2, 5, 7), 6)
    value = fn(name)(s, t, torch.zeros(2, 5, dtype=torch.bool))
    assert value.item() == 0.0
    (grad,) = torch.autograd.grad(value, s)
    assert torch.equal(grad, torch.zeros_like(s))
    assert fn(name)(s[:0, :], t[:0, :]).item() == 0.0  # no position at all


def test_beta_limits() -> None:
    s, t, mask = data((2, 5, 7), 7)
    assert torch.equal(L.generalized_jsd(s, t, mask, beta=0.0), L.forward_kl(s, t, mask))
    assert torch.equal(L.generalized_jsd(s, t, mask, beta=1.0), L.reverse_kl(s, t, mask))
    # the interior formula tends to 0 at the ends, like beta * forward KL and (1 - beta) * reverse KL
    eps = 1e-6
    fwd, rev = L.forward_kl(s, t, mask).item(), L.reverse_kl(s, t, mask).item()
    assert L.generalized_jsd(s, t, mask, beta=eps).item() / eps == pytest.approx(fwd, rel=1e-4)
    assert L.generalized_jsd(s, t, mask, beta=1 - eps).item() / eps == pytest.approx(rev, rel=1e-4)


def test_skew_limits() -> None:
    s, t, mask = data((2, 5, 7), 8)
    assert torch.equal(L.skew_kl(s, t, mask, alpha=0.0), L.forward_kl(s, t, mask))
    assert torch.equal(L.skew_reverse_kl(s, t, mask, alpha=0.0), L.reverse_kl(s, t, mask))
    for f in (L.skew_kl, L.skew_reverse_kl):
        value = f(s, t, mask, alpha=1.0)
        assert value.item() == 0.0
        (grad,) = torch.autograd.grad(value, s)
        assert torch.equal(grad, torch.zeros_like(s))
        assert f(s, t, mask, alpha=1 - 1e-9).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_scale_by_t2(name: str) -> None:
    s, t, mask = data((2, 5, 7), 9)
    plain = fn(name)(s, t, mask, temperature=3.0)
    close(fn(name)(s, t, mask, temperature=3.0, scale_by_t2=True), 9.0 * plain.item())
    close(fn(name)(s, t, mask, scale_by_t2=True), fn(name)(s, t, mask).item())  # T = 1


def test_identical_distributions_give_zero() -> None:
    s, _, mask = data((2, 5, 7), 10)
    for name in NAMES:
        assert fn(name)(s, s.detach().clone(), mask).item() == pytest.approx(0.0, abs=1e-14)


def test_mask_from_labels() -> None:
    labels = torch.tensor([[3, -100, 0, 5], [-100, -100, 1, 2]])
    expected = torch.tensor([[True, False, True, True], [False, False, True, True]])
    assert torch.equal(L.mask_from_labels(labels), expected)
    assert torch.equal(L.mask_from_labels(labels, ignore_index=0), labels != 0)
    assert L.mask_from_labels(labels).dtype == torch.bool
    s, t, _ = data((2, 4, 7), 11)
    close(L.forward_kl(s, t, L.mask_from_labels(labels)), reference(REFS["forward_kl"], s, t, expected))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("masked", [True, False])
def test_chunked_equals_unchunked(name: str, masked: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    s, t, mask = data((3, 6, 7), 12)
    m = mask if masked else None
    value = fn(name)(s, t, m, temperature=1.5, chunk_size=10**6)
    (grad,) = torch.autograd.grad(value, s)
    monkeypatch.setattr(sequence, "CHUNK_ELEMENTS", 14)  # default chunks of 2 rows
    for chunk in (1, 2, 5, None):
        value_c = fn(name)(s, t, m, temperature=1.5, chunk_size=chunk)
        (grad_c,) = torch.autograd.grad(value_c, s)
        assert value_c.item() == pytest.approx(value.item(), rel=1e-12, abs=1e-15)
        torch.testing.assert_close(grad_c, grad, rtol=1e-12, atol=1e-15)
    with torch.no_grad():
        assert fn(name)(s, t, m, temperature=1.5, chunk_size=2).item() == pytest.approx(
            value.item(), rel=1e-12
        )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chunk", [2, None])
def test_gradcheck(name: str, chunk: int | None) -> None:
    s, t, mask = data((2, 3, 4), 13, scale=1.0)
    extra = {"generalized_jsd": {"beta": 0.3}, "skew_kl": {"alpha": 0.2}, "skew_reverse_kl": {"alpha": 0.2}}

    def f(x: Tensor) -> Tensor:
        return fn(name)(x, t, mask, temperature=1.7, chunk_size=chunk, **extra.get(name, {}))

    assert torch.autograd.gradcheck(f, (s,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_teacher_is_detached(name: str) -> None:
    s, t, mask = data((2, 5, 7), 14)
    t.requires_grad_(True)
    value = fn(name)(s, t, mask, chunk_size=3)
    grad_s, grad_t = torch.autograd.grad(value, [s, t], allow_unused=True)
    assert grad_t is None and grad_s is not None


@pytest.mark.parametrize("name", [n for n in NAMES if n != "reverse_kl"])
def test_teacher_minus_inf_logits(name: str) -> None:
    s, t, mask = data((2, 5, 7), 15)
    t[..., :2] = -math.inf  # two tokens the teacher excludes
    value = fn(name)(s, t, mask, chunk_size=3)
    (grad,) = torch.autograd.grad(value, s)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    close(value, reference(REFS[name], s, t, mask))
    assert L.reverse_kl(s, t, mask).item() == math.inf


def test_low_precision_inputs_are_computed_in_float32() -> None:
    s, t, mask = data((2, 5, 7), 16)
    for dtype in (torch.float32, torch.bfloat16):
        s_low, t_low = s.detach().to(dtype), t.to(dtype)
        value = L.generalized_jsd(s_low, t_low, mask)
        assert value.dtype == torch.float32
        expected = reference(REFS["generalized_jsd"], s_low.double(), t_low.double(), mask)
        assert value.item() == pytest.approx(expected, rel=1e-5)


def test_module_forms() -> None:
    s, t, mask = data((2, 5, 7), 17)
    pairs: list[tuple[torch.nn.Module, Tensor]] = [
        (L.TokenForwardKL(2.0), L.forward_kl(s, t, mask, 2.0)),
        (L.TokenReverseKL(scale_by_t2=True), L.reverse_kl(s, t, mask, scale_by_t2=True)),
        (L.GeneralizedJSD(0.3, 1.5, chunk_size=2), L.generalized_jsd(s, t, mask, 0.3, 1.5)),
        (L.SkewKL(0.2), L.skew_kl(s, t, mask, 0.2)),
        (L.SkewReverseKL(0.2, 2.0), L.skew_reverse_kl(s, t, mask, 0.2, 2.0)),
        (L.TokenTotalVariation(), L.total_variation(s, t, mask)),
    ]
    for module, expected in pairs:
        close(module(s, t, mask), expected.item())
    assert (
        repr(L.GeneralizedJSD(0.3))
        == "GeneralizedJSD(beta=0.3, temperature=1.0, scale_by_t2=False, chunk_size=None)"
    )
    assert "alpha=0.2" in repr(L.SkewReverseKL(0.2))


def test_errors() -> None:
    s, t, mask = data((2, 5, 7), 18)
    with pytest.raises(ValueError, match=r"same shape, got \(2, 5, 7\) and \(2, 5, 6\)"):
        L.forward_kl(s, t[..., :6])
    with pytest.raises(ValueError, match=r"shape \(B, T, V\) or \(N, V\)"):
        L.reverse_kl(s[0, 0], t[0, 0])
    with pytest.raises(ValueError, match=r"shape \(B, T, V\) or \(N, V\)"):
        L.reverse_kl(s[None], t[None])
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 5\).*got \(2, 4\)"):
        L.total_variation(s, t, mask[:, :4])
    with pytest.raises(ValueError, match=r"mask must be a boolean tensor.*mask_from_labels"):
        L.skew_kl(s, t, mask.long())
    for beta in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"beta must be in \[0, 1\]"):
            L.generalized_jsd(s, t, mask, beta=beta)
        with pytest.raises(ValueError, match=r"beta must be in \[0, 1\]"):
            L.GeneralizedJSD(beta)
    for alpha in (-1e-3, 1.01):
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            L.skew_kl(s, t, mask, alpha=alpha)
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            L.skew_reverse_kl(s, t, mask, alpha=alpha)
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            L.SkewReverseKL(alpha)
    for temp in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            L.forward_kl(s, t, mask, temperature=temp)
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            L.TokenForwardKL(temp)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        L.forward_kl(s, t, mask, chunk_size=0)
