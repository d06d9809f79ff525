"""Kim & Rush's catalog configurations run on the embedded sequence benchmark: their recipes, the checks
that keep sequence and classification components apart, the matched baseline through the runner, and
``kdtax bench`` / ``kdtax show`` on sequence results (BLEU and chrF kept per seed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdtaxonomy.bench import load_reproduced
from kdtaxonomy.catalog import Catalog
from kdtaxonomy.cli import app
from kdtaxonomy.recipe import Recipe, RecipeError, TrainingSpec, resolve, validate_recipe
from kdtaxonomy.schema import ComponentSpec, KnowledgeSpec

pytestmark = pytest.mark.usefixtures("one_thread")

ID = "kim2016-sequence-level-kd"
SMALL_TASK = {"train": 40, "valid": 12, "test": 12}
TINY = ["--steps", "4", "--teacher-steps", "4"]


def _recipe(catalog: Catalog, config: str) -> Recipe:
    entry = catalog.get(ID)
    return resolve(next(c for c in entry.configurations if c.name == config), ID)


@pytest.mark.parametrize(
    ("config", "transfer", "params"),
    [
        ("main", "seq-kd", {"beam": 5}),
        ("word-level", "word-kd", {"alpha": 0.5, "temperature": 1.0}),
        ("interpolation", "seq-inter", {"beam": 5}),
    ],
)
def test_configurations_run_the_sequence_benchmark(
    catalog: Catalog, config: str, transfer: str, params: dict[str, float]
) -> None:
    recipe = _recipe(catalog, config)
    assert recipe.dataset.component == "seq-translation" and recipe.knowledge == []
    assert recipe.transfer == ComponentSpec(component=transfer, params=params)
    assert recipe.teacher.params == {"model": "seq2seq-transformer", "size": "large"}
    assert recipe.student_model.component == "seq2seq-transformer"
    assert recipe.training.teacher_lr == 0.001 and recipe.training.lr == 0.002


def test_sequence_and_classification_components_do_not_mix(catalog: Catalog) -> None:
    recipe = _recipe(catalog, "main")
    data = recipe.model_dump()
    wrong = {
        "a KD term": ({"knowledge": [KnowledgeSpec(component="soft-label-kd")]}, "knowledge: dataset"),
        "a classification transfer": ({"transfer": ComponentSpec(component="permuted")}, "transfer:"),
        "a classifier student": (
            {"student_model": ComponentSpec(component="cnn1d")},
            "student_model: dataset 'seq-translation' is a task with its own runner; 'cnn1d'",
        ),
        "a sequence transfer on MNIST-1D": (
            {
                "dataset": ComponentSpec(component="mnist1d"),
                "teacher": ComponentSpec(component="single"),
                "student_model": ComponentSpec(component="cnn1d"),
            },
            "transfer: 'seq-kd' runs on a task dataset",
        ),
    }
    for what, (change, message) in wrong.items():
        with pytest.raises(RecipeError, match=message):
            validate_recipe(Recipe.model_validate({**data, **change}))
        assert what


def test_teacher_lr_stays_out_of_the_digest_unless_set() -> None:
    assert "teacher_lr" not in TrainingSpec().model_dump()
    assert TrainingSpec(teacher_lr=0.01).model_dump()["teacher_lr"] == 0.01
    assert Recipe().digest() == Recipe(training=TrainingSpec(teacher_lr=None)).digest()
    assert Recipe().digest() != Recipe(training=TrainingSpec(teacher_lr=0.01)).digest()


def test_word_kd_at_alpha_zero_is_exactly_the_student_alone(catalog: Catalog) -> None:
    """The matched baseline through the catalog's runner: the distilled pipeline with its KD term at weight 0
    gives the student alone's numbers, BLEU and curves included."""
    from kdtaxonomy.runner import RunOptions, run_recipe

    base = _recipe(catalog, "word-level")
    recipe = Recipe.model_validate(
        {**base.model_dump(), "transfer": {"component": "word-kd", "params": {"alpha": 0.0}}}
    )
    options = RunOptions(seed=1, steps=6, teacher_steps=4, cache=False, dataset_params=SMALL_TASK)
    result = run_recipe(recipe, options)
    for metric in ("accuracy", "token_accuracy", "bleu", "chrf", "greedy_bleu"):
        assert result[f"student_{metric}"] == result[f"student_baseline_{metric}"], metric
    curves = result["curves"]
    assert curves["student"]["val_token_accuracy"] == curves["student_baseline"]["val_token_accuracy"]
    assert result["dataset"]["name"] == "seq-translation" and result["dataset"]["train"] == 40
    assert result["baseline"]["kind"] == "matched" and result["params"] == {"alpha": 0.0, "temperature": 1.0}


def test_bench_and_show_read_sequence_results(tmp_path: Path, runner: CliRunner) -> None:
    results = tmp_path / "results"
    params = [x for k, v in SMALL_TASK.items() for x in ("--dataset-param", f"{k}={v}")]
    args = ["bench", ID, "--config", "word-level", "--seeds", "2", *TINY, *params, "--results", str(results)]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    files = sorted((results / ID / "word-level").glob("seed-*.json"))
    runs = [json.loads(p.read_text()) for p in files]
    assert [r["seed"] for r in runs] == [0, 1] and all(r["status"] == "ok" for r in runs)
    agg = load_reproduced(results)[(ID, "word-level")]
    assert agg.n == 2 and agg.distilled == [r["student_accuracy"] for r in runs]
    assert agg.metrics["student_bleu"] == {r["seed"]: r["student_bleu"] for r in runs}
    assert agg.metrics["student_baseline_chrf"][1] == runs[1]["student_baseline_chrf"]
    shown = runner.invoke(app, ["show", ID, "--config", "word-level", "--results", str(results)])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    assert "seq-translation" in text and "word-level: BLEU teacher" in text and "chrF teacher" in text


def test_train_prints_the_translation_metrics(runner: CliRunner, tmp_path: Path) -> None:
    params = [x for k, v in SMALL_TASK.items() for x in ("--dataset-param", f"{k}={v}")]
    out = runner.invoke(app, ["train", f"{ID}#interpolation", *TINY, *params, "--no-cache"])
    assert out.exit_code == 0, out.output
    assert "exact match %" in out.stdout and "BLEU" in out.stdout and "chrF" in out.stdout
    assert "student alone" in out.stdout and "distilled" in out.stdout
