"""Reading Hugging Face models on Hugging Face batches: forward arguments, logits and their token targets.

A batch is a mapping (a ``dict`` or a tokenizer's ``BatchEncoding``) with ``input_ids`` and usually
``attention_mask`` and ``labels`` (``-100`` = ignored); seq2seq batches may carry ``decoder_input_ids``
and ``decoder_attention_mask``. Nothing here imports ``transformers``: a model is recognised by its class
(a ``transformers.PreTrainedModel`` can only exist once ``transformers`` is imported) and read through its
``config`` and ``forward`` signature.

The three tasks, and which positions a token loss compares (see :func:`aligned`):

* ``causal`` (``...ForCausalLM``, ``...LMHeadModel``): the logits at position ``t`` predict token
  ``t + 1``, so the logits ``[:, :-1]`` are compared where ``labels[:, 1:] != -100`` and the predicting
  position is attended (``attention_mask[:, :-1] == 1``; a left pad never predicts);
* ``seq2seq`` (``config.is_encoder_decoder``): the decoder logits at ``t`` predict ``labels[:, t]``
  (each model builds its decoder inputs from ``labels`` unless the batch gives ``decoder_input_ids``);
* ``masked`` (``...ForMaskedLM``): the logits at ``t`` predict ``labels[:, t]``, no shift.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn

from kdtaxonomy.losses.sequence import mask_from_labels

Task = Literal["causal", "seq2seq", "masked"]
TASKS: tuple[Task, ...] = ("causal", "seq2seq", "masked")
IGNORE_INDEX = -100
_NOT_INPUTS = {"labels", "use_cache"}


class HFModel(Protocol):
    """What a ``transformers.PreTrainedModel`` has and a plain ``nn.Module`` lacks (for static typing)."""

    config: Any
    main_input_name: str

    def get_input_embeddings(self) -> Any: ...

    def get_output_embeddings(self) -> Any: ...


def is_hf_model(model: Any) -> bool:
    """Whether ``model`` is a ``transformers.PreTrainedModel`` (False when ``transformers`` is not imported)."""
    module = sys.modules.get("transformers")
    base = getattr(module, "PreTrainedModel", None) if module is not None else None
    return isinstance(base, type) and isinstance(model, base)


def model_task(model: nn.Module) -> Task:
    """``seq2seq``, ``causal`` or ``masked`` from the model's config and class name; else a ``ValueError``."""
    name = type(model).__name__
    if bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False)):
        return "seq2seq"
    if name.endswith(("ForCausalLM", "LMHeadModel")):
        return "causal"
    if name.endswith("ForMaskedLM"):
        return "masked"
    raise ValueError(
        f"cannot tell which positions of {name}'s logits predict which labels: pass task='causal' (logits at "
        "t predict token t+1), 'seq2seq' (decoder logits at t predict labels[t]) or 'masked' (no shift)"
    )


def forward_arguments(model: nn.Module) -> set[str]:
    """The parameters ``model.forward`` names (its ``**kwargs`` aside: batch keys are passed by name only)."""
    params = inspect.signature(model.forward).parameters.values()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in params if p.kind in named}


def shift_right(labels: Tensor, start: int, pad: int) -> Tensor:
    """Decoder inputs from labels: ``[start, labels[:, :-1]]`` with ``-100`` replaced by ``pad``."""
    out = labels.new_full(labels.shape, start)
    out[:, 1:] = labels[:, :-1]
    return out.masked_fill(out == IGNORE_INDEX, pad)


def decoder_inputs(model: nn.Module, labels: Tensor) -> Tensor:
    """The decoder inputs ``model`` builds from ``labels`` (its own ``prepare_decoder_input_ids_from_labels``
    when it has one, else :func:`shift_right` with its config's start and pad tokens)."""
    prepare = getattr(model, "prepare_decoder_input_ids_from_labels", None)
    if callable(prepare):
        out: Tensor = prepare(labels=labels)
        return out
    config = getattr(model, "config", None)
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        raise ValueError(
            f"{type(model).__name__} has no config.decoder_start_token_id: give the batch 'decoder_input_ids'"
        )
    pad = getattr(config, "pad_token_id", None)
    return shift_right(labels, int(start), int(pad if pad is not None else 0))


def labels_of(batch: Mapping[str, Any], task: Task) -> Tensor:
    """The batch's ``labels``; for a causal batch without them, ``input_ids`` with unattended positions
    ``-100`` (what a language-modelling collator builds). Other tasks need ``labels``."""
    labels = batch.get("labels")
    if isinstance(labels, Tensor):
        return labels
    if task != "causal" or not isinstance(batch.get("input_ids"), Tensor):
        raise ValueError(
            f"a {task} batch needs 'labels' (token ids, -100 where ignored); got keys {sorted(batch)}"
        )
    ids: Tensor = batch["input_ids"]
    mask = batch.get("attention_mask")
    return ids if not isinstance(mask, Tensor) else ids.masked_fill(mask == 0, IGNORE_INDEX)


def model_outputs(
    model: nn.Module, batch: Mapping[str, Any], task: Task | None = None, *, hidden_states: bool = False
) -> Any:
    """``model``'s forward output on ``batch``: every tensor of the batch that its ``forward`` accepts
    except ``labels`` (its own loss is not computed), decoder inputs built from the labels for a seq2seq
    model without them, no key-value cache; ``hidden_states=True`` asks for every layer's hidden states
    (``outputs.hidden_states``; also for encoder-only models such as ``BertModel``)."""
    names = forward_arguments(model)
    kwargs: dict[str, Any] = {
        k: v for k, v in batch.items() if isinstance(v, Tensor) and k in names and k not in _NOT_INPUTS
    }
    if (task or _task_or_none(model)) == "seq2seq" and "decoder_input_ids" not in kwargs:
        kwargs["decoder_input_ids"] = decoder_inputs(model, labels_of(batch, "seq2seq"))
    if "use_cache" in names:
        kwargs["use_cache"] = False
    if hidden_states:
        kwargs["output_hidden_states"] = True
    return model(**kwargs)


def _task_or_none(model: nn.Module) -> Task | None:
    try:
        return model_task(model)
    except ValueError:
        return None


def logits_of(outputs: Any, model: nn.Module) -> Tensor:
    """``outputs.logits`` (or the first element of a tuple output); a ``ValueError`` for a model without."""
    logits = getattr(outputs, "logits", None)
    if logits is None and isinstance(outputs, tuple | list) and outputs:
        logits = outputs[0]
    if not isinstance(logits, Tensor) or logits.dim() != 3:
        raise ValueError(
            f"{type(model).__name__} returns no (batch, positions, vocabulary) logits: token losses need a "
            "model with a language-modelling head (...ForCausalLM, ...LMHeadModel, ...ForConditionalGeneration)"
        )
    return logits


@dataclass(frozen=True)
class Aligned:
    """Student and teacher logits at the same positions, with the targets and mask those positions have."""

    student: Tensor
    """``(B, T', V)`` student logits."""
    teacher: Tensor
    """``(B, T', V)`` teacher logits (computed without gradient)."""
    targets: Tensor
    """``(B, T')`` token ids each position predicts (``-100`` where ignored)."""
    mask: Tensor
    """``(B, T')`` boolean: True where the position counts."""


def positions(logits: Tensor, batch: Mapping[str, Any], task: Task) -> tuple[Tensor, Tensor, Tensor]:
    """``(logits, targets, mask)`` at the positions that predict a label (module docstring)."""
    labels = labels_of(batch, task).to(logits.device)
    if task == "causal":
        logits, targets = logits[:, :-1], labels[:, 1:]
        attended = batch.get("attention_mask")
        attended = attended[:, :-1] if isinstance(attended, Tensor) else None
    else:
        targets = labels
        attended = batch.get("decoder_attention_mask") if task == "seq2seq" else batch.get("attention_mask")
    if logits.shape[:2] != targets.shape:
        raise ValueError(
            f"the {task} logits cover positions {tuple(logits.shape[:2])} but the labels "
            f"{tuple(targets.shape)}: give labels of the same length as the "
            f"{'decoder inputs' if task == 'seq2seq' else 'input_ids'}"
        )
    mask = mask_from_labels(targets, IGNORE_INDEX)
    if isinstance(attended, Tensor):
        mask = mask & attended.to(mask.device).bool()
    return logits, targets, mask


def aligned(
    student: nn.Module,
    teacher: nn.Module,
    batch: Mapping[str, Any],
    task: Task,
    vocab_check: Callable[[Tensor, Tensor], None] | None = None,
) -> Aligned:
    """Both models' logits on ``batch`` at the positions that predict a label; the teacher runs under
    ``torch.no_grad``. ``vocab_check(s_logits, t_logits)`` may refuse logits of different widths."""
    s = logits_of(model_outputs(student, batch, task), student)
    with torch.no_grad():
        t = logits_of(model_outputs(teacher, batch, task), teacher)
    if vocab_check is not None:
        vocab_check(s, t)
    s, targets, mask = positions(s, batch, task)
    t, _, _ = positions(t, batch, task)
    return Aligned(s, t.detach(), targets, mask)
