"""Residual networks of basic blocks, 1-D (``resnet1d``) and 2-D (``resnet2d``)."""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from kdtaxonomy.models.base import FeatureClassifier, batch_norm, conv, global_avg_pool, spatial_dims
from kdtaxonomy.registry import register
from kdtaxonomy.specs.models import ResNet1dSpec, ResNet2dSpec


class BasicBlock(nn.Module):
    """Two 3-tap (3 x 3) convolutions with BatchNorm and a shortcut (1 x 1 convolution if shapes differ)."""

    def __init__(self, dims: int, cin: int, cout: int, *, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv(dims, cin, cout, 3, stride=stride, bias=False)
        self.bn1 = batch_norm(dims, cout)
        self.conv2 = conv(dims, cout, cout, 3, bias=False)
        self.bn2 = batch_norm(dims, cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                (nn.Conv1d if dims == 1 else nn.Conv2d)(cin, cout, 1, stride=stride, bias=False),
                batch_norm(dims, cout),
            )

    def forward(self, x: Tensor) -> Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        out: Tensor = self.relu(h + self.shortcut(x))
        return out


def _resnet(
    dims: int,
    *,
    width: int,
    depth: int,
    blocks: int,
    stem_kernel_size: int,
    input_shape: tuple[int, ...],
    num_classes: int,
) -> FeatureClassifier:
    body: OrderedDict[str, nn.Module] = OrderedDict()
    body["stem"] = nn.Sequential(
        conv(dims, int(input_shape[0]), width, stem_kernel_size, bias=False),
        batch_norm(dims, width),
        nn.ReLU(inplace=True),
    )
    cin = width
    for i in range(depth):
        cout = width * 2**i
        stage = [
            BasicBlock(dims, cin if j == 0 else cout, cout, stride=2 if i > 0 and j == 0 else 1)
            for j in range(blocks)
        ]
        body[f"block{i + 1}"] = nn.Sequential(*stage)
        cin = cout
    return FeatureClassifier(
        body, pool=global_avg_pool(dims), embedding_dim=cin, num_classes=num_classes, input_shape=input_shape
    )


@register(spec=ResNet1dSpec, input_dims=(1,))
def build_resnet1d(spec: ResNet1dSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """1-D ResNet: Conv1d stem, ``depth`` stages of basic residual blocks (BatchNorm), global average pooling.

    Stage ``i`` (from 0) has ``width * 2**i`` channels and, after the first, halves the length; locations
    ``block1``... are the stages' outputs ``(B, C, L)`` and ``embedding`` the pooled vector ``(B, C)``.
    """
    spatial_dims(input_shape, (1,), "resnet1d")
    cfg = spec.resolved()
    return _resnet(
        1,
        width=int(cfg["width"]),
        depth=int(cfg["depth"]),
        blocks=int(cfg["blocks"]),
        stem_kernel_size=int(cfg["stem_kernel_size"]),
        input_shape=input_shape,
        num_classes=num_classes,
    )


@register(spec=ResNet2dSpec, input_dims=(2,))
def build_resnet2d(spec: ResNet2dSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """2-D ResNet: 3 x 3 stem, ``depth`` stages of basic residual blocks (BatchNorm), global average pooling.

    Stage ``i`` (from 0) has ``width * 2**i`` channels and, after the first, halves the resolution; locations
    ``block1``... are the stages' outputs ``(B, C, H, W)`` and ``embedding`` the pooled vector ``(B, C)``.
    """
    spatial_dims(input_shape, (2,), "resnet2d")
    cfg = spec.resolved()
    return _resnet(
        2,
        width=int(cfg["width"]),
        depth=int(cfg["depth"]),
        blocks=int(cfg["blocks"]),
        stem_kernel_size=3,
        input_shape=input_shape,
        num_classes=num_classes,
    )
