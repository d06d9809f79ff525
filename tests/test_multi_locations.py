"""Terms that read several maps of each model (location ``a&b``): syntax, resolution, shapes, listings and
runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from kdtaxonomy import location_names as ln
from kdtaxonomy.catalog import Catalog
from kdtaxonomy.cli import app
from kdtaxonomy.datasets import build_dataset
from kdtaxonomy.locations import needed_locations
from kdtaxonomy.models import build_model
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.recipe import RecipeError, resolve
from kdtaxonomy.render.snippet import python_snippet
from kdtaxonomy.schema import KnowledgeSpec
from kdtaxonomy.topology import topology
from kdtaxonomy.transfer import read

from .conftest import CATALOG

pytestmark = pytest.mark.usefixtures("one_thread")


def test_location_syntax() -> None:
    assert ln.split_location(None) == ("output", "output")
    assert ln.split_location("block1&block2:block2&block3") == ("block1&block2", "block2&block3")
    assert ln.names("block1&block2", 1) == ("block1", "block2")
    assert ln.names("embedding:lstm", 1) == ("lstm",)
    assert ln.map_pairs("block1&block2") == ["block1", "block2"]
    assert ln.map_pairs("block1&block2:block2&block2x") == ["block1:block2", "block2:block2x"]
    assert ln.map_pairs("embedding:lstm") == ["embedding:lstm"]
    assert ln.location_problem("block1&block2", (1, 2)) is None
    assert ln.location_problem("embedding:lstm") is None and ln.location_problem(None) is None


@pytest.mark.parametrize(
    ("location", "maps", "message"),
    [
        ("block1&block2", (1, 1), r"reads 2 map\(s\) per model; this loss takes 1 "),
        ("block1&block2&block3", (1, 2), r"takes 1 to 2"),
        ("block1", (2, None), r"takes 2 or more"),
        ("block1&block2:block2", (1, 2), r"student side names 2 map\(s\), the teacher side 1"),
        ("block1&&block2", (1, 2), r"empty or padded name"),
        ("block1& block2", (1, 2), r"empty or padded name"),
        ("block1&block1", (1, 2), r"read twice"),
        ("a:b:c", (1, 1), r"at most one ':'"),
    ],
)
def test_location_problems(location: str, maps: tuple[int, int | None], message: str) -> None:
    problem = ln.location_problem(location, maps)
    assert problem is not None and problem.startswith(f"location {location!r}")
    assert re.search(message, problem), problem


def test_needed_locations_list_each_name() -> None:
    knowledge = [
        KnowledgeSpec(component="fsp", location="block1&block2:block2&block3"),
        KnowledgeSpec(component="fitnets", location="block2"),
        KnowledgeSpec(component="soft-label-kd"),
    ]
    assert needed_locations(knowledge, 0) == ["block1", "block2"]
    assert needed_locations(knowledge, 1) == ["block2", "block3"]


def _models(student_size: str = "medium") -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    teacher = build_model("cnn1d", {"size": "large"}, input_shape=(1, 40), num_classes=10)
    student = build_model("cnn1d", {"size": student_size}, input_shape=(1, 40), num_classes=10)
    return student, teacher


def test_a_term_gets_a_tuple_of_maps_and_of_shapes_per_side() -> None:
    student, teacher = _models()
    spec = KnowledgeSpec(component="fsp", location="block1&block2:block2&block3")
    distiller = Distiller(student, [teacher], knowledge=[spec])
    data = build_dataset("mnist1d", {"train_limit": 64, "test_limit": 32})
    distiller.fit(data.train, steps=1, batch_size=32)
    (term,), (module,) = distiller.terms, distiller.loss_modules
    # cnn1d medium: block1 (32, 20), block2 (64, 10); large: block2 (64, 10), block3 (128, 5)
    assert module.s_shapes == ((32, 20), (64, 10)) and module.t_shapes == ((64, 10), (128, 5))
    assert [type(c[0]).__name__ for c in module.connectors] == ["Conv1d", "Conv1d"]
    batch = {"x": data.train.x[:8], "y": data.train.y[:8]}
    student.eval()
    s = distiller.features(student, batch["x"], distiller.student_locations)
    (t,) = distiller.teacher_features(batch)
    maps = read(s, term.location)
    assert isinstance(maps, tuple) and maps[0] is s["block1"] and maps[1] is s["block2"]
    expected = module((s["block1"], s["block2"]), (t["block2"], t["block3"]))
    torch.testing.assert_close(distiller.transfer.combine(distiller.terms, s, [t], batch), expected)
    plan = distiller.describe()
    assert "fsp @ block1&block2:block2&block3, weight 1" in plan
    assert "block3: teacher: output of 'body.block3'" in plan and "block1: student:" in plan


def test_a_missing_name_gives_the_error_of_a_missing_location() -> None:
    student, teacher = _models("small")  # three blocks
    with pytest.raises(ValueError, match=r"reads location\(s\) block4 on the student, which cannot be found"):
        Distiller(student, [teacher], knowledge=[KnowledgeSpec(component="fitnets", location="block4")])
    with pytest.raises(ValueError, match=r"reads location\(s\) block4 on the student, which cannot be found"):
        Distiller(student, [teacher], knowledge=[KnowledgeSpec(component="fsp", location="block3&block4")])


def test_a_loss_taking_one_map_refuses_several() -> None:
    student, teacher = _models()
    with pytest.raises(ValueError, match=r"'fitnets'.*reads 2 map\(s\) per model; this loss takes 1"):
        Distiller(
            student, [teacher], knowledge=[KnowledgeSpec(component="fitnets", location="block1&block2")]
        )


def test_the_fsp_recipe_is_listed_map_by_map(catalog: Catalog) -> None:
    entry = catalog.get("yim2017-fsp")
    recipe = resolve(entry.configurations[0], entry.id)
    assert [k.location for k in recipe.knowledge] == ["block1&block2", "block2&block3"]
    edge = topology(recipe).edges["teacher", "student"]
    assert edge["locations"] == ["block1", "block2", "block3"]
    assert edge["knowledge"] == ["fsp@block1&block2", "fsp@block2&block3"]
    snippet = python_snippet(entry, entry.configurations[0])
    assert "{'block1': 'MODULE', 'block2': 'MODULE', 'block3': 'MODULE'}" in snippet


@pytest.mark.parametrize(
    ("component", "location", "message"),
    [
        ("fsp", "block1&block2:block2", "knowledge.0.location: location 'block1&block2:block2': the student"),
        ("fitnets", "block1&block2", "knowledge.0.location: location 'block1&block2' reads 2 map(s)"),
    ],
)
def test_recipe_checks_refuse_a_bad_multi_map_location(
    catalog: Catalog, component: str, location: str, message: str
) -> None:
    config = catalog.get("yim2017-fsp").configurations[0]
    assert config.implementation is not None
    impl = config.implementation.model_copy(
        update={"knowledge": [KnowledgeSpec(component=component, location=location)]}
    )
    with pytest.raises(RecipeError, match="^" + re.escape(message)):
        resolve(config.model_copy(update={"implementation": impl}), "yim2017-fsp")


def test_validate_names_the_file_and_field_of_a_bad_location(runner: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(CATALOG, root)
    path = root / "methods" / "yim2017-fsp.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('location: "block2&block3"', 'location: "block2&block3&block4"'), "utf-8")
    result = runner.invoke(app, ["--catalog", str(root), "validate"])
    assert result.exit_code == 1
    assert "yim2017-fsp.yaml" in result.output and "knowledge.1.location" in result.output
    assert "reads 3 map(s) per model; this loss takes 1 to 2" in result.output


def test_fsp_trains_end_to_end(runner: CliRunner, tmp_path: Path) -> None:
    args = ["train", "yim2017-fsp", "--max-steps", "3", "--batch-size", "64", "--format", "json"]
    result = runner.invoke(app, ["--catalog", str(CATALOG), *args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert 0.0 <= results["student_accuracy"] <= 100.0
