"""Neuron selectivity transfer (Huang & Wang 2017, "Like What You Like: Knowledge Distill via Neuron
Selectivity Transfer")."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, match_spatial, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import NSTSpec


def nst(s_feat: Tensor, t_feat: Tensor) -> Tensor:
    """Squared MMD with the polynomial kernel ``k(x, y) = (x . y)^2`` (d = 2, c = 0) between channels, Sec. 3.

    Each channel's flattened map is L2-normalised (``F.normalize``, eps 1e-12); per sample ``i`` the
    channels are the samples of the two distributions. Value: ``mean k(t, t) + mean k(s, s) -
    2 mean k(s, t)``, each mean over all samples and all (ordered) channel pairs (``B*Ct*Ct``, ``B*Cs*Cs``,
    ``B*Cs*Ct`` terms). Maps of different spatial size are matched by pooling the larger one first.
    """
    s_feat, t_feat = match_spatial(s_feat, t_feat)
    fs = F.normalize(s_feat.flatten(2), dim=2)
    ft = F.normalize(t_feat.flatten(2), dim=2)
    k_tt = (ft @ ft.transpose(1, 2)).pow(2).mean()
    k_ss = (fs @ fs.transpose(1, 2)).pow(2).mean()
    k_st = (fs @ ft.transpose(1, 2)).pow(2).mean()
    return k_tt + k_ss - 2 * k_st


@register(spec=NSTSpec, needs=(), inputs="features")
class NeuronSelectivityTransfer(DistillationLoss):
    """Neuron selectivity transfer (Huang & Wang 2017): module form of :func:`nst`."""

    params_model = NSTSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return nst(s, teacher(t))
