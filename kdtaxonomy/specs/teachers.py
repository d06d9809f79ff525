"""Specs of teacher setups (kind ``teacher``): how many teachers, what they see, how they are chained.

Survey seed 000, Section IV and Fig. 4. Each setup turns into nodes of the teacher-assistant-student graph
that the pipeline trains in topological order.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from kdtaxonomy.specs import Spec

Size = Literal["tiny", "small", "medium", "large"]


class TeacherSpec(Spec):
    """Fields shared by every teacher setup."""

    kind: ClassVar[str] = "teacher"
    model: str = "cnn1d"
    """Registry key of the teacher architecture."""
    size: Size = "large"
    """Size preset of the teacher architecture (a 'complex' teacher is large)."""
    epochs: int | None = Field(default=None, ge=1)
    """Epochs to train each teacher (default: the recipe's ``training.teacher_epochs``)."""


class SingleTeacher(TeacherSpec):
    """One teacher network (the survey's 'Single')."""

    key: ClassVar[str] = "single"
    term: ClassVar[str | None] = "single"


class EnsembleTeacher(TeacherSpec):
    """An ensemble of N similar teachers trained from different seeds ([1]: 10 baseline networks)."""

    key: ClassVar[str] = "ensemble"
    term: ClassVar[str | None] = "ensemble"
    count: int = Field(default=3, ge=2, le=16)
    """Number of ensemble members."""


class MultiViewTeacher(TeacherSpec):
    """One teacher per input view or modality ([5], [13], seed 003); the student sees ``student_view``."""

    key: ClassVar[str] = "multi-view"
    term: ClassVar[str | None] = "multi-teacher"
    views: list[str] = Field(default_factory=lambda: ["x", "spectral"], min_length=1)
    """Input views, one teacher each (``x`` is the raw view)."""
    fused: bool = False
    """Also train one teacher on all views concatenated along channels (seed 003's audio-visual system)."""


class SpecialistTeachers(TeacherSpec):
    """A generalist plus specialists on class partitions ([1], Hinton et al. Section 5)."""

    key: ClassVar[str] = "specialists"
    term: ClassVar[str | None] = "specialists"
    specialists: int = Field(default=2, ge=1, le=10)
    """Number of specialists; classes are split into this many groups."""


class AssistantChain(TeacherSpec):
    """Teacher -> assistant(s) -> student chain (TAKD; seed 004's Conv-LSTM assistant)."""

    key: ClassVar[str] = "assistant-chain"
    term: ClassVar[str | None] = "assistant-chain"
    assistants: list[str] = Field(default_factory=lambda: ["cnn1d:medium"], min_length=1)
    """Assistant architectures in chain order, each ``model:size``."""


class Generations(TeacherSpec):
    """Born-again generations ([11]): each generation teaches the next; the student has the teacher's architecture."""

    key: ClassVar[str] = "generations"
    term: ClassVar[str | None] = "generations"
    generations: int = Field(default=2, ge=1, le=6)
    """Number of student generations after the first teacher."""


class LowPrecisionTeacher(TeacherSpec):
    """A teacher trained with low-precision weights and activations (Apprentice, [4])."""

    key: ClassVar[str] = "low-precision"
    term: ClassVar[str | None] = None
    weight_bits: int = Field(default=8, ge=2, le=16)
    """Bits of the teacher's weights."""
    activation_bits: int = Field(default=8, ge=2, le=16)
    """Bits of the teacher's activations."""


class AuxiliaryModel(TeacherSpec):
    """A pre-trained auxiliary model whose output vector is fused into the student (seed 001's tag vectors)."""

    key: ClassVar[str] = "auxiliary"
    term: ClassVar[str | None] = "auxiliary-model"
    fusion: Literal["concat", "attention", "both"] = "concat"
    """How the tag vector enters the student: concatenated with its embedding, multi-head attention over its
    feature map, or both (seed 001, Sections 3.2-3.4)."""
    heads: int = Field(default=4, ge=1, le=16)
    """Attention heads."""
    location: str = "block2"
    """Student location whose feature map the attention reads."""


class Peers(TeacherSpec):
    """No fixed teacher: a cohort of peers trained jointly (deep mutual learning)."""

    key: ClassVar[str] = "peers"
    term: ClassVar[str | None] = "peers"
    count: int = Field(default=2, ge=2, le=8)
    """Number of peers (the first one is reported as the student)."""
    size: Size = "small"
