"""Shared fixtures: paths, an isolated catalog cache, a CLI runner with a fixed terminal width; writers of
test catalogs and suite results files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog, load_catalog

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "catalog"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("KDTAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kdtax-cache"))
    monkeypatch.delenv("KDTAX_CATALOG", raising=False)
    yield


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module of small models or tensors: as fast, and no crawl when other jobs share
    the cores (``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG, use_cache=False)


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})


def make_catalog(tmp_path: Path, *entries: Path, datasets: Path | None = None) -> Path:
    """A catalog directory holding the shipped vocabularies and the given entry files; ``datasets`` is a file
    whose ``datasets`` are added to the shipped dataset vocabulary."""
    root = tmp_path / "cat"
    (root / "methods").mkdir(parents=True)
    (root / "vocabulary.yaml").write_bytes((CATALOG / "vocabulary.yaml").read_bytes())
    shipped = (CATALOG / "datasets.yaml").read_text(encoding="utf-8")
    if datasets is not None:
        merged = yaml.safe_load(shipped)
        merged["datasets"].update(yaml.safe_load(datasets.read_text(encoding="utf-8"))["datasets"])
        shipped = yaml.safe_dump(merged, sort_keys=False, allow_unicode=True)
    (root / "datasets.yaml").write_text(shipped, encoding="utf-8")
    for entry in entries:
        (root / "methods" / entry.name).write_bytes(entry.read_bytes())
    return root


def write_suite_run(results: Path, regime: str, method: str, seed: int, **fields: Any) -> Path:
    """One suite results file (``results/suite/<regime>/<method>/seed-<s>.json``); ``fields`` override."""
    data: dict[str, Any] = {
        "format": "kdtax-bench/2",
        "protocol": "kdtax-bench/2",
        "kind": "suite",
        "regime": regime,
        "method": method,
        "seed": seed,
        "status": "ok",
        "configuration": None,
        "published_method": None,
        "teacher_accuracy": 97.0 + 0.1 * seed,
        "student_baseline_accuracy": 80.0 + seed,
        "student_accuracy": 80.0 + seed,
        "student_val_accuracy": 79.0,
        "student_baseline_val_accuracy": 79.0,
        "hyperparameters": {"variant": {"scale": 1.0}, "source": "test", "grid": []},
        "provenance": {},
    }
    data.update(fields)
    path = results / "suite" / regime / method / f"seed-{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
