"""Recipes: the runnable form of a catalog configuration (torch-free).

A recipe names one registry component per stage of the survey's model, with parameters:
dataset -> data preparation -> teacher setup -> knowledge terms at locations -> transfer method -> student
architecture and construction. Most of it follows from the configuration's stage terms (the tables below);
the configuration's ``implementation`` section overrides any part. Recipes are validated against the
torch-free component specs (:mod:`kdtaxonomy.specs`), so a bad component or parameter is reported when the
catalog loads, long before training.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from kdtaxonomy.location_names import location_problem
from kdtaxonomy.schema import ComponentSpec, Configuration, DatasetRecipe, Implementation, KnowledgeSpec
from kdtaxonomy.specs import SpecError, get_spec

KNOWLEDGE_DEFAULTS: dict[str, list[tuple[str, str, float]]] = {
    "soft-labels": [("soft-label-kd", "output", 1.0)],
    "hard-labels": [("hard-label-kd", "output", 1.0)],
    "mutual-information": [("vid", "block2", 0.05)],
    "deep-features": [("fitnets", "block2", 1.0)],
    "similarity-matrix": [("similarity-preserving", "block2", 1.0)],
    "relations": [("rkd-distance", "embedding", 1.0), ("rkd-angle", "embedding", 2.0)],
    "embeddings": [("cosine-embedding", "embedding", 1.0)],
    "distributions": [("mmd", "embedding", 1.0)],
    "attention-maps": [("attention-transfer", "block2", 1.0)],
    "contrastive-representations": [("crd", "embedding", 0.8)],
    "tag-vectors": [],
}
"""Default loss, location and weight for each knowledge term (weights follow the ratio used in the papers
where they give one, e.g. RKD's angle term twice the distance term)."""

TRANSFER_PRIORITY: tuple[str, ...] = (
    "mutual",
    "fusion",
    "dense-guidance",
    "conditional",
    "weighted",
    "aggregated",
    "sequential",
    "intermediate-layer",
    "multi-level",
    "permuted",
)
"""Which transfer term decides the transfer component when a configuration lists several."""

TEACHER_PRIORITY: tuple[tuple[str, str], ...] = (
    ("peers", "peers"),
    ("auxiliary-model", "auxiliary"),
    ("assistant-chain", "assistant-chain"),
    ("generations", "generations"),
    ("specialists", "specialists"),
    ("ensemble", "ensemble"),
)

STUDENT_PRIORITY: tuple[tuple[str, str], ...] = (
    ("trained-on-features", "svm-head"),
    ("quantized", "quantized"),
    ("low-precision", "low-precision"),
    ("pruned", "pruned"),
    ("teacher-initialized", "teacher-init"),
)

PREP_DEFAULTS: dict[str, str] = {
    "different-resolutions": "downsample-upsample",
    "augmentation": "augment",
    "decreased-training-data": "decrease-data",
    "eliminated-parts": "truncate",
    "data-impressions": "data-impressions",
}
"""Data-modification terms with a runnable transform (views/modalities select the two-view dataset)."""

VIEW_TERMS = {"different-views", "different-modalities", "motion-vectors-residuals"}
SIZES = ("tiny", "small", "medium", "large")


class TrainingSpec(BaseModel):
    """Training protocol of a recipe (``kdtax-bench/2``; defaults sized for MNIST-1D on 2 CPU cores).

    Budgets are optimizer steps, with cosine learning-rate decay; a stratified validation split is carved
    from the training rows, every model is selected on it, and the test split is read once at the end.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    steps: int = Field(default=2000, ge=1)
    """Optimizer steps of the student (and of the student-alone baseline, which shares its pipeline)."""
    teacher_steps: int = Field(default=2000, ge=1)
    """Optimizer steps of each teacher/assistant."""
    epochs: int | None = Field(default=None, ge=1)
    """Budget of the student in epochs instead of steps (None: ``steps``)."""
    teacher_epochs: int | None = Field(default=None, ge=1)
    """Budget of each teacher in epochs instead of steps (None: ``teacher_steps``)."""
    batch_size: int = Field(default=128, ge=2)
    """Mini-batch size of the student (a size at least the number of training rows trains full-batch)."""
    teacher_batch_size: int | None = Field(default=None, ge=2)
    """Mini-batch size of the teachers (None: ``batch_size``)."""
    lr: float = Field(default=3e-3, gt=0)
    """Initial learning rate."""
    teacher_lr: float | None = Field(default=None, gt=0)
    """Initial learning rate of the teachers (None: ``lr``). Left out of the recipe's dump, and so of its
    digest, when None. Used by the sequence benchmark (its teacher learns at 1e-3, its students at 2e-3)."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """Learning-rate schedule over the budget: cosine decay to 0 per step, or constant."""
    weight_decay: float = Field(default=0.0, ge=0)
    """Weight decay."""
    optimizer: Literal["adam", "sgd", "dot"] = "adam"
    """Optimizer (Adam; SGD with momentum 0.9; or ``dot``, the distillation-oriented trainer of Zhao et al.
    2023: SGD with one momentum buffer for the gradient of the task loss, momentum ``0.9 - momentum_delta``,
    and one for the gradient of the distillation loss, momentum ``0.9 + momentum_delta``; a model trained
    on its labels alone, such as a teacher, is trained with SGD and momentum 0.9 by it)."""
    momentum_delta: float = Field(default=0.075, ge=0, lt=0.1)
    """DOT's Delta (``optimizer: dot`` only; default 0.075, mdistiller's ``SOLVER.DOT.DELTA``; 0.9 + Delta
    must stay below 1). Left out of the recipe's dump, and so of its digest, with any other optimizer."""
    ce_weight: float = Field(default=1.0, ge=0)
    """Weight of the cross-entropy with the ground truth (the survey's phi in Eq. 1)."""
    val_fraction: float = Field(default=0.1, ge=0, lt=1)
    """Fraction of each class's training rows held out (seeded, stratified) for model selection; 0: none."""
    eval_every: int = Field(default=100, ge=1)
    """Steps between validation evaluations (and after the last step)."""
    max_steps: int | None = Field(default=None, ge=1)
    """Cap every training at this many optimizer steps (smoke tests)."""

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The fields, without ``momentum_delta`` unless the optimizer is ``dot`` and without an unset
        ``teacher_lr`` (recipes keep the dump and the digest they had before these fields existed)."""
        data: dict[str, Any] = handler(self)
        if self.optimizer != "dot":
            data.pop("momentum_delta", None)
        if self.teacher_lr is None:
            data.pop("teacher_lr", None)
        return data


class Recipe(BaseModel):
    """A fully resolved, runnable configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entry: str | None = None
    configuration: str | None = None
    dataset: ComponentSpec = ComponentSpec(component="mnist1d")
    data_preparation: list[ComponentSpec] = Field(default_factory=list)
    teacher: ComponentSpec = ComponentSpec(component="single")
    knowledge: list[KnowledgeSpec] = Field(default_factory=list)
    transfer: ComponentSpec = ComponentSpec(component="permuted")
    student_model: ComponentSpec = ComponentSpec(component="cnn1d", params={"size": "small"})
    student: ComponentSpec = ComponentSpec(component="from-scratch")
    training: TrainingSpec = TrainingSpec()

    def digest(self, *parts: str) -> str:
        """Stable hash of (parts of) the recipe, for caches and provenance."""
        data = self.model_dump(mode="json", exclude={"entry", "configuration"})
        picked = {k: data[k] for k in parts} if parts else data
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


class RecipeError(ValueError):
    """A recipe that cannot be built; the message names the field and the reason."""


def _first(terms: list[str], table: tuple[tuple[str, str], ...], default: str) -> str:
    for term, key in table:
        if term in terms:
            return key
    return default


def derive(config: Configuration) -> dict[str, Any]:
    """The recipe a configuration's stage terms imply (before explicit overrides)."""
    dist, teacher, student = config.distillation, config.teacher, config.student
    teacher_size = (
        "medium" if "simple" in teacher.architecture and "complex" not in teacher.architecture else "large"
    )
    teacher_key = _first(teacher.setup, TEACHER_PRIORITY, "single")
    if teacher_key == "ensemble" and set(config.data_preparation.modification) & VIEW_TERMS:
        teacher_key = "multi-view"
    if teacher_key == "single" and "multi-teacher" in teacher.setup:
        views = bool(set(config.data_preparation.modification) & VIEW_TERMS)
        teacher_key = "multi-view" if views else "ensemble"
    if teacher_key == "single" and "low-precision" in teacher.construction:
        teacher_key = "low-precision"
    teacher_params: dict[str, Any] = {"model": "cnn1d", "size": teacher_size}
    transfer_key = next((t for t in TRANSFER_PRIORITY if t in dist.transfer), "permuted")
    if teacher_key == "auxiliary":
        transfer_key = "fusion"
    if teacher_key == "peers":
        transfer_key = "mutual"
        teacher_params["size"] = "small"
    knowledge: list[dict[str, Any]] = []
    for term in dist.knowledge:
        for loss, location, weight in KNOWLEDGE_DEFAULTS.get(term, []):
            knowledge.append({"component": loss, "location": location, "weight": weight})
    if transfer_key == "mutual":
        knowledge = [{"component": "dml", "location": "output", "weight": 1.0}]
    elif transfer_key == "fusion":
        knowledge = []
    elif transfer_key in {"conditional", "weighted"}:
        swap = {"conditional": "conditional-kd", "weighted": "weighted-kd"}[transfer_key]
        knowledge = [dict(k, component=swap) if k["component"] == "soft-label-kd" else k for k in knowledge]
    elif transfer_key == "aggregated":
        knowledge = [
            dict(k, component="multi-teacher-kd") if k["component"] == "soft-label-kd" else k
            for k in knowledge
        ]
    arch = student.architecture
    s_model, s_size = "cnn1d", "small"
    if "teacher-like" in arch and "simplified-teacher" not in arch:
        s_size = teacher_params["size"]
    elif "different-from-teacher" in arch and "simplified-teacher" not in arch:
        s_model, s_size = "resnet1d", "tiny"  # another family that still has feature maps
    elif "simple" in arch:
        s_size = "tiny"
    if teacher_key in {"generations"}:
        s_size = teacher_params["size"]
    construction = _first(student.construction, STUDENT_PRIORITY, "from-scratch")
    if construction == "svm-head":
        if teacher_key == "auxiliary":
            construction = "from-scratch"  # the fused student's own classifier plays the back-end's role
        else:
            knowledge = []  # the SVM is trained on the teachers' deep features: that is the transfer
    prep = [
        {"component": PREP_DEFAULTS[t]} for t in config.data_preparation.modification if t in PREP_DEFAULTS
    ]
    two_view = teacher_key == "multi-view" or bool(set(config.data_preparation.modification) & VIEW_TERMS)
    return {
        "dataset": {"component": "mnist1d-two-view" if two_view else "mnist1d"},
        "data_preparation": prep,
        "teacher": {"component": teacher_key, "params": teacher_params},
        "knowledge": knowledge,
        "transfer": {"component": transfer_key},
        "student_model": {"component": s_model, "params": {"size": s_size}},
        "student": {"component": construction},
    }


def merge(derived: dict[str, Any], impl: Implementation | DatasetRecipe | None) -> dict[str, Any]:
    """Apply a configuration's explicit ``implementation`` (or one of its dataset recipes) over a recipe."""
    if impl is None:
        return derived
    out = dict(derived)
    given = impl.model_dump(exclude_unset=True, exclude={"notes", "recipes", "dataset_params"})
    for field in ("data_preparation", "knowledge"):
        if given.get(field) is not None:
            out[field] = given[field]
    for field in ("teacher", "transfer", "student", "student_model"):
        if field in given and given[field] is not None:
            base = out.get(field, {})
            same = base.get("component") == given[field]["component"]
            params = {**(base.get("params", {}) if same else {}), **given[field].get("params", {})}
            out[field] = {"component": given[field]["component"], "params": params}
    if isinstance(impl, Implementation) and impl.dataset:
        out["dataset"] = {"component": impl.dataset}
    if impl.training:
        out["training"] = dict(impl.training)
    return out


def dataset_recipe(config: Configuration, key: str) -> DatasetRecipe | None:
    """The configuration's own recipe on dataset ``key`` (``implementation.recipes``), if it has one."""
    return config.implementation.recipes.get(key) if config.implementation else None


def recipe_datasets(config: Configuration) -> list[str]:
    """Dataset keys the configuration has a recipe of its own for, besides its default dataset."""
    return sorted(config.implementation.recipes) if config.implementation else []


def _check_component(kind: str, spec: ComponentSpec, where: str) -> None:
    try:
        model = get_spec(kind, spec.component)
    except SpecError as exc:
        raise RecipeError(f"{where}.component: {exc}") from None
    try:
        model.model_validate(spec.params)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise RecipeError(f"{where}.params{'.' + loc if loc else ''}: {first['msg']}") from None


def validate_recipe(recipe: Recipe) -> None:
    """Check every component and its parameters against the specs, and each term's location syntax against
    the maps its loss takes (:func:`kdtaxonomy.location_names.location_problem`); raise :class:`RecipeError`."""
    _check_component("dataset", recipe.dataset, "dataset")
    for i, prep in enumerate(recipe.data_preparation):
        _check_component("prep", prep, f"data_preparation.{i}")
    _check_component("teacher", recipe.teacher, "teacher")
    for i, term in enumerate(recipe.knowledge):
        _check_component("loss", term, f"knowledge.{i}")
        maps = getattr(get_spec("loss", term.component), "maps", (1, 1))
        problem = location_problem(term.location, maps)
        if problem:
            raise RecipeError(f"knowledge.{i}.location: {problem}")
    _check_component("transfer", recipe.transfer, "transfer")
    _check_component("model", recipe.student_model, "student_model")
    _check_component("student", recipe.student, "student")
    teacher_model = recipe.teacher.params.get("model", "cnn1d")
    try:
        get_spec("model", str(teacher_model))
    except SpecError as exc:
        raise RecipeError(f"teacher.params.model: {exc}") from None
    _check_task(recipe, str(teacher_model))


def _check_task(recipe: Recipe, teacher_model: str) -> None:
    """A task dataset (one with its own runner, e.g. the sequence benchmark) takes its task components
    (``task_component`` specs: its models and transfers) and no knowledge terms; a classification dataset
    takes none of these."""
    dataset = recipe.dataset.component
    task = bool(getattr(get_spec("dataset", dataset), "runner", ""))
    kinds = {"transfer": recipe.transfer.component, "student_model": recipe.student_model.component}
    kinds["teacher.params.model"] = teacher_model
    for where, key in kinds.items():
        spec = get_spec("model" if "model" in where else where, key)
        own = bool(getattr(spec, "task_component", False))
        if own and not task:
            raise RecipeError(
                f"{where}: {key!r} runs on a task dataset (e.g. seq-translation), not {dataset!r}"
            )
        if task and not own:
            raise RecipeError(
                f"{where}: dataset {dataset!r} is a task with its own runner; {key!r} does not apply"
            )
    if task and recipe.knowledge:
        raise RecipeError(
            f"knowledge: dataset {dataset!r} is a task with its own runner; its distillation is the transfer "
            f"({recipe.transfer.component}), so knowledge terms do not apply"
        )


def dataset_override(
    config: Configuration, entry_id: str | None, key: str | None, params: dict[str, Any]
) -> ComponentSpec | None:
    """The dataset of a run given ``--dataset KEY`` and dataset parameters (``--data-root``,
    ``--dataset-param``): the recipe's own dataset (and its parameters) when no key is given; None when
    neither is given. The parameters are then validated with the rest of the recipe by :func:`resolve`."""
    if key is None and not params:
        return None
    own = ComponentSpec.model_validate(merge(derive(config), config.implementation).get("dataset", {}))
    if key is None or key == own.component:
        return ComponentSpec(component=own.component, params={**own.params, **params})
    variant = dataset_recipe(config, key)
    return ComponentSpec(component=key, params={**(variant.dataset_params if variant else {}), **params})


def placeholder_dataset(config: Configuration, key: str) -> ComponentSpec:
    """The dataset of the configuration's recipe on ``key`` with a stand-in ``root`` where the dataset needs
    one (the user's folder), so that the recipe can be validated without the data."""
    variant = dataset_recipe(config, key)
    params: dict[str, Any] = dict(variant.dataset_params) if variant else {}
    try:
        if "root" in get_spec("dataset", key).model_fields:
            params.setdefault("root", "DATA_ROOT")
    except SpecError:
        pass
    return ComponentSpec(component=key, params=params)


def with_models(recipe: Recipe, teacher: str | None = None, student: str | None = None) -> Recipe:
    """``recipe`` with another teacher and/or student architecture, each ``KEY`` or ``KEY:SIZE`` of the
    model registry (``--teacher-model`` / ``--student-model``); checked like any recipe."""

    def split(value: str) -> tuple[str, dict[str, Any]]:
        key, _, size = value.partition(":")
        return key, ({"size": size} if size else {})

    data = recipe.model_dump(mode="json")
    if teacher:
        key, size = split(teacher)
        data["teacher"]["params"] = {**data["teacher"]["params"], "model": key, **size}
    if student:
        key, size = split(student)
        kept = {k: v for k, v in data["student_model"]["params"].items() if k == "size"}
        data["student_model"] = {"component": key, "params": {**kept, **size}}
    try:
        changed = Recipe.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise RecipeError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    validate_recipe(changed)
    return changed


def resolve(config: Configuration, entry_id: str | None = None, **overrides: Any) -> Recipe:
    """The validated recipe of a configuration (terms -> defaults, then ``implementation``, then its recipe
    on the dataset given in ``overrides`` if it has one (``implementation.recipes``), then overrides)."""
    data = merge(derive(config), config.implementation)
    dataset = overrides.get("dataset")
    key = dataset.component if isinstance(dataset, ComponentSpec) else None
    if key is not None and key != data.get("dataset", {}).get("component"):
        data = merge(data, dataset_recipe(config, key))
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    try:
        recipe = Recipe.model_validate({**data, "entry": entry_id, "configuration": config.name})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise RecipeError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    validate_recipe(recipe)
    return recipe


def task_runner(recipe: Recipe) -> Callable[[Recipe, Any], dict[str, Any]] | None:
    """The runner of the recipe's dataset when it is a whole task (``TaskSpec.runner``), else None."""
    path = str(getattr(get_spec("dataset", recipe.dataset.component), "runner", "") or "")
    if not path:
        return None
    module, _, name = path.partition(":")
    found: Callable[[Recipe, Any], dict[str, Any]] = getattr(importlib.import_module(module), name)
    return found


def task_budget(training: TrainingSpec, options: Any) -> tuple[int, int, int]:
    """(student steps, teacher steps, batch size) of a task runner's run: the run options' ``steps``,
    ``teacher_steps`` and ``batch_size`` over the recipe's, both capped by any ``max_steps``."""
    steps = options.steps or training.steps
    teacher_steps = options.teacher_steps or training.teacher_steps
    caps = [v for v in (options.max_steps, training.max_steps) if v]
    if caps:
        steps, teacher_steps = min(steps, *caps), min(teacher_steps, *caps)
    return steps, teacher_steps, options.batch_size or training.batch_size
