"""ResNets of the CIFAR knowledge-distillation benchmarks: ``resnet8`` ... ``resnet110``, ``resnet8x4``,
``resnet32x4`` (basic blocks, 3 stages) and ``resnet50`` (bottleneck blocks, 4 stages).

Layouts follow He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016) as RepDistiller (Tian et
al., ICLR 2020) implements them for CIFAR; the names are RepDistiller's.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from kdtaxonomy.models.base import (
    cifar_classifier,
    conv_bn,
    register_named,
    spatial_dims,
)
from kdtaxonomy.models.resnet import BasicBlock
from kdtaxonomy.specs.models import CifarBottleneckResNetSpec, CifarResNetSpec


@register_named(CifarResNetSpec)
def build_cifar_resnet(spec: CifarResNetSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """CIFAR ResNet (He et al. 2016, Sec. 4.2): a 3 x 3 stem and 3 stages of ``(depth - 2) / 6`` basic blocks.

    As in RepDistiller, shortcuts are identities where the shape is kept and 1 x 1 convolutions with BatchNorm
    (He et al.'s option B) where it changes; the paper's CIFAR nets use zero-padded identities (option A),
    2,752 parameters fewer for the 16/32/64-channel nets. Stages 2 and 3 halve the resolution. Locations
    ``block1``..``block3`` are the stages' outputs, ``embedding`` the globally average-pooled vector.
    """
    spatial_dims(input_shape, (2,), spec.key)
    if (spec.depth - 2) % 6:
        raise ValueError(f"{spec.key}: depth {spec.depth} is not 6n + 2")
    n = (spec.depth - 2) // 6
    stem, *stages = spec.widths
    body: OrderedDict[str, nn.Module] = OrderedDict(stem=conv_bn(int(input_shape[0]), stem, 3))
    cin = stem
    for i, cout in enumerate(stages):
        blocks = [
            BasicBlock(2, cin if j == 0 else cout, cout, stride=2 if i > 0 and j == 0 else 1)
            for j in range(n)
        ]
        body[f"block{i + 1}"] = nn.Sequential(*blocks)
        cin = cout
    return cifar_classifier(body, cin, num_classes=num_classes, input_shape=input_shape)


class Bottleneck(nn.Module):
    """1 x 1 reduce, 3 x 3 (with the stride), 1 x 1 expand by 4, each with BatchNorm; projection shortcut where
    the shape changes (He et al. 2016, Sec. 4.1 and Fig. 5 right)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, *, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.branch = nn.Sequential(
            conv_bn(cin, planes, 1),
            conv_bn(planes, planes, 3, stride=stride),
            conv_bn(planes, cout, 1, relu=False),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = conv_bn(cin, cout, 1, stride=stride, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.relu(self.branch(x) + self.shortcut(x))
        return out


@register_named(CifarBottleneckResNetSpec)
def build_cifar_bottleneck_resnet(
    spec: CifarBottleneckResNetSpec, *, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """Bottleneck ResNet for small images (He et al. 2016, Table 1, 50-layer column; RepDistiller ResNet50).

    ImageNet's 7 x 7 stride-2 stem and max pooling become one 3 x 3, 64-channel convolution at full resolution;
    4 stages of bottleneck blocks with 64/128/256/512 inner channels (x 4 out), stages 2-4 halving the
    resolution. Locations ``block1``..``block4`` are the stages' outputs, ``embedding`` the pooled vector.
    """
    spatial_dims(input_shape, (2,), spec.key)
    body: OrderedDict[str, nn.Module] = OrderedDict(stem=conv_bn(int(input_shape[0]), 64, 3))
    cin = 64
    for i, count in enumerate(spec.blocks):
        planes = 64 * 2**i
        blocks = []
        for j in range(count):
            blocks.append(Bottleneck(cin, planes, stride=2 if i > 0 and j == 0 else 1))
            cin = planes * Bottleneck.expansion
        body[f"block{i + 1}"] = nn.Sequential(*blocks)
    return cifar_classifier(body, cin, num_classes=num_classes, input_shape=input_shape)
