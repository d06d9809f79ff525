"""The one training loop: devices, AMP, DDP, checkpoints with resume, NaN guard, progress.

Every model the pipeline trains (teachers, assistants, baseline, distilled student, peers) goes through
:func:`fit`. Shuffling and augmentation are seeded per epoch, so a run resumed from an epoch checkpoint
continues exactly as an uninterrupted one. The distributed entry point (``torchrun ... -m
kdtaxonomy.launch``) is :mod:`kdtaxonomy.launch`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from kdtaxonomy.chance import Chance
from kdtaxonomy.data import ArrayData, ArrayDataset, model_input
from kdtaxonomy.interrupt import Interrupted, stop_requests
from kdtaxonomy.optim import DEFAULT_DELTA, DistillationOrientedTrainer, dot_step
from kdtaxonomy.yamlio import atomic_writer


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, bad device, ...); the message says what to do."""


MIN_JUDGED_STEPS = 50
"""Fewer optimizer steps (smoke runs) prove nothing either way: :func:`fit` declares no divergence below."""


@dataclass
class FitConfig:
    """How :func:`fit` trains."""

    epochs: int = 1
    """Budget in epochs, used when ``steps`` is None."""
    steps: int | None = None
    """Budget in optimizer steps (protocol ``kdtax-bench/2``); the learning-rate schedule spans it."""
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    """``adam``, ``sgd`` (momentum 0.9) or ``dot`` (:class:`kdtaxonomy.optim.DistillationOrientedTrainer`)."""
    momentum_delta: float = DEFAULT_DELTA
    """DOT's Delta: momenta 0.9 - Delta (task loss) and 0.9 + Delta (distillation loss); ``dot`` only."""
    max_steps: int | None = None
    """A cap on the budget (smoke tests); the schedule then spans the capped budget."""
    schedule: str = "cosine"
    """``cosine`` (decay to 0 over the budget, per step) or ``constant``."""
    eval_every: int = 100
    """Steps between validation evaluations when :func:`fit` is given ``validate``."""
    fresh_optimizer_at: tuple[int, ...] = ()
    """Epochs at whose start the optimizer state is cleared (a new stage; the schedule goes on)."""
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False
    checkpoint: Path | None = None
    resume: bool = False
    label: str = "train"
    progress: Any = None
    """A ``rich.progress.Progress`` (rank 0 only) or None."""


@dataclass
class FitResult:
    """What a fit did."""

    epochs_run: int
    steps: int
    losses: list[float]
    resumed_from: int = 0
    curve: list[tuple[int, float]] = field(default_factory=list)
    """Validation accuracy (%) after each evaluation: ``(step, accuracy)``."""
    best_step: int | None = None
    """Step of the selected (best-on-validation) parameters; None without validation."""
    best_value: float | None = None
    """Validation accuracy of the selected parameters."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; a clear error for an unavailable device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(
            f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)"
        )
    if name not in {"cpu"} and not name.startswith("cuda"):
        raise TrainingError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    return torch.device(name)


def amp_context(device: torch.device, enabled: bool) -> AbstractContextManager[Any]:
    """Autocast on CUDA (bf16 where supported, else fp16); nothing on CPU."""
    if not enabled or device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def is_distributed() -> bool:
    """Whether a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def loader(
    data: ArrayData, batch_size: int, *, shuffle: bool, seed: int, epoch: int
) -> Iterable[dict[str, Tensor]]:
    """A deterministic loader over ``data``: the order depends only on (seed, epoch); sharded under DDP.

    Batches carry ``row`` (position in ``data``) so cached teacher outputs can be looked up. In one process
    the batches are sliced from the tensors directly (:class:`SlicedBatches`), in the order a shuffling
    ``DataLoader`` with the same generator would give.
    """
    if is_distributed():
        dataset = _RowDataset(data)
        sampler: DistributedSampler[dict[str, Tensor]] = DistributedSampler(
            dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle, seed=seed
        )
        sampler.set_epoch(epoch)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=False)
    if not shuffle:
        return SlicedBatches(data, batch_size, torch.arange(len(data)))
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    torch.empty((), dtype=torch.int64).random_(generator=generator)  # DataLoader draws its base seed first
    return SlicedBatches(data, batch_size, torch.randperm(len(data), generator=generator))


class SlicedBatches:
    """Batch dictionaries of an :class:`ArrayData` in a given order, by indexing its tensors (no collation)."""

    def __init__(self, data: ArrayData, batch_size: int, order: Tensor) -> None:
        self.data, self.batch_size, self.order = data, batch_size, order

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        data = self.data
        for start in range(0, len(self.order), self.batch_size):
            rows = self.order[start : start + self.batch_size]
            batch = {"x": data.x[rows], "y": data.y[rows], "index": data.index[rows]}
            for name, tensor in data.views.items():
                batch[name] = tensor[rows]
            batch["row"] = rows
            yield batch


class _RowDataset(ArrayDataset):
    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = super().__getitem__(i)
        item["row"] = torch.tensor(i)
        return item


def _make_optimizer(params: list[nn.Parameter], cfg: FitConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "dot":
        return DistillationOrientedTrainer(
            params, lr=cfg.lr, momentum=0.9, delta=cfg.momentum_delta, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _to(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """Move a batch to ``device``; on CUDA, image batches go channels-last (faster convolutions under AMP)."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            value = value.to(device, non_blocking=True)
            if device.type == "cuda" and value.dim() == 4:
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


def budget(cfg: FitConfig, steps_per_epoch: int) -> tuple[int, int]:
    """``(total optimizer steps, epochs)`` of a fit: ``cfg.steps`` (else ``cfg.epochs`` whole epochs), capped
    by ``cfg.max_steps``; the epochs are as many as the steps need."""
    per_epoch = max(int(steps_per_epoch), 1)
    total = int(cfg.steps) if cfg.steps is not None else int(cfg.epochs) * per_epoch
    if cfg.max_steps is not None:
        total = min(total, int(cfg.max_steps))
    total = max(total, 1)
    return total, -(-total // per_epoch)


def cosine_factor(step: int, total: int) -> float:
    """Learning-rate multiplier of cosine decay without restarts: ``(1 + cos(pi * step / total)) / 2``."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def _batches_per_epoch(batches: Callable[[int], Iterable[Any]]) -> int:
    first = batches(0)
    try:
        return len(first)  # type: ignore[arg-type]
    except TypeError:
        return sum(1 for _ in first)


def _snapshot(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def fit(
    trainable: nn.Module,
    loss_fn: Callable[[dict[str, Tensor], int], Tensor],
    batches: Callable[[int], Iterable[Any]],
    cfg: FitConfig,
    *,
    after_step: Callable[[], None] | None = None,
    validate: Callable[[], float] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    chance: Chance | None = None,
    loss_parts: Callable[[dict[str, Tensor], int], tuple[Tensor, Tensor | None]] | None = None,
) -> FitResult:
    """Train the parameters of ``trainable`` that require grad with ``loss_fn(batch, epoch)``.

    ``batches(epoch)`` yields the batches of one epoch. The budget is ``cfg.steps`` optimizer steps (or
    ``cfg.epochs`` epochs), with cosine learning-rate decay per step (``cfg.schedule``). With ``validate``
    (a function returning a validation accuracy), the model is evaluated every ``cfg.eval_every`` steps and
    after the last one, and the best-scoring parameters (the latest among equals) are restored at the end:
    model selection on validation only. ``on_step(step, steps_per_epoch)`` runs before each step.
    Checkpoints (model, optimizer, scheduler, scaler, counters, selection) are written atomically at the end
    of every epoch when ``cfg.checkpoint`` is set; with ``cfg.resume`` training continues after the last
    completed epoch. A non-finite loss raises :class:`TrainingError`; the last good checkpoint is kept.
    With ``chance`` (the validation split's chance level), a model trained for at least
    :data:`MIN_JUDGED_STEPS` steps whose best validation accuracy is indistinguishable from chance and whose
    loss did not fall (:meth:`Chance.diverged`) raises :class:`TrainingError` too: never used or cached.
    Under ``dot`` the ``loss_parts(batch, epoch)`` (task, distillation or None) are back-propagated apart
    (:func:`kdtaxonomy.optim.dot_step`; no ``loss_parts``: all is task loss, i.e. SGD with momentum 0.9).
    """
    if cfg.device.type == "cuda":
        trainable.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # 4-D weights only
    params = [p for p in trainable.parameters() if p.requires_grad]
    if not params:
        return FitResult(0, 0, [])
    per_epoch = _batches_per_epoch(batches)
    total, epochs = budget(cfg, per_epoch)
    optimizer = _make_optimizer(params, cfg)
    schedule = (lambda s: cosine_factor(s, total)) if cfg.schedule == "cosine" else (lambda s: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    use_scaler = cfg.amp and cfg.device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    dot = cfg.optimizer == "dot"
    if dot and (is_distributed() or use_scaler):
        raise TrainingError(f"{cfg.label}: DOT needs one process and no fp16 loss scaling (torchrun, --amp)")
    start, steps, losses = 0, 0, []
    first_loss = math.nan
    skip, partial, rng = 0, (0.0, 0), None  # a checkpoint written mid-epoch (on Ctrl-C) resumes mid-epoch
    curve: list[tuple[int, float]] = []
    best: tuple[float, int, dict[str, Tensor]] | None = None
    if cfg.resume and cfg.checkpoint is not None and cfg.checkpoint.is_file():
        state = torch.load(cfg.checkpoint, map_location=cfg.device, weights_only=False)
        trainable.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if "scheduler" in state:
            scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start, steps, losses = state["epoch"], state["steps"], list(state["losses"])
        first_loss = float(state.get("first_loss", math.nan))
        if "batch" in state:
            skip, partial, rng = int(state["batch"]), tuple(state["partial"]), state["rng"]
        curve = [(int(a), float(b)) for a, b in state.get("curve", [])]
        best = state.get("best")
    resumed_from = start

    def evaluate() -> None:
        nonlocal best
        assert validate is not None
        value = float(validate())
        curve.append((steps, value))
        if best is None or value >= best[0]:
            best = (value, steps, _snapshot(trainable))
        trainable.train()

    task = None
    if cfg.progress is not None and rank() == 0:
        task = cfg.progress.add_task(cfg.label, total=epochs, completed=start)

    def save(epoch_done: int, **extra: Any) -> None:
        assert cfg.checkpoint is not None
        state = {
            "epoch": epoch_done,
            "steps": steps,
            "losses": losses,
            "first_loss": first_loss,
            "model": trainable.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "curve": curve,
            "best": best,
            **extra,
        }
        with atomic_writer(cfg.checkpoint, "wb") as handle:
            torch.save(state, handle)

    with stop_requests(cfg.checkpoint is not None and not is_distributed()) as stop:
        for epoch in range(start, epochs):
            if steps >= total:
                break
            torch.manual_seed(cfg.seed * 1_000_003 + epoch)
            if epoch in cfg.fresh_optimizer_at and not (epoch == start and skip):
                optimizer.state.clear()  # a resumed mid-epoch run was cleared before its checkpoint
            trainable.train()
            running, count = partial if epoch == start and skip else (0.0, 0)
            for position, raw in enumerate(batches(epoch)):
                if epoch == start and position < skip:
                    continue  # done before the interruption; the batch order is seeded per epoch
                if epoch == start and skip and position == skip and rng is not None:
                    torch.set_rng_state(rng)  # the random state at the interruption (augmentation, dropout)
                batch = _to(raw, cfg.device)
                if on_step is not None:
                    on_step(steps, per_epoch)
                parts: tuple[Tensor, Tensor | None] | None = None
                with amp_context(cfg.device, cfg.amp):
                    if dot:
                        parts = loss_parts(batch, epoch) if loss_parts else (loss_fn(batch, epoch), None)
                        loss = parts[0] if parts[1] is None else parts[0] + parts[1]
                    else:
                        loss = loss_fn(batch, epoch)
                if not torch.isfinite(loss.detach()).item():
                    where = (
                        f"; the last good checkpoint is kept at {cfg.checkpoint}" if cfg.checkpoint else ""
                    )
                    raise TrainingError(
                        f"{cfg.label}: the loss became {loss.item()} at epoch {epoch + 1}, step {steps + 1}"
                        f"{where}. Lower the learning rate or the loss weights."
                    )
                if parts is not None:
                    dot_step(optimizer, *parts)
                else:
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                    scaler.step(optimizer)
                    scaler.update()
                scheduler.step()
                if after_step is not None:
                    after_step()
                if steps == 0:
                    first_loss = float(loss.detach())
                steps += 1
                running += float(loss.detach())
                count += 1
                if validate is not None and (steps % max(cfg.eval_every, 1) == 0 or steps >= total):
                    evaluate()
                if steps >= total:
                    break
                if stop is not None and stop.requested and cfg.checkpoint is not None:
                    save(epoch, batch=position + 1, partial=(running, count), rng=torch.get_rng_state())
                    raise Interrupted(cfg.label, steps, cfg.checkpoint)
            losses.append(running / max(count, 1))
            if cfg.checkpoint is not None and rank() == 0:
                save(epoch + 1)
            if task is not None:
                cfg.progress.update(
                    task, completed=epoch + 1, description=f"{cfg.label} loss {losses[-1]:.4f}"
                )
    best_step = best_value = None
    if best is not None:
        best_value, best_step, chosen = best
        if math.isnan(first_loss) and losses:  # resumed from a checkpoint that predates first_loss
            first_loss = losses[0]
        judged = chance is not None and steps >= MIN_JUDGED_STEPS and bool(losses)
        if judged and chance is not None and chance.diverged(best_value, first_loss, losses[-1]):
            raise TrainingError(
                f"{cfg.label} diverged: its best validation accuracy {best_value:.2f}% is at chance "
                f"({chance.describe()}) and its loss went from {first_loss:.4g} (first step) to "
                f"{losses[-1]:.4g} (last epoch). "
                "Lower the learning rate or the loss weights; nothing was cached."
            )
        trainable.load_state_dict(chosen)
    return FitResult(len(losses) - resumed_from, steps, losses, resumed_from, curve, best_step, best_value)


@torch.no_grad()
def predict_logits(
    model: nn.Module, inputs: Iterator[Tensor] | Iterable[Tensor], device: torch.device
) -> Tensor:
    """Concatenated logits of ``model`` over input batches (eval mode)."""
    model.eval()
    return torch.cat([model(x.to(device)).float().cpu() for x in inputs])


@torch.no_grad()
def accuracy(
    model: nn.Module,
    data: ArrayData,
    *,
    view: str = "x",
    batch_size: int = 512,
    device: torch.device | None = None,
    amp: bool = False,
    forward: Callable[[nn.Module, dict[str, Tensor]], Tensor] | None = None,
) -> float:
    """Top-1 accuracy (%) of ``model`` on ``data`` (reduced across DDP ranks)."""
    device = device or torch.device("cpu")
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    total = torch.zeros((), dtype=torch.long, device=device)
    rows = torch.arange(len(data))
    if is_distributed():
        rows = rows[rank() :: world_size()]
    for start in range(0, len(rows), batch_size):
        idx = rows[start : start + batch_size]
        batch = {"x": data.x[idx].to(device), "y": data.y[idx].to(device)}
        for name, tensor in data.views.items():
            batch[name] = tensor[idx].to(device)
        with amp_context(device, amp):
            logits = forward(model, batch) if forward else model(model_input(batch, view))
        correct += (logits.argmax(dim=1) == batch["y"]).sum()
        total += len(idx)
    if is_distributed():
        dist.all_reduce(correct)
        dist.all_reduce(total)
    return 100.0 * float(correct) / max(float(total), 1.0)


def init_distributed(device: str) -> torch.device:
    """Initialise torch.distributed from torchrun's environment: gloo on CPU, NCCL on GPU."""
    if "RANK" not in os.environ or is_distributed():
        return resolve_device(device)
    target = resolve_device(device)
    backend = "nccl" if target.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    if target.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        target = torch.device("cuda", local)
    return target


def shutdown_distributed() -> None:
    """Wait for every rank, then tear the process group down (a rank exiting early can abort the others)."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` when distributed, else the model itself."""
    if not is_distributed():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def elapsed(start: float) -> float:
    """Seconds since ``start`` (``time.perf_counter``), rounded."""
    return round(time.perf_counter() - start, 3)


def finite_or_nan(value: float) -> float:
    """``value`` when finite, else NaN (for JSON-safe reporting)."""
    return value if math.isfinite(value) else float("nan")
