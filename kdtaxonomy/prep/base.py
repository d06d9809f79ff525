"""Base class of the data-preparation transforms (survey Section III, Fig. 3) and shared helpers.

A transform is built from its validated spec, ``Cls(spec)``, and offers four operations:

* :meth:`Prep.apply` — static transform of the training split of one role (``teacher`` or ``student``);
  a no-op when the spec's ``target`` excludes the role;
* :meth:`Prep.apply_eval` — what the test split of that role gets (identity unless the transform changes
  what the role's model sees at inference, e.g. down-up sampling or truncation);
* :meth:`Prep.augment` — online per-batch augmentation (identity by default);
* :meth:`Prep.synthesize` — data made from a teacher (only when ``needs_teacher``).

Randomness comes only from the ``torch.Generator`` passed in: random numbers are drawn on the generator's
device and then moved to the data's device, so a seeded generator makes every transform deterministic.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

import torch
from torch import Tensor, nn

from kdtaxonomy.data import ArrayData
from kdtaxonomy.specs.prep import PrepSpec

S = TypeVar("S", bound=PrepSpec)

ROLES = ("teacher", "student")


def check_role(role: str) -> str:
    """``role`` if it is ``teacher`` or ``student``, else a ``ValueError``."""
    if role not in ROLES:
        raise ValueError(f"role must be 'teacher' or 'student', got {role!r}")
    return role


def check_signal(x: Tensor) -> Tensor:
    """``x`` if it is a batch of 1-D signals ``(N, C, L)`` or 2-D images ``(N, C, H, W)``."""
    if x.dim() not in (3, 4):
        raise ValueError(f"expected (N, C, L) signals or (N, C, H, W) images, got shape {tuple(x.shape)}")
    return x


def uniform(shape: tuple[int, ...], generator: torch.Generator, like: Tensor) -> Tensor:
    """``U[0, 1)`` samples drawn with ``generator`` on its device, returned on ``like``'s device and dtype."""
    return torch.rand(shape, generator=generator, device=generator.device).to(like.device, like.dtype)


def normal(shape: tuple[int, ...], generator: torch.Generator, like: Tensor) -> Tensor:
    """Standard normal samples drawn with ``generator``, on ``like``'s device and dtype."""
    return torch.randn(shape, generator=generator, device=generator.device).to(like.device, like.dtype)


def randint(high: int, shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    """Integers in ``[0, high)`` drawn with ``generator``, returned on ``device``."""
    return torch.randint(high, shape, generator=generator, device=generator.device).to(device)


def randperm(n: int, generator: torch.Generator) -> Tensor:
    """A random permutation of ``0..n-1`` (CPU) drawn with ``generator``."""
    return torch.randperm(n, generator=generator, device=generator.device).cpu()


class Prep(Generic[S]):
    """A data-preparation transform; subclasses register with ``@register(spec=TheSpec)``."""

    needs_teacher: ClassVar[bool] = False
    """Whether the transform makes data from a teacher (:meth:`synthesize`)."""

    def __init__(self, spec: S) -> None:
        self.spec = spec
        self.target: str = spec.target

    def applies_to(self, role: str) -> bool:
        """Whether the transform prepares the data of ``role``."""
        return self.target == "both" or self.target == check_role(role)

    def apply(self, data: ArrayData, *, role: str, generator: torch.Generator) -> ArrayData:
        """Static transform of the training split of ``role`` (identity unless overridden)."""
        check_role(role)
        return data

    def apply_eval(self, data: ArrayData, *, role: str) -> ArrayData:
        """What the test split of ``role`` gets (identity unless overridden)."""
        check_role(role)
        return data

    def augment(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Online augmentation of one training batch of inputs (identity unless overridden)."""
        return x

    def synthesize(self, teacher: nn.Module, data: ArrayData, generator: torch.Generator) -> ArrayData:
        """Data synthesised from ``teacher`` (only transforms with ``needs_teacher``)."""
        raise NotImplementedError(f"{type(self).__name__} does not synthesise data (needs_teacher is False)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
