"""Multi-layer perceptron on the flattened input (1-D or 2-D inputs)."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from kdtaxonomy.models.base import FeatureClassifier, spatial_dims
from kdtaxonomy.registry import register
from kdtaxonomy.specs.models import MLPSpec


@register(spec=MLPSpec, input_dims=(1, 2))
def build(spec: MLPSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Multi-layer perceptron: flatten, ``depth`` blocks of Linear + ReLU (+ dropout), a linear classifier.

    Locations ``block1``... are the hidden layers' outputs, vectors ``(B, width)``; ``embedding`` is the
    last one.
    """
    spatial_dims(input_shape, (1, 2), "mlp")
    cfg = spec.resolved()
    width, depth, dropout = int(cfg["width"]), int(cfg["depth"]), float(cfg["dropout"])
    body: OrderedDict[str, nn.Module] = OrderedDict()
    features = math.prod(input_shape)
    for i in range(depth):
        layers: list[nn.Module] = [nn.Flatten(1)] if i == 0 else []
        layers += [nn.Linear(features, width), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        body[f"block{i + 1}"] = nn.Sequential(*layers)
        features = width
    return FeatureClassifier(body, embedding_dim=width, num_classes=num_classes, input_shape=input_shape)
