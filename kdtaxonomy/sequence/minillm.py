"""MiniLLM (Gu, Dong, Wei & Huang 2024, "MiniLLM: Knowledge Distillation of Large Language Models", ICLR;
arXiv:2306.08543) on the sequence benchmark: the reverse KL of the sequence distributions,
``L(theta) = KL(q_theta || p) = -E_{y ~ q_theta} log p(y | x) / q_theta(y | x)`` (Eq. 1), minimised by policy
gradient (Eq. 2) with the paper's three refinements:

* single-step decomposition (Eq. 3): ``grad L = (grad L)_Single + (grad L)_Long``, the single-step part
  ``grad sum_t E_{y_t ~ q_theta}[-r_t]`` computed exactly as the gradient of the per-position reverse KL
  ``KL(q_theta(. | y_<t, x) || p(. | y_<t, x))`` over the vocabulary, the long-term part
  ``-sum_t R_{t+1} grad log q_theta(y_t | y_<t, x)`` with ``r_t = log p(y_t | .) / q_theta(y_t | .)`` and
  ``R_{t+1} = sum_{t' > t} r_t'``;
* teacher-mixed sampling (Eq. 4): ``y_t ~ p~ = alpha p + (1 - alpha) q_theta`` with ``alpha = teacher_mix``
  (0.2 in every experiment of the paper), corrected by the per-token importance weight
  ``w_t = q_theta(y_t | .) / p~(y_t | .)`` (the paper's approximation of the product over the prefix, Eq. 5);
* length normalisation (Eq. 6): ``R_{t+1}`` becomes the mean of ``r_t'`` over the positions after ``t``
  (0 after the last one); the paper prints the denominator as ``T - t - 1``, taken here as the number of
  terms of its sum, ``T - t``;
* the long-term term is clipped as PPO (Algorithm 1): ``max(-rho_t A_t, -clip(rho_t, 1 - eps, 1 + eps)
  A_t)`` with ``rho_t = q_theta(y_t | .) / p~(y_t | .)`` and ``A_t`` the (normalised) ``R_{t+1}``.

The final gradient (Eq. 7) is that of :func:`minillm_loss`, summed over positions and divided by the
batch's number of target positions. Simplified at this scale (documented in the catalog entry too): one
rollout per training batch and one update per rollout (the paper collects 256 rollouts and optimises 4 inner
epochs on them), so the ratio to the rollout policy is ``w_t`` itself and ``rho_t = w_t`` at the update;
no pre-training corpus, so no ``L_PT`` term; the rewards are neither whitened nor discounted (the authors'
code does both). Phase 1 of Algorithm 1 (fine-tuning on the references) is the first ``init_fraction`` of
the budget, as for the other on-policy methods (:mod:`kdtaxonomy.sequence.onpolicy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.sequence.models import Seq2SeqTransformer
from kdtaxonomy.sequence.rollout import OnPolicyState, sample
from kdtaxonomy.sequence.training import IGNORE, StepLoss


def minillm_loss(
    s_logits: Tensor,
    t_logits: Tensor,
    labels: Tensor,
    log_q_old: Tensor,
    log_mix: Tensor,
    *,
    length_norm: bool = True,
    single_step: bool = True,
    clip: float = 0.2,
) -> Tensor:
    """The surrogate whose gradient is MiniLLM's Eq. (7) on sampled sequences: ``(B, T, V)`` student logits
    (with gradient) and teacher logits, ``labels`` ``(B, T)`` the sampled tokens of ``y EOS`` (-100 past the
    end), ``log_q_old`` / ``log_mix`` ``(B, T)`` the log-probabilities of those tokens under the student and
    under the sampling distribution ``p~`` at sampling time (no gradient). Mean over the real positions.

    Without length normalisation and teacher mixing (``log_mix == log_q_old``), the expectation of its
    gradient over ``y ~ q_theta`` is exactly ``grad KL(q_theta || p)`` of the sequence distributions divided
    by the positions (a test checks it by enumeration)."""
    mask = labels != IGNORE
    tok = labels.clamp(min=0)[..., None]
    log_q_all = F.log_softmax(s_logits.float(), dim=-1)
    log_p_all = F.log_softmax(t_logits.detach().float(), dim=-1)
    log_q = log_q_all.gather(-1, tok).squeeze(-1)
    with torch.no_grad():
        r = torch.where(mask, log_p_all.gather(-1, tok).squeeze(-1) - log_q_old, 0.0)
        future = r.flip(1).cumsum(1).flip(1) - r  # R_{t+1} = sum_{t' > t} r_t'
        if length_norm:
            remaining = mask.flip(1).cumsum(1).flip(1) - mask.long()
            future = future / remaining.clamp(min=1)
        w = torch.where(mask, (log_q_old - log_mix).exp(), 0.0)
    rho = w * (log_q - log_q.detach()).exp()  # = w_t at the update, with the gradient of log q_theta(y_t)
    long_term = torch.maximum(-rho * future, -rho.clamp(1.0 - clip, 1.0 + clip) * future)
    total = long_term
    if single_step:  # w_t KL(q_theta(. | y_<t) || p(. | y_<t)), the exact single-step term
        kl = (log_q_all.exp() * (log_q_all - log_p_all)).sum(-1)
        total = total + w * kl
    return torch.where(mask, total, 0.0).sum() / mask.sum().clamp(min=1)


def minillm_step_loss(
    teacher: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    *,
    teacher_mix: float,
    clip: float,
    length_norm: bool,
    single_step: bool,
    init_steps: int,
    max_len: int,
    seed: int,
) -> tuple[StepLoss, dict[str, Any]]:
    """MiniLLM's training step (phase 2 of Algorithm 1 after ``init_steps`` of phase 1) and its record: the
    mean sampled length and the mean per-token reward ``r_t`` of the rollouts."""
    ph = OnPolicyState(teacher, sources, targets, init_steps, max_len, seed)
    ph.stats |= {"mean_length": 0.0, "mean_reward": 0.0}

    def step_loss(model: Seq2SeqTransformer, step: int, index: Tensor) -> Tensor:
        rows = index.tolist()
        if step <= ph.init_steps:
            return ph.reference_nll(model, rows)
        roll = sample(
            model, [ph.sources[i] for i in rows], generator=ph.generator, max_len=max_len,
            teacher=ph.teacher, teacher_mix=teacher_mix,
        )  # fmt: skip
        src, tgt_in, labels, t_logits = ph.batch(rows, roll.tokens)
        t = labels.shape[1]
        value = minillm_loss(
            model(src, tgt_in), t_logits, labels, roll.log_q[:, :t], roll.log_mix[:, :t],
            length_norm=length_norm, single_step=single_step, clip=clip,
        )  # fmt: skip
        n = ph.stats["steps"] = ph.stats["steps"] + 1
        ph.stats["on_policy_steps"] = n
        with torch.no_grad():
            mask = labels != IGNORE
            log_p = F.log_softmax(t_logits.float(), -1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
            reward = float(((log_p - roll.log_q[:, :t]) * mask).sum() / mask.sum())
        length = sum(len(y) for y in roll.tokens) / len(rows)
        ph.stats["mean_length"] += (length - ph.stats["mean_length"]) / n
        ph.stats["mean_reward"] += (reward - ph.stats["mean_reward"]) / n
        return value

    return step_loss, ph.stats
