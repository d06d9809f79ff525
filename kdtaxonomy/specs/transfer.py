"""Specs of transfer methods (kind ``transfer``): how a node combines the knowledge of its sources.

Survey seed paper 000, Section V and Fig. 5.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kdtaxonomy.specs import Spec


class TransferSpec(Spec):
    """Fields shared by transfer methods."""

    kind: ClassVar[str] = "transfer"


class Permuted(TransferSpec):
    """One teacher to one student: the weighted sum of the knowledge terms (survey Eq. 1)."""

    key: ClassVar[str] = "permuted"
    term: ClassVar[str | None] = "permuted"


class Aggregated(TransferSpec):
    """Several teachers aggregated: soft labels averaged, hard labels voted, features averaged ([1], [5], [13])."""

    key: ClassVar[str] = "aggregated"
    term: ClassVar[str | None] = "aggregated"


class Sequential(TransferSpec):
    """Each node learns from its predecessor only (teacher -> assistant -> student; born-again generations)."""

    key: ClassVar[str] = "sequential"
    term: ClassVar[str | None] = "sequential"


class DenseGuidance(TransferSpec):
    """DGKD: the student learns from the teacher and every assistant, dropping each guide at random per batch."""

    key: ClassVar[str] = "dense-guidance"
    term: ClassVar[str | None] = "dense-guidance"
    drop_rate: float = Field(default=0.5, ge=0.0, lt=1.0)
    """Probability of dropping each guide in a batch (at least one guide is always kept)."""


class Conditional(TransferSpec):
    """Conditional teacher-student learning ([10]): soft labels where the teacher is right, labels elsewhere."""

    key: ClassVar[str] = "conditional"
    term: ClassVar[str | None] = "conditional"


class Weighted(TransferSpec):
    """Samples weighted by the teacher's confidence in the true class ([11], [18])."""

    key: ClassVar[str] = "weighted"
    term: ClassVar[str | None] = "weighted"


class MultiLevel(TransferSpec):
    """Knowledge read at several locations, summed with the terms' weights ([15], [16], [17])."""

    key: ClassVar[str] = "multi-level"
    term: ClassVar[str | None] = "multi-level"


class IntermediateLayer(TransferSpec):
    """Intermediate-layer distillation; with ``hint_epochs`` FitNets' stage 1 trains on the hint terms alone."""

    key: ClassVar[str] = "intermediate-layer"
    term: ClassVar[str | None] = "intermediate-layer"
    hint_epochs: int = Field(default=0, ge=0)
    """Epochs of hint-only training before the full objective (FitNets' two-stage training)."""


class Mutual(TransferSpec):
    """Deep mutual learning: peers trained jointly, each distilling from the others."""

    key: ClassVar[str] = "mutual"
    term: ClassVar[str | None] = "mutual"


class Fusion(TransferSpec):
    """The auxiliary model's outputs are fused into the student; only cross-entropy trains it (seed paper 001)."""

    key: ClassVar[str] = "fusion"
    term: ClassVar[str | None] = "fusion"
