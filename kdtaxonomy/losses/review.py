"""KR: knowledge review (Chen, Liu, Zhao, Jia 2021, CVPR, "Distilling Knowledge via Knowledge Review").

Earlier feature distillation matches the student's and the teacher's features of the same level; knowledge
review adds cross-stage connection paths, so that each level of the student learns from the teacher's
features of several levels. The student's features of all levels (stage outputs and the pooled feature)
are reviewed from the deepest: at each level an attention-based fusion (ABF) module maps the student's
feature to ``mid`` channels (1x1 convolution, batch norm), mixes it with the fused map of the deeper level
(upsampled, nearest) by two attention maps (a 1x1 convolution of both, sigmoid), and gives the level's
output through a 3x3 convolution with batch norm to the teacher's channels. Each output is compared with
the teacher's feature of the same level by the hierarchical context loss (:func:`hcl`), summed over the
levels, as in the authors' released code (``ABF``, ``ReviewKD``, ``hcl``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.losses.base import DistillationLoss, Maps, Shape, pool_to, teacher_maps
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import KnowledgeReviewSpec


def hcl(s_feat: Tensor, t_feat: Tensor, sizes: Sequence[int] = (4, 2, 1)) -> Tensor:
    """Hierarchical context loss of one level: the mean squared error of the two maps, plus that of both
    average-pooled to ``k`` (per spatial dimension) for each ``k`` of ``sizes`` below the first spatial size,
    weighted 1/2, 1/4, ...; divided by the sum of the weights (the authors' ``hcl``)."""
    if s_feat.shape != t_feat.shape or s_feat.dim() not in (3, 4):
        raise ValueError(
            f"HCL needs two (B,C,L) or (B,C,H,W) maps of one shape, got {tuple(s_feat.shape)} and "
            f"{tuple(t_feat.shape)}"
        )
    loss = F.mse_loss(s_feat, t_feat)
    weight = total = 1.0
    for k in sizes:
        if k >= s_feat.shape[2]:
            continue
        size = (k,) * (s_feat.dim() - 2)
        weight /= 2.0
        loss = loss + weight * F.mse_loss(pool_to(s_feat, size), pool_to(t_feat, size))
        total += weight
    return loss / total


class ABF(nn.Module):
    """Attention-based fusion of one level (1-D or 2-D maps); ``fuse=False`` for the deepest level."""

    def __init__(self, c_in: int, mid: int, c_out: int, dims: int, fuse: bool) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        first, second = conv(c_in, mid, 1, bias=False), conv(mid, c_out, 3, padding=1, bias=False)
        nn.init.kaiming_uniform_(first.weight, a=1)
        nn.init.kaiming_uniform_(second.weight, a=1)
        self.conv1 = nn.Sequential(first, norm(mid))
        self.conv2 = nn.Sequential(second, norm(c_out))
        self.att: nn.Module | None = nn.Sequential(conv(2 * mid, 2, 1), nn.Sigmoid()) if fuse else None

    def forward(
        self, x: Tensor, residual: Tensor | None = None, out_size: Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor]:
        """The level's output and the fused map passed to the next (shallower) level."""
        fused: Tensor = self.conv1(x)
        if self.att is not None:
            if residual is None:
                raise ValueError("a fusing ABF level needs the deeper level's fused map")
            up = F.interpolate(residual, size=tuple(fused.shape[2:]), mode="nearest")
            z: Tensor = self.att(torch.cat([fused, up], dim=1))
            fused = fused * z[:, :1] + up * z[:, 1:]
        if out_size is not None and tuple(fused.shape[2:]) != tuple(out_size):
            fused = F.interpolate(fused, size=tuple(out_size), mode="nearest")  # the authors' CIFAR out_shape
        out: Tensor = self.conv2(fused)
        return out, fused


def _dims(shapes: Sequence[Shape]) -> int:
    """1 or 2: the spatial dimensions of the maps (vectors, e.g. the pooled feature, count as size 1)."""
    dims = {len(s) - 1 for s in shapes if len(s) > 1}
    if len(dims) > 1 or not dims <= {1, 2} or any(not s for s in shapes):
        raise ValueError(f"KR needs 1-D or 2-D maps (and vectors), of one kind, got shapes {tuple(shapes)}")
    return dims.pop() if dims else 1


def _as_map(x: Tensor, dims: int) -> Tensor:
    """A ``(B, C)`` vector as a ``(B, C, 1)`` (or ``(B, C, 1, 1)``) map; maps unchanged."""
    return x.reshape(*x.shape, *([1] * dims)) if x.dim() == 2 else x


@register(spec=KnowledgeReviewSpec, needs=(), inputs="features")
class KnowledgeReview(DistillationLoss):
    """KR (Chen et al. 2021) on a location ``a&b&...`` (levels from the shallowest; the same number on the
    teacher), with its ABF modules owned by the module; a vector level (the pooled feature, ``embedding``)
    is a map of size 1. Where a level's size differs between student and teacher, the fused map is resized
    (nearest) to the teacher's before the output convolution, as the authors' CIFAR code does."""

    params_model = KnowledgeReviewSpec
    config: KnowledgeReviewSpec
    progress: float | None = None

    def build(self) -> None:
        n = len(self.s_shapes)
        if n < 2 or len(self.t_shapes) != n:
            raise ValueError(
                f"KR reads two or more maps per model, as many on each side ('block1&block2&...'), got "
                f"s_shape={self.s_shapes} and t_shape={self.t_shapes}"
            )
        self.dims = _dims([*self.s_shapes, *self.t_shapes])
        mid = self.config.mid_channels or min(512, self.s_shapes[-1][0])
        self.abfs = nn.ModuleList(
            [
                ABF(s[0], mid, t[0], self.dims, i < n - 1)
                for i, (s, t) in enumerate(zip(self.s_shapes, self.t_shapes, strict=True))
            ]
        )

    def set_progress(self, epochs: float) -> None:
        """Epochs of training elapsed at the end of the coming step (fractional)."""
        self.progress = float(epochs)

    def warmup_factor(self) -> float:
        """``min(epochs / warmup_epochs, 1)``; 1 without warm-up or without progress."""
        n = self.config.warmup_epochs
        return 1.0 if n <= 0 or self.progress is None else min(max(self.progress, 0.0) / n, 1.0)

    def review(self, s_maps: Sequence[Tensor], t_sizes: Sequence[Sequence[int]]) -> list[Tensor]:
        """The student's output of every level (shallowest first), fused from the deepest level."""
        abfs = cast(list[ABF], list(self.abfs))
        out, fused = abfs[-1](s_maps[-1], None, t_sizes[-1])
        outputs = [out]
        for i in range(len(s_maps) - 2, -1, -1):
            out, fused = abfs[i](s_maps[i], fused, t_sizes[i])
            outputs.insert(0, out)
        return outputs

    def forward(
        self,
        s: Maps,
        t: Maps | list[Tensor] | list[Maps],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        n = len(self.abfs)
        if isinstance(s, Tensor) or len(s) != n:
            raise ValueError(f"this KR term reads {n} maps per model ('a&b&...')")
        s_maps = [_as_map(x, self.dims) for x in s]
        t_maps = [_as_map(x, self.dims) for x in teacher_maps(t, n)]
        outputs = self.review(s_maps, [tuple(x.shape[2:]) for x in t_maps])
        sizes = self.config.pool_sizes
        loss = torch.stack([hcl(o, x, sizes) for o, x in zip(outputs, t_maps, strict=True)]).sum()
        return self.warmup_factor() * loss
