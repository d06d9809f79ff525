"""The sequence benchmark's registry components and the runner of its recipes.

``seq-translation`` (dataset), ``seq2seq-transformer`` (model) and the sequence-level transfers
(``word-kd``, ``seq-kd``, ``seq-inter``, and the on-policy ``gkd``, ``minillm``, ``distillm``;
:mod:`kdtaxonomy.specs.sequence`) register here. A recipe on the
task is run by :func:`run_task` (``kdtax train`` / ``kdtax bench`` dispatch to it from
:class:`kdtaxonomy.runner.Runner`): it maps the recipe's teacher, student, transfer and training budgets
onto :func:`kdtaxonomy.sequence.run.run_sequence` and returns the results record the classification
runs return (``*_accuracy`` is exact match on the test split, plus token accuracy, BLEU and chrF).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from torch import nn

from kdtaxonomy.recipe import task_budget
from kdtaxonomy.registry import register
from kdtaxonomy.sequence.models import ModelConfig, Seq2SeqTransformer
from kdtaxonomy.sequence.task import SequenceTask, TaskConfig, make_task
from kdtaxonomy.specs import get_spec
from kdtaxonomy.specs import sequence as specs

if TYPE_CHECKING:
    from kdtaxonomy.recipe import Recipe
    from kdtaxonomy.runner import RunOptions


@register(spec=specs.SeqTranslationSpec)
def build_translation(spec: specs.SeqTranslationSpec, *, seed: int = 0) -> SequenceTask:
    """The embedded translation task, generated from the spec (the run seed does not change it)."""
    return make_task(task_config(spec))


@register(spec=specs.Seq2SeqTransformerSpec, input_dims=[])
def build_seq2seq(
    spec: specs.Seq2SeqTransformerSpec, *, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """Transformer encoder-decoder: ``input_shape = (source vocabulary size,)``, ``num_classes`` = target
    vocabulary size."""
    if len(input_shape) != 1:
        raise ValueError(
            f"seq2seq-transformer: input_shape must be (source vocabulary size,), got {input_shape}"
        )
    return Seq2SeqTransformer(int(input_shape[0]), num_classes, model_config(spec))


class SequenceTransfer:
    """A sequence-level transfer: the method of :func:`~kdtaxonomy.sequence.run.run_sequence` named by the
    registry key, with the spec's parameters."""

    def __init__(self, spec: specs.SequenceTransferSpec) -> None:
        self.method = type(spec).key
        self.params: dict[str, float | int] = spec.model_dump()


@register(spec=specs.WordKD)
class WordKDTransfer(SequenceTransfer):
    """Word-level KD (Kim & Rush 2016): the teacher's next-word distributions on the reference prefixes."""


@register(spec=specs.SeqKD)
class SeqKDTransfer(SequenceTransfer):
    """Sequence-level KD (Kim & Rush 2016): the teacher's beam-search outputs as the training targets."""


@register(spec=specs.SeqInter)
class SeqInterTransfer(SequenceTransfer):
    """Sequence-level interpolation (Kim & Rush 2016): the teacher's beam output closest to the reference."""


@register(spec=specs.GKD)
class GKDTransfer(SequenceTransfer):
    """GKD (Agarwal et al. 2024): generalized JSD on student-sampled sequences (on-policy fraction lam)."""


@register(spec=specs.MiniLLM)
class MiniLLMTransfer(SequenceTransfer):
    """MiniLLM (Gu et al. 2024): reverse KL of the sequence distributions by policy gradient."""


@register(spec=specs.DistiLLM)
class DistiLLMTransfer(SequenceTransfer):
    """DistiLLM (Ko et al. 2024): skew KL with adaptive off-policy student-generated outputs."""


def task_config(spec: specs.SeqTranslationSpec) -> TaskConfig:
    """The generator settings of the task spec (the spec's fields that :class:`TaskConfig` has)."""
    return TaskConfig(**spec.model_dump())


def model_config(spec: specs.Seq2SeqTransformerSpec) -> ModelConfig:
    """The encoder-decoder dimensions of the model spec (its size preset with explicit fields applied)."""
    return ModelConfig(**spec.resolved())


def _refuse(where: str, why: str) -> ValueError:
    return ValueError(f"{where}: {why} (the sequence benchmark, dataset seq-translation)")


def _model(kind_where: str, component: str, params: dict[str, Any]) -> ModelConfig:
    if component != specs.Seq2SeqTransformerSpec.key:
        raise _refuse(kind_where, f"model {component!r} cannot translate; use seq2seq-transformer")
    return model_config(specs.Seq2SeqTransformerSpec.model_validate(params))


def run_task(recipe: Recipe, options: RunOptions) -> dict[str, Any]:
    """Run ``recipe`` on the translation task: teacher, student alone and distilled student (paired by seed:
    the same initialisation and batch order), selected on validation, the test split read once."""
    from kdtaxonomy.sequence.run import run_sequence

    if recipe.knowledge or recipe.data_preparation:
        raise _refuse("knowledge", "classification knowledge terms and data preparation do not apply")
    if recipe.teacher.component != "single":
        raise _refuse("teacher.component", "one pre-trained teacher (single) is supported")
    if recipe.student.component != "from-scratch":
        raise _refuse("student.component", "the student is trained from scratch")
    if options.device.type != "cpu" or options.amp:
        raise _refuse("--device", "the sequence benchmark runs on the CPU, without AMP")
    t_params = {k: v for k, v in recipe.teacher.params.items() if k != "model"}
    teacher = _model("teacher.params.model", str(recipe.teacher.params.get("model", "")), t_params)
    student = _model("student_model.component", recipe.student_model.component, recipe.student_model.params)
    transfer = get_spec("transfer", recipe.transfer.component)
    if not getattr(transfer, "task_component", False):
        raise _refuse("transfer.component", f"{recipe.transfer.component!r} is not a sequence-level transfer")
    method_params = transfer.model_validate(recipe.transfer.params).model_dump()
    data = specs.SeqTranslationSpec.model_validate({**recipe.dataset.params, **options.dataset_params})
    t = recipe.training
    steps, teacher_steps, batch = task_budget(t, options)
    result = run_sequence(
        recipe.transfer.component,
        options.seed,
        teacher_steps=teacher_steps,
        steps=steps,
        params=method_params,
        task=task_config(data),
        teacher=teacher,
        student=student,
        batch_size=batch,
        teacher_lr=t.teacher_lr if t.teacher_lr is not None else t.lr,
        lr=t.lr,
        eval_every=t.eval_every,
        cache=options.cache,
    )
    curves = result.pop("curves")
    best = result.pop("best_steps")
    result["curves"] = {
        role: {"val_token_accuracy": [list(p) for p in curve], "selected_step": best[role]}
        for role, curve in curves.items()
    }
    result["wall_seconds"] = result.pop("seconds")
    result["baseline"] = {
        "kind": "matched",
        "description": "the same student, initialisation, batch order and budget trained on the references "
        "alone (negative log-likelihood), paired by seed",
    }
    result["dataset"] = {
        "name": specs.SeqTranslationSpec.key,
        **asdict(task_config(data)),
        "digest": result["task"]["digest"],
        "metric": "exact match % on the test split (beam search); also token accuracy, BLEU, chrF",
    }
    return result
