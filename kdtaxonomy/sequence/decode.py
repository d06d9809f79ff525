"""Greedy decoding and batched beam search with k-best lists.

A hypothesis ``y`` (content tokens, then EOS) scores ``log p(y | x) / |y|^length_penalty`` with ``|y|``
counting the EOS (``length_penalty = 0``: the plain log-probability, the beam-search objective of
Kim & Rush 2016, Sec. 2; ``1``: the per-token average). Beam search keeps the ``beam_size`` best live
prefixes per sentence; a prefix ending in EOS among a step's ``beam_size`` best candidates is finished.
A sentence stops when it has ``beam_size`` finished hypotheses and no live prefix can still beat the worst
of them (log-probabilities only fall as a prefix grows, so the bound is exact), or at ``max_len`` content
tokens, where only EOS is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from kdtaxonomy.sequence.models import Seq2SeqTransformer
from kdtaxonomy.sequence.task import EOS, PAD


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[int]  # content tokens, without BOS/EOS
    log_prob: float  # log p(tokens + EOS | source)
    score: float  # log_prob / (len(tokens) + 1) ** length_penalty


def pad(rows: Sequence[Sequence[int]], value: int = PAD, device: torch.device | None = None) -> Tensor:
    """``(len(rows), max len)`` long tensor of ``rows`` right-padded with ``value``."""
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), max(width, 1)), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out if device is None else out.to(device)


def _normalise(log_prob: float, length: int, length_penalty: float) -> float:
    return log_prob / (length**length_penalty) if length_penalty else log_prob


@torch.no_grad()
def greedy(
    model: Seq2SeqTransformer, sources: Sequence[Sequence[int]], max_len: int = 40, batch_size: int = 256
) -> list[list[int]]:
    """The argmax token at each step until EOS (or ``max_len`` content tokens)."""
    was_training = model.training
    model.eval()
    out: list[list[int]] = []
    for lo in range(0, len(sources), batch_size):
        src = pad(sources[lo : lo + batch_size])
        memory = model.encode(src)
        state, tokens = model.start(src.shape[0])
        done = torch.zeros(src.shape[0], dtype=torch.bool)
        steps: list[Tensor] = []
        for _ in range(max_len):
            logits, state = model.step(tokens, state, memory)
            tokens = logits.argmax(dim=-1)
            tokens = torch.where(done, torch.full_like(tokens, EOS), tokens)
            steps.append(tokens)
            done |= tokens == EOS
            if bool(done.all()):
                break
        ids = torch.stack(steps, dim=1).tolist() if steps else [[] for _ in range(src.shape[0])]
        out += [row[: row.index(EOS)] if EOS in row else row for row in ids]
    model.train(was_training)
    return out


@torch.no_grad()
def beam_search(
    model: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    beam_size: int = 5,
    *,
    length_penalty: float = 0.0,
    n_best: int | None = None,
    max_len: int = 40,
    batch_size: int = 128,
) -> list[list[Hypothesis]]:
    """The ``n_best`` (default ``beam_size``) best finished hypotheses of each source, best first."""
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    n_best = beam_size if n_best is None else n_best
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size], got {n_best}")
    was_training = model.training
    model.eval()
    out: list[list[Hypothesis]] = []
    for lo in range(0, len(sources), batch_size):
        out += _beam_batch(model, sources[lo : lo + batch_size], beam_size, length_penalty, max_len)
    model.train(was_training)
    return [hyps[:n_best] for hyps in out]


def _beam_batch(
    model: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    k: int,
    length_penalty: float,
    max_len: int,
) -> list[list[Hypothesis]]:
    src = pad(sources)
    b = src.shape[0]
    rows = torch.arange(b).repeat_interleave(k)
    memory = model.encode(src).select(rows)
    state, tokens = model.start(b * k)
    scores = torch.full((b, k), -math.inf)
    scores[:, 0] = 0.0  # one live prefix (the empty one) per sentence at the start
    prefixes = torch.zeros(b, k, 0, dtype=torch.long)
    finished: list[list[Hypothesis]] = [[] for _ in range(b)]
    done = [False] * b
    for t in range(max_len + 1):
        logits, state = model.step(tokens, state, memory)
        logp = torch.log_softmax(logits.float(), dim=-1).view(b, k, -1)
        vocab = logp.shape[-1]
        if t == max_len:  # only EOS may follow max_len content tokens
            logp = torch.where(torch.arange(vocab) == EOS, logp, -math.inf)
        logp[:, :, PAD] = -math.inf
        cand = (scores[:, :, None] + logp).view(b, k * vocab)
        top, idx = cand.topk(min(2 * k, k * vocab), dim=1)
        beam, word = idx // vocab, idx % vocab
        new_scores = torch.full((b, k), -math.inf)
        new_beam = torch.zeros(b, k, dtype=torch.long)
        new_word = torch.full((b, k), EOS, dtype=torch.long)
        for i in range(b):
            if done[i]:
                continue
            live = 0
            for r in range(top.shape[1]):
                s = float(top[i, r])
                if s == -math.inf or live == k:
                    break
                if int(word[i, r]) == EOS:
                    if r < k:  # an EOS candidate counts only if it would have been in the beam
                        tokens_i = prefixes[i, int(beam[i, r])].tolist()
                        norm = _normalise(s, len(tokens_i) + 1, length_penalty)
                        finished[i].append(Hypothesis(tokens_i, s, norm))
                    continue
                new_scores[i, live], new_beam[i, live], new_word[i, live] = s, beam[i, r], word[i, r]
                live += 1
            finished[i].sort(key=lambda h: -h.score)
            del finished[i][k:]
            done[i] = _finished(finished[i], float(new_scores[i, 0]), k, length_penalty, max_len, t)
        if all(done):
            break
        flat = (torch.arange(b)[:, None] * k + new_beam).view(-1)
        state = state.select(flat)
        prefixes = torch.cat([prefixes.view(b * k, -1)[flat].view(b, k, -1), new_word[:, :, None]], dim=2)
        scores, tokens = new_scores, new_word.view(-1)
    return finished


def _finished(
    hyps: list[Hypothesis], best_live: float, k: int, length_penalty: float, max_len: int, t: int
) -> bool:
    if best_live == -math.inf or t == max_len:
        return True
    if len(hyps) < k:
        return False
    # the best score a live prefix can still reach: its log-probability (<= 0) can only fall, and its
    # final length (with EOS) lies in [t + 2, max_len + 1]; the length factor is monotone in the length
    bound = max(_normalise(best_live, n, length_penalty) for n in (t + 2, max_len + 1))
    return bound <= hyps[-1].score
