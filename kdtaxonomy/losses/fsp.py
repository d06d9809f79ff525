"""FSP: flow-of-solution-procedure matrices (Yim, Joo, Bae, Kim 2017, CVPR).

The knowledge is the "flow" between two layers of a stage: for feature maps ``F1`` (``m`` channels) and
``F2`` (``n`` channels) of the same ``h x w`` size, the ``m x n`` FSP matrix is
``G_ij = sum_{s,t} F1_{s,t,i} F2_{s,t,j} / (h w)`` (Eq. 1), and the student is trained so that its FSP
matrices equal the teacher's in squared L2 distance (Eq. 2). In the paper this is the first of two stages:
the FSP loss alone initialises the student, which is then trained on the task loss alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kdtaxonomy.losses.base import StagedLoss, connector, match_spatial, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import FSPSpec


def fsp_matrix(first: Tensor, second: Tensor) -> Tensor:
    """FSP matrices (Eq. 1) of ``(B, m, *spatial)`` and ``(B, n, *spatial)`` maps, shape ``(B, m, n)``.

    ``G_b[i, j] = (1/N) sum_x F1_b[i, x] F2_b[j, x]`` over the ``N`` spatial positions. Where the two maps'
    spatial sizes differ (consecutive stages, as RepDistiller pairs them), the larger map is
    adaptive-average-pooled to the smaller size: every position of the smaller map is kept exactly and the
    larger one is summarised over the same area, where upsampling would invent positions. In the paper the
    two maps of a stage have the same size, so the pooling does not arise there.
    """
    if first.shape[0] != second.shape[0]:
        raise ValueError(
            f"FSP needs two maps of one batch, got {tuple(first.shape)} and {tuple(second.shape)}"
        )
    a, b = match_spatial(first, second)
    fa = a.reshape(a.shape[0], a.shape[1], -1)
    fb = b.reshape(b.shape[0], b.shape[1], -1)
    return torch.bmm(fa, fb.transpose(1, 2)) / fa.shape[2]


def fsp(s_first: Tensor, s_second: Tensor, t_first: Tensor, t_second: Tensor) -> Tensor:
    """FSP loss, Eq. (2) for one pair of layers with ``lambda = 1``: ``(1/B) sum_b ||G^T_b - G^S_b||_2^2``.

    ``G`` from :func:`fsp_matrix` of the student's (``s_first``, ``s_second``) and the teacher's
    (``t_first``, ``t_second``) maps; the squared L2 norm of a matrix sums its squared entries. The student's
    and the teacher's matrices need the same ``m x n`` shape (the paper's student keeps the teacher's widths).
    The paper sums this over the stages with equal weights ``lambda_i``.
    """
    g_s, g_t = fsp_matrix(s_first, s_second), fsp_matrix(t_first, t_second)
    if g_s.shape != g_t.shape:
        raise ValueError(
            f"FSP needs student and teacher FSP matrices of one shape, got {tuple(g_s.shape)} and "
            f"{tuple(g_t.shape)} (the channel counts of the paired maps must agree)"
        )
    return (g_t - g_s).pow(2).sum() / g_s.shape[0]


@register(spec=FSPSpec, needs=(), inputs="features")
class FSP(StagedLoss):
    """FSP (Yim et al. 2017) in the registry's interface, which passes one map per side: both maps of the FSP
    matrix are the map at the term's location, ``G = F F^T / N`` (the layer's flow with itself; maps only,
    1-D or 2-D), matched as in Eq. (2). The two-layer form of the paper is :func:`fsp`.

    When the student's channels differ from the teacher's (the paper's student keeps them), a trainable 1x1
    convolution without bias and batch normalisation maps the student to the teacher's channels first (not
    in the paper). With ``until_epochs`` the term returns 0 once the distiller's progress passes it.
    """

    params_model = FSPSpec
    config: FSPSpec

    def build(self) -> None:
        require_shapes(self)
        self.connector: nn.Module = connector(self.s_shape, self.t_shape, "FSP")
        if self.s_shape[0] == self.t_shape[0]:
            self.connector = nn.Identity()

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
        mapped: Tensor = self.connector(s)
        return fsp(mapped, mapped, t, t)
