"""Registry components of the sentence-embedding distillation task and the runner of its recipes.

``catalog-sentences`` (dataset), ``minilm-l6`` (model) and ``embedding-kd`` (transfer;
:mod:`kdtaxonomy.specs.embedding`) register here. :func:`run_task` runs a recipe on the task (``kdtax train``
/ ``kdtax bench`` dispatch to it from :class:`kdtaxonomy.runner.Runner`): the pretrained teacher, the student
built from the teacher's layers (``teacher-init``) evaluated as it is (the matched baseline) and after
embedding-level distillation on the training sentences, selected on the validation sentences, the test
sentences read once. ``*_accuracy`` is nearest-neighbour agreement with the teacher on the test sentences.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from kdtaxonomy.embedding_kd.corpus import Corpus, build_corpus
from kdtaxonomy.recipe import task_budget
from kdtaxonomy.registry import register
from kdtaxonomy.specs import embedding as specs

if TYPE_CHECKING:
    from kdtaxonomy.recipe import Recipe
    from kdtaxonomy.runner import RunOptions

SPEED_BATCH = 32
"""Batch size of the encode-speed measurement (the same batches for teacher and student)."""
TOP_K = 5
"""Neighbours of the top-k overlap."""


@register(spec=specs.CatalogSentencesSpec)
def build_catalog_sentences(spec: specs.CatalogSentencesSpec, *, seed: int = 0) -> Corpus:
    """The catalog's sentences, split by entry (the run seed does not change them)."""
    return corpus_of(spec)


@register(spec=specs.MiniLMSpec, input_dims=[])
def build_minilm(spec: specs.MiniLMSpec, *, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The pretrained all-MiniLM-L6-v2 sentence encoder, or its truncation to ``layers`` initialised from it;
    it reads tokenized text, so ``input_shape`` must be ``()`` (``num_classes`` is ignored)."""
    if input_shape:
        raise ValueError(f"minilm-l6 reads tokenized sentences: input_shape must be (), got {input_shape}")
    from kdtaxonomy.embedding_kd.encoder import load_teacher, truncated

    teacher, _ = load_teacher()
    return teacher if spec.layers is None else truncated(teacher, spec.layers)


@register(spec=specs.EmbeddingKD)
class EmbeddingKDTransfer:
    """Embedding-level KD (seed paper 003, Eq. 4): cosine distance (and optionally MSE) of pooled embeddings."""

    def __init__(self, spec: specs.EmbeddingKD) -> None:
        self.params = spec


def corpus_of(spec: specs.CatalogSentencesSpec) -> Corpus:
    """The corpus the dataset spec describes."""
    return build_corpus(
        valid_fraction=spec.valid_fraction,
        test_fraction=spec.test_fraction,
        seed=spec.seed,
        min_words=spec.min_words,
        limits=(spec.train, spec.valid, spec.test),
        exclude=spec.exclude,
    )


def _refuse(where: str, why: str) -> ValueError:
    return ValueError(f"{where}: {why} (the sentence-embedding task, dataset catalog-sentences)")


def _model(where: str, component: str, params: dict[str, Any]) -> specs.MiniLMSpec:
    if component != specs.MiniLMSpec.key:
        raise _refuse(where, f"model {component!r} is not a sentence encoder; use minilm-l6")
    return specs.MiniLMSpec.model_validate(params)


def run_task(recipe: Recipe, options: RunOptions) -> dict[str, Any]:
    """Run ``recipe`` on the catalog sentences: teacher, undistilled student (the matched baseline: the same
    student at its initialisation from the teacher) and distilled student; see the module docstring."""
    from kdtaxonomy.embedding_kd import encoder as enc
    from kdtaxonomy.embedding_kd.train import FitSettings, agreement, distil, encode, encode_speed

    start = time.perf_counter()
    if recipe.knowledge or recipe.data_preparation:
        raise _refuse("knowledge", "classification knowledge terms and data preparation do not apply")
    if recipe.teacher.component != "single":
        raise _refuse("teacher.component", "one pre-trained teacher (single) is supported")
    if recipe.student.component != "teacher-init":
        raise _refuse(
            "student.component", "the student is initialised from the teacher's layers (teacher-init)"
        )
    if options.device.type != "cpu" or options.amp:
        raise _refuse("--device", "the task runs on the CPU, without AMP")
    t_params = {k: v for k, v in recipe.teacher.params.items() if k != "model"}
    t_spec = _model("teacher.params.model", str(recipe.teacher.params.get("model", "")), t_params)
    s_spec = _model("student_model.component", recipe.student_model.component, recipe.student_model.params)
    if s_spec.layers is None:
        raise _refuse("student_model.params.layers", "give the teacher layers the student keeps")
    if recipe.transfer.component != specs.EmbeddingKD.key:
        raise _refuse("transfer.component", f"{recipe.transfer.component!r} is not embedding-kd")
    method = specs.EmbeddingKD.model_validate(recipe.transfer.params)
    data = specs.CatalogSentencesSpec.model_validate({**recipe.dataset.params, **options.dataset_params})
    corpus = corpus_of(data)
    t = recipe.training
    steps, _, batch = task_budget(t, options)
    settings = FitSettings(
        steps=steps,
        batch_size=batch,
        lr=t.lr,
        eval_every=t.eval_every,
        weight_decay=t.weight_decay,
        schedule=t.schedule,
        cosine=method.cosine,
        mse=method.mse,
        grad_clip=method.grad_clip,
    )
    torch.manual_seed(options.seed)
    teacher, tokenizer = enc.load_teacher()
    if t_spec.layers is not None:
        teacher = enc.truncated(teacher, t_spec.layers).eval().requires_grad_(False)
    tokens = {
        split: enc.tokenize(tokenizer, getattr(corpus, split), data.max_tokens)
        for split in ("train", "valid", "test")
    }
    targets = encode(teacher, tokens["train"], normalize=False)
    t_valid, t_test = encode(teacher, tokens["valid"]), encode(teacher, tokens["test"])
    student = enc.truncated(teacher, s_spec.layers)
    alone_valid = agreement(encode(student, tokens["valid"]), t_valid, TOP_K)
    alone = agreement(encode(student, tokens["test"]), t_test, TOP_K)
    generator = torch.Generator().manual_seed(options.seed)
    fit = distil(student, tokens["train"], targets, tokens["valid"], t_valid, settings, generator)
    distilled = agreement(encode(student, tokens["test"]), t_test, TOP_K)
    speed = encode_speed({"teacher": teacher, "student": student}, tokens["test"], SPEED_BATCH)
    t_count, s_count = enc.count_parameters(teacher), enc.count_parameters(student)
    embedding_count = enc.embedding_parameters(teacher)
    return {
        "teacher_accuracy": None,
        "student_baseline_accuracy": alone["nn_agreement"],
        "student_accuracy": distilled["nn_agreement"],
        "student_baseline_top5_overlap_accuracy": alone["topk_overlap"],
        "student_top5_overlap_accuracy": distilled["topk_overlap"],
        "student_baseline_mean_cosine": alone["mean_cosine"],
        "student_mean_cosine": distilled["mean_cosine"],
        "teacher_layers": list(t_spec.layers or range(len(teacher.layers))),
        "student_layers": list(s_spec.layers),
        "teacher_parameters": t_count,
        "student_parameters": s_count,
        "embedding_parameters": embedding_count,
        "parameter_ratio": s_count / t_count,
        "teacher_sentences_per_second": speed["teacher"],
        "student_sentences_per_second": speed["student"],
        "speedup": speed["student"] / speed["teacher"],
        "speed": {"threads": 1, "batch_size": SPEED_BATCH, "sentences": len(tokens["test"]), "passes": 3},
        "training": {
            "steps": settings.steps,
            "batch_size": settings.batch_size,
            "lr": settings.lr,
            "loss": {"cosine": method.cosine, "mse": method.mse},
            "final_train_loss": fit.train_loss[-1][1] if fit.train_loss else None,
            "seconds": fit.seconds,
        },
        "curves": {
            "student": {
                "val_mean_cosine": [list(p) for p in fit.val_mean_cosine],
                "val_nn_agreement": [list(p) for p in fit.val_nn_agreement],
                "selected_step": fit.selected_step,
            },
            "student_baseline": {
                "val_mean_cosine": [[0, alone_valid["mean_cosine"]]],
                "val_nn_agreement": [[0, alone_valid["nn_agreement"]]],
                "selected_step": 0,
            },
        },
        "wall_seconds": time.perf_counter() - start,
        "baseline": {
            "kind": "matched",
            "description": "the same student (the teacher's embeddings and the same teacher layers) evaluated "
            "at its initialisation, without the distillation training; training it with the distillation "
            "term at weight 0 leaves it unchanged (zero gradients), so it is the same model for every seed",
        },
        "dataset": {
            "name": specs.CatalogSentencesSpec.key,
            **data.model_dump(),
            "sizes": corpus.sizes(),
            "entries": {k: len(v) for k, v in corpus.entries.items()},
            "test_entries": list(corpus.entries["test"]),
            "valid_entries": list(corpus.entries["valid"]),
            "digest": corpus.digest(),
            "source": corpus.source,
            "metric": "nearest-neighbour agreement with the teacher (%) among the test sentences; also top-5 "
            "overlap (%) and the mean teacher-student cosine",
        },
    }
