"""Feature (hint) matching: FitNets and the assistant feature matching of seed paper 004.

Feature tensors are 1-D maps ``(B, C, L)``, 2-D maps ``(B, C, H, W)`` or vectors ``(B, D)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.losses.base import (
    DistillationLoss,
    ProjectedLoss,
    conv1x1,
    flat,
    kl_rows,
    numel,
    pool_to,
    require_shapes,
    teacher,
)
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import AssistantFeatureMatchingSpec, FitNetsSpec


def fitnets(s_feat_regressed: Tensor, t_feat: Tensor) -> Tensor:
    """Romero et al. 2015, "FitNets: Hints for Thin Deep Nets", Eq. (3): the hint loss.

    ``mean((r(s) - t)^2)`` over all elements: the paper's ``1/2 ||u_h - r(v_g)||^2`` up to the constant
    factor (mean instead of half-sum). ``s_feat_regressed`` is the regressor output ``r(v_g)``.
    """
    return F.mse_loss(s_feat_regressed, t_feat)


def assistant_feature_matching(s_feat: Tensor, a_feat: Tensor, lam: float = 0.4) -> Tensor:
    """Feature term of Eq. (5) of seed paper 004 (Ghosh Dastidar et al., teacher -> Conv-LSTM assistant ->
    CNN student): ``lam * L2(P_Sf, P_Af)``.

    ``L2`` is the KL divergence of Eq. (2); its second argument is the reference distribution
    (``L2(x, y) = KL(y || x)``, PyTorch's ``KLDivLoss(input, target)`` order, as in the logit term
    ``L2(P_S^tau, P_A^tau)`` that distils the assistant into the student), so
    ``L2(P_Sf, P_Af) = (1/B) sum_i KL(P_Af,i || P_Sf,i)``. As written, this term has no temperature and
    no ``tau^2``. The paper applies the KL to "feature vectors" without saying how they become
    distributions; following its notation ``P = softmax(psi)`` (Eq. 3 with tau = 1), ``P_Xf`` is the
    softmax of the flattened feature vector. Both features need the same number of elements per sample.
    """
    log_s = F.log_softmax(flat(s_feat), dim=1)
    log_a = F.log_softmax(flat(a_feat), dim=1)
    return lam * kl_rows(log_a, log_s).mean()


def assistant_distillation_loss(
    s_logits: Tensor,
    a_logits: Tensor,
    targets: Tensor,
    s_feat: Tensor | None = None,
    a_feat: Tensor | None = None,
    alpha: float = 0.4,
    lam: float = 0.4,
    temperature: float = 4.0,
) -> Tensor:
    """The complete objectives of seed paper 004: Eq. (5) ``K_DS`` (with features) or Eq. (4) ``K_DA`` (without).

    ``K_DS = (1 - alpha) CE(P_S, y) + alpha tau^2 KL(P_A^tau || P_S^tau) + lam KL(P_Af || P_Sf)``, batch
    means, ``alpha = lam = 0.4`` (paper). For the assistant stage (Eq. 4) pass the assistant as ``s_*``,
    the teacher as ``a_*`` and no features. tau is not reported in the paper (4.0 here).
    """
    tau = temperature
    ce = F.cross_entropy(s_logits, targets)
    kd = kl_rows(F.log_softmax(a_logits / tau, dim=1), F.log_softmax(s_logits / tau, dim=1)).mean()
    loss = (1 - alpha) * ce + alpha * tau * tau * kd
    if (s_feat is None) != (a_feat is None):
        raise ValueError("pass both s_feat and a_feat (Eq. 5) or neither (Eq. 4)")
    if s_feat is not None and a_feat is not None:
        loss = loss + assistant_feature_matching(s_feat, a_feat, lam)
    return loss


@register(spec=FitNetsSpec, needs=(), inputs="features")
class FitNets(DistillationLoss):
    """FitNets hint loss (Romero et al. 2015) with a trainable regressor owned by the module.

    The regressor is a 1x1 convolution for maps (the student map is first average-pooled to the teacher's
    spatial size when they differ) and a linear layer for vectors (or when map/vector kinds differ, on
    the flattened student, reshaped to the teacher's shape).
    """

    params_model = FitNetsSpec

    def build(self) -> None:
        require_shapes(self)
        s_shape, t_shape = self.s_shape, self.t_shape
        self.conv = len(s_shape) == len(t_shape) and len(t_shape) in (2, 3)
        if self.conv:
            self.regressor: nn.Module = conv1x1(s_shape[0], t_shape[0], len(t_shape) - 1)
        else:
            self.regressor = nn.Linear(numel(s_shape), numel(t_shape))

    def regress(self, s: Tensor) -> Tensor:
        """The regressor output ``r(s)`` with the teacher's shape."""
        if self.conv:
            out: Tensor = self.regressor(pool_to(s, self.t_shape[1:]))
            return out
        out = self.regressor(flat(s))
        return out.reshape(s.shape[0], *self.t_shape)

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return fitnets(self.regress(s), teacher(t))


@register(spec=AssistantFeatureMatchingSpec, needs=(), inputs="features")
class AssistantFeatureMatching(ProjectedLoss):
    """Assistant feature matching (seed paper 004, Eq. 5 feature term): module form of
    :func:`assistant_feature_matching`; ``t`` is the assistant's feature.

    The paper assumes equally sized feature vectors; when the per-sample sizes differ a trainable linear
    projection of the flattened student to the assistant's size is added (not in the paper).
    """

    params_model = AssistantFeatureMatchingSpec
    config: AssistantFeatureMatchingSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        s_vec = self.student_vector(s)
        return assistant_feature_matching(s_vec, teacher(t), self.config.lam)
