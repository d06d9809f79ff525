"""SRD: the simple recipe of Miles & Mikolajczyk 2024, "Understanding the Role of the Projector in Knowledge
Distillation" (AAAI), torchdistill's ``SRD``.

The paper names three ingredients of feature distillation: the projector on the student's feature (a linear
one suffices), the normalisation of the representations (coupled with the projector's training dynamics;
batch normalisation in the recipe) and a soft maximum as the distance (a log of summed powers, for a large
capacity gap). On the penultimate features, spatially averaged, the student's feature is mapped by a linear
layer to the teacher's width; both sides are batch-normalised without affine parameters (epsilon 1e-4) and
compared by ``log sum |z_s - z_t|^alpha`` (alpha = 4 on ImageNet), next to KD with temperature 1: in the
authors' ImageNet code and torchdistill's ``SRDLoss``, ``2 * log sum |.|^alpha + KL`` plus the cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.losses.base import TINY, DistillationLoss, numel, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import SRDSpec


def batch_standardize(z: Tensor, eps: float = 1e-4) -> Tensor:
    """Batch normalisation without affine parameters, on the batch's statistics: per feature ``d``,
    ``(z_d - mean_b z_d) / sqrt(var_b z_d + eps)`` with the biased variance (``nn.BatchNorm1d`` in
    training)."""
    return F.batch_norm(z, None, None, training=True, eps=eps)


def srd(s_projected: Tensor, t_feat: Tensor, exponent: float = 4.0, eps: float = 1e-4) -> Tensor:
    """The SRD feature loss: ``log sum_{b,d} |BN(s)_{b,d} - BN(t)_{b,d}|^alpha`` over the batch.

    ``s_projected`` is the student's ``(B, D)`` feature already projected to the teacher's width ``D``;
    ``BN`` is :func:`batch_standardize`. The sum is floored at 1e-30 before the log (finite when the two sides
    are equal), and is not divided by ``B`` (under the log that would only shift the loss).
    """
    if s_projected.dim() != 2 or s_projected.shape != t_feat.shape:
        raise ValueError(
            f"SRD needs (B, D) student and teacher features of one shape, got {tuple(s_projected.shape)} "
            f"and {tuple(t_feat.shape)}"
        )
    diff = (batch_standardize(s_projected, eps) - batch_standardize(t_feat, eps)).abs()
    return torch.log(diff.pow(exponent).sum().clamp_min(TINY))


def pooled(x: Tensor) -> Tensor:
    """A ``(B, C, *spatial)`` map averaged over its positions to ``(B, C)``; a ``(B, D)`` vector as it is."""
    return x.flatten(2).mean(dim=2) if x.dim() > 2 else x


@register(spec=SRDSpec, needs=(), inputs="embeddings")
class SRD(DistillationLoss):
    """SRD (Miles & Mikolajczyk 2024) with its trainable linear projector (with bias, student width to the
    teacher's) owned by the module; a feature map is first averaged over its positions (the authors pool the
    last stage). The normalisation always uses the batch's statistics (no running averages are kept)."""

    params_model = SRDSpec
    config: SRDSpec

    def build(self) -> None:
        require_shapes(self)
        self.proj = nn.Linear(self.s_shape[0] if len(self.s_shape) > 1 else numel(self.s_shape), self.t_dim)

    @property
    def t_dim(self) -> int:
        """The teacher's feature width (channels of a map, else the vector's size)."""
        return self.t_shape[0] if len(self.t_shape) > 1 else numel(self.t_shape)

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        projected: Tensor = self.proj(pooled(s))
        return srd(projected, pooled(teacher(t)), self.config.exponent, self.config.eps)
