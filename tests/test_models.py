"""Model architectures, driven by the registry: shapes, feature locations, sizes, trainability."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kdtaxonomy.datasets
import kdtaxonomy.models
from kdtaxonomy.models import build_model, count_parameters
from kdtaxonomy.models.base import LSTMBlock
from kdtaxonomy.registry import REGISTRY, Component, load_components
from kdtaxonomy.specs import load_specs
from kdtaxonomy.specs.models import SIZES, ConvLSTMSpec, ModelSpec

SHAPES = {1: (1, 40), 2: (3, 16, 16)}
"""A suitable per-sample input shape for each number of spatial dimensions."""
BATCH = 4
NUM_CLASSES = 10
MODELS = load_components().list("model")  # every registration module, not only those imported here
MODEL_DIMS = [(c.key, dims) for c in MODELS for dims in c.extra["input_dims"]]
SIZED_MODEL_DIMS = [(key, dims) for key, dims in MODEL_DIMS if REGISTRY.get("model", key).params.sized]
"""The small sized families; the named published networks (up to 24M parameters, trained for minutes by the
recipe below on a shared CPU) are trained in ``test_cifar_models.py``."""


pytestmark = pytest.mark.usefixtures("one_thread")


def build(
    key: str, dims: int, size: str = "small", num_classes: int = NUM_CLASSES, **params: object
) -> nn.Module:
    return build_model(key, {"size": size, **params}, input_shape=SHAPES[dims], num_classes=num_classes)


def batch(dims: int, seed: int = 0, n: int = BATCH) -> torch.Tensor:
    return torch.randn(n, *SHAPES[dims], generator=torch.Generator().manual_seed(seed))


def test_every_spec_has_a_builder_and_vice_versa() -> None:
    specs = load_specs()
    for kind in ("model", "dataset"):
        registered = {c.key: c for c in load_components().list(kind)}
        assert set(specs[kind]) == set(registered), kind
        for key, component in registered.items():
            assert component.params is specs[kind][key]
            assert component.summary, f"{kind} {key} builder has no docstring"
    sized = {"mlp", "cnn1d", "resnet1d", "lstm", "conv-lstm", "cnn2d", "resnet2d", "seq2seq-transformer"}
    named = {f"resnet{d}" for d in (8, 14, 20, 32, 44, 56, 110)} | {"resnet8x4", "resnet32x4", "resnet50"}
    named |= {"wrn-16-1", "wrn-16-2", "wrn-40-1", "wrn-40-2", "vgg8", "vgg11", "vgg13"}
    named |= {"mobilenetv2", "shufflenetv1", "shufflenetv2"}
    pretrained = {"minilm-l6"}  # the sentence-embedding task's pretrained encoder (kdtaxonomy.embedding_kd)
    models = load_components().list("model")
    assert {c.key for c in models} == sized | named | pretrained
    assert {c.key for c in models if not c.params.sized} == named | pretrained
    assert kdtaxonomy.datasets.build_dataset is not None and kdtaxonomy.models.build_model is not None


def test_spec_modules_import_no_torch() -> None:
    code = "import sys, kdtaxonomy.specs.models, kdtaxonomy.specs.datasets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("key", "dims"), MODEL_DIMS)
def test_logits_and_locations(key: str, dims: int, size: str) -> None:
    torch.manual_seed(0)
    model = build(key, dims, size)
    assert isinstance(model.classifier, nn.Linear)
    locations: dict[str, str] = model.locations
    assert "embedding" in locations and "block1" in locations and "block2" in locations
    captured: dict[str, torch.Tensor] = {}
    for name, path in locations.items():
        module = model.get_submodule(path)
        module.register_forward_hook(lambda _m, _i, out, name=name: captured.__setitem__(name, out))
    logits = model(batch(dims))
    assert logits.shape == (BATCH, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    assert set(captured) == set(locations)
    for name, value in captured.items():
        assert isinstance(value, torch.Tensor), name
        assert value.shape[0] == BATCH, name
    emb = captured["embedding"]
    assert emb.dim() == 2 and emb.shape[1] == model.classifier.in_features == model.embedding_dim
    # the embedding is exactly what the classifier sees (dropout is off here)
    assert torch.allclose(model.classifier(emb), logits)
    blocks = sorted((n for n in locations if n.startswith("block")), key=lambda n: int(n[5:]))
    assert blocks == [f"block{i}" for i in range(1, len(blocks) + 1)]
    for name in blocks:
        # MLP blocks are vectors, LSTM layers sequence maps (B, C, steps), conv blocks keep the input rank
        is_lstm = isinstance(model.get_submodule(locations[name]), LSTMBlock)
        expected = 2 if key == "mlp" else 3 if is_lstm else dims + 2
        assert captured[name].dim() == expected, (name, captured[name].shape)


@pytest.mark.parametrize(("key", "dims"), MODEL_DIMS)
def test_parameter_counts_increase_with_size(key: str, dims: int) -> None:
    if not REGISTRY.get("model", key).params.sized:
        # a named published architecture has one size: the size every recipe passes changes nothing
        assert count_parameters(build(key, dims, "tiny")) == count_parameters(build(key, dims, "large"))
        return
    counts = [count_parameters(build(key, dims, size)) for size in SIZES]
    assert counts == sorted(set(counts)), counts
    if dims == 1:
        assert 1_500 <= counts[0] <= 5_000, counts
        assert 100_000 <= counts[-1] <= 300_000, counts


@pytest.mark.parametrize(("key", "dims"), SIZED_MODEL_DIMS)
def test_sgd_steps_reduce_the_loss(key: str, dims: int) -> None:
    torch.manual_seed(0)
    model = build(key, dims, "tiny")
    x = batch(dims, seed=1, n=16)
    y = torch.arange(16) % 4
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    with torch.no_grad():
        before = F.cross_entropy(model(x), y).item()
    for _ in range(25):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        after = F.cross_entropy(model(x), y).item()
    assert after < 0.8 * before, (before, after)


@pytest.mark.parametrize(("key", "dims"), MODEL_DIMS)
def test_classifier_can_be_replaced(key: str, dims: int) -> None:
    model = build(key, dims, "tiny")
    model.classifier = nn.Linear(model.embedding_dim, 3)
    model.eval()
    assert model(batch(dims)).shape == (BATCH, 3)


@pytest.mark.parametrize("component", MODELS, ids=lambda c: c.key)
def test_wrong_input_rank_is_a_clear_error(component: Component) -> None:
    bad = [d for d in (1, 2, 3) if d not in component.extra["input_dims"]]
    for dims in bad:
        shape = {1: (1, 40), 2: (3, 16, 16), 3: (1, 4, 4, 4)}[dims]
        with pytest.raises(ValueError, match=component.key):
            build_model(component.key, {}, input_shape=shape, num_classes=2)


def test_overrides_and_resolved_values() -> None:
    spec = ConvLSTMSpec(size="large", hidden=8)
    assert spec.resolved()["hidden"] == 8 and spec.resolved()["conv_layers"] == 4
    small = count_parameters(build("cnn1d", 1, "small"))
    wider = count_parameters(build("cnn1d", 1, "small", width=32))
    deeper = count_parameters(build("cnn1d", 1, "small", depth=4))
    assert wider > small and deeper > small
    assert len(build("resnet1d", 1, "tiny", depth=4).locations) == 5  # block1..4 + embedding
    for component in MODELS:
        spec_cls = component.params
        assert issubclass(spec_cls, ModelSpec)
        assert set(spec_cls.presets) == (set(SIZES) if spec_cls.sized else set())
        for name, field in spec_cls.model_fields.items():
            assert field.description, f"{component.key}.{name} is undocumented"
    with pytest.raises(ValueError):
        build_model("mlp", {"size": "huge"}, input_shape=(1, 40), num_classes=2)


def test_conv_lstm_mirrors_seed_004() -> None:
    component = REGISTRY.get("model", "conv-lstm")
    assert "seed paper 004" in (component.obj.__doc__ or "")
    model = build("conv-lstm", 1, "large")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    lstms = [m for m in model.modules() if isinstance(m, nn.LSTM)]
    assert [c.out_channels for c in convs] == [24, 48, 96, 112]  # 64:128:256:300 at width 24
    assert all(c.kernel_size == (3,) for c in convs)
    assert len(lstms) == 2 and all(m.bidirectional for m in lstms)
    assert sum(isinstance(m, nn.MaxPool1d) for m in model.modules()) == 4
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 2  # two linear layers
    hidden = lstms[0].hidden_size
    seen: dict[str, torch.Tensor] = {}
    model.get_submodule(model.locations["lstm"]).register_forward_hook(
        lambda _m, _i, out: seen.__setitem__("lstm", out)
    )
    model.eval()
    model(batch(1))
    assert seen["lstm"].shape == (BATCH, 2 * hidden)


def test_count_parameters() -> None:
    layer = nn.Linear(3, 2)
    assert count_parameters(layer) == 8
    layer.bias.requires_grad_(False)
    assert count_parameters(layer, trainable_only=True) == 6


def test_small_cnn1d_learns_mnist1d() -> None:
    """Independent check: a small cnn1d trained briefly on MNIST-1D is far above chance (10%)."""
    bundle = kdtaxonomy.datasets.build_dataset("mnist1d")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: one thread is as fast and robust to a busy machine
    try:
        torch.manual_seed(0)
        model = build_model(
            "cnn1d", {"size": "small"}, input_shape=bundle.input_shape, num_classes=bundle.num_classes
        )
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(4):
            model.train()
            order = torch.randperm(len(bundle.train), generator=generator)
            for start in range(0, len(order), 64):
                rows = order[start : start + 64]
                opt.zero_grad()
                F.cross_entropy(model(bundle.train.x[rows]), bundle.train.y[rows]).backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(bundle.test.x).argmax(1) == bundle.test.y).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    print(f"cnn1d small, 4 epochs: MNIST-1D test accuracy {accuracy:.3f}")
    assert accuracy > 0.4
