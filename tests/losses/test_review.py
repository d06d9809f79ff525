"""KR (Chen et al. 2021, knowledge review): the hierarchical context loss and the attention-based fusion of
the module against a float64 loop re-derivation (1-D maps)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.registry import REGISTRY

Array = np.ndarray[Any, Any]


def pool(x: Array, size: int) -> Array:
    """Adaptive average pooling over the last axis: bin ``i`` averages ``[floor(i L/n), ceil((i+1) L/n))``."""
    n = x.shape[-1]
    bins = [x[..., (i * n) // size : math.ceil((i + 1) * n / size)].mean(axis=-1) for i in range(size)]
    return np.stack(bins, axis=-1)


def hcl_reference(fs: Array, ft: Array, sizes: tuple[int, ...] = (4, 2, 1)) -> float:
    loss, weight, total = float(((fs - ft) ** 2).mean()), 1.0, 1.0
    for k in sizes:
        if k >= fs.shape[2]:
            continue
        weight /= 2
        loss += weight * float(((pool(fs, k) - pool(ft, k)) ** 2).mean())
        total += weight
    return loss / total


def batch_norm(x: Array, eps: float = 1e-5) -> Array:
    """Training-mode batch norm of a ``(B, C, L)`` map with the initial affine (1, 0)."""
    mean = x.mean(axis=(0, 2), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2), keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def conv(x: Array, weight: Array, bias: Array | None = None) -> Array:
    """1-D convolution, stride 1, zero padding ``(k - 1) / 2``, by explicit sums over the taps."""
    b, _, n = x.shape
    k = weight.shape[2]
    pad = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2)))
    out = np.zeros((b, weight.shape[0], n))
    for tap in range(k):
        out += np.einsum("oc,bcl->bol", weight[:, :, tap], pad[:, :, tap : tap + n])
    return out if bias is None else out + bias[None, :, None]


def nearest(x: Array, size: int) -> Array:
    return x[:, :, [(i * x.shape[2]) // size for i in range(size)]]


def review_reference(module: Any, s_maps: list[Array], t_maps: list[Array]) -> float:
    """The ABF review from the deepest level and the summed HCL, from the module's weights."""
    w = [{k: v.detach().numpy() for k, v in abf.state_dict().items()} for abf in module.abfs]
    outputs: list[Array] = []
    fused: Array | None = None
    for i in reversed(range(len(s_maps))):
        x = batch_norm(conv(s_maps[i], w[i]["conv1.0.weight"]))
        if fused is not None:
            up = nearest(fused, x.shape[2])
            z = 1 / (
                1 + np.exp(-conv(np.concatenate([x, up], axis=1), w[i]["att.0.weight"], w[i]["att.0.bias"]))
            )
            x = x * z[:, :1] + up * z[:, 1:]
        x = nearest(x, t_maps[i].shape[2])
        outputs.insert(0, batch_norm(conv(x, w[i]["conv2.0.weight"])))
        fused = x
    return sum(hcl_reference(o, t) for o, t in zip(outputs, t_maps, strict=True))


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("length", [1, 3, 5, 8])
def test_hcl_matches_the_formula(length: int) -> None:
    fs, ft = _rand(3, 4, length, seed=1), _rand(3, 4, length, seed=2)
    assert L.hcl(fs, ft).item() == pytest.approx(hcl_reference(fs.numpy(), ft.numpy()), rel=1e-12)
    assert L.hcl(fs, ft, ()).item() == pytest.approx(float(((fs - ft) ** 2).mean()), rel=1e-12)
    # 2-D: pooled to k x k; a 5 x 5 map is also compared at 4 x 4, 2 x 2, 1 x 1 (weights 1/2, 1/4, 1/8)
    a, b = _rand(2, 3, 5, 5, seed=3), _rand(2, 3, 5, 5, seed=4)
    terms = [((a - b) ** 2).mean()] + [
        w
        * (
            (torch.nn.functional.adaptive_avg_pool2d(a, k) - torch.nn.functional.adaptive_avg_pool2d(b, k))
            ** 2
        ).mean()
        for k, w in ((4, 0.5), (2, 0.25), (1, 0.125))
    ]
    torch.testing.assert_close(L.hcl(a, b), sum(terms) / 1.875)
    with pytest.raises(ValueError, match="one shape"):
        L.hcl(fs, ft[:, :2])


def test_review_matches_the_re_derivation() -> None:
    comp = REGISTRY.get("loss", "knowledge-review")
    assert comp.params.maps == (2, None) and comp.extra["inputs"] == "features"
    # three levels: two 1-D maps and the pooled vector; the student's second level is longer than the
    # teacher's (resized before the output convolution)
    s_shapes, t_shapes = ((3, 8), (4, 6), (5,)), ((2, 8), (6, 3), (7,))
    loss = comp.obj(s_shape=s_shapes, t_shape=t_shapes, mid_channels=4).double()
    assert [abf.att is None for abf in loss.abfs] == [False, False, True]  # the deepest level does not fuse
    s = [_rand(4, *x, seed=10 + i).requires_grad_(True) for i, x in enumerate(s_shapes)]
    t = [_rand(4, *x, seed=20 + i) for i, x in enumerate(t_shapes)]
    value = loss(tuple(s), tuple(t))
    s_np = [x.detach().numpy().reshape(*x.shape, *([1] if x.dim() == 2 else [])) for x in s]
    t_np = [x.numpy().reshape(*x.shape, *([1] if x.dim() == 2 else [])) for x in t]
    assert value.item() == pytest.approx(review_reference(loss, s_np, t_np), rel=1e-10)
    value.backward()
    assert all(x.grad is not None for x in s)
    assert all(p.grad is not None for p in loss.parameters())
    # mid channels default: the deepest student level's, at most 512
    assert comp.obj(s_shape=s_shapes, t_shape=t_shapes).abfs[0].conv1[0].out_channels == 5


def test_review_warm_up_and_refusals() -> None:
    comp = REGISTRY.get("loss", "knowledge-review")
    shapes = ((3, 8), (4, 4))
    loss = comp.obj(s_shape=shapes, t_shape=shapes, warmup_epochs=4.0).double()
    s, t = (_rand(3, 3, 8, seed=1), _rand(3, 4, 4, seed=2)), (_rand(3, 3, 8, seed=3), _rand(3, 4, 4, seed=4))
    full = loss(s, t).item()
    loss.set_progress(1.0)
    assert loss(s, t).item() == pytest.approx(full / 4, rel=1e-12)
    loss.set_progress(9.0)
    assert loss(s, t).item() == pytest.approx(full, rel=1e-12)
    for s_shape, t_shape in [
        ((3, 8), (3, 8)),
        (shapes, (*shapes, (4, 2))),
        (((3, 8), (4, 4, 4)), ((3, 8), (4, 4, 4))),
    ]:
        with pytest.raises(ValueError):
            comp.obj(s_shape=s_shape, t_shape=t_shape)
    with pytest.raises(ValueError, match="reads 2 maps"):
        loss(s[0], t)
    with pytest.raises(ValueError):
        comp.validate_params({"warmup_epochs": -1})
