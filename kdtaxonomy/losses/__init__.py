"""Knowledge-distillation losses: functional forms and registered ``nn.Module`` forms.

Importing this package registers every loss class under kind ``"loss"`` in
:data:`kdtaxonomy.registry.REGISTRY` (with ``term``, ``needs`` and ``inputs`` in the component's
``extra``); see :class:`kdtaxonomy.losses.base.DistillationLoss` for the module interface. The token-level
divergences for sequence distillation (:mod:`kdtaxonomy.losses.sequence`: functions and small ``nn.Module``
forms over ``(B, T, V)`` logits with a position mask) are exported too but not registered.
"""

from kdtaxonomy.losses.ab import activation_boundary
from kdtaxonomy.losses.attention import attention_map, attention_transfer
from kdtaxonomy.losses.base import DistillationLoss
from kdtaxonomy.losses.crd import crd_nce
from kdtaxonomy.losses.dist import dist, dist_parts
from kdtaxonomy.losses.distribution import mmd
from kdtaxonomy.losses.dkd import dkd, dkd_parts
from kdtaxonomy.losses.embedding import cosine_embedding
from kdtaxonomy.losses.fsp import fsp, fsp_matrix
from kdtaxonomy.losses.ft import factor_transfer
from kdtaxonomy.losses.hints import assistant_distillation_loss, assistant_feature_matching, fitnets
from kdtaxonomy.losses.ickd import icc_matrix, ickd
from kdtaxonomy.losses.kdsvd import kdsvd
from kdtaxonomy.losses.logits import (
    conditional_kd,
    dml,
    hard_label_kd,
    multi_teacher_kd,
    soft_label_kd,
    weighted_kd,
)
from kdtaxonomy.losses.nst import nst
from kdtaxonomy.losses.ofd import gaussian_margin, ofd
from kdtaxonomy.losses.pad import feature_l2, pad_l2
from kdtaxonomy.losses.pkt import pkt
from kdtaxonomy.losses.relational import rkd_angle, rkd_area, rkd_distance
from kdtaxonomy.losses.review import hcl
from kdtaxonomy.losses.sequence import (
    GeneralizedJSD,
    SkewKL,
    SkewReverseKL,
    TokenForwardKL,
    TokenReverseKL,
    TokenTotalVariation,
    forward_kl,
    generalized_jsd,
    mask_from_labels,
    reverse_kl,
    skew_kl,
    skew_reverse_kl,
    total_variation,
)
from kdtaxonomy.losses.similarity import correlation_congruence, similarity_preserving
from kdtaxonomy.losses.srd import batch_standardize, srd
from kdtaxonomy.losses.sskd import contrastive_prediction, ss_similarity, sskd_similarity, sskd_transform
from kdtaxonomy.losses.tfkd import tfkd_reg, tfkd_virtual_teacher
from kdtaxonomy.losses.vid import vid

__all__ = [
    "DistillationLoss",
    "GeneralizedJSD",
    "SkewKL",
    "SkewReverseKL",
    "TokenForwardKL",
    "TokenReverseKL",
    "TokenTotalVariation",
    "activation_boundary",
    "assistant_distillation_loss",
    "assistant_feature_matching",
    "attention_map",
    "attention_transfer",
    "batch_standardize",
    "conditional_kd",
    "contrastive_prediction",
    "correlation_congruence",
    "cosine_embedding",
    "crd_nce",
    "dist",
    "dist_parts",
    "dkd",
    "dkd_parts",
    "dml",
    "factor_transfer",
    "feature_l2",
    "fitnets",
    "forward_kl",
    "fsp",
    "fsp_matrix",
    "gaussian_margin",
    "generalized_jsd",
    "hard_label_kd",
    "hcl",
    "icc_matrix",
    "ickd",
    "kdsvd",
    "mask_from_labels",
    "mmd",
    "multi_teacher_kd",
    "nst",
    "ofd",
    "pad_l2",
    "pkt",
    "reverse_kl",
    "rkd_angle",
    "rkd_area",
    "rkd_distance",
    "similarity_preserving",
    "skew_kl",
    "skew_reverse_kl",
    "soft_label_kd",
    "srd",
    "ss_similarity",
    "sskd_similarity",
    "sskd_transform",
    "tfkd_reg",
    "tfkd_virtual_teacher",
    "total_variation",
    "vid",
    "weighted_kd",
]
