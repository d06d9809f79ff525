"""ICKD: inter-channel correlation distillation (Liu, Huang, Lin, Xie, Wang, Chang, Liang 2021, ICCV).

The knowledge is the inter-channel correlation (ICC) matrix of a feature map: for each sample, the ``C x C``
matrix of inner products between the flattened channels (``G = F F^T`` with ``F`` the ``(C, N)`` map,
``N`` spatial positions), so it is independent of the spatial size. The student's map is first embedded to
the teacher's channel count by a trainable 1x1 convolution followed by batch normalisation (the authors'
``Embed``), and the two matrices, L2-normalised row by row, are matched by a squared error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, connector, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import ICKDSpec


def icc_matrix(feat: Tensor) -> Tensor:
    """Row-normalised inter-channel correlation matrices of ``(B, C, *spatial)`` maps, shape ``(B, C, C)``.

    ``G_b = F_b F_b^T`` with ``F_b`` the ``(C, N)`` flattened map of sample ``b``; each row ``G_b[i, :]`` is
    divided by its L2 norm (floored at 1e-12, as ``F.normalize``), following the authors' released code.
    """
    f = feat.reshape(feat.shape[0], feat.shape[1], -1)
    gram = torch.bmm(f, f.transpose(1, 2))
    return F.normalize(gram, dim=2)


def ickd(s_feat_embedded: Tensor, t_feat: Tensor) -> Tensor:
    """ICKD loss, Liu et al. 2021 (Sec. 3, the ICC loss), as the authors' released code computes it.

    ``L_ICC = (1 / (B C)) * sum_b ||G^s_b - G^t_b||_F^2`` with ``G`` from :func:`icc_matrix`;
    ``s_feat_embedded`` is the student map already embedded to the teacher's ``C`` channels (its spatial
    size may differ from the teacher's). torchdistill's ``ChSimLoss`` divides by ``B^2 C`` instead (a
    further factor ``1/B``, compensated there by a weight of 500).
    """
    if s_feat_embedded.shape[:2] != t_feat.shape[:2]:
        raise ValueError(
            f"ICKD needs the same batch and channel sizes, got {tuple(s_feat_embedded.shape)} "
            f"and {tuple(t_feat.shape)}"
        )
    b, c = t_feat.shape[0], t_feat.shape[1]
    diff = icc_matrix(s_feat_embedded) - icc_matrix(t_feat)
    return diff.pow(2).sum() / (b * c)


@register(spec=ICKDSpec, needs=(), inputs="features")
class ICKD(DistillationLoss):
    """ICKD (Liu et al. 2021) with the trainable student embedding (1x1 convolution without bias, then
    batch normalisation, to the teacher's channels) owned by the module; maps only (1-D or 2-D)."""

    params_model = ICKDSpec

    def build(self) -> None:
        require_shapes(self)
        self.embed = connector(self.s_shape, self.t_shape, "ICKD")

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        embedded: Tensor = self.embed(s)
        return ickd(embedded, teacher(t))
