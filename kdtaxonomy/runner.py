"""Run a recipe end to end: data -> teachers (topological order) -> student-alone baseline -> distilled student.

Trained teachers and baselines are cached on disk, keyed by everything that determines them (dataset and
its preparation, architecture, training settings, seed), so methods that share a teacher train it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kdtaxonomy.data import ArrayData, DataBundle, model_input
from kdtaxonomy.pipeline import Distiller, build_component
from kdtaxonomy.recipe import Recipe
from kdtaxonomy.registry import load_components
from kdtaxonomy.schema import ComponentSpec, KnowledgeSpec
from kdtaxonomy.teachers import NodePlan, SpecialistEnsemble, TeacherPlan
from kdtaxonomy.teachers.fusion import FusionStudent
from kdtaxonomy.train import (
    FitConfig,
    FitResult,
    accuracy,
    elapsed,
    fit,
    is_distributed,
    loader,
    rank,
    wrap_ddp,
)
from kdtaxonomy.yamlio import atomic_writer


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


def cache_dir() -> Path:
    """Where trained teachers, baselines and generated datasets are cached."""
    base = os.environ.get("KDTAX_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kdtaxonomy"
    )
    return Path(base)


@contextlib.contextmanager
def model_lock(path: Path) -> Iterator[None]:
    """An exclusive lock beside a cached model, so parallel bench workers train a shared teacher once."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here: workers may train the same model twice (still correct)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _key(*parts: Any) -> str:
    threads = torch.get_num_threads()  # CPU numerics depend on it; 1 is the benchmarks' fixed default
    blob = json.dumps(
        [*parts, *([f"threads={threads}"] if threads != 1 else [])], sort_keys=True, default=str
    )
    return hashlib.sha256(f"{torch.__version__}|{blob}".encode()).hexdigest()[:20]


def data_digest(*splits: ArrayData) -> str:
    """Hash of the tensors of ``splits`` (inputs, views, labels, indices): a cached model is reused only for
    exactly the data it was trained and selected on."""
    digest = hashlib.sha256()
    for data in splits:
        for name, tensor in sorted({"x": data.x, "y": data.y, "index": data.index, **data.views}.items()):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
            digest.update(t.numpy().tobytes())
    return digest.hexdigest()[:20]


def validation_split(data: ArrayData, fraction: float, seed: int) -> tuple[ArrayData, ArrayData | None]:
    """``(train, validation)``: a seeded stratified ``fraction`` of each class held out for model selection."""
    if fraction <= 0:
        return data, None
    from kdtaxonomy.prep.subsets import stratified_rows

    held = stratified_rows(data.y, fraction, torch.Generator().manual_seed(seed * 7 + 12_345))
    keep = torch.ones(len(data), dtype=torch.bool)
    keep[held] = False
    return data.subset(keep), data.subset(held)


def teacher_inputs(student: ArrayData, teacher: ArrayData, views: list[str]) -> tuple[ArrayData, list[str]]:
    """The student's data with each teacher's own input view of the same samples added as ``teacher.<v>``.

    Data preparation may change what the student sees (lower resolution, truncation) but never what a
    teacher sees: a teacher is fed its own view of each sample, matched by sample index. Views the two roles
    share are left as they are; synthetic rows (no index in the teacher's data) keep the student's input.
    """
    position = {int(i): p for p, i in enumerate(teacher.index.tolist())}
    rows = [position.get(int(i), -1) for i in student.index.tolist()]
    if not rows or min(rows) < 0:
        return student, views
    take = torch.tensor(rows, dtype=torch.long)
    added: dict[str, torch.Tensor] = {}
    mapped = []
    for view in views:
        parts = []
        for part in view.split("+"):
            own = teacher.view(part)[take]
            theirs = student.view(part) if part == "x" or part in student.views else None
            if theirs is not None and theirs.shape == own.shape and torch.equal(theirs, own):
                parts.append(part)
            else:
                added[f"teacher.{part}"] = own
                parts.append(f"teacher.{part}")
        mapped.append("+".join(parts))
    return (student.with_views(**added) if added else student), mapped


def build_model(
    key: str, params: dict[str, Any], bundle: DataBundle, view: str = "x", num_classes: int | None = None
) -> nn.Module:
    """A registered architecture sized for ``bundle``'s input ``view``."""
    component = load_components().get("model", key)
    shape = tuple(
        model_input({k: v[:1] for k, v in {"x": bundle.train.x, **bundle.train.views}.items()}, view).shape[
            1:
        ]
    )
    model: nn.Module = component.obj(
        component.validate_params(params), input_shape=shape, num_classes=num_classes or bundle.num_classes
    )
    return model


def _train_ce(
    model: nn.Module, data: ArrayData, view: str, cfg: FitConfig, val: ArrayData | None = None
) -> FitResult:
    """Train on the labels alone (teachers); selected on ``val``; data-parallel under torchrun."""
    net = wrap_ddp(model, cfg.device)

    def loss(batch: dict[str, torch.Tensor], _epoch: int) -> torch.Tensor:
        return F.cross_entropy(net(model_input(batch, view)).float(), batch["y"])

    def validate() -> float:
        assert val is not None
        return accuracy(model, val, view=view, device=cfg.device)

    return fit(
        net,
        loss,
        lambda e: loader(data, cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=e),
        cfg,
        validate=None if val is None else validate,
    )


TEACHER_CONSTRUCTIONS = frozenset({"svm-head", "teacher-init"})
"""Constructions that are themselves the transfer (an SVM on the teacher's features, the teacher's weights
as initialisation): the student-alone baseline is built from scratch instead."""


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
            lr=t.lr,
            weight_decay=t.weight_decay,
            optimizer=t.optimizer,
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
        return {k: getattr(cfg, k) for k in ("epochs", "steps", "batch_size", "lr", "weight_decay",
                                             "optimizer", "max_steps", "schedule", "eval_every", "seed")}  # fmt: skip

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
        model = build_model(node.model, {"size": node.size}, bundle, node.view)
        if node.low_precision is not None:
            from kdtaxonomy.students.low_precision import make_low_precision

            model = make_low_precision(model, *node.low_precision)
        model = model.to(self.opt.device)
        subset = data if node.classes is None else data.subset(torch.isin(data.y, torch.tensor(node.classes)))
        held = None
        if val is not None:
            held = val if node.classes is None else val.subset(torch.isin(val.y, torch.tensor(node.classes)))
        cfg = self._cfg(node.name, "teacher", node.seed_offset, ckpt=node.name)
        sources = [self.models[s] for s in node.sources]
        key = _key(
            "node/2",
            data_digest(subset, *([held] if held is not None else [])),
            {k: v for k, v in node.__dict__.items() if k not in {"name", "sources"}},
            self._budget(cfg),
            # what the node learns from: its sources' own keys (distinct teachers, distinct assistants)
            [self.node_keys[s] for s in node.sources],
            [self.recipe.digest("knowledge", "transfer"), self.training.ce_weight] if sources else "",
        )
        self.node_keys[node.name] = key

        def train() -> None:
            if not sources:
                self.fits[node.name] = [_train_ce(model, subset, node.view, cfg, held)]
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
            self.fits[node.name] = distiller.fit(
                subset,
                epochs=cfg.epochs,
                steps=cfg.steps,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                max_steps=cfg.max_steps,
                schedule=cfg.schedule,
                val=held,
                eval_every=cfg.eval_every,
                seed=cfg.seed,
                checkpoint=cfg.checkpoint,
                resume=cfg.resume,
                progress=cfg.progress,
                label=node.name,
            )

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
        start = time.perf_counter()
        bundle = self.load_data()
        train, val, test, preps = self.prepare(bundle)
        setup = build_component("teacher", self.recipe.teacher)
        self.plan: TeacherPlan = setup.plan(bundle.num_classes)
        from kdtaxonomy.graph import check_topology, topology

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
            result["ensemble_accuracy"] = _ensemble_accuracy(members, test["student"], view, self.opt.device)
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
            out["teacher_val_accuracy"] = accuracy(
                self.models[node.name], val["teacher"], view=node.view, device=self.opt.device
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
        return accuracy(self.models[node.name], data, view=node.view, device=self.opt.device)

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
            augment=_online_augment(preps),
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
            return distiller.fit(
                data,
                epochs=cfg.epochs,
                steps=cfg.steps,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                weight_decay=cfg.weight_decay,
                optimizer=cfg.optimizer,
                max_steps=cfg.max_steps,
                schedule=cfg.schedule,
                val=val,
                eval_every=cfg.eval_every,
                seed=cfg.seed,
                checkpoint=cfg.checkpoint,
                resume=cfg.resume,
                progress=cfg.progress,
                label=cfg.label,
            )

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
        key = _key(
            "alone/2",
            data_digest(data, *([val] if val is not None else [])),
            self.recipe.digest("data_preparation", "student_model"),
            construction.model_dump(mode="json"),
            self.node_keys.get("teacher") if construction.component != "from-scratch" else "",
            self._budget(cfg),
            self.plan.student_view,
        )
        self.baseline_fits: list[FitResult] = []

        def train_alone() -> None:
            self.baseline_fits = train()

        cached = self._cached_distiller(key, distiller, train_alone)
        return cached

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
        return distiller


def _online_augment(preps: list[Any]) -> Any:
    """The composed online augmentation of the preparation steps that define one (None if none do)."""
    from kdtaxonomy.prep.base import Prep

    active = [p for p in preps if type(p).augment is not Prep.augment and p.applies_to("student")]
    if not active:
        return None

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for prep in active:
            x = prep.augment(x, generator)
        return x

    return augment


@torch.no_grad()
def _ensemble_accuracy(models: list[nn.Module], data: ArrayData, view: str, device: torch.device) -> float:
    probs = None
    for model in models:
        model.eval()
        batch = {"x": data.x, **data.views}
        p = torch.softmax(model(model_input(batch, view).to(device)).float(), dim=1).cpu()
        probs = p if probs is None else probs + p
    assert probs is not None
    return 100.0 * float((probs.argmax(dim=1) == data.y).float().mean())


def run_recipe(recipe: Recipe, options: RunOptions | None = None) -> dict[str, Any]:
    """Train a recipe's teachers, the student-alone baseline and the distilled student; return accuracies."""
    return Runner(recipe, options or RunOptions()).run()


__all__ = ["ComponentSpec", "RunOptions", "Runner", "run_recipe"]
