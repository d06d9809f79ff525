"""Shared pieces of the distillation losses: the module base class and small tensor helpers.

Every registered loss module follows one interface (used by the training pipeline)::

    loss = cls(s_shape=(C, H, W), t_shape=(C2, H2, W2), num_samples=N, num_classes=K, **params)
    value = loss(s, t, targets=y, indices=idx)  # scalar tensor

``s_shape``/``t_shape`` are per-sample shapes (no batch dimension). The teacher tensor is detached. A term
reading several maps per model (location ``a&b``, a loss whose spec allows it) gets a tuple of tensors per
side, and tuples of shapes: ``s_shape=((C1, L1), (C2, L2))``, stored in ``s_shapes`` (``s_shape`` is then
empty); for one map ``s_shapes == (s_shape,)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import Tensor, nn

from kdtaxonomy.registry import NoParams

Shape = tuple[int, ...]
Maps = Tensor | tuple[Tensor, ...]
"""A term's input from one model: one tensor, or the tuple of the maps of a location ``a&b``."""

TINY = 1e-30
"""Floor of normalising means (guards the division when all relations of a batch are 0)."""


class DistillationLoss(nn.Module):
    """Base class of the registered loss modules (uniform constructor and ``forward`` signature)."""

    params_model: ClassVar[type[BaseModel]] = NoParams

    def __init__(
        self,
        *,
        s_shape: Sequence[int] | Sequence[Sequence[int]] = (),
        t_shape: Sequence[int] | Sequence[Sequence[int]] = (),
        num_samples: int = 0,
        num_classes: int = 0,
        **params: Any,
    ) -> None:
        super().__init__()
        self.s_shapes: tuple[Shape, ...] = shapes(s_shape)
        self.t_shapes: tuple[Shape, ...] = shapes(t_shape)
        self.s_shape: Shape = self.s_shapes[0] if len(self.s_shapes) == 1 else ()
        self.t_shape: Shape = self.t_shapes[0] if len(self.t_shapes) == 1 else ()
        self.num_samples = int(num_samples)
        self.num_classes = int(num_classes)
        self.config: BaseModel = self.params_model.model_validate(params)
        self.build()

    def build(self) -> None:
        """Create trainable parts from the shapes (override; called at the end of ``__init__``)."""

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = self.s_shape if len(self.s_shapes) <= 1 else self.s_shapes
        t = self.t_shape if len(self.t_shapes) <= 1 else self.t_shapes
        return f"s_shape={s}, t_shape={t}, {self.config!r}"


def shapes(shape: Sequence[int] | Sequence[Sequence[int]]) -> tuple[Shape, ...]:
    """``(C, L)`` -> ``((C, L),)``; ``((C1, L1), (C2, L2))`` -> itself (as ints); ``()`` -> ``()``."""
    if not shape:
        return ()
    if all(isinstance(d, Sequence) for d in shape):
        return tuple(tuple(int(d) for d in part) for part in cast(Sequence[Sequence[int]], shape))
    return (tuple(int(d) for d in cast(Sequence[int], shape)),)


def teacher(t: Tensor | list[Tensor]) -> Tensor:
    """The single (detached) teacher tensor; a list is accepted only if it holds exactly one tensor."""
    if isinstance(t, list):
        if len(t) != 1:
            raise TypeError(f"this loss takes one teacher tensor, got a list of {len(t)}")
        t = t[0]
    return t.detach()


def teacher_maps(t: Maps | list[Tensor] | list[Maps], count: int) -> tuple[Tensor, ...]:
    """The ``count`` (detached) teacher maps of a multi-map term (a list must hold one teacher's maps)."""
    if isinstance(t, list):
        if len(t) != 1:
            raise TypeError(f"this loss takes one teacher's maps, got a list of {len(t)}")
        t = t[0]
    maps = (t,) if isinstance(t, Tensor) else tuple(t)
    if len(maps) != count:
        raise ValueError(f"this loss reads {count} map(s) per model, got {len(maps)} from the teacher")
    return tuple(m.detach() for m in maps)


def require(value: Tensor | None, name: str) -> Tensor:
    """``value``, or a ``ValueError`` saying that the loss needs ``name``."""
    if value is None:
        raise ValueError(f"this loss needs `{name}` (pass {name}=... to forward)")
    return value


def require_shapes(loss: DistillationLoss) -> None:
    """Raise unless both per-sample shapes are known (losses with trainable parts need them)."""
    if not loss.s_shape or not loss.t_shape:
        raise ValueError(f"{type(loss).__name__} needs s_shape and t_shape to build its trainable parts")


def flat(x: Tensor) -> Tensor:
    """``(B, ...)`` -> ``(B, D)``."""
    return x.reshape(x.shape[0], -1)


def numel(shape: Shape) -> int:
    """Number of elements of a per-sample shape."""
    return math.prod(shape)


def pool_to(x: Tensor, size: Sequence[int]) -> Tensor:
    """Adaptive average pooling of a ``(B, C, *spatial)`` map (1-D or 2-D) to ``size``; no-op if equal."""
    size = tuple(size)
    if tuple(x.shape[2:]) == size:
        return x
    if len(size) == 1:
        return F.adaptive_avg_pool1d(x, size)
    if len(size) == 2:
        return F.adaptive_avg_pool2d(x, size)
    raise ValueError(f"expected a 1-D (B,C,L) or 2-D (B,C,H,W) map, got shape {tuple(x.shape)}")


def match_spatial(s: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """Pool the larger map to the smaller spatial size (dimension-wise minimum)."""
    if s.dim() != t.dim() or s.dim() not in (3, 4):
        raise ValueError(f"expected two (B,C,L) or (B,C,H,W) maps, got {tuple(s.shape)} and {tuple(t.shape)}")
    size = tuple(min(a, b) for a, b in zip(s.shape[2:], t.shape[2:], strict=True))
    return pool_to(s, size), pool_to(t, size)


def safe_sqrt(x: Tensor) -> Tensor:
    """``sqrt(max(x, 0))`` whose gradient is 0 (not inf/nan) where ``x <= 0``."""
    positive = x > 0
    root = torch.where(positive, x, torch.ones_like(x)).sqrt()  # no sqrt(0) anywhere: finite backward
    return torch.where(positive, root, torch.zeros_like(x))


def kl_rows(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Per-row ``KL(p || q) = sum_c p_c (log p_c - log q_c)`` from log-probabilities, shape ``(B,)``."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def projection(s_shape: Shape, t_shape: Shape) -> nn.Module:
    """Linear map of the flattened student to the teacher's size, or identity when the sizes agree."""
    if numel(s_shape) == numel(t_shape):
        return nn.Identity()
    return nn.Linear(numel(s_shape), numel(t_shape))


class ProjectedLoss(DistillationLoss):
    """Base of the losses that compare flattened student and teacher vectors: when their per-sample sizes
    differ, a trainable linear projection of the student to the teacher's size is added (:func:`projection`)."""

    def build(self) -> None:
        self.proj = projection(self.s_shape, self.t_shape) if self.s_shape and self.t_shape else nn.Identity()

    def student_vector(self, s: Tensor) -> Tensor:
        """The flattened, projected student tensor."""
        out: Tensor = self.proj(flat(s))
        return out


def conv1x1(c_in: int, c_out: int, dims: int) -> nn.Module:
    """1x1 convolution for 1-D (``dims=1``) or 2-D (``dims=2``) maps."""
    if dims == 1:
        return nn.Conv1d(c_in, c_out, kernel_size=1)
    if dims == 2:
        return nn.Conv2d(c_in, c_out, kernel_size=1)
    raise ValueError(f"unsupported map dimensionality {dims}")


def connector(s_shape: Shape, t_shape: Shape, name: str) -> nn.Module:
    """A trainable 1x1 convolution without bias followed by batch normalisation, from the student's channels
    to the teacher's, for two 1-D or two 2-D feature maps (AB's connector; FSP's where channels differ)."""
    if len(s_shape) != len(t_shape) or len(t_shape) not in (2, 3):
        raise ValueError(f"{name} needs two 1-D or two 2-D feature maps, got shapes {s_shape} and {t_shape}")
    c_in, c_out = s_shape[0], t_shape[0]
    if len(t_shape) == 2:
        return nn.Sequential(nn.Conv1d(c_in, c_out, kernel_size=1, bias=False), nn.BatchNorm1d(c_out))
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=1, bias=False), nn.BatchNorm2d(c_out))


class StagedLoss(DistillationLoss):
    """A term switched on or off by the distiller's progress (epochs elapsed at the end of the coming step):
    with ``until_epochs`` in its parameters it is on up to that epoch (the first of two training stages)."""

    progress: float | None = None

    def set_progress(self, epochs: float) -> None:
        """Epochs of training elapsed at the end of the coming step (fractional)."""
        self.progress = float(epochs)

    def active(self) -> bool:
        """Whether the term is on: no ``until_epochs``, no progress known, or progress within it."""
        until = getattr(self.config, "until_epochs", None)
        return until is None or self.progress is None or self.progress <= until
