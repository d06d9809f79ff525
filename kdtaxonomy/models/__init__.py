"""Model architectures (kind ``model``): importing this package registers every builder.

Each builder has the signature ``build(spec, *, input_shape, num_classes) -> nn.Module`` and returns a
:class:`~kdtaxonomy.models.base.FeatureClassifier` (``forward(x)`` gives logits; ``locations`` names the
feature locations ``block1``..., ``embedding``; ``classifier`` is the final linear layer). The register
entry's ``extra["input_dims"]`` lists the spatial dimensionalities a builder accepts (1: ``(C, L)``,
2: ``(C, H, W)``).

Besides the small sized families (``mlp``, ``cnn1d``, ``resnet1d``, ``lstm``, ``conv-lstm``, ``cnn2d``,
``resnet2d``), the named CIFAR architectures of the knowledge-distillation benchmark tables are registered
one key each (``resnet8``..``resnet110``, ``resnet8x4``, ``resnet32x4``, ``resnet50``, ``wrn-16-1``..
``wrn-40-2``, ``vgg8``/``vgg11``/``vgg13``, ``mobilenetv2``, ``shufflenetv1``, ``shufflenetv2``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from kdtaxonomy.models import (
    cifar_resnet,
    cnn,
    conv_lstm,
    lstm,
    mlp,
    mobilenetv2,
    resnet,
    shufflenet,
    vgg,
    wrn,
)
from kdtaxonomy.models.base import FeatureClassifier, count_parameters, tag_model
from kdtaxonomy.registry import REGISTRY
from kdtaxonomy.specs.models import ModelSpec


def build_model(
    spec: ModelSpec | str,
    params: Mapping[str, Any] | None = None,
    *,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> nn.Module:
    """Build a registered model from its spec, or from its key and parameters."""
    if isinstance(spec, str):
        component = REGISTRY.get("model", spec)
        spec_obj = component.validate_params(dict(params or {}))
    else:
        if params:
            raise TypeError("pass parameters either in the spec or as params with a key, not both")
        component = REGISTRY.get("model", spec.key)
        spec_obj = spec
    model: nn.Module = component.obj(spec_obj, input_shape=tuple(input_shape), num_classes=num_classes)
    return tag_model(model, component.key, spec_obj, input_shape=tuple(input_shape), num_classes=num_classes)


__all__ = [
    "FeatureClassifier",
    "build_model",
    "cifar_resnet",
    "cnn",
    "conv_lstm",
    "count_parameters",
    "lstm",
    "mlp",
    "mobilenetv2",
    "resnet",
    "shufflenet",
    "vgg",
    "wrn",
]
