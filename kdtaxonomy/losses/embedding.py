"""Embedding-level distillation by cosine distance (seed paper 003, Zhang, Chen & Qian, Eq. 4)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.losses.base import ProjectedLoss, flat, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import CosineEmbeddingSpec


def cosine_embedding(s_emb: Tensor, t_emb: Tensor) -> Tensor:
    """``(1/B) sum_i (1 - cos(s_i, t_i))`` on the flattened embeddings (``F.cosine_similarity``, eps 1e-8).

    Seed paper 003 writes Eq. (4) as ``L^COS = 1 - sum_i cos(e~_i, e_i)``; read literally that is unbounded
    below for N > 1, so the per-sample mean of ``1 - cos`` is used (same gradient direction, up to 1/N).
    """
    return (1 - F.cosine_similarity(flat(s_emb), flat(t_emb), dim=1)).mean()


@register(spec=CosineEmbeddingSpec, needs=(), inputs="embeddings")
class CosineEmbedding(ProjectedLoss):
    """Cosine embedding distillation (seed paper 003, Eq. 4): module form of :func:`cosine_embedding`.

    When the per-sample sizes differ, a trainable linear projection of the flattened student embedding to
    the teacher's size is added (the paper's embeddings have equal size, 512).
    """

    params_model = CosineEmbeddingSpec

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        s_vec = self.student_vector(s)
        return cosine_embedding(s_vec, teacher(t))
