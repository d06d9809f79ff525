"""FSP (Yim et al. 2017): against a float64 loop re-derivation of the FSP matrices (Eq. 1) and loss (Eq. 2),
in the functional and in the module's pair form (location ``a&b``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.registry import REGISTRY


def pool_1d(row: list[float], size: int) -> list[float]:
    """Adaptive average pooling of one sequence: bin ``i`` averages ``[floor(i L / n), ceil((i + 1) L / n))``."""
    n = len(row)
    out = []
    for i in range(size):
        lo, hi = (i * n) // size, math.ceil((i + 1) * n / size)
        out.append(sum(row[lo:hi]) / (hi - lo))
    return out


def fsp_reference(first: np.ndarray, second: np.ndarray) -> list[list[list[float]]]:
    """Per sample ``G[i][j] = (1/N) sum_x F1[i][x] F2[j][x]`` of 1-D maps, the longer one pooled first."""
    size = min(first.shape[2], second.shape[2])
    out = []
    for a, b in zip(first, second, strict=True):
        rows_a = [pool_1d(list(c), size) for c in a]
        rows_b = [pool_1d(list(c), size) for c in b]
        out.append([[sum(x * y for x, y in zip(u, v, strict=True)) / size for v in rows_b] for u in rows_a])
    return out


def loss_reference(s1: np.ndarray, s2: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> float:
    """``(1/B) sum_b sum_ij (G^T_b[i][j] - G^S_b[i][j])^2``."""
    gs, gt = fsp_reference(s1, s2), fsp_reference(t1, t2)
    total = sum(
        (gt[b][i][j] - gs[b][i][j]) ** 2
        for b in range(len(gs))
        for i in range(len(gs[b]))
        for j in range(len(gs[b][i]))
    )
    return total / len(gs)


def _maps(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize(
    ("first", "second"), [((3, 4, 6), (3, 5, 6)), ((2, 3, 8), (2, 2, 4)), ((2, 2, 3), (2, 3, 7))]
)
def test_fsp_matrix_matches_the_formula(first: tuple[int, ...], second: tuple[int, ...]) -> None:
    a, b = _maps(*first, seed=1), _maps(*second, seed=2)
    expected = np.array(fsp_reference(a.numpy(), b.numpy()))
    got = L.fsp_matrix(a, b)
    assert got.shape == (first[0], first[1], second[1])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_fsp_matrix_2d_is_the_mean_over_positions() -> None:
    a, b = _maps(2, 3, 4, 5, seed=3), _maps(2, 2, 4, 5, seed=4)
    expected = torch.einsum("bihw,bjhw->bij", a, b) / 20
    torch.testing.assert_close(L.fsp_matrix(a, b), expected)
    # the larger map is pooled to the smaller: 4 x 6 -> 2 x 3 by averaging 2 x 2 blocks
    c = _maps(2, 3, 4, 6, seed=5)
    small = _maps(2, 2, 2, 3, seed=6)
    pooled = c.reshape(2, 3, 2, 2, 3, 2).mean(dim=(3, 5))
    torch.testing.assert_close(L.fsp_matrix(c, small), torch.einsum("bihw,bjhw->bij", pooled, small) / 6)


@pytest.mark.parametrize("seed", [0, 1])
def test_fsp_loss_matches_the_formula(seed: int) -> None:
    s1, s2 = _maps(3, 4, 8, seed=10 + seed), _maps(3, 2, 4, seed=20 + seed)
    t1, t2 = _maps(3, 4, 8, seed=30 + seed), _maps(3, 2, 4, seed=40 + seed)
    expected = loss_reference(s1.numpy(), s2.numpy(), t1.numpy(), t2.numpy())
    assert L.fsp(s1, s2, t1, t2).item() == pytest.approx(expected, rel=1e-12)


def test_fsp_hand_computed() -> None:
    # teacher: F1 = [1, 2], F2 = [[3, 4], [0, 1]] over 2 positions -> G = [[(3 + 8) / 2, (0 + 2) / 2]] = [[5.5, 1]]
    t1 = torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)
    t2 = torch.tensor([[[3.0, 4.0], [0.0, 1.0]]], dtype=torch.float64)
    # student: F1 = [1, 0], F2 = [[1, 1], [0, 0]] -> G = [[0.5, 0]]; loss = (5.5 - 0.5)^2 + (1 - 0)^2 = 26
    s1 = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)
    s2 = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]], dtype=torch.float64)
    torch.testing.assert_close(L.fsp_matrix(t1, t2), torch.tensor([[[5.5, 1.0]]], dtype=torch.float64))
    assert L.fsp(s1, s2, t1, t2).item() == 26.0
    assert L.fsp(t1, t2, t1, t2).item() == 0.0
    # the batch mean: two copies of the sample give the same loss
    two = [torch.cat([x, x]) for x in (s1, s2, t1, t2)]
    assert L.fsp(*two).item() == 26.0


def test_fsp_needs_matching_matrices() -> None:
    with pytest.raises(ValueError, match="FSP matrices"):
        L.fsp(_maps(2, 3, 4, seed=1), _maps(2, 2, 4, seed=2), _maps(2, 4, 4, seed=3), _maps(2, 2, 4, seed=4))
    with pytest.raises(ValueError, match="one batch"):
        L.fsp_matrix(_maps(2, 3, 4, seed=1), _maps(3, 3, 4, seed=2))


def test_fsp_module_pair_matches_the_formula() -> None:
    comp = REGISTRY.get("loss", "fsp")
    assert (
        comp.term == "similarity-matrix" and comp.extra["needs"] == () and comp.extra["inputs"] == "features"
    )
    assert comp.params.maps == (1, 2)
    # location a&b: two maps per side, the first twice as long (pooled to the second), the teacher's channels
    loss = comp.obj(s_shape=((4, 12), (3, 6)), t_shape=((4, 10), (3, 5))).double()
    assert loss.s_shapes == ((4, 12), (3, 6)) and loss.s_shape == ()
    assert all(isinstance(c, torch.nn.Identity) for c in loss.connectors) and not list(loss.parameters())
    s1, s2 = _maps(3, 4, 12, seed=13).requires_grad_(True), _maps(3, 3, 6, seed=14).requires_grad_(True)
    t1, t2 = _maps(3, 4, 10, seed=15).requires_grad_(True), _maps(3, 3, 5, seed=16).requires_grad_(True)
    expected = loss_reference(
        s1.detach().numpy(), s2.detach().numpy(), t1.detach().numpy(), t2.detach().numpy()
    )
    value = loss((s1, s2), (t1, t2))
    assert value.item() == pytest.approx(expected, rel=1e-12)
    assert loss((s1, s2), [(t1, t2)]).item() == value.item()  # one teacher's maps in a list
    value.backward()
    assert s1.grad is not None and s2.grad is not None and t1.grad is None and t2.grad is None


def test_fsp_module_pair_connects_only_the_maps_whose_channels_differ() -> None:
    loss = REGISTRY.get("loss", "fsp").obj(s_shape=((3, 8), (4, 4)), t_shape=((5, 8), (4, 4))).double()
    (conv, norm), second = loss.connectors
    assert (
        isinstance(conv, torch.nn.Conv1d)
        and conv.bias is None
        and (conv.in_channels, conv.out_channels) == (3, 5)
    )
    assert isinstance(norm, torch.nn.BatchNorm1d) and isinstance(second, torch.nn.Identity)
    s1, s2, t1, t2 = (
        _maps(4, 3, 8, seed=17),
        _maps(4, 4, 4, seed=18),
        _maps(4, 5, 8, seed=19),
        _maps(4, 4, 4, seed=20),
    )
    value = loss((s1, s2), (t1, t2))
    mapped = loss.connectors[0](s1).detach()
    assert value.item() == pytest.approx(
        loss_reference(mapped.numpy(), s2.numpy(), t1.numpy(), t2.numpy()), rel=1e-12
    )
    value.backward()
    assert conv.weight.grad is not None and bool(conv.weight.grad.abs().sum() > 0)


def test_fsp_module_single_map_is_the_self_gram_form() -> None:
    comp = REGISTRY.get("loss", "fsp")
    same = comp.obj(s_shape=(4, 10), t_shape=(4, 5)).double()
    assert isinstance(same.connector, torch.nn.Identity) and not list(same.parameters())
    s, t = _maps(3, 4, 10, seed=7), _maps(3, 4, 5, seed=8)
    # one map per side (earlier recipes, not the paper's FSP): the layer's FSP matrix with itself
    expected = loss_reference(s.numpy(), s.numpy(), t.numpy(), t.numpy())
    assert same(s, t).item() == pytest.approx(expected, rel=1e-12)
    wide = comp.obj(s_shape=(3, 6, 6), t_shape=(5, 3, 3)).double()
    conv, norm = wide.connector
    assert (
        isinstance(conv, torch.nn.Conv2d)
        and conv.bias is None
        and (conv.in_channels, conv.out_channels) == (3, 5)
    )
    assert isinstance(norm, torch.nn.BatchNorm2d)
    s2, t2 = _maps(4, 3, 6, 6, seed=9), _maps(4, 5, 3, 3, seed=10)
    mapped = wide.connector(s2)
    torch.testing.assert_close(wide(s2, t2), L.fsp(mapped, mapped, t2, t2))


def test_fsp_module_refuses_what_it_cannot_read() -> None:
    comp = REGISTRY.get("loss", "fsp")
    for s_shape, t_shape in [
        ((6,), (6,)),  # vectors
        (((4, 8), (4, 8), (4, 8)), ((4, 8), (4, 8), (4, 8))),  # three maps
        (((4, 8), (4, 8)), (4, 8)),  # a pair against one map
        (((4, 8), (6,)), ((4, 8), (6,))),  # a vector in a pair
    ]:
        with pytest.raises(ValueError):
            comp.obj(s_shape=s_shape, t_shape=t_shape)
    with pytest.raises(ValueError):
        comp.obj()
    with pytest.raises(ValueError):
        comp.validate_params({"until_epochs": 0})
    pair, single = (
        comp.obj(s_shape=((4, 8), (4, 4)), t_shape=((4, 8), (4, 4))),
        comp.obj(s_shape=(4, 8), t_shape=(4, 8)),
    )
    a, b = torch.randn(2, 4, 8), torch.randn(2, 4, 4)
    with pytest.raises(ValueError, match="reads 1 map"):
        single((a, b), (a, b))
    with pytest.raises(ValueError, match="one map"):
        pair(a, a)
    with pytest.raises(ValueError, match="from the teacher"):
        pair((a, b), a)


@pytest.mark.parametrize("pair", [False, True])
def test_fsp_module_switches_off_after_until_epochs(pair: bool) -> None:
    shape: tuple[int, ...] | tuple[tuple[int, ...], ...] = ((3, 8), (2, 4)) if pair else (3, 8)
    loss = REGISTRY.get("loss", "fsp").obj(s_shape=shape, t_shape=shape, until_epochs=2.0).double()
    s, t = _maps(2, 3, 8, seed=11).requires_grad_(True), _maps(2, 3, 8, seed=12)
    s2, t2 = _maps(2, 2, 4, seed=21).requires_grad_(True), _maps(2, 2, 4, seed=22)
    inputs: tuple[Any, Any] = ((s, s2), (t, t2)) if pair else (s, t)
    on = loss(*inputs)
    assert on.item() > 0  # no progress known: on
    for epochs, expect_on in ((0.5, True), (2.0, True), (2.04, False), (9.0, False)):
        loss.set_progress(epochs)
        assert loss.active() is expect_on
        value = loss(*inputs)
        assert (value.item() == on.item()) if expect_on else (value.item() == 0.0)
    value.backward()
    assert s.grad is not None and bool((s.grad == 0).all())
    assert not pair or (s2.grad is not None and bool((s2.grad == 0).all()))
