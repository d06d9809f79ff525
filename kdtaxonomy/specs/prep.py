"""Specs of the data-preparation transforms (kind ``prep``; survey Section III, Fig. 3).

Each spec names the vocabulary term it implements (steps ``modification`` and ``partitioning``) and has a
``target`` field: the role(s) whose data the transform prepares (``teacher``, ``student`` or ``both``), with
the default of the paper the transform comes from. Implementations: :mod:`kdtaxonomy.prep`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from kdtaxonomy.specs import Spec

Target = Literal["teacher", "student", "both"]
"""The role(s) a transform prepares data for."""


class PrepSpec(Spec):
    """Base of the data-preparation specs."""

    kind: ClassVar[str] = "prep"
    target: Target = "student"
    """Role(s) whose data the transform prepares: ``teacher``, ``student`` or ``both``."""


class DownsampleUpsampleSpec(PrepSpec):
    """Zhu et al. 2019 (survey [6]): inputs down-sampled by ``factor`` and up-sampled back to their size."""

    key: ClassVar[str] = "downsample-upsample"
    term: ClassVar[str | None] = "different-resolutions"
    factor: int = Field(4, ge=1)
    """Down-sampling factor per spatial axis (``[6]``: 32x32 -> 8x8 is 4, -> 16x16 is 2); 1: identity."""
    down: Literal["area", "linear", "nearest"] = "area"
    """Down-sampling rule: ``area`` = mean over blocks of ``factor`` samples (adaptive average pooling),
    ``linear`` = (bi)linear interpolation without anti-aliasing, ``nearest`` = nearest sample."""
    up: Literal["linear", "nearest"] = "linear"
    """Up-sampling rule back to the original size: (bi)linear with half-sample centres
    (``align_corners=False``) or nearest."""
    target: Target = "student"
    """Role(s) that see the low-resolution inputs (train and test); ``[6]``: the student."""


class AugmentSpec(PrepSpec):
    """Mahbod et al. 2019 (survey [12]): fundamental augmentations applied online to training batches."""

    key: ClassVar[str] = "augment"
    term: ClassVar[str | None] = "augmentation"
    max_shift: int = Field(3, ge=0)
    """1-D: largest circular shift (samples), drawn uniformly from ``[-max_shift, max_shift]`` per sample."""
    scale: float = Field(0.1, ge=0.0, lt=1.0)
    """1-D: amplitude scaling factor drawn uniformly from ``[1 - scale, 1 + scale]`` per sample."""
    noise_std: float = Field(0.05, ge=0.0)
    """1-D: standard deviation of additive gaussian noise."""
    time_flip_p: float = Field(0.0, ge=0.0, le=1.0)
    """1-D: probability of a time reversal (the 1-D horizontal flip); off by default."""
    hflip_p: float = Field(0.5, ge=0.0, le=1.0)
    """2-D: probability of a horizontal flip."""
    rotate90: bool = True
    """2-D: rotate by a uniformly drawn multiple of 90 degrees (of 180 degrees for non-square images)."""
    target: Target = "both"
    """Role(s) whose training batches are augmented; ``[12]`` augments the training data of the model."""


class SpectralViewSpec(PrepSpec):
    """Adds the spectral view ``|rFFT(x)|`` for multi-view teachers (survey [5], [13]; seed paper 003)."""

    key: ClassVar[str] = "spectral-view"
    term: ClassVar[str | None] = "different-views"
    name: str = Field("spectral", min_length=1)
    """Name of the added view (skipped when the data already provide a view of that name)."""
    log: bool = False
    """Use ``log(1 + |rFFT(x)|)`` instead of the magnitude."""
    target: Target = "teacher"
    """Role(s) whose data get the view (train and test): the multi-view teacher."""


class DecreaseDataSpec(PrepSpec):
    """Hinton et al. 2015 (survey [1] Ex. 2), Ahn et al. 2019 ([9]): a stratified fraction of the data."""

    key: ClassVar[str] = "decrease-data"
    term: ClassVar[str | None] = "decreased-training-data"
    fraction: float = Field(0.03, gt=0.0, le=1.0)
    """Fraction kept in every class (``[1]`` Ex. 2: 3% of JFT; ``[9]``: 2%)."""
    min_per_class: int = Field(1, ge=0)
    """Lower bound of the samples kept per present class."""
    target: Target = "student"
    """Role(s) trained on the reduced data; the test split is never reduced."""


class TruncateSpec(PrepSpec):
    """Wang et al. 2019 (survey [14]): early prediction, the student sees only the start of each sequence."""

    key: ClassVar[str] = "truncate"
    term: ClassVar[str | None] = "eliminated-parts"
    keep: float = Field(0.5, gt=0.0, le=1.0)
    """Observation ratio: the first ``ceil(keep * L)`` samples of the axis are kept."""
    mode: Literal["zero", "crop"] = "zero"
    """``zero``: the unobserved part is set to 0 (shape kept); ``crop``: it is removed."""
    axis: int = -1
    """Time axis of the per-batch tensor ``(N, C, L)`` (default the last one)."""
    target: Target = "student"
    """Role(s) that see partial sequences (train and test)."""

    @model_validator(mode="after")
    def _time_axis(self) -> TruncateSpec:
        if self.axis in (0, 1):
            raise ValueError(
                "axis must be a time/spatial axis (>= 2 or negative), not the batch or channel axis"
            )
        return self


class ClassPartitionSpec(PrepSpec):
    """Hinton et al. 2015 (survey [1]): classes split into groups, one per teacher/specialist."""

    key: ClassVar[str] = "class-partition"
    term: ClassVar[str | None] = "for-teachers"
    parts: int = Field(2, ge=1)
    """Number of class groups."""
    seed: int = 0
    """Seed of the random assignment of classes to groups."""
    groups: list[list[int]] | None = None
    """Explicit class groups (overrides ``parts``/``seed``), e.g. confusable classes of a specialist."""
    num_classes: int | None = Field(None, ge=1)
    """Number of classes; inferred as ``max(y) + 1`` when not given."""
    target: Target = "teacher"
    """Role(s) trained on the partitions: the teachers."""

    @model_validator(mode="after")
    def _groups(self) -> ClassPartitionSpec:
        if self.groups is not None:
            flat = [c for g in self.groups for c in g]
            if not self.groups or any(not g for g in self.groups):
                raise ValueError("groups must be non-empty lists of class indices")
            if len(flat) != len(set(flat)) or min(flat) < 0:
                raise ValueError("groups must hold distinct, non-negative class indices")
        return self


class DataImpressionsSpec(PrepSpec):
    """Nayak et al. 2019 (survey [7]): Zero-Shot KD data impressions synthesised from the teacher alone."""

    key: ClassVar[str] = "data-impressions"
    term: ClassVar[str | None] = "data-impressions"
    beta: tuple[float, ...] = (1.0, 0.1)
    """Scaling factors of the Dirichlet concentration ``beta * C_k`` (impressions split evenly among them)."""
    temperature: float = Field(20.0, gt=0.0)
    """Softmax temperature of the teacher while the impressions are optimised (paper: 20)."""
    steps: int = Field(200, ge=0)
    """Adam iterations per batch of impressions (paper: 1500)."""
    lr: float = Field(0.01, gt=0.0)
    """Adam learning rate (paper: 0.01)."""
    count: int | None = Field(None, ge=1)
    """Number of impressions; defaults to the size of the data they replace."""
    batch_size: int = Field(256, ge=1)
    """Impressions optimised together."""
    min_concentration: float = Field(1e-8, gt=0.0)
    """Floor of the Dirichlet concentrations (min-max normalisation gives the least similar class 0)."""
    target: Target = "student"
    """Role trained on the impressions: the student."""

    @model_validator(mode="after")
    def _betas(self) -> DataImpressionsSpec:
        if not self.beta or any(b <= 0 for b in self.beta):
            raise ValueError("beta must hold at least one positive scaling factor")
        return self
