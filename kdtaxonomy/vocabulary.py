"""The controlled vocabulary: stages, steps and terms, with synonym resolution and close-match suggestions.

The vocabulary mirrors the general model of Abbasi et al. (survey seed paper 000, Fig. 1-6) and maps every term
to the categories of Gou et al. 2021 ("Knowledge Distillation: A Survey").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kdtaxonomy.lookup import FACETS, TermLookup, VocabularyError, normalise

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, Field(pattern=SLUG)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True, defer_build=True)


class GouCategory(_Strict):
    """A category of Gou et al. 2021."""

    axis: Literal["knowledge", "scheme", "algorithm"]
    """Which of Gou et al.'s axes the category belongs to."""
    label: str
    """Display name."""
    description: str
    """What the category means."""


class Term(_Strict):
    """A controlled term of one step."""

    label: str = Field(min_length=1)
    """Display name (the survey's wording where it has one)."""
    description: str = Field(min_length=1)
    """What the term means, with the survey's examples."""
    synonyms: list[str] = Field(default_factory=list)
    """Other names a query may use (case-insensitive)."""
    gou: list[Slug] = Field(default_factory=list)
    """Categories of Gou et al. 2021 the term maps to."""


class Step(_Strict):
    """A step of a stage (e.g. 'Knowledge type' of 'Knowledge distillation')."""

    label: str
    """Display name."""
    description: str
    """What the step decides."""
    terms: dict[Slug, Term]
    """The step's terms by slug."""


class Stage(_Strict):
    """A stage (or the inputs) of the general model."""

    label: str
    """Display name."""
    description: str
    """What happens in the stage."""
    steps: dict[Slug, Step]
    """The stage's steps by slug."""


class VocabularyFile(_Strict):
    """Top level of ``catalog/vocabulary.yaml``."""

    gou_categories: dict[Slug, GouCategory]
    """The categories of Gou et al. 2021."""
    stages: dict[Slug, Stage]
    """Stages in the order of the general model."""

    @model_validator(mode="after")
    def _check(self) -> VocabularyFile:
        steps: dict[str, str] = {}
        for stage_key, stage in self.stages.items():
            for step_key, step in stage.steps.items():
                if step_key in steps:
                    raise ValueError(
                        f"step {step_key!r} appears in stages {steps[step_key]!r} and {stage_key!r}"
                    )
                steps[step_key] = stage_key
                for term_key, term in step.terms.items():
                    unknown = [g for g in term.gou if g not in self.gou_categories]
                    if unknown:
                        raise ValueError(f"term {step_key}.{term_key}: unknown Gou categories {unknown}")
        for facet, facet_steps in FACETS.items():
            missing = [s for s in facet_steps if s not in steps]
            if missing:
                raise ValueError(f"facet {facet!r} needs steps {missing}, which the vocabulary lacks")
            seen: dict[str, str] = {}
            for step_key in facet_steps:
                step = self.stages[steps[step_key]].steps[step_key]
                for term_key, term in step.terms.items():
                    for name in (term_key, term.label, *term.synonyms):
                        norm = normalise(name)
                        owner = f"{step_key}.{term_key}"
                        if seen.get(norm, owner) != owner:
                            raise ValueError(
                                f"facet {facet!r}: name {name!r} of {owner} also names {seen[norm]}; "
                                "names must resolve to one term per facet"
                            )
                        seen[norm] = owner
        return self


@dataclass(frozen=True)
class Resolved:
    """A query name resolved to a term."""

    step: str
    term: str


class Vocabulary:
    """Lookup over a validated vocabulary file."""

    def __init__(self, data: VocabularyFile) -> None:
        self.data = data
        self.step_stage: dict[str, str] = {}
        self._steps: dict[str, Step] = {}
        for stage_key, stage in data.stages.items():
            for step_key, step in stage.steps.items():
                self.step_stage[step_key] = stage_key
                self._steps[step_key] = step
        self._names: dict[str, dict[str, str]] = {}
        for step_key, step in self._steps.items():
            names: dict[str, str] = {}
            for term_key, term in step.terms.items():
                for name in (term_key, term.label, *term.synonyms):
                    names.setdefault(normalise(name), term_key)
            self._names[step_key] = names
        self.lookup = TermLookup(self._names, {step: list(st.terms) for step, st in self._steps.items()})

    @classmethod
    def from_mapping(cls, raw: Any) -> Vocabulary:
        """Validate a parsed ``vocabulary.yaml``."""
        return cls(VocabularyFile.model_validate(raw))

    @property
    def steps(self) -> list[str]:
        """All step keys in model order."""
        return list(self._steps)

    def step(self, step: str) -> Step:
        """The step ``step``."""
        return self._steps[step]

    def terms(self, step: str) -> list[str]:
        """Canonical terms of a step."""
        return list(self._steps[step].terms)

    def term(self, step: str, term: str) -> Term:
        """The term object."""
        return self._steps[step].terms[term]

    def label(self, step: str, term: str) -> str:
        """Display label of a term (``unknown`` stays ``unknown``)."""
        if term in self._steps[step].terms:
            return self._steps[step].terms[term].label
        return term

    def require_canonical(self, step: str, value: str) -> None:
        """Raise :class:`VocabularyError` unless ``value`` is a canonical term of ``step``."""
        if value in self._steps[step].terms:
            return
        canonical = self._names[step].get(normalise(value))
        if canonical is not None:
            raise VocabularyError(f"{value!r} is a synonym: write the term as {canonical!r}")
        hint = self.lookup.suggest(list(self._names[step]), value, self.steps)
        raise VocabularyError(f"unknown {step} term {value!r}.{hint}")

    def resolve(self, facet: str, name: str) -> Resolved:
        """Resolve a query name (term, label or synonym; any case) for a facet of ``kdtax list``."""
        step, term = self.lookup.resolve(facet, name)
        return Resolved(step, term)

    def gou(self, step: str, term: str) -> list[str]:
        """Gou et al. categories of a term."""
        if term not in self._steps[step].terms:
            return []
        return list(self._steps[step].terms[term].gou)
