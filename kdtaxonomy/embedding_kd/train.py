"""Embedding-level distillation of a sentence encoder, and the agreement of two encoders' embeddings.

The loss (seed paper 003, Zhang, Chen & Qian, Eq. 4, the cosine distance between teacher and student
embeddings, as a per-sample mean) on the mean-pooled sentence vectors, optionally plus their mean squared
error: ``L = w_cos mean_i (1 - cos(s_i, t_i)) + w_mse mean_{i,d} (s_id - t_id)^2``. The teacher is frozen and
its vectors are computed once. Agreement on held-out sentences (:func:`agreement`): the mean cosine between
the two embeddings of each sentence, and whether each sentence's nearest neighbours among the other held-out
sentences are the same under both encoders (top-1 agreement, top-k overlap).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.embedding_kd.encoder import SentenceEncoder, Tokenized
from kdtaxonomy.losses.embedding import cosine_embedding


def kd_loss(student: Tensor, teacher: Tensor, cosine: float = 1.0, mse: float = 0.0) -> Tensor:
    """``cosine * mean_i (1 - cos(s_i, t_i)) + mse * mean((s - t)^2)`` of pooled vectors ``(B, D)``."""
    loss = student.new_zeros(())
    if cosine:
        loss = loss + cosine * cosine_embedding(student, teacher)
    if mse:
        loss = loss + mse * F.mse_loss(student, teacher)
    return loss


@torch.no_grad()
def encode(
    model: SentenceEncoder, tokens: Tokenized, batch_size: int = 64, *, normalize: bool = True
) -> Tensor:
    """Embeddings ``(N, D)`` of every tokenized sentence, in order (eval mode; the model's mode is restored).
    Batches group sentences of similar length (less padding); ``normalize=False`` gives the pooled vectors."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(tokens)), key=lambda r: len(tokens.ids[r]))
    out: Tensor | None = None
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, mask = tokens.batch(rows)
        vectors = model.embed(ids, mask) if normalize else model(ids, mask)
        if out is None:
            out = vectors.new_empty((len(tokens), vectors.shape[1]))
        out[torch.tensor(rows)] = vectors
    model.train(was_training)
    if out is None:
        raise ValueError("no sentences to encode")
    return out


def neighbours(embeddings: Tensor, k: int) -> Tensor:
    """Indices ``(N, k)`` of each row's ``k`` most cosine-similar other rows, most similar first."""
    unit = F.normalize(embeddings.double(), dim=-1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-math.inf)
    return similarity.topk(k, dim=1).indices


def agreement(student: Tensor, teacher: Tensor, k: int = 5) -> dict[str, float]:
    """Agreement of two encoders' embeddings of the same ``N`` sentences: ``mean_cosine`` (of each sentence's
    two embeddings), ``nn_agreement`` (% of sentences whose nearest other sentence is the same under both)
    and ``topk_overlap`` (mean % of shared sentences among the ``k`` nearest, ``k`` at most ``N - 1``)."""
    if student.shape != teacher.shape or student.shape[0] < 2:
        raise ValueError(
            f"need two (N >= 2, D) embeddings of the same sentences, got {student.shape}, {teacher.shape}"
        )
    k = min(k, student.shape[0] - 1)
    cosine = F.cosine_similarity(student.double(), teacher.double(), dim=-1).mean().item()
    s_nn, t_nn = neighbours(student, k), neighbours(teacher, k)
    top1 = (s_nn[:, 0] == t_nn[:, 0]).double().mean().item()
    shared = [len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(s_nn, t_nn, strict=True)]
    return {
        "mean_cosine": cosine,
        "nn_agreement": 100.0 * top1,
        "topk_overlap": 100.0 * sum(shared) / len(shared),
    }


@dataclass(frozen=True)
class FitSettings:
    """The distillation budget and optimiser (Adam; cosine or constant learning rate)."""

    steps: int
    batch_size: int
    lr: float
    eval_every: int
    weight_decay: float = 0.0
    schedule: str = "cosine"
    cosine: float = 1.0
    mse: float = 0.0
    grad_clip: float = 1.0


@dataclass
class FitResult:
    """Validation curves (``(step, value)``; step 0 is the initial student) and the selected step."""

    val_mean_cosine: list[tuple[int, float]] = field(default_factory=list)
    val_nn_agreement: list[tuple[int, float]] = field(default_factory=list)
    selected_step: int = 0
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0


def length_batches(
    tokens: Tokenized, batch_size: int, generator: torch.Generator, window: int = 8
) -> list[list[int]]:
    """One epoch of batches: a random permutation cut into windows of ``window`` batches, each window sorted
    by sentence length before it is cut into batches (less padding), the batches in random order."""
    order = torch.randperm(len(tokens), generator=generator).tolist()
    batches: list[list[int]] = []
    span = batch_size * window
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda r: len(tokens.ids[r]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def distil(
    student: SentenceEncoder,
    train: Tokenized,
    targets: Tensor,
    valid: Tokenized,
    valid_teacher: Tensor,
    settings: FitSettings,
    generator: torch.Generator,
) -> FitResult:
    """Train ``student`` in place on ``train`` towards the teacher's pooled vectors ``targets`` (row ``i`` for
    sentence ``i``); every ``eval_every`` steps (and at 0 and the end) the validation agreement is measured,
    and the student ends with its parameters at the best validation mean cosine (step 0 included)."""
    start = time.perf_counter()
    result = FitResult()
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.steps

    def factor(step: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * step / steps)) if settings.schedule == "cosine" else 1.0

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def evaluate(step: int) -> float:
        scores = agreement(encode(student, valid), valid_teacher)
        result.val_mean_cosine.append((step, scores["mean_cosine"]))
        result.val_nn_agreement.append((step, scores["nn_agreement"]))
        return scores["mean_cosine"]

    best = evaluate(0)
    best_state: Mapping[str, Tensor] = copy.deepcopy(student.state_dict())
    batches: list[list[int]] = []
    student.train()
    for step in range(1, steps + 1):
        if not batches:
            batches = length_batches(train, settings.batch_size, generator)
        rows = batches.pop()
        ids, mask = train.batch(rows)
        loss = kd_loss(student(ids, mask), targets[torch.tensor(rows)], settings.cosine, settings.mse)
        optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
            optimizer.step()
        scheduler.step()
        result.train_loss.append((step, float(loss.item())))
        if step % settings.eval_every == 0 or step == steps:
            score = evaluate(step)
            if score > best:
                best, result.selected_step = score, step
                best_state = copy.deepcopy(student.state_dict())
    student.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    return result


def encode_speed(
    models: Mapping[str, SentenceEncoder], tokens: Tokenized, batch_size: int = 32, repeats: int = 3
) -> dict[str, float]:
    """Sentences per second of each model encoding ``tokens`` on one CPU thread, with the same batches; the
    models take turns ``repeats`` times after a warm-up batch and the fastest pass of each counts (the least
    disturbed by other work on the machine). The thread count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        warm = Tokenized(tokens.ids[:batch_size], tokens.pad_id)
        for model in models.values():
            encode(model, warm, batch_size)
        best = dict.fromkeys(models, math.inf)
        for _ in range(repeats):
            for name, model in models.items():
                start = time.perf_counter()
                encode(model, tokens, batch_size)
                best[name] = min(best[name], time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return {name: len(tokens) / seconds for name, seconds in best.items()}
