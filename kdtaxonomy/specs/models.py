"""Specs of the model architectures (kind ``model``), importable without torch.

Every architecture comes in four size presets, ``tiny`` < ``small`` < ``medium`` < ``large`` (parameter
counts increase strictly with the size for the same input), small enough to train on MNIST-1D on a laptop
CPU: ``tiny`` has a few thousand parameters, ``large`` a few hundred thousand. Explicit fields (``width``,
``depth``, ...) override the preset one by one; :meth:`ModelSpec.resolved` gives the effective values.

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
    """Convolutions, then a stacked bidirectional LSTM and two linear layers (the assistant of seed 004).

    Mirrors, at small scale, the Conv-LSTM assistant of Ghosh Dastidar et al., "Exploring Knowledge
    Distillation of a Deep Neural Network for Multi-Script Identification" (seed 004): four 3-tap
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
