"""VGG networks for CIFAR with BatchNorm (``vgg8``, ``vgg11``, ``vgg13``).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition" (ICLR 2015),
Table 1 configurations A (11) and B (13), in the CIFAR form of RepDistiller (Tian et al., ICLR 2020): BatchNorm
after every convolution, the three fully connected layers replaced by one linear classifier on the globally
pooled 512 channels, and no max pooling before the last group on 32 x 32 inputs; ``vgg8`` is RepDistiller's
configuration 'S' (one convolution a group).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from kdtaxonomy.models.base import (
    cifar_classifier,
    max_pool,
    register_named,
    spatial_dims,
)
from kdtaxonomy.specs.models import CifarVGGSpec


def _group(cin: int, widths: Sequence[int], *, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [max_pool(2)] if pool else []
    for cout in widths:
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        cin = cout
    return nn.Sequential(*layers)


@register_named(CifarVGGSpec)
def build_cifar_vgg(spec: CifarVGGSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """CIFAR VGG (Simonyan & Zisserman 2015, Table 1, with BatchNorm): five groups of 3 x 3 convolutions
    (BN, ReLU), 2 x 2 max pooling between them, global average pooling and one linear classifier.

    As in RepDistiller, the pooling between groups 4 and 5 is kept only for inputs at least 64 high, so a
    32 x 32 image ends in 4 x 4 maps. The first group is the stem; locations ``block1``..``block4`` are the
    outputs of groups 2-5 (RepDistiller's features 1-4) and ``embedding`` the pooled vector.
    """
    spatial_dims(input_shape, (2,), spec.key)
    first, *rest = spec.groups
    body: OrderedDict[str, nn.Module] = OrderedDict(stem=_group(int(input_shape[0]), first, pool=False))
    cin = first[-1]
    for i, widths in enumerate(rest):
        pool = i < len(rest) - 1 or int(input_shape[1]) >= 64
        body[f"block{i + 1}"] = _group(cin, widths, pool=pool)
        cin = widths[-1]
    return cifar_classifier(body, cin, num_classes=num_classes, input_shape=input_shape)
