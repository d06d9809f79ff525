"""Different resolutions: down-sampling then up-sampling back to the original size (survey [6]).

Zhu et al. 2019, "Low-resolution Visual Recognition via Deep Feature Distillation" (ICASSP): CIFAR-10 images
are down-sampled to 8x8 or 16x16 and up-sampled back to 32x32, so that teacher and student share one
architecture while the student sees low-resolution inputs. For a spatial size ``n`` (each axis of a
``(N, C, L)`` signal or ``(N, C, H, W)`` image) and factor ``f``:

* down: ``m = max(1, floor(n / f))`` samples; ``area`` averages the blocks
  ``[floor(i n / m), ceil((i + 1) n / m))`` (exact block means when ``f`` divides ``n``); ``linear`` and
  ``nearest`` interpolate as below;
* up: back to ``n`` samples; ``linear`` reads output ``j`` at source position
  ``p_j = (j + 0.5) m / n - 0.5`` (half-sample centres), clamped to ``[0, m - 1]``, and interpolates
  linearly between the two neighbouring samples (bilinear for images, separable); ``nearest`` takes
  sample ``floor(j m / n)``.

The transform applies to the training *and* test inputs of its role (the student by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.data import ArrayData
from kdtaxonomy.prep.base import Prep, check_signal
from kdtaxonomy.registry import register
from kdtaxonomy.specs.prep import DownsampleUpsampleSpec


def _interp_mode(mode: str, dims: int) -> str:
    if mode == "linear":
        return "linear" if dims == 1 else "bilinear"
    return mode


def downsample_upsample(x: Tensor, factor: int, down: str = "area", up: str = "linear") -> Tensor:
    """Down-sample every spatial axis of ``x`` by ``factor`` and up-sample back (see the module docstring)."""
    check_signal(x)
    if factor == 1:
        return x.clone()
    size = tuple(int(n) for n in x.shape[2:])
    low_size = tuple(max(1, n // factor) for n in size)
    low2 = (low_size[0], low_size[-1])
    dims = len(size)
    work = x if x.is_floating_point() else x.float()
    if down == "area":
        low = F.adaptive_avg_pool1d(work, low_size) if dims == 1 else F.adaptive_avg_pool2d(work, low2)
    elif down == "nearest":
        low = F.interpolate(work, size=low_size, mode="nearest")
    elif down == "linear":
        low = F.interpolate(work, size=low_size, mode=_interp_mode(down, dims), align_corners=False)
    else:
        raise ValueError(f"unknown down-sampling rule {down!r}")
    if up == "nearest":
        out = F.interpolate(low, size=size, mode="nearest")
    elif up == "linear":
        out = F.interpolate(low, size=size, mode=_interp_mode(up, dims), align_corners=False)
    else:
        raise ValueError(f"unknown up-sampling rule {up!r}")
    return out.to(x.dtype)


@register(spec=DownsampleUpsampleSpec)
class DownsampleUpsample(Prep[DownsampleUpsampleSpec]):
    """Zhu et al. 2019 (survey [6]): inputs down-sampled by ``factor`` and up-sampled back to their size."""

    def _transform(self, data: ArrayData, role: str) -> ArrayData:
        if not self.applies_to(role):
            return data
        s = self.spec
        return data.with_x(downsample_upsample(data.x, s.factor, s.down, s.up))

    def apply(self, data: ArrayData, *, role: str, generator: torch.Generator) -> ArrayData:
        return self._transform(data, role)

    def apply_eval(self, data: ArrayData, *, role: str) -> ArrayData:
        return self._transform(data, role)
