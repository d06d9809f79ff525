"""Low-precision student: Apprentice (Mishra & Marr 2017, survey [4]).

"Apprentice: Using Knowledge Distillation Techniques To Improve Low-Precision Network Accuracy". Teacher
and/or student run with low-precision weights *and* activations (quantization scheme of WRPN, Mishra et
al. 2017), trained with the full-precision shadow weights and straight-through gradients:

* weights, ``k_w`` bits (one sign bit and ``k_w - 1`` magnitude bits), ``n = 2^(k_w - 1) - 1``::

      m = max |w|  (per tensor),   Q_w(w) = round(n clamp(w / m, -1, 1)) / n * m

  (WRPN/Apprentice clip to ``[-1, 1]`` directly; the per-tensor scale ``m`` is a convention of this
  library that makes the rule independent of the initialisation scale); at most ``2 n + 1`` values;
* activations (the inputs of each quantized Conv/Linear layer), ``k_a`` bits, ``M = 2^k_a - 1``, clip ``c``::

      Q_a(a) = round(M clamp(a, 0, c) / c) / M * c

  with the straight-through gradient of the clamp (1 inside ``[0, c]``, 0 outside) and of the rounding
  (identity);
* as in WRPN/Apprentice the first and last Conv/Linear layers (in registration order) keep full precision
  unless ``quantize_first_last``.

:func:`make_low_precision` applies this to any module in place (the teacher setup reuses it for a
low-precision teacher). :meth:`LowPrecision.finalize` bakes the quantized weights; the activation
quantizers (forward pre-hooks) stay, they are part of the low-precision network.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from kdtaxonomy.registry import register
from kdtaxonomy.specs.students import LowPrecisionSpec
from kdtaxonomy.students.base import Construction, weight_layers
from kdtaxonomy.students.quantized import bake_weights, distinct_values, straight_through

ACTIVATION_BITS_ATTR = "kd_activation_bits"
"""Attribute set on layers whose inputs are quantized (read by :meth:`LowPrecision.describe`)."""


def quantize_symmetric(w: Tensor, bits: int) -> Tensor:
    """``Q_w``: sign + ``bits - 1`` magnitude bits, scaled by ``max |w|`` (module docstring); no gradient."""
    with torch.no_grad():
        n = float(2 ** (bits - 1) - 1)
        m = w.detach().abs().max() if w.numel() else torch.zeros((), dtype=w.dtype, device=w.device)
        if float(m) == 0.0:
            return w.detach().clone()
        return torch.round(n * torch.clamp(w.detach() / m, -1.0, 1.0)) / n * m


def quantize_activation(a: Tensor, bits: int, clip: float = 1.0) -> Tensor:
    """``Q_a`` with the clipped straight-through gradient (module docstring)."""
    clipped = torch.clamp(a, 0.0, clip)
    levels = float(2**bits - 1)
    q = torch.round(clipped.detach() * (levels / clip)) / levels * clip
    return straight_through(clipped, q)


class SymmetricWeightQuantizer(nn.Module):
    """Parametrization ``w -> Q_w(w)`` with a straight-through gradient (Apprentice/WRPN weights)."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def forward(self, w: Tensor) -> Tensor:
        return straight_through(w, quantize_symmetric(w, self.bits))

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


class ActivationQuantizer:
    """Forward pre-hook quantizing a layer's first input with ``Q_a``."""

    def __init__(self, bits: int, clip: float) -> None:
        self.bits = bits
        self.clip = clip

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if not args or not isinstance(args[0], Tensor):
            return args
        return (quantize_activation(args[0], self.bits, self.clip), *args[1:])


def make_low_precision(
    module: nn.Module,
    weight_bits: int = 4,
    activation_bits: int = 8,
    *,
    activation_clip: float = 1.0,
    quantize_first_last: bool = False,
) -> nn.Module:
    """Make ``module``'s Conv/Linear layers low-precision in place (weights and inputs); returns ``module``.

    Layers already made low-precision are left alone. With ``quantize_first_last=False`` the first and the
    last layer keep full precision (a network with at most two such layers is then left unchanged).
    """
    layers = [layer for _, layer in weight_layers(module)]
    if not quantize_first_last:
        layers = layers[1:-1]
    for layer in layers:
        if hasattr(layer, ACTIVATION_BITS_ATTR):
            continue
        parametrize.register_parametrization(layer, "weight", SymmetricWeightQuantizer(weight_bits))
        layer.register_forward_pre_hook(ActivationQuantizer(activation_bits, activation_clip))
        setattr(layer, ACTIVATION_BITS_ATTR, activation_bits)
    return module


@register(spec=LowPrecisionSpec)
class LowPrecision(Construction[LowPrecisionSpec]):
    """Mishra & Marr 2017, Apprentice (survey [4]): low-precision weights and activations."""

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        s = self.spec
        return make_low_precision(
            student,
            s.weight_bits,
            s.activation_bits,
            activation_clip=s.activation_clip,
            quantize_first_last=s.quantize_first_last,
        )

    def finalize(self, student: nn.Module) -> nn.Module:
        bake_weights(student)
        return student

    def describe(self, student: nn.Module) -> dict[str, float]:
        counts: list[int] = []
        with torch.no_grad():
            for _, layer in weight_layers(student):
                if hasattr(layer, ACTIVATION_BITS_ATTR):
                    counts.append(distinct_values(cast(Tensor, layer.weight)))
        return {
            "weight_bits": float(self.spec.weight_bits),
            "activation_bits": float(self.spec.activation_bits),
            "quantized_layers": float(len(counts)),
            "max_distinct_values": float(max(counts, default=0)),
        }
