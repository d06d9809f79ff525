"""Teacher-free KD with a manually designed teacher, Tf-KD_reg (Yuan, Tay, Li, Wang, Feng 2020, CVPR).

"Revisiting Knowledge Distillation via Label Smoothing Regularization" shows that label smoothing is a
virtual teacher of 100% accuracy and replaces the teacher by a designed distribution ``p^d``: probability
``a`` on the correct class and ``(1 - a) / (K - 1)`` on each other class. Tf-KD_self (the model trained
first as its own teacher) needs no loss of its own: it is soft-label KD with a teacher of the student's
architecture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, kl_rows, require
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import TfKDRegSpec


def tfkd_virtual_teacher(
    targets: Tensor, num_classes: int, correct_prob: float = 0.99, dtype: torch.dtype = torch.float32
) -> Tensor:
    """The designed teacher ``p^d`` of Tf-KD_reg, ``(B, K)``: ``a`` on the label, ``(1 - a) / (K - 1)`` elsewhere."""
    if num_classes < 2:
        raise ValueError(f"Tf-KD_reg needs at least 2 classes, got {num_classes}")
    other = (1.0 - correct_prob) / (num_classes - 1)
    onehot = F.one_hot(targets.long(), num_classes).to(dtype)
    return other + (correct_prob - other) * onehot


def tfkd_reg(
    s_logits: Tensor, targets: Tensor, correct_prob: float = 0.99, temperature: float = 20.0
) -> Tensor:
    """Tf-KD_reg's distillation term, Yuan et al. 2020 (the KL term ``D_KL(p^d_tau, p)`` of the Tf-KD_reg objective), batch mean.

    ``(1/B) sum_i KL(softmax(p^d_i / tau) || softmax(s_i))``: the virtual teacher is softened by applying
    the temperature softmax to ``p^d`` itself (as the authors' code does); the student's distribution is at
    temperature 1 (as in the authors' code). The paper's weight ``alpha`` and ``(1 - alpha)`` on the
    cross-entropy are the recipe's knowledge weight and ``ce_weight``. The authors' element-wise mean over
    ``B * K`` times their ``multiplier`` (100 for CIFAR-100, ``K = 100``) equals this batch mean.
    """
    p_d = tfkd_virtual_teacher(targets, s_logits.shape[1], correct_prob, s_logits.dtype)
    log_teacher = F.log_softmax(p_d / temperature, dim=1)
    return kl_rows(log_teacher, F.log_softmax(s_logits, dim=1)).mean()


@register(spec=TfKDRegSpec, needs=("targets",), inputs="logits")
class TfKDReg(DistillationLoss):
    """Tf-KD_reg (Yuan et al. 2020): module form of :func:`tfkd_reg`; the teacher tensor is not used."""

    params_model = TfKDRegSpec
    config: TfKDRegSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        c = self.config
        return tfkd_reg(s, require(targets, "targets"), c.correct_prob, c.temperature)
