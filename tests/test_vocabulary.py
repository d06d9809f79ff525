"""The controlled vocabulary: resolution of synonyms, errors with close matches, strictness."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from kdtaxonomy.vocabulary import FACETS, Vocabulary, VocabularyError

VOCAB_PATH = Path(__file__).resolve().parent.parent / "catalog" / "vocabulary.yaml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(VOCAB_PATH.read_text())


@pytest.fixture(scope="module")
def vocab(raw: dict) -> Vocabulary:
    return Vocabulary.from_mapping(raw)


@pytest.mark.parametrize(
    "name", ["MI", "mutual-information", "Mutual information", "  mutual_information ", "mi"]
)
def test_mutual_information_spellings_resolve(vocab: Vocabulary, name: str) -> None:
    resolved = vocab.resolve("knowledge", name)
    assert (resolved.step, resolved.term) == ("knowledge", "mutual-information")


def test_facets_spanning_several_steps(vocab: Vocabulary) -> None:
    assert vocab.resolve("teacher", "Born again").term == "generations"
    assert vocab.resolve("teacher", "low precision").step == "teacher-construction"
    assert vocab.resolve("student", "quantized").step == "student-construction"
    assert vocab.resolve("student", "Quantized CNN").term == "quantized-network"
    assert vocab.resolve("data-prep", "for both").step == "partitioning"


def test_unknown_term_lists_close_matches(vocab: Vocabulary) -> None:
    with pytest.raises(VocabularyError) as info:
        vocab.resolve("knowledge", "mutual-informaton")
    message = str(info.value)
    assert "unknown --knowledge value 'mutual-informaton'" in message
    assert "Did you mean: mutual-information" in message


def test_unknown_facet(vocab: Vocabulary) -> None:
    with pytest.raises(VocabularyError, match="Did you mean: knowledge"):
        vocab.resolve("knowlege", "mi")


def test_every_step_of_every_facet_exists_and_terms_are_documented(vocab: Vocabulary) -> None:
    for steps in FACETS.values():
        for step in steps:
            assert vocab.terms(step), step
            for term in vocab.terms(step):
                info = vocab.term(step, term)
                assert len(info.description) > 20, (step, term)


def test_gou_mapping_covers_the_three_knowledge_categories(vocab: Vocabulary) -> None:
    categories = {g for t in vocab.terms("knowledge") for g in vocab.gou("knowledge", t)}
    assert {"response-based", "feature-based", "relation-based"} <= categories
    assert set(vocab.data.gou_categories) >= {
        "offline",
        "online",
        "self",
        "adversarial",
        "multi-teacher",
        "cross-modal",
        "graph-based",
        "attention-based",
        "data-free",
        "quantized",
        "lifelong",
        "nas-based",
    }


def test_ambiguous_synonym_within_a_facet_is_rejected(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    steps = bad["stages"]["teacher"]["steps"]
    steps["teacher-construction"]["terms"]["pre-trained"]["synonyms"].append("ensemble of teachers")
    with pytest.raises(ValidationError, match="names must resolve to one term per facet"):
        Vocabulary.from_mapping(bad)


def test_unknown_gou_category_is_rejected(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["stages"]["distillation"]["steps"]["knowledge"]["terms"]["soft-labels"]["gou"] = ["response-ish"]
    with pytest.raises(ValidationError, match="unknown Gou categories"):
        Vocabulary.from_mapping(bad)


def test_vocabulary_rejects_unknown_keys(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["stages"]["inputs"]["colour"] = "blue"
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Vocabulary.from_mapping(bad)
