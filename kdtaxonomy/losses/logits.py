"""Logit (response-based) distillation losses: soft/hard labels, conditional, weighted, multi-teacher, DML.

Conventions: logits are ``(B, K)``; ``KL(p || q) = sum_k p_k log(p_k / q_k)`` is computed from
log-softmaxes; "batch mean" is ``(1/B) sum_i``. The functional forms do not detach the teacher (except
:func:`dml`, whose peer is a constant by definition); the module forms always do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, kl_rows, require, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import (
    ConditionalKDSpec,
    DMLSpec,
    HardLabelKDSpec,
    MultiTeacherKDSpec,
    SoftLabelKDSpec,
    WeightedKDSpec,
)


def soft_label_kd(s_logits: Tensor, t_logits: Tensor, temperature: float = 4.0) -> Tensor:
    """Hinton et al. 2015, "Distilling the Knowledge in a Neural Network", Sec. 2 (soft targets).

    ``T^2 * (1/B) sum_i KL(softmax(t_i/T) || softmax(s_i/T))``; the ``T^2`` keeps gradient magnitudes
    comparable across temperatures.
    """
    tau = temperature
    kl = kl_rows(F.log_softmax(t_logits / tau, dim=1), F.log_softmax(s_logits / tau, dim=1))
    return tau * tau * kl.mean()


def hard_label_kd(s_logits: Tensor, t_logits: Tensor) -> Tensor:
    """Hard-label distillation: cross-entropy of the student against the teacher's ``argmax`` (batch mean)."""
    return F.cross_entropy(s_logits, t_logits.argmax(dim=1))


def conditional_kd(s_logits: Tensor, t_logits: Tensor, targets: Tensor, temperature: float = 1.0) -> Tensor:
    """Meng et al. 2019, "Conditional Teacher-Student Learning" (ICASSP), Sec. 3.

    Per sample ``i``: if the teacher is right (``argmax t_i == y_i``) the soft cross-entropy
    ``-T^2 sum_k softmax(t_i/T)_k log softmax(s_i/T)_k``, otherwise the hard cross-entropy
    ``-log softmax(s_i)_{y_i}``; batch mean.
    """
    tau = temperature
    soft = -(F.softmax(t_logits / tau, dim=1) * F.log_softmax(s_logits / tau, dim=1)).sum(dim=1)
    hard = F.cross_entropy(s_logits, targets, reduction="none")
    correct = t_logits.argmax(dim=1) == targets
    return torch.where(correct, tau * tau * soft, hard).mean()


def weighted_kd(s_logits: Tensor, t_logits: Tensor, targets: Tensor, temperature: float = 4.0) -> Tensor:
    """Teacher-confidence-weighted soft-label KD.

    ``(1/B) sum_i w_i T^2 KL(softmax(t_i/T) || softmax(s_i/T))`` with ``w_i = softmax(t_i)[y_i]``
    (temperature 1) rescaled to mean 1 over the batch, ``w_i <- w_i / ((1/B) sum_j w_j)``, so that the
    overall scale matches :func:`soft_label_kd` and only the relative emphasis changes.
    """
    tau = temperature
    w = F.softmax(t_logits, dim=1).gather(1, targets.long().unsqueeze(1)).squeeze(1)
    w = w / w.mean()
    kl = kl_rows(F.log_softmax(t_logits / tau, dim=1), F.log_softmax(s_logits / tau, dim=1))
    return tau * tau * (w * kl).mean()


def _stack_teachers(t_logits: Sequence[Tensor] | Tensor) -> Tensor:
    """``(M, B, K)`` from a list of ``(B, K)`` tensors, a ``(B, K)`` tensor or an ``(M, B, K)`` tensor."""
    if isinstance(t_logits, Tensor):
        return t_logits.unsqueeze(0) if t_logits.dim() == 2 else t_logits
    if len(t_logits) == 0:
        raise ValueError("multi_teacher_kd needs at least one teacher")
    return torch.stack(list(t_logits))


def multi_teacher_kd(
    s_logits: Tensor,
    t_logits_list: Sequence[Tensor] | Tensor,
    temperature: float = 4.0,
    weights: Sequence[float] | Tensor | None = None,
) -> Tensor:
    """Multi-teacher KD with a weighted ensemble of soft targets (Hinton et al. 2015, Sec. 2; You et al.
    2017, "Learning from Multiple Teacher Networks", KDD).

    ``T^2 * (1/B) sum_i KL(sum_m w_m softmax(t_{m,i}/T) || softmax(s_i/T))``; uniform ``w_m = 1/M`` by
    default. Given weights must be non-negative and are divided by their sum (a no-op when they sum to 1).
    With one teacher this is :func:`soft_label_kd`.
    """
    tau = temperature
    ts = _stack_teachers(t_logits_list)
    m = ts.shape[0]
    if weights is None:
        w = torch.full((m,), 1.0 / m, dtype=ts.dtype, device=ts.device)
    else:
        w = torch.as_tensor(weights, dtype=ts.dtype, device=ts.device).flatten()
        if w.numel() != m or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"weights must be {m} non-negative numbers with a positive sum, got {weights}")
        w = w / w.sum()
    log_mix = torch.logsumexp(F.log_softmax(ts / tau, dim=2) + w.log().view(m, 1, 1), dim=0)
    return tau * tau * kl_rows(log_mix, F.log_softmax(s_logits / tau, dim=1)).mean()


def dml(s_logits: Tensor, peer_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Zhang et al. 2018, "Deep Mutual Learning" (CVPR), Sec. 3.1: the mimicry term ``D_KL(p_peer || p_s)``.

    ``T^2 * (1/B) sum_i KL(softmax(peer_i/T) || softmax(s_i/T))`` with the peer detached (a constant
    for this network's update); the supervised cross-entropy of DML's total loss is added by the pipeline.
    """
    return soft_label_kd(s_logits, peer_logits.detach(), temperature)


@register(spec=SoftLabelKDSpec, needs=(), inputs="logits")
class SoftLabelKD(DistillationLoss):
    """Soft-label KD (Hinton et al. 2015): module form of :func:`soft_label_kd`."""

    params_model = SoftLabelKDSpec
    config: SoftLabelKDSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return soft_label_kd(s, teacher(t), self.config.temperature)


@register(spec=HardLabelKDSpec, needs=(), inputs="logits")
class HardLabelKD(DistillationLoss):
    """Hard-label KD: module form of :func:`hard_label_kd`."""

    params_model = HardLabelKDSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return hard_label_kd(s, teacher(t))


@register(spec=ConditionalKDSpec, needs=("targets",), inputs="logits")
class ConditionalKD(DistillationLoss):
    """Conditional teacher-student learning (Meng et al. 2019): module form of :func:`conditional_kd`."""

    params_model = ConditionalKDSpec
    config: ConditionalKDSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return conditional_kd(s, teacher(t), require(targets, "targets"), self.config.temperature)


@register(spec=WeightedKDSpec, needs=("targets",), inputs="logits")
class WeightedKD(DistillationLoss):
    """Teacher-confidence-weighted KD: module form of :func:`weighted_kd`."""

    params_model = WeightedKDSpec
    config: WeightedKDSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return weighted_kd(s, teacher(t), require(targets, "targets"), self.config.temperature)


@register(spec=MultiTeacherKDSpec, needs=(), inputs="logits")
class MultiTeacherKD(DistillationLoss):
    """Multi-teacher KD: module form of :func:`multi_teacher_kd`; ``t`` is a list of teacher logits
    (or one ``(B, K)`` tensor, or a stacked ``(M, B, K)`` tensor)."""

    params_model = MultiTeacherKDSpec
    config: MultiTeacherKDSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        ts: Tensor | list[Tensor] = t.detach() if isinstance(t, Tensor) else [x.detach() for x in t]
        return multi_teacher_kd(s, ts, self.config.temperature, self.config.weights)


@register(spec=DMLSpec, needs=(), inputs="logits")
class DeepMutualLearning(DistillationLoss):
    """Deep mutual learning (Zhang et al. 2018): module form of :func:`dml` (``t`` = the peer's logits)."""

    params_model = DMLSpec
    config: DMLSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return dml(s, teacher(t), self.config.temperature)
