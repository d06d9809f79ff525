"""Student constructions (survey Section VI, Fig. 6), registered under kind ``"student"``.

Importing this package registers every construction in :data:`kdtaxonomy.registry.REGISTRY`; each is built
from its spec (:mod:`kdtaxonomy.specs.students`) as ``Cls(spec)``. See
:class:`kdtaxonomy.students.base.Construction` for the hooks the training loop calls.
"""

from kdtaxonomy.students.base import Construction, weight_layers
from kdtaxonomy.students.init import FromScratch, TeacherInit, copy_teacher_state, reset_parameters
from kdtaxonomy.students.low_precision import (
    LowPrecision,
    make_low_precision,
    quantize_activation,
    quantize_symmetric,
)
from kdtaxonomy.students.pruned import Pruned, magnitude_masks, prune, sparsity_of
from kdtaxonomy.students.quantized import Quantized, quantize_uniform, straight_through
from kdtaxonomy.students.svm import SVMHead, SVMOnFeatures, multiclass_hinge, svm_objective

__all__ = [
    "Construction",
    "FromScratch",
    "LowPrecision",
    "Pruned",
    "Quantized",
    "SVMHead",
    "SVMOnFeatures",
    "TeacherInit",
    "copy_teacher_state",
    "magnitude_masks",
    "make_low_precision",
    "multiclass_hinge",
    "prune",
    "quantize_activation",
    "quantize_symmetric",
    "quantize_uniform",
    "reset_parameters",
    "sparsity_of",
    "straight_through",
    "svm_objective",
    "weight_layers",
]
