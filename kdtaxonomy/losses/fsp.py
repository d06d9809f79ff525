"""FSP: flow-of-solution-procedure matrices (Yim, Joo, Bae, Kim 2017, CVPR).

The knowledge is the "flow" between two layers of a stage: for feature maps ``F1`` (``m`` channels) and
``F2`` (``n`` channels) of the same ``h x w`` size, the ``m x n`` FSP matrix is
``G_ij = sum_{s,t} F1_{s,t,i} F2_{s,t,j} / (h w)`` (Eq. 1), and the student is trained so that its FSP
matrices equal the teacher's in squared L2 distance (Eq. 2). In the paper this is the first of two stages:
the FSP loss alone initialises the student, which is then trained on the task loss alone. A recipe reads the
two maps of a stage with a location ``a&b`` (``block1&block2``), one term per stage.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kdtaxonomy.losses.base import (
    Maps,
    Shape,
    StagedLoss,
    connector,
    match_spatial,
    require_shapes,
    teacher_maps,
)
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


def _map_connector(s_shape: Shape, t_shape: Shape) -> nn.Module:
    """Identity where the student map has the teacher's channels, else :func:`connector` (maps only)."""
    if len(s_shape) != len(t_shape) or len(t_shape) not in (2, 3):
        raise ValueError(f"FSP needs two 1-D or two 2-D feature maps, got shapes {s_shape} and {t_shape}")
    return nn.Identity() if s_shape[0] == t_shape[0] else connector(s_shape, t_shape, "FSP")


@register(spec=FSPSpec, needs=(), inputs="features")
class FSP(StagedLoss):
    """FSP (Yim et al. 2017) on a location ``a&b``: the FSP matrix (Eq. 1) between the two maps of each side,
    the student's matched to the teacher's by Eq. (2) (:func:`fsp`); maps only, 1-D or 2-D.

    Where a student map's channels differ from the teacher's (the paper's student keeps them), a trainable
    1x1 convolution without bias and batch normalisation maps it to the teacher's channels first (not in the
    paper). With ``until_epochs`` the term returns 0 once the distiller's progress passes it. A single map
    ``a`` (earlier recipes; not the paper's FSP) gives the map's matrix with itself, ``G = F F^T / N``, its
    connector then built whatever the channels and kept only where they differ.
    """

    params_model = FSPSpec
    config: FSPSpec

    def build(self) -> None:
        if len(self.s_shapes) == 1 and len(self.t_shapes) == 1:
            require_shapes(self)
            self.connector: nn.Module = connector(self.s_shape, self.t_shape, "FSP")
            if self.s_shape[0] == self.t_shape[0]:
                self.connector = nn.Identity()
            return
        if len(self.s_shapes) != 2 or len(self.t_shapes) != 2:
            raise ValueError(
                f"FSP reads one map or a pair 'a&b' per model and needs their shapes, got "
                f"s_shape={self.s_shapes} and t_shape={self.t_shapes}"
            )
        self.connectors = nn.ModuleList(
            [_map_connector(s, t) for s, t in zip(self.s_shapes, self.t_shapes, strict=True)]
        )

    def forward(
        self,
        s: Maps,
        t: Maps | list[Tensor] | list[Maps],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        if isinstance(s, Tensor):
            if not hasattr(self, "connector"):
                raise ValueError("this FSP term was built for a pair of maps 'a&b'; it got one map")
            (t_map,) = teacher_maps(t, 1)
            if not self.active():
                return s.sum() * 0.0
            mapped: Tensor = self.connector(s)
            return fsp(mapped, mapped, t_map, t_map)
        if not hasattr(self, "connectors") or len(s) != 2:
            raise ValueError(f"this FSP term reads {len(self.s_shapes)} map(s) per model, got {len(s)}")
        t_first, t_second = teacher_maps(t, 2)
        if not self.active():
            return (s[0].sum() + s[1].sum()) * 0.0
        s_first, s_second = (c(x) for c, x in zip(self.connectors, s, strict=True))
        return fsp(s_first, s_second, t_first, t_second)
