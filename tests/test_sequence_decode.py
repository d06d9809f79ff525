"""Greedy decoding and beam search: incremental decoding equals teacher forcing, beam 1 is greedy, and beam
search finds the exact best sequence where every sequence can be enumerated."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from kdtaxonomy.sequence.decode import beam_search, greedy, pad
from kdtaxonomy.sequence.models import DecoderState, Memory, ModelConfig, Seq2SeqTransformer
from kdtaxonomy.sequence.task import BOS, EOS, PAD

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ModelConfig(d_model=16, heads=2, encoder_layers=1, decoder_layers=2, ff=32, dropout=0.0)


def _random_model(tgt_vocab: int, seed: int = 0) -> Seq2SeqTransformer:
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(9, tgt_vocab, TINY)
    with torch.no_grad():  # sharper distributions than the initialisation, so sequences differ in score
        model.tgt_embed.weight.mul_(6.0)
    return model.eval()


SOURCES = [[3, 4, 5], [6, 7], [8, 3, 3, 4], [5]]


@torch.no_grad()
def _log_prob(model: Seq2SeqTransformer, src: list[int], tokens: list[int]) -> float:
    """log p(tokens + EOS | src) by teacher forcing."""
    logits = model(pad([src]), torch.tensor([[BOS, *tokens]]))
    logp = torch.log_softmax(logits[0].double(), dim=-1)
    return float(sum(logp[j, t] for j, t in enumerate([*tokens, EOS])))


def test_incremental_decoding_equals_teacher_forcing() -> None:
    model = _random_model(12)
    src = pad([[3, 4, 5], [6, 7]])
    tgt_in = torch.tensor([[BOS, 5, 6, 7], [BOS, 8, 9, PAD]])
    full = model(src, tgt_in)
    memory = model.encode(src)
    state, _ = model.start(2)
    for t in range(tgt_in.shape[1]):
        logits, state = model.step(tgt_in[:, t], state, memory)
        assert torch.allclose(logits, full[:, t], atol=1e-5)


def test_source_padding_is_masked() -> None:
    model = _random_model(12)
    alone = model(pad([[3, 4]]), torch.tensor([[BOS, 5]]))
    padded = model(pad([[3, 4], [3, 4, 5, 6]]), torch.tensor([[BOS, 5], [BOS, 5]]))
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_one_is_greedy(seed: int) -> None:
    model = _random_model(10, seed)
    sources = [[3 + (i * 7 + j) % 6 for j in range(1 + i % 5)] for i in range(12)]
    expected = greedy(model, sources, max_len=6)
    found = beam_search(model, sources, 1, max_len=6)
    assert [h[0].tokens for h in found] == expected
    for src, hyps in zip(sources, found, strict=True):
        assert hyps[0].log_prob == pytest.approx(_log_prob(model, src, hyps[0].tokens), abs=1e-4)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_exhaustive_beam_finds_every_sequence_in_order(length_penalty: float) -> None:
    """Target vocabulary: PAD, BOS, EOS + 2 tokens; max 3 content tokens: the 3^0 + .. + 3^3 = 40
    sequences over {BOS, 3, 4} (PAD is never emitted) can be enumerated, and a beam of 40 keeps them all."""
    model = _random_model(5)
    max_len, alphabet = 3, [BOS, 3, 4]
    for src in SOURCES:
        every = []
        for n in range(max_len + 1):
            for seq in itertools.product(alphabet, repeat=n):
                lp = _log_prob(model, src, list(seq))
                every.append((lp / (n + 1) ** length_penalty, list(seq), lp))
        every.sort(key=lambda e: -e[0])
        hyps = beam_search(model, [src], 40, length_penalty=length_penalty, max_len=max_len)[0]
        assert len(hyps) == 40
        assert [h.tokens for h in hyps][:10] == [e[1] for e in every][:10]
        assert [h.score for h in hyps] == pytest.approx([e[0] for e in every], abs=1e-4)
        assert [h.log_prob for h in hyps] == pytest.approx([e[2] for e in every], abs=1e-4)
        small = beam_search(model, [src], 3, length_penalty=length_penalty, max_len=max_len)[0]
        assert small[0].score <= every[0][0] + 1e-6
        assert [h.score for h in small] == sorted((h.score for h in small), reverse=True)


class TableModel(Seq2SeqTransformer):
    """A hand-made model: next-token probabilities looked up by the decoded prefix (the state holds it)."""

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]], vocab: int = 5):
        super().__init__(4, vocab, ModelConfig(d_model=2, heads=1, encoder_layers=0, decoder_layers=0, ff=2))
        self.table, self.vocab = table, vocab

    def encode(self, src: Tensor) -> Memory:
        return Memory([], torch.ones(src.shape[0], 1, 1, src.shape[1], dtype=torch.bool))

    def step(self, tokens: Tensor, state: DecoderState, memory: Memory) -> tuple[Tensor, DecoderState]:
        prev = state.self_kv[0][0] if state.self_kv else torch.zeros(tokens.shape[0], 0, dtype=torch.long)
        prefix = torch.cat([prev, tokens[:, None]], dim=1)
        rows = []
        for p in prefix.tolist():
            probs = self.table.get(tuple(p[1:]), {EOS: 1.0})
            rows.append([math.log(probs[v]) if probs.get(v) else -1e9 for v in range(self.vocab)])
        return torch.tensor(rows), DecoderState([(prefix, prefix)], state.length + 1)


def test_hand_made_case_where_greedy_is_not_the_best() -> None:
    # p(3) = .6, p(4) = .4; after 3 the mass is spread (best: 3 EOS at .6 * .4 = .24); after 4, EOS at .9
    # (4 EOS: .36), so greedy finds 3 EOS and beam search (K = 2) finds 4 EOS, the most probable sequence
    table = {
        (): {3: 0.6, 4: 0.4},
        (3,): {EOS: 0.4, 3: 0.3, 4: 0.3},
        (4,): {EOS: 0.9, 3: 0.1},
    }
    model = TableModel(table)
    assert greedy(model, [[3]], max_len=3) == [[3]]
    assert beam_search(model, [[3]], 1, max_len=3)[0][0].tokens == [3]
    best = beam_search(model, [[3]], 2, max_len=3)[0]
    assert [h.tokens for h in best] == [[4], [3]]
    assert [h.log_prob for h in best] == pytest.approx([math.log(0.36), math.log(0.24)])
    # per-token average log-probability (length_penalty 1): 4 EOS .36 over 2 tokens (geometric mean .6)
    # stays the best; 3 3 EOS and 3 4 EOS (.18 over 3 tokens, .565) now beat 3 EOS (.24 over 2, .49)
    norm = beam_search(model, [[3]], 3, length_penalty=1.0, max_len=3)[0]
    assert norm[0].tokens == [4]
    assert norm[0].score == pytest.approx(math.log(0.36) / 2)
    assert [h.tokens for h in norm[1:3]] == [[3, 3], [3, 4]]


def test_n_best_and_max_len() -> None:
    model = _random_model(8)
    hyps = beam_search(model, SOURCES, 4, n_best=2, max_len=2)
    assert all(len(h) == 2 and all(len(x.tokens) <= 2 for x in h) for h in hyps)
    assert all(len(g) <= 2 for g in greedy(model, SOURCES, max_len=2))
    with pytest.raises(ValueError):
        beam_search(model, SOURCES, 2, n_best=3)
