"""Contrastive representation distillation (Tian, Krishnan & Isola 2020, ICLR)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.losses.base import DistillationLoss, flat, numel, require, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import CRDSpec


def _nce_side(
    emb: Tensor, contrast: Tensor, num_samples: int, temperature: float, log_z: float | Tensor
) -> Tensor:
    """``-(1/B) sum_i [log h_i0 + sum_{k>=1} log(1 - h_ik)]`` for one side (see :func:`crd_nce`)."""
    k = contrast.shape[1] - 1
    log_score = torch.bmm(contrast, emb.unsqueeze(2)).squeeze(2) / temperature - log_z
    log_noise = math.log(k / num_samples)
    log_denom = torch.logaddexp(log_score, torch.full_like(log_score, log_noise))
    log_pos = log_score[:, 0] - log_denom[:, 0]
    log_neg = (log_noise - log_denom[:, 1:]).sum(dim=1)
    return -(log_pos + log_neg).mean()


def crd_nce(
    s_emb: Tensor,
    t_emb: Tensor,
    s_memory_pos_neg: Tensor,
    t_memory_pos_neg: Tensor,
    num_samples: int,
    temperature: float = 0.07,
    log_z_s: float | Tensor = 0.0,
    log_z_t: float | Tensor = 0.0,
) -> Tensor:
    """NCE objective of CRD (Tian et al. 2020, Sec. 3: critic ``h`` and its NCE bound) on precomputed tensors.

    ``s_emb``/``t_emb``: ``(B, d)`` embeddings (the heads' L2-normalised outputs). ``t_memory_pos_neg``:
    ``(B, K+1, d)`` teacher-memory rows, column 0 the positive (same sample index), columns ``1..K``
    the negatives; they are contrasted with ``s_emb``. ``s_memory_pos_neg`` likewise from the student
    memory, contrasted with ``t_emb``. For each side, with ``N = num_samples``::

        P_ik = exp(<m_ik, v_i> / tau) / Z        h_ik = P_ik / (P_ik + K / N)
        L = -(1/B) sum_i [ log h_i0 + sum_{k=1..K} log(1 - h_ik) ]

    (``K/N`` is the noise probability of a uniform noise distribution ``1/N`` times ``K`` noise samples).
    ``log Z`` is ``log_z_s`` for the student side (``s_emb`` vs teacher memory) and ``log_z_t`` for the
    teacher side; ``0`` gives the paper's unnormalised critic. Returns the sum of both sides. Computed in
    log space (``logaddexp``).
    """
    loss_s = _nce_side(s_emb, t_memory_pos_neg, num_samples, temperature, log_z_s)
    loss_t = _nce_side(t_emb, s_memory_pos_neg, num_samples, temperature, log_z_t)
    return loss_s + loss_t


@register(spec=CRDSpec, needs=("indices",), inputs="embeddings")
class CRD(DistillationLoss):
    """Contrastive representation distillation (Tian et al. 2020) with memory banks; needs ``indices``.

    Owns linear heads ``g_S``, ``g_T`` (flattened input -> ``feat_dim``, L2-normalised) and one memory bank
    per side (``num_samples x feat_dim`` buffers of unit vectors). Per batch, ``K`` negative indices per
    sample are drawn uniformly (with replacement) from the dataset indices excluding the sample's own; the
    loss is :func:`crd_nce`. The normalising constants are estimated once, on the first batch, as
    ``Z = N * mean(exp(score / tau))`` over the contrasted rows (as in memory-bank NCE) and then kept
    fixed. In training mode the banks are updated after the loss: ``m_i <- normalize(momentum * m_i +
    (1 - momentum) * v_i)``.
    """

    params_model = CRDSpec
    config: CRDSpec

    memory_s: Tensor
    memory_t: Tensor
    log_z_s: Tensor
    log_z_t: Tensor

    def build(self) -> None:
        require_shapes(self)
        if self.num_samples < 2:
            raise ValueError("CRD needs num_samples >= 2 (the dataset size) for its memory banks")
        d, n = self.config.feat_dim, self.num_samples
        self.num_negatives = min(self.config.num_negatives, n - 1)
        self.embed_s = nn.Linear(numel(self.s_shape), d)
        self.embed_t = nn.Linear(numel(self.t_shape), d)
        bound = 1.0 / math.sqrt(d / 3)
        self.register_buffer("memory_s", F.normalize(torch.rand(n, d) * 2 * bound - bound, dim=1))
        self.register_buffer("memory_t", F.normalize(torch.rand(n, d) * 2 * bound - bound, dim=1))
        self.register_buffer("log_z_s", torch.tensor(float("nan")))
        self.register_buffer("log_z_t", torch.tensor(float("nan")))

    def sample_contrast(self, indices: Tensor) -> Tensor:
        """``(B, K+1)`` memory indices: column 0 = ``indices``, then K uniform negatives != the positive."""
        b, k = indices.shape[0], self.num_negatives
        neg = torch.randint(0, self.num_samples - 1, (b, k), device=indices.device)
        neg = neg + (neg >= indices.unsqueeze(1)).long()
        return torch.cat([indices.unsqueeze(1), neg], dim=1)

    def _estimate_log_z(self, emb: Tensor, contrast: Tensor) -> Tensor:
        scores = torch.bmm(contrast, emb.detach().unsqueeze(2)).flatten() / self.config.temperature
        return torch.logsumexp(scores, dim=0) - math.log(scores.numel()) + math.log(self.num_samples)

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        idx = require(indices, "indices").long().to(self.memory_s.device)
        v_s = F.normalize(self.embed_s(flat(s)), dim=1)
        v_t = F.normalize(self.embed_t(flat(teacher(t))), dim=1)
        contrast = self.sample_contrast(idx)
        mem_s, mem_t = self.memory_s[contrast], self.memory_t[contrast]
        with torch.no_grad():
            if torch.isnan(self.log_z_s):
                self.log_z_s.copy_(self._estimate_log_z(v_s, mem_t))
            if torch.isnan(self.log_z_t):
                self.log_z_t.copy_(self._estimate_log_z(v_t, mem_s))
        loss = crd_nce(
            v_s, v_t, mem_s, mem_t, self.num_samples, self.config.temperature, self.log_z_s, self.log_z_t
        )
        if self.training:
            self._update_memory(idx, v_s, v_t)
        return loss

    @torch.no_grad()
    def _update_memory(self, idx: Tensor, v_s: Tensor, v_t: Tensor) -> None:
        m = self.config.momentum
        self.memory_s[idx] = F.normalize(m * self.memory_s[idx] + (1 - m) * v_s.detach(), dim=1)
        self.memory_t[idx] = F.normalize(m * self.memory_t[idx] + (1 - m) * v_t.detach(), dim=1)
