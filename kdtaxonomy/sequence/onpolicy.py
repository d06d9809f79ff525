"""On-policy distillation on the sequence benchmark: GKD and DistiLLM here, MiniLLM in
:mod:`kdtaxonomy.sequence.minillm`; all three train the student on sequences it samples itself.

* **GKD** (Agarwal et al. 2024, "On-Policy Distillation of Language Models: Learning from Self-Generated
  Mistakes", ICLR; arXiv:2306.13649), Algorithm 1: at every step, with probability ``lam`` (the student
  data fraction lambda) the batch's target sides are sampled from the current student ``y ~ p_S(. | x)`` at
  temperature ``temperature`` (no gradient through the sampling), otherwise the references are used; the
  loss is Eq. (2), ``D(p_T || p_S)(y | x) = 1/L_y sum_n D(p_T(. | y_<n, x) || p_S(. | y_<n, x))`` with
  ``D = JSD(beta)`` (Eq. 1, :func:`~kdtaxonomy.losses.sequence.generalized_jsd`), averaged over the batch.
* **DistiLLM** (Ko, Kim, Chen & Yun 2024, "DistiLLM: Towards Streamlined Distillation for Large Language
  Models", ICML; arXiv:2402.03898): the skew KL ``KL(p_T || alpha p_T + (1 - alpha) p_S)`` (SKL) or skew
  reverse KL (SRKL) at every target position, with the adaptive off-policy schedule of student-generated
  outputs (SGO) as the authors' released code (``finetune.py``) runs it: the SGO probability ``phi`` starts
  at 0 and grows by 0.1 (to at most 1) whenever the validation loss (the student's NLL on the validation
  references, after every epoch) exceeds the last recorded one by ``loss_eps``; a step uses fresh SGO with
  probability ``phi (1 - t / T)`` (or ``phi`` while the replay buffer is not full), which are pushed to a
  replay buffer of ``capacity`` sequences, a batch replayed from the buffer with the rest of ``phi``, and
  the references otherwise. Left out: the language-modelling loss on a pre-training corpus that the
  authors' GPT-2 scripts add (there is none here).

The three papers distil into a student already fine-tuned on the references; here the first
``init_fraction`` of the budget is that fine-tuning (the negative log-likelihood of the references, the
student alone's loss on the same batches: the run equals the student alone up to there), then the method
takes over. The sampling and the state shared with MiniLLM are in :mod:`kdtaxonomy.sequence.rollout`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from kdtaxonomy.losses.sequence import generalized_jsd, mask_from_labels, skew_kl, skew_reverse_kl
from kdtaxonomy.sequence.decode import pad
from kdtaxonomy.sequence.minillm import minillm_step_loss
from kdtaxonomy.sequence.models import Seq2SeqTransformer
from kdtaxonomy.sequence.rollout import OnPolicyState, on_policy, sample
from kdtaxonomy.sequence.training import StepLoss, nll, teacher_forcing

ON_POLICY = ("gkd", "minillm", "distillm")
"""The methods of this module and :mod:`kdtaxonomy.sequence.minillm` (keys of ``kd.METHODS``)."""

PHI_STEP = 0.1
"""DistiLLM's increment of the SGO probability when the validation loss rises (the authors' code)."""


# --- GKD ---------------------------------------------------------------------------------------------------


def gkd_loss(s_logits: Tensor, t_logits: Tensor, labels: Tensor, beta: float) -> Tensor:
    """GKD Eq. (2) averaged over the batch: ``1/B sum_b 1/L_b sum_n JSD(beta)(p_T || p_S)`` over the real
    positions of each sequence (``labels`` != -100), each sequence weighted equally."""
    mask = mask_from_labels(labels)
    lengths = mask.sum(dim=1)
    total = s_logits.new_zeros((), dtype=torch.float32)
    # the token mean over rows of one length is the mean of their per-row means
    for n in torch.unique(lengths).tolist():
        rows = (lengths == n).nonzero().squeeze(1)
        total = total + rows.numel() * generalized_jsd(s_logits[rows], t_logits[rows], mask[rows], beta)
    return total / s_logits.shape[0]


def gkd_step_loss(
    teacher: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    *,
    lam: float,
    beta: float,
    temperature: float,
    init_steps: int,
    max_len: int,
    seed: int,
) -> tuple[StepLoss, dict[str, Any]]:
    """GKD's training step (Algorithm 1) for :func:`~kdtaxonomy.sequence.training.fit`, and its record."""
    ph = OnPolicyState(teacher, sources, targets, init_steps, max_len, seed)

    def step_loss(model: Seq2SeqTransformer, step: int, index: Tensor) -> Tensor:
        rows = index.tolist()
        if step <= ph.init_steps:
            return ph.reference_nll(model, rows)
        ph.stats["steps"] += 1
        tgt: Sequence[Sequence[int]]
        if on_policy(ph.generator, lam):
            ph.stats["on_policy_steps"] += 1
            srcs = [ph.sources[i] for i in rows]
            tgt = sample(model, srcs, generator=ph.generator, temperature=temperature, max_len=max_len).tokens
        else:
            tgt = [ph.targets[i] for i in rows]
        src, tgt_in, labels, t_logits = ph.batch(rows, tgt)
        return gkd_loss(model(src, tgt_in), t_logits, labels, beta)

    return step_loss, ph.stats


# --- DistiLLM ----------------------------------------------------------------------------------------------


def skew_loss(s_logits: Tensor, t_logits: Tensor, labels: Tensor, alpha: float, reverse: bool) -> Tensor:
    """DistiLLM's objective over the real target positions: SKL ``KL(p_T || alpha p_T + (1 - alpha) p_S)``
    or, with ``reverse``, SRKL ``KL(p_S || alpha p_S + (1 - alpha) p_T)`` (its Eq. for the skew divergences;
    the mean over the batch's positions, as the authors' code)."""
    div = skew_reverse_kl if reverse else skew_kl
    return div(s_logits, t_logits, mask_from_labels(labels), alpha)


def update_phi(phi: float, previous: float, current: float, loss_eps: float) -> tuple[float, float]:
    """DistiLLM's adaptive SGO schedule after a validation pass: ``(phi, reference loss)``; ``phi`` grows by
    :data:`PHI_STEP` (capped at 1) and the reference becomes ``current`` when ``current >= previous +
    loss_eps``, else both stay."""
    if current >= previous + loss_eps:
        return min(phi + PHI_STEP, 1.0), current
    return phi, previous


SgoSource = Literal["fresh", "replay", "fixed"]


def sgo_source(u: float, phi: float, t: int, total: int, buffered: int, capacity: int) -> SgoSource:
    """Which data a DistiLLM step trains on, for ``u ~ U[0, 1)`` at step ``t`` of ``total``: fresh
    student samples when ``u < phi (1 - t / total)`` or (``u < phi`` and the buffer is not full), a batch
    replayed from the buffer when ``u < phi``, the references (fixed data) otherwise."""
    if u < phi * (1.0 - t / total) or (u < phi and buffered < capacity):
        return "fresh"
    return "replay" if u < phi else "fixed"


@torch.no_grad()
def validation_nll(
    model: Seq2SeqTransformer, valid: tuple[Sequence[Sequence[int]], Sequence[Sequence[int]]]
) -> float:
    """The student's mean NLL per target token on the validation references (eval mode), in batches of 250."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for lo in range(0, len(valid[0]), 250):
        tgt_in, labels = teacher_forcing(valid[1][lo : lo + 250])
        n = int((labels != -100).sum())
        total += float(nll(model(pad(valid[0][lo : lo + 250]), tgt_in), labels)) * n
        count += n
    model.train(was_training)
    return total / max(count, 1)


def distillm_step_loss(
    teacher: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    *,
    alpha: float,
    reverse: bool,
    loss_eps: float,
    capacity: int,
    init_steps: int,
    steps: int,
    epoch_steps: int,
    valid: tuple[Sequence[Sequence[int]], Sequence[Sequence[int]]],
    max_len: int,
    seed: int,
) -> tuple[StepLoss, dict[str, Any]]:
    """DistiLLM's training step (skew loss, adaptive SGO probability, replay buffer) and its record."""
    ph = OnPolicyState(teacher, sources, targets, init_steps, max_len, seed)
    buffer: deque[tuple[int, list[int]]] = deque(maxlen=capacity)
    state = {"phi": 0.0, "previous": math.nan}
    ph.stats |= {"phi": [], "fresh_steps": 0, "replay_steps": 0}
    total = max(1, steps - init_steps)

    def step_loss(model: Seq2SeqTransformer, step: int, index: Tensor) -> Tensor:
        rows = index.tolist()
        if step <= ph.init_steps:
            return ph.reference_nll(model, rows)
        t = step - ph.init_steps - 1
        if t == 0:
            state["previous"] = validation_nll(model, valid)
        elif t % epoch_steps == 0:
            state["phi"], state["previous"] = update_phi(
                state["phi"], state["previous"], validation_nll(model, valid), loss_eps
            )
            ph.stats["phi"].append([step, round(state["phi"], 2)])
        ph.stats["steps"] += 1
        u = float(torch.rand((), generator=ph.generator))
        source = sgo_source(u, state["phi"], t, total, len(buffer), capacity)
        tgt: Sequence[Sequence[int]]
        if source == "fresh":
            srcs = [ph.sources[i] for i in rows]
            tgt = sample(model, srcs, generator=ph.generator, max_len=max_len).tokens
            buffer.extend((i, list(y)) for i, y in zip(rows, tgt, strict=True))
            ph.stats["fresh_steps"] += 1
        elif source == "replay":
            picks = torch.randperm(len(buffer), generator=ph.generator)[: len(rows)].tolist()
            rows, tgt = [buffer[k][0] for k in picks], [buffer[k][1] for k in picks]
            ph.stats["replay_steps"] += 1
        else:
            tgt = [ph.targets[i] for i in rows]
        ph.stats["on_policy_steps"] = ph.stats["fresh_steps"] + ph.stats["replay_steps"]
        src, tgt_in, labels, t_logits = ph.batch(rows, tgt)
        return skew_loss(model(src, tgt_in), t_logits, labels, alpha, reverse)

    return step_loss, ph.stats


# --- dispatch ----------------------------------------------------------------------------------------------


def _unit(params: Mapping[str, float | int], *names: str) -> None:
    for name in names:
        if not 0.0 <= float(params[name]) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {params[name]}")


def onpolicy_step_loss(
    method: str,
    params: Mapping[str, float | int],
    teacher: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    *,
    valid: tuple[Sequence[Sequence[int]], Sequence[Sequence[int]]],
    steps: int,
    batch_size: int,
    max_len: int,
    seed: int,
) -> tuple[StepLoss, dict[str, Any]]:
    """The training step of ``method`` (one of :data:`ON_POLICY`) with ``params`` (``kd.METHODS`` keys),
    for ``fit(..., step_loss=...)``, and the record it fills during training (merged into the results)."""
    _unit(params, "init_fraction")
    init_steps = round(float(params["init_fraction"]) * steps)
    common: dict[str, Any] = {"init_steps": init_steps, "max_len": max_len, "seed": seed}
    if method == "gkd":
        _unit(params, "lam", "beta")
        if not float(params["temperature"]) > 0:
            raise ValueError(f"temperature must be > 0, got {params['temperature']}")
        return gkd_step_loss(
            teacher, sources, targets, lam=float(params["lam"]), beta=float(params["beta"]),
            temperature=float(params["temperature"]), **common,
        )  # fmt: skip
    if method == "distillm":
        _unit(params, "alpha")
        if int(params["capacity"]) < batch_size:
            raise ValueError(f"capacity must be >= the batch size {batch_size}, got {params['capacity']}")
        return distillm_step_loss(
            teacher, sources, targets, alpha=float(params["alpha"]), reverse=bool(params["reverse"]),
            loss_eps=float(params["loss_eps"]), capacity=int(params["capacity"]), steps=steps,
            epoch_steps=max(1, len(sources) // batch_size), valid=valid, **common,
        )  # fmt: skip
    if method == "minillm":
        _unit(params, "teacher_mix", "clip")
        return minillm_step_loss(
            teacher, sources, targets, teacher_mix=float(params["teacher_mix"]), clip=float(params["clip"]),
            length_norm=bool(params["length_norm"]), single_step=bool(params["single_step"]), **common,
        )  # fmt: skip
    raise ValueError(f"{method!r} is not an on-policy method ({', '.join(ON_POLICY)})")
