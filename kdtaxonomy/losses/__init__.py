"""Knowledge-distillation losses: functional forms and registered ``nn.Module`` forms.

Importing this package registers every loss class under kind ``"loss"`` in
:data:`kdtaxonomy.registry.REGISTRY` (with ``term``, ``needs`` and ``inputs`` in the component's
``extra``); see :class:`kdtaxonomy.losses.base.DistillationLoss` for the module interface.
"""

from kdtaxonomy.losses.attention import attention_map, attention_transfer
from kdtaxonomy.losses.base import DistillationLoss
from kdtaxonomy.losses.crd import crd_nce
from kdtaxonomy.losses.distribution import mmd
from kdtaxonomy.losses.dkd import dkd, dkd_parts
from kdtaxonomy.losses.embedding import cosine_embedding
from kdtaxonomy.losses.hints import assistant_distillation_loss, assistant_feature_matching, fitnets
from kdtaxonomy.losses.logits import (
    conditional_kd,
    dml,
    hard_label_kd,
    multi_teacher_kd,
    soft_label_kd,
    weighted_kd,
)
from kdtaxonomy.losses.nst import nst
from kdtaxonomy.losses.pkt import pkt
from kdtaxonomy.losses.relational import rkd_angle, rkd_area, rkd_distance
from kdtaxonomy.losses.similarity import correlation_congruence, similarity_preserving
from kdtaxonomy.losses.vid import vid

__all__ = [
    "DistillationLoss",
    "assistant_distillation_loss",
    "assistant_feature_matching",
    "attention_map",
    "attention_transfer",
    "conditional_kd",
    "correlation_congruence",
    "cosine_embedding",
    "crd_nce",
    "dkd",
    "dkd_parts",
    "dml",
    "fitnets",
    "hard_label_kd",
    "mmd",
    "multi_teacher_kd",
    "nst",
    "pkt",
    "rkd_angle",
    "rkd_area",
    "rkd_distance",
    "similarity_preserving",
    "soft_label_kd",
    "vid",
    "weighted_kd",
]
