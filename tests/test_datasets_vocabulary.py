"""The controlled dataset vocabulary: normalised queries, strict validation, typed and filtered results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.cli import app
from kdtaxonomy.dataset_vocabulary import NOT_APPLICABLE, UNKNOWN, DatasetVocabulary
from kdtaxonomy.lookup import VocabularyError

from .conftest import CATALOG, FIXTURES, make_catalog

DATASETS_PATH = CATALOG / "datasets.yaml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(DATASETS_PATH.read_text(encoding="utf-8"))


def _ids(data: list[dict]) -> set[str]:
    return {f"{row['id']}#{row['configuration']}" for row in data}


def test_three_spellings_of_cifar_100_are_one_query(runner: CliRunner, catalog: Catalog) -> None:
    found = []
    for name in ("CIFAR100", "cifar-100", "CIFAR-100"):
        result = runner.invoke(app, ["list", "--dataset", name, "--format", "json"])
        assert result.exit_code == 0, result.stderr
        found.append(_ids(json.loads(result.stdout)))
    assert found[0] == found[1] == found[2]
    assert {"ahn2019-vid#main", "cho2023-area-rkd#image-area"} <= found[0]
    assert {f"{e.id}#{c.name}" for e, c in catalog.filter(dataset="cifar100")} == found[0]
    assert all("CIFAR-100" in c.datasets for _, c in catalog.filter(dataset="CIFAR100"))


def test_a_part_of_a_name_selects_every_dataset_holding_it(catalog: Catalog) -> None:
    datasets = {d for _, c in catalog.filter(dataset="cifar") for d in c.datasets}
    assert {"CIFAR-10", "CIFAR-100"} <= datasets
    with pytest.raises(VocabularyError, match=r"unknown dataset 'cifra'\. Did you mean: CIFAR-10"):
        catalog.filter(dataset="cifra")


def test_every_dataset_name_in_the_catalog_resolves(catalog: Catalog) -> None:
    labels = set(catalog.datasets.labels)
    for entry in catalog:
        for config in entry.configurations:
            for name in config.datasets:
                assert name in labels or name == UNKNOWN, (entry.id, config.name, name)
                assert name == UNKNOWN or catalog.datasets.lookup.resolve(name) == name
        for i, result in enumerate(entry.results):
            assert result.dataset in labels | {UNKNOWN, NOT_APPLICABLE}, (entry.id, i, result.dataset)
            if result.dataset in labels:  # the dataset lists the metrics reported on it
                assert result.metric_id in catalog.datasets.dataset(result.dataset).metrics, (entry.id, i)
    # the names the catalog used before the vocabulary resolve to one dataset each
    old = {"CIFAR100": "CIFAR-100", "CIFAR10": "CIFAR-10", "TINY IMAGENET": "Tiny ImageNet"}
    old |= {
        "TinyImageNet": "Tiny ImageNet",
        "MS-COCO": "COCO",
        "ImageNet-1K": "ImageNet",
        "CUB200": "CUB-200-2011",
    }
    for name, label in old.items():
        assert catalog.datasets.lookup.resolve(name) == label


def test_the_voxceleb_flow_sequence_is_no_longer_split(catalog: Catalog) -> None:
    names = {d for entry in catalog for c in entry.configurations for d in c.datasets}
    assert {"VoxCeleb1", "VoxCeleb2"} <= names and not {
        n for n in names if "Vox1-" in n or ("Vox" in n and "(" in n)
    }
    splits = {r.split for r in catalog.get("zhang-multimodal-kd").results}
    assert {"Vox1-O trial list", "Vox1-E trial list", "Vox1-H trial list"} <= splits


def test_dataset_vocabulary_is_strict(raw: dict) -> None:
    vocab = DatasetVocabulary.from_mapping(raw)
    assert vocab.id_of("CIFAR-100") == "cifar-100" and vocab.dataset("CIFAR-100").modality == ["image"]
    for bad in (
        {**raw, "extra": 1},
        {
            **raw,
            "datasets": {
                **raw["datasets"],
                "dup": {"label": "x", "synonyms": ["cifar100"], "task": "t", "modality": ["image"]},
            },
        },
        {**raw, "datasets": {"x": {"label": "X", "task": "t", "modality": ["image"], "metrics": ["nope"]}}},
        {**raw, "metrics": {"m": {"label": "M", "direction": "up", "description": "d"}}},
    ):
        with pytest.raises(ValidationError):
            DatasetVocabulary.from_mapping(bad)


def test_synonyms_are_rejected_in_entries_with_the_canonical_label(raw: dict) -> None:
    vocab = DatasetVocabulary.from_mapping(raw)
    with pytest.raises(VocabularyError, match="'CIFAR100' is a synonym: write the dataset as 'CIFAR-100'"):
        vocab.require_canonical("CIFAR100")
    vocab.require_canonical("n/a", allow_na=True)
    with pytest.raises(VocabularyError):
        vocab.require_canonical("n/a")


def _entry_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (FIXTURES / "valid" / "example-kd.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "src" / "example-kd.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_validate_rejects_an_unknown_dataset_with_a_suggestion(runner: CliRunner, tmp_path: Path) -> None:
    root = make_catalog(tmp_path, _entry_with(tmp_path, "datasets: [MNIST-1D]", "datasets: [CIFAR-1000]"))
    result = runner.invoke(app, ["--catalog", str(root), "validate"])
    assert result.exit_code == 1
    line = next(ln for ln in result.stderr.splitlines() if "CIFAR-1000" in ln)
    assert "example-kd.yaml:17: configurations.0.datasets:" in line
    assert "unknown dataset 'CIFAR-1000'. Did you mean: CIFAR-100" in line


def test_validate_rejects_a_direction_contradicting_the_metric(runner: CliRunner, tmp_path: Path) -> None:
    path = _entry_with(tmp_path, "metric_id: accuracy", "metric_id: eer")
    result = runner.invoke(app, ["--catalog", str(make_catalog(tmp_path, path)), "validate"])
    assert result.exit_code == 1
    assert "contradicts metric 'eer', for which lower is better" in result.stderr


def test_table_results_filters_results_by_their_own_dataset(runner: CliRunner) -> None:
    result = runner.invoke(app, ["table", "results", "--dataset", "cifar100", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(row["dataset"] == "CIFAR-100" for row in rows)
    text = runner.invoke(app, ["table", "results", "--dataset", "CIFAR-100", "--format", "md"]).stdout
    assert "UrbanSound8K" not in text and "MNIST-1D" not in text and "mnist1d" not in text
    assert "| CIFAR-100 (test set) |" in text  # the split is printed beside the dataset


def test_json_values_are_numbers_with_unit_metric_and_direction(runner: CliRunner) -> None:
    result = runner.invoke(app, ["table", "results", "--search", "Ghosh Dastidar", "--format", "json"])
    rows = json.loads(result.stdout)
    reported = [r for r in rows if r["kind"] == "reported"]
    assert reported and all(
        isinstance(r["value"], float | int) and not isinstance(r["value"], bool) for r in reported
    )
    row = next(r for r in reported if r["text"] == "89.19%")
    assert (row["value"], row["unit"], row["metric"], row["direction"]) == (89.19, "%", "accuracy", "higher")
    md = runner.invoke(app, ["table", "results", "--search", "Ghosh Dastidar", "--format", "md"]).stdout
    assert "| 89.19% |" in md  # text formats keep the printed value


def test_metric_directions_of_an_accuracy_and_an_eer_result(catalog: Catalog) -> None:
    accuracy = next(r for r in catalog.get("cho2023-area-rkd").results if r.metric_id == "accuracy")
    eer = next(r for r in catalog.get("zhang-multimodal-kd").results if r.metric_id == "eer")
    assert catalog.datasets.metric("accuracy").direction == accuracy.direction == "higher"
    assert catalog.datasets.metric("eer").direction == eer.direction == "lower"
    assert accuracy.higher_is_better and not eer.higher_is_better


def test_results_are_sorted_best_first_in_their_direction(catalog: Catalog, tmp_path: Path) -> None:
    from kdtaxonomy.render.tables import results_table

    pairs = catalog.filter(search="zhang multimodal")
    table = results_table(pairs, results_dir=tmp_path, only={"VoxCeleb1"})
    eer = [r["value"] for r in table.records if r["split"] == "Vox1-O trial list" and r["metric"] == "eer"]
    assert len(eer) > 2 and eer == sorted(eer)  # lower is better: ascending
    accuracy = results_table(
        catalog.filter(search="Ghosh Dastidar"), results_dir=tmp_path, only={"CVSI-2015"}
    )
    first = [r for r in accuracy.records if r["measure"] == "accuracy"]
    assert [r["value"] for r in first] == sorted((r["value"] for r in first), reverse=True)
