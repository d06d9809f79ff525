"""The shipped catalog: faithful to the survey's Tables I-II and to the seed papers' numbers.

Driven by the catalog: every entry, configuration and reported result is checked without listing them here.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

import pytest

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.render.rows import SUMMARY_KEYS, summary_rows
from kdtaxonomy.schema import step_terms

from .conftest import FIXTURES, ROOT

SEEDS = ROOT.parent / "shared" / "seeds"
SEED_FILES = {
    "survey": "000_f16f97862aa095b9.txt",
    "jung2020-asc-audio-tagging": "001_e446f97c27f976c9.txt",
    "cho2023-area-rkd": "002_94a1474c392eddd8.txt",
    "zhang-multimodal-kd": "003_4072ace34453caf4.txt",
    "ghoshdastidar2021-multiscript-kd": "004_d92d4bf52ac69119.txt",
}
REQUIRED = [
    "hinton2015-distilling",
    "polino2018-quantized-distillation",
    "mishra2017-apprentice",
    "wu2019-multi-teacher-video",
    "zhu2019-low-resolution",
    "nayak2019-zero-shot-kd",
    "kim2016-sequence-level-kd",
    "ahn2019-vid",
    "meng2019-conditional-ts",
    "furlanello2018-born-again",
    "mahbod2019-skin-lesion",
    "lu2019-breast-mri",
    "wang2019-progressive-ts",
    "wang2019-fine-grained-imitation",
    "liu2019-structured-kd",
    "park2019-rkd",
    "kim2019-output-errors",
    "jung2020-asc-audio-tagging",
    "cho2023-area-rkd",
    "zhang-multimodal-kd",
    "ghoshdastidar2021-multiscript-kd",
    "romero2015-fitnets",
    "zagoruyko2017-attention-transfer",
    "tung2019-similarity-preserving",
    "peng2019-correlation-congruence",
    "passalis2018-pkt",
    "huang2017-nst",
    "tian2020-crd",
    "zhao2022-dkd",
    "mirzadeh2020-takd",
    "son2021-dgkd",
    "zhang2018-dml",
]


def survey_table() -> list[tuple[str, dict[str, str]]]:
    """Tables I and II as copied verbatim from the survey into tests/fixtures/survey_tables.tsv."""
    with (FIXTURES / "survey_tables.tsv").open(encoding="utf-8") as handle:
        return [
            (row[0], dict(zip(SUMMARY_KEYS, row[1:], strict=True)))
            for row in csv.reader(handle, delimiter="\t")
        ]


def test_every_required_work_is_catalogued(catalog: Catalog) -> None:
    missing = [i for i in REQUIRED if i not in catalog.entries]
    assert not missing


def test_summary_reproduces_tables_i_and_ii_exactly(catalog: Catalog) -> None:
    produced = summary_rows(catalog.configurations())
    expected = survey_table()
    assert len(expected) == 18
    assert produced == expected


def test_seventeen_surveyed_works_carry_their_labels(catalog: Catalog) -> None:
    labelled = {e.survey_label for e in catalog if e.survey_label}
    assert len(labelled) == 17
    for entry in catalog:
        for config in entry.configurations:
            if config.survey_row:
                assert config.survey_row.work.startswith(entry.survey_label or "?")


@pytest.mark.parametrize(
    ("entry_id", "tables"),
    [
        ("jung2020-asc-audio-tagging", {"Table 2", "Table 3", "Table 4", "Table 5", "Table 6"}),
        ("cho2023-area-rkd", {"Table 3", "Table 4"}),
        ("zhang-multimodal-kd", {"Table 1", "Table 2", "Table 3"}),
        ("ghoshdastidar2021-multiscript-kd", {"Table 2", "Table 6", "Table 7"}),
    ],
)
def test_seed_entries_report_their_tables(catalog: Catalog, entry_id: str, tables: set[str]) -> None:
    entry = catalog.get(entry_id)
    assert entry.seed is not None
    assert tables <= {r.source.table for r in entry.results if r.source.paper == "self"}


def test_seed_003_configurations(catalog: Catalog) -> None:
    names = {c.name for c in catalog.get("zhang-multimodal-kd").configurations}
    assert {"label-level", "embedding-level", "distribution-level"} <= names


@cache
def _numbers(name: str) -> set[float]:
    text = (SEEDS / name).read_text(encoding="utf-8")
    return {float(m) for m in re.findall(r"(?<![\d.])\d+(?:\.\d+)?", text.replace(",", ""))}


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds not present beside the checkout")
def test_every_number_from_a_seed_is_printed_in_that_seed(catalog: Catalog) -> None:
    """Independent check of faithfulness: each reported value occurs in the text of the paper it cites."""
    checked = 0
    problems = []
    for entry in catalog:
        for i, result in enumerate(entry.results):
            paper = entry.id if result.source.paper == "self" else result.source.paper
            if paper not in SEED_FILES:
                continue
            checked += 1
            if result.value not in _numbers(SEED_FILES[paper]):
                problems.append(f"{entry.id} results.{i}: {result.value} not printed in {SEED_FILES[paper]}")
    assert checked > 300
    assert not problems


def test_every_configuration_describes_all_four_stages(catalog: Catalog) -> None:
    for entry, config in catalog.configurations():
        where = f"{entry.id}#{config.name}"
        assert config.objective, where
        assert config.distillation.knowledge, where
        assert config.distillation.transfer, where
        assert config.teacher.setup or config.teacher.count == 0, where
        assert step_terms(config, "student-setup"), where
        assert len(entry.description) > 200, where


def test_results_name_their_source_table(catalog: Catalog) -> None:
    for entry in catalog:
        for result in entry.results:
            if result.source.is_repository:  # a repository file's table is named by its heading
                continue
            assert re.match(r"(Table|Section|Abstract|Fig)", result.source.table), (
                entry.id,
                result.source.table,
            )


def test_catalog_files_are_named_by_id() -> None:
    for path in (ROOT / "catalog" / "methods").glob("*.yaml"):
        assert re.search(rf"^id: {re.escape(path.stem)}$", path.read_text(encoding="utf-8"), re.M), path


def test_shipped_paths_exist() -> None:
    assert (ROOT / "catalog" / "vocabulary.yaml").is_file()
    assert Path(ROOT / "pyproject.toml").read_text().count("force-include") == 1
