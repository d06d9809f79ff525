"""The reference libraries' published numbers (``published_results.tsv``) are the catalog's repository-sourced
results, row for row, and ``kdtax table leaderboard`` / the site's leaderboards print them."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.cli import app
from kdtaxonomy.provenance import Source
from kdtaxonomy.published import published_results_path, read_published
from kdtaxonomy.render import leaderboard
from kdtaxonomy.specs import load_specs

from .conftest import CATALOG

HOMES = {
    "KD": ("hinton2015-distilling", "plain"),
    "FitNet": ("romero2015-fitnets", "main"),
    "AT": ("zagoruyko2017-attention-transfer", "activation-based"),
    "SP": ("tung2019-similarity-preserving", "main"),
    "CC": ("peng2019-correlation-congruence", "main"),
    "VID": ("ahn2019-vid", "main"),
    "RKD": ("park2019-rkd", "main"),
    "PKT": ("passalis2018-pkt", "network-to-network"),
    "NST": ("huang2017-nst", "main"),
    "CRD": ("tian2020-crd", "compression"),
    "DKD": ("zhao2022-dkd", "classification"),
    "DIST": ("huang2022-dist", "classification"),
    "Tf-KD": ("yuan2020-tf-kd", "self"),
    "ICKD": ("liu2021-ickd", "classification"),
    "AB": ("heo2019-activation-boundaries", "main"),
    "FT": ("kim2018-factor-transfer", "main"),
    "FSP": ("yim2017-fsp", "main"),
    "L2": ("zhang2020-pad", "l2"),
    "PAD-L2": ("zhang2020-pad", "pad-l2"),
    "KD+DOT": ("zhao2023-dot", "kd-dot"),
    "SRD": ("miles2024-srd", "classification"),
    "KR": ("chen2021-knowledge-review", "classification"),
    "SSKD": ("xu2020-sskd", "classification"),
    "teacher": ("hinton2015-distilling", "plain"),
    "student": ("hinton2015-distilling", "plain"),
    "Pretrained (ResNet-18, no distillation)": ("hinton2015-distilling", "plain"),
}
ROLES = {
    "teacher": "teacher",
    "student": "student-baseline",
    "Pretrained (ResNet-18, no distillation)": "student-baseline",
}
UNCATALOGUED: dict[str, int] = {}  # every TSV method is catalogued (SSKD the last, xu2020-sskd)
"""Rows of methods the catalog lacks, per label: adding a row of one fails until its entry exists."""
NO_NUMBER = 2
"""torchdistill's ``N/A`` cells (original work of KD and of the pretrained ResNet-18)."""
MARKS = "*\u2020\u2021"


def _rows() -> list[dict[str, str]]:
    return read_published(published_results_path())


def _key(entry: str, config: str | None, **f: Any) -> tuple[Any, ...]:
    return (entry, config, *(f[k] for k in ("repository", "commit", "file", "table", "dataset", "method",
                                            "role", "teacher", "student", "value", "printed")))  # fmt: skip


def test_tsv_rows_are_the_repository_results_and_back(catalog: Catalog) -> None:
    expected: Counter[tuple[Any, ...]] = Counter()
    left_out: Counter[str] = Counter()
    no_number = 0
    for row in _rows():
        if row["method"] not in HOMES:
            left_out[row["method"]] += 1
            continue
        text = row["value"].strip()
        if text == "N/A":
            no_number += 1
            continue
        number = text.rstrip(MARKS)
        entry, config = HOMES[row["method"]]
        expected[_key(
            entry, config, repository=row["source"], commit=row["commit"], file=row["file"], table=row["table"],
            dataset=catalog.datasets.lookup.resolve(row["dataset"]), method=row["method"],
            role=ROLES.get(row["method"], "student-distilled"), teacher=row["teacher"], student=row["student"],
            value=float(number), printed=text,
        )] += 1  # fmt: skip
    found: Counter[tuple[Any, ...]] = Counter()
    for entry in catalog:
        for r in entry.results:
            s = r.source
            if not s.is_repository:
                continue
            assert (r.metric_id, r.unit, r.higher_is_better) == ("accuracy", "%", True)
            found[_key(
                entry.id, r.configuration, repository=s.repository, commit=s.commit, file=s.file, table=s.table,
                dataset=r.dataset, method=r.method, role=r.role, teacher=r.teacher, student=r.student,
                value=r.value, printed=f"{r.value_text}",
            )] += 1  # fmt: skip
    assert found - expected == Counter(), "catalog results with a repository source that are no TSV row"
    assert expected - found == Counter(), "TSV rows of catalogued methods missing from the catalog"
    assert dict(left_out) == UNCATALOGUED
    assert no_number == NO_NUMBER
    assert sum(expected.values()) == 253  # all 255 rows but torchdistill's 2 N/A cells


def test_pairs_keep_names_and_registry_keys(catalog: Catalog) -> None:
    keys = set(load_specs()["model"])
    mapped = {}
    for entry in catalog:
        for r in entry.results:
            if r.source.is_repository:
                for name, key in ((r.teacher, r.teacher_model), (r.student, r.student_model)):
                    assert key is None or key in keys
                    if r.dataset == "CIFAR-100":
                        assert key is not None, (entry.id, name)
                        mapped[name] = key
                    else:
                        assert key is None  # ImageNet's ResNet-50 is not the registry's CIFAR resnet50
    assert mapped["ShuffleNetV1"] == mapped["ShuffleNet-V1"] == "shufflenetv1"
    assert mapped["ResNet32x4"] == "resnet32x4" and mapped["WRN-40-2"] == "wrn-40-2"
    assert mapped["MobileNetV2"] == mapped["MobileNet-V2"] == "mobilenetv2"


def test_source_validation_and_text() -> None:
    ok = {"repository": "HobbitLong/RepDistiller", "commit": "0eb3a95611e6e006b0db5ccdae1e29522db88b0c",
          "file": "README.md", "table": "Benchmark Results on CIFAR-100, 1. same architectural type"}  # fmt: skip
    assert Source(**ok).text() == (
        'HobbitLong/RepDistiller@0eb3a95 README.md, "Benchmark Results on CIFAR-100, 1. same architectural type"'
    )
    assert Source(paper="self", table="Table 3").text() == "this paper, Table 3"
    for bad in (
        {**ok, "commit": "0eb3a95"},
        {**ok, "commit": "0EB3A95611E6E006B0DB5CCDAE1E29522DB88B0X"},
        {**ok, "repository": "RepDistiller"},
        {**ok, "repository": "a/b/c"},
        {**ok, "file": "../README.md"},
        {**ok, "file": "/README.md"},
        {**ok, "paper": "self"},
        {k: v for k, v in ok.items() if k != "commit"},
        {"table": "Table 1"},
    ):
        with pytest.raises(ValidationError):
            Source(**bad)


def _invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, ["--catalog", str(CATALOG), "table", "leaderboard", *args])


def test_best_mark_of_a_column(catalog: Catalog) -> None:
    board = leaderboard.build(catalog, "CIFAR-100")
    column = next(c for c in board.columns if c.key == ("resnet32x4", "resnet8x4", ""))
    best = [(row.label, r.value) for row in board.rows for r in row.cells.get(column.key, [])
            if leaderboard.is_best(board, column.key, r)]  # fmt: skip
    assert best == [("DKD", 76.32)]  # mdistiller's DKD; RepDistiller's best is CRD 75.51, the teacher 79.42
    column = next(c for c in board.columns if c.key == ("resnet110", "resnet20", ""))
    assert board.best[column.key] == 71.46  # CRD; no DKD row for this pair
    assert [r.label for r in board.rows[:2]] == ["teacher", "student alone"]


def test_pair_filter_and_json(runner: CliRunner) -> None:
    result = _invoke(runner, "--dataset", "cifar100", "--teacher", "ResNet32x4", "--student", "resnet8x4",
                     "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert {r["pair"] for r in records} == {"resnet32x4 → resnet8x4"}
    assert all(isinstance(r["value"], float) and r["unit"] == "%" for r in records)
    assert [(r["method"], r["value"]) for r in records if r["best"]] == [("DKD", 76.32)]
    assert records[0]["method"] == "teacher" and records[0]["value"] == 79.42
    kd = [r for r in records if r["method"] == "KD"]
    assert len(kd) == 3 and {r["value"] for r in kd} == {73.33}  # RepDistiller, mdistiller DKD and DOT tables


def test_markdown_imagenet_side_by_side(runner: CliRunner) -> None:
    result = _invoke(runner, "--dataset", "ILSVRC2012")
    assert result.exit_code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("| Method"))
    assert (
        "ResNet-34 → ResNet-18 (original work) | ResNet-34 → ResNet-18 (torchdistill reproduction)" in header
    )
    assert "69.76%* [" in result.stdout
    assert "| [1] | yoshitomo-matsubara/torchdistill@0092de7 " in result.stdout


@pytest.mark.parametrize("fmt", ["csv", "html", "latex"])
def test_other_formats(runner: CliRunner, fmt: str) -> None:
    result = _invoke(runner, "--dataset", "Tiny-ImageNet", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert "58.35" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--dataset", "no-such-set"),
        ("--dataset", "CIFAR-100", "--teacher", "vgg13", "--student", "resnet8x4"),
    ],
)
def test_unknown_dataset_or_pair(runner: CliRunner, args: tuple[str, ...]) -> None:
    result = _invoke(runner, *args)
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")


def test_site_leaderboard_pages(tmp_path: Any, catalog: Catalog) -> None:
    from kdtaxonomy.render.site import build_site

    report = build_site(catalog, tmp_path / "site")
    page = (report.out_dir / "leaderboards" / "cifar-100.html").read_text(encoding="utf-8")
    assert "<strong>76.32% [" in page and "HobbitLong/RepDistiller@0eb3a95 README.md" in page
    index = report.index.read_text(encoding="utf-8")
    for label in leaderboard.datasets_with_results(catalog):
        key = catalog.datasets.id_of(label)
        assert f'href="leaderboards/{key}.html"' in index
        assert (report.out_dir / "leaderboards" / f"{key}.html").is_file()
