"""The Python API: loading, filtering (facets AND together), caching and its invalidation."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import kdtaxonomy
from kdtaxonomy.catalog import Catalog, CatalogError, load_catalog
from kdtaxonomy.schema import step_terms
from kdtaxonomy.vocabulary import VocabularyError

from .conftest import CATALOG, FIXTURES, make_catalog


def ids(pairs: list) -> set[str]:
    return {f"{e.id}#{c.name}" for e, c in pairs}


def brute_force(catalog: Catalog, step: str, term: str) -> set[str]:
    return {f"{e.id}#{c.name}" for e, c in catalog.configurations() if term in step_terms(c, step)}


def test_public_api(catalog: Catalog) -> None:
    loaded = kdtaxonomy.load_catalog(CATALOG)
    assert len(loaded) == len(catalog) >= 32
    assert loaded.get("ahn2019-vid").title == "Variational Information Distillation for Knowledge Transfer"
    assert [e.id for e in loaded] == sorted(loaded.entries)


@pytest.mark.parametrize(
    "facet,step", [("knowledge", "knowledge"), ("transfer", "transfer"), ("location", "location")]
)
def test_filter_matches_brute_force_for_every_term(catalog: Catalog, facet: str, step: str) -> None:
    for term in catalog.vocabulary.terms(step):
        assert ids(catalog.filter(**{facet: term})) == brute_force(catalog, step, term), term


def test_mutual_information_query(catalog: Catalog) -> None:
    hits = ids(catalog.filter(knowledge="MI"))
    assert "ahn2019-vid#main" in hits
    assert hits == ids(catalog.filter(knowledge="Mutual information"))
    assert all("mutual-information" in c.distillation.knowledge for _, c in catalog.filter(knowledge="mi"))


def test_repeated_facets_and_together(catalog: Catalog) -> None:
    both = ids(catalog.filter(knowledge=["soft-labels", "relations"]))
    assert both == ids(catalog.filter(knowledge="soft-labels")) & ids(catalog.filter(knowledge="relations"))
    assert "park2019-rkd#main" in both
    combo = ids(catalog.filter(teacher="multi-teacher", transfer="aggregated"))
    assert {"hinton2015-distilling#ex1", "hinton2015-distilling#ex2"} <= combo


def test_dataset_year_and_search(catalog: Catalog) -> None:
    assert {e.id for e, _ in catalog.filter(dataset="cifar100")} >= {
        "ahn2019-vid",
        "furlanello2018-born-again",
    }
    assert all(e.year == 2019 for e, _ in catalog.filter(year="2019"))
    assert all(2018 <= e.year <= 2020 for e, _ in catalog.filter(year="2018-2020"))
    assert {e.id for e, _ in catalog.filter(search="born again")} >= {"furlanello2018-born-again"}
    assert catalog.filter(search="zzzz-not-a-word") == []


def test_bad_queries_are_errors_with_suggestions(catalog: Catalog) -> None:
    with pytest.raises(VocabularyError, match="Did you mean: mutual-information"):
        catalog.filter(knowledge="mutual-informaton")
    with pytest.raises(VocabularyError, match="--year must be a year"):
        catalog.filter(year="last year")
    with pytest.raises(VocabularyError, match="unknown filter 'knowlege'"):
        catalog.filter(knowlege="mi")
    with pytest.raises(KeyError, match="Did you mean: ahn2019-vid"):
        catalog.get("ahn2019-vd")


def test_cache_is_used_and_invalidated_by_edits(tmp_path: Path) -> None:
    root = make_catalog(tmp_path, FIXTURES / "valid" / "example-kd.yaml")
    first = load_catalog(root)
    again = load_catalog(root)
    assert again.get("example-kd").title == first.get("example-kd").title
    path = root / "methods" / "example-kd.yaml"
    time.sleep(0.01)
    path.write_text(path.read_text().replace("An Example of Soft-Label", "A Changed"), encoding="utf-8")
    assert load_catalog(root).get("example-kd").title.startswith("A Changed")
    path.write_text(
        path.read_text().replace("knowledge: [soft-labels]", "knowledge: [nope]"), encoding="utf-8"
    )
    with pytest.raises(CatalogError):
        load_catalog(root)


def test_corrupt_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("KDTAX_CACHE_DIR", str(cache))
    root = make_catalog(tmp_path, FIXTURES / "valid" / "example-kd.yaml")
    load_catalog(root)
    for file in cache.glob("*.pickle"):
        file.write_bytes(b"not a pickle")
    assert len(load_catalog(root)) == 1


def test_catalog_env_var_and_missing_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_catalog(tmp_path, FIXTURES / "valid" / "example-kd.yaml")
    monkeypatch.setenv("KDTAX_CATALOG", str(root))
    assert list(load_catalog().entries) == ["example-kd"]
    with pytest.raises(CatalogError, match="catalog directory not found"):
        load_catalog(tmp_path / "nowhere")
    shutil.rmtree(root / "methods")
    with pytest.raises(CatalogError, match="no methods/ folder"):
        load_catalog(root)
