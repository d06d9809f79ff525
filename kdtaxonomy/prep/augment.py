"""Different augmentations: fundamental augmentations applied online to training batches (survey [12]).

Mahbod et al. 2019, "Skin Lesion Classification Using Hybrid Deep Neural Networks" (ICASSP) train on the
training images augmented by rotation and horizontal flipping. Here each sample of a batch draws its own
augmentation from the generator:

* 2-D images ``(B, C, H, W)``: horizontal flip (reverse ``W``) with probability ``hflip_p``; then, if
  ``rotate90``, a rotation by ``k * 90`` degrees with ``k`` uniform in ``{0, 1, 2, 3}`` (``{0, 2}`` when
  ``H != W``, so that the shape is kept);
* 1-D signals ``(B, C, L)``, the analogue for sequences (as in the MNIST-1D construction): time reversal
  (the 1-D horizontal flip) with probability ``time_flip_p``; a circular shift
  ``x'[t] = x[(t - s) mod L]`` with ``s`` uniform in ``[-max_shift, max_shift]``; an amplitude scaling by
  ``a`` uniform in ``[1 - scale, 1 + scale]``; additive gaussian noise ``N(0, noise_std^2)``; in this order.

The transform is online only: :meth:`Augment.apply` is the identity and the training loop calls
:meth:`Augment.augment` on each batch of the roles in ``target``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from kdtaxonomy.prep.base import Prep, check_signal, normal, randint, uniform
from kdtaxonomy.registry import register
from kdtaxonomy.specs.prep import AugmentSpec


def _per_sample(mask: Tensor, x: Tensor) -> Tensor:
    """A boolean per-sample mask ``(B,)`` broadcastable against ``x``."""
    return mask.view(-1, *([1] * (x.dim() - 1)))


def augment_signal(
    x: Tensor,
    generator: torch.Generator,
    *,
    max_shift: int,
    scale: float,
    noise_std: float,
    time_flip_p: float,
) -> Tensor:
    """Random time reversal, circular shift, scaling and noise of a ``(B, C, L)`` batch (module docstring)."""
    b, _, length = x.shape
    out = x
    if time_flip_p > 0:
        flip = uniform((b,), generator, x) < time_flip_p
        out = torch.where(_per_sample(flip, out), out.flip(-1), out)
    if max_shift > 0:
        shift = randint(2 * max_shift + 1, (b,), generator, x.device) - max_shift
        idx = (torch.arange(length, device=x.device).unsqueeze(0) - shift.unsqueeze(1)) % length
        out = out.gather(-1, idx.unsqueeze(1).expand(-1, out.shape[1], -1))
    if scale > 0:
        a = 1.0 + scale * (2.0 * uniform((b,), generator, x) - 1.0)
        out = out * a.view(-1, 1, 1)
    if noise_std > 0:
        out = out + noise_std * normal(tuple(out.shape), generator, x)
    return out


def augment_image(x: Tensor, generator: torch.Generator, *, hflip_p: float, rotate90: bool) -> Tensor:
    """Random horizontal flip and 90-degree rotations of a ``(B, C, H, W)`` batch (module docstring)."""
    b, _, h, w = x.shape
    out = x
    if hflip_p > 0:
        flip = uniform((b,), generator, x) < hflip_p
        out = torch.where(_per_sample(flip, out), out.flip(-1), out)
    if rotate90:
        if h == w:
            k = randint(4, (b,), generator, x.device)
            rotations = torch.stack([torch.rot90(out, r, dims=(2, 3)) for r in range(4)])
        else:
            k = randint(2, (b,), generator, x.device)
            rotations = torch.stack([out, torch.rot90(out, 2, dims=(2, 3))])
        out = rotations[k, torch.arange(b, device=x.device)]
    return out


@register(spec=AugmentSpec)
class Augment(Prep[AugmentSpec]):
    """Mahbod et al. 2019 (survey [12]): fundamental augmentations applied online to training batches."""

    def augment(self, x: Tensor, generator: torch.Generator) -> Tensor:
        s = self.spec
        check_signal(x)
        if x.dim() == 3:
            return augment_signal(
                x,
                generator,
                max_shift=s.max_shift,
                scale=s.scale,
                noise_std=s.noise_std,
                time_flip_p=s.time_flip_p,
            )
        return augment_image(x, generator, hflip_p=s.hflip_p, rotate90=s.rotate90)
