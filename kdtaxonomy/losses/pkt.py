"""Probabilistic knowledge transfer (Passalis & Tefas 2018, "Learning Deep Representations with
Probabilistic Knowledge Transfer", ECCV)."""

from __future__ import annotations

from torch import Tensor

from kdtaxonomy.losses.base import DistillationLoss, flat, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import PKTSpec


def pkt_conditional(emb: Tensor, eps: float = 1e-7) -> Tensor:
    """Conditional probabilities ``p_{j|i}`` of Sec. 3 with the cosine-similarity kernel.

    Rows ``x / (||x|| + eps)``; ``K = (x x^T + 1) / 2``; each row divided by its sum (``j = i`` included,
    as in the authors' implementation).
    """
    x = flat(emb)
    x = x / (x.norm(dim=1, keepdim=True) + eps)
    k: Tensor = (x @ x.T + 1) / 2
    return k / k.sum(dim=1, keepdim=True)


def pkt(s_emb: Tensor, t_emb: Tensor, eps: float = 1e-7) -> Tensor:
    """PKT loss (Sec. 3): KL divergence between the teacher's and student's conditional distributions.

    ``(1/B^2) sum_{i,j} p^t_{j|i} log((p^t_{j|i} + eps) / (p^s_{j|i} + eps))`` with :func:`pkt_conditional`
    (a mean over the ``B*B`` entries rather than the paper's sum). Embedding sizes may differ.
    """
    p_s = pkt_conditional(s_emb, eps)
    p_t = pkt_conditional(t_emb, eps)
    return (p_t * ((p_t + eps) / (p_s + eps)).log()).mean()


@register(spec=PKTSpec, needs=(), inputs="embeddings")
class PKT(DistillationLoss):
    """Probabilistic knowledge transfer (Passalis & Tefas 2018): module form of :func:`pkt`."""

    params_model = PKTSpec
    config: PKTSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        return pkt(s, teacher(t), self.config.eps)
