"""Wide residual networks WRN-d-k (``wrn-16-1``, ``wrn-16-2``, ``wrn-40-1``, ``wrn-40-2``).

Zagoruyko & Komodakis, "Wide Residual Networks" (BMVC 2016), Sec. 2 and Table 1, with the pre-activation
basic block B(3,3) and no dropout, as in RepDistiller (Tian et al., ICLR 2020).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from kdtaxonomy.models.base import cifar_classifier, register_named, spatial_dims
from kdtaxonomy.specs.models import WideResNetSpec


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3 (with the stride)-BN-ReLU-conv3x3 plus a shortcut: the identity, or a 1 x 1 convolution
    of the pre-activated input where the shape changes (He et al. 2016b, "Identity Mappings", Fig. 4e)."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1) -> None:
        super().__init__()
        self.pre = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        self.branch = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        )
        self.projection: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.projection = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h = self.pre(x)
        shortcut = x if self.projection is None else self.projection(h)
        out: Tensor = self.branch(h) + shortcut
        return out


@register_named(WideResNetSpec)
def build_wide_resnet(spec: WideResNetSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """WRN-d-k (Zagoruyko & Komodakis 2016, Table 1): a 3 x 3, 16-channel stem, then 3 stages of
    ``(d - 4) / 6`` pre-activation blocks with ``16k``, ``32k``, ``64k`` channels (stages 2 and 3 halve the
    resolution), a final BN-ReLU and global average pooling.

    Locations ``block1``..``block3`` are the stages' outputs (before the next BN-ReLU, as RepDistiller reads
    them); ``embedding`` is the pooled vector.
    """
    spatial_dims(input_shape, (2,), spec.key)
    if (spec.depth - 4) % 6:
        raise ValueError(f"{spec.key}: depth {spec.depth} is not 6n + 4")
    n = (spec.depth - 4) // 6
    body: OrderedDict[str, nn.Module] = OrderedDict(
        stem=nn.Conv2d(int(input_shape[0]), 16, 3, padding=1, bias=False)
    )
    cin = 16
    for i in range(3):
        cout = 16 * 2**i * spec.widen
        blocks = [
            PreActBlock(cin if j == 0 else cout, cout, stride=2 if i > 0 and j == 0 else 1) for j in range(n)
        ]
        body[f"block{i + 1}"] = nn.Sequential(*blocks)
        cin = cout
    body["post"] = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
    return cifar_classifier(body, cin, num_classes=num_classes, input_shape=input_shape)
