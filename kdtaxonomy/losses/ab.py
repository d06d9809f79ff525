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
from torch import Tensor, nn

from kdtaxonomy.losses.base import DistillationLoss, match_spatial, require_shapes, teacher
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
class ActivationBoundary(DistillationLoss):
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
    progress: float | None = None

    def build(self) -> None:
        require_shapes(self)
        s_shape, t_shape = self.s_shape, self.t_shape
        if len(s_shape) != len(t_shape) or len(t_shape) not in (2, 3):
            raise ValueError(f"AB needs two 1-D or two 2-D feature maps, got shapes {s_shape} and {t_shape}")
        c_in, c_out = s_shape[0], t_shape[0]
        if len(t_shape) == 2:
            conv: nn.Module = nn.Conv1d(c_in, c_out, kernel_size=1, bias=False)
            norm: nn.Module = nn.BatchNorm1d(c_out)
        else:
            conv = nn.Conv2d(c_in, c_out, kernel_size=1, bias=False)
            norm = nn.BatchNorm2d(c_out)
        self.connector = nn.Sequential(conv, norm)

    def set_progress(self, epochs: float) -> None:
        """Epochs of training elapsed at the end of the coming step (fractional)."""
        self.progress = float(epochs)

    def active(self) -> bool:
        """Whether the term is on: no ``until_epochs``, no progress known, or progress within it."""
        until = self.config.until_epochs
        return until is None or self.progress is None or self.progress <= until

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
