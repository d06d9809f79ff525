"""Shared structure of the model architectures: the :class:`FeatureClassifier` layout and building blocks.

Every builder returns a :class:`FeatureClassifier`::

    x -> body (stem?, block1, block2, ...) -> pool -> head -> embedding -> dropout -> classifier -> logits

``locations`` maps ``block1``, ``block2``, ... to the body's blocks (feature maps ``(B, C, L)`` or
``(B, C, H, W)``; vectors ``(B, D)`` for the MLP) and ``embedding`` to the module whose output is the
penultimate feature vector ``(B, D)`` fed to ``classifier`` (a plain ``nn.Linear`` that can be replaced).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from kdtaxonomy.registry import REGISTRY, Component
from kdtaxonomy.specs.models import PublishedModelSpec

B = TypeVar("B", bound=Callable[..., nn.Module])


MODEL_ATTRIBUTE = "kdtax_model"
"""Attribute of a module built from the registry: its key and constructor arguments (so that a saved student
can be rebuilt, see :func:`kdtaxonomy.student_io.load_student`)."""


def tag_model(
    model: nn.Module, key: str, params: Any, *, input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """Record on ``model`` how the registry built it (key, validated params, input shape, classes)."""
    plain = params.model_dump(mode="json") if hasattr(params, "model_dump") else dict(params or {})
    info = {
        "key": key,
        "params": plain,
        "input_shape": [int(d) for d in input_shape],
        "num_classes": num_classes,
    }
    setattr(model, MODEL_ATTRIBUTE, info)
    return model


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (all, or only those that require gradients)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


class FeatureClassifier(nn.Module):
    """A classifier whose intermediate features are addressable through ``locations``.

    Attributes: ``body`` (``nn.Sequential`` of named blocks), ``pool``, ``head``, ``embedding``,
    ``dropout``, ``classifier`` (the final ``nn.Linear``), ``locations`` (location name -> dotted submodule
    path, for ``get_submodule`` and forward hooks), ``embedding_dim`` and ``input_shape``.
    """

    def __init__(
        self,
        body: OrderedDict[str, nn.Module],
        *,
        embedding_dim: int,
        num_classes: int,
        input_shape: tuple[int, ...],
        pool: nn.Module | None = None,
        head: nn.Module | None = None,
        dropout: float = 0.0,
        extra_locations: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(body)
        self.pool = pool if pool is not None else nn.Identity()
        self.head = head if head is not None else nn.Identity()
        self.embedding = nn.Flatten(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(embedding_dim, num_classes)
        self.embedding_dim = embedding_dim
        self.input_shape = tuple(input_shape)
        self.locations: dict[str, str] = {name: f"body.{name}" for name in body if name.startswith("block")}
        self.locations.update(extra_locations or {})
        self.locations["embedding"] = "embedding"

    def features(self, x: Tensor) -> Tensor:
        """The embedding ``(B, D)`` of a batch (the classifier's input)."""
        h = self.body(x)
        h = self.pool(h)
        h = self.head(h)
        out: Tensor = self.embedding(h)
        return out

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.classifier(self.dropout(self.features(x)))
        return logits


def spatial_dims(input_shape: Sequence[int], allowed: Sequence[int], model: str) -> int:
    """Number of spatial dimensions of a per-sample ``input_shape`` ``(C, L)`` or ``(C, H, W)``, checked."""
    dims = len(input_shape) - 1
    if dims not in allowed or any(int(d) < 1 for d in input_shape):
        wanted = " or ".join({1: "(C, L)", 2: "(C, H, W)"}[d] for d in allowed)
        raise ValueError(
            f"model {model!r} takes inputs of shape {wanted} (no batch dimension), got {tuple(input_shape)}"
        )
    return dims


def conv(
    dims: int, cin: int, cout: int, kernel_size: int, *, stride: int = 1, bias: bool = True
) -> nn.Module:
    """A 1-D or 2-D convolution with 'same' padding for odd kernels."""
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    return cls(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias)


def batch_norm(dims: int, channels: int) -> nn.Module:
    """BatchNorm over 1-D or 2-D feature maps."""
    return nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)


def max_pool(dims: int) -> nn.Module:
    """Max pooling by 2 (ceil mode, so that a length or side of 1 stays 1)."""
    return nn.MaxPool1d(2, ceil_mode=True) if dims == 1 else nn.MaxPool2d(2, ceil_mode=True)


def global_avg_pool(dims: int) -> nn.Module:
    """Average over all spatial positions, keeping a singleton spatial axis (flattened by ``embedding``)."""
    return nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)


def conv_block(dims: int, cin: int, cout: int, kernel_size: int, *, pool: bool = True) -> nn.Sequential:
    """Convolution, BatchNorm, ReLU and (optionally) max pooling by 2. The ReLU is not in place, so that
    the BatchNorm's output (index 1, a pre-activation location) keeps its negative values when read."""
    layers: list[nn.Module] = [
        conv(dims, cin, cout, kernel_size, bias=False),
        batch_norm(dims, cout),
        nn.ReLU(),
    ]
    if pool:
        layers.append(max_pool(dims))
    return nn.Sequential(*layers)


class LSTMBlock(nn.Module):
    """One LSTM layer over conv-like maps: ``(B, C, L)`` in, ``(B, H * directions, L)`` out.

    A 4-D input ``(B, C, H, W)`` is first averaged over its height, so the sequence runs along the width. The
    transposes to and from ``(B, L, C)`` happen inside, so a forward hook on the block sees a feature map.
    """

    def __init__(self, in_channels: int, hidden: int, *, bidirectional: bool) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_channels, hidden, batch_first=True, bidirectional=bidirectional)
        self.out_channels = hidden * (2 if bidirectional else 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4:
            x = x.mean(dim=2)
        out, _ = self.lstm(x.transpose(1, 2))
        result: Tensor = out.transpose(1, 2)
        return result


class SequencePool(nn.Module):
    """Summarise a sequence map ``(B, D, L)`` into ``(B, D)``.

    ``last``: the last step; for a bidirectional output (``bidirectional=True``) the forward half at the last
    step and the backward half at the first step (each direction's final state). ``mean``: the mean over
    steps.
    """

    def __init__(self, mode: str = "last", *, bidirectional: bool = False) -> None:
        super().__init__()
        if mode not in ("last", "mean"):
            raise ValueError(f"unknown sequence pooling {mode!r}: use 'last' or 'mean'")
        self.mode = mode
        self.bidirectional = bidirectional

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "mean":
            return x.mean(dim=-1)
        if not self.bidirectional:
            return x[:, :, -1]
        half = x.shape[1] // 2
        return torch.cat([x[:, :half, -1], x[:, half:, 0]], dim=1)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, bidirectional={self.bidirectional}"


def register_named(family: type[PublishedModelSpec]) -> Callable[[B], B]:
    """Decorator registering a family's builder under the key of every named architecture of ``family``.

    ``family`` itself when it declares a key (``MobileNetV2Spec``: ``mobilenetv2``), and each direct subclass
    declaring one (``ResNet8Spec``: ``resnet8``), is one registry entry taking 2-D inputs; its summary is the
    first line of that spec's docstring.
    """

    def decorator(build: B) -> B:
        for spec in (family, *family.__subclasses__()):
            if spec.__dict__.get("key"):
                doc = (spec.__doc__ or "").strip().splitlines()
                REGISTRY.add(
                    Component(
                        kind=spec.kind,
                        key=spec.key,
                        obj=build,
                        params=spec,
                        summary=doc[0] if doc else "",
                        extra={"input_dims": (2,)},
                    )
                )
        return build

    return decorator


def he_init(model: nn.Module) -> nn.Module:
    """He et al. (2015) normal initialisation (fan-out, ReLU gain) of every convolution, biases zeroed, as the
    reference CIFAR implementations do; BatchNorm and linear layers keep PyTorch's defaults."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def cifar_classifier(
    body: OrderedDict[str, nn.Module], embedding_dim: int, *, num_classes: int, input_shape: tuple[int, ...]
) -> nn.Module:
    """The CIFAR networks' head: global average pooling and a linear classifier over ``body``, He-initialised."""
    return he_init(
        FeatureClassifier(
            body,
            pool=nn.AdaptiveAvgPool2d(1),
            embedding_dim=embedding_dim,
            num_classes=num_classes,
            input_shape=input_shape,
        )
    )


def conv_bn(
    cin: int, cout: int, kernel_size: int, *, stride: int = 1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    """A 2-D convolution without bias ('same' padding), BatchNorm and (optionally) ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
