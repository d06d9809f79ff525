"""Up-front vocabulary checks: a token loss compares two distributions entry by entry, so entry ``v`` of the
teacher's logits must be the same token as entry ``v`` of the student's. Any doubt is one ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

SHOWN = 3
"""How many differing token ids a mismatch error names."""


def output_size(model: nn.Module) -> int | None:
    """Width of ``model``'s logits: the rows of its output embedding, else ``config.vocab_size`` (None for a
    model with neither, e.g. an encoder without a language-modelling head)."""
    get = getattr(model, "get_output_embeddings", None)
    head = get() if callable(get) else None
    weight = getattr(head, "weight", None)
    if isinstance(weight, Tensor) and weight.dim() == 2:
        return int(weight.shape[0])
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    return int(size) if isinstance(size, int) else None


def _vocab(tokenizer: Any, role: str) -> dict[str, int]:
    get = getattr(tokenizer, "get_vocab", None)
    if not callable(get):
        raise ValueError(
            f"the {role} tokenizer ({type(tokenizer).__name__}) has no get_vocab(): pass a tokenizer"
        )
    vocab = get()
    if not isinstance(vocab, Mapping):
        raise ValueError(f"the {role} tokenizer's get_vocab() returned {type(vocab).__name__}, not a mapping")
    return {str(k): int(v) for k, v in vocab.items()}


def first_differences(
    teacher: Mapping[str, int], student: Mapping[str, int], limit: int = SHOWN
) -> list[str]:
    """The first ``limit`` token ids (ascending) whose token differs, as ``id N: teacher 'a', student 'b'``."""
    t_tokens = {i: tok for tok, i in teacher.items()}
    s_tokens = {i: tok for tok, i in student.items()}
    out = []
    for i in sorted(set(t_tokens) | set(s_tokens)):
        a, b = t_tokens.get(i), s_tokens.get(i)
        if a != b:
            out.append(
                f"id {i}: teacher {'-' if a is None else repr(a)}, student {'-' if b is None else repr(b)}"
            )
            if len(out) == limit:
                break
    return out


def _describe(model: nn.Module, size: int | None) -> str:
    config_size = getattr(getattr(model, "config", None), "vocab_size", None)
    return f"{size} entries ({type(model).__name__}, config.vocab_size {config_size})"


def check_models(teacher: nn.Module, student: nn.Module) -> int | None:
    """The shared logit width of the two models; a ``ValueError`` naming both sizes when they differ."""
    t_size, s_size = output_size(teacher), output_size(student)
    if t_size != s_size:
        raise ValueError(
            f"teacher and student vocabularies differ: the teacher's logits have {_describe(teacher, t_size)}, "
            f"the student's {_describe(student, s_size)}. Token-level distillation compares the two "
            "distributions token by token: both models need the same vocabulary (the same tokenizer)"
        )
    return s_size


def check_tokenizers(tokenizers: Any, teacher: nn.Module, student: nn.Module) -> None:
    """``tokenizers`` is one tokenizer shared by both models or a pair ``(teacher's, student's)``: the two
    must map every token to the same id, and no id may fall outside a model's logits."""
    pair = tuple(tokenizers) if isinstance(tokenizers, tuple | list) else (tokenizers, tokenizers)
    if len(pair) != 2:
        raise ValueError(
            f"tokenizers= takes one shared tokenizer or a pair (teacher's, student's), got {len(pair)}"
        )
    t_vocab, s_vocab = _vocab(pair[0], "teacher"), _vocab(pair[1], "student")
    if t_vocab != s_vocab:
        shown = "; ".join(first_differences(t_vocab, s_vocab))
        raise ValueError(
            f"teacher and student tokenizers differ ({len(t_vocab)} and {len(s_vocab)} tokens); first "
            f"differing ids: {shown}. Token-level distillation needs one vocabulary (token -> id) for both"
        )
    for role, vocab, model in (("teacher", t_vocab, teacher), ("student", s_vocab, student)):
        size = output_size(model)
        top = max(vocab.values(), default=-1) + 1
        if size is not None and top > size:
            raise ValueError(
                f"the {role} tokenizer has token ids up to {top - 1} but the {role}'s logits have {size} "
                "entries: the tokenizer does not belong to this model (or its embeddings were not resized)"
            )


def check_logits(s_logits: Tensor, t_logits: Tensor) -> None:
    """Refuse logits of different widths (for models whose width could not be read up front)."""
    if s_logits.shape[-1] != t_logits.shape[-1]:
        raise ValueError(
            f"teacher and student vocabularies differ: the teacher's logits have {t_logits.shape[-1]} entries, "
            f"the student's {s_logits.shape[-1]}"
        )
