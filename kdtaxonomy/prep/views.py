"""Different views: a spectral view of each input, for multi-view teachers (survey [5], [13]; seed paper 003).

Wu et al. 2019 (survey [5]) feed their teachers several views of each sample (I-frames, motion vectors,
residuals) while the student sees one; Zhang et al. (seed paper 003) distil a two-modality teacher into a
single-modality student. For 1-D signals the second view made here is the magnitude spectrum: for
``x`` of shape ``(N, C, L)``,

``S = |rFFT_L(x)|`` (``L // 2 + 1`` bins, DC to Nyquist), optionally ``log(1 + S)``, resampled to ``L``
samples by linear interpolation with aligned end points (output ``j`` reads bin position
``j (L // 2) / (L - 1)``), so that the view has the shape of ``x``. Images ``(N, C, H, W)`` get
``|rFFT2(x)|`` resampled along the last axis in the same way. The view is stored as ``views[name]`` of the
role's train and test splits (the teacher by default); data that already carry a view of that name are
returned unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.data import ArrayData
from kdtaxonomy.prep.base import Prep, check_signal
from kdtaxonomy.registry import register
from kdtaxonomy.specs.prep import SpectralViewSpec


def spectral_view(x: Tensor, log: bool = False) -> Tensor:
    """Magnitude spectrum of ``x`` along its last axis (2-D: ``rfft2``), resampled to ``x``'s shape."""
    check_signal(x)
    work = x if x.is_floating_point() else x.float()
    spec = torch.fft.rfft(work, dim=-1) if x.dim() == 3 else torch.fft.rfft2(work, dim=(-2, -1))
    mag = spec.abs()
    if log:
        mag = torch.log1p(mag)
    mode = "linear" if x.dim() == 3 else "bilinear"
    return F.interpolate(mag, size=tuple(x.shape[2:]), mode=mode, align_corners=True).to(work.dtype)


@register(spec=SpectralViewSpec)
class SpectralView(Prep[SpectralViewSpec]):
    """Adds the spectral view ``|rFFT(x)|`` for multi-view teachers (survey [5], [13]; seed paper 003)."""

    def _transform(self, data: ArrayData, role: str) -> ArrayData:
        if not self.applies_to(role) or self.spec.name in data.views:
            return data
        return data.with_views(**{self.spec.name: spectral_view(data.x, self.spec.log)})

    def apply(self, data: ArrayData, *, role: str, generator: torch.Generator) -> ArrayData:
        return self._transform(data, role)

    def apply_eval(self, data: ArrayData, *, role: str) -> ArrayData:
        return self._transform(data, role)
