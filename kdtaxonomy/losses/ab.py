"""AB: distillation of activation boundaries (Heo, Lee, Yun, Choi 2019, AAAI).

A hidden neuron's activation boundary separates the inputs for which it is active from those for which it is
not; AB transfers these boundaries rather than the response magnitudes. The activation transfer loss
``||rho(T) - rho(S)||_1`` (``rho`` the element-wise step ``1[x > 0]``) has no useful gradient, so the paper
trains with its alternative, piecewise differentiable loss on the student's responses mapped by a connector
``r`` to the teacher's width: a squared hinge with margin ``mu`` that pushes ``r(S)`` above ``mu`` where the
teacher's neuron is active and below ``-mu`` where it is not.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import StagedLoss, connector, match_spatial, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import ActivationBoundarySpec


def activation_boundary(s_connected: Tensor, t_feat: Tensor, margin: float = 1.0) -> Tensor:
    """AB alternative loss (Heo et al. 2019, Sec. 3): the squared L2 norm
    ``||rho(T) * sigma(mu - r(S)) + (1 - rho(T)) * sigma(mu + r(S))||_2^2``, averaged over the batch.

    ``sigma(x) = max(x, 0)``, ``rho(T) = 1[T > 0]`` (a neuron with response exactly 0 counts as inactive, as
    in RepDistiller), ``mu = margin``; ``s_connected`` is the connector output ``r(S)``, of the teacher's
    shape. Since the two branches never overlap, the norm is the sum of the squared hinges over all neurons.
    """
    if s_connected.shape != t_feat.shape:
        raise ValueError(
            f"AB needs the connected student of the teacher's shape, got {tuple(s_connected.shape)} "
            f"and {tuple(t_feat.shape)}"
        )
    active = (t_feat > 0).to(s_connected.dtype)
    hinge = active * F.relu(margin - s_connected).pow(2) + (1 - active) * F.relu(margin + s_connected).pow(2)
    return hinge.sum() / s_connected.shape[0]


@register(spec=ActivationBoundarySpec, needs=(), inputs="features")
class ActivationBoundary(StagedLoss):
    """AB (Heo et al. 2019) with the trainable connector owned by the module: a 1x1 convolution and batch
    normalisation from the student's to the teacher's channels (always present; RepDistiller skips it where
    the shapes agree). Maps only (1-D or 2-D); where the spatial sizes differ, the larger map is
    adaptive-average-pooled to the smaller (a pooled teacher neuron is active where any pooled one is).

    The paper reads the responses before the ReLU; on a model whose location gives the block output after
    its ReLU, ``rho(T)`` is the same there (``ReLU(x) > 0`` exactly where ``x > 0``) and the connector
    reads the rectified student. With ``until_epochs`` the term returns 0 once the progress passes it.
    """

    params_model = ActivationBoundarySpec
    config: ActivationBoundarySpec

    def build(self) -> None:
        require_shapes(self)
        self.connector = connector(self.s_shape, self.t_shape, "AB")

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
        connected, t = match_spatial(self.connector(s), t)
        return activation_boundary(connected, t, self.config.margin)
