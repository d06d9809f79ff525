"""Batch similarity losses: similarity-preserving KD and correlation congruence."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, flat, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import CorrelationCongruenceSpec, SimilarityPreservingSpec


def similarity_preserving(s_feat: Tensor, t_feat: Tensor) -> Tensor:
    """Tung & Mori 2019, "Similarity-Preserving Knowledge Distillation" (ICCV), Sec. 3 (``L_SP``).

    ``G = F F^T`` with ``F`` the features reshaped to ``(B, -1)``, each row of ``G`` L2-normalised
    (``F.normalize``, eps 1e-12); value ``||G_t - G_s||_F^2 / B^2``. Feature sizes may differ.
    """
    b = s_feat.shape[0]
    fs, ft = flat(s_feat), flat(t_feat)
    gs = F.normalize(fs @ fs.T, dim=1)
    gt = F.normalize(ft @ ft.T, dim=1)
    return (gt - gs).pow(2).sum() / (b * b)


def correlation_matrix(emb: Tensor, gamma: float = 0.4, order: int | None = 2) -> Tensor:
    """Peng et al. 2019, CCKD Sec. 3.3: ``C_ij = k(f_i, f_j)`` with the Gaussian RBF kernel on the
    L2-normalised embeddings ``f = e / ||e||`` (``F.normalize``, eps 1e-12).

    ``order=None``: exact ``k(x, y) = exp(-gamma ||x - y||^2)``. ``order=P``: its P-th order Taylor
    expansion ``k(x, y) ~ sum_{p=0..P} exp(-2 gamma) (2 gamma)^p / p! (x . y)^p`` (exact in the limit,
    since ``||x - y||^2 = 2 - 2 x . y`` for unit vectors).
    """
    f = F.normalize(flat(emb), dim=1)
    g = f @ f.T
    if order is None:
        n = g.diagonal()
        sq = (n.unsqueeze(1) + n.unsqueeze(0) - 2 * g).clamp_min(0)
        return torch.exp(-gamma * sq)
    out = torch.zeros_like(g)
    for p in range(order + 1):
        out = out + math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p) * g.pow(p)
    return out


def correlation_congruence(s_emb: Tensor, t_emb: Tensor, gamma: float = 0.4, order: int | None = 2) -> Tensor:
    """Peng et al. 2019, "Correlation Congruence for Knowledge Distillation" (ICCV), correlation congruence
    term ``L_CC = ||C_t - C_s||_F^2 / B^2`` with the correlation matrices of :func:`correlation_matrix`
    (paper: Gaussian RBF kernel, Taylor order P = 2, gamma = 0.4). The instance-level KD term of CCKD is
    a separate loss (e.g. ``soft-label-kd``). Embedding sizes of student and teacher may differ.
    """
    b = s_emb.shape[0]
    c_s = correlation_matrix(s_emb, gamma, order)
    c_t = correlation_matrix(t_emb, gamma, order)
    return (c_t - c_s).pow(2).sum() / (b * b)


@register(spec=SimilarityPreservingSpec, needs=(), inputs="features")
class SimilarityPreserving(DistillationLoss):
    """Similarity-preserving KD (Tung & Mori 2019): module form of :func:`similarity_preserving`."""

    params_model = SimilarityPreservingSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return similarity_preserving(s, teacher(t))


@register(spec=CorrelationCongruenceSpec, needs=(), inputs="embeddings")
class CorrelationCongruence(DistillationLoss):
    """Correlation congruence (Peng et al. 2019): module form of :func:`correlation_congruence`."""

    params_model = CorrelationCongruenceSpec
    config: CorrelationCongruenceSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return correlation_congruence(s, teacher(t), self.config.gamma, self.config.order)
