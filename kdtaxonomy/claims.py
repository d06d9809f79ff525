"""Claims of the seed papers, as data, and the reproduction report that checks them (torch-free).

Each claim copies the paper's numbers from the catalog entry's ``results`` (with their source table) and
names the benchmark comparisons that test the claimed direction. ``kdtax reproduction-report`` renders
REPRODUCTION.md from the results files of ``kdtax bench``; every statement comes from a results file or a
catalog number, and a comparison without results reads "not run".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kdtaxonomy.bench import (
    Aggregate,
    fmt_dataset,
    fmt_mean_std,
    fmt_p,
    load_reproduced,
    mean,
    welch_t_test,
)


@dataclass(frozen=True)
class PaperNumber:
    """A number of the paper as recorded in the catalog (entry ``results``)."""

    entry: str
    configuration: str | None
    method: str
    dataset: str
    metric: str
    value: float
    unit: str
    table: str


@dataclass(frozen=True)
class Side:
    """One side of a benchmark comparison: a configuration's distilled (or alone) student accuracy."""

    entry: str
    configuration: str
    model: str = "distilled"  # "distilled" or "alone"

    @property
    def label(self) -> str:
        what = "distilled student" if self.model == "distilled" else "student alone"
        return f"{self.entry}#{self.configuration} {what}"


@dataclass(frozen=True)
class Comparison:
    """The benchmark test of a direction: ``better`` should score above ``worse`` (test accuracy)."""

    question: str
    better: Side | None = None
    worse: Side | None = None
    unavailable: str = ""
    """Why the catalog cannot run this comparison (then ``better``/``worse`` are None)."""


@dataclass(frozen=True)
class Claim:
    id: str
    seed: str
    paper: str
    table: str
    statement: str
    numbers: tuple[PaperNumber, ...]
    comparisons: tuple[Comparison, ...]
    note: str = ""


_CHO = "UrbanSound8K (10-fold cross-validation)"
_CHO_METRIC = "10-fold cross-validation accuracy"
_GD = "CVSI-2015 (test set)"
_GD_METRIC = "accuracy of the student network"
_ZH = "VoxCeleb1, Vox1-{} trial list"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="area-rkd-above-kd",
        seed="002",
        paper="cho2023-area-rkd",
        table="Table 3",
        statement=(
            "Area-wise + angle-wise relational KD gives a better audio student than plain Hinton KD "
            "(and than the baseline student)."
        ),
        numbers=(
            PaperNumber(
                "cho2023-area-rkd",
                "audio-angle-area",
                "CNN+angle+area (40, 20)",
                _CHO,
                _CHO_METRIC,
                65.28,
                "%",
                "Table 3",
            ),
            PaperNumber(
                "hinton2015-distilling",
                None,
                "CNN+Hinton (T=1.5)",
                _CHO,
                _CHO_METRIC,
                64.37,
                "%",
                "Table 3 of cho2023-area-rkd",
            ),
            PaperNumber(
                "cho2023-area-rkd",
                None,
                "2 Conv CNN (baseline student)",
                _CHO,
                _CHO_METRIC,
                63.7,
                "%",
                "Table 3",
            ),
        ),
        comparisons=(
            Comparison(
                "angle+area RKD (with soft labels, T = 1) above plain Hinton KD",
                unavailable=(
                    "the catalog holds no configuration of the 'CNN+Hinton (T=1.5)' row in this setup "
                    "(hinton2015-distilling's configurations are Hinton's own experiments), so plain KD "
                    "is not run here; the two comparisons below are what the catalog can run"
                ),
            ),
            Comparison(
                "distilled student of audio-angle-area above the same student trained alone",
                Side("cho2023-area-rkd", "audio-angle-area"),
                Side("cho2023-area-rkd", "audio-angle-area", "alone"),
            ),
            Comparison(
                "adding the area term to angle-wise RKD helps (audio-angle-area above audio-angle)",
                Side("cho2023-area-rkd", "audio-angle-area"),
                Side("cho2023-area-rkd", "audio-angle"),
            ),
        ),
    ),
    Claim(
        id="assistant-helps",
        seed="004",
        paper="ghoshdastidar2021-multiscript-kd",
        table="Table 6",
        statement=(
            "With the Conv-LSTM assistant between teacher and student, the student learns more than from "
            "the teacher alone (InceptionV3 teacher: 89.19% with assistant, 85.18% without, 82.24% alone)."
        ),
        numbers=(
            PaperNumber(
                "ghoshdastidar2021-multiscript-kd",
                "inception-v3",
                "Teacher InceptionV3, Assistant Conv-LSTM",
                _GD,
                _GD_METRIC,
                89.19,
                "%",
                "Table 6",
            ),
            PaperNumber(
                "ghoshdastidar2021-multiscript-kd",
                "inception-v3",
                "Teacher InceptionV3, no assistant",
                _GD,
                _GD_METRIC,
                85.18,
                "%",
                "Table 6",
            ),
            PaperNumber(
                "ghoshdastidar2021-multiscript-kd",
                None,
                "Teacher ~, Assistant ~ (student alone)",
                _GD,
                _GD_METRIC,
                82.24,
                "%",
                "Table 6",
            ),
        ),
        comparisons=(
            Comparison(
                "student distilled through the assistant above a student distilled from the same teacher "
                "without the assistant",
                unavailable=(
                    "the catalog holds no configuration of the no-assistant run (teacher -> student "
                    "directly); it would be a new recipe, which this report does not invent"
                ),
            ),
            Comparison(
                "student distilled through the assistant chain above the same student trained alone",
                Side("ghoshdastidar2021-multiscript-kd", "inception-v3"),
                Side("ghoshdastidar2021-multiscript-kd", "inception-v3", "alone"),
            ),
        ),
    ),
    Claim(
        id="distribution-above-embedding",
        seed="003",
        paper="zhang-multimodal-kd",
        table="Table 2",
        statement=(
            "For the visual student, distribution-level distillation (L^MMD) beats embedding-level "
            "distillation (L^COS): lower EER on all three VoxCeleb1 trial lists (lower EER is better)."
        ),
        numbers=tuple(
            PaperNumber(
                "zhang-multimodal-kd", config, method, _ZH.format(trial), "EER", value, "%", "Table 2"
            )
            for config, method, values in (
                ("distribution-level", "L^MMD", (1.14, 0.903, 1.341)),
                ("embedding-level", "L^COS", (1.294, 0.968, 1.427)),
                (None, "Visual-Baseline", (1.299, 0.987, 1.483)),
            )
            for trial, value in zip("OEH", values, strict=True)
        ),
        comparisons=(
            Comparison(
                "distribution-level distilled student above embedding-level distilled student",
                Side("zhang-multimodal-kd", "distribution-level"),
                Side("zhang-multimodal-kd", "embedding-level"),
            ),
            Comparison(
                "distribution-level distilled student above the same student trained alone",
                Side("zhang-multimodal-kd", "distribution-level"),
                Side("zhang-multimodal-kd", "distribution-level", "alone"),
            ),
        ),
        note=(
            "The paper measures EER (lower is better) on speaker verification; the benchmark measures test "
            "accuracy (higher is better) on the two-view stand-in dataset, so only the direction is compared."
        ),
    ),
)


def _values(side: Side, reproduced: dict[tuple[str, str], Aggregate]) -> list[float] | None:
    agg = reproduced.get((side.entry, side.configuration))
    if agg is None or not agg.seeds:
        return None
    return agg.distilled if side.model == "distilled" else agg.alone


def verdict(comparison: Comparison, reproduced: dict[tuple[str, str], Aggregate]) -> tuple[str, str]:
    """(short verdict, detail) of one comparison on the benchmark."""
    if comparison.better is None or comparison.worse is None:
        return "not runnable", comparison.unavailable
    a, b = _values(comparison.better, reproduced), _values(comparison.worse, reproduced)
    missing = [s.label for s, v in ((comparison.better, a), (comparison.worse, b)) if v is None]
    if a is None or b is None:
        return "not run", "no results for " + " and ".join(missing)
    ma, mb = mean(a), mean(b)
    assert ma is not None and mb is not None
    welch = welch_t_test(a, b)
    p = None if welch is None else welch.p
    diff = ma - mb
    if diff > 0:
        short = "same direction"
    elif diff < 0:
        short = "opposite direction"
    else:
        short = "no difference"
    strength = "" if p is None else (" (significant at 0.05)" if p < 0.05 else " (not significant at 0.05)")
    detail = (
        f"{comparison.better.label}: {fmt_mean_std(a)} % (n={len(a)}) vs "
        f"{comparison.worse.label}: {fmt_mean_std(b)} % (n={len(b)}); "
        f"difference {diff:+.2f} points, Welch p = {fmt_p(p)}{strength}"
    )
    return short, detail


def render_report(results_dir: Path | None = None, problems: list[str] | None = None) -> str:
    """REPRODUCTION.md: per claim, the paper's numbers and what the embedded benchmark shows."""
    reproduced = load_reproduced(results_dir, problems)
    lines = [
        "# Reproduction of the seed papers' claims on the embedded benchmark",
        "",
        "Generated by `kdtax reproduction-report -o REPRODUCTION.md` from the results files of `kdtax bench`",
        "(`results/<id>/<config>/seed-<s>.json`). The paper's numbers are copied from the catalog entries'",
        "reported results; the benchmark numbers are test accuracies (%) on the embedded stand-in dataset",
        "(mean ± sample std over seeds; Welch's t-test between the two sides). The benchmark replaces the",
        "papers' datasets and architectures with small stand-ins, so only the *direction* of each claim is",
        "compared; agreement or disagreement here says nothing about the papers' absolute numbers.",
        "",
    ]
    if not reproduced:
        lines += ["No results files were found: every benchmark comparison below reads *not run*.", ""]
    for claim in CLAIMS:
        lines += [
            f"## Seed {claim.seed}, {claim.paper}, {claim.table}: {claim.id}",
            "",
            f"**Claim.** {claim.statement}",
            "",
            "Paper's numbers (from the catalog):",
            "",
            "| Entry | Configuration | Method | Dataset | Metric | Value | Source |",
            "|---|---|---|---|---|---|---|",
        ]
        for n in claim.numbers:
            lines.append(
                f"| {n.entry} | {n.configuration or '-'} | {n.method} | {n.dataset} | {n.metric} | "
                f"{n.value:g}{n.unit} | {n.table} |"
            )
        lines += ["", "On the embedded benchmark:", ""]
        for comparison in claim.comparisons:
            short, detail = verdict(comparison, reproduced)
            lines.append(f"- *{comparison.question}*: **{short}** — {detail}.")
        sides = {
            (s.entry, s.configuration)
            for c in claim.comparisons
            for s in (c.better, c.worse)
            if s is not None
        }
        shown = [reproduced[k] for k in sorted(sides) if k in reproduced]
        if shown:
            lines += [
                "",
                "| Configuration | Teacher | Student alone | Distilled | Seeds | Δ | p | Dataset | Commit |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for agg in shown:
                welch = agg.welch
                diff = agg.difference
                lines.append(
                    f"| {agg.entry_id}#{agg.config} | {fmt_mean_std(agg.teacher)} | {fmt_mean_std(agg.alone)} "
                    f"| {fmt_mean_std(agg.distilled)} | {agg.n} | {'-' if diff is None else f'{diff:+.2f}'} "
                    f"| {fmt_p(None if welch is None else welch.p)} | {fmt_dataset(agg.dataset)} "
                    f"| {', '.join(c[:10] for c in agg.commits) or '-'} |"
                )
            extras = [
                f"{agg.config} {name.removesuffix('_accuracy')}: {fmt_mean_std(values)} %"
                for agg in shown
                for name, values in agg.extra.items()
            ]
            if extras:
                lines += ["", "Other models of these runs: " + "; ".join(extras) + "."]
            settings = [s for agg in shown for s in agg.settings]
            overrides = sorted(
                {f"{k}={v}" for s in settings for k, v in s.items() if v not in (None, {}, [])}
            )
            lines += [
                "",
                "Run settings: "
                + (", ".join(overrides) if overrides else "the recipes' defaults (no overrides)")
                + ".",
            ]
        if claim.note:
            lines += ["", claim.note]
        lines.append("")
    return "\n".join(lines)
