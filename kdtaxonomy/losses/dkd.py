"""Decoupled knowledge distillation (Zhao, Cui, Song, Qiu, Liang 2022, CVPR)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, kl_rows, require, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import DKDSpec

NONTARGET_MASK = 1000.0
"""Offset subtracted from the target logit (after division by T) to build the non-target distribution."""


def _binary_log_probs(z: Tensor, onehot: Tensor) -> Tensor:
    """``log [p_target, 1 - p_target]`` of ``softmax(z)``, shape ``(B, 2)``, computed in log space."""
    lse_all = torch.logsumexp(z, dim=1)
    log_pt = (z * onehot).sum(dim=1) - lse_all
    log_pnt = torch.logsumexp(z.masked_fill(onehot.bool(), float("-inf")), dim=1) - lse_all
    return torch.stack([log_pt, log_pnt], dim=1)


def dkd_parts(
    s_logits: Tensor, t_logits: Tensor, targets: Tensor, temperature: float = 4.0
) -> tuple[Tensor, Tensor]:
    """``(TCKD, NCKD)`` of Zhao et al. 2022, Sec. 3.1, each ``T^2 * (1/B) sum_i KL(teacher || student)``.

    TCKD compares the binary distributions ``b = [p_t, 1 - p_t]`` of ``softmax(z/T)`` (``p_t`` = probability
    of the target class); NCKD compares ``softmax(z/T - 1000 * onehot(y))``, i.e. the distribution over
    the non-target classes (the target's mass is ``~exp(-1000) = 0``).
    """
    tau = temperature
    onehot = F.one_hot(targets.long(), s_logits.shape[1]).to(s_logits.dtype)
    zs, zt = s_logits / tau, t_logits / tau
    tckd = kl_rows(_binary_log_probs(zt, onehot), _binary_log_probs(zs, onehot)).mean()
    log_ns = F.log_softmax(zs - NONTARGET_MASK * onehot, dim=1)
    log_nt = F.log_softmax(zt - NONTARGET_MASK * onehot, dim=1)
    nckd = kl_rows(log_nt, log_ns).mean()
    return tau * tau * tckd, tau * tau * nckd


def dkd(
    s_logits: Tensor,
    t_logits: Tensor,
    targets: Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
) -> Tensor:
    """Decoupled KD, Zhao et al. 2022 (Sec. 3.2): ``alpha * TCKD + beta * NCKD`` (see :func:`dkd_parts`).

    Classical KD decomposes per sample as ``KD = TCKD + (1 - p_t^T) * NCKD`` (Sec. 3.1, ``p_t^T`` the
    teacher's softened target probability); DKD replaces the coupled weight by ``beta``. No warm-up factor
    is applied here (the paper ramps the loss in linearly over the first epochs: :class:`DKD` does).
    """
    tckd, nckd = dkd_parts(s_logits, t_logits, targets, temperature)
    return alpha * tckd + beta * nckd


@register(spec=DKDSpec, needs=("targets",), inputs="logits")
class DKD(DistillationLoss):
    """Decoupled KD (Zhao et al. 2022): module form of :func:`dkd`, ramped in by the paper's warm-up.

    The distiller calls :meth:`set_progress` before every step with the epochs elapsed at its end (1.0 at
    the last step of the first epoch, as mdistiller's 1-based epoch counter); the loss is multiplied by
    :meth:`warmup_factor` of it. Used outside a distiller without progress, no warm-up is applied.
    """

    params_model = DKDSpec
    config: DKDSpec
    progress: float | None = None

    def set_progress(self, epochs: float) -> None:
        """Epochs of training elapsed at the end of the coming step (fractional)."""
        self.progress = float(epochs)

    def warmup_factor(self, epoch: float) -> float:
        """The paper's warm-up multiplier ``min(epoch / warmup_epochs, 1)`` (1 when warm-up is off)."""
        n = self.config.warmup_epochs
        return 1.0 if n <= 0 else min(max(epoch, 0.0) / n, 1.0)

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        c = self.config
        value = dkd(s, teacher(t), require(targets, "targets"), c.alpha, c.beta, c.temperature)
        return value if self.progress is None else self.warmup_factor(self.progress) * value
