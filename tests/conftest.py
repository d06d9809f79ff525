"""Shared fixtures: paths, an isolated catalog cache, a CLI runner with a fixed terminal width."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG, use_cache=False)


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})


def make_catalog(tmp_path: Path, *entries: Path) -> Path:
    """A catalog directory holding the shipped vocabulary and the given entry files."""
    root = tmp_path / "cat"
    (root / "methods").mkdir(parents=True)
    (root / "vocabulary.yaml").write_bytes((CATALOG / "vocabulary.yaml").read_bytes())
    for entry in entries:
        (root / "methods" / entry.name).write_bytes(entry.read_bytes())
    return root
