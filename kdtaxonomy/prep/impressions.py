"""Data impressions: Zero-Shot Knowledge Distillation (Nayak et al. 2019, survey [7]).

When no training data can be used, the student is trained on *data impressions* crafted from the teacher:

1. class similarity from the teacher's final layer ``classifier`` (``nn.Linear``, weights ``w_k``, one row
   per class): ``C(i, j) = w_i . w_j / (||w_i|| ||w_j||)``, then min-max normalised per row,
   ``C(i, j) <- (C(i, j) - min_j C(i, j)) / (max_j C(i, j) - min_j C(i, j))`` (so ``C(i, i) = 1``);
2. for an impression of class ``k`` with scaling factor ``beta``: a soft target
   ``y ~ Dir(max(beta * C(k, :), min_concentration))``; impression ``i`` (of ``count``) has class
   ``k = i mod K`` and factor ``beta[(i // K) mod len(beta)]``, so classes and factors are balanced
   (the paper: N/K impressions per class, half with ``beta = 1.0`` and half with ``0.1``);
3. an input ``x`` (shape of one sample of the data) initialised with gaussian noise of the data's mean and
   standard deviation and optimised with Adam (``lr``, ``steps`` iterations) to minimise the
   cross-entropy ``-sum_j y_j log softmax(T(x) / tau)_j`` with ``tau = temperature`` (paper: 20).

The impressions are returned as an :class:`ArrayData` with ``y = argmax`` of the sampled targets and
indices ``0..count-1`` (no extra views). The teacher is never modified: it runs in eval mode, its
parameters do not require gradients during the optimisation, and every module's train/eval flag and every
parameter's ``requires_grad`` flag are restored afterwards.

The Dirichlet sampler is written here so that it draws only from the given generator: Dirichlet =
normalised Gamma(alpha, 1) samples; ``Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha)`` with Marsaglia and
Tsang's (2000) rejection sampler for ``Gamma(alpha + 1)``; computed in log space (softmax of the log-gamma
samples) so that tiny concentrations give tiny probabilities instead of ``0/0``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.data import ArrayData
from kdtaxonomy.prep.base import Prep
from kdtaxonomy.registry import register
from kdtaxonomy.specs.prep import DataImpressionsSpec


def teacher_classifier(teacher: nn.Module) -> nn.Linear:
    """The teacher's final layer ``teacher.classifier`` (an ``nn.Linear``), or a clear error."""
    layer = getattr(teacher, "classifier", None)
    if not isinstance(layer, nn.Linear):
        found = "missing" if layer is None else f"a {type(layer).__name__}"
        raise TypeError(
            f"data impressions need the teacher's final layer as `teacher.classifier` (an nn.Linear); "
            f"{type(teacher).__name__}.classifier is {found}"
        )
    return layer


def class_similarity(weight: Tensor) -> Tensor:
    """Row-wise min-max normalised cosine similarity of the class weight vectors ``(K, D) -> (K, K)``."""
    w = F.normalize(weight, dim=1)
    sim = w @ w.T
    lo = sim.min(dim=1, keepdim=True).values
    hi = sim.max(dim=1, keepdim=True).values
    return (sim - lo) / (hi - lo).clamp_min(torch.finfo(sim.dtype).tiny)


def log_gamma_samples(alpha: Tensor, generator: torch.Generator) -> Tensor:
    """``log G`` with ``G ~ Gamma(alpha, 1)`` elementwise (float64, CPU), drawn from ``generator``."""
    a = alpha.double().cpu().flatten() + 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    accepted = torch.empty_like(a)
    pending = torch.arange(a.numel())
    while pending.numel():
        n = pending.numel()
        x = torch.randn(n, generator=generator, dtype=torch.float64, device=generator.device).cpu()
        u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device).cpu()
        dp, cp = d[pending], c[pending]
        v = (1.0 + cp * x) ** 3
        safe_v = torch.where(v > 0, v, torch.ones_like(v))
        ok = (v > 0) & (torch.log(u) < 0.5 * x * x + dp - dp * safe_v + dp * torch.log(safe_v))
        accepted[pending[ok]] = dp[ok] * v[ok]
        pending = pending[~ok]
    u = torch.rand(a.numel(), generator=generator, dtype=torch.float64, device=generator.device).cpu()
    log_g = torch.log(accepted) + torch.log(u) / (a - 1.0)
    return log_g.view(alpha.shape)


def sample_dirichlet(concentration: Tensor, generator: torch.Generator) -> Tensor:
    """One Dirichlet sample per row of ``concentration`` ``(n, K)`` (float64), from ``generator``."""
    return torch.softmax(log_gamma_samples(concentration, generator), dim=-1)


def logits_of(output: object) -> Tensor:
    """The logits of a model output: a tensor, ``output["logits"]`` or the first element of a tuple."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, Mapping) and isinstance(output.get("logits"), Tensor):
        return cast(Tensor, output["logits"])
    if isinstance(output, Sequence) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError(f"cannot read logits from a model output of type {type(output).__name__}")


def impression_plan(count: int, num_classes: int, betas: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Class ``i mod K`` and scaling factor ``betas[(i // K) mod len(betas)]`` of impression ``i``."""
    i = torch.arange(count)
    beta = torch.tensor([float(b) for b in betas], dtype=torch.float64)
    return i % num_classes, beta[(i // num_classes) % len(betas)]


def _init_inputs(data: ArrayData, count: int, generator: torch.Generator) -> Tensor:
    """Gaussian noise with the data's per-tensor mean and standard deviation (N(0, 1) if undefined)."""
    x = data.x.detach().double()
    mean = float(x.mean()) if x.numel() else 0.0
    std = float(x.std()) if x.numel() > 1 else 1.0
    if not math.isfinite(mean) or not math.isfinite(std) or std <= 0:
        mean, std = 0.0, 1.0
    noise = torch.randn((count, *data.x.shape[1:]), generator=generator, device=generator.device)
    return mean + std * noise.cpu()


@register(spec=DataImpressionsSpec)
class DataImpressions(Prep[DataImpressionsSpec]):
    """Nayak et al. 2019 (survey [7]): Zero-Shot KD data impressions synthesised from the teacher alone."""

    needs_teacher: ClassVar[bool] = True

    def synthesize(self, teacher: nn.Module, data: ArrayData, generator: torch.Generator) -> ArrayData:
        s = self.spec
        layer = teacher_classifier(teacher)
        count = s.count if s.count is not None else len(data)
        if count < 1:
            raise ValueError("data impressions need count >= 1 (or non-empty data to take the count from)")
        if not data.x.is_floating_point():
            raise TypeError(f"data impressions need floating-point inputs, got {data.x.dtype}")
        num_classes = layer.out_features
        sim = class_similarity(layer.weight.detach().double().cpu())
        classes, beta = impression_plan(count, num_classes, s.beta)
        concentration = (beta.unsqueeze(1) * sim[classes]).clamp_min(s.min_concentration)
        targets = sample_dirichlet(concentration, generator)
        inputs = _init_inputs(data, count, generator)

        params = list(teacher.parameters())
        device = params[0].device if params else data.x.device
        flags = [p.requires_grad for p in params]
        modes = [(m, m.training) for m in teacher.modules()]
        out = torch.empty((count, *data.x.shape[1:]), dtype=data.x.dtype)
        try:
            teacher.eval()
            for p in params:
                p.requires_grad_(False)
            with torch.enable_grad():
                for start in range(0, count, s.batch_size):
                    stop = min(count, start + s.batch_size)
                    x = inputs[start:stop].to(device=device, dtype=data.x.dtype).requires_grad_(True)
                    y = targets[start:stop].to(device=device, dtype=data.x.dtype)
                    opt = torch.optim.Adam([x], lr=s.lr)
                    for _ in range(s.steps):
                        opt.zero_grad(set_to_none=True)
                        log_p = F.log_softmax(logits_of(teacher(x)) / s.temperature, dim=1)
                        loss = -(y * log_p).sum()
                        loss.backward()  # type: ignore[no-untyped-call]
                        opt.step()
                    out[start:stop] = x.detach().cpu()
        finally:
            for p, flag in zip(params, flags, strict=True):
                p.requires_grad_(flag)
            for module, mode in modes:
                module.training = mode
        labels = targets.argmax(dim=1)
        return ArrayData.from_tensors(out.to(data.x.device), labels.to(data.y.device))
