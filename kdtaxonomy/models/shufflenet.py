"""ShuffleNet V1 and V2 for CIFAR (``shufflenetv1``, ``shufflenetv2``).

Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices" (CVPR 2018),
and Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design" (ECCV 2018), in the
CIFAR form of RepDistiller (Tian et al., ICLR 2020): the ImageNet stem (3 x 3 stride-2 convolution and max
pooling) becomes a 1 x 1, 24-channel convolution at full resolution, so 32 x 32 inputs end in 4 x 4 maps.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from kdtaxonomy.models.base import (
    cifar_classifier,
    conv_bn,
    register_named,
    spatial_dims,
)
from kdtaxonomy.specs.models import ShuffleNetV1Spec, ShuffleNetV2Spec

STEM = 24
"""Channels of the 1 x 1 stem (both papers' first layer has 24)."""


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` groups (Zhang et al. 2018, Sec. 3.1 and Fig. 1c)."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNet V1 unit (Zhang et al. 2018, Fig. 2b/c): 1 x 1 group convolution to a quarter of the branch's
    channels (BN, ReLU), channel shuffle, 3 x 3 depthwise with the stride (BN, and ReLU as in RepDistiller,
    where the paper has none), 1 x 1 group convolution (BN); added to the input, or at stride 2 concatenated
    with the input's 3 x 3 average pooling; then ReLU. The first unit after the stem has an ungrouped first
    convolution (its input has only 24 channels, Sec. 3.3)."""

    def __init__(self, cin: int, cout: int, *, stride: int, groups: int) -> None:
        super().__init__()
        branch = cout - cin if stride == 2 else cout
        mid = branch // 4
        self.first_groups = 1 if cin == STEM else groups
        self.reduce = conv_bn(cin, mid, 1, groups=self.first_groups)
        self.depthwise = conv_bn(mid, mid, 3, stride=stride, groups=mid)
        self.expand = conv_bn(mid, branch, 1, groups=groups, relu=False)
        self.pool: nn.Module | None = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        h = channel_shuffle(self.reduce(x), self.first_groups)
        h = self.expand(self.depthwise(h))
        out = h + x if self.pool is None else torch.cat([h, self.pool(x)], 1)
        result: Tensor = self.relu(out)
        return result


@register_named(ShuffleNetV1Spec)
def build_shufflenetv1(
    spec: ShuffleNetV1Spec, *, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """ShuffleNet V1, g = 3 (Zhang et al. 2018, Table 1): a 1 x 1 stem, three stages of 4/8/4 units with
    240/480/960 output channels (the first unit of each halves the resolution), global average pooling and a
    linear classifier. Locations ``block1``..``block3`` are the stages' outputs, ``embedding`` the pooled
    vector.
    """
    spatial_dims(input_shape, (2,), spec.key)
    body: OrderedDict[str, nn.Module] = OrderedDict(stem=conv_bn(int(input_shape[0]), STEM, 1))
    cin = STEM
    for i, (cout, count) in enumerate(zip(spec.channels, spec.blocks, strict=True)):
        units = [
            ShuffleUnit(cin if j == 0 else cout, cout, stride=2 if j == 0 else 1, groups=spec.groups)
            for j in range(count)
        ]
        body[f"block{i + 1}"] = nn.Sequential(*units)
        cin = cout
    return cifar_classifier(body, cin, num_classes=num_classes, input_shape=input_shape)


class ShuffleV2Unit(nn.Module):
    """ShuffleNet V2 unit (Ma et al. 2018, Fig. 3c/d). Stride 1: half the channels pass through, the other half
    go through 1 x 1 (BN, ReLU), 3 x 3 depthwise (BN), 1 x 1 (BN, ReLU). Stride 2: both halves of the output
    come from the whole input, one branch as before with a stride-2 depthwise, the other a stride-2 depthwise
    (BN) then 1 x 1 (BN, ReLU). The halves are concatenated and shuffled in 2 groups."""

    def __init__(self, cin: int, cout: int, *, stride: int) -> None:
        super().__init__()
        half = cout // 2
        self.stride = stride
        branch_in = cin if stride == 2 else cin // 2
        self.branch = nn.Sequential(
            conv_bn(branch_in, half, 1),
            conv_bn(half, half, 3, stride=stride, groups=half, relu=False),
            conv_bn(half, half, 1),
        )
        self.side: nn.Module | None = None
        if stride == 2:
            self.side = nn.Sequential(
                conv_bn(cin, cin, 3, stride=2, groups=cin, relu=False), conv_bn(cin, half, 1)
            )

    def forward(self, x: Tensor) -> Tensor:
        if self.side is None:
            keep, rest = x.chunk(2, dim=1)
            out = torch.cat([keep, self.branch(rest)], 1)
        else:
            out = torch.cat([self.side(x), self.branch(x)], 1)
        return channel_shuffle(out, 2)


@register_named(ShuffleNetV2Spec)
def build_shufflenetv2(
    spec: ShuffleNetV2Spec, *, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """ShuffleNet V2 1x (Ma et al. 2018, Table 5): a 1 x 1 stem, three stages of 4/8/4 units with 116/232/464
    channels (the first unit of each halves the resolution), a 1 x 1 convolution to 1024 channels, global
    average pooling and a linear classifier. Locations ``block1``..``block3`` are the stages' outputs,
    ``embedding`` the pooled vector.
    """
    spatial_dims(input_shape, (2,), spec.key)
    body: OrderedDict[str, nn.Module] = OrderedDict(stem=conv_bn(int(input_shape[0]), STEM, 1))
    cin = STEM
    *stages, last = spec.channels
    for i, (cout, count) in enumerate(zip(stages, spec.blocks, strict=True)):
        units = [
            ShuffleV2Unit(cin if j == 0 else cout, cout, stride=2 if j == 0 else 1) for j in range(count)
        ]
        body[f"block{i + 1}"] = nn.Sequential(*units)
        cin = cout
    body["last_conv"] = conv_bn(cin, last, 1)
    return cifar_classifier(body, last, num_classes=num_classes, input_shape=input_shape)
