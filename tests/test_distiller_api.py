"""The user-facing distiller API on hand-written models: evaluate, locations, indices, topology, save/load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import kdtaxonomy
from kdtaxonomy.catalog import Catalog
from kdtaxonomy.data import ArrayData
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.train import accuracy

from .conftest import CATALOG


class SmallCNN(nn.Module):
    """A user's model: a ``features`` Sequential and an ``fc`` Linear head (no ``locations`` table)."""

    def __init__(self, width: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.features(x))
        return out


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return kdtaxonomy.load_catalog(CATALOG)


def tensors(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g)


def tensor_loader(n: int = 64, batch_size: int = 16) -> DataLoader[Any]:
    return DataLoader(TensorDataset(*tensors(n)), batch_size=batch_size)


# -- 1. evaluate takes what fit takes ------------------------------------------------------------------------
def test_evaluate_takes_a_dataloader_and_dict_batches_like_fit() -> None:
    torch.manual_seed(0)
    distiller = Distiller(SmallCNN(4), [SmallCNN(8)])
    x, y = tensors(70)  # 70 rows: the last batch is partial
    reference = distiller.evaluate(ArrayData.from_tensors(x, y))
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    dicts = [{"x": x[i : i + 16], "y": y[i : i + 16]} for i in range(0, 70, 16)]
    assert distiller.evaluate(loader) == reference
    assert distiller.evaluate(dicts) == reference
    assert distiller.evaluate([(x[:35], y[:35]), (x[35:], y[35:])]) == reference


# -- 2. locations checked at once and found by default -------------------------------------------------------
def test_rkd_finds_the_embedding_by_default_and_describes_its_plan(cat: Catalog) -> None:
    torch.manual_seed(0)
    distiller = kdtaxonomy.instantiate("park2019-rkd", teacher=SmallCNN(8), student=SmallCNN(4), catalog=cat)
    plan = distiller.describe()
    assert "embedding: student: input of 'fc' (the last nn.Linear, found by default)" in plan
    assert "rkd-angle @ embedding, weight 2" in plan and "rkd-distance @ embedding, weight 1" in plan
    assert plan.startswith("method park2019-rkd (main): transfer MultiLevel") and "teacher: SmallCNN" in plan
    results = distiller.fit(tensor_loader(), steps=2)
    assert results[0].steps == 2 and all(torch.isfinite(torch.tensor(results[0].losses)))


def test_fitnets_without_layers_says_what_to_pass_and_works_with_them(cat: Catalog) -> None:
    with pytest.raises(ValueError, match=r"block2 on the student") as info:
        kdtaxonomy.instantiate("romero2015-fitnets", teacher=SmallCNN(8), student=SmallCNN(4), catalog=cat)
    message = str(info.value)
    assert "layers={'student': {'block2': 'module.path'}" in message and "features.2" in message
    # an extra location the method does not read (block1, e.g. a mapping shared by methods) is no error
    layers = {
        "student": {"block1": "features.0", "block2": "features.2"},
        "teacher": {"block2": "features.2"},
    }
    distiller = kdtaxonomy.instantiate(
        "romero2015-fitnets", teacher=SmallCNN(8), student=SmallCNN(4), layers=layers, catalog=cat
    )
    assert "block2: student: output of 'features.2'; teacher: output of 'features.2'" in distiller.describe()
    assert distiller.fit(tensor_loader(), steps=2)[0].steps == 2


def test_a_misspelt_module_path_or_location_name_gets_a_suggestion(cat: Catalog) -> None:
    layers = {"student": {"block2": "feature.2"}, "teacher": {"block2": "features.2"}}
    with pytest.raises(ValueError, match=r"student location 'block2'.*no module 'feature.2'.*features\.2"):
        kdtaxonomy.instantiate(
            "romero2015-fitnets", teacher=SmallCNN(8), student=SmallCNN(4), layers=layers, catalog=cat
        )
    with pytest.raises(ValueError, match=r"'embeding'.*did you mean 'embedding'"):
        kdtaxonomy.instantiate(
            "park2019-rkd",
            teacher=SmallCNN(8),
            student=SmallCNN(4),
            layers={"student": {"embeding": "features"}},
            catalog=cat,
        )
    with pytest.raises(ValueError, match=r"unknown key 'techer' \(did you mean 'teacher'\?\)"):
        kdtaxonomy.instantiate(
            "park2019-rkd", teacher=SmallCNN(8), student=SmallCNN(4), layers={"techer": {}}, catalog=cat
        )


# -- 3. sample indices for CRD -----------------------------------------------------------------------------
def test_crd_fits_on_plain_x_y_batches_of_a_dataloader(cat: Catalog) -> None:
    torch.manual_seed(0)
    layers = {"student": {"embedding": "features"}, "teacher": {"embedding": "features"}}
    distiller = kdtaxonomy.instantiate(
        "tian2020-crd", teacher=SmallCNN(8), student=SmallCNN(4), layers=layers, catalog=cat
    )
    results = distiller.fit(tensor_loader(), steps=2)
    assert results[0].steps == 2 and all(torch.isfinite(torch.tensor(results[0].losses)))


def test_crd_on_an_iterable_without_indices_says_how_to_provide_them(cat: Catalog) -> None:
    distiller = kdtaxonomy.instantiate("tian2020-crd", teacher=SmallCNN(8), student=SmallCNN(4), catalog=cat)
    x, y = tensors()
    with pytest.raises(ValueError, match=r"needs the sample indices.*\(x, y, index\)"):
        distiller.fit([(x[:32], y[:32]), (x[32:], y[32:])], steps=2)


# -- 4. no silent degradation ------------------------------------------------------------------------------
def test_takd_without_its_assistant_is_refused_and_with_it_learns_from_the_assistant(cat: Catalog) -> None:
    with pytest.raises(ValueError, match=r"teacher -> assistant-1 -> student.*missing: assistant-1"):
        kdtaxonomy.instantiate("mirzadeh2020-takd", teacher=SmallCNN(16), student=SmallCNN(4), catalog=cat)
    teacher, assistant = SmallCNN(16), SmallCNN(8)
    distiller = kdtaxonomy.instantiate(
        "mirzadeh2020-takd", teacher=[teacher, assistant], student=SmallCNN(4), catalog=cat
    )
    assert len(distiller.teachers) == 1 and distiller.teachers[0] is assistant
    assert distiller.fit(tensor_loader(), steps=2)[0].steps == 2


# -- 5. save and load ----------------------------------------------------------------------------------------
def test_save_and_load_a_registry_student_with_its_provenance(cat: Catalog, tmp_path: Path) -> None:
    from kdtaxonomy.student_io import build_student

    torch.manual_seed(0)
    student = build_student("cnn1d", {"size": "small"}, input_shape=(1, 40), num_classes=10)
    distiller = kdtaxonomy.instantiate("park2019-rkd", teacher=SmallCNN(8), student=student, catalog=cat)
    distiller.fit(tensor_loader(), steps=3)
    test = ArrayData.from_tensors(*tensors(48, seed=1))
    before = distiller.evaluate(test)
    path = distiller.save(tmp_path / "student.safetensors", metrics={"test_accuracy": before})
    sidecar = json.loads((tmp_path / "student.safetensors.json").read_text())
    assert distiller.recipe is not None and sidecar["recipe_hash"] == distiller.recipe.digest()
    assert sidecar["method"] == {"entry": "park2019-rkd", "configuration": "main"}
    assert sidecar["model"]["key"] == "cnn1d" and sidecar["model"]["params"]["size"] == "small"
    assert sidecar["metrics"]["steps"] == 3 and sidecar["metrics"]["test_accuracy"] == before
    assert sidecar["kdtaxonomy_version"] == kdtaxonomy.__version__
    loaded = kdtaxonomy.load_student(path)
    assert not loaded.training
    original = distiller.student.state_dict()
    assert original.keys() == loaded.state_dict().keys()
    assert all(torch.equal(v, original[k]) for k, v in loaded.state_dict().items())
    assert accuracy(loaded, test) == before
    into = kdtaxonomy.load_student(
        path, build_student("cnn1d", {"size": "small"}, input_shape=(1, 40), num_classes=10)
    )
    assert all(torch.equal(v, original[k]) for k, v in into.state_dict().items())
    with pytest.raises(ValueError, match=r"does not fit SmallCNN: missing keys") as info:
        kdtaxonomy.load_student(path, SmallCNN(4))
    assert "\n" not in str(info.value)


def test_loading_a_user_student_needs_its_module_and_checks_shapes(tmp_path: Path) -> None:
    distiller = Distiller(SmallCNN(4), [SmallCNN(8)])
    path = distiller.save(tmp_path / "out" / "s.safetensors")
    with pytest.raises(ValueError, match=r"not built by the registry.*pass module="):
        kdtaxonomy.load_student(path)
    with pytest.raises(ValueError, match=r"shape mismatch fc.bias \(10,\) in the file vs \(3,\)"):
        kdtaxonomy.load_student(path, SmallCNN(4, classes=3))
    loaded = kdtaxonomy.load_student(path, SmallCNN(4))
    assert all(torch.equal(v, distiller.student.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_the_site_snippet_names_the_locations_to_map() -> None:
    from kdtaxonomy.catalog import load_catalog
    from kdtaxonomy.render.snippet import python_snippet

    catalog = load_catalog()
    fitnets = catalog.get("romero2015-fitnets")
    text = python_snippet(fitnets, fitnets.configurations[0])
    assert "layers={'student': {'block2': 'MODULE'}, 'teacher': {'block2': 'MODULE'}}" in text
    rkd = catalog.get("park2019-rkd")
    text = python_snippet(rkd, rkd.configurations[0])
    assert "layers=" not in text and "found on any model" in text
    compile(text, "snippet", "exec")  # valid Python as printed


def _third_party_round(teacher: nn.Module, student: nn.Module, cat: Catalog, entry: str, **kw: Any) -> None:
    """A catalogued method on models built elsewhere: two steps change the student, evaluation works."""
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    distiller = kdtaxonomy.instantiate(entry, teacher=teacher.eval(), student=student, catalog=cat, **kw)
    before = [p.detach().clone() for p in distiller.student.parameters()]
    distiller.fit(loader, steps=2)
    assert any(not torch.equal(a, b) for a, b in zip(before, distiller.student.parameters(), strict=True))
    assert 0.0 <= distiller.evaluate(loader) <= 100.0


def test_torchvision_models_distil_when_torchvision_is_installed(cat: Catalog) -> None:
    models = pytest.importorskip("torchvision.models", reason="torchvision is not installed here")
    teacher, student = models.resnet18(num_classes=10), models.mobilenet_v3_small(num_classes=10)
    _third_party_round(teacher, student, cat, "park2019-rkd")  # embedding: input of the last nn.Linear
    # attention maps of torchvision's stage 2 on both sides (module paths of its named_modules())
    layers = {"student": {"block2": "layer2"}, "teacher": {"block2": "layer2"}}
    student = models.resnet18(num_classes=10)
    _third_party_round(teacher, student, cat, "zagoruyko2017-attention-transfer", layers=layers)


def test_timm_models_distil_when_timm_is_installed(cat: Catalog) -> None:
    timm = pytest.importorskip("timm", reason="timm is not installed here")
    teacher = timm.create_model("resnet18", pretrained=False, num_classes=10)
    student = timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=10)
    _third_party_round(teacher, student, cat, "hinton2015-distilling", config="plain")
