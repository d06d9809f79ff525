"""MobileNetV2 for CIFAR (``mobilenetv2``).

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (CVPR 2018), Sec. 3-4 and Table 2, in
the CIFAR form RepDistiller (Tian et al., ICLR 2020) calls ``mobile_half`` and its tables "MobileNetV2": width
multiplier 0.5, expansion 6, the second stage without its stride (a total stride of 16), ReLU for ReLU6, and
an expansion convolution in every block, the first (expansion 1) included.
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
from kdtaxonomy.specs.models import MobileNetV2Spec

STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
"""Sandler et al. Table 2 rows ``(t, c, n, s)`` (a ``t`` of 6 is the spec's expansion), with RepDistiller's
stride 1 for the 24-channel stage."""
LOCATIONS = ((0, 1), (2,), (3, 4), (5, 6))
"""Stages (indices into :data:`STAGES`) of the locations ``block1``..``block4`` (RepDistiller's features 1-4)."""


class InvertedResidual(nn.Module):
    """1 x 1 expansion (BN, ReLU), 3 x 3 depthwise with the stride (BN, ReLU), linear 1 x 1 projection (BN);
    the input is added when the stride is 1 and the channels match (Sandler et al. 2018, Table 1, Fig. 4d)."""

    def __init__(self, cin: int, cout: int, *, stride: int, expansion: int) -> None:
        super().__init__()
        mid = cin * expansion
        self.branch = nn.Sequential(
            conv_bn(cin, mid, 1),
            conv_bn(mid, mid, 3, stride=stride, groups=mid),
            conv_bn(mid, cout, 1, relu=False),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.branch(x)
        return x + out if self.residual else out


@register_named(MobileNetV2Spec)
def build_mobilenetv2(spec: MobileNetV2Spec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """MobileNetV2 for CIFAR (Sandler et al. 2018, Table 2; RepDistiller mobile_half): a 3 x 3 stride-2 stem of
    ``32 w`` channels, seven stages of inverted residual blocks of ``int(c w)`` channels, a 1 x 1 convolution
    to 1280 channels, global average pooling and a linear classifier.

    Locations ``block1``..``block4`` are the outputs of stages 1-2, 3, 4-5 and 6-7 (strides 2, 4, 8, 16) and
    ``embedding`` the pooled 1280-vector.
    """
    spatial_dims(input_shape, (2,), spec.key)
    cin = int(32 * spec.width)
    body: OrderedDict[str, nn.Module] = OrderedDict(stem=conv_bn(int(input_shape[0]), cin, 3, stride=2))
    for name, stages in zip(("block1", "block2", "block3", "block4"), LOCATIONS, strict=True):
        blocks = []
        for t, c, n, s in (STAGES[i] for i in stages):
            cout = int(c * spec.width)
            for j in range(n):
                expansion = spec.expansion if t > 1 else 1
                blocks.append(InvertedResidual(cin, cout, stride=s if j == 0 else 1, expansion=expansion))
                cin = cout
        body[name] = nn.Sequential(*blocks)
    last = int(1280 * spec.width) if spec.width > 1.0 else 1280
    body["last_conv"] = conv_bn(cin, last, 1)
    return cifar_classifier(body, last, num_classes=num_classes, input_shape=input_shape)
