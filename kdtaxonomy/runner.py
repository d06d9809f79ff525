"""Run a recipe end to end: data -> teachers (topological order) -> student-alone baseline -> distilled student.

Trained teachers and baselines are cached on disk, keyed by everything that determines them (dataset and
its preparation, architecture, training settings, seed), so methods that share a teacher train it once.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdtaxonomy.data import ArrayData, DataBundle
from kdtaxonomy.model_cache import cache_dir, data_digest, model_key, model_lock, write_provenance
from kdtaxonomy.pipeline import Distiller, build_component
from kdtaxonomy.recipe import Recipe, task_runner
from kdtaxonomy.registry import load_components
from kdtaxonomy.schema import ComponentSpec, KnowledgeSpec
from kdtaxonomy.splits import teacher_inputs, validation_split
from kdtaxonomy.stages import (
    TEACHER_CONSTRUCTIONS,
    build_model,
    ensemble_accuracy,
    fit_distiller,
    online_augment,
    train_ce,
)
from kdtaxonomy.teachers import NodePlan, SpecialistEnsemble, TeacherPlan
from kdtaxonomy.teachers.fusion import FusionStudent
from kdtaxonomy.train import (
    FitConfig,
    FitResult,
    accuracy,
    elapsed,
    is_distributed,
    rank,
)
from kdtaxonomy.yamlio import atomic_writer

STUDENT_FILE = "student.safetensors"
"""Where ``kdtax train -o DIR`` saves the distilled student (with its ``.json`` sidecar) in ``DIR``."""


@dataclass
class RunOptions:
    """Run-time choices that are not part of the recipe."""

    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False
    epochs: int | None = None
    teacher_epochs: int | None = None
    steps: int | None = None
    teacher_steps: int | None = None
    batch_size: int | None = None
    max_steps: int | None = None
    out: Path | None = None
    resume: bool = False
    cache: bool = True
    progress: Any = None
    dataset_params: dict[str, Any] = field(default_factory=dict)


class Runner:
    """Executes one recipe; :meth:`run` returns the three test accuracies, validation curves and provenance.

    The student alone is the distilled pipeline with ``knowledge=[]``: same data, preparation, online
    augmentation, construction, initialisation and batch order (paired by seed), so the difference between
    the two measures the distillation terms alone.
    """

    def __init__(self, recipe: Recipe, options: RunOptions) -> None:
        self.recipe = recipe
        self.opt = options
        self.training = recipe.training
        self.models: dict[str, nn.Module] = {}
        self.node_keys: dict[str, str] = {}
        self.fits: dict[str, list[FitResult]] = {}
        self.cache_hits: list[str] = []
        self.provenance: dict[str, dict[str, Any]] = {}
        """Cache key -> what the cached model is (written beside it as ``<key>.json``)."""

    # -- helpers ----------------------------------------------------------------------------------------
    def _cfg(self, label: str, role: str, seed_offset: int = 0, ckpt: str | None = None) -> FitConfig:
        t, o = self.training, self.opt
        if role == "teacher":
            given = self.recipe.teacher.params.get("epochs")
            epochs = o.teacher_epochs or (int(str(given)) if given else None) or t.teacher_epochs
            steps = None if epochs else (o.teacher_steps or t.teacher_steps)
        else:
            epochs = o.epochs or (None if o.steps else t.epochs)
            steps = None if epochs else (o.steps or t.steps)
        out = o.out
        return FitConfig(
            epochs=epochs or 1,
            steps=steps,
            batch_size=o.batch_size or (t.teacher_batch_size if role == "teacher" else None) or t.batch_size,
            lr=t.teacher_lr if role == "teacher" and t.teacher_lr is not None else t.lr,
            weight_decay=t.weight_decay,
            optimizer=t.optimizer,
            momentum_delta=t.momentum_delta,
            max_steps=o.max_steps or t.max_steps,
            schedule=t.schedule,
            eval_every=t.eval_every,
            seed=o.seed * 131 + seed_offset,
            device=o.device,
            amp=o.amp,
            checkpoint=(out / f"{ckpt}.ckpt") if out and ckpt else None,
            resume=o.resume,
            label=label,
            progress=o.progress,
        )

    @staticmethod
    def _budget(cfg: FitConfig) -> dict[str, Any]:
        budget = {k: getattr(cfg, k) for k in ("epochs", "steps", "batch_size", "lr", "weight_decay",
                                               "optimizer", "max_steps", "schedule", "eval_every", "seed")}  # fmt: skip
        if cfg.optimizer == "dot":  # only then: the cache keys of every other recipe stay as they were
            budget["momentum_delta"] = cfg.momentum_delta
        return budget

    def _cached(self, key: str, model: nn.Module, train: Any) -> nn.Module:
        """Load the model cached under ``key``, or train and cache it (one process at a time per key)."""
        path = cache_dir() / "models" / f"{key}.pt"
        if not self.opt.cache:
            train()
            return model
        if is_distributed():  # ranks train together; a lock held by one rank would deadlock the others
            return self._load_or_train(key, path, model, train)
        with model_lock(path):
            return self._load_or_train(key, path, model, train)

    def _load_or_train(self, key: str, path: Path, model: nn.Module, train: Any) -> nn.Module:
        if path.is_file():
            try:
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
                self.cache_hits.append(key)
                return model.to(self.opt.device)
            except (RuntimeError, OSError, EOFError, ValueError):
                pass
        train()
        if rank() == 0:
            with atomic_writer(path, "wb") as handle:
                torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, handle)
            self._describe(key, path)
        return model

    # -- stages -----------------------------------------------------------------------------------------
    def load_data(self) -> DataBundle:
        spec = self.recipe.dataset
        params = {**spec.params, **self.opt.dataset_params}
        component = load_components().get("dataset", spec.component)
        bundle: DataBundle = component.obj(component.validate_params(params), seed=self.opt.seed)
        return bundle

    def prepare(
        self, bundle: DataBundle
    ) -> tuple[dict[str, ArrayData], dict[str, ArrayData | None], dict[str, ArrayData], list[Any]]:
        """Train, validation and test data of each role after data preparation (validation and test get
        what a role's model sees at inference)."""
        preps = [build_component("prep", p) for p in self.recipe.data_preparation]
        fit_rows, held = validation_split(bundle.train, self.training.val_fraction, self.opt.seed)
        train = {"teacher": fit_rows, "student": fit_rows}
        val: dict[str, ArrayData | None] = {"teacher": held, "student": held}
        test = {"teacher": bundle.test, "student": bundle.test}
        generator = torch.Generator().manual_seed(self.opt.seed)
        for prep in preps:
            for role in ("teacher", "student"):
                train[role] = prep.apply(train[role], role=role, generator=generator)
                test[role] = prep.apply_eval(test[role], role=role)
                held_role = val[role]
                val[role] = None if held_role is None else prep.apply_eval(held_role, role=role)
        return train, val, test, preps

    def train_node(
        self, node: NodePlan, bundle: DataBundle, data: ArrayData, val: ArrayData | None
    ) -> nn.Module:
        torch.manual_seed(self.opt.seed * 131 + node.seed_offset)
        classes = len(label_set(bundle, node.labels)["class_names"]) if node.labels else None
        model = build_model(node.model, {"size": node.size}, bundle, node.view, num_classes=classes)
        if node.low_precision is not None:
            from kdtaxonomy.students.low_precision import make_low_precision

            model = make_low_precision(model, *node.low_precision)
        model = model.to(self.opt.device)
        subset = data if node.classes is None else data.subset(torch.isin(data.y, torch.tensor(node.classes)))
        held = None
        if val is not None:
            held = val if node.classes is None else val.subset(torch.isin(val.y, torch.tensor(node.classes)))
        subset = relabel(bundle, node.labels, subset)
        held = None if held is None else relabel(bundle, node.labels, held)
        cfg = self._cfg(node.name, "teacher", node.seed_offset, ckpt=node.name)
        sources = [self.models[s] for s in node.sources]
        digest = data_digest(subset, *([held] if held is not None else []))
        key = model_key(
            "node/2",
            digest,
            {k: v for k, v in node.__dict__.items() if k not in {"name", "sources"}},
            self._budget(cfg),
            # what the node learns from: its sources' own keys (distinct teachers, distinct assistants)
            [self.node_keys[s] for s in node.sources],
            [self.recipe.digest("knowledge", "transfer"), self.training.ce_weight] if sources else "",
        )
        self.node_keys[node.name] = key

        def train() -> None:
            if not sources:
                self.fits[node.name] = [train_ce(model, subset, node.view, cfg, held)]
                return
            views = [self._view(s) for s in node.sources]
            distiller = Distiller(
                model,
                sources,
                knowledge=self._node_knowledge(),
                transfer=self.recipe.transfer,
                student_view=node.view,
                teacher_views=views,
                ce_weight=self.training.ce_weight,
                device=self.opt.device,
                amp=self.opt.amp,
            )
            self.fits[node.name] = fit_distiller(distiller, subset, cfg, held)

        self.provenance[key] = {"model": node.name, "data_digest": digest}
        return self._cached(key, model, train)

    def _node_knowledge(self) -> list[KnowledgeSpec]:
        """Assistants and generations learn from their predecessor with the recipe's output-level terms
        (soft labels when it has none): the student's intermediate locations need not exist on them."""
        terms = [
            k for k in self.recipe.knowledge if (k.location or "output") == "output" and k.component != "dml"
        ]
        return terms or [KnowledgeSpec(component="soft-label-kd", location="output")]

    def _view(self, name: str) -> str:
        return next((n.view for n in self.plan.nodes if n.name == name), "x")

    def run(self) -> dict[str, Any]:
        runner = task_runner(self.recipe)
        if runner is not None:  # a whole task with its own runner (the sequence benchmark)
            return runner(self.recipe, self.opt)
        start = time.perf_counter()
        bundle = self.load_data()
        self.bundle = bundle
        train, val, test, preps = self.prepare(bundle)
        setup = build_component("teacher", self.recipe.teacher)
        self.plan: TeacherPlan = setup.plan(bundle.num_classes)
        from kdtaxonomy.topology import check_topology, topology

        check_topology(topology(self.recipe, bundle.num_classes))  # refuse graphs that cannot run
        for node in self.plan.nodes:
            self.models[node.name] = self.train_node(node, bundle, train["teacher"], val["teacher"])
        names = list(self.plan.student_sources)
        if self.recipe.transfer.component == "dense-guidance":
            names = [
                n.name for n in self.plan.nodes
            ]  # DGKD: the teacher and every assistant guide the student
            self.plan.student_sources = names
        sources: list[nn.Module] = [self.models[s] for s in names]
        views = [self._view(s) for s in names]
        if self.plan.combine_specialists:
            specialists = [self.models[n.name] for n in self.plan.nodes if n.classes is not None]
            sources = [SpecialistEnsemble(self.models["teacher"], specialists, self.plan.combine_specialists)]
            views = ["x"]
        student_train = train["student"]
        for prep in preps:
            if getattr(prep, "needs_teacher", False) and sources:
                student_train = prep.synthesize(
                    sources[0], student_train, torch.Generator().manual_seed(self.opt.seed)
                )
        student_train, views = teacher_inputs(student_train, train["teacher"], views)
        self.student_train = student_train
        held = val["student"]
        baseline = self.student(bundle, student_train, sources, views, preps, held, distill=False)
        self.baseline_distiller = baseline
        student = self.student(bundle, student_train, sources, views, preps, held, distill=True)
        view = self.plan.student_view
        result: dict[str, Any] = {
            "teacher_accuracy": self._teacher_accuracy(test["teacher"]),
            "student_baseline_accuracy": baseline.evaluate(test["student"], view=view),
            "student_accuracy": student.evaluate(test["student"], view=view),
        }
        for node in self.plan.nodes:
            if node.role in {"assistant", "generation"}:
                result[f"{node.name}_accuracy"] = accuracy(
                    self.models[node.name], test["teacher"], view=node.view, device=self.opt.device
                )
        if self.plan.ensemble_of:
            members = [self.models[n] for n in self.plan.ensemble_of] + [student.student]
            result["ensemble_accuracy"] = ensemble_accuracy(members, test["student"], view, self.opt.device)
        if bundle.info.get("evaluation") == "verification":  # EER and minDCF of cosine-scored embeddings
            from kdtaxonomy.verification_run import verification_metrics

            node = next((n for n in self.plan.nodes if n.name == self.plan.reported), None)
            scored = {"student_baseline": (baseline.student, test["student"], view)}
            scored["student"] = (student.student, test["student"], view)
            teacher = None if node is None else (self.models[node.name], test["teacher"], node.view)
            result.update(verification_metrics({"teacher": teacher, **scored}, self.opt.device))
        result.update(self._validation(val, baseline, student))
        result["wall_seconds"] = elapsed(start)
        result["construction"] = student.construction.describe(student.student)
        result["baseline"] = self.baseline_description
        result["teacher_cache_hits"] = len(self.cache_hits)
        result["dataset"] = {
            "name": bundle.name,
            **bundle.info,
            "num_fit": len(train["teacher"]),
            "num_val": 0 if val["teacher"] is None else len(val["teacher"]),
            "num_student_train": len(student_train),
        }
        if self.opt.out is not None and rank() == 0:
            weights = self.opt.out / STUDENT_FILE
            try:
                student.recipe = self.recipe
                student.save(weights, metrics={"test_accuracy": result["student_accuracy"]})
                result["student_weights"] = str(weights)
            except ValueError as exc:  # a student whose state is not tensors (an SVM head) is not saved
                result["student_weights"] = f"not saved: {exc}"
        return result

    def _validation(
        self, val: dict[str, ArrayData | None], baseline: Distiller, student: Distiller
    ) -> dict[str, Any]:
        """Validation accuracies of the selected models, their selection steps and the validation curves."""
        out: dict[str, Any] = {}
        if val["student"] is not None:
            view = self.plan.student_view
            out["student_baseline_val_accuracy"] = baseline.evaluate(val["student"], view=view)
            out["student_val_accuracy"] = student.evaluate(val["student"], view=view)
        if val["teacher"] is not None and self.plan.reported:
            node = next(n for n in self.plan.nodes if n.name == self.plan.reported)
            own = relabel(self.bundle, node.labels, val["teacher"])
            out["teacher_val_accuracy"] = accuracy(
                self.models[node.name], own, view=node.view, device=self.opt.device
            )
        fits = {**self.fits, "student alone": self.baseline_fits, "distilled student": self.student_fits}
        out["curves"] = {
            name: [{"round": i, "best_step": r.best_step, "steps": r.steps, "curve": r.curve}
                   for i, r in enumerate(results)]
            for name, results in fits.items()
        }  # fmt: skip
        return out

    def _teacher_accuracy(self, data: ArrayData) -> float | None:
        if not self.plan.reported:
            return None
        node = next(n for n in self.plan.nodes if n.name == self.plan.reported)
        own = relabel(self.bundle, node.labels, data)  # on its own label set
        return accuracy(self.models[node.name], own, view=node.view, device=self.opt.device)

    def student(
        self,
        bundle: DataBundle,
        data: ArrayData,
        sources: list[nn.Module],
        views: list[str],
        preps: list[Any],
        val: ArrayData | None,
        *,
        distill: bool,
    ) -> Distiller:
        """The distilled student, or (``distill=False``) the matched student alone: the same pipeline with
        ``knowledge=[]`` (no peers, no fusion; a construction that is itself the transfer is replaced by
        training from scratch)."""
        spec = self.recipe.student_model
        construction = self.recipe.student
        if not distill and construction.component in TEACHER_CONSTRUCTIONS:
            construction = ComponentSpec(component="from-scratch")
        torch.manual_seed(self.opt.seed * 131 + 4242)
        model = build_model(spec.component, dict(spec.params), bundle, self.plan.student_view)
        if distill and self.plan.fusion is not None:
            model = FusionStudent(
                model, self.models["auxiliary"], num_classes=bundle.num_classes, **self.plan.fusion
            )
            model.build(data.view(self.plan.student_view)[:2])
        peers = []
        for peer in self.plan.peers if distill else []:
            torch.manual_seed(self.opt.seed * 131 + peer.seed_offset)
            peers.append(build_model(peer.model, {"size": peer.size}, bundle, peer.view))
        distiller = Distiller(
            model,
            peers or sources,
            knowledge=self.recipe.knowledge if distill else [],
            transfer=self.recipe.transfer if distill else None,
            construction=construction,
            student_view=self.plan.student_view,
            teacher_views=None if peers else views,
            ce_weight=self.training.ce_weight,
            num_classes=bundle.num_classes,
            augment=online_augment(preps),
            device=self.opt.device,
            amp=self.opt.amp,
        )
        cfg = self._cfg(
            "distilled student" if distill else "student alone",
            "student",
            4242,
            ckpt="student" if distill else "baseline",
        )

        def train() -> list[FitResult]:
            return fit_distiller(distiller, data, cfg, val)

        if distill:
            self.student_initial = {k: v.detach().clone() for k, v in distiller.student.state_dict().items()}
            self.student_fits = train()
            self.distiller = distiller
            return distiller
        self.baseline_description = {
            "kind": "matched",
            "knowledge": [],
            "construction": construction.component,
            "note": "the distilled pipeline without its distillation terms: same data, preparation, "
            "augmentation, construction, initialisation and batch order (paired by seed)",
        }
        digest = data_digest(data, *([val] if val is not None else []))
        key = model_key(
            "alone/2",
            digest,
            self.recipe.digest("data_preparation", "student_model"),
            construction.model_dump(mode="json"),
            self.node_keys.get("teacher") if construction.component != "from-scratch" else "",
            self._budget(cfg),
            self.plan.student_view,
        )
        self.baseline_fits: list[FitResult] = []

        def train_alone() -> None:
            self.baseline_fits = train()

        self.provenance[key] = {"model": "student alone", "data_digest": digest}
        cached = self._cached_distiller(key, distiller, train_alone)
        return cached

    def _describe(self, key: str, path: Path) -> None:
        """Write ``<key>.json`` beside a cached model: what it is, its recipe, data and code versions."""
        write_provenance(path, key, {**self.provenance.get(key, {}), "recipe_hash": self.recipe.digest()})

    def _cached_distiller(self, key: str, distiller: Distiller, train: Any) -> Distiller:
        """The student-alone distiller with its (finalised) student loaded from the cache or trained."""
        path = cache_dir() / "models" / f"{key}.pt"
        if not self.opt.cache:
            train()
            return distiller
        lock = contextlib.nullcontext() if is_distributed() else model_lock(path)
        with lock:
            if path.is_file():
                try:
                    distiller.student = torch.load(path, map_location=self.opt.device, weights_only=False)
                    self.cache_hits.append(key)
                    return distiller
                except (RuntimeError, OSError, EOFError, ValueError, AttributeError):
                    pass
            train()
            if rank() == 0:
                with atomic_writer(path, "wb") as handle:
                    torch.save(distiller.student, handle)
                self._describe(key, path)
        return distiller


def label_set(bundle: DataBundle, name: str) -> dict[str, Any]:
    """The dataset's label set ``name`` (``info["label_sets"]``: its view and class names)."""
    sets: dict[str, dict[str, Any]] = bundle.info.get("label_sets") or {}
    if name not in sets:
        known = ", ".join(sets) or "none"
        raise ValueError(f"dataset {bundle.name!r} has no label set {name!r} (it has: {known})")
    return sets[name]


def relabel(bundle: DataBundle, name: str | None, data: ArrayData) -> ArrayData:
    """``data`` with the label set ``name`` as its labels (``data`` itself when ``name`` is None)."""
    if name is None:
        return data
    view = str(label_set(bundle, name)["view"])
    return ArrayData(data.x, data.view(view).long(), data.index, dict(data.views))


def run_recipe(recipe: Recipe, options: RunOptions | None = None) -> dict[str, Any]:
    """Train a recipe's teachers, the student-alone baseline and the distilled student; return accuracies."""
    return Runner(recipe, options or RunOptions()).run()


__all__ = ["ComponentSpec", "RunOptions", "Runner", "build_model", "run_recipe"]
