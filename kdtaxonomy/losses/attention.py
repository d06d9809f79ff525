"""Attention transfer (Zagoruyko & Komodakis 2017, "Paying More Attention to Attention", ICLR)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, flat, match_spatial, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import AttentionTransferSpec


def attention_map(feat: Tensor, p: float = 2.0) -> Tensor:
    """Activation-based spatial attention, Sec. 3.1: ``Q = normalize(mean_c |F_c|^p)``, flattened to
    ``(B, L)`` or ``(B, H*W)`` and L2-normalised per sample (``F.normalize``, eps 1e-12).

    The paper's ``F_sum^p = sum_c |A_c|^p``; the mean differs by a constant removed by the normalisation.
    """
    return F.normalize(flat(feat.abs().pow(p).mean(dim=1)), dim=1)


def attention_transfer(s_feat: Tensor, t_feat: Tensor, p: float = 2.0) -> Tensor:
    """Attention transfer loss, Sec. 3.1 (the paper's distance of normalised maps, squared and averaged as
    in the authors' code).

    ``(1/(B*HW)) sum_i sum_x (Q_s,i(x) - Q_t,i(x))^2`` with ``Q`` from :func:`attention_map`; when the
    spatial sizes differ the larger feature map is adaptive-average-pooled to the smaller size first.
    Works on 1-D ``(B, C, L)`` and 2-D ``(B, C, H, W)`` maps; channel counts may differ.
    """
    s_feat, t_feat = match_spatial(s_feat, t_feat)
    return (attention_map(s_feat, p) - attention_map(t_feat, p)).pow(2).mean()


@register(spec=AttentionTransferSpec, needs=(), inputs="features")
class AttentionTransfer(DistillationLoss):
    """Attention transfer (Zagoruyko & Komodakis 2017): module form of :func:`attention_transfer`."""

    params_model = AttentionTransferSpec
    config: AttentionTransferSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return attention_transfer(s, teacher(t), self.config.p)
