"""Specs of the student constructions (kind ``student``; survey Section VI, Fig. 6, ``student-construction``).

Implementations: :mod:`kdtaxonomy.students`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from kdtaxonomy.specs import Spec


class StudentSpec(Spec):
    """Base of the student-construction specs."""

    kind: ClassVar[str] = "student"


class FromScratchSpec(StudentSpec):
    """The student is randomly (re-)initialised and trained with the distillation objective."""

    key: ClassVar[str] = "from-scratch"
    term: ClassVar[str | None] = "from-scratch"
    seed: int | None = None
    """Seed of the re-initialisation (in a forked RNG, the global one is left alone); None: the global RNG."""


class TeacherInitSpec(StudentSpec):
    """Hinton et al. 2015 (survey [1]): the student starts from the teacher's parameters."""

    key: ClassVar[str] = "teacher-init"
    term: ClassVar[str | None] = "teacher-initialized"


class QuantizedSpec(StudentSpec):
    """Polino et al. 2018 (survey [2]): quantized distillation with full-precision shadow weights."""

    key: ClassVar[str] = "quantized"
    term: ClassVar[str | None] = "quantized"
    bits: int = Field(8, ge=1, le=16)
    """Bits of the uniform weight quantization: ``2**bits`` levels per scaling bucket."""
    bucket_size: int | None = Field(None, ge=1)
    """Consecutive weights (flattened) sharing one min-max scaling; None scales the whole tensor."""
    init_from_teacher_quantized: bool = False
    """Start from the quantized weights of the teacher (needs identical names/shapes; survey VII-B)."""


class LowPrecisionSpec(StudentSpec):
    """Mishra & Marr 2017, Apprentice (survey [4]): low-precision weights and activations."""

    key: ClassVar[str] = "low-precision"
    term: ClassVar[str | None] = "low-precision"
    weight_bits: int = Field(4, ge=2, le=16)
    """Bits of the weights: one sign bit and ``weight_bits - 1`` magnitude bits."""
    activation_bits: int = Field(8, ge=1, le=16)
    """Bits of the (non-negative, clipped) layer inputs."""
    activation_clip: float = Field(1.0, gt=0.0)
    """Layer inputs are clipped to ``[0, activation_clip]`` before quantization (paper: 1)."""
    quantize_first_last: bool = False
    """Also quantize the first and last Conv/Linear layers (full precision by default: WRPN/Apprentice)."""


class PrunedSpec(StudentSpec):
    """Kim & Rush 2016 (survey [8]): magnitude pruning of the distilled student, then KD fine-tuning."""

    key: ClassVar[str] = "pruned"
    term: ClassVar[str | None] = "pruned"
    sparsity: float = Field(0.8, ge=0.0, lt=1.0)
    """Fraction of the Conv/Linear weights set to zero (``[8]``: 80%)."""
    scope: Literal["global", "layer"] = "global"
    """``global``: smallest magnitudes over all layers together (class-blind); ``layer``: per layer."""


class SVMHeadSpec(StudentSpec):
    """Mahbod et al. 2019 (survey [12]): a linear multi-class SVM on frozen deep teacher features."""

    key: ClassVar[str] = "svm-head"
    term: ClassVar[str | None] = "trained-on-features"
    c: float = Field(1.0, gt=0.0)
    """Soft-margin constant C of ``1/2 ||W||^2 + C sum_i xi_i`` (the loss is that divided by ``C*N``)."""
    margin: float = Field(1.0, gt=0.0)
    """Margin of the Crammer-Singer hinge."""
    num_samples: int | None = Field(None, ge=1)
    """N in the normalisation above (training-set size); None uses the batch size."""
