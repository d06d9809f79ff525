"""A distiller of Hugging Face language models: token losses between a frozen teacher's and the student's
logits at the positions that predict a label (:mod:`kdtaxonomy.hf.inputs`), plus the student's
cross-entropy with the labels.

What it distils is a token loss by name (:data:`TOKEN_LOSSES`, with its parameters) or a catalogued method
whose knowledge is a single teacher's soft or hard labels at the output (e.g. ``hinton2015-distilling``,
``plain``), run per token: ``soft-label-kd`` is the token forward KL at temperature ``T`` times ``T^2``,
``hard-label-kd`` the cross-entropy with the teacher's most likely token. Any other method is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.hf import inputs, vocab
from kdtaxonomy.losses.sequence import (
    GeneralizedJSD,
    SkewKL,
    SkewReverseKL,
    TokenForwardKL,
    TokenReverseKL,
    TokenTotalVariation,
)

if TYPE_CHECKING:
    from kdtaxonomy.recipe import Recipe
    from kdtaxonomy.train import FitResult

TOKEN_LOSSES: dict[str, type[nn.Module]] = {
    "forward-kl": TokenForwardKL,
    "reverse-kl": TokenReverseKL,
    "generalized-jsd": GeneralizedJSD,
    "skew-kl": SkewKL,
    "skew-reverse-kl": SkewReverseKL,
    "total-variation": TokenTotalVariation,
}
"""Token losses by name (``_`` may stand for ``-``), from :mod:`kdtaxonomy.losses.sequence`."""

METHOD_TRANSFERS = ("permuted", "multi-level")
"""Transfer methods of a catalogued method the HF path runs (a weighted sum of its terms)."""

TermFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
"""``(s_logits, t_logits, mask, targets)`` at aligned positions -> a scalar loss."""


class HFOptions(TypedDict, total=False):
    """Keyword options of :func:`instantiate_hf` (and of ``kdtaxonomy.instantiate`` on Hugging Face models)."""

    config: str | None
    catalog: Any
    device: str
    amp: bool
    params: Mapping[str, Any] | None
    ce_weight: float | None
    tokenizers: Any
    task: inputs.Task | None


@dataclass(frozen=True)
class TokenTerm:
    """One distillation term of the objective."""

    name: str
    weight: float
    fn: TermFn
    params: Mapping[str, Any]


def token_loss(name: str, params: Mapping[str, Any] | None = None) -> TokenTerm:
    """The term of the token loss ``name`` with ``params`` (checked now: unknown names and bad values are a
    ``ValueError``)."""
    key = name.replace("_", "-")
    cls = TOKEN_LOSSES.get(key)
    if cls is None:
        raise ValueError(f"no token loss {name!r}; token losses: {', '.join(TOKEN_LOSSES)}")
    try:
        module = cls(**dict(params or {}))
    except TypeError as error:
        raise ValueError(f"token loss {key!r}: {error} (see kdtaxonomy.losses.{cls.__name__})") from None
    given: dict[str, Any] = dict(getattr(module, "params", {}))

    def fn(s: Tensor, t: Tensor, mask: Tensor, targets: Tensor) -> Tensor:
        out: Tensor = module(s, t, mask)
        return out

    return TokenTerm(key, 1.0, fn, given)


def _hard_label(s: Tensor, t: Tensor, mask: Tensor, targets: Tensor) -> Tensor:
    return _masked_ce(s, t.argmax(dim=-1), mask)


def _masked_ce(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy over the masked-in positions (0, connected to ``logits``, when none counts)."""
    rows = logits[mask]
    if rows.shape[0] == 0:
        return logits.float().sum() * 0.0
    return F.cross_entropy(rows.float(), targets[mask])


def method_terms(recipe: Recipe) -> list[TokenTerm]:
    """The token terms of a catalogued method's recipe; a ``ValueError`` naming what the HF path cannot run."""
    from kdtaxonomy.specs import get_spec

    label = f"{recipe.entry} ({recipe.configuration or 'default'})"
    problems = []
    if recipe.teacher.component != "single":
        problems.append(f"teacher setup {recipe.teacher.component!r} (one teacher only)")
    if recipe.transfer.component not in METHOD_TRANSFERS:
        problems.append(f"transfer {recipe.transfer.component!r}")
    if recipe.student.component != "from-scratch":
        problems.append(f"student construction {recipe.student.component!r}")
    terms = []
    for spec in recipe.knowledge:
        where = spec.location or "output"
        if spec.component not in ("soft-label-kd", "hard-label-kd") or where != "output":
            problems.append(f"knowledge term {spec.component!r} @ {where}")
            continue
        params = get_spec("loss", spec.component).model_validate(spec.params).model_dump()
        if spec.component == "soft-label-kd":
            base = token_loss("forward-kl", {"temperature": params["temperature"], "scale_by_t2": True})
            terms.append(TokenTerm(spec.component, spec.weight, base.fn, base.params))
        else:
            terms.append(TokenTerm(spec.component, spec.weight, _hard_label, {}))
    if problems or not terms:
        raise ValueError(
            f"{label} cannot run on Hugging Face models: {'; '.join(problems) or 'no knowledge term'}. The HF "
            "path runs a single teacher's soft-label-kd / hard-label-kd at the output (permuted or multi-level "
            f"transfer, student from scratch), or a token loss by name: {', '.join(TOKEN_LOSSES)}"
        )
    return terms


class HFDistiller:
    """Trains a Hugging Face ``student`` language model from a frozen ``teacher`` with token losses.

    ``loss(batch) = ce_weight * CE(student, labels) + sum_i weight_i * term_i(student, teacher)``, every
    part a mean over the positions that predict a label. Vocabularies are checked when it is built.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        terms: Sequence[TokenTerm],
        *,
        ce_weight: float = 0.0,
        task: inputs.Task | None = None,
        tokenizers: Any = None,
        device: str | torch.device = "cpu",
        amp: bool = False,
    ) -> None:
        if task is not None and task not in inputs.TASKS:
            raise ValueError(f"task must be one of {', '.join(inputs.TASKS)}, got {task!r}")
        found = task or inputs.model_task(student)
        other = task or inputs.model_task(teacher)
        if found != other:
            raise ValueError(
                f"the student ({type(student).__name__}) is a {found} model and the teacher "
                f"({type(teacher).__name__}) a {other} one: their logits do not predict the same positions"
            )
        if not ce_weight >= 0:
            raise ValueError(f"ce_weight must be >= 0, got {ce_weight}")
        self.vocab_size = vocab.check_models(teacher, student)
        if tokenizers is not None:
            vocab.check_tokenizers(tokenizers, teacher, student)
        self.task: inputs.Task = found
        self.device = torch.device(device)
        self.amp = amp
        self.student = student.to(self.device)
        self.teacher = teacher.to(self.device).eval().requires_grad_(False)
        self.terms = list(terms)
        self.ce_weight = float(ce_weight)
        self.recipe: Recipe | None = None
        """The catalogued recipe (set by :func:`instantiate_hf` for a method), recorded by :meth:`save`."""
        self.metrics: dict[str, Any] = {}

    def aligned(self, batch: Mapping[str, Any]) -> inputs.Aligned:
        """Student and teacher logits at the positions that predict a label, with targets and mask."""
        batch = {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in batch.items()}
        return inputs.aligned(self.student, self.teacher, batch, self.task, vocab.check_logits)

    def loss_parts(self, batch: Mapping[str, Any], epoch: int = 0) -> tuple[Tensor, Tensor | None]:
        """``(ce_weight * CE, distillation)`` of one batch (distillation None without terms)."""
        a = self.aligned(batch)
        # exactly 0 (connected to the student) without computing the cross-entropy when its weight is 0
        ce = _masked_ce(a.student, a.targets, a.mask) if self.ce_weight else a.student[:0].float().sum()
        task = self.ce_weight * ce
        if not self.terms:
            return task, None
        kd = self.terms[0].weight * self.terms[0].fn(a.student, a.teacher, a.mask, a.targets)
        for term in self.terms[1:]:
            kd = kd + term.weight * term.fn(a.student, a.teacher, a.mask, a.targets)
        return task, kd

    def loss(self, batch: Mapping[str, Any], epoch: int = 0) -> Tensor:
        """The objective of one batch (class docstring)."""
        task, kd = self.loss_parts(batch, epoch)
        return task if kd is None else task + kd

    def trainable(self) -> nn.Module:
        """What the optimizer updates: the student."""
        return self.student

    def fit(
        self,
        train: Iterable[Any],
        *,
        epochs: int = 1,
        steps: int | None = None,
        max_steps: int | None = None,
        lr: float = 5e-4,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        schedule: str = "cosine",
        seed: int = 0,
        checkpoint: Path | None = None,
        resume: bool = False,
        progress: Any = None,
        label: str = "student",
    ) -> list[FitResult]:
        """Train the student on ``train`` (a ``DataLoader`` or any re-iterable of batch mappings) for
        ``steps`` optimizer steps (else ``epochs`` epochs), with :func:`kdtaxonomy.train.fit`'s optimizers,
        schedule and checkpoints; returns one :class:`~kdtaxonomy.train.FitResult`."""
        from kdtaxonomy.train import FitConfig, fit

        def batches(epoch: int) -> Iterable[Any]:
            return train

        cfg = FitConfig(
            epochs=epochs,
            steps=steps,
            max_steps=max_steps,
            lr=lr,
            weight_decay=weight_decay,
            optimizer=optimizer,
            schedule=schedule,
            seed=seed,
            device=self.device,
            amp=self.amp,
            checkpoint=checkpoint,
            resume=resume,
            label=label,
            progress=progress,
        )
        result = fit(self.student, self.loss, batches, cfg, loss_parts=self.loss_parts)
        self.metrics.update(steps=result.steps, final_loss=result.losses[-1] if result.losses else None)
        return [result]

    @torch.no_grad()
    def evaluate(self, data: Iterable[Mapping[str, Any]]) -> float:
        """Token accuracy (%) of the student: its most likely token against the label, over the positions
        that predict one."""
        mode = self.student.training
        self.student.eval()
        correct = total = 0
        for raw in data:
            batch = {k: v.to(self.device) if isinstance(v, Tensor) else v for k, v in raw.items()}
            logits = inputs.logits_of(inputs.model_outputs(self.student, batch, self.task), self.student)
            logits, targets, mask = inputs.positions(logits, batch, self.task)
            correct += int((logits.argmax(dim=-1) == targets)[mask].sum())
            total += int(mask.sum())
        self.student.train(mode)
        return 100.0 * correct / max(total, 1)

    def describe(self) -> str:
        """The plan: the models, which positions are compared, each loss with its weight."""
        what = {
            "causal": "the logits at t against token t+1, where labels[:, 1:] != -100 and position t is attended",
            "seq2seq": "the decoder logits at t against labels[:, t] != -100",
            "masked": "the logits at t against labels[:, t] != -100",
        }[self.task]
        head = f"method {self.recipe.entry} ({self.recipe.configuration})" if self.recipe else "token loss"
        lines = [f"{head}: Hugging Face {self.task} language models, vocabulary {self.vocab_size}"]
        for role, model in (("student", self.student), ("teacher", self.teacher)):
            count = sum(p.numel() for p in model.parameters())
            lines.append(f"{role}: {type(model).__name__} ({count:,} parameters)")
        lines += [
            f"positions: {what}",
            "losses:",
            f"  cross-entropy with the labels, weight {self.ce_weight:g}",
        ]
        for term in self.terms:
            params = ", ".join(f"{k}={v}" for k, v in term.params.items())
            lines.append(f"  {term.name}{f' ({params})' if params else ''}, weight {term.weight:g}")
        return "\n".join(lines)

    def save(self, path: str | Path, *, metrics: Mapping[str, Any] | None = None) -> Path:
        """Write the student's weights (safetensors) and the provenance sidecar, as :meth:`Distiller.save`;
        ``student.save_pretrained(folder)`` writes the Hugging Face format instead."""
        from kdtaxonomy.student_io import save_student

        return save_student(
            self.student, Path(path), recipe=self.recipe, metrics={**self.metrics, **(metrics or {})}
        )


def instantiate_hf(
    name: str,
    *,
    teacher: nn.Module | Sequence[nn.Module],
    student: nn.Module,
    config: str | None = None,
    catalog: Any = None,
    device: str = "cpu",
    amp: bool = False,
    params: Mapping[str, Any] | None = None,
    ce_weight: float | None = None,
    tokenizers: Any = None,
    task: inputs.Task | None = None,
) -> HFDistiller:
    """An :class:`HFDistiller` of a token loss (``params`` are its parameters; ``ce_weight`` defaults to 0)
    or of a catalogued method (its knowledge terms and ``ce_weight``). ``tokenizers`` (one shared, or
    ``(teacher's, student's)``) are checked against each other and the models; ``task`` overrides the
    detection of causal / seq2seq / masked models."""
    teachers = list(teacher) if isinstance(teacher, Sequence) else [teacher]
    if len(teachers) != 1:
        raise ValueError(f"the Hugging Face path distils from one teacher, got {len(teachers)}")
    for role, model in (("teacher", teachers[0]), ("student", student)):
        if not inputs.is_hf_model(model):
            raise ValueError(
                f"the {role} ({type(model).__name__}) is not a transformers PreTrainedModel: give both models "
                "as Hugging Face models, or neither"
            )
    recipe = None
    if name.replace("_", "-") in TOKEN_LOSSES:
        if config is not None:
            raise ValueError(f"config= names a catalogued method's configuration; {name!r} is a token loss")
        terms, weight = [token_loss(name, params)], 0.0 if ce_weight is None else ce_weight
    else:
        if params:
            raise ValueError("params= sets a token loss's parameters; a catalogued method has its own")
        from kdtaxonomy.catalog import load_catalog
        from kdtaxonomy.recipe import resolve

        cat = catalog or load_catalog()
        try:
            entry = cat.get(name)
        except KeyError as error:
            raise ValueError(f"{error.args[0]} Token losses: {', '.join(TOKEN_LOSSES)}") from None
        recipe = resolve(entry.configuration(config), entry.id)
        terms = method_terms(recipe)
        weight = recipe.training.ce_weight if ce_weight is None else ce_weight
    distiller = HFDistiller(
        student,
        teachers[0],
        terms,
        ce_weight=weight,
        task=task,
        tokenizers=tokenizers,
        device=device,
        amp=amp,
    )
    distiller.recipe = recipe
    return distiller
