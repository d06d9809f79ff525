"""Specs of the model architectures (kind ``model``), importable without torch.

Every architecture comes in four size presets, ``tiny`` < ``small`` < ``medium`` < ``large`` (parameter
counts increase strictly with the size for the same input), small enough to train on MNIST-1D on a laptop
CPU: ``tiny`` has a few thousand parameters, ``large`` a few hundred thousand. Explicit fields (``width``,
``depth``, ...) override the preset one by one; :meth:`ModelSpec.resolved` gives the effective values.

The named architectures of the CIFAR knowledge-distillation benchmarks (``resnet8`` ... ``resnet110``,
``resnet8x4``, ``resnet32x4``, ``resnet50``, ``wrn-16-1`` ... ``wrn-40-2``, ``vgg8``, ``vgg11``, ``vgg13``,
``mobilenetv2``, ``shufflenetv1``, ``shufflenetv2``; :class:`PublishedModelSpec`) are the exception: one key
per published architecture, of a single size.

Builders (``kdtaxonomy.models``) return modules whose ``forward(x)`` gives logits ``(B, num_classes)``, with a
``locations`` mapping (``embedding``, ``block1``, ``block2``, ...) to submodule paths and a ``classifier``
(the final ``nn.Linear``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from kdtaxonomy.specs import Spec

Size = Literal["tiny", "small", "medium", "large"]
SIZES: tuple[Size, ...] = ("tiny", "small", "medium", "large")
"""The size presets, smallest first."""


class ModelSpec(Spec):
    """Base of the model specs: a size preset with per-field overrides."""

    kind: ClassVar[str] = "model"
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    """Field values of each size preset (used for the fields left at ``None``)."""

    sized: ClassVar[bool] = True
    """Whether ``size`` selects among :attr:`presets` (False for a named architecture of a single size)."""

    size: Size = "small"
    """Size preset: ``tiny``, ``small``, ``medium`` or ``large``."""

    def resolved(self) -> dict[str, Any]:
        """The effective architecture values: the preset of ``size`` with every explicit field applied."""
        values = dict(self.presets.get(self.size, {}))
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name != "size" and value is not None:
                values[name] = value
        return values


class MLPSpec(ModelSpec):
    """Multi-layer perceptron on the flattened input."""

    key: ClassVar[str] = "mlp"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"width": 32, "depth": 2},
        "small": {"width": 64, "depth": 2},
        "medium": {"width": 128, "depth": 3},
        "large": {"width": 256, "depth": 3},
    }

    width: int | None = Field(default=None, ge=1)
    """Units of every hidden layer (preset: 32, 64, 128, 256)."""
    depth: int | None = Field(default=None, ge=1)
    """Number of hidden layers, i.e. blocks (preset: 2, 2, 3, 3)."""
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Dropout probability after every hidden layer."""


class CNN1dSpec(ModelSpec):
    """Plain 1-D convolutional network: blocks of convolution, BatchNorm, ReLU and max pooling."""

    key: ClassVar[str] = "cnn1d"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"width": 16, "depth": 2},
        "small": {"width": 16, "depth": 3},
        "medium": {"width": 32, "depth": 3},
        "large": {"width": 32, "depth": 4},
    }

    width: int | None = Field(default=None, ge=1)
    """Channels of the first block; block ``i`` (from 0) has ``width * 2**min(i, 2)`` (preset: 16, 16, 32,
    32)."""
    depth: int | None = Field(default=None, ge=1)
    """Number of convolutional blocks (preset: 2, 3, 3, 4)."""
    kernel_size: int = Field(default=5, ge=1)
    """Convolution kernel size (odd sizes keep the length before pooling)."""
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Dropout probability before the classifier."""


class ResNet1dSpec(ModelSpec):
    """1-D residual network of basic blocks (two 3-tap convolutions with BatchNorm and a shortcut)."""

    key: ClassVar[str] = "resnet1d"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"width": 10, "depth": 2, "blocks": 1},
        "small": {"width": 16, "depth": 2, "blocks": 1},
        "medium": {"width": 16, "depth": 3, "blocks": 2},
        "large": {"width": 32, "depth": 3, "blocks": 2},
    }

    width: int | None = Field(default=None, ge=1)
    """Channels of the stem and the first stage; stage ``i`` has ``width * 2**i`` (preset: 10, 16, 16, 32)."""
    depth: int | None = Field(default=None, ge=1)
    """Number of stages, each a location ``blockN``; stages after the first halve the length (preset: 2, 2,
    3, 3)."""
    blocks: int | None = Field(default=None, ge=1)
    """Basic residual blocks per stage (preset: 1, 1, 2, 2)."""
    stem_kernel_size: int = Field(default=5, ge=1)
    """Kernel size of the stem convolution."""


class LSTMSpec(ModelSpec):
    """Stacked LSTM over the sequence axis; input channels are the features of each time step."""

    key: ClassVar[str] = "lstm"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"hidden": 16, "layers": 2},
        "small": {"hidden": 32, "layers": 2},
        "medium": {"hidden": 64, "layers": 2},
        "large": {"hidden": 128, "layers": 2},
    }

    hidden: int | None = Field(default=None, ge=1)
    """Hidden units per direction of every layer (preset: 16, 32, 64, 128)."""
    layers: int | None = Field(default=None, ge=1)
    """Stacked LSTM layers, each a location ``blockN`` (preset: 2, 2, 2, 2)."""
    bidirectional: bool = False
    """Run every layer in both directions (doubles the feature size)."""
    pooling: Literal["last", "mean"] = "last"
    """Sequence summary fed to the classifier: the last step (first step for the backward direction) or the
    mean over steps."""


class ConvLSTMSpec(ModelSpec):
    """Convolutions, then a stacked bidirectional LSTM and two linear layers (the assistant of seed paper 004).

    Mirrors, at small scale, the Conv-LSTM assistant of Ghosh Dastidar et al., "Exploring Knowledge
    Distillation of a Deep Neural Network for Multi-Script Identification" (seed paper 004): four 3-tap
    convolutions of depths in the ratio 64:128:256:300, each followed by max pooling, a two-layer stacked
    bidirectional LSTM and two linear layers. The ``medium`` and ``large`` presets keep this layout (four
    convolutions, two LSTM layers); ``tiny`` and ``small`` use fewer convolutions. 1-D inputs ``(C, L)`` use
    1-D convolutions and run the LSTM along ``L``; image inputs ``(C, H, W)`` use 2-D convolutions, average
    the height away and run the LSTM along the width (the reading direction of the paper's scene-text
    images).
    """

    key: ClassVar[str] = "conv-lstm"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"width": 6, "conv_layers": 2, "hidden": 10, "lstm_layers": 1},
        "small": {"width": 8, "conv_layers": 3, "hidden": 16, "lstm_layers": 2},
        "medium": {"width": 12, "conv_layers": 4, "hidden": 32, "lstm_layers": 2},
        "large": {"width": 24, "conv_layers": 4, "hidden": 64, "lstm_layers": 2},
    }

    width: int | None = Field(default=None, ge=1)
    """Channels of the first convolution; the others follow the paper's ratios 1 : 2 : 4 : 4.6875
    (64 : 128 : 256 : 300), extended by doubling (preset: 6, 8, 12, 24)."""
    conv_layers: int | None = Field(default=None, ge=1)
    """Convolution + max-pooling blocks (paper: 4; preset: 2, 3, 4, 4)."""
    hidden: int | None = Field(default=None, ge=1)
    """LSTM hidden units per direction; also the size of the first linear layer (paper: 256; preset: 10, 16,
    32, 64)."""
    lstm_layers: int | None = Field(default=None, ge=1)
    """Stacked bidirectional LSTM layers (paper: 2; preset: 1, 2, 2, 2)."""
    kernel_size: int = Field(default=3, ge=1)
    """Convolution kernel size (paper: 3 x 3)."""
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Dropout probability between the two linear layers."""


class CNN2dSpec(ModelSpec):
    """Plain 2-D convolutional network: blocks of 3 x 3 convolution, BatchNorm, ReLU and 2 x 2 max pooling."""

    key: ClassVar[str] = "cnn2d"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"width": 12, "depth": 2},
        "small": {"width": 12, "depth": 3},
        "medium": {"width": 24, "depth": 3},
        "large": {"width": 32, "depth": 4},
    }

    width: int | None = Field(default=None, ge=1)
    """Channels of the first block; block ``i`` (from 0) has ``width * 2**min(i, 2)`` (preset: 12, 12, 24,
    32)."""
    depth: int | None = Field(default=None, ge=1)
    """Number of convolutional blocks (preset: 2, 3, 3, 4)."""
    kernel_size: int = Field(default=3, ge=1)
    """Convolution kernel size."""
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Dropout probability before the classifier."""


class ResNet2dSpec(ModelSpec):
    """2-D residual network of basic blocks (two 3 x 3 convolutions with BatchNorm and a shortcut)."""

    key: ClassVar[str] = "resnet2d"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"width": 6, "depth": 2, "blocks": 1},
        "small": {"width": 12, "depth": 2, "blocks": 1},
        "medium": {"width": 16, "depth": 3, "blocks": 1},
        "large": {"width": 16, "depth": 3, "blocks": 2},
    }

    width: int | None = Field(default=None, ge=1)
    """Channels of the stem and the first stage; stage ``i`` has ``width * 2**i`` (preset: 6, 12, 16, 16)."""
    depth: int | None = Field(default=None, ge=1)
    """Number of stages, each a location ``blockN``; stages after the first halve the resolution (preset:
    2, 2, 3, 3)."""
    blocks: int | None = Field(default=None, ge=1)
    """Basic residual blocks per stage (preset: 1, 1, 1, 2)."""


# -- Named architectures of the CIFAR knowledge-distillation benchmarks --------------------------------------
# One registry key per published architecture (``resnet32x4``, ``wrn-40-2``, ...), as named by RepDistiller
# (Tian et al., "Contrastive Representation Distillation", ICLR 2020) and mdistiller, whose CIFAR-100 tables
# most KD papers report. The name is the architecture: these specs have no size presets and no fields.


class PublishedModelSpec(ModelSpec):
    """Base of the named architectures: the key fixes the architecture (one size, no fields).

    ``size`` is accepted because every recipe's teacher and student carries one, and it changes nothing:
    ``--student-model resnet8x4`` is resnet8x4 whatever size the configuration gives its student. The family
    bases below hold the architecture as class variables; their builders live in ``kdtaxonomy.models``.
    """

    sized: ClassVar[bool] = False

    size: Size = "small"
    """Accepted for the recipes' sake and ignored: the name fixes the architecture."""


class CifarResNetSpec(PublishedModelSpec):
    """CIFAR ResNet of basic blocks (He et al. 2016, Sec. 4.2) in RepDistiller's layout."""

    depth: ClassVar[int] = 20
    """Weighted layers, ``6n + 2``: ``n`` basic blocks (two 3 x 3 convolutions) in each of the 3 stages."""
    widths: ClassVar[tuple[int, int, int, int]] = (16, 16, 32, 64)
    """Channels of the stem and of the three stages."""


class ResNet8Spec(CifarResNetSpec):
    """ResNet-8 for CIFAR (He et al. 2016, Sec. 4.2; RepDistiller resnet8): 1 block a stage, 16/32/64 channels."""

    key: ClassVar[str] = "resnet8"
    depth: ClassVar[int] = 8


class ResNet14Spec(CifarResNetSpec):
    """ResNet-14 for CIFAR (He et al. 2016, Sec. 4.2; RepDistiller resnet14): 2 blocks a stage, 16/32/64."""

    key: ClassVar[str] = "resnet14"
    depth: ClassVar[int] = 14


class ResNet20Spec(CifarResNetSpec):
    """ResNet-20 for CIFAR (He et al. 2016, Sec. 4.2 and Table 6): 3 blocks a stage, 16/32/64 channels."""

    key: ClassVar[str] = "resnet20"
    depth: ClassVar[int] = 20


class ResNet32Spec(CifarResNetSpec):
    """ResNet-32 for CIFAR (He et al. 2016, Sec. 4.2 and Table 6): 5 blocks a stage, 16/32/64 channels."""

    key: ClassVar[str] = "resnet32"
    depth: ClassVar[int] = 32


class ResNet44Spec(CifarResNetSpec):
    """ResNet-44 for CIFAR (He et al. 2016, Sec. 4.2 and Table 6): 7 blocks a stage, 16/32/64 channels."""

    key: ClassVar[str] = "resnet44"
    depth: ClassVar[int] = 44


class ResNet56Spec(CifarResNetSpec):
    """ResNet-56 for CIFAR (He et al. 2016, Sec. 4.2 and Table 6): 9 blocks a stage, 16/32/64 channels."""

    key: ClassVar[str] = "resnet56"
    depth: ClassVar[int] = 56


class ResNet110Spec(CifarResNetSpec):
    """ResNet-110 for CIFAR (He et al. 2016, Sec. 4.2 and Table 6): 18 blocks a stage, 16/32/64 channels."""

    key: ClassVar[str] = "resnet110"
    depth: ClassVar[int] = 110


class ResNet8x4Spec(CifarResNetSpec):
    """ResNet-8x4 (RepDistiller resnet8x4): ResNet-8 with a 32-channel stem and 64/128/256-channel stages."""

    key: ClassVar[str] = "resnet8x4"
    depth: ClassVar[int] = 8
    widths: ClassVar[tuple[int, int, int, int]] = (32, 64, 128, 256)


class ResNet32x4Spec(CifarResNetSpec):
    """ResNet-32x4 (RepDistiller resnet32x4): ResNet-32 with a 32-channel stem and 64/128/256-channel stages."""

    key: ClassVar[str] = "resnet32x4"
    depth: ClassVar[int] = 32
    widths: ClassVar[tuple[int, int, int, int]] = (32, 64, 128, 256)


class CifarBottleneckResNetSpec(PublishedModelSpec):
    """ResNet of bottleneck blocks with a CIFAR stem (He et al. 2016, Table 1 stages; RepDistiller resnetv2)."""

    blocks: ClassVar[tuple[int, ...]] = (3, 4, 6, 3)
    """Bottleneck blocks in each stage (64, 128, 256, 512 inner channels, 4x expansion)."""


class ResNet50Spec(CifarBottleneckResNetSpec):
    """ResNet-50 for 32 x 32 inputs (He et al. 2016, Table 1; RepDistiller ResNet50): 3 x 3 stem, no max pool."""

    key: ClassVar[str] = "resnet50"


class WideResNetSpec(PublishedModelSpec):
    """Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016, Sec. 2 and Table 1): pre-activation basic blocks."""

    depth: ClassVar[int] = 16
    """Depth ``6n + 4``: ``n`` blocks (two 3 x 3 convolutions each) in each of the three stages."""
    widen: ClassVar[int] = 1
    """Widening factor ``k``: the stages have ``16k``, ``32k``, ``64k`` channels."""


class WRN16x1Spec(WideResNetSpec):
    """WRN-16-1 (Zagoruyko & Komodakis 2016; RepDistiller wrn_16_1): 2 blocks a stage, 16/32/64 channels."""

    key: ClassVar[str] = "wrn-16-1"
    depth: ClassVar[int] = 16
    widen: ClassVar[int] = 1


class WRN16x2Spec(WideResNetSpec):
    """WRN-16-2 (Zagoruyko & Komodakis 2016; RepDistiller wrn_16_2): 2 blocks a stage, 32/64/128 channels."""

    key: ClassVar[str] = "wrn-16-2"
    depth: ClassVar[int] = 16
    widen: ClassVar[int] = 2


class WRN40x1Spec(WideResNetSpec):
    """WRN-40-1 (Zagoruyko & Komodakis 2016; RepDistiller wrn_40_1): 6 blocks a stage, 16/32/64 channels."""

    key: ClassVar[str] = "wrn-40-1"
    depth: ClassVar[int] = 40
    widen: ClassVar[int] = 1


class WRN40x2Spec(WideResNetSpec):
    """WRN-40-2 (Zagoruyko & Komodakis 2016; RepDistiller wrn_40_2): 6 blocks a stage, 32/64/128 channels."""

    key: ClassVar[str] = "wrn-40-2"
    depth: ClassVar[int] = 40
    widen: ClassVar[int] = 2


class CifarVGGSpec(PublishedModelSpec):
    """VGG for CIFAR with BatchNorm (Simonyan & Zisserman 2015, Table 1; RepDistiller vgg*_bn): one classifier."""

    groups: ClassVar[tuple[tuple[int, ...], ...]] = ((64,), (128,), (256,), (512,), (512,))
    """Output channels of the 3 x 3 convolutions of the five groups."""


class VGG8Spec(CifarVGGSpec):
    """VGG-8 (RepDistiller vgg8, configuration 'S'): one 3 x 3 convolution a group, 64/128/256/512/512."""

    key: ClassVar[str] = "vgg8"
    groups: ClassVar[tuple[tuple[int, ...], ...]] = ((64,), (128,), (256,), (512,), (512,))


class VGG11Spec(CifarVGGSpec):
    """VGG-11 for CIFAR (Simonyan & Zisserman 2015, Table 1 configuration A; RepDistiller vgg11)."""

    key: ClassVar[str] = "vgg11"
    groups: ClassVar[tuple[tuple[int, ...], ...]] = ((64,), (128,), (256, 256), (512, 512), (512, 512))


class VGG13Spec(CifarVGGSpec):
    """VGG-13 for CIFAR (Simonyan & Zisserman 2015, Table 1 configuration B; RepDistiller vgg13)."""

    key: ClassVar[str] = "vgg13"
    groups: ClassVar[tuple[tuple[int, ...], ...]] = ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512))


class MobileNetV2Spec(PublishedModelSpec):
    """MobileNetV2 for CIFAR (Sandler et al. 2018, Table 2; RepDistiller mobile_half: width 0.5, expansion 6)."""

    key: ClassVar[str] = "mobilenetv2"
    width: ClassVar[float] = 0.5
    """Width multiplier of every layer but the last 1 x 1 convolution (1280 channels)."""
    expansion: ClassVar[int] = 6
    """Expansion factor ``t`` of the inverted residual blocks (the first stage's is 1)."""


class ShuffleNetV1Spec(PublishedModelSpec):
    """ShuffleNet V1 for CIFAR (Zhang et al. 2018, Table 1, g = 3; RepDistiller ShuffleV1): 240/480/960."""

    key: ClassVar[str] = "shufflenetv1"
    channels: ClassVar[tuple[int, int, int]] = (240, 480, 960)
    """Output channels of the three stages."""
    blocks: ClassVar[tuple[int, int, int]] = (4, 8, 4)
    """Units in each stage (the first of a stage downsamples)."""
    groups: ClassVar[int] = 3
    """Groups of the pointwise group convolutions."""


class ShuffleNetV2Spec(PublishedModelSpec):
    """ShuffleNet V2 1x for CIFAR (Ma et al. 2018, Table 5; RepDistiller ShuffleV2): 116/232/464, 1024."""

    key: ClassVar[str] = "shufflenetv2"
    channels: ClassVar[tuple[int, int, int, int]] = (116, 232, 464, 1024)
    """Output channels of the three stages and of the last 1 x 1 convolution."""
    blocks: ClassVar[tuple[int, int, int]] = (4, 8, 4)
    """Units in each stage (the first of a stage downsamples)."""
