"""Conv-LSTM: convolutions followed by a stacked bidirectional LSTM (the assistant of seed paper 004)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from kdtaxonomy.models.base import FeatureClassifier, LSTMBlock, SequencePool, conv_block, spatial_dims
from kdtaxonomy.registry import register
from kdtaxonomy.specs.models import ConvLSTMSpec

CHANNEL_RATIOS = (1.0, 2.0, 4.0, 300 / 64)
"""Depths of the paper's four convolutions (64, 128, 256, 300) relative to the first."""


def conv_channels(width: int, layers: int) -> list[int]:
    """Channels of the convolutions: the paper's ratios, then doubling beyond four layers."""
    ratios = [
        CHANNEL_RATIOS[i] if i < len(CHANNEL_RATIOS) else CHANNEL_RATIOS[-1] * 2 ** (i - 3)
        for i in range(layers)
    ]
    return [max(1, round(width * r)) for r in ratios]


@register(spec=ConvLSTMSpec, input_dims=(1, 2))
def build(spec: ConvLSTMSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Conv-LSTM assistant of Ghosh Dastidar et al. (seed paper 004, multi-script identification), at small scale.

    The paper's assistant: four 3 x 3 convolutions of depth 64, 128, 256, 300, each followed by max pooling, a
    two-layer stacked bidirectional LSTM with 256 hidden units, and two linear layers. Here: ``conv_layers``
    blocks (Conv + BatchNorm + ReLU + max pooling by 2) with the same depth ratios from ``width``, then
    ``lstm_layers`` bidirectional LSTM layers of ``hidden`` units, then Linear(2 * hidden, hidden) + ReLU and
    the classifier Linear(hidden, num_classes). 1-D inputs ``(C, L)`` run the LSTM along ``L``; images
    ``(C, H, W)`` use 2-D convolutions, and the first LSTM layer averages the height away and reads the width.

    Locations: ``block1``... the convolution blocks, then the LSTM layers (maps ``(B, 2 * hidden, steps)``);
    ``lstm`` the LSTM summary vector ``(B, 2 * hidden)`` (the paper's feature "after passing through the lstm
    module"); ``embedding`` the output of the first linear layer ``(B, hidden)``.
    """
    dims = spatial_dims(input_shape, (1, 2), "conv-lstm")
    cfg = spec.resolved()
    hidden, kernel_size = int(cfg["hidden"]), int(cfg["kernel_size"])
    body: OrderedDict[str, nn.Module] = OrderedDict()
    cin = int(input_shape[0])
    for cout in conv_channels(int(cfg["width"]), int(cfg["conv_layers"])):
        body[f"block{len(body) + 1}"] = conv_block(dims, cin, cout, kernel_size)
        cin = cout
    for _ in range(int(cfg["lstm_layers"])):
        block = LSTMBlock(cin, hidden, bidirectional=True)
        body[f"block{len(body) + 1}"] = block
        cin = block.out_channels
    dropout = float(cfg["dropout"])
    head = nn.Sequential(
        nn.Linear(cin, hidden), nn.ReLU(inplace=True), *([nn.Dropout(dropout)] if dropout > 0 else [])
    )
    return FeatureClassifier(
        body,
        pool=SequencePool("last", bidirectional=True),
        head=head,
        embedding_dim=hidden,
        num_classes=num_classes,
        input_shape=input_shape,
        extra_locations={"lstm": "pool"},
    )
