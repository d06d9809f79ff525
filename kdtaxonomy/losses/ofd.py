"""OFD: "A Comprehensive Overhaul of Feature Distillation" (Heo, Kim, Yun, Park, Kwak, Choi 2019, ICCV).

The paper designs a feature-distillation loss along four aspects:

* position: the features *before* the ReLU at the end of a stage, so that the teacher's negative responses
  (which the ReLU would erase) are seen;
* teacher transform: the margin ReLU ``sigma_m(x) = max(x, m)`` with a per-channel margin
  ``m = E[x | x < 0]``, the expectation of the teacher's negative responses: the sign of a negative
  response is kept, its magnitude is not. The paper computes ``m`` from the batch normalisation before the
  position, whose affine output it takes as Gaussian: ``m = mu - sigma phi(mu / sigma) / Phi(-mu / sigma)``;
* student transform: a connector ``r``, a 1x1 convolution and batch normalisation (on vectors: linear
  and batch normalisation);
* distance: the partial L2 ``d_p(T, S) = sum_i 0 if S_i <= T_i <= 0 else (T_i - S_i)^2``: where the
  (transformed) teacher is negative, a student below it is not penalised.

The loss is ``d_p(sigma_m(F_t), r(F_s))`` next to the task loss. The registered module gets only the two
feature tensors, not the teacher model, so it estimates ``m`` from the teacher responses it sees
(:class:`OFD`); :func:`margin_from_batchnorm` is the paper's computation for a user who has the BN layer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from kdtaxonomy.losses.base import DistillationLoss, Shape, connector, match_spatial, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import OFDSpec

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_margin(mean: Tensor, std: Tensor) -> Tensor:
    """``E[x | x < 0]`` of ``x ~ N(mean, std^2)``, element-wise: ``mean - std phi(z) / Phi(-z)``, ``z =
    mean / std`` (the paper's margin from a BN layer's shift ``mean = beta`` and scale ``std = |gamma|``).

    The ratio is taken through ``log phi - log Phi`` so that a channel that is rarely negative (large ``z``)
    gets its limit 0 rather than ``0 / 0``; ``z`` is clipped to [-50, 50] and the result to at most 0. The
    authors' code uses ``-3 std`` instead where ``Phi(-z) <= 0.001`` (``z`` above about 3.1); the closed
    form is kept here.
    """
    z = (mean / std.clamp_min(1e-12)).clamp(-50.0, 50.0)
    ratio = torch.exp(-0.5 * z * z - _LOG_SQRT_2PI - torch.special.log_ndtr(-z))
    return (mean - std * ratio).clamp_max(0.0)


def margin_from_batchnorm(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> Tensor:
    """The paper's margin of the responses after batch normalisation ``bn`` (affine): the Gaussian margin
    of :func:`gaussian_margin` with mean ``beta`` and standard deviation ``|gamma|``, per channel."""
    if bn.weight is None or bn.bias is None:
        raise ValueError("the margin from batch normalisation needs its affine weight and bias")
    return gaussian_margin(bn.bias.detach(), bn.weight.detach().abs())


def _per_channel(margin: Tensor, like: Tensor) -> Tensor:
    """A ``(C,)`` margin shaped to broadcast over ``(B, C, *spatial)``."""
    if margin.shape != (like.shape[1],):
        raise ValueError(f"OFD needs one margin per channel ({like.shape[1]}), got {tuple(margin.shape)}")
    return margin.to(like.dtype).reshape(1, -1, *([1] * (like.dim() - 2)))


def margin_relu(t: Tensor, margin: Tensor) -> Tensor:
    """The teacher transform ``sigma_m(T) = max(T, m)``, ``m`` per channel (dimension 1)."""
    return torch.maximum(t, _per_channel(margin, t))


def partial_l2(s: Tensor, target: Tensor) -> Tensor:
    """The element-wise partial L2 of ``target`` (the transformed teacher) and ``s`` (the connected
    student): 0 where ``s <= target <= 0``, else ``(target - s)^2``."""
    skip = (s <= target) & (target <= 0)
    return torch.where(skip, torch.zeros_like(s), (target - s).pow(2))


def ofd(s_connected: Tensor, t_feat: Tensor, margin: Tensor) -> Tensor:
    """The OFD distillation loss ``d_p(sigma_m(T), r(S))``: :func:`partial_l2` of :func:`margin_relu` of the
    teacher's pre-ReLU features ``t_feat`` and the connector output ``s_connected`` (of the teacher's shape,
    ``(B, C, *spatial)`` or ``(B, C)``), summed over features and averaged over the batch (the authors sum
    and divide by the batch size). ``margin`` is ``(C,)``."""
    if s_connected.shape != t_feat.shape or s_connected.dim() < 2:
        raise ValueError(
            f"OFD needs the connected student of the teacher's shape, got {tuple(s_connected.shape)} "
            f"and {tuple(t_feat.shape)}"
        )
    return partial_l2(s_connected, margin_relu(t_feat, margin)).sum() / s_connected.shape[0]


def ofd_connector(s_shape: Shape, t_shape: Shape) -> nn.Module:
    """The student transform: 1x1 convolution without bias and BN for two 1-D or 2-D maps
    (:func:`~kdtaxonomy.losses.base.connector`), linear without bias and BN for two vectors."""
    if len(s_shape) == len(t_shape) == 1:
        return nn.Sequential(nn.Linear(s_shape[0], t_shape[0], bias=False), nn.BatchNorm1d(t_shape[0]))
    return connector(s_shape, t_shape, "OFD")


def _moments(t: Tensor) -> tuple[Tensor, ...]:
    """Per channel (float64): count, sum, sum of squares, sum of the negative responses, their count."""
    x = t.detach().transpose(0, 1).reshape(t.shape[1], -1).double()
    negative = x.clamp_max(0.0)
    count = torch.full((x.shape[0],), float(x.shape[1]), dtype=x.dtype, device=x.device)
    return count, x.sum(1), x.pow(2).sum(1), negative.sum(1), (x < 0).sum(1).double()


@register(spec=OFDSpec, needs=(), inputs="features")
class OFD(DistillationLoss):
    """OFD (Heo et al. 2019) with its trainable connector: 1x1 convolution and BN on 1-D or 2-D maps, linear
    and BN on vectors (:func:`ofd_connector`), with PyTorch's default initialisation (the authors' code
    draws the convolution from He et al.'s normal). Where the spatial sizes differ, the larger map is
    adaptive-average-pooled to the smaller (the authors' positions share a size; mdistiller pools the
    teacher to the student's size).

    The margin is estimated from the teacher's responses at the location, over every batch the term has
    seen in training mode (running float64 sums, kept in the state dict; the teacher is frozen, so its
    response distribution does not change): with ``margin_estimate: gaussian`` the paper's closed form
    (:func:`gaussian_margin`) of their per-channel mean and standard deviation, which for responses right
    after a BN layer estimate the paper's ``beta`` and ``|gamma|``; with ``empirical`` the per-channel
    mean of the negative responses, ``E[x | x < 0]`` without the Gaussian assumption (0 for a channel
    without negative responses). :meth:`set_margin` fixes the margin instead, e.g. to
    :func:`margin_from_batchnorm` of the teacher's BN before the location, as the paper does.
    """

    params_model = OFDSpec
    config: OFDSpec
    seen: Tensor
    total: Tensor
    squares: Tensor
    negative_total: Tensor
    negative_count: Tensor
    fixed_margin: Tensor
    fixed: Tensor

    def build(self) -> None:
        require_shapes(self)
        self.connector = ofd_connector(self.s_shape, self.t_shape)
        channels = self.t_shape[0]
        for name in ("seen", "total", "squares", "negative_total", "negative_count", "fixed_margin"):
            self.register_buffer(name, torch.zeros(channels, dtype=torch.float64))
        self.register_buffer("fixed", torch.zeros((), dtype=torch.bool))

    def set_margin(self, margin: Tensor) -> None:
        """Use ``margin`` (``(C,)``, the teacher's channels) instead of the estimate from the responses."""
        if margin.shape != self.fixed_margin.shape:
            raise ValueError(f"OFD needs one margin per teacher channel {tuple(self.fixed_margin.shape)}")
        self.fixed_margin.copy_(margin.detach().to(self.fixed_margin))
        self.fixed.fill_(True)

    def margin(self, t_feat: Tensor | None = None) -> Tensor:
        """The current margin ``(C,)``: fixed, or estimated from the sums so far (from ``t_feat`` alone
        when none were accumulated yet)."""
        if bool(self.fixed):
            return self.fixed_margin
        sums: tuple[Tensor, ...] = (
            self.seen,
            self.total,
            self.squares,
            self.negative_total,
            self.negative_count,
        )
        if not bool((self.seen > 0).all()) and t_feat is not None:
            sums = _moments(t_feat)
        seen, total, squares, negative_total, negative_count = sums
        if self.config.margin_estimate == "empirical":
            return negative_total / negative_count.clamp_min(1.0)
        mean = total / seen.clamp_min(1.0)
        std = (squares / seen.clamp_min(1.0) - mean.pow(2)).clamp_min(0.0).sqrt()
        return gaussian_margin(mean, std)

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        connected, t_feat = self.connector(s), teacher(t)
        if connected.dim() > 2:
            connected, t_feat = match_spatial(connected, t_feat)
        if self.training and not bool(self.fixed):
            for buffer, value in zip(
                (self.seen, self.total, self.squares, self.negative_total, self.negative_count),
                _moments(t_feat),
                strict=True,
            ):
                buffer.add_(value)
        return ofd(connected, t_feat, self.margin(t_feat))
