"""A small pre-norm transformer encoder-decoder (Vaswani et al. 2017) with incremental decoding.

Written out (not ``nn.Transformer``) so that decoding keeps per-layer key/value caches: one decoder step
costs one new position, which makes beam search over a whole training set affordable on one CPU thread.
``forward`` (teacher forcing) and ``encode`` + ``step`` (decoding) compute the same function; a test checks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.sequence.task import BOS, PAD


@dataclass(frozen=True)
class ModelConfig:
    d_model: int = 128
    heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    ff: int = 256
    dropout: float = 0.1
    max_len: int = 64


TEACHER = ModelConfig()
STUDENT = ModelConfig(d_model=32, heads=2, encoder_layers=1, decoder_layers=1, ff=64)


class Attention(nn.Module):
    """Multi-head attention with a separate key/value projection, so keys can be cached."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        if d % heads:
            raise ValueError(f"d_model {d} is not a multiple of heads {heads}")
        self.heads, self.dropout = heads, dropout
        self.q, self.kv, self.out = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)

    def _split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def keys(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, v = self.kv(x).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def attend(self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """``mask``: boolean, broadcastable to ``(B, H, T, S)``, True where a key may be attended."""
        q = self._split(self.q(x))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        b, _, t, _ = y.shape
        out: Tensor = self.out(y.transpose(1, 2).reshape(b, t, -1))
        return out


class _FeedForward(nn.Sequential):
    def __init__(self, d: int, ff: int, dropout: float):
        super().__init__(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))


class EncoderLayer(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.attn = Attention(c.d_model, c.heads, c.dropout)
        self.ff, self.drop = _FeedForward(c.d_model, c.ff, c.dropout), nn.Dropout(c.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.ln1(x)
        x = x + self.drop(self.attn.attend(h, *self.attn.keys(h), mask))
        out: Tensor = x + self.drop(self.ff(self.ln2(x)))
        return out


class DecoderLayer(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(c.d_model) for _ in range(3))
        self.self_attn = Attention(c.d_model, c.heads, c.dropout)
        self.cross_attn = Attention(c.d_model, c.heads, c.dropout)
        self.ff, self.drop = _FeedForward(c.d_model, c.ff, c.dropout), nn.Dropout(c.dropout)

    def forward(
        self,
        x: Tensor,
        self_kv: tuple[Tensor, Tensor],
        self_mask: Tensor | None,
        cross_kv: tuple[Tensor, Tensor],
        cross_mask: Tensor,
    ) -> Tensor:
        x = x + self.drop(self.self_attn.attend(self.ln1(x), *self_kv, self_mask))
        x = x + self.drop(self.cross_attn.attend(self.ln2(x), *cross_kv, cross_mask))
        out: Tensor = x + self.drop(self.ff(self.ln3(x)))
        return out


def sinusoids(length: int, d: int) -> Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(length, d)
    table[:, 0::2], table[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return table


@dataclass
class Memory:
    """The encoded source: per-decoder-layer cross-attention keys/values and the source key mask."""

    cross_kv: list[tuple[Tensor, Tensor]]
    mask: Tensor  # (B, 1, 1, S), True where a source position is a token

    def select(self, rows: Tensor) -> Memory:
        return Memory([(k[rows], v[rows]) for k, v in self.cross_kv], self.mask[rows])


@dataclass
class DecoderState:
    """Self-attention key/value caches of the decoded prefix (one entry per decoder layer)."""

    self_kv: list[tuple[Tensor, Tensor]]
    length: int

    def select(self, rows: Tensor) -> DecoderState:
        return DecoderState([(k[rows], v[rows]) for k, v in self.self_kv], self.length)


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder over source and target token ids; the output layer is tied to the target embedding."""

    def __init__(self, src_vocab: int, tgt_vocab: int, config: ModelConfig = TEACHER):
        super().__init__()
        c = self.config = config
        self.src_embed = nn.Embedding(src_vocab, c.d_model, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, c.d_model, padding_idx=PAD)
        self.register_buffer("positions", sinusoids(c.max_len + 1, c.d_model), persistent=False)
        self.encoder = nn.ModuleList(EncoderLayer(c) for _ in range(c.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(c) for _ in range(c.decoder_layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.drop = nn.Dropout(c.dropout)
        for emb in (self.src_embed, self.tgt_embed):
            nn.init.normal_(emb.weight, std=c.d_model**-0.5)
            with torch.no_grad():
                emb.weight[PAD].zero_()

    def _encoder_layers(self) -> list[EncoderLayer]:
        return [cast(EncoderLayer, m) for m in self.encoder]

    def _decoder_layers(self) -> list[DecoderLayer]:
        return [cast(DecoderLayer, m) for m in self.decoder]

    def _embed(self, emb: nn.Embedding, ids: Tensor, start: int = 0) -> Tensor:
        if start + ids.shape[1] > self.config.max_len + 1:
            raise ValueError(f"sequence longer than max_len {self.config.max_len}")
        pos = cast(Tensor, self.positions)
        x = emb(ids) * math.sqrt(self.config.d_model) + pos[start : start + ids.shape[1]]
        out: Tensor = self.drop(x)
        return out

    def encode(self, src: Tensor) -> Memory:
        """``src``: ``(B, S)`` ids padded with PAD (at least one token per row)."""
        mask = (src != PAD)[:, None, None, :]
        x = self._embed(self.src_embed, src)
        for layer in self._encoder_layers():
            x = layer(x, mask)
        x = self.enc_norm(x)
        return Memory([layer.cross_attn.keys(x) for layer in self._decoder_layers()], mask)

    def _logits(self, x: Tensor) -> Tensor:
        return F.linear(self.dec_norm(x), self.tgt_embed.weight)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits ``(B, T, V)`` of each next token given ``tgt_in`` (BOS + prefix)."""
        memory = self.encode(src)
        t = tgt_in.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=src.device).tril()
        x = self._embed(self.tgt_embed, tgt_in)
        for layer, cross in zip(self._decoder_layers(), memory.cross_kv, strict=True):
            h = layer.ln1(x)
            x = layer(x, layer.self_attn.keys(h), causal, cross, memory.mask)
        return self._logits(x)

    def start(self, batch: int, device: torch.device | None = None) -> tuple[DecoderState, Tensor]:
        """An empty decoder state and the BOS tokens ``(batch,)`` to feed first."""
        return DecoderState([], 0), torch.full((batch,), BOS, dtype=torch.long, device=device)

    def step(self, tokens: Tensor, state: DecoderState, memory: Memory) -> tuple[Tensor, DecoderState]:
        """Feed one token per row (``(N,)``); the next-token logits ``(N, V)`` and the extended state."""
        x = self._embed(self.tgt_embed, tokens[:, None], start=state.length)
        caches: list[tuple[Tensor, Tensor]] = []
        for i, (layer, cross) in enumerate(zip(self._decoder_layers(), memory.cross_kv, strict=True)):
            k, v = layer.self_attn.keys(layer.ln1(x))
            if state.self_kv:
                k = torch.cat([state.self_kv[i][0], k], dim=2)
                v = torch.cat([state.self_kv[i][1], v], dim=2)
            caches.append((k, v))
            x = layer(x, (k, v), None, cross, memory.mask)
        return self._logits(x)[:, 0], DecoderState(caches, state.length + 1)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
