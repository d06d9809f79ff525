"""KD-SVD (Lee, Kim & Song 2018): against a float64 re-derivation with numpy's SVD and explicit loops, its
invariances (signs and order of the student's singular vectors, the teacher's signs, positions), its
gradient against autograd through ``torch.linalg.svd``, finite gradients where a full SVD's are not, and the
module's connectors."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
import torch

import kdtaxonomy.losses as L
from kdtaxonomy.location_names import location_problem
from kdtaxonomy.losses.kdsvd import align, kdsvd_from_vectors, leading_right_singular
from kdtaxonomy.registry import REGISTRY


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _matrix(x: np.ndarray) -> np.ndarray:
    """One sample's map ``(C, *spatial)`` as positions x channels."""
    return x.reshape(x.shape[0], -1).T


def kdsvd_reference(
    s_maps: list[np.ndarray], t_maps: list[np.ndarray], k: int, extra: int, sigma: float
) -> float:
    total = 0.0
    batch = s_maps[0].shape[0]
    for b in range(batch):
        s_mats, t_mats = [_matrix(x[b]) for x in s_maps], [_matrix(x[b]) for x in t_maps]
        kept = min([k] + [min(m.shape) for m in s_mats + t_mats])
        sides = []
        for sm, tm in zip(s_mats, t_mats, strict=True):
            _, t_values, t_vh = np.linalg.svd(tm, full_matrices=False)
            tv = t_vh[:kept].T.copy()
            for col in range(kept):  # the teacher's convention: largest-magnitude entry positive
                if tv[np.argmax(np.abs(tv[:, col])), col] < 0:
                    tv[:, col] *= -1
            candidates = min(kept + extra, *sm.shape)
            sv = np.linalg.svd(sm, full_matrices=False)[2][:candidates].T
            aligned = np.zeros_like(tv)
            for col in range(kept):
                cosines = [float(sv[:, i] @ tv[:, col]) for i in range(candidates)]
                best = int(np.argmax(np.abs(cosines)))
                aligned[:, col] = (-1.0 if cosines[best] < 0 else 1.0) * sv[:, best]
            weight = t_values[:kept] / np.linalg.norm(t_values[:kept])
            sides.append((aligned * weight, tv * weight))
        for (sa, ta), (sb, tb) in pairwise(sides):
            for i in range(sa.shape[0]):
                for j in range(sb.shape[0]):
                    for col in range(kept):
                        g_s = math.exp(-((sa[i, col] - sb[j, col]) ** 2) / sigma)
                        g_t = math.exp(-((ta[i, col] - tb[j, col]) ** 2) / sigma)
                        total += (g_s - g_t) ** 2
    return total / batch


CASES = [  # (student shapes, teacher shapes, k, candidates, sigma): same channels, any positions
    ([(3, 4, 9), (3, 6, 5)], [(3, 4, 7), (3, 6, 3)], 1, 1, 8.0),
    ([(2, 5, 8), (2, 3, 6), (2, 4, 4)], [(2, 5, 12), (2, 3, 6), (2, 4, 5)], 2, 1, 8.0),
    ([(2, 3, 3, 3), (2, 4, 2, 2)], [(2, 3, 4, 4), (2, 4, 2, 3)], 3, 2, 2.0),
    ([(3, 6, 2), (3, 5, 4)], [(3, 6, 4), (3, 5, 4)], 4, 0, 8.0),  # k capped by the 2 positions
]


@pytest.mark.parametrize(("s_shapes", "t_shapes", "k", "extra", "sigma"), CASES)
def test_kdsvd_matches_numpy_svd_and_loops(
    s_shapes: list[tuple[int, ...]], t_shapes: list[tuple[int, ...]], k: int, extra: int, sigma: float
) -> None:
    s = [_rand(*x, seed=i) for i, x in enumerate(s_shapes)]
    t = [_rand(*x, seed=10 + i) for i, x in enumerate(t_shapes)]
    expected = kdsvd_reference([x.numpy() for x in s], [x.numpy() for x in t], k, extra, sigma)
    assert L.kdsvd(s, t, k, extra, sigma).item() == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_leading_right_singular_are_the_svd_vectors() -> None:
    m = _rand(3, 9, 5, seed=1)
    vectors, values = leading_right_singular(m, 3)
    for b in range(3):
        _, sv, vh = np.linalg.svd(m[b].numpy(), full_matrices=False)
        np.testing.assert_allclose(values[b].numpy(), sv[:3], rtol=1e-10)
        got = vectors[b].numpy()
        np.testing.assert_allclose(np.abs(np.sum(got * vh[:3].T, axis=0)), 1.0, rtol=1e-10)


def _orthonormal(batch: int, dim: int, count: int, seed: int) -> torch.Tensor:
    return torch.linalg.qr(_rand(batch, dim, count, seed=seed))[0]


def test_invariant_to_signs_and_order_of_the_student_and_to_the_teachers_signs() -> None:
    s_vecs = [_orthonormal(2, 6, 3, seed=1), _orthonormal(2, 4, 3, seed=2)]
    t_vecs = [_orthonormal(2, 6, 2, seed=3), _orthonormal(2, 4, 2, seed=4)]
    t_vals = [_rand(2, 2, seed=5).abs() + 1.0, _rand(2, 2, seed=6).abs() + 1.0]
    base = kdsvd_from_vectors(s_vecs, t_vecs, t_vals)
    assert base.item() > 0
    flip = torch.tensor([[-1.0, 1.0, -1.0], [1.0, -1.0, -1.0]], dtype=torch.float64).unsqueeze(1)
    flipped = [s_vecs[0] * flip, s_vecs[1] * flip.flip(2)]
    torch.testing.assert_close(kdsvd_from_vectors(flipped, t_vecs, t_vals), base, rtol=1e-13, atol=0)
    shuffled = [x[:, :, [2, 0, 1]] for x in s_vecs]
    torch.testing.assert_close(kdsvd_from_vectors(shuffled, t_vecs, t_vals), base, rtol=1e-13, atol=0)
    t_flipped = [t_vecs[0] * flip[:, :, :2], t_vecs[1] * -1.0]
    torch.testing.assert_close(kdsvd_from_vectors(s_vecs, t_flipped, t_vals), base, rtol=1e-13, atol=0)
    # the alignment itself: each teacher vector gets the candidate of largest |cosine|, with its sign
    aligned = align(s_vecs[0] * flip, s_vecs[0][:, :, [1, 0]])
    torch.testing.assert_close(aligned, s_vecs[0][:, :, [1, 0]])
    # a student with the teacher's vectors up to sign and order matches exactly
    same = [torch.cat([-t_vecs[0][:, :, [1, 0]], s_vecs[0][:, :, :1]], dim=2), t_vecs[1] * -1.0]
    assert kdsvd_from_vectors(same, t_vecs, t_vals).item() == pytest.approx(0.0, abs=1e-28)


def test_zero_for_maps_with_the_teachers_right_singular_vectors() -> None:
    t = [_rand(2, 4, 7, seed=1), _rand(2, 5, 3, seed=2)]
    # a positive scale and a permutation of the positions leave V unchanged
    s = [3.0 * t[0][:, :, [6, 2, 0, 1, 5, 4, 3]], 0.5 * t[1].flip(2)]
    assert L.kdsvd(s, t, 2).item() == pytest.approx(0.0, abs=1e-20)
    assert L.kdsvd([t[0], 2 * t[1] + 1], t, 2).item() > 1e-6
    with pytest.raises(ValueError, match="two or more maps"):
        L.kdsvd(t[:1], t[:1])
    with pytest.raises(ValueError, match="channel count"):
        L.kdsvd([t[0], t[0]], t)


def torch_svd_reference(
    s_maps: list[torch.Tensor], t_maps: list[torch.Tensor], k: int, extra: int
) -> torch.Tensor:
    """The loss by ``torch.linalg.svd`` and loops, differentiable (for generic, non-degenerate maps)."""
    total = torch.zeros((), dtype=torch.float64)
    for b in range(s_maps[0].shape[0]):
        sides = []
        for sm, tm in zip(s_maps, t_maps, strict=True):
            _, t_values, t_vh = torch.linalg.svd(
                tm[b].reshape(tm.shape[1], -1).T.detach(), full_matrices=False
            )
            tv = t_vh[:k].T
            tv = torch.stack(
                [tv[:, c] * (1 if tv[tv[:, c].abs().argmax(), c] >= 0 else -1) for c in range(k)], 1
            )
            sv = torch.linalg.svd(sm[b].reshape(sm.shape[1], -1).T, full_matrices=False)[2][: k + extra].T
            columns = []
            for c in range(k):
                cosines = sv.T @ tv[:, c]
                best = int(cosines.abs().argmax())
                columns.append(sv[:, best] * (1.0 if float(cosines[best].detach()) >= 0 else -1.0))
            weight = t_values[:k] / t_values[:k].norm()
            sides.append((torch.stack(columns, 1) * weight, tv * weight))
        for (sa, ta), (sb, tb) in pairwise(sides):
            g_s = torch.exp(-((sa[:, None, :] - sb[None, :, :]) ** 2) / 8.0)
            g_t = torch.exp(-((ta[:, None, :] - tb[None, :, :]) ** 2) / 8.0)
            total = total + ((g_s - g_t) ** 2).sum()
    return total / s_maps[0].shape[0]


@pytest.mark.parametrize(  # more positions than channels, then fewer (the thin SVD's complement)
    ("first", "second"), [((5, 8), (4, 6)), ((7, 3), (6, 2))]
)
def test_gradient_matches_autograd_through_a_full_svd(
    first: tuple[int, int], second: tuple[int, int]
) -> None:
    t = [_rand(3, *first, seed=1), _rand(3, *second, seed=2)]
    s = [_rand(3, *first, seed=3).requires_grad_(True), _rand(3, *second, seed=4).requires_grad_(True)]
    L.kdsvd(s, t, 2, 1).backward()
    ours = [x.grad.clone() for x in s if x.grad is not None]
    s_ref = [x.detach().clone().requires_grad_(True) for x in s]
    torch_svd_reference(s_ref, t, 2, 1).backward()
    assert len(ours) == 2
    for got, x in zip(ours, s_ref, strict=True):
        assert x.grad is not None and float(got.abs().max()) > 0
        torch.testing.assert_close(got, x.grad, rtol=1e-7, atol=1e-10)


def test_dead_channels_keep_a_finite_gradient_and_a_zero_map_gets_none() -> None:
    t = [_rand(3, 6, 10, seed=1), _rand(3, 4, 8, seed=2)]
    first = _rand(3, 6, 10, seed=3)
    first[:, 3:] = 0.0  # three dead channels: repeated zero singular values
    first[2] = 0.0  # an all-zero map: no singular vector to follow
    s = [first.requires_grad_(True), _rand(3, 4, 8, seed=4).requires_grad_(True)]
    value = L.kdsvd(s, t)
    value.backward()
    assert torch.isfinite(value)
    assert s[0].grad is not None and s[1].grad is not None
    assert torch.isfinite(s[0].grad).all() and float(s[0].grad[:2].abs().sum()) > 0
    assert float(s[0].grad[2].abs().sum()) == 0.0
    # a full SVD's gradient is not finite here
    m = first.detach()[0].T.clone().requires_grad_(True)
    torch.linalg.svd(m, full_matrices=False)[2][0].pow(3).sum().backward()
    assert m.grad is not None and not bool(torch.isfinite(m.grad).all())


def test_module_connectors_maps_and_registration() -> None:
    comp = REGISTRY.get("loss", "kdsvd")
    assert comp.term == "similarity-matrix" and comp.extra["inputs"] == "features"
    assert comp.params.maps == (2, None)
    assert location_problem("block1&block2&block3", comp.params.maps) is None
    assert location_problem("block1", comp.params.maps) is not None
    same = comp.obj(s_shape=((4, 8), (5, 4), (6, 2)), t_shape=((4, 6), (5, 3), (6, 2))).double()
    assert all(isinstance(c, torch.nn.Identity) for c in same.connectors) and not list(same.parameters())
    s = tuple(_rand(3, c, n, seed=c) for c, n in ((4, 8), (5, 4), (6, 2)))
    t = tuple(_rand(3, c, n, seed=10 + c) for c, n in ((4, 6), (5, 3), (6, 2)))
    torch.testing.assert_close(same(s, t), L.kdsvd(s, t, 1, 1, 8.0))
    wider = comp.obj(s_shape=((3, 8), (5, 4)), t_shape=((4, 8), (5, 4)), k=2, sigma=4.0).double()
    assert isinstance(wider.connectors[0][0], torch.nn.Conv1d) and isinstance(
        wider.connectors[1], torch.nn.Identity
    )
    s2 = (_rand(3, 3, 8, seed=1).requires_grad_(True), _rand(3, 5, 4, seed=2))
    value = wider(s2, (_rand(3, 4, 8, seed=3), _rand(3, 5, 4, seed=4)))
    value.backward()
    assert s2[0].grad is not None and wider.connectors[0][0].weight.grad is not None
    with pytest.raises(ValueError, match="two or more maps"):
        comp.obj(s_shape=(4, 8), t_shape=(4, 8))
    with pytest.raises(ValueError, match="reads 2 maps"):
        wider((s2[0],), (s2[0],))
    for bad in ({"k": 0}, {"candidates": -1}, {"sigma": 0}):
        with pytest.raises(ValueError):
            comp.validate_params(bad)
