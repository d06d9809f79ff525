"""Kim & Rush 2016, "Sequence-Level Knowledge Distillation" (EMNLP), Sec. 3: the three ways a student
``p(. | s; theta)`` learns from a teacher ``q(. | s)`` in translation.

With a source ``s``, its reference ``y = y_1 .. y_J`` (then EOS) and the target vocabulary ``V``:

* NLL (the student alone), ``L_NLL = - sum_j sum_k 1{y_j = k} log p(t_j = k | s, y_<j)``;
* word-level KD (Sec. 3.1), ``L_WORD-KD = - sum_j sum_k q(t_j = k | s, y_<j) log p(t_j = k | s, y_<j)``,
  the teacher's per-token distribution under teacher forcing on the reference, trained as
  ``L = (1 - alpha) L_NLL + alpha L_WORD-KD``;
* sequence-level KD (Sec. 3.2), ``L_SEQ-KD = - sum_t q(t | s) log p(t | s) ~ - log p(y_hat | s)`` with
  ``y_hat`` the teacher's beam-search output (beam K): the student is trained on ``y_hat`` with NLL;
* sequence-level interpolation (Sec. 3.3), ``L_SEQ-INTER = -(1 - alpha) log p(y | s) - alpha sum_t q(t | s)
  log p(t | s)``, approximated by training on the single sequence
  ``y_tilde = argmax_{t in K-best of q} sim(t, y)``, with ``sim`` the smoothed sentence-level BLEU.

Per-position sums are taken as means over the target positions (``mask_from_labels``), for NLL and the
word-level term alike. The word-level term is computed as ``KL(q || p)`` by
:func:`kdtaxonomy.losses.sequence.forward_kl`: it differs from the cross-entropy ``L_WORD-KD`` by the
teacher's entropy, a constant in ``theta``, so the gradient is the paper's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from kdtaxonomy.losses.sequence import forward_kl, mask_from_labels
from kdtaxonomy.sequence.decode import Hypothesis, beam_search, pad
from kdtaxonomy.sequence.metrics import sentence_bleu
from kdtaxonomy.sequence.models import Seq2SeqTransformer
from kdtaxonomy.sequence.training import BatchLoss, nll, teacher_forcing

METHODS: dict[str, dict[str, float | int]] = {
    "student-alone": {},
    "word-kd": {"alpha": 0.5, "temperature": 1.0},
    "seq-kd": {"beam": 5, "length_penalty": 0.0},
    "seq-inter": {"beam": 5, "length_penalty": 0.0},
    # on-policy methods (kdtaxonomy.sequence.onpolicy, .minillm); init_fraction: the share of the budget
    # spent fine-tuning on the references first (the papers start from a fine-tuned student)
    "gkd": {"lam": 1.0, "beta": 0.1, "temperature": 1.0, "init_fraction": 0.25},
    "minillm": {"teacher_mix": 0.2, "clip": 0.2, "length_norm": 1, "single_step": 1, "init_fraction": 0.25},
    "distillm": {"alpha": 0.1, "reverse": 0, "loss_eps": 0.1, "capacity": 1000, "init_fraction": 0.25},
}
"""Each method's parameters and their defaults (``run_sequence(method, params=...)`` overrides them)."""


def method_params(method: str, params: dict[str, float | int] | None = None) -> dict[str, float | int]:
    """The defaults of ``method`` updated by ``params``; ValueError for an unknown method or parameter."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    unknown = sorted(set(params or {}) - set(METHODS[method]))
    if unknown:
        raise ValueError(
            f"{method} has no parameter {', '.join(unknown)} (it has: {', '.join(METHODS[method]) or 'none'})"
        )
    out = {**METHODS[method], **(params or {})}
    if "alpha" in out and not 0.0 <= float(out["alpha"]) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {out['alpha']}")
    if "beam" in out and int(out["beam"]) < 1:
        raise ValueError(f"beam must be >= 1, got {out['beam']}")
    return out


# --- (a) word-level KD ------------------------------------------------------------------------------------


def word_kd_loss(
    s_logits: Tensor, t_logits: Tensor, labels: Tensor, alpha: float = 0.5, temperature: float = 1.0
) -> Tensor:
    """``(1 - alpha) L_NLL + alpha L_WORD-KD`` (Sec. 3.1) over ``(B, T, V)`` logits of the reference's
    positions; ``labels`` ``(B, T)`` with -100 padding. The word-level term is ``KL(q || p)`` (see above)."""
    mask = mask_from_labels(labels)
    kd = forward_kl(s_logits, t_logits, mask, temperature)
    return (1.0 - alpha) * nll(s_logits, labels) + alpha * kd


@torch.no_grad()
def teacher_distributions(
    teacher: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    batch_size: int = 256,
) -> list[Tensor]:
    """The teacher's logits under teacher forcing on each reference: ``(len(y) + 1, V)`` per example (the
    teacher is fixed, in eval mode, so they are computed once and reused at every step)."""
    teacher.eval()
    out: list[Tensor] = []
    for lo in range(0, len(sources), batch_size):
        tgt = targets[lo : lo + batch_size]
        tgt_in, _ = teacher_forcing(tgt)
        logits = teacher(pad(sources[lo : lo + batch_size]), tgt_in)
        out += [logits[i, : len(t) + 1].clone() for i, t in enumerate(tgt)]
    return out


def word_kd_batch_loss(teacher_logits: Sequence[Tensor], alpha: float, temperature: float) -> BatchLoss:
    """The training-loop loss of word-level KD: the batch's teacher logits are looked up by example index."""

    def loss(s_logits: Tensor, labels: Tensor, index: Tensor) -> Tensor:
        t_logits = torch.zeros_like(s_logits, dtype=torch.float32)
        for row, i in enumerate(index.tolist()):
            t = teacher_logits[i]
            t_logits[row, : t.shape[0]] = t
        return word_kd_loss(s_logits, t_logits, labels, alpha, temperature)

    return loss


# --- (b) sequence-level KD and (c) sequence-level interpolation -------------------------------------------


def teacher_kbest(
    teacher: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    beam: int = 5,
    length_penalty: float = 0.0,
    max_len: int = 40,
) -> list[list[Hypothesis]]:
    """The teacher's K-best list (beam search with beam K, K hypotheses) of each source."""
    return beam_search(teacher, sources, beam, length_penalty=length_penalty, max_len=max_len)


def seq_kd_targets(kbest: Sequence[Sequence[Hypothesis]]) -> list[list[int]]:
    """``y_hat``: the teacher's beam-search output (the top of each K-best list), Sec. 3.2."""
    return [list(hyps[0].tokens) for hyps in kbest]


def seq_inter_targets(
    kbest: Sequence[Sequence[Hypothesis]],
    references: Sequence[Sequence[int]],
    text: Callable[[list[int]], str],
) -> tuple[list[list[int]], list[int]]:
    """``y_tilde = argmax_{t in K-best} sentence-BLEU(t, y)`` per source (Sec. 3.3), ties to the higher-scored
    hypothesis; also the rank of each chosen hypothesis in its K-best list (0 = the beam output)."""
    if len(kbest) != len(references):
        raise ValueError(f"{len(kbest)} K-best lists for {len(references)} references")
    chosen: list[list[int]] = []
    ranks: list[int] = []
    for hyps, ref in zip(kbest, references, strict=True):
        ref_text = text(list(ref))
        sims = [sentence_bleu(text(list(h.tokens)), ref_text) for h in hyps]
        best = max(range(len(hyps)), key=lambda r: (sims[r], -r))
        chosen.append(list(hyps[best].tokens))
        ranks.append(best)
    return chosen, ranks
