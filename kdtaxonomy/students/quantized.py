"""Quantized student: quantized distillation (Polino, Pascanu & Alistarh 2018, survey [2]).

"Model compression via distillation and quantization", Sec. 2 and Algorithm 1. The student keeps
full-precision *shadow* weights ``w``; every forward pass uses their quantization ``Q(w)``; the gradient of
the loss with respect to ``Q(w)`` is applied to ``w`` (straight-through estimator); after training the
weights are replaced by ``Q(w)``.

Uniform scaled quantization with ``b`` bits, applied to the weights of every Conv/Linear layer (biases stay
full precision), per tensor or per *bucket* of ``bucket_size`` consecutive weights of the flattened tensor
(the last bucket may be shorter). For a bucket ``v``::

    alpha = max(v) - min(v),  beta = min(v),  s = 2^b - 1
    Q(v)_i = round(s (v_i - beta) / alpha) / s * alpha + beta         (Q(v) = v when alpha = 0)

so each bucket takes at most ``2^b`` distinct values. ``round`` is round-half-to-even (deterministic; the
paper's analysis also considers stochastic rounding, not implemented). With ``init_from_teacher_quantized``
the shadow weights start as the quantized weights of the teacher (survey Section VII-B), which needs
identical parameter names and shapes.

Implementation: a ``torch.nn.utils.parametrize`` parametrization of each ``weight`` (the shadow weight lives
at ``layer.parametrizations.weight.original``; module names, ``locations`` and ``classifier`` are unchanged);
:meth:`Quantized.finalize` removes the parametrizations and leaves ``weight = Q(w)``. While training, the
``state_dict`` key of a quantized weight is ``<layer>.parametrizations.weight.original``; after
``finalize`` it is ``<layer>.weight`` again (restore a mid-training checkpoint before finalizing).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from kdtaxonomy.registry import register
from kdtaxonomy.specs.students import QuantizedSpec
from kdtaxonomy.students.base import Construction, weight_layers
from kdtaxonomy.students.init import copy_teacher_state


class _StraightThrough(torch.autograd.Function):
    """Forward: the quantized value ``q``; backward: the incoming gradient passed unchanged to ``w``."""

    @staticmethod
    def forward(ctx: Any, w: Tensor, q: Tensor) -> Tensor:
        return q.clone()

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor, None]:
        return grad_outputs[0], None


def straight_through(w: Tensor, q: Tensor) -> Tensor:
    """``q`` in the forward pass, with the gradient flowing to ``w`` as if it were the identity."""
    return cast(Tensor, _StraightThrough.apply(w, q.detach()))  # type: ignore[no-untyped-call]


def quantize_uniform(w: Tensor, bits: int, bucket_size: int | None = None) -> Tensor:
    """Polino et al.'s uniform scaled quantization of ``w`` (see the module docstring); no gradient."""
    with torch.no_grad():
        flat = w.detach().reshape(-1)
        n = flat.numel()
        if n == 0:
            return w.detach().clone()
        if bucket_size is None or bucket_size >= n:
            buckets = flat.view(1, n)
        else:
            pad = (-n) % bucket_size
            if pad:  # repeat the last value: the last bucket's min and max are unchanged
                flat = torch.cat([flat, flat[-1:].expand(pad)])
            buckets = flat.view(-1, bucket_size)
        lo = buckets.min(dim=1, keepdim=True).values
        alpha = buckets.max(dim=1, keepdim=True).values - lo
        s = float(2**bits - 1)
        safe = torch.where(alpha > 0, alpha, torch.ones_like(alpha))
        q = torch.round(s * (buckets - lo) / safe) / s * safe + lo
        q = torch.where(alpha > 0, q, buckets)
        return q.reshape(-1)[:n].view_as(w)


class UniformWeightQuantizer(nn.Module):
    """Parametrization ``w -> Q(w)`` with a straight-through gradient (Polino et al. 2018)."""

    def __init__(self, bits: int, bucket_size: int | None = None) -> None:
        super().__init__()
        self.bits = bits
        self.bucket_size = bucket_size

    def forward(self, w: Tensor) -> Tensor:
        return straight_through(w, quantize_uniform(w, self.bits, self.bucket_size))

    def extra_repr(self) -> str:
        return f"bits={self.bits}, bucket_size={self.bucket_size}"


def shadow_weight(layer: nn.Module) -> Tensor:
    """The full-precision weight of a layer whose ``weight`` is parametrized (else ``layer.weight``)."""
    if parametrize.is_parametrized(layer, "weight"):
        original = layer.get_submodule("parametrizations.weight").original
        if not isinstance(original, Tensor):
            raise TypeError(f"unexpected parametrization of {type(layer).__name__}.weight")
        return original
    return cast(Tensor, layer.weight)


def bake_weights(module: nn.Module) -> None:
    """Replace every parametrized ``weight`` by its current (quantized) value, as a plain parameter."""
    for _, layer in weight_layers(module):
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)


def distinct_values(t: Tensor) -> int:
    """Number of distinct values of ``t``."""
    return int(torch.unique(t.detach()).numel())


@register(spec=QuantizedSpec)
class Quantized(Construction[QuantizedSpec]):
    """Polino et al. 2018 (survey [2]): quantized distillation with full-precision shadow weights."""

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        s = self.spec
        layers = list(weight_layers(student))
        if s.init_from_teacher_quantized:
            copy_teacher_state(student, teacher)
            with torch.no_grad():
                for _, layer in layers:
                    weight = shadow_weight(layer)
                    weight.copy_(quantize_uniform(weight, s.bits, s.bucket_size))
        for _, layer in layers:
            if not parametrize.is_parametrized(layer, "weight"):
                parametrize.register_parametrization(
                    layer, "weight", UniformWeightQuantizer(s.bits, s.bucket_size)
                )
        return student

    def finalize(self, student: nn.Module) -> nn.Module:
        bake_weights(student)
        return student

    def describe(self, student: nn.Module) -> dict[str, float]:
        out: dict[str, float] = {
            "bits": float(self.spec.bits),
            "bucket_size": float(self.spec.bucket_size or 0),
        }
        counts: list[int] = []
        with torch.no_grad():
            for name, layer in weight_layers(student):
                counts.append(distinct_values(cast(Tensor, layer.weight)))
                out[f"distinct_values.{name}"] = float(counts[-1])
        out["quantized_layers"] = float(len(counts))
        out["max_distinct_values"] = float(max(counts, default=0))
        return out
