"""Specs of the embedded sequence benchmark's components (torch-free): the translation task (kind
``dataset``), its encoder-decoder (kind ``model``) and the sequence-level transfer methods (kind
``transfer``) of Kim & Rush 2016 ([8] in the survey, seed paper 000).

A recipe whose dataset is a *task* (:attr:`TaskSpec.runner`) is run by that runner, not by the
classification pipeline: ``kdtax train`` / ``kdtax bench`` call ``kdtaxonomy.sequence.components.run_task``,
which trains the teacher, the student alone and the distilled student of
:func:`kdtaxonomy.sequence.run.run_sequence`. Sequence transfers (:class:`SequenceTransferSpec`) only run on
a sequence task, and a sequence task only with a sequence transfer and no classification knowledge terms.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kdtaxonomy.specs.datasets import DatasetSpec
from kdtaxonomy.specs.models import ModelSpec
from kdtaxonomy.specs.transfer import TransferSpec


class TaskSpec(DatasetSpec):
    """Base of the datasets that are whole tasks with their own runner (not classification bundles)."""

    runner: ClassVar[str] = ""
    """``module:function`` that runs a recipe on the task: ``(recipe, options) -> results dict``."""


class SeqTranslationSpec(TaskSpec):
    """The embedded translation task (:mod:`kdtaxonomy.sequence.task`): sentences of a generated source
    language and their translations into a generated target language with reordering (verb-final, adjectives
    after nouns, postpositions), number agreement, synonyms and a scrambled word order, generated offline
    from ``seed``. Metrics: exact match, token accuracy, BLEU and chrF (sacrebleu).
    """

    key: ClassVar[str] = "seq-translation"
    runner: ClassVar[str] = "kdtaxonomy.sequence.components:run_task"

    train: int = Field(default=8000, ge=10)
    """Training sentence pairs."""
    valid: int = Field(default=500, ge=10)
    """Validation pairs (model selection)."""
    test: int = Field(default=1000, ge=10)
    """Test pairs (read once, at the end)."""
    seed: int = 0
    """Seed of the generator (the run seed does not change the data)."""
    pp_p: float = Field(default=0.5, ge=0, le=1)
    """Probability of a prepositional phrase."""
    plural_p: float = Field(default=0.4, ge=0, le=1)
    """Probability of a plural noun phrase."""
    definite_p: float = Field(default=0.5, ge=0, le=1)
    """Probability of a definite determiner."""
    synonym_p: float = Field(default=0.25, ge=0, le=1)
    """Probability that a noun with a second translation is translated by it."""
    scramble_p: float = Field(default=0.25, ge=0, le=1)
    """Probability that a target sentence is written in the scrambled word order."""


class Seq2SeqTransformerSpec(ModelSpec):
    """Transformer encoder-decoder of the sequence benchmark (:mod:`kdtaxonomy.sequence.models`); its
    input is the source vocabulary and its "classes" the target vocabulary."""

    key: ClassVar[str] = "seq2seq-transformer"
    task_component: ClassVar[bool] = True
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"d_model": 16, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ff": 32},
        "small": {"d_model": 32, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ff": 64},
        "medium": {"d_model": 64, "heads": 4, "encoder_layers": 2, "decoder_layers": 2, "ff": 128},
        "large": {"d_model": 128, "heads": 4, "encoder_layers": 3, "decoder_layers": 3, "ff": 256},
    }
    """``small`` is the benchmark's student and ``large`` its teacher."""

    d_model: int | None = Field(default=None, ge=4)
    """Model width (divisible by ``heads``)."""
    heads: int | None = Field(default=None, ge=1)
    """Attention heads."""
    encoder_layers: int | None = Field(default=None, ge=1)
    """Encoder layers."""
    decoder_layers: int | None = Field(default=None, ge=1)
    """Decoder layers."""
    ff: int | None = Field(default=None, ge=1)
    """Width of the feed-forward blocks."""
    dropout: float = Field(default=0.1, ge=0, lt=1)
    """Dropout probability."""


class SequenceTransferSpec(TransferSpec):
    """Base of the transfers that train a sequence student (they run on a :class:`TaskSpec` only)."""

    task_component: ClassVar[bool] = True


class WordKD(SequenceTransferSpec):
    """Word-level KD (Kim & Rush 2016, Eq. 4-5): the teacher's distribution over the next target word at
    every reference position, mixed with the reference's negative log-likelihood."""

    key: ClassVar[str] = "word-kd"
    alpha: float = Field(default=0.5, ge=0, le=1)
    """Weight of the KD term; the reference NLL gets ``1 - alpha``."""
    temperature: float = Field(default=1.0, gt=0)
    """Softmax temperature of both distributions."""


class SeqKD(SequenceTransferSpec):
    """Sequence-level KD (Kim & Rush 2016, Eq. 6-7): the student learns the teacher's beam-search output
    (mode approximation of the teacher's sequence distribution) in place of the reference."""

    key: ClassVar[str] = "seq-kd"
    beam: int = Field(default=5, ge=1)
    """Beam width of the teacher's search."""
    length_penalty: float = Field(default=0.0, ge=0)
    """Length normalisation exponent of the beam scores (0: none)."""


class SeqInter(SeqKD):
    """Sequence-level interpolation (Kim & Rush 2016, Eq. 8-10): the student learns the teacher's beam
    output with the highest sentence BLEU against the reference."""

    key: ClassVar[str] = "seq-inter"


class OnPolicyTransferSpec(SequenceTransferSpec):
    """Base of the on-policy sequence transfers (:mod:`kdtaxonomy.sequence.onpolicy`): the student learns
    from the teacher on sequences it samples itself, after fine-tuning on the references."""

    init_fraction: float = Field(default=0.25, ge=0, lt=1)
    """Share of the budget spent first on the references' negative log-likelihood (the papers distil into
    a fine-tuned student)."""


class GKD(OnPolicyTransferSpec):
    """Generalized KD (Agarwal et al. 2024, Algorithm 1): with probability ``lam`` a batch's target sides
    are sampled from the student, else the references; the loss is the generalized JSD(beta) between the
    teacher's and the student's next-token distributions on them (Eq. 1-2)."""

    key: ClassVar[str] = "gkd"
    lam: float = Field(default=1.0, ge=0, le=1)
    """Student data fraction lambda (1: on-policy, the paper's best setting)."""
    beta: float = Field(default=0.1, ge=0, le=1)
    """JSD interpolation (0: forward KL, 1: reverse KL; 0.1 is the paper's choice for translation)."""
    temperature: float = Field(default=1.0, gt=0)
    """Sampling temperature of the student (the paper samples at 1)."""


class MiniLLM(OnPolicyTransferSpec):
    """MiniLLM (Gu et al. 2024): the reverse KL of the sequence distributions by policy gradient, with
    single-step decomposition, teacher-mixed sampling and length normalisation (Eq. 3-7)."""

    key: ClassVar[str] = "minillm"
    teacher_mix: float = Field(default=0.2, ge=0, le=1)
    """Teacher share alpha of the sampling mixture (0.2 in the paper)."""
    clip: float = Field(default=0.2, ge=0, le=1)
    """PPO clipping threshold epsilon of the importance ratio (0.2 in the paper)."""
    length_norm: int = Field(default=1, ge=0, le=1)
    """1: length-normalised long-term rewards (Eq. 6); 0: plain sums."""
    single_step: int = Field(default=1, ge=0, le=1)
    """1: the exact single-step term (Eq. 3); 0: left out (the ablation)."""


class DistiLLM(OnPolicyTransferSpec):
    """DistiLLM (Ko et al. 2024): skew KL (or skew reverse KL) with the adaptive off-policy use of
    student-generated outputs and a replay buffer."""

    key: ClassVar[str] = "distillm"
    alpha: float = Field(default=0.1, ge=0, le=1)
    """Skew alpha of the mixture (0.1 in the paper's code)."""
    reverse: int = Field(default=0, ge=0, le=1)
    """0: skew KL (SKL); 1: skew reverse KL (SRKL)."""
    loss_eps: float = Field(default=0.1, ge=0)
    """Rise of the validation loss that raises the probability of student-generated outputs by 0.1."""
    capacity: int = Field(default=1000, ge=1)
    """Replay buffer size in sequences (1000 in the paper's code)."""
