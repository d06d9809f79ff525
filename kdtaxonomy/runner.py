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
from kdtaxonomy.train import FitConfig, accuracy, elapsed, fit, is_distributed, loader, rank, wrap_ddp
from kdtaxonomy.yamlio import atomic_writer


@dataclass
class RunOptions:
    """Run-time choices that are not part of the recipe."""

    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False
    epochs: int | None = None
    teacher_epochs: int | None = None
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
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(f"{torch.__version__}|{blob}".encode()).hexdigest()[:20]


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


def _train_ce(model: nn.Module, data: ArrayData, view: str, cfg: FitConfig) -> None:
    """Train on the labels alone (teachers, the student-alone baseline); data-parallel under torchrun."""
    net = wrap_ddp(model, cfg.device)

    def loss(batch: dict[str, torch.Tensor], _epoch: int) -> torch.Tensor:
        return F.cross_entropy(net(model_input(batch, view)).float(), batch["y"])

    fit(net, loss, lambda e: loader(data, cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=e), cfg)


class Runner:
    """Executes one recipe; :meth:`run` returns the three accuracies and provenance."""

    def __init__(self, recipe: Recipe, options: RunOptions) -> None:
        self.recipe = recipe
        self.opt = options
        self.training = recipe.training
        self.models: dict[str, nn.Module] = {}
        self.cache_hits: list[str] = []

    # -- helpers ----------------------------------------------------------------------------------------
    def _cfg(self, label: str, epochs: int, seed_offset: int = 0, ckpt: str | None = None) -> FitConfig:
        t = self.training
        out = self.opt.out
        return FitConfig(
            epochs=epochs,
            batch_size=self.opt.batch_size or t.batch_size,
            lr=t.lr,
            weight_decay=t.weight_decay,
            optimizer=t.optimizer,
            max_steps=self.opt.max_steps or t.max_steps,
            seed=self.opt.seed * 131 + seed_offset,
            device=self.opt.device,
            amp=self.opt.amp,
            checkpoint=(out / f"{ckpt}.ckpt") if out and ckpt else None,
            resume=self.opt.resume,
            label=label,
            progress=self.opt.progress,
        )

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

    def prepare(self, bundle: DataBundle) -> tuple[dict[str, ArrayData], dict[str, ArrayData], list[Any]]:
        preps = [build_component("prep", p) for p in self.recipe.data_preparation]
        train = {"teacher": bundle.train, "student": bundle.train}
        test = {"teacher": bundle.test, "student": bundle.test}
        generator = torch.Generator().manual_seed(self.opt.seed)
        for prep in preps:
            for role in ("teacher", "student"):
                train[role] = prep.apply(train[role], role=role, generator=generator)
                test[role] = prep.apply_eval(test[role], role=role)
        return train, test, preps

    def train_node(self, node: NodePlan, bundle: DataBundle, data: ArrayData) -> nn.Module:
        torch.manual_seed(self.opt.seed * 131 + node.seed_offset)
        model = build_model(node.model, {"size": node.size}, bundle, node.view)
        if node.low_precision is not None:
            from kdtaxonomy.students.low_precision import make_low_precision

            model = make_low_precision(model, *node.low_precision)
        model = model.to(self.opt.device)
        subset = data if node.classes is None else data.subset(torch.isin(data.y, torch.tensor(node.classes)))
        epochs = (
            self.opt.teacher_epochs
            or self.recipe.teacher.params.get("epochs")
            or self.training.teacher_epochs
        )
        cfg = self._cfg(node.name, int(str(epochs)), node.seed_offset, ckpt=node.name)
        sources = [self.models[s] for s in node.sources]
        key = _key(
            "node",
            self.recipe.digest("dataset", "data_preparation"),
            node.__dict__,
            cfg.epochs,
            cfg.lr,
            cfg.batch_size,
            cfg.max_steps,
            self.opt.seed,
            self.opt.dataset_params,
            self.recipe.digest("knowledge", "transfer") if sources else "",
        )

        def train() -> None:
            if not sources:
                _train_ce(model, subset, node.view, cfg)
                return
            distiller = Distiller(
                model,
                sources,
                knowledge=self._node_knowledge(),
                transfer=self.recipe.transfer,
                student_view=node.view,
                teacher_views=[self._view(s) for s in node.sources],
                ce_weight=self.training.ce_weight,
                device=self.opt.device,
                amp=self.opt.amp,
            )
            distiller.fit(
                subset,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                max_steps=cfg.max_steps,
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
        train, test, preps = self.prepare(bundle)
        setup = build_component("teacher", self.recipe.teacher)
        self.plan: TeacherPlan = setup.plan(bundle.num_classes)
        from kdtaxonomy.graph import check_topology, topology

        check_topology(topology(self.recipe, bundle.num_classes))  # refuse graphs that cannot run
        for node in self.plan.nodes:
            self.models[node.name] = self.train_node(node, bundle, train["teacher"])
        names = list(self.plan.student_sources)
        if self.recipe.transfer.component == "dense-guidance":
            names = [
                n.name for n in self.plan.nodes
            ]  # DGKD: the teacher and every assistant guide the student
            self.plan.student_sources = names
        sources: list[nn.Module] = [self.models[s] for s in names]
        if self.plan.combine_specialists:
            specialists = [self.models[n.name] for n in self.plan.nodes if n.classes is not None]
            sources = [SpecialistEnsemble(self.models["teacher"], specialists, self.plan.combine_specialists)]
        student_train = train["student"]
        for prep in preps:
            if getattr(prep, "needs_teacher", False) and sources:
                student_train = prep.synthesize(
                    sources[0], student_train, torch.Generator().manual_seed(self.opt.seed)
                )
        baseline = self.baseline(bundle, student_train)
        student = self.student(bundle, student_train, sources, preps)
        view = self.plan.student_view
        result: dict[str, Any] = {
            "teacher_accuracy": self._teacher_accuracy(test["teacher"]),
            "student_baseline_accuracy": accuracy(
                baseline, test["student"], view=view, device=self.opt.device
            ),
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
        result["wall_seconds"] = elapsed(start)
        result["construction"] = student.construction.describe(student.student)
        result["teacher_cache_hits"] = len(self.cache_hits)
        result["dataset"] = {"name": bundle.name, **bundle.info}
        return result

    def _teacher_accuracy(self, data: ArrayData) -> float | None:
        if not self.plan.reported:
            return None
        node = next(n for n in self.plan.nodes if n.name == self.plan.reported)
        return accuracy(self.models[node.name], data, view=node.view, device=self.opt.device)

    def baseline(self, bundle: DataBundle, data: ArrayData) -> nn.Module:
        """The student architecture trained alone on the labels (same data, same epochs)."""
        spec = self.recipe.student_model
        torch.manual_seed(self.opt.seed * 131 + 997)
        model = build_model(spec.component, dict(spec.params), bundle, self.plan.student_view).to(
            self.opt.device
        )
        cfg = self._cfg("student alone", self.opt.epochs or self.training.epochs, 997, ckpt="baseline")
        key = _key(
            "baseline",
            self.recipe.digest("dataset", "data_preparation", "student_model"),
            cfg.epochs,
            cfg.lr,
            cfg.batch_size,
            cfg.max_steps,
            self.opt.seed,
            self.opt.dataset_params,
            self.plan.student_view,
            len(data),
        )
        return self._cached(key, model, lambda: _train_ce(model, data, self.plan.student_view, cfg))

    def student(
        self, bundle: DataBundle, data: ArrayData, sources: list[nn.Module], preps: list[Any]
    ) -> Distiller:
        spec = self.recipe.student_model
        torch.manual_seed(self.opt.seed * 131 + 4242)
        model = build_model(spec.component, dict(spec.params), bundle, self.plan.student_view)
        if self.plan.fusion is not None:
            model = FusionStudent(
                model, self.models["auxiliary"], num_classes=bundle.num_classes, **self.plan.fusion
            )
            model.build(data.view(self.plan.student_view)[:2])
        peers = []
        for peer in self.plan.peers:
            torch.manual_seed(self.opt.seed * 131 + peer.seed_offset)
            peers.append(build_model(peer.model, {"size": peer.size}, bundle, peer.view))
        augment = _online_augment(preps)
        distiller = Distiller(
            model,
            peers or sources,
            knowledge=self.recipe.knowledge,
            transfer=self.recipe.transfer,
            construction=self.recipe.student,
            student_view=self.plan.student_view,
            teacher_views=None
            if peers
            else [self._view(s) for s in self.plan.student_sources]
            if not self.plan.combine_specialists
            else ["x"],
            ce_weight=self.training.ce_weight,
            num_classes=bundle.num_classes,
            augment=augment,
            device=self.opt.device,
            amp=self.opt.amp,
        )
        self.student_initial = {k: v.detach().clone() for k, v in distiller.student.state_dict().items()}
        distiller.fit(
            data,
            epochs=self.opt.epochs or self.training.epochs,
            batch_size=self.opt.batch_size or self.training.batch_size,
            lr=self.training.lr,
            weight_decay=self.training.weight_decay,
            optimizer=self.training.optimizer,
            max_steps=self.opt.max_steps or self.training.max_steps,
            seed=self.opt.seed * 131 + 4242,
            checkpoint=(self.opt.out / "student.ckpt") if self.opt.out else None,
            resume=self.opt.resume,
            progress=self.opt.progress,
            label="distilled student",
        )
        self.distiller = distiller
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
