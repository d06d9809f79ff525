"""Variational information distillation (Ahn, Hu, Damianou, Lawrence, Dai 2019, CVPR)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.losses.base import DistillationLoss, conv1x1, flat, numel, pool_to, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import VIDSpec


def vid_variance(alpha: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-channel variance ``sigma_c^2 = softplus(alpha_c) + eps`` (Ahn et al. 2019, Eq. 5)."""
    return F.softplus(alpha) + eps


def vid(s_regressed_mean: Tensor, t_feat: Tensor, alpha: Tensor, eps: float = 1e-5) -> Tensor:
    """Ahn et al. 2019, "Variational Information Distillation for Knowledge Transfer", Eq. (4)-(5).

    Negative log-likelihood of the teacher feature ``t`` under the Gaussian
    ``N(mu(s), diag(sigma_c^2))`` (heteroscedastic mean ``mu(s)`` = ``s_regressed_mean``, homoscedastic
    per-channel variance from :func:`vid_variance`), without the constant ``log(2 pi)/2``::

        (1/(B*P)) sum_{i, positions} sum_c [ log sigma_c + (t - mu)^2 / (2 sigma_c^2) ]

    i.e. summed over channels (not divided by C) and averaged over samples and spatial positions
    (``P = L`` or ``H*W``; ``P = 1`` for vectors). ``alpha`` has shape ``(C,)``.
    """
    var = vid_variance(alpha, eps)
    shape = (1, -1) + (1,) * (t_feat.dim() - 2)
    var = var.view(shape)
    nll = 0.5 * torch.log(var) + (t_feat - s_regressed_mean).pow(2) / (2 * var)
    positions = math.prod(t_feat.shape[2:])
    return nll.sum() / (t_feat.shape[0] * positions)


def _mlp(c_in: int, hidden: int, c_out: int, dims: int) -> nn.Sequential:
    """Three 1x1 convolutions (or linear layers when ``dims == 0``) with ReLUs in between."""

    def layer(a: int, b: int) -> nn.Module:
        return nn.Linear(a, b) if dims == 0 else conv1x1(a, b, dims)

    return nn.Sequential(
        layer(c_in, hidden), nn.ReLU(), layer(hidden, hidden), nn.ReLU(), layer(hidden, c_out)
    )


@register(spec=VIDSpec, needs=(), inputs="features")
class VID(DistillationLoss):
    """Variational information distillation (Ahn et al. 2019): module form of :func:`vid`.

    Owns the mean regressor ``mu(.)`` (three 1x1 convolutions with ReLUs for maps, as in the paper's
    intermediate-layer setting; linear layers for vectors; the student map is first average-pooled to the
    teacher's spatial size) and the per-channel variance parameter ``alpha`` (``nn.Parameter``).
    """

    params_model = VIDSpec
    config: VIDSpec

    def build(self) -> None:
        require_shapes(self)
        s_shape, t_shape, c = self.s_shape, self.t_shape, self.config
        self.maps = len(s_shape) == len(t_shape) and len(t_shape) in (2, 3)
        if self.maps:
            hidden = c.hidden or t_shape[0]
            self.regressor = _mlp(s_shape[0], hidden, t_shape[0], len(t_shape) - 1)
            channels = t_shape[0]
        else:
            hidden = c.hidden or numel(t_shape)
            self.regressor = _mlp(numel(s_shape), hidden, numel(t_shape), 0)
            channels = numel(t_shape)
        # softplus^{-1}(v - eps) = log(exp(v - eps) - 1)
        init = math.log(math.expm1(c.init_variance - c.eps)) if c.init_variance > c.eps else -10.0
        self.alpha = nn.Parameter(torch.full((channels,), init))

    def mean(self, s: Tensor) -> Tensor:
        """``mu(s)`` with the teacher's shape (channels-first; vectors flattened)."""
        if self.maps:
            out: Tensor = self.regressor(pool_to(s, self.t_shape[1:]))
            return out
        out = self.regressor(flat(s))
        return out

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        t = teacher(t)
        if not self.maps:
            t = flat(t)
        return vid(self.mean(s), t, self.alpha, self.config.eps)
