"""The named CIFAR architectures of the KD benchmark tables (RepDistiller / mdistiller): shapes, locations,
layouts, parameter counts against printed ones, and distillation between them through the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import kdtaxonomy
from kdtaxonomy.cli import app
from kdtaxonomy.data import ArrayData
from kdtaxonomy.models import build_model, count_parameters
from kdtaxonomy.models.resnet import BasicBlock
from kdtaxonomy.models.vgg import build_cifar_vgg
from kdtaxonomy.models.wrn import build_wide_resnet
from kdtaxonomy.registry import REGISTRY
from kdtaxonomy.specs.models import CifarVGGSpec, WideResNetSpec

from .conftest import CATALOG

CIFAR = (3, 32, 32)


def _resnet(c: int) -> dict[str, tuple[int, ...]]:
    return {"block1": (c, 32, 32), "block2": (2 * c, 16, 16), "block3": (4 * c, 8, 8), "embedding": (4 * c,)}


_VGG = {"block1": (128, 16, 16), "block2": (256, 8, 8), "block3": (512, 4, 4), "block4": (512, 4, 4)}
SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    **{f"resnet{d}": _resnet(16) for d in (8, 14, 20, 32, 44, 56, 110)},
    "resnet8x4": _resnet(64),
    "resnet32x4": _resnet(64),
    "resnet50": {**_resnet(256), "block4": (2048, 4, 4), "embedding": (2048,)},
    "wrn-16-1": _resnet(16),
    "wrn-40-1": _resnet(16),
    "wrn-16-2": _resnet(32),
    "wrn-40-2": _resnet(32),
    **{key: {**_VGG, "embedding": (512,)} for key in ("vgg8", "vgg11", "vgg13")},
    "mobilenetv2": {
        "block1": (12, 16, 16),
        "block2": (16, 8, 8),
        "block3": (48, 4, 4),
        "block4": (160, 2, 2),
        "embedding": (1280,),
    },
    "shufflenetv1": {
        "block1": (240, 16, 16),
        "block2": (480, 8, 8),
        "block3": (960, 4, 4),
        "embedding": (960,),
    },
    "shufflenetv2": {
        "block1": (116, 16, 16),
        "block2": (232, 8, 8),
        "block3": (464, 4, 4),
        "embedding": (1024,),
    },
}
"""Per-sample shapes of every location on a 32 x 32 input: RepDistiller's features f1.. of each network."""


pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_named_architecture_is_registered_for_2d_inputs() -> None:
    named = {
        c.key: c
        for c in REGISTRY.list("model")
        if not c.params.sized and not getattr(c.params, "task_component", False)  # minilm-l6: sentences
    }
    assert set(named) == set(SHAPES)
    for component in named.values():
        assert component.extra["input_dims"] == (2,)
        assert "et al." in component.summary or "RepDistiller" in component.summary, component.key


@pytest.mark.parametrize("key", sorted(SHAPES))
def test_logits_and_every_location_on_cifar_images(key: str) -> None:
    torch.manual_seed(0)
    model = build_model(key, input_shape=CIFAR, num_classes=100).eval()
    assert isinstance(model.classifier, nn.Linear) and model.classifier.out_features == 100
    seen: dict[str, torch.Tensor] = {}
    for name, path in model.locations.items():
        model.get_submodule(path).register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, out)
        )
    with torch.no_grad():
        logits = model(torch.randn(2, *CIFAR))
    assert logits.shape == (2, 100) and torch.isfinite(logits).all()
    assert {name: tuple(value.shape[1:]) for name, value in seen.items()} == SHAPES[key]
    assert all(value.shape[0] == 2 for value in seen.values())
    assert torch.allclose(model.classifier(seen["embedding"]), logits, atol=1e-5)


def test_any_number_of_classes_channels_and_sizes_and_the_size_changes_nothing() -> None:
    model = build_model("resnet8", {"size": "large"}, input_shape=(1, 28, 28), num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 7)
    tiny = build_model("resnet8x4", {"size": "tiny"}, input_shape=CIFAR, num_classes=100)
    assert count_parameters(tiny) == count_parameters(
        build_model("resnet8x4", input_shape=CIFAR, num_classes=100)
    )
    with pytest.raises(ValueError, match="resnet32x4"):
        build_model("resnet32x4", input_shape=(3, 40), num_classes=10)
    with pytest.raises(ValueError, match="depth"):  # the name is the architecture: no fields to override
        build_model("resnet32x4", {"depth": 8}, input_shape=CIFAR, num_classes=10)


def test_stage_layouts_follow_the_papers() -> None:
    def blocks(model: nn.Module, stage: str) -> int:
        return len(model.get_submodule(model.locations[stage]))

    # He et al. 2016, Sec. 4.2: 6n + 2 layers, n blocks a stage
    for depth in (8, 14, 20, 32, 44, 56, 110):
        model = build_model(f"resnet{depth}", input_shape=CIFAR, num_classes=10)
        assert [blocks(model, f"block{i}") for i in (1, 2, 3)] == [(depth - 2) // 6] * 3
        assert all(isinstance(b, BasicBlock) for b in model.get_submodule("body.block3"))
    # Zagoruyko & Komodakis 2016, Table 1: depth 6n + 4
    assert [
        blocks(build_model("wrn-40-2", input_shape=CIFAR, num_classes=10), f"block{i}") for i in (1, 2, 3)
    ] == [6] * 3
    # Simonyan & Zisserman 2015, Table 1: 8 (A) and 10 (B) 3 x 3 convolutions; RepDistiller's 'S' has 5
    for key, convs in (("vgg8", 5), ("vgg11", 8), ("vgg13", 10)):
        model = build_model(key, input_shape=CIFAR, num_classes=10)
        assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == convs, key
    # ShuffleNet V1 (g = 3) and V2 (1x): 4 / 8 / 4 units a stage
    for key in ("shufflenetv1", "shufflenetv2"):
        model = build_model(key, input_shape=CIFAR, num_classes=10)
        assert [blocks(model, f"block{i}") for i in (1, 2, 3)] == [4, 8, 4], key
    # ResNet-50: 3 / 4 / 6 / 3 bottleneck blocks (He et al. 2016, Table 1)
    model = build_model("resnet50", input_shape=CIFAR, num_classes=10)
    assert [blocks(model, f"block{i}") for i in (1, 2, 3, 4)] == [3, 4, 6, 3]


@pytest.mark.parametrize(
    "key", ["resnet8", "wrn-16-1", "vgg8", "mobilenetv2", "shufflenetv1", "shufflenetv2"]
)
def test_sgd_steps_reduce_the_loss(key: str) -> None:
    """The smallest network of each family fits 16 images with ``test_models.py``'s recipe (25 SGD steps)."""
    torch.manual_seed(0)
    model = build_model(key, input_shape=(3, 16, 16), num_classes=10).train()
    x, y = torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 4
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(26):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    assert losses[-1] < 0.8 * losses[0], losses


def _millions_match(count: int, printed: str) -> bool:
    """Whether ``count`` rounds to ``printed`` (millions, at the printed number's precision)."""
    decimals = len(printed.partition(".")[2])
    return round(count / 1e6, decimals) == float(printed)


# He et al. 2016, "Deep Residual Learning for Image Recognition", Table 6 (CIFAR-10, so a 10-way classifier).
# The paper's CIFAR nets use zero-padded identity shortcuts (option A, no parameters); ours, like
# RepDistiller's, project with a 1 x 1 convolution and BatchNorm where the shape changes, so those are left out.
# (ResNet-20 0.27M and ResNet-56 0.85M are also printed by the reproduction at
# varun-suresh.github.io/posts/training-a-resnet-on-cifar-10, "Results".)
HE_TABLE_6 = {
    "resnet20": "0.27",
    "resnet32": "0.46",
    "resnet44": "0.66",
    "resnet56": "0.85",
    "resnet110": "1.7",
}


@pytest.mark.parametrize(("key", "printed"), sorted(HE_TABLE_6.items()))
def test_cifar_resnet_parameters_match_he_et_al_table_6(key: str, printed: str) -> None:
    model = build_model(key, input_shape=CIFAR, num_classes=10)
    projections = sum(count_parameters(m.shortcut) for m in model.modules() if isinstance(m, BasicBlock))
    assert projections == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # one 1 x 1 conv + BN entering stages 2, 3
    assert _millions_match(count_parameters(model) - projections, printed), count_parameters(model)


def test_resnet50_parameters_match_the_cifar100_reference() -> None:
    # weiaicunzai/pytorch-cifar100, README.md, "Results" table: cifar100 resnet50, params 23.7M. Its
    # models/resnet.py is the same network: 3 x 3, 64-channel stem without max pooling, bottlenecks
    # (3, 4, 6, 3) with 1 x 1 projection shortcuts, global average pooling, a 100-way linear layer.
    model = build_model("resnet50", input_shape=CIFAR, num_classes=100)
    assert _millions_match(count_parameters(model), "23.7"), count_parameters(model)


class _WRN28x10(WideResNetSpec):
    depth: ClassVar[int] = 28
    widen: ClassVar[int] = 10


class _VGG19(CifarVGGSpec):
    groups: ClassVar[tuple[tuple[int, ...], ...]] = (
        (64,) * 2,
        (128,) * 2,
        (256,) * 4,
        (512,) * 4,
        (512,) * 4,
    )


def test_wrn_and_vgg_builders_match_the_reference_counts_of_their_family() -> None:
    # bearpaw/pytorch-classification, README.md, "Results / CIFAR" table ("the number of parameters are
    # computed on the CIFAR-10 dataset"): WRN-28-10 36.48M and vgg19_bn 20.04M. Its WRN is the code
    # RepDistiller's wrn.py carries (pre-activation blocks, 1 x 1 projections) and its VGG (from kuangliu/
    # pytorch-cifar) has 3 x 3 convolutions with bias, BatchNorm and one linear classifier, as ours. Neither
    # depth is registered: the keyless specs only check the two builders' parameter layout.
    wrn = build_wide_resnet(_WRN28x10(), input_shape=CIFAR, num_classes=10)
    assert _millions_match(count_parameters(wrn), "36.48"), count_parameters(wrn)
    vgg = build_cifar_vgg(_VGG19(), input_shape=CIFAR, num_classes=10)
    assert _millions_match(count_parameters(vgg), "20.04"), count_parameters(vgg)


def _images(n: int = 8, seed: int = 0) -> ArrayData:
    g = torch.Generator().manual_seed(seed)
    return ArrayData(x=torch.randn(n, *CIFAR, generator=g), y=torch.arange(n) % 4, index=torch.arange(n))


@pytest.mark.parametrize(
    ("entry", "config"), [("hinton2015-distilling", "plain"), ("zagoruyko2017-attention-transfer", None)]
)
def test_resnet32x4_teaches_resnet8x4_through_the_api(entry: str, config: str | None) -> None:
    torch.manual_seed(0)
    teacher = build_model("resnet32x4", input_shape=CIFAR, num_classes=4)
    student = build_model("resnet8x4", input_shape=CIFAR, num_classes=4)
    before = {k: v.detach().clone() for k, v in student.state_dict().items()}
    distiller = kdtaxonomy.instantiate(entry, config=config, teacher=teacher, student=student)
    if entry.startswith("zagoruyko"):
        assert [(k.component, k.location) for k in distiller.knowledge] == [("attention-transfer", "block2")]
        assert "block2: student: output of 'body.block2'" in distiller.describe()
    (result,) = distiller.fit(_images(), steps=3, batch_size=4)
    assert result.steps == 3 and all(np.isfinite(result.losses))
    after = student.state_dict()
    assert any(not torch.equal(v, after[k]) for k, v in before.items() if v.is_floating_point())


def test_kdtax_train_with_named_models_on_an_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, cls in enumerate(["cat", "dog"]):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(60 + 120 * label + rng.integers(-40, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / cls / f"{i}.png")
    args = ["--catalog", str(CATALOG), "train", "hinton2015-distilling", "--config", "plain"]
    args += ["--teacher-model", "resnet32x4", "--student-model", "resnet8x4", "--dataset", "image-folder"]
    args += [
        "--data-root",
        str(tmp_path / "imgs"),
        "--steps",
        "2",
        "--teacher-steps",
        "2",
        "--batch-size",
        "4",
    ]
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    recipe = data["provenance"]["recipe"]
    assert recipe["teacher"]["params"]["model"] == "resnet32x4"
    assert recipe["student_model"]["component"] == "resnet8x4"
    assert 0 <= data["student_accuracy"] <= 100 and 0 <= data["teacher_accuracy"] <= 100
