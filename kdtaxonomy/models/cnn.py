"""Plain convolutional networks, 1-D (``cnn1d``) and 2-D (``cnn2d``)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from kdtaxonomy.models.base import FeatureClassifier, conv_block, global_avg_pool, spatial_dims
from kdtaxonomy.registry import register
from kdtaxonomy.specs.models import CNN1dSpec, CNN2dSpec


def _cnn(
    dims: int,
    *,
    width: int,
    depth: int,
    kernel_size: int,
    dropout: float,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> FeatureClassifier:
    body: OrderedDict[str, nn.Module] = OrderedDict()
    cin = int(input_shape[0])
    for i in range(depth):
        cout = width * 2 ** min(i, 2)
        body[f"block{i + 1}"] = conv_block(dims, cin, cout, kernel_size)
        cin = cout
    return FeatureClassifier(
        body,
        pool=global_avg_pool(dims),
        embedding_dim=cin,
        num_classes=num_classes,
        input_shape=input_shape,
        dropout=dropout,
        extra_locations={f"preact{i + 1}": f"body.block{i + 1}.1" for i in range(depth)},
    )


@register(spec=CNN1dSpec, input_dims=(1,))
def build_cnn1d(spec: CNN1dSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """1-D CNN: ``depth`` blocks of Conv1d, BatchNorm, ReLU, max pooling; global average pooling; linear.

    Block ``i`` (from 0) has ``width * 2**min(i, 2)`` channels; locations ``block1``... are the blocks'
    outputs ``(B, C, L)``, ``preact1``... their BatchNorm outputs before the ReLU (at the size before the
    block's pooling) and ``embedding`` the pooled vector ``(B, C)``.
    """
    spatial_dims(input_shape, (1,), "cnn1d")
    cfg = spec.resolved()
    return _cnn(
        1,
        width=int(cfg["width"]),
        depth=int(cfg["depth"]),
        kernel_size=int(cfg["kernel_size"]),
        dropout=float(cfg["dropout"]),
        input_shape=input_shape,
        num_classes=num_classes,
    )


@register(spec=CNN2dSpec, input_dims=(2,))
def build_cnn2d(spec: CNN2dSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """2-D CNN: ``depth`` blocks of Conv2d, BatchNorm, ReLU, max pooling; global average pooling; linear.

    Block ``i`` (from 0) has ``width * 2**min(i, 2)`` channels; locations ``block1``... are the blocks'
    outputs ``(B, C, H, W)``, ``preact1``... their BatchNorm outputs before the ReLU (at the size before the
    block's pooling) and ``embedding`` the pooled vector ``(B, C)``.
    """
    spatial_dims(input_shape, (2,), "cnn2d")
    cfg = spec.resolved()
    return _cnn(
        2,
        width=int(cfg["width"]),
        depth=int(cfg["depth"]),
        kernel_size=int(cfg["kernel_size"]),
        dropout=float(cfg["dropout"]),
        input_shape=input_shape,
        num_classes=num_classes,
    )
