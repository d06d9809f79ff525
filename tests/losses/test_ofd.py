"""OFD (Heo et al. 2019): the Gaussian margin against numerical integration, the partial L2 distance against a
float64 loop over the elements, its zero region, the module's connector and margin estimates, and the
pre-ReLU locations of the registry's CNNs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import kdtaxonomy.losses as L
from kdtaxonomy.hooks import FeatureTap
from kdtaxonomy.losses.ofd import margin_from_batchnorm, margin_relu, partial_l2
from kdtaxonomy.models import build_model
from kdtaxonomy.registry import REGISTRY


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def negative_mean_by_integration(mean: float, std: float) -> float:
    """``E[x | x < 0]`` of ``N(mean, std^2)`` by the trapezoid rule over ``[mean - 40 std, 0]``."""
    x = np.linspace(min(mean - 40 * std, -1e-9), 0.0, 400_001)
    density = np.exp(-0.5 * ((x - mean) / std) ** 2)
    return float(np.trapezoid(x * density, x) / np.trapezoid(density, x))


@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (1.3, 0.7), (-2.0, 1.5), (4.0, 1.0), (0.2, 3.0)])
def test_gaussian_margin_is_the_mean_of_the_negative_part(mean: float, std: float) -> None:
    expected = negative_mean_by_integration(mean, std)
    got = L.gaussian_margin(
        torch.tensor([mean], dtype=torch.float64), torch.tensor([std], dtype=torch.float64)
    )
    assert got.item() == pytest.approx(expected, rel=1e-6, abs=1e-9)
    if mean == 0.0:  # half-normal: -std sqrt(2 / pi)
        assert got.item() == pytest.approx(-std * math.sqrt(2 / math.pi), rel=1e-12)


def test_gaussian_margin_limits() -> None:
    mean = torch.tensor([60.0, -3.0, 2.0, -1.0], dtype=torch.float64)
    std = torch.tensor([1.0, 0.0, 0.0, 1e-3], dtype=torch.float64)
    got = L.gaussian_margin(mean, std)
    assert torch.isfinite(got).all() and bool((got <= 0).all())
    # never negative in practice: the limit 0 (-std^2 / mean); a constant negative channel: its value
    assert got[0].item() == pytest.approx(0.0, abs=0.02)
    assert got[1].item() == pytest.approx(-3.0) and got[2].item() == 0.0
    assert got[3].item() == pytest.approx(-1.0, abs=1e-3)


def test_margin_from_batchnorm_takes_shift_and_absolute_scale() -> None:
    bn = nn.BatchNorm1d(3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    expected = [negative_mean_by_integration(m, abs(s)) for m, s in [(0.0, 1.0), (1.0, -2.0), (-1.0, 0.5)]]
    np.testing.assert_allclose(margin_from_batchnorm(bn).numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="affine"):
        margin_from_batchnorm(nn.BatchNorm1d(3, affine=False))


def ofd_reference(s: np.ndarray, t: np.ndarray, margin: np.ndarray) -> float:
    """``(1/B) sum_i [0 if S_i <= T'_i <= 0 else (T'_i - S_i)^2]``, ``T' = max(T, m_c)``, element by element."""
    total = 0.0
    for index in np.ndindex(*s.shape):
        target = max(float(t[index]), float(margin[index[1]]))
        student = float(s[index])
        if not (student <= target <= 0.0):
            total += (target - student) ** 2
    return total / s.shape[0]


@pytest.mark.parametrize("shape", [(4, 3, 5), (3, 2, 3, 4), (5, 6)])
def test_ofd_matches_the_elementwise_formula(shape: tuple[int, ...]) -> None:
    s, t = _rand(*shape, seed=1), _rand(*shape, seed=2)
    margin = -_rand(shape[1], seed=3).abs()
    expected = ofd_reference(s.numpy(), t.numpy(), margin.numpy())
    assert L.ofd(s, t, margin).item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="teacher's shape"):
        L.ofd(s, t[:1], margin)
    with pytest.raises(ValueError, match="one margin per channel"):
        L.ofd(s, t, margin[:1])


def test_partial_l2_zero_region_and_its_gradient() -> None:
    # margin -1 on the one channel: T' = max(T, -1)
    t = torch.tensor([[[-3.0, -0.5, -0.5, 0.0, 0.0, 2.0, 2.0]]], dtype=torch.float64)
    s = torch.tensor([[[-4.0, -2.0, 0.5, -1.0, 1.0, 0.5, 3.0]]], dtype=torch.float64, requires_grad=True)
    target = margin_relu(t, torch.tensor([-1.0], dtype=torch.float64))
    assert target.flatten().tolist() == [-1.0, -0.5, -0.5, 0.0, 0.0, 2.0, 2.0]
    d = partial_l2(s, target)
    # skipped where the student is below a non-positive (transformed) teacher; a positive teacher always counts
    assert d.flatten().tolist() == pytest.approx([0.0, 0.0, 1.0, 0.0, 1.0, 2.25, 1.0])
    L.ofd(s, t, torch.tensor([-1.0], dtype=torch.float64)).backward()
    assert s.grad is not None
    assert s.grad.flatten().tolist() == pytest.approx([0.0, 0.0, 2.0, 0.0, 2.0, -3.0, 2.0])
    # a student already below every negative teacher response costs nothing
    low = torch.full_like(t, -10.0)
    assert L.ofd(low[..., :5], t[..., :5], torch.tensor([-1.0], dtype=torch.float64)).item() == 0.0


def _sums(batches: list[torch.Tensor]) -> np.ndarray:
    """Teacher responses of several batches, channel by channel: ``(C, all positions of all batches)``."""
    return np.concatenate([b.numpy().swapaxes(0, 1).reshape(b.shape[1], -1) for b in batches], axis=1)


def test_module_connector_margin_estimate_and_value() -> None:
    comp = REGISTRY.get("loss", "ofd")
    assert comp.term == "deep-features" and comp.extra["inputs"] == "features" and comp.extra["needs"] == ()
    torch.manual_seed(0)
    loss = comp.obj(s_shape=(3, 6), t_shape=(4, 6)).double()
    conv, bn = loss.connector[0], loss.connector[1]
    assert isinstance(conv, nn.Conv1d) and conv.kernel_size == (1,) and conv.bias is None
    assert isinstance(bn, nn.BatchNorm1d) and bn.num_features == 4
    teachers = [_rand(5, 4, 6, seed=10 + i) * 2 + 0.5 for i in range(3)]
    for i, t in enumerate(teachers):
        s = _rand(5, 3, 6, seed=20 + i).requires_grad_(True)
        value = loss(s, t)
        seen = _sums(teachers[: i + 1])
        mean, std = seen.mean(axis=1), seen.std(axis=1)
        margin = np.array([negative_mean_by_integration(m, d) for m, d in zip(mean, std, strict=True)])
        np.testing.assert_allclose(loss.margin().numpy(), margin, rtol=1e-5)
        # the connector output, recomputed: 1x1 convolution, then batch normalisation on the batch statistics
        w = conv.weight.detach().numpy()[:, :, 0]
        z = np.einsum("oc,bcl->bol", w, s.detach().numpy())
        z = (z - z.mean(axis=(0, 2), keepdims=True)) / np.sqrt(z.var(axis=(0, 2), keepdims=True) + bn.eps)
        assert value.item() == pytest.approx(ofd_reference(z, t.numpy(), loss.margin().numpy()), rel=1e-9)
    value.backward()
    assert s.grad is not None and conv.weight.grad is not None and bn.weight.grad is not None
    # evaluation mode reads the estimate without adding to it; the sums are part of the state dict
    before = loss.margin().clone()
    loss.eval()
    loss(_rand(5, 3, 6, seed=30), _rand(5, 4, 6, seed=31) - 3.0)
    torch.testing.assert_close(loss.margin(), before)
    assert {"seen", "total", "squares", "negative_total", "negative_count"} <= set(loss.state_dict())


def test_module_empirical_margin_fixed_margin_and_vectors() -> None:
    comp = REGISTRY.get("loss", "ofd")
    loss = comp.obj(s_shape=(3, 4, 4), t_shape=(2, 2, 2), margin_estimate="empirical").double()
    assert isinstance(loss.connector[0], nn.Conv2d)
    t = _rand(6, 2, 2, 2, seed=40)
    loss(_rand(6, 3, 4, 4, seed=41), t)  # the student's 4 x 4 map is pooled to the teacher's 2 x 2
    x = _sums([t])
    expected = [row[row < 0].mean() for row in x]
    np.testing.assert_allclose(loss.margin().numpy(), expected, rtol=1e-12)
    loss.set_margin(torch.tensor([-0.25, -2.0]))
    assert loss.margin().tolist() == [-0.25, -2.0]
    loss(_rand(6, 3, 4, 4, seed=42), t + 5.0)  # a fixed margin is not re-estimated
    assert loss.margin().tolist() == [-0.25, -2.0]
    with pytest.raises(ValueError, match="per teacher channel"):
        loss.set_margin(torch.zeros(3))
    vectors = comp.obj(s_shape=(5,), t_shape=(3,))
    assert isinstance(vectors.connector[0], nn.Linear) and isinstance(vectors.connector[1], nn.BatchNorm1d)
    assert torch.isfinite(vectors(torch.randn(4, 5), torch.randn(4, 3)))
    with pytest.raises(ValueError):
        comp.obj(s_shape=(5,), t_shape=(3, 4))
    with pytest.raises(ValueError):
        comp.validate_params({"margin_estimate": "bn"})


@pytest.mark.parametrize("dims", [1, 2])
def test_cnn_preact_locations_read_the_batchnorm_before_the_relu(dims: int) -> None:
    torch.manual_seed(0)
    shape = (1, 16) if dims == 1 else (1, 8, 8)
    model = build_model(
        "cnn1d" if dims == 1 else "cnn2d", {"size": "small"}, input_shape=shape, num_classes=3
    )
    assert model.locations["preact2"] == "body.block2.1"
    model.train()
    with FeatureTap(model, model.locations) as tap:
        model(torch.randn(4, *shape))
    for i in (1, 2, 3):
        pre, out = tap.features[f"preact{i}"], tap.features[f"block{i}"]
        assert bool((pre < 0).any()), "the pre-activation keeps its negative responses"
        pool = nn.functional.max_pool1d if dims == 1 else nn.functional.max_pool2d
        torch.testing.assert_close(out, pool(pre.relu(), 2, ceil_mode=True))
