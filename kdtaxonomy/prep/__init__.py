"""Data-preparation transforms (survey Section III, Fig. 3), registered under kind ``"prep"``.

Importing this package registers every transform in :data:`kdtaxonomy.registry.REGISTRY`; each is built
from its spec (:mod:`kdtaxonomy.specs.prep`) as ``Cls(spec)``. See :class:`kdtaxonomy.prep.base.Prep` for
the interface (``apply``, ``apply_eval``, ``augment``, ``synthesize``).
"""

from kdtaxonomy.prep.augment import Augment, augment_image, augment_signal
from kdtaxonomy.prep.base import Prep
from kdtaxonomy.prep.impressions import DataImpressions, class_similarity, sample_dirichlet
from kdtaxonomy.prep.partition import ClassPartition, class_groups
from kdtaxonomy.prep.resolution import DownsampleUpsample, downsample_upsample
from kdtaxonomy.prep.subsets import DecreaseData, Truncate, stratified_rows, truncate
from kdtaxonomy.prep.views import SpectralView, spectral_view

__all__ = [
    "Augment",
    "ClassPartition",
    "DataImpressions",
    "DecreaseData",
    "DownsampleUpsample",
    "Prep",
    "SpectralView",
    "Truncate",
    "augment_image",
    "augment_signal",
    "class_groups",
    "class_similarity",
    "downsample_upsample",
    "sample_dirichlet",
    "spectral_view",
    "stratified_rows",
    "truncate",
]
