"""Composing a new configuration from chosen terms, checked against the compatibility :data:`RULES`, the
schema and the registry (no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kdtaxonomy.lookup import VocabularyError
from kdtaxonomy.schema import UNKNOWN, Configuration, step_terms

if TYPE_CHECKING:
    from kdtaxonomy.vocabulary import Vocabulary


class ComposeError(ValueError):
    """Choices that do not make a valid configuration; the message names the choice and the reason."""


@dataclass(frozen=True)
class Rule:
    """When a configuration uses ``term`` of ``step``, its ``needs_step`` terms must satisfy ``mode``:
    ``any`` (at least one of ``needs``) or ``only`` (at least one, and all of them, in ``needs``)."""

    step: str
    term: str
    needs_step: str
    needs: tuple[str, ...]
    mode: Literal["any", "only"]
    reason: str


RULES: tuple[Rule, ...] = (
    Rule("transfer", "mutual", "teacher-setup", ("peers",), "any",
         "mutual learning trains the student together with peer networks instead of a pre-trained teacher"),
    Rule("teacher-setup", "peers", "transfer", ("mutual",), "any",
         "peers are trained together with the student, which only mutual learning does"),
    Rule("transfer", "mutual", "knowledge", ("soft-labels",), "only",
         "deep mutual learning exchanges the peers' class distributions (soft labels) and nothing else"),
    Rule("transfer", "fusion", "teacher-setup", ("auxiliary-model",), "any",
         "fusion feeds the output of an auxiliary (pre-trained) model into the student"),
    Rule("transfer", "fusion", "knowledge", ("tag-vectors",), "only",
         "what fusion transfers is the auxiliary model's output vector (tag vectors), not a loss on features"),
    Rule("teacher-setup", "auxiliary-model", "transfer", ("fusion",), "any",
         "an auxiliary model is not distilled from: its output is fused into the student"),
    Rule("knowledge", "tag-vectors", "transfer", ("fusion",), "any",
         "tag vectors have no distillation loss: they are fused into the student"),
    Rule("transfer", "aggregated", "teacher-setup", ("ensemble", "multi-teacher", "specialists"), "any",
         "aggregated distillation combines the outputs of several teachers"),
    Rule("transfer", "dense-guidance", "teacher-setup", ("assistant-chain",), "any",
         "dense guidance lets the teacher and every teacher assistant guide the student"),
    Rule("student-construction", "teacher-initialized", "student-architecture", ("teacher-like",), "only",
         "a student initialised from the teacher's weights needs the teacher's architecture"),
    Rule("student-construction", "teacher-initialized", "teacher-setup", ("single", "specialists"), "only",
         "the student copies the weights of one teacher network (a single teacher, or the specialists' "
         "generalist), which ensembles, assistant chains, peers and auxiliary models do not provide"),
    Rule("student-construction", "trained-on-features", "knowledge", ("deep-features",), "only",
         "a student trained on features (e.g. an SVM) learns from the teacher's deep features only"),
)  # fmt: skip
"""Compatibility rules of :func:`compose` (and so of :func:`gaps`), each with its reason."""

IMPLIED_TEACHER: dict[str, str] = {
    "mutual": "peers",
    "fusion": "auxiliary-model",
    "aggregated": "ensemble",
    "dense-guidance": "assistant-chain",
}
"""The teacher setup :func:`compose` picks for a transfer method when no teacher setup is chosen."""

DEFAULT_LOCATION: dict[str, str] = {"output": "output", "block2": "blocks", "embedding": "embedding-layer"}


def check_rules(config: Configuration) -> None:
    """Raise :class:`ComposeError` for the first rule of :data:`RULES` the configuration breaks."""
    for rule in RULES:
        if rule.term not in step_terms(config, rule.step):
            continue
        have = [t for t in step_terms(config, rule.needs_step) if t != UNKNOWN]
        ok = any(t in rule.needs for t in have)
        if rule.mode == "only":
            ok = ok and all(t in rule.needs for t in have)
        if not ok:
            needs = " or ".join(repr(n) for n in rule.needs)
            qualifier = "only " if rule.mode == "only" else ""
            raise ComposeError(
                f"{rule.step} {rule.term!r} needs {qualifier}{rule.needs_step} {needs} "
                f"(got {', '.join(have) or 'none'}): {rule.reason}"
            )


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _default_vocabulary() -> Vocabulary:
    from kdtaxonomy.catalog import default_vocabulary_path, read_vocabulary

    return read_vocabulary(default_vocabulary_path())


def compose(
    knowledge: str | Sequence[str] | None = None,
    transfer: str | Sequence[str] | None = None,
    teacher: str | Sequence[str] | None = None,
    student: str | Sequence[str] | None = None,
    objective: str | Sequence[str] | None = None,
    data_prep: str | Sequence[str] | None = None,
    location: str | Sequence[str] | None = None,
    *,
    losses: Sequence[str] = (),
    vocabulary: Vocabulary | None = None,
) -> Configuration:
    """A new configuration (name ``composed``) from chosen terms (terms, labels or synonyms, any case).

    Defaults: transfer ``mutual`` for peers, ``fusion`` for an auxiliary model, else ``permuted``; knowledge
    ``tag-vectors`` for fusion, else ``soft-labels``; teacher setup implied by the transfer (:data:`IMPLIED_TEACHER`, else ``single``), a complex
    pre-trained teacher (jointly trained for peers), a single simplified student trained from scratch,
    objective ``accuracy``, locations from the knowledge terms' default losses, MNIST-1D as data. The result
    is validated against the schema and vocabulary, :data:`RULES` and the registry specs
    (:func:`kdtaxonomy.recipe.resolve`); any problem raises :class:`ComposeError`.

    ``losses`` (``KEY`` or ``KEY@LOCATION``, registry loss components) replace the knowledge terms' default
    losses in the recipe (``implementation.knowledge``, weight 1 each) and add each one's knowledge term.
    """
    from pydantic import ValidationError

    from kdtaxonomy.recipe import KNOWLEDGE_DEFAULTS, RecipeError, resolve

    vocab = vocabulary if vocabulary is not None else _default_vocabulary()
    steps: dict[str, list[str]] = {step: [] for step in vocab.steps}
    for facet, values in (
        ("knowledge", knowledge),
        ("transfer", transfer),
        ("teacher", teacher),
        ("student", student),
        ("objective", objective),
        ("data-prep", data_prep),
        ("location", location),
    ):
        for name in _names(values):
            try:
                resolved = vocab.resolve(facet, name)
            except VocabularyError as exc:
                raise ComposeError(str(exc)) from None
            if resolved.term not in steps[resolved.step]:
                steps[resolved.step].append(resolved.term)
    chosen = _chosen_losses(losses)
    for _, _, term in chosen:
        if term and term in vocab.terms("knowledge") and term not in steps["knowledge"]:
            steps["knowledge"].append(term)
    if not steps["transfer"]:
        implied_transfer = {v: k for k, v in IMPLIED_TEACHER.items() if k in {"mutual", "fusion"}}
        setup = steps["teacher-setup"]
        steps["transfer"] = [next((implied_transfer[t] for t in setup if t in implied_transfer), "permuted")]
    if not steps["knowledge"]:
        steps["knowledge"] = ["tag-vectors" if "fusion" in steps["transfer"] else "soft-labels"]
    if not steps["teacher-setup"]:
        implied = next((IMPLIED_TEACHER[t] for t in steps["transfer"] if t in IMPLIED_TEACHER), "single")
        steps["teacher-setup"] = [implied]
    peers = "peers" in steps["teacher-setup"]
    steps["teacher-architecture"] = steps["teacher-architecture"] or ["complex"]
    steps["teacher-construction"] = steps["teacher-construction"] or [
        "trained-jointly" if peers else "pre-trained"
    ]
    steps["student-setup"] = steps["student-setup"] or ["peers" if peers else "single"]
    same = "teacher-initialized" in steps["student-construction"]
    steps["student-architecture"] = steps["student-architecture"] or [
        "teacher-like" if same else "simplified-teacher"
    ]
    steps["student-construction"] = steps["student-construction"] or ["from-scratch"]
    steps["objective"] = steps["objective"] or ["accuracy"]
    steps["modality"] = steps["modality"] or ["signal"]
    if not steps["location"]:
        for term in steps["knowledge"]:
            for _, where, _ in KNOWLEDGE_DEFAULTS.get(term, []) or [("", "output", 1.0)]:
                loc = DEFAULT_LOCATION.get(where, "intermediate-layers")
                if loc not in steps["location"]:
                    steps["location"].append(loc)
    choices = "; ".join(
        f"{step} {', '.join(steps[step])}"
        for step in ("knowledge", "transfer", "teacher-setup", "student-construction")
    )
    data = {
        "name": "composed",
        "title": "Composed: " + " + ".join([*steps["knowledge"], *steps["transfer"]]),
        "summary": f"Composed with kdtax compose: {choices}.",
        "objective": steps["objective"],
        "data": {"description": "MNIST-1D, the embedded benchmark", "modalities": steps["modality"]},
        "data_preparation": {"modification": steps["modification"], "partitioning": steps["partitioning"]},
        "teacher": {
            "setup": steps["teacher-setup"],
            "architecture": steps["teacher-architecture"],
            "construction": steps["teacher-construction"],
        },
        "distillation": {
            "knowledge": steps["knowledge"],
            "location": steps["location"],
            "transfer": steps["transfer"],
        },
        "student": {
            "setup": steps["student-setup"],
            "architecture": steps["student-architecture"],
            "construction": steps["student-construction"],
        },
        "datasets": ["MNIST-1D"],
    }
    if chosen:
        data["implementation"] = {
            "knowledge": [{"component": key, "location": where, "weight": 1.0} for key, where, _ in chosen]
        }
    try:
        config = Configuration.model_validate(data, context={"vocabulary": vocab})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
        raise ComposeError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
    check_rules(config)
    try:
        resolve(config, "composed")
    except RecipeError as exc:
        raise ComposeError(f"recipe: {exc}") from None
    return config


def _chosen_losses(losses: Sequence[str]) -> list[tuple[str, str, str | None]]:
    """``(component, location, knowledge term)`` of each ``KEY[@LOCATION]``; the location defaults to where
    the knowledge terms' default losses read it, else ``output``. Unknown keys raise :class:`ComposeError`."""
    from kdtaxonomy.lookup import close_matches
    from kdtaxonomy.recipe import KNOWLEDGE_DEFAULTS
    from kdtaxonomy.specs import load_specs

    known = load_specs().get("loss", {})
    defaults = {loss: where for terms in KNOWLEDGE_DEFAULTS.values() for loss, where, _ in terms}
    chosen = []
    for item in losses:
        key, _, where = item.partition("@")
        if key not in known:
            raise ComposeError(
                f"--loss {item!r}: unknown loss component {key!r}.{close_matches(key, sorted(known))}"
                " (kdtax registry loss lists them)"
            )
        term = getattr(known[key], "term", None)
        chosen.append((key, where or defaults.get(key, "output"), term))
    return chosen


def configuration_yaml(config: Configuration) -> str:
    """YAML text of a composed configuration, readable by ``kdtax train --recipe``."""
    from kdtaxonomy.yamlio import dump

    header = "# Composed by `kdtax compose`; train it with `kdtax train --recipe FILE`.\n"
    return header + dump(config.model_dump(mode="json", exclude_defaults=True))
