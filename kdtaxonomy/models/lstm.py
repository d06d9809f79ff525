"""Stacked LSTM classifier over 1-D sequences."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from kdtaxonomy.models.base import FeatureClassifier, LSTMBlock, SequencePool, spatial_dims
from kdtaxonomy.registry import register
from kdtaxonomy.specs.models import LSTMSpec


@register(spec=LSTMSpec, input_dims=(1,))
def build(spec: LSTMSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Stacked LSTM: the input ``(B, C, L)`` is read as ``L`` steps of ``C`` features; one layer per block.

    Each layer is its own block, so locations ``block1``... give every layer's sequence features as a map
    ``(B, hidden * directions, L)``; ``embedding`` is the last step of the top layer (or the mean over steps).
    """
    spatial_dims(input_shape, (1,), "lstm")
    cfg = spec.resolved()
    hidden, layers, bidirectional = int(cfg["hidden"]), int(cfg["layers"]), bool(cfg["bidirectional"])
    body: OrderedDict[str, nn.Module] = OrderedDict()
    cin = int(input_shape[0])
    for i in range(layers):
        block = LSTMBlock(cin, hidden, bidirectional=bidirectional)
        body[f"block{i + 1}"] = block
        cin = block.out_channels
    return FeatureClassifier(
        body,
        pool=SequencePool(str(cfg["pooling"]), bidirectional=bidirectional),
        embedding_dim=cin,
        num_classes=num_classes,
        input_shape=input_shape,
    )
