"""What a distiller reads on the user's models, checked before training: feature locations and sources.

A *location* is a name used by a method's knowledge terms (``output``, ``embedding``, ``block2``, ...). Per
role (student, each teacher) it is resolved to a module of the model, in this order: the path given in
``layers=``, the model's own ``locations`` attribute (registry models), then a default when one is
unambiguous:

* ``output`` is the model's forward output (its logits);
* ``embedding`` is the *input* of the last ``nn.Linear`` in ``named_modules()`` order (the classifier
  head), read with a forward pre-hook.

A path ``"fc:input"`` reads the input of module ``fc`` rather than its output. Every other location must be
given; each name of a term that reads several maps (``block1&block2``, :mod:`kdtaxonomy.location_names`)
is resolved on its own. Unknown module paths, missing locations and misspelt location names are
``ValueError`` at once.
:func:`check_sources` refuses too few teachers for a catalogued method's teacher topology, and
:func:`with_indices` gives sample indices to a user's ``DataLoader`` for terms that need them (CRD).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.dataloader import default_collate

from kdtaxonomy.data import as_batch, model_input
from kdtaxonomy.hooks import INPUT, OUTPUT, module_path
from kdtaxonomy.location_names import SEPARATOR, location_problem, names
from kdtaxonomy.train import amp_context

if TYPE_CHECKING:
    from kdtaxonomy.recipe import Recipe
    from kdtaxonomy.registry import Registry
    from kdtaxonomy.schema import KnowledgeSpec

EMBEDDING = "embedding"
ROLE_KEYS = ("student", "teacher", "teachers")


@dataclass(frozen=True)
class Found:
    """Where one location is read on one model, and how that was decided."""

    path: str
    """Module path, ending in :data:`INPUT` when the module's input is read."""
    how: str
    """``given`` (layers=), ``model`` (the model's ``locations``) or ``default``."""

    def describe(self) -> str:
        base, reads_input = module_path(self.path)
        what = f"input of {base!r}" if reads_input else f"output of {base!r}"
        if self.how == "default":
            what += " (the last nn.Linear, found by default)"
        return what if self.how != "model" else what + " (model.locations)"


def needed_locations(knowledge: Iterable[KnowledgeSpec], side: int) -> list[str]:
    """Location names the terms read on the student (``side=0``) or the sources (``side=1``); each name of
    a multi-map location ``a&b`` is listed."""
    found: set[str] = set()
    for spec in knowledge:
        found.update(names(spec.location, side))
    return sorted(found - {OUTPUT})


def check_terms(knowledge: Iterable[KnowledgeSpec], registry: Registry) -> None:
    """A ``ValueError`` for a multi-map location (``a&b``) that is malformed or more maps than the term's
    loss takes (:attr:`kdtaxonomy.specs.losses.LossSpec.maps`)."""
    for spec in knowledge:
        if SEPARATOR not in (spec.location or OUTPUT):
            continue
        maps = getattr(registry.get("loss", spec.component).params, "maps", (1, 1))
        problem = location_problem(spec.location, maps)
        if problem:
            raise ValueError(f"knowledge term {spec.component!r}: {problem}")


def _modules_listing(modules: Sequence[str], limit: int = 24) -> str:
    shown = ", ".join(modules[:limit]) or "-"
    return shown + (f", ... ({len(modules) - limit} more)" if len(modules) > limit else "")


def resolve_role(
    model: nn.Module, given: Mapping[str, str] | None, needed: Sequence[str], role: str
) -> dict[str, Found]:
    """Every ``needed`` location of ``model`` (in ``role``), checked against ``model.named_modules()``."""
    modules = dict(model.named_modules())
    names = [n for n in modules if n]
    known = [*needed, OUTPUT, EMBEDDING]
    found: dict[str, Found] = {}
    sources = [("model", dict(getattr(model, "locations", {}) or {})), ("given", dict(given or {}))]
    for how, mapping in sources:
        for name, path in mapping.items():
            if how == "given" and name not in known:
                # a misspelling of a location this method reads and that is not given (extra names pass)
                unset = [k for k in known if k not in mapping]
                close = difflib.get_close_matches(name, unset, n=1, cutoff=0.75)
                if close:
                    raise ValueError(
                        f"layers[{role!r}] names location {name!r}, which this method does not read: did you "
                        f"mean {close[0]!r}? (it reads: {', '.join([OUTPUT, *needed])})"
                    )
            base, _ = module_path(str(path))
            if base not in modules:
                if how == "model" and name not in needed:
                    continue  # a stale entry of the model's own table that this method does not read
                close = difflib.get_close_matches(base, names, n=3, cutoff=0.6)
                hint = f"; close matches: {', '.join(close)}" if close else ""
                raise ValueError(
                    f"{role} location {name!r}: {type(model).__name__} has no module {base!r}{hint} "
                    f"(modules: {_modules_listing(names)})"
                )
            found[name] = Found(str(path), how)
    missing = []
    for name in needed:
        if name in found:
            continue
        linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
        if name == EMBEDDING and linears:
            found[name] = Found(linears[-1] + INPUT, "default")
        else:
            missing.append(name)
    if missing:
        raise ValueError(
            f"the method reads location(s) {', '.join(missing)} on the {role}, which cannot be found by "
            f"default on {type(model).__name__} (it needs: {', '.join([OUTPUT, *needed])}). Pass the module "
            f"paths: layers={{'student': {{{missing[0]!r}: 'module.path'}}, 'teacher': {{...}}}} (or "
            f"'teachers': [{{...}}, ...]; 'path:input' reads a module's input). Modules of the {role}: "
            f"{_modules_listing(names)}"
        )
    return {name: found[name] for name in needed}


def role_layers(layers: Mapping[str, Any] | None, count: int) -> tuple[Any, list[Any]]:
    """The student's and each source's ``layers=`` mapping (unknown role keys are a ``ValueError``)."""
    layers = dict(layers or {})
    for key in layers:
        if key not in ROLE_KEYS:
            close = difflib.get_close_matches(key, ROLE_KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"layers= maps roles to {{location: module path}}: unknown key {key!r}{hint}; use "
                "layers={'student': {...}, 'teacher': {...}} or 'teachers': [{...}, ...]"
            )
    per_teacher = layers.get("teachers")
    if per_teacher is None:
        per_teacher = [layers.get("teacher")] * count
    if len(per_teacher) != count:
        raise ValueError(f"layers['teachers'] has {len(per_teacher)} entries for {count} teacher(s)")
    return layers.get("student"), list(per_teacher)


def resolve_all(
    student: nn.Module,
    teachers: Sequence[nn.Module],
    layers: Mapping[str, Any] | None,
    knowledge: Sequence[KnowledgeSpec],
    mutual: bool = False,
) -> tuple[list[str], list[dict[str, Found]]]:
    """Role labels (``student``, ``teacher`` or ``teacher 1``...) and the resolved locations of each model;
    peers of mutual learning read the student's locations."""
    student_layers, teacher_layers = role_layers(layers, len(teachers))
    word = "peer" if mutual else "teacher"
    labels = [word] if len(teachers) == 1 else [f"{word} {i + 1}" for i in range(len(teachers))]
    needed = needed_locations(knowledge, 0 if mutual else 1)
    found = [resolve_role(student, student_layers, needed_locations(knowledge, 0), "student")]
    found += [
        resolve_role(t, lay, needed, label)
        for t, lay, label in zip(teachers, teacher_layers, labels, strict=True)
    ]
    return ["student", *labels], found


def check_sources(recipe: Recipe, given: int, label: str) -> list[int]:
    """Positions (in the teacher list) of the models the student learns from; a ``ValueError`` when the
    recipe's teacher topology needs more models than ``given``.

    Chains (teacher -> assistant(s) or generations -> student) take every model of the chain in order, the
    already trained assistants/generations included; the student learns from the last (from all under
    dense guidance). Peers (mutual learning) need one model per peer; several independent teachers
    (ensembles, multi-view) need at least two.
    """
    from kdtaxonomy.specs import get_spec

    spec: Any = get_spec("teacher", recipe.teacher.component).model_validate(recipe.teacher.params)
    plan = spec.plan(10)
    if plan.peers:
        nodes, minimum = list(plan.peers), len(plan.peers)
    elif any(n.sources for n in plan.nodes) or any(n.classes is not None for n in plan.nodes):
        nodes, minimum = list(plan.nodes), len(plan.nodes)
    else:
        nodes, minimum = list(plan.nodes), min(len(plan.nodes), 2)
    chained = any(n.sources for n in plan.nodes) and not plan.peers
    if given < minimum or (chained and given > len(nodes)):
        chain = " -> ".join([*(n.name for n in nodes), "student"]) if not plan.peers else "peers <-> student"
        missing = ", ".join(
            f"{n.name} ({n.role}, from {', '.join(n.sources) or 'labels'})" for n in nodes[given:]
        )
        raise ValueError(
            f"{label} uses the teacher setup {recipe.teacher.component!r} ({chain}): it needs {minimum} "
            f"model(s), got {given}; missing: {missing or '-'}. Pass teacher=[{', '.join(n.name for n in nodes)}] "
            "(trained models, in this order)"
        )
    if plan.peers or not any(n.sources for n in plan.nodes) or recipe.transfer.component == "dense-guidance":
        return list(range(given))
    names = [n.name for n in plan.nodes]
    return [names.index(s) for s in plan.student_sources if s in names]


class _Indexed(Dataset[tuple[Any, int]]):
    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return self.dataset[i], i


def with_indices(train: Any, first: Mapping[str, Any]) -> Any:
    """``train`` whose batches carry ``index`` (the position of each sample in the dataset).

    A ``DataLoader`` is rebuilt over the same dataset, batch sampler and collate function, its samples
    tagged with their position; batches that already have ``index`` are returned as they are. For any
    other iterable the indices cannot be known: a ``ValueError`` says how to provide them.
    """
    if "index" in first:
        return train
    if not isinstance(train, DataLoader) or train.batch_sampler is None:
        raise ValueError(
            "this method needs the sample indices (a memory bank per training sample): pass a DataLoader "
            "over a map-style dataset (indices are added), or batches (x, y, index) / dicts with 'index' "
            "holding each sample's position 0..N-1 in the training set"
        )
    collate = train.collate_fn or default_collate

    def collate_indexed(items: list[tuple[Any, int]]) -> dict[str, Tensor]:
        batch = as_batch(collate([item for item, _ in items]))
        batch["index"] = torch.tensor([i for _, i in items])
        return batch

    return DataLoader(
        _Indexed(train.dataset),
        batch_sampler=train.batch_sampler,
        num_workers=train.num_workers,
        collate_fn=collate_indexed,
        pin_memory=train.pin_memory,
        worker_init_fn=train.worker_init_fn,
    )


def describe_plan(
    roles: Sequence[str],
    models: Sequence[nn.Module],
    found: Sequence[Mapping[str, Found]],
    ce_weight: float,
    knowledge: Sequence[KnowledgeSpec],
    header: str,
) -> str:
    """Text of a distiller's plan: the models, where each location is read on each, each loss's weight."""
    lines = [header]
    for role, model in zip(roles, models, strict=True):
        lines.append(
            f"{role}: {type(model).__name__} ({sum(p.numel() for p in model.parameters()):,} parameters)"
        )
    lines += ["locations:", f"  {OUTPUT}: the forward output (logits) of every model"]
    for name in sorted({n for per_role in found for n in per_role}):
        reads = [f"{r}: {f[name].describe()}" for r, f in zip(roles, found, strict=True) if name in f]
        lines.append(f"  {name}: " + "; ".join(reads))
    lines += ["losses:", f"  cross-entropy with the labels, weight {ce_weight:g}"]
    lines += [f"  {k.component} @ {k.location or OUTPUT}, weight {k.weight:g}" for k in knowledge]
    return "\n".join(lines)


@torch.no_grad()
def batch_accuracy(
    model: nn.Module, batches: Iterable[Any], view: str, device: torch.device, amp: bool
) -> float:
    """Top-1 accuracy (%) of ``model`` over user batches (``(x, y[, index])`` tuples or batch dicts)."""
    model.eval()
    correct = total = 0
    for raw in batches:
        batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in as_batch(raw).items()}
        with amp_context(device, amp):
            logits = model(model_input(batch, view))
        correct += int((logits.argmax(dim=1) == batch["y"]).sum())
        total += int(batch["y"].numel())
    return 100.0 * float(correct) / max(float(total), 1.0)
