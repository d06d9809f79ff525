"""Relational KD: distance- and angle-wise RKD (Park, Kim, Lu, Cho 2019, CVPR) and area-wise RKD
(seed paper 002: Cho, Park & Lim 2023, "Area-wise relational knowledge distillation").

All three flatten the embeddings to ``(B, D)`` (``B >= 2``; ``B >= 3`` for a non-trivial angle loss),
compare teacher and student relations with the Huber loss of delta 1 (``F.smooth_l1_loss``, beta 1) and
average over the relation entries. Each is invariant to a rescaling of either side's embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from kdtaxonomy.losses.base import TINY, DistillationLoss, flat, safe_sqrt, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import RKDAngleSpec, RKDAreaSpec, RKDDistanceSpec

ANGLE_CHUNK_ELEMENTS = 1 << 22
"""Target number of elements of one chunk's ``(k, B, max(B, D))`` intermediates in :func:`rkd_angle`."""


def _off_diagonal_mean_normalise(m: Tensor) -> Tensor:
    """``m / mean_{i != j} m_ij`` for a ``(B, B)`` matrix with a zero diagonal."""
    b = m.shape[0]
    mu = m.sum() / (b * (b - 1))
    return m / mu.clamp_min(TINY)


def _off_diagonal_zero(m: Tensor) -> Tensor:
    eye = torch.eye(m.shape[0], dtype=torch.bool, device=m.device)
    return m.masked_fill(eye, 0.0)


def pairwise_distances(emb: Tensor) -> Tensor:
    """``d_ij = ||e_i - e_j||`` from the Gram matrix, exact zero diagonal, finite gradient at 0."""
    e = flat(emb)
    g = e @ e.T
    n = g.diagonal()
    return safe_sqrt(_off_diagonal_zero(n.unsqueeze(1) + n.unsqueeze(0) - 2 * g))


def pairwise_areas(emb: Tensor) -> Tensor:
    """``a_ij = 1/2 sqrt(max(||e_i||^2 ||e_j||^2 - <e_i, e_j>^2, 0))`` (= ``1/2 |e_i||e_j| sin theta``, the
    triangle spanned by ``e_i``, ``e_j`` and the origin), ``a_ii = 0``; finite gradient where the root's
    argument is 0 (diagonal, parallel vectors)."""
    e = flat(emb)
    g = e @ e.T
    n = g.diagonal()
    return 0.5 * safe_sqrt(_off_diagonal_zero(n.unsqueeze(1) * n.unsqueeze(0) - g * g))


def rkd_distance(s: Tensor, t: Tensor) -> Tensor:
    """Distance-wise RKD, Park et al. 2019, "Relational Knowledge Distillation", Sec. 3.2 (``L_RKD-D``).

    ``psi_D(e_i, e_j) = ||e_i - e_j|| / mu`` with ``mu`` the mean distance over pairs ``i != j`` (per
    side); smooth-L1 (beta 1) averaged over all ``B*B`` entries (diagonal entries are 0 on both sides).
    """
    d_s = _off_diagonal_mean_normalise(pairwise_distances(s))
    d_t = _off_diagonal_mean_normalise(pairwise_distances(t))
    return F.smooth_l1_loss(d_s, d_t, reduction="mean", beta=1.0)


def _angles(e: Tensor, rows: Tensor) -> Tensor:
    """``cos angle(e_j - e_i, e_k - e_i)`` for ``i`` in ``rows`` (``(k,)`` indices), shape ``(k, B, B)``."""
    diff = F.normalize(e.unsqueeze(0) - e[rows].unsqueeze(1), p=2, dim=2, eps=1e-12)
    return diff @ diff.transpose(1, 2)


def _angle_chunk(s: Tensor, t: Tensor, rows: Tensor) -> Tensor:
    """Summed smooth-L1 between student and teacher angles for the anchor rows ``rows``."""
    return F.smooth_l1_loss(_angles(s, rows), _angles(t, rows), reduction="sum", beta=1.0)


def rkd_angle(s: Tensor, t: Tensor, chunk_size: int | None = None) -> Tensor:
    """Angle-wise RKD, Park et al. 2019, Sec. 3.2 (``L_RKD-A``).

    For every ordered triple ``(i, j, k)`` in ``B^3`` the cosine between ``e_j - e_i`` and ``e_k - e_i``
    (differences normalised with ``F.normalize``, eps 1e-12, so a zero difference gives cosine 0);
    smooth-L1 (beta 1) averaged over the ``B^3`` entries. Computed in chunks of anchors ``i`` (each
    vectorised; about ``ANGLE_CHUNK_ELEMENTS`` elements by default) and, when a gradient is needed, with
    activation checkpointing per chunk, so memory stays ``O(chunk * B * max(B, D))`` in both passes.
    """
    es, et = flat(s), flat(t)
    b = es.shape[0]
    if chunk_size is None:
        chunk_size = max(1, ANGLE_CHUNK_ELEMENTS // (b * max(b, es.shape[1], et.shape[1])))
    grad = torch.is_grad_enabled() and (es.requires_grad or et.requires_grad)
    total = es.new_zeros(())
    for start in range(0, b, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, b), device=es.device)
        if grad and chunk_size < b:
            part: Tensor = checkpoint(_angle_chunk, es, et, rows, use_reentrant=False)
        else:
            part = _angle_chunk(es, et, rows)
        total = total + part
    return total / (b**3)


def rkd_area(s: Tensor, t: Tensor) -> Tensor:
    """Area-wise RKD, seed paper 002 (Cho, Park & Lim 2023), Sec. 3: ``L_Area = sum l_delta(psi_A(t_i, t_j),
    psi_A(s_i, s_j))`` with ``psi_A(t_i, t_j) = (1/mu_t) S(t_i, t_j)`` and ``S = 1/2 |t_i||t_j| sin theta``.

    Convention used here: areas from :func:`pairwise_areas` (``a_ii = 0``); each side divided by the mean
    of its ``a_ij`` over the pairs ``i != j`` of the batch; Huber with delta 1 (smooth-L1, beta 1)
    averaged over all ``B*B`` entries. Differences from the paper: the paper sums over the pairs instead
    of averaging, and describes ``mu_t`` as "the average of all area values obtained during training"
    (its formula is missing from the text); here ``mu`` is the per-batch mean, as in distance-wise RKD.
    """
    a_s = _off_diagonal_mean_normalise(pairwise_areas(s))
    a_t = _off_diagonal_mean_normalise(pairwise_areas(t))
    return F.smooth_l1_loss(a_s, a_t, reduction="mean", beta=1.0)


@register(spec=RKDDistanceSpec, needs=(), inputs="embeddings")
class RKDDistance(DistillationLoss):
    """Distance-wise RKD (Park et al. 2019): module form of :func:`rkd_distance`."""

    params_model = RKDDistanceSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return rkd_distance(s, teacher(t))


@register(spec=RKDAngleSpec, needs=(), inputs="embeddings")
class RKDAngle(DistillationLoss):
    """Angle-wise RKD (Park et al. 2019): module form of :func:`rkd_angle`."""

    params_model = RKDAngleSpec
    config: RKDAngleSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return rkd_angle(s, teacher(t), self.config.chunk_size)


@register(spec=RKDAreaSpec, needs=(), inputs="embeddings")
class RKDArea(DistillationLoss):
    """Area-wise RKD (seed paper 002): module form of :func:`rkd_area`."""

    params_model = RKDAreaSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return rkd_area(s, teacher(t))
