"""Reproduced results are shown as paired differences: Δ, its 95% CI, paired p and n, in every renderer.

The fixture writes ``kdtax-bench/2`` results files by hand (no training); the expected numbers are computed
here from the accuracies with ``statistics`` and Student's t from scipy, independently of
:func:`kdtaxonomy.stats.paired`.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
from scipy import stats
from typer.testing import CliRunner

from kdtaxonomy.bench import PAIRED_NOTE, RESULT_FORMAT, TABLE_HEADER, aggregate, load_reproduced, table_row
from kdtaxonomy.catalog import Catalog
from kdtaxonomy.claim_data import CLAIMS
from kdtaxonomy.claims import render_report, verdict
from kdtaxonomy.cli import app
from kdtaxonomy.render import tables
from kdtaxonomy.render.site import build_site

from .conftest import ROOT

HINTON, EX2 = "hinton2015-distilling", "ex2"
BASELINE = {"kind": "matched", "knowledge": [], "construction": "from-scratch", "note": "same pipeline"}
# (alone, distilled) per seed
RUNS: dict[tuple[str, str], list[tuple[float, float]]] = {
    (HINTON, EX2): [(60.0, 62.5), (61.0, 62.9), (59.5, 62.1)],  # CI above 0
    ("cho2023-area-rkd", "audio-angle-area"): [(93.0, 91.5), (94.0, 92.0), (93.5, 91.8)],  # CI below 0
    ("cho2023-area-rkd", "audio-angle"): [(93.0, 92.5), (94.0, 91.5)],  # seeds 0, 1 only
}
SUITE = [(50.0, 51.0), (52.0, 51.5), (49.0, 50.5)]  # limited-3/kd: CI covers 0


def record(seed: int, alone: float, distilled: float, **keys: Any) -> dict[str, Any]:
    return {
        "format": RESULT_FORMAT,
        "protocol": RESULT_FORMAT,
        "seed": seed,
        "status": "ok",
        "teacher_accuracy": 97.0,
        "student_baseline_accuracy": alone,
        "student_accuracy": distilled,
        "student_val_accuracy": distilled - 1.0,
        "student_baseline_val_accuracy": alone - 1.0,
        "baseline": BASELINE,
        "curves": {},
        "provenance": {
            "git_commit": "0123456789abcdef",
            "recipe": {},
            "recipe_hash": "0" * 16,
            "torch_threads": 1,
            "settings": {},
            "dataset": {"name": "mnist1d", "num_train": 4000, "num_test": 1000},
        },
        **keys,
    }


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    for (entry_id, config), pairs in RUNS.items():
        for seed, (alone, distilled) in enumerate(pairs):
            path = root / entry_id / config / f"seed-{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            data = record(seed, alone, distilled, id=entry_id, configuration=config)
            path.write_text(json.dumps(data), encoding="utf-8")
    for seed, (alone, distilled) in enumerate(SUITE):
        path = root / "suite" / "limited-3" / "kd" / f"seed-{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = record(seed, alone, distilled, kind="suite", regime="limited-3", method="kd")
        path.write_text(json.dumps(data), encoding="utf-8")
    return root


def expected(pairs: list[tuple[float, float]]) -> tuple[float, float, float, float, int]:
    """(mean Δ, CI low, CI high, two-sided p, wins) of distilled − alone, computed from scratch."""
    diffs = [d - a for a, d in pairs]
    n, m, sd = len(diffs), statistics.mean(diffs), statistics.stdev(diffs)
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    t = m / (sd / math.sqrt(n))
    p = 2 * stats.t.sf(abs(t), n - 1)
    return m, m - half, m + half, p, sum(d > 0 for d in diffs)


def delta_text(pairs: list[tuple[float, float]]) -> str:
    m, low, high, _, _ = expected(pairs)
    return f"{m:+.2f} [{low:+.2f}, {high:+.2f}]"


def p_text(pairs: list[tuple[float, float]]) -> str:
    p = expected(pairs)[3]
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def check_summary(paired: dict[str, Any], pairs: list[tuple[float, float]]) -> None:
    m, low, high, p, wins = expected(pairs)
    assert paired["n"] == len(pairs) and paired["wins"] == wins
    assert paired["delta_mean"] == pytest.approx(m, abs=1e-12)
    assert paired["delta_ci95"] == pytest.approx([low, high], abs=1e-9)
    assert paired["p"] == pytest.approx(p, rel=1e-9)


def test_aggregate_paired_and_summary_match_an_independent_computation(results: Path) -> None:
    problems: list[str] = []
    reproduced = load_reproduced(results, problems)
    assert problems == []
    for key, pairs in RUNS.items():
        agg = reproduced[key]
        m, low, high, p, wins = expected(pairs)
        test = agg.paired
        assert test is not None and test.n == len(pairs) and test.wins == wins
        assert test.delta_mean == pytest.approx(m, abs=1e-12)
        assert test.ci95 == pytest.approx((low, high), abs=1e-9)
        assert test.p == pytest.approx(p, rel=1e-9)
        summary = json.loads(json.dumps(agg.summary()))
        assert summary["protocol"] == RESULT_FORMAT and summary["baseline"] == BASELINE
        check_summary(summary["paired"], pairs)
        assert "welch" in summary  # kept for continuity
        cells = table_row(agg)
        assert len(cells) == len(TABLE_HEADER)
        assert cells[5:] == [delta_text(pairs), p_text(pairs), f"{wins}/{len(pairs)}"]
    assert TABLE_HEADER[5:] == ("Δ [95% CI]", "p (paired)", "Wins")
    assert not any("Welch" in h for h in TABLE_HEADER)


def test_aggregate_keeps_seeds_alone_and_distilled_aligned() -> None:
    runs = [
        record(0, 60.0, 61.0, id="a", configuration="c"),
        {**record(1, 60.0, 61.0, id="a", configuration="c"), "student_accuracy": None},
        record(2, 62.0, 61.0, id="a", configuration="c", teacher_accuracy=None),
        {**record(3, 0.0, 0.0, id="a", configuration="c"), "status": "failed", "error": "boom"},
    ]
    agg = aggregate(runs)[("a", "c")]
    assert agg.seeds == [0, 2] and agg.alone == [60.0, 62.0] and agg.distilled == [61.0, 61.0]
    assert agg.teacher == [97.0] and set(agg.failed) == {1, 3}
    test = agg.paired
    assert test is not None and test.n == 2 and test.delta_mean == pytest.approx(0.0)
    single = aggregate(runs[:1])[("a", "c")]
    assert single.paired is None and table_row(single)[5:] == ["+1.00", "-", "1/1"]


def test_report_judges_each_claim_by_the_paired_ci(results: Path) -> None:
    text = render_report(results, [])
    assert f"protocol `{RESULT_FORMAT}`" in text and "matched baseline" in text and "paired by seed" in text
    assert "Welch" not in text
    lines = text.splitlines()

    def line(question: str) -> str:
        return next(x for x in lines if x.startswith("- *") and question in x)

    ex2 = RUNS[(HINTON, EX2)]
    hinton = line("hinton2015-distilling#ex2: student distilled with soft targets")
    assert "**same direction**" in hinton
    assert f"Δ = {delta_text(ex2)} points" in hinton and f"paired p = {p_text(ex2)}" in hinton
    assert "(n=3 paired seeds: 0, 1, 2)" in hinton and "wins 3/3" in hinton
    suite = line("regime limited-3")
    assert "**no clear difference (CI covers 0)**" in suite and f"Δ = {delta_text(SUITE)} points" in suite
    rkd = RUNS[("cho2023-area-rkd", "audio-angle-area")]
    alone = line("distilled student of audio-angle-area above the same student trained alone")
    assert "**opposite direction**" in alone and f"Δ = {delta_text(rkd)} points" in alone
    # across configurations: paired over the seeds both ran (0 and 1), seed 2 left out
    area = line("adding the area term")
    pairs = [(b[1], a[1]) for a, b in zip(RUNS[("cho2023-area-rkd", "audio-angle-area")], RUNS[("cho2023-area-rkd", "audio-angle")], strict=False)]  # fmt: skip
    assert f"Δ = {delta_text(pairs)} points" in area and "seed 2 ran on one side only" in area
    assert "(n=2 paired seeds: 0, 1)" in area
    # the claim's table: the shared header, one row per aggregate, and what the baseline is
    assert "| " + " | ".join((*TABLE_HEADER, "Dataset", "Commit")) + " |" in text
    row = next(x for x in lines if x.startswith("| hinton2015-distilling#ex2 |"))
    assert f"| {delta_text(ex2)} | {p_text(ex2)} | 3/3 |" in row
    assert f"| {delta_text(SUITE)} |" in next(x for x in lines if x.startswith("| suite limited-3/kd |"))
    assert "Student alone: matched baseline (same pipeline); protocol kdtax-bench/2." in text
    assert "Paper's numbers: none recorded in the catalog" in text


def test_verdict_without_shared_seeds_or_with_one_seed(results: Path) -> None:
    reproduced = load_reproduced(results)
    claim = next(c for c in CLAIMS if c.id == "area-rkd-above-kd")
    area = claim.comparisons[2]
    angle = reproduced[("cho2023-area-rkd", "audio-angle")]
    angle.seeds = [5, 6]
    assert verdict(area, reproduced)[0] == "not comparable"
    angle.seeds, angle.distilled, angle.alone = [0], angle.distilled[:1], angle.alone[:1]
    short, detail = verdict(area, reproduced)
    assert (
        short == "undecided (one seed, no CI)"
        and "Δ = -1.00 points on the one seed" in detail
        and "(n=1 paired seed: 0)" in detail
    )


def test_hinton_limited_data_claim_quotes_the_survey() -> None:
    claim = next(c for c in CLAIMS if c.id == "soft-targets-limited-data")
    assert claim.seed == "000" and claim.paper == "hinton2015-distilling" and claim.numbers == ()
    seeds = ROOT.parent / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip("shared/seeds not present beside the checkout")
    survey = next(seeds.glob("000_*.txt")).read_text(encoding="utf-8")
    quoted = claim.note.split('"')[1::2]  # the text between each pair of quotation marks
    assert len([q for q in quoted if len(q) > 40]) == 2
    assert all(q in survey for q in quoted), [q for q in quoted if q not in survey]
    assert "[1] (Ex.2)\tlimited data\tDecrease training data" in survey


def test_show_table_md_and_json_give_the_paired_numbers(results: Path, runner: CliRunner) -> None:
    ex2 = RUNS[(HINTON, EX2)]
    args = ["show", HINTON, "--config", EX2, "--results", str(results)]
    wide = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"})
    out = wide.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert delta_text(ex2) in out.stdout and p_text(ex2) in out.stdout and "p (paired)" in out.stdout
    assert "matched baseline" in " ".join(out.stdout.split())
    md = runner.invoke(app, [*args, "--format", "md"]).stdout
    assert "## Reproduced (kdtax bench)" in md and PAIRED_NOTE in md
    assert f"| {delta_text(ex2)} | {p_text(ex2)} | 3/3 |" in md
    data = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    (summary,) = data["reproduced"]
    check_summary(summary["paired"], ex2)


def test_results_table_and_site_give_the_paired_numbers(
    results: Path, tmp_path: Path, catalog: Catalog
) -> None:
    ex2 = RUNS[(HINTON, EX2)]
    pairs = [(e, c) for e, c in catalog.configurations() if e.id == HINTON]
    table = tables.results_table(pairs, results_dir=results)
    (row,) = [r for r in table.rows if r["id"] == f"{HINTON}#{EX2}" and r["model"].startswith("distilled −")]
    assert row["value"] == f"{delta_text(ex2)} (paired p = {p_text(ex2)}, wins 3/3)"
    assert "matched baseline" in table.caption and RESULT_FORMAT in table.caption
    latex = tables.to_latex(table)
    assert r"$\Delta$" in latex and "Δ" not in latex and "−" not in latex
    site = build_site(catalog, tmp_path / "site", reproduced=load_reproduced(results))
    for page in (site.out_dir / "methods" / f"{HINTON}.html", site.out_dir / "results.html"):
        html = page.read_text(encoding="utf-8")
        assert f"<td>{delta_text(ex2)}</td><td>{p_text(ex2)}</td><td>3/3</td>" in html, page
        assert '<th scope="col">Δ [95% CI]</th>' in html and "Welch" not in html
        assert "matched baseline" in html
