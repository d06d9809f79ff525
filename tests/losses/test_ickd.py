"""ICKD (Liu et al. 2021): against a float64 loop re-derivation of the inter-channel correlation loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.registry import REGISTRY


def icc_reference(feat: np.ndarray) -> list[list[list[float]]]:
    """Per sample: ``G[i][j] = <f_i, f_j>`` over the flattened channels, each row divided by its L2 norm."""
    out = []
    for sample in feat:
        chans = [list(c.reshape(-1)) for c in sample]
        gram = [[sum(a * b for a, b in zip(u, v, strict=True)) for v in chans] for u in chans]
        out.append([[x / math.sqrt(sum(y * y for y in row)) for x in row] for row in gram])
    return out


def ickd_reference(s: np.ndarray, t: np.ndarray) -> float:
    """``(1 / (B C)) * sum_b ||G^s_b - G^t_b||_F^2``."""
    gs, gt = icc_reference(s), icc_reference(t)
    b, c = t.shape[0], t.shape[1]
    total = sum((gs[n][i][j] - gt[n][i][j]) ** 2 for n in range(b) for i in range(c) for j in range(c))
    return total / (b * c)


def _maps(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize(
    ("s_shape", "t_shape"),
    [((3, 4, 5, 5), (3, 4, 5, 5)), ((2, 3, 7), (2, 3, 4)), ((4, 5, 2, 3), (4, 5, 6, 6))],
)
def test_ickd_matches_the_formula(s_shape: tuple[int, ...], t_shape: tuple[int, ...]) -> None:
    s, t = _maps(*s_shape, seed=1), _maps(*t_shape, seed=2)
    expected = ickd_reference(s.numpy(), t.numpy())
    assert L.ickd(s, t).item() == pytest.approx(expected, rel=1e-12, abs=1e-14)


def test_icc_matrix_is_symmetric_gram_with_unit_rows() -> None:
    f = _maps(3, 4, 2, 5, seed=3)
    g = L.icc_matrix(f)
    assert g.shape == (3, 4, 4)
    torch.testing.assert_close(torch.linalg.vector_norm(g, dim=2), torch.ones(3, 4, dtype=torch.float64))
    raw = torch.einsum("bin,bjn->bij", f.flatten(2), f.flatten(2))
    torch.testing.assert_close(raw, raw.transpose(1, 2))
    torch.testing.assert_close(g, raw / torch.linalg.vector_norm(raw, dim=2, keepdim=True))


def test_ickd_invariances() -> None:
    t = _maps(3, 4, 5, 5, seed=4)
    # identical maps, a positive rescaling, or a permutation of the spatial positions: the ICC matrices agree
    assert L.ickd(t, t).item() == 0.0
    assert abs(L.ickd(3.0 * t, t).item()) < 1e-28
    perm = torch.randperm(25, generator=torch.Generator().manual_seed(0))
    shuffled = t.flatten(2)[:, :, perm].reshape(t.shape)
    assert abs(L.ickd(shuffled, t).item()) < 1e-28
    # a different map is not matched; permuting the channels is (the channel order is the knowledge)
    assert L.ickd(_maps(3, 4, 5, 5, seed=5), t).item() > 1e-3
    assert L.ickd(t.flip(1), t).item() > 1e-3
    with pytest.raises(ValueError, match="channel"):
        L.ickd(_maps(3, 5, 5, 5, seed=6), t)


def test_ickd_module_embeds_the_student() -> None:
    comp = REGISTRY.get("loss", "ickd")
    assert (
        comp.term == "similarity-matrix" and comp.extra["needs"] == () and comp.extra["inputs"] == "features"
    )
    loss = comp.obj(s_shape=(3, 6, 6), t_shape=(4, 3, 3)).double()
    conv, norm = loss.embed
    assert (
        isinstance(conv, torch.nn.Conv2d)
        and conv.bias is None
        and (conv.in_channels, conv.out_channels) == (3, 4)
    )
    assert isinstance(norm, torch.nn.BatchNorm2d)
    s, t = _maps(5, 3, 6, 6, seed=7), _maps(5, 4, 3, 3, seed=8)
    torch.testing.assert_close(loss(s, t), L.ickd(loss.embed(s), t))
    assert isinstance(comp.obj(s_shape=(3, 8), t_shape=(5, 4)).embed[0], torch.nn.Conv1d)
    with pytest.raises(ValueError):
        comp.obj(s_shape=(6,), t_shape=(10,))
    with pytest.raises(ValueError):
        comp.obj()
    with pytest.raises(ValueError):
        comp.validate_params({"weight": 2})
