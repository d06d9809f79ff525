"""PAD: prime-aware adaptive distillation (Zhang, Lan, Dai, Zeng, Bai, Chang, Wei 2020, ECCV), with its plain L2
feature-distillation baseline.

The baseline (torchdistill's ``L2``) matches the student's feature vector to the teacher's by a mean squared
error. PAD holds that the samples of a batch should not count equally in distillation: the student learns,
with a small head of its own, how uncertain its imitation of each sample is, and the L2 term becomes the
negative log-likelihood of the teacher's feature under a Gaussian centred on the student's, with the learned
variance. Each squared difference is divided by the predicted variance and the log-variance is added as a
regulariser: samples (and features) the student predicts well ("prime" samples, low variance) weigh more,
hard or noisy ones less, and the regulariser keeps the variance from growing without bound.

With ``log_var = log sigma^2`` per sample and feature, the loss is (twice the Gaussian negative log-likelihood,
without its constant, averaged over the batch and the features, as torchdistill's ``PADL2Loss`` computes
it)::

    L_PAD-L2 = (1 / (B D)) sum_{b, d} [ (t_bd - s_bd)^2 / (eps + exp(log_var_bd)) + log_var_bd ]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.losses.base import StagedLoss, flat, numel, projection, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import FeatureL2Spec, PADL2Spec


def _vectors(s_vec: Tensor, t_vec: Tensor, name: str) -> tuple[Tensor, Tensor]:
    s, t = flat(s_vec), flat(t_vec)
    if s.shape != t.shape:
        raise ValueError(
            f"{name} needs student and teacher features of one size per sample, got {tuple(s_vec.shape)} "
            f"and {tuple(t_vec.shape)}"
        )
    return s, t


def feature_l2(s_vec: Tensor, t_vec: Tensor) -> Tensor:
    """The L2 baseline of PAD (torchdistill's ``L2``): ``(1 / (B D)) sum_{b, d} (s_bd - t_bd)^2``, the mean
    squared error of the flattened ``(B, D)`` features (``D`` elements per sample on both sides)."""
    s, t = _vectors(s_vec, t_vec, "feature L2")
    return F.mse_loss(s, t)


def pad_l2(s_vec: Tensor, t_vec: Tensor, log_var: Tensor, eps: float = 1e-6) -> Tensor:
    """PAD-L2 (Zhang et al. 2020): the L2 feature term weighted by the student's learned uncertainty.

    ``(1 / (B D)) sum_{b, d} [(t_bd - s_bd)^2 / (eps + exp(v_bd)) + v_bd]`` with ``v = log_var`` the
    predicted log-variances, one per sample and feature (flattened to ``(B, D)`` like the features). This is
    ``2 / D`` times the Gaussian negative log-likelihood ``sum_d [(t - s)^2 / (2 sigma^2) + log(sigma^2) / 2]``
    per sample (constant dropped), averaged over the batch, as torchdistill's ``PADL2Loss``. With
    ``log_var = 0`` (unit variance) it is :func:`feature_l2` up to the ``eps``.
    """
    s, t = _vectors(s_vec, t_vec, "PAD-L2")
    v = flat(log_var)
    if v.shape != t.shape:
        raise ValueError(
            f"PAD-L2 needs one log-variance per feature, got {tuple(log_var.shape)} for features "
            f"{tuple(t_vec.shape)}"
        )
    per_element = (t - s).pow(2) / (eps + torch.exp(v)) + v
    return per_element.mean()


@register(spec=FeatureL2Spec, needs=(), inputs="features")
class FeatureL2(StagedLoss):
    """The plain L2 feature term (PAD's baseline) on flattened features; where the student's size differs from
    the teacher's, a trainable linear projection maps the student to the teacher's size first (torchdistill's
    ResNet-18/ResNet-34 embeddings agree, so it has none). With ``until_epochs`` the term returns 0 once the
    progress passes it."""

    params_model = FeatureL2Spec
    config: FeatureL2Spec

    def build(self) -> None:
        self.proj = projection(self.s_shape, self.t_shape) if self.s_shape and self.t_shape else nn.Identity()

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        t = teacher(t)
        if not self.active():
            return s.sum() * 0.0
        projected: Tensor = self.proj(flat(s))
        return feature_l2(projected, t)


@register(spec=PADL2Spec, needs=(), inputs="features")
class PADL2(StagedLoss):
    """PAD-L2 (Zhang et al. 2020) with the variance head owned by the module: a linear layer and batch
    normalisation on the student's flattened feature, one log-variance per teacher feature (torchdistill's
    ``VarianceBranch4PAD`` on ResNet-18's pooled embedding). Where the sizes differ, the student's mean is a
    trainable linear projection of its feature to the teacher's size (not in torchdistill, whose sizes agree).
    With ``from_epochs`` the term returns 0 until the progress passes it (the second of the two stages).
    """

    params_model = PADL2Spec
    config: PADL2Spec

    def build(self) -> None:
        require_shapes(self)
        d_s, d_t = numel(self.s_shape), numel(self.t_shape)
        self.proj = projection(self.s_shape, self.t_shape)
        self.var_head = nn.Sequential(nn.Linear(d_s, d_t), nn.BatchNorm1d(d_t))

    def active(self) -> bool:
        """Whether the term is on: no ``from_epochs``, no progress known, or progress beyond it."""
        start = self.config.from_epochs
        return start is None or self.progress is None or self.progress > start

    def log_variance(self, s: Tensor) -> Tensor:
        """The predicted log-variances ``(B, D_teacher)`` of the student's (flattened) features."""
        out: Tensor = self.var_head(flat(s))
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
        if not self.active():
            return s.sum() * 0.0
        mean: Tensor = self.proj(flat(s))
        return pad_l2(mean, t, self.log_variance(s), self.config.eps)
