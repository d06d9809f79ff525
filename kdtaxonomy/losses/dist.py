"""DIST: distillation from a stronger teacher (Huang, You, Wang, Qian, Xu 2022, NeurIPS).

The exact match of the KL divergence is replaced by a relational match of the class probabilities
``Y = softmax(Z / tau)`` (``(B, K)``): the Pearson distance ``d_p(u, v) = 1 - rho_p(u, v)`` between the
student's and the teacher's rows (inter-class relation of each sample) and columns (intra-class relation of
each class across the batch). ``rho_p`` is invariant to a positive affine map of either argument, so only
the relations among the predictions are transferred, not their scale or offset.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import DISTSpec

PEARSON_EPS = 1e-8
"""Added to the product of the centred norms in the Pearson correlation (as the authors' code does)."""


def pearson_rows(u: Tensor, v: Tensor, eps: float = PEARSON_EPS) -> Tensor:
    """Pearson correlation of each row of ``u`` with the same row of ``v`` (``(N, D)`` -> ``(N,)``).

    ``rho = <u - mean u, v - mean v> / (||u - mean u|| * ||v - mean v|| + eps)``.
    """
    uc = u - u.mean(dim=1, keepdim=True)
    vc = v - v.mean(dim=1, keepdim=True)
    norms = torch.linalg.vector_norm(uc, dim=1) * torch.linalg.vector_norm(vc, dim=1)
    rho: Tensor = (uc * vc).sum(dim=1) / (norms + eps)
    return rho


def dist_parts(
    s_logits: Tensor, t_logits: Tensor, temperature: float = 1.0, eps: float = PEARSON_EPS
) -> tuple[Tensor, Tensor]:
    """``(L_inter, L_intra)`` of Huang et al. 2022 (Sec. 3, inter- and intra-class relations), on ``Y = softmax(Z / tau)``.

    ``L_inter = tau^2 * (1/B) sum_i d_p(Y^s_{i,:}, Y^t_{i,:})`` (each sample's probability vector over the
    ``K`` classes) and ``L_intra = tau^2 * (1/K) sum_j d_p(Y^s_{:,j}, Y^t_{:,j})`` (each class's
    probabilities over the ``B`` samples of the batch), with ``d_p = 1 - rho_p`` (Pearson correlation).
    """
    tau = temperature
    ys = F.softmax(s_logits / tau, dim=1)
    yt = F.softmax(t_logits / tau, dim=1)
    inter = 1.0 - pearson_rows(ys, yt, eps).mean()
    intra = 1.0 - pearson_rows(ys.t(), yt.t(), eps).mean()
    return tau * tau * inter, tau * tau * intra


def dist(
    s_logits: Tensor,
    t_logits: Tensor,
    beta: float = 1.0,
    gamma: float = 1.0,
    temperature: float = 1.0,
) -> Tensor:
    """DIST, Huang et al. 2022 (Sec. 3, overall loss): ``beta * L_inter + gamma * L_intra``.

    See :func:`dist_parts`; the classification cross-entropy of the paper's total loss
    ``alpha * L_cls + beta * L_inter + gamma * L_intra`` is added by the pipeline.
    """
    inter, intra = dist_parts(s_logits, t_logits, temperature)
    return beta * inter + gamma * intra


@register(spec=DISTSpec, needs=(), inputs="logits")
class DIST(DistillationLoss):
    """DIST (Huang et al. 2022): module form of :func:`dist`."""

    params_model = DISTSpec
    config: DISTSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        c = self.config
        return dist(s, teacher(t), c.beta, c.gamma, c.temperature)
