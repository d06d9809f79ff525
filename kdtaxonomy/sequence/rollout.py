"""Sampling target sides from the student (optionally mixed with the teacher) and the state shared by the
on-policy training steps of :mod:`kdtaxonomy.sequence.onpolicy` and :mod:`kdtaxonomy.sequence.minillm`.

Sampling runs the student without dropout (eval mode) and cuts a sequence at ``max_len`` content tokens
(EOS is forced there, as in decoding); the teacher is frozen, in eval mode, under no_grad.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.sequence.decode import pad
from kdtaxonomy.sequence.models import Seq2SeqTransformer
from kdtaxonomy.sequence.task import EOS
from kdtaxonomy.sequence.training import nll, teacher_forcing

# --- sampling -----------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """Sampled target sides: ``tokens`` (content, no EOS) and, per position of ``y EOS`` (``(B, T)``, 0 past
    the end), the log-probability of the sampled token under the student and under the sampling
    distribution (the student, or MiniLLM's mixture with the teacher)."""

    tokens: list[list[int]]
    log_q: Tensor
    log_mix: Tensor


@torch.no_grad()
def sample(
    model: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    *,
    generator: torch.Generator,
    temperature: float = 1.0,
    max_len: int = 40,
    teacher: Seq2SeqTransformer | None = None,
    teacher_mix: float = 0.0,
) -> Rollout:
    """Ancestral sampling from ``softmax(logits / temperature)`` of ``model`` (without dropout), or, with a
    ``teacher``, from ``teacher_mix p_T + (1 - teacher_mix) p_S`` (MiniLLM's teacher-mixed sampling, Eq. 4)."""
    was_training = model.training
    model.eval()
    src = pad(sources)
    b = src.shape[0]
    memory = model.encode(src)
    state, tokens = model.start(b)
    if teacher is not None:
        t_memory = teacher.encode(src)
        t_state, _ = teacher.start(b)
    done = torch.zeros(b, dtype=torch.bool)
    picked: list[Tensor] = []
    log_q_steps: list[Tensor] = []
    log_mix_steps: list[Tensor] = []
    for t in range(max_len + 1):
        logits, state = model.step(tokens, state, memory)
        log_q = F.log_softmax(logits.float() / temperature, dim=-1)
        log_mix = log_q
        if teacher is not None and teacher_mix > 0.0:
            t_logits, t_state = teacher.step(tokens, t_state, t_memory)
            log_p = F.log_softmax(t_logits.float(), dim=-1)
            log_mix = torch.logaddexp(log_p + math.log(teacher_mix), log_q + _log(1.0 - teacher_mix))
        if t == max_len:
            nxt = torch.full((b,), EOS, dtype=torch.long)
        else:
            nxt = torch.multinomial(log_mix.exp(), 1, generator=generator).squeeze(1)
        nxt = torch.where(done, torch.full_like(nxt, EOS), nxt)
        live = (~done).float()
        picked.append(nxt)
        log_q_steps.append(log_q.gather(1, nxt[:, None]).squeeze(1) * live)
        log_mix_steps.append(log_mix.gather(1, nxt[:, None]).squeeze(1) * live)
        done = done | (nxt == EOS)
        tokens = nxt
        if bool(done.all()):
            break
    model.train(was_training)
    rows = torch.stack(picked, dim=1).tolist()
    return Rollout(
        [row[: row.index(EOS)] for row in rows],
        torch.stack(log_q_steps, dim=1),
        torch.stack(log_mix_steps, dim=1),
    )


def _log(w: float) -> float:
    return math.log(w) if w > 0 else -math.inf


def on_policy(generator: torch.Generator, lam: float) -> bool:
    """Algorithm 1 of GKD, lines 2-3: ``u ~ U[0, 1)``, the student's samples when ``u < lam`` (``lam = 0``:
    never, ``lam = 1``: always)."""
    return float(torch.rand((), generator=generator)) < lam


# --- shared state -----------------------------------------------------------------------------------------


class OnPolicyState:
    """Shared state of an on-policy step loss: the references, the frozen teacher, phase 1 and a record."""

    def __init__(
        self,
        teacher: Seq2SeqTransformer,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        init_steps: int,
        max_len: int,
        seed: int,
    ) -> None:
        self.teacher = teacher.eval()
        self.sources, self.targets = sources, targets
        self.init_steps, self.max_len = init_steps, max_len
        self.generator = torch.Generator().manual_seed(seed)
        self.stats: dict[str, Any] = {"init_steps": init_steps, "on_policy_steps": 0, "steps": 0}

    def batch(
        self, rows: Sequence[int], tgt: Sequence[Sequence[int]]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Source ids, decoder inputs, labels and the teacher's logits on ``tgt`` (teacher forcing)."""
        src = pad([self.sources[i] for i in rows])
        tgt_in, labels = teacher_forcing(tgt)
        with torch.no_grad():
            t_logits = self.teacher(src, tgt_in)
        return src, tgt_in, labels, t_logits

    def reference_nll(self, model: Seq2SeqTransformer, rows: Sequence[int]) -> Tensor:
        """Phase 1: the student alone's loss on the batch's references."""
        tgt_in, labels = teacher_forcing([self.targets[i] for i in rows])
        return nll(model(pad([self.sources[i] for i in rows]), tgt_in), labels)
