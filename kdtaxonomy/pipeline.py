"""Compile a recipe into a :class:`Distiller` that trains one student from its sources.

The distiller reads each knowledge term at its location through forward hooks (:mod:`kdtaxonomy.hooks`),
combines the terms with the transfer method, adds the cross-entropy with the ground truth (survey Eq. 1)
and applies the student construction (quantized, pruned, SVM head, ...). Teachers are frozen, in eval mode,
under ``torch.inference_mode`` — or, when their inputs are deterministic, read from a cache of their outputs
computed once. :func:`instantiate` builds a distiller for a catalogued method on the user's own models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from kdtaxonomy import locations as loc
from kdtaxonomy.chance import Chance
from kdtaxonomy.data import ArrayData, as_batch, model_input
from kdtaxonomy.hooks import OUTPUT, FeatureTap
from kdtaxonomy.location_names import SEPARATOR, side_names, split_location
from kdtaxonomy.optim import DEFAULT_DELTA
from kdtaxonomy.registry import load_components
from kdtaxonomy.schema import ComponentSpec, KnowledgeSpec
from kdtaxonomy.train import FitConfig, FitResult, accuracy, fit, loader, wrap_ddp
from kdtaxonomy.transfer import Maps, Mutual, Term, Transfer, read

if TYPE_CHECKING:
    from kdtaxonomy.recipe import Recipe

Features = dict[str, Tensor]
ViewReader = Callable[[Mapping[str, Tensor], Callable[[Tensor], Tensor]], Maps]


def build_component(kind: str, spec: ComponentSpec) -> Any:
    """Instantiate a registered class component (prep, student, transfer) from its spec."""
    component = load_components().get(kind, spec.component)
    return component.obj(component.validate_params(spec.params))


class Distiller:
    """Trains ``student`` from ``teachers`` with a recipe's knowledge terms, transfer and construction.

    Every location the terms read is resolved on every model when the distiller is built
    (:mod:`kdtaxonomy.locations`: ``layers=``, the model's ``locations``, else ``output`` = the logits and
    ``embedding`` = the input of the last ``nn.Linear``); an unknown or missing one is a ``ValueError``.
    """

    def __init__(
        self,
        student: nn.Module,
        teachers: Sequence[nn.Module] = (),
        *,
        knowledge: Sequence[KnowledgeSpec] = (),
        transfer: ComponentSpec | None = None,
        construction: ComponentSpec | None = None,
        layers: Mapping[str, Any] | None = None,
        student_view: str = "x",
        teacher_views: Sequence[str] | None = None,
        ce_weight: float = 1.0,
        num_classes: int | None = None,
        augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
        device: str | torch.device = "cpu",
        amp: bool = False,
    ) -> None:
        registry = load_components()
        self.device = torch.device(device)
        self.amp = amp
        self.knowledge = list(knowledge)
        self.transfer: Transfer = build_component("transfer", transfer or ComponentSpec(component="permuted"))
        self.construction = build_component(
            "student", construction or ComponentSpec(component="from-scratch")
        )
        self.teachers = [t.to(self.device) for t in teachers]
        self.mutual = isinstance(self.transfer, Mutual)
        for teacher in self.teachers if not self.mutual else []:
            teacher.eval()
            teacher.requires_grad_(False)
        reference: nn.Module | None = None
        if len(self.teachers) == 1:
            reference = getattr(self.teachers[0], "generalist", self.teachers[0])
        elif self.teachers:
            reference = nn.ModuleList(self.teachers)
        self.student = self.construction.prepare(student, reference).to(self.device)
        loc.check_terms(self.knowledge, registry)
        self.roles, self.found = loc.resolve_all(
            self.student, self.teachers, layers, self.knowledge, self.mutual
        )
        self.student_locations = {k: f.path for k, f in self.found[0].items()}
        self.teacher_locations = [{k: f.path for k, f in found.items()} for found in self.found[1:]]
        self.recipe: Recipe | None = None
        """The catalogued recipe (set by :func:`instantiate`), recorded by :meth:`save`."""
        self.metrics: dict[str, Any] = {}
        """What training recorded (steps, last loss, best validation accuracy), saved by :meth:`save`."""
        self.student_view = student_view
        self.teacher_views = list(teacher_views or [student_view] * len(self.teachers))
        self.ce_weight = ce_weight
        self.num_classes = num_classes
        self.augment = augment
        self.terms: list[Term] = []
        self.loss_modules = nn.ModuleList()
        self._registry = registry
        self._cache: list[Features] | None = None
        self._generator = torch.Generator().manual_seed(0)
        self._seed = 0
        self._augment_epoch = -1

    # -- features ---------------------------------------------------------------------------------------
    def features(self, model: nn.Module, x: Tensor, locations: Mapping[str, str]) -> Features:
        """Logits (``output``) and the features of ``model`` on ``x`` at ``locations`` (name -> path)."""
        with FeatureTap(_unwrap(model), locations) as tap:
            logits = model(x)
        return {**tap.features, OUTPUT: logits}

    def teacher_features(self, batch: Mapping[str, Tensor]) -> list[Features]:
        """Features of every teacher for a batch (cached rows when available)."""
        if self._cache is not None and "row" in batch:
            rows = batch["row"].cpu()
            return [{k: v[rows].to(self.device) for k, v in cached.items()} for cached in self._cache]
        with torch.inference_mode():
            out = [
                self.features(t, model_input(batch, view), locs)
                for t, view, locs in zip(
                    self.teachers, self.teacher_views, self.teacher_locations, strict=True
                )
            ]
        return [{k: v.clone() for k, v in f.items()} for f in out]

    def build_cache(self, data: ArrayData, batch_size: int = 512) -> None:
        """Compute the teachers' outputs once for every row of ``data`` (frozen teachers, fixed inputs)."""
        if self.mutual or not self.teachers or not self.knowledge:
            return
        chunks: list[list[Features]] = []
        for start in range(0, len(data), batch_size):
            rows = torch.arange(start, min(start + batch_size, len(data)))
            batch = {"x": data.x[rows], **{k: v[rows] for k, v in data.views.items()}}
            batch = {k: v.to(self.device) for k, v in batch.items()}
            chunks.append([{k: v.cpu() for k, v in f.items()} for f in self.teacher_features(batch)])
        self._cache = [
            {key: torch.cat([chunk[i][key] for chunk in chunks]) for key in chunks[0][i]}
            for i in range(len(self.teachers))
        ]

    # -- loss -------------------------------------------------------------------------------------------
    def _build_terms(self, batch: Mapping[str, Tensor], num_samples: int) -> None:
        if self.terms or not self.knowledge:
            return
        # a shape probe: in eval mode and without gradients, so that it leaves no trace in the models (a
        # train-mode forward would move BatchNorm running statistics: the student alone gets no probe)
        probed = [self.student, *(self.teachers if self.mutual else [])]
        modes = [m.training for m in probed]
        for m in probed:
            m.eval()
        with torch.no_grad():
            s = self.features(self.student, model_input(batch, self.student_view), self.student_locations)
            ts = (
                self.teacher_features(batch)
                if not self.mutual
                else [
                    self.features(p, model_input(batch, self.student_view), locs)
                    for p, locs in zip(self.teachers, self.teacher_locations, strict=True)
                ]
            )
        for m, mode in zip(probed, modes, strict=True):
            m.train(mode)
        num_classes = self.num_classes or int(s[OUTPUT].shape[1])
        for spec in self.knowledge:
            component = self._registry.get("loss", spec.component)
            location, t_location = split_location(spec.location)
            module = component.obj(
                s_shape=_shapes(s, location),
                t_shape=_shapes(ts[0], t_location) if ts else (),
                num_samples=num_samples,
                num_classes=num_classes,
                **component.validate_params(spec.params).model_dump(),
            ).to(self.device)
            if callable(getattr(module, "bind_views", None)):
                module.bind_views(*self._view_readers(location, t_location))
            self.loss_modules.append(module)
            self.terms.append(
                Term(
                    module,
                    location,
                    spec.weight,
                    str(component.extra.get("inputs", "features")),
                    tuple(component.extra.get("needs", ())),
                    multi=spec.component == "multi-teacher-kd",
                    source_location=t_location,
                )
            )

    def _view_readers(self, location: str, t_location: str) -> tuple[ViewReader, ViewReader]:
        """Readers ``(batch, transform) -> maps`` of the student at ``location`` (with gradients) and of the
        one frozen teacher at ``t_location`` (without) on a batch's transformed input, for a term that
        forwards the models itself (a loss with ``bind_views``: SSKD)."""
        if len(self.teachers) != 1 or self.mutual:
            raise ValueError("a term that reads transformed inputs needs exactly one frozen teacher")

        def student(batch: Mapping[str, Tensor], transform: Callable[[Tensor], Tensor]) -> Maps:
            x = transform(model_input(batch, self.student_view))
            return read(self.features(self.student, x, self.student_locations), location)

        @torch.no_grad()
        def teacher(batch: Mapping[str, Tensor], transform: Callable[[Tensor], Tensor]) -> Maps:
            x = transform(model_input(batch, self.teacher_views[0]))
            return read(self.features(self.teachers[0], x, self.teacher_locations[0]), t_location)

        return student, teacher

    def loss(self, batch: dict[str, Tensor], epoch: int = 0) -> Tensor:
        """The objective of one batch: ``ce_weight * CE + distillation`` (survey Eq. 1)."""
        criterion = self._prepare(batch, epoch)
        if self.mutual:
            return self._mutual_loss(batch, criterion)
        task, kd = self._parts(batch, criterion)
        return task if kd is None else task + kd

    def loss_parts(self, batch: dict[str, Tensor], epoch: int = 0) -> tuple[Tensor, Tensor | None]:
        """The two parts of :meth:`loss`: the task term ``ce_weight * CE`` (as the transfer scales it) and
        the distillation term (None without knowledge terms), for an optimizer that treats their gradients
        apart (DOT). Not for mutual learning, whose peers' objectives are summed into one."""
        if self.mutual:
            raise ValueError(
                "the task and distillation parts of mutual learning are not separated (DOT needs them)"
            )
        return self._parts(batch, self._prepare(batch, epoch))

    def _prepare(self, batch: dict[str, Tensor], epoch: int) -> Callable[[Tensor, Tensor], Tensor]:
        """Set the epoch, augment the batch's views in place, and return the task criterion."""
        self.transfer.epoch = epoch
        if self.augment is not None:
            if epoch != self._augment_epoch:
                self._augment_epoch = epoch
                self._generator.manual_seed(self._seed * 1_000_003 + epoch)
            # every view gets the same random draws, so a teacher sees the student's augmentation of its
            # own view of the sample
            state = self._generator.get_state()
            parts = sorted({p for key in (self.student_view, *self.teacher_views) for p in key.split("+")})
            for part in parts:
                self._generator.set_state(state)
                batch[part] = self.augment(batch[part], self._generator)
        if "row" in batch:
            batch.setdefault("index", batch["row"])
        criterion: Callable[[Tensor, Tensor], Tensor] = self.construction.criterion() or F.cross_entropy
        return criterion

    def _parts(
        self, batch: dict[str, Tensor], criterion: Callable[[Tensor, Tensor], Tensor]
    ) -> tuple[Tensor, Tensor | None]:
        s = self.features(self.student, model_input(batch, self.student_view), self.student_locations)
        ce = criterion(s[OUTPUT].float(), batch["y"])
        if not self.terms:
            return self.ce_weight * ce, None
        batch = {**batch, "index": batch.get("row", batch.get("index", torch.zeros(0)))}
        kd = self.transfer.combine(self.terms, s, self.teacher_features(batch), batch)
        return self.ce_weight * self.transfer.ce_scale() * ce, kd

    def _mutual_loss(self, batch: dict[str, Tensor], criterion: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
        peers = [self.student, *self.teachers]
        locations = [self.student_locations, *self.teacher_locations]
        x = model_input(batch, self.student_view)
        outs = [self.features(p, x, locs) for p, locs in zip(peers, locations, strict=True)]
        total = torch.zeros((), device=self.device)
        for i, out in enumerate(outs):
            total = total + self.ce_weight * criterion(out[OUTPUT].float(), batch["y"])
            others = [{k: v.detach() for k, v in o.items()} for j, o in enumerate(outs) if j != i]
            total = total + self.transfer.combine(self.terms, out, others, batch)
        return total

    # -- training ---------------------------------------------------------------------------------------
    def trainable(self) -> nn.Module:
        """Everything the optimizer updates: the student (peers too for mutual learning) and loss modules."""
        models = nn.ModuleList([self.student, *(self.teachers if self.mutual else []), self.loss_modules])
        return models

    def fit(
        self,
        train: ArrayData | DataLoader[Any] | Iterable[Any],
        *,
        epochs: int = 10,
        batch_size: int = 128,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        momentum_delta: float = DEFAULT_DELTA,
        max_steps: int | None = None,
        steps: int | None = None,
        schedule: str = "cosine",
        val: ArrayData | None = None,
        eval_every: int = 100,
        seed: int = 0,
        checkpoint: Path | None = None,
        resume: bool = False,
        progress: Any = None,
        label: str = "student",
        cache_teachers: bool = True,
    ) -> list[FitResult]:
        """Train the student (all construction rounds); returns one :class:`FitResult` per round.

        The budget is ``steps`` optimizer steps per round (else ``epochs`` epochs), with a cosine (or
        ``constant``) learning-rate schedule; given ``val``, the student is evaluated on it every
        ``eval_every`` steps and the best-on-validation parameters are kept (model selection).
        ``optimizer`` is ``adam``, ``sgd`` or ``dot`` (the distillation-oriented trainer, which steps the
        gradients of :meth:`loss_parts` with momenta ``0.9 - momentum_delta`` for the task term and
        ``0.9 + momentum_delta`` for the distillation term; :mod:`kdtaxonomy.optim`).
        """
        self._seed = seed
        self._augment_epoch = -1
        if isinstance(train, ArrayData):
            data = train
            if cache_teachers and self.augment is None:
                self.build_cache(data)

            def batches(epoch: int) -> Iterable[Any]:
                return loader(data, batch_size, shuffle=True, seed=seed, epoch=epoch)

            num_samples = len(data)
        else:
            user = train
            if self._needs_indices():
                user = loc.with_indices(train, as_batch(next(iter(train))))

            def batches(epoch: int) -> Iterable[Any]:
                return (as_batch(b) for b in user)

            num_samples = len(getattr(train, "dataset", [])) or 0
        first = next(iter(batches(0)))
        first = {k: v.to(self.device) for k, v in as_batch(first).items()}
        self._build_terms(first, num_samples)
        self.student = wrap_ddp(self.student, self.device)
        results = []
        for round_index in range(int(getattr(self.construction, "rounds", 1))):
            self.construction.before_round(round_index, _unwrap(self.student))
            ckpt = (
                None
                if checkpoint is None
                else checkpoint.with_name(f"{checkpoint.stem}-r{round_index}{checkpoint.suffix}")
            )
            cfg = FitConfig(
                epochs=epochs,
                steps=steps,
                batch_size=batch_size,
                lr=lr,
                weight_decay=weight_decay,
                optimizer=optimizer,
                momentum_delta=momentum_delta,
                max_steps=max_steps,
                schedule=schedule,
                eval_every=eval_every,
                fresh_optimizer_at=self.transfer.stage_starts() if self.terms else (),
                seed=seed + 7919 * round_index,
                device=self.device,
                amp=self.amp,
                checkpoint=ckpt,
                resume=resume,
                label=label if round_index == 0 else f"{label} (round {round_index + 1})",
                progress=progress,
            )
            results.append(
                fit(
                    self.trainable(),
                    self.loss,
                    batches,
                    cfg,
                    after_step=lambda: self.construction.after_step(_unwrap(self.student)),
                    validate=None if val is None else (lambda: self.evaluate(val)),
                    on_step=self._on_step,
                    chance=None if val is None else Chance.of(val.y),
                    loss_parts=self.loss_parts,
                )
            )
        self.student = self.construction.finalize(_unwrap(self.student))
        best = [r.best_value for r in results if r.best_value is not None]
        self.metrics.update(
            steps=sum(r.steps for r in results),
            final_loss=results[-1].losses[-1] if results and results[-1].losses else None,
            **({"best_val_accuracy": best[-1]} if best else {}),
        )
        return results

    def _needs_indices(self) -> bool:
        return any(
            "indices" in self._registry.get("loss", k.component).extra.get("needs", ())
            for k in self.knowledge
        )

    def _on_step(self, step: int, steps_per_epoch: int) -> None:
        """Tell the loss modules how far training is: epochs elapsed at the end of this step (DKD's warm-up)."""
        elapsed = (step + 1) / max(steps_per_epoch, 1)
        for module in self.loss_modules:
            set_progress = getattr(module, "set_progress", None)
            if callable(set_progress):
                set_progress(elapsed)

    def evaluate(self, data: ArrayData | Iterable[Any], *, view: str | None = None) -> float:
        """Top-1 accuracy (%) of the student on ``data``: what :meth:`fit` takes, an :class:`ArrayData`, a
        ``DataLoader`` or any iterable of ``(x, y[, index])`` tuples or of batch dicts."""
        name = view or self.student_view
        if isinstance(data, ArrayData):
            return accuracy(
                self.student,
                data,
                device=self.device,
                amp=self.amp,
                forward=lambda m, b: m(model_input(b, name)),
            )
        return loc.batch_accuracy(self.student, data, name, self.device, self.amp)

    def describe(self) -> str:
        """The plan: the models, where each location is read on each of them, and each loss with its weight."""
        ce = self.ce_weight * self.transfer.ce_scale()
        how = f"transfer {type(self.transfer).__name__}, construction {type(self.construction).__name__}"
        how = (f"method {self.recipe.entry} ({self.recipe.configuration}): " if self.recipe else "") + how
        return loc.describe_plan(
            self.roles, [self.student, *self.teachers], self.found, ce, self.knowledge, how
        )

    def save(self, path: str | Path, *, metrics: Mapping[str, Any] | None = None) -> Path:
        """Write the student's weights (safetensors) and a JSON sidecar of provenance (see
        :func:`kdtaxonomy.student_io.save_student`); returns the weights' path."""
        from kdtaxonomy.student_io import save_student

        return save_student(
            _unwrap(self.student),
            Path(path),
            recipe=self.recipe,
            construction=type(self.construction).__name__,
            metrics={**self.metrics, **(metrics or {})},
        )


def _shapes(features: Features, location: str) -> tuple[Any, ...]:
    """Per-sample shape of the map at ``location``; for a multi-map side ``a&b``, the tuple of its shapes."""
    if SEPARATOR not in location:
        return tuple(features[location].shape[1:])
    return tuple(tuple(features[name].shape[1:]) for name in side_names(location))


def _unwrap(model: nn.Module) -> nn.Module:
    inner = getattr(model, "module", None)
    return (
        inner
        if isinstance(model, nn.parallel.DistributedDataParallel) and isinstance(inner, nn.Module)
        else model
    )


def instantiate(
    entry_id: str,
    *,
    teacher: nn.Module | Sequence[nn.Module],
    student: nn.Module,
    layers: Mapping[str, Any] | None = None,
    config: str | None = None,
    catalog: Any = None,
    device: str = "cpu",
    amp: bool = False,
) -> Distiller:
    """A :class:`Distiller` of a catalogued method for the user's own (trained) teacher(s) and student.

    ``layers`` maps location names used by the method's knowledge terms to submodule paths, per role:
    ``{"student": {"block2": "features.3"}, "teacher": {"block2": "layer2"}}`` (``"teachers": [...]`` gives
    one mapping per teacher). ``output`` is each model's logits; ``embedding``, when not given, is the input
    of the model's last ``nn.Linear`` in ``named_modules()`` order (its classifier head); every other
    location must be given. All are checked here: an unknown module path or a missing location is a
    ``ValueError`` naming the role and close matches. A teacher topology with assistants or generations
    (TAKD, born-again) takes every trained model of the chain in order, ``teacher=[teacher, assistant]``;
    the student learns from the last. Too few models is a ``ValueError``. Example::

        distiller = kdtaxonomy.instantiate("park2019-rkd", teacher=resnet, student=mobilenet)
        print(distiller.describe())
        distiller.fit(train_loader, epochs=5)
        distiller.evaluate(test_loader)
        distiller.save("student.safetensors", metrics={"test_accuracy": ...})
    """
    from kdtaxonomy.catalog import load_catalog
    from kdtaxonomy.recipe import resolve

    cat = catalog or load_catalog()
    entry = cat.get(entry_id)
    recipe = resolve(entry.configuration(config), entry.id)
    teachers = list(teacher) if isinstance(teacher, Sequence) else [teacher]
    keep = loc.check_sources(recipe, len(teachers), f"{entry.id} ({recipe.configuration or 'default'})")
    distiller = Distiller(
        student,
        [teachers[i] for i in keep],
        knowledge=recipe.knowledge,
        transfer=recipe.transfer,
        construction=recipe.student,
        layers=layers,
        ce_weight=recipe.training.ce_weight,
        device=device,
        amp=amp,
    )
    distiller.recipe = recipe
    return distiller
