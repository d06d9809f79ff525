"""The training loop of the sequence benchmark: Adam, warmup then cosine decay, gradient clipping, and
model selection on the validation split (greedy decoding every ``eval_every`` steps; the state with the
best validation token accuracy is kept and restored at the end)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from kdtaxonomy.sequence.decode import greedy, pad
from kdtaxonomy.sequence.metrics import token_accuracy
from kdtaxonomy.sequence.models import Seq2SeqTransformer
from kdtaxonomy.sequence.task import BOS, EOS

IGNORE = -100

BatchLoss = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``(logits (B, T, V), labels (B, T) with IGNORE padding, example indices (B,))`` -> scalar loss."""

StepLoss = Callable[[Seq2SeqTransformer, int, Tensor], Tensor]
"""``(model in train mode, step (1-based), example indices (B,))`` -> scalar loss: a training step that builds
its own batch, e.g. target sequences sampled from the student (:mod:`kdtaxonomy.sequence.onpolicy`)."""


@dataclass(frozen=True)
class FitConfig:
    steps: int
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 100
    eval_every: int = 100
    clip: float = 1.0
    max_len: int = 40


@dataclass
class FitResult:
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, validation token accuracy)
    best_step: int = 0
    best_valid: float = -1.0
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {"curve": [list(p) for p in self.curve], "best_step": self.best_step,
                "best_valid": self.best_valid, "seconds": self.seconds}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FitResult:
        curve = [(int(s), float(v)) for s, v in data["curve"]]
        return cls(curve, int(data["best_step"]), float(data["best_valid"]), float(data["seconds"]))


def teacher_forcing(targets: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Decoder inputs ``BOS y`` (PAD-padded) and labels ``y EOS`` (IGNORE-padded)."""
    return pad([[BOS, *t] for t in targets]), pad([[*t, EOS] for t in targets], value=IGNORE)


def nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Kim & Rush eq. (1), ``-sum_j log p(t_j | s, t_<j)``, as the mean over the target positions."""
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE
    )


def nll_batch_loss(logits: Tensor, labels: Tensor, index: Tensor) -> Tensor:
    return nll(logits, labels)


def _lr_factor(step: int, cfg: FitConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def validate(
    model: Seq2SeqTransformer, sources: Sequence[Sequence[int]], refs: Sequence[Sequence[int]], max_len: int
) -> float:
    return token_accuracy(greedy(model, sources, max_len=max_len), refs)


def fit(
    model: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    cfg: FitConfig,
    *,
    seed: int,
    valid: tuple[Sequence[Sequence[int]], Sequence[Sequence[int]]],
    loss: BatchLoss = nll_batch_loss,
    step_loss: StepLoss | None = None,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``(sources, targets)`` for ``cfg.steps`` steps; batches are drawn from seeded
    epoch permutations (``seed``), so two runs with one seed see the same examples in the same order.
    ``step_loss``, when given, replaces the teacher-forced ``loss`` on ``targets`` (same batch indices)."""
    if len(sources) != len(targets) or not sources:
        raise ValueError(f"{len(sources)} sources for {len(targets)} targets")
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
    result = FitResult()
    best_state = copy.deepcopy(model.state_dict())
    order = torch.empty(0, dtype=torch.long)
    for step in range(1, cfg.steps + 1):
        if order.numel() < cfg.batch_size:
            order = torch.cat([order, torch.randperm(len(sources), generator=generator)])
        index, order = order[: cfg.batch_size], order[cfg.batch_size :]
        model.train()
        if step_loss is not None:
            value = step_loss(model, step, index)
        else:
            rows = index.tolist()
            src = pad([sources[i] for i in rows])
            tgt_in, labels = teacher_forcing([targets[i] for i in rows])
            value = loss(model(src, tgt_in), labels, index)
        opt.zero_grad(set_to_none=True)
        value.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        sched.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            score = validate(model, valid[0], valid[1], cfg.max_len)
            result.curve.append((step, round(score, 3)))
            if score > result.best_valid:
                result.best_valid, result.best_step = score, step
                best_state = copy.deepcopy(model.state_dict())
            if log is not None:
                log(f"step {step}: loss {float(value.detach()):.4f}, valid token accuracy {score:.2f}")
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = round(time.perf_counter() - start, 2)
    return result
