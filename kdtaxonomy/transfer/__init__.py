"""Transfer methods (survey Section V, Fig. 5): how a node combines the knowledge of its sources.

Each method receives the knowledge terms (loss modules at locations, with weights), the student's features
and the features of every source, and returns the distillation part of the objective; the cross-entropy
with the ground truth is added by the distiller, scaled by :meth:`Transfer.ce_scale`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from kdtaxonomy.location_names import SEPARATOR, side_names
from kdtaxonomy.registry import register
from kdtaxonomy.specs import transfer as specs

Features = dict[str, Tensor]
Maps = Tensor | tuple[Tensor, ...]
"""What a term reads on one model: a tensor, or the tuple of tensors of a multi-map location ``a&b``."""


def read(features: Features, location: str) -> Maps:
    """The tensor at ``location`` (one side of a term's location), or the tuple of tensors of ``a&b``."""
    if SEPARATOR not in location:
        return features[location]
    return tuple(features[name] for name in side_names(location))


@dataclass
class Term:
    """A knowledge term: a loss module read at a location of student and sources, with a weight."""

    module: nn.Module
    location: str
    weight: float
    inputs: str
    """``logits``, ``features`` or ``embeddings`` (from the loss's registry entry)."""
    needs: tuple[str, ...] = ()
    multi: bool = False
    """The loss takes the list of all sources' tensors at once (multi-teacher KD)."""
    source_location: str = ""
    """Location read on the sources (default: the student's location); ``a&b`` reads a tuple of maps."""

    def __post_init__(self) -> None:
        self.source_location = self.source_location or self.location

    def __call__(self, s: Features, t: Maps | list[Maps], batch: dict[str, Tensor]) -> Tensor:
        kwargs: dict[str, Any] = {}
        if "targets" in self.needs:
            kwargs["targets"] = batch["y"]
        if "indices" in self.needs:
            kwargs["indices"] = batch.get("index")
        if "batch" in self.needs:
            kwargs["batch"] = batch  # a term that forwards the models on transformed inputs itself (SSKD)
        value: Tensor = self.module(read(s, self.location), t, **kwargs)
        return self.weight * value


class Transfer:
    """Base transfer: every term against every source, averaged over sources (one source: survey Eq. 1)."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.epoch = 0
        """Current epoch (set by the distiller before each epoch)."""

    def ce_scale(self) -> float:
        """Factor on the recipe's cross-entropy weight."""
        return 1.0

    def stage_starts(self) -> tuple[int, ...]:
        """Epochs at which the objective switches to a new stage (none here): the optimizer starts afresh
        there, as the reference implementations build a new optimizer for each stage."""
        return ()

    def combine(
        self, terms: list[Term], s: Features, sources: list[Features], batch: dict[str, Tensor]
    ) -> Tensor:
        """The distillation loss of one batch."""
        total = torch.zeros((), device=batch["y"].device)
        for term in terms:
            if term.multi:
                total = total + term(s, [read(src, term.source_location) for src in sources], batch)
                continue
            for src in sources:
                total = total + term(s, read(src, term.source_location), batch) / len(sources)
        return total


@register(spec=specs.Permuted)
class Permuted(Transfer):
    """Permuted distillation: the weighted sum of knowledge terms between a teacher and the student."""


@register(spec=specs.MultiLevel)
class MultiLevel(Transfer):
    """Multi-level distillation: terms at several locations summed with their weights ([15], [16], [17])."""


@register(spec=specs.Sequential)
class Sequential(Transfer):
    """Sequential distillation: a node learns from its predecessor in the chain (the graph gives one source)."""


@register(spec=specs.Weighted)
class Weighted(Transfer):
    """Weighted distillation: the recipe uses the confidence-weighted soft-label loss ([11], [18])."""


@register(spec=specs.IntermediateLayer)
class IntermediateLayer(Transfer):
    """Intermediate-layer distillation; ``hint_epochs`` first trains on the non-output terms alone (FitNets)."""

    def hint_phase(self) -> bool:
        """Whether the current epoch belongs to FitNets' stage 1 (hints only, no cross-entropy)."""
        return self.epoch < int(self.spec.hint_epochs)

    def ce_scale(self) -> float:
        return 0.0 if self.hint_phase() else 1.0

    def stage_starts(self) -> tuple[int, ...]:
        """Stage 2 starts after the hint epochs: a fresh optimizer there (RepDistiller's ``init`` trains its
        initialisation stage with an optimizer of its own), so that moments built from the hint terms'
        gradients do not scale the cross-entropy's steps."""
        hint = int(self.spec.hint_epochs)
        return (hint,) if hint > 0 else ()

    def combine(
        self, terms: list[Term], s: Features, sources: list[Features], batch: dict[str, Tensor]
    ) -> Tensor:
        if self.hint_phase():
            terms = [t for t in terms if t.location != "output"]
        return super().combine(terms, s, sources, batch)


@register(spec=specs.Conditional)
class Conditional(Transfer):
    """Conditional teacher-student learning ([10]): the conditional loss already holds the label term."""

    def ce_scale(self) -> float:
        return 0.0


@register(spec=specs.Aggregated)
class Aggregated(Transfer):
    """Aggregated distillation ([1], [5], [13]): soft labels averaged, hard labels voted, features averaged.

    For a single-teacher logit loss the sources' logits are replaced by ``T * log(mean_m softmax(z_m / T))``,
    whose tempered softmax is exactly the average of the teachers' tempered softmaxes; hard labels become
    the one-hot of the majority vote.
    """

    def combine(
        self, terms: list[Term], s: Features, sources: list[Features], batch: dict[str, Tensor]
    ) -> Tensor:
        total = torch.zeros((), device=batch["y"].device)
        for term in terms:
            tensors = [read(src, term.source_location) for src in sources]
            if term.multi:
                total = total + term(s, tensors, batch)
            elif term.inputs == "logits" and len(tensors) > 1:
                temperature = float(getattr(getattr(term.module, "config", None), "temperature", 1.0) or 1.0)
                logits = cast(list[Tensor], tensors)  # a logits term reads one map per model
                total = total + term(s, aggregate_logits(logits, temperature, vote=_is_hard(term)), batch)
            else:
                total = total + sum((term(s, t, batch) for t in tensors), torch.zeros(())) / len(tensors)
        return total


def _is_hard(term: Term) -> bool:
    return type(term.module).__name__.lower().startswith("hard")


def majority_vote(stacked: Tensor) -> Tensor:
    """Per row, the class most teachers predict (``stacked``: ``(M, B, K)`` logits); ties between classes
    with equal votes go to the one with the highest mean teacher probability (never to the lower index)."""
    votes = nn.functional.one_hot(stacked.argmax(dim=2), stacked.shape[2]).sum(dim=0).float()
    mean_prob = torch.softmax(stacked, dim=2).mean(dim=0)
    tied = votes == votes.max(dim=1, keepdim=True).values
    return mean_prob.masked_fill(~tied, -1.0).argmax(dim=1)


def aggregate_logits(logits: list[Tensor], temperature: float, *, vote: bool = False) -> Tensor:
    """Logits whose tempered softmax is the teachers' mean tempered softmax (or the one-hot of
    :func:`majority_vote`)."""
    stacked = torch.stack([t.detach().float() for t in logits])
    if vote:
        return 1e3 * nn.functional.one_hot(majority_vote(stacked), stacked.shape[2]).float()
    probs = torch.softmax(stacked / temperature, dim=2).mean(dim=0)
    return temperature * torch.log(probs.clamp_min(1e-12))


@register(spec=specs.DenseGuidance)
class DenseGuidance(Transfer):
    """DGKD (Son et al. 2021): the teacher and all assistants guide the student; each guide is dropped with
    probability ``drop_rate`` per batch, keeping at least one."""

    def combine(
        self, terms: list[Term], s: Features, sources: list[Features], batch: dict[str, Tensor]
    ) -> Tensor:
        if len(sources) > 1:
            keep = torch.rand(len(sources)) >= float(self.spec.drop_rate)
            if not bool(keep.any()):
                keep[torch.randint(len(sources), (1,))] = True
            sources = [src for src, k in zip(sources, keep.tolist(), strict=True) if k]
        return super().combine(terms, s, sources, batch)


@register(spec=specs.Mutual)
class Mutual(Transfer):
    """Deep mutual learning: each peer distils from the others (their outputs are treated as constants)."""


@register(spec=specs.Fusion)
class Fusion(Transfer):
    """Knowledge fusion (seed paper 001): the auxiliary model's outputs enter the student; no matching loss."""

    def combine(
        self, terms: list[Term], s: Features, sources: list[Features], batch: dict[str, Tensor]
    ) -> Tensor:
        return torch.zeros((), device=batch["y"].device)
