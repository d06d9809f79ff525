"""Strict pydantic models of a catalog entry.

An entry is one published work (``catalog/methods/<id>.yaml``). It holds one or more *configurations*
(the experiments of the work), each described along the general teacher-student model of Abbasi et al.
(survey seed paper 000, Fig. 1): two inputs (objective, data) and four stages (data preparation, teacher
modeling, knowledge distillation, student modeling).

Fields that hold controlled terms are validated against the vocabulary passed in the validation context
(``Entry.model_validate(data, context={"vocabulary": vocab})``); each such field carries its vocabulary
step in ``json_schema_extra`` so that :func:`entry_json_schema` can list the allowed terms. Dataset names and
metric ids are checked against the dataset vocabulary passed as ``context["datasets"]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    model_validator,
)

from kdtaxonomy.dataset_vocabulary import (
    check_config_datasets,
    check_direction,
    check_metric_id,
    check_result_dataset,
)
from kdtaxonomy.provenance import Source as Source

if TYPE_CHECKING:
    from kdtaxonomy.vocabulary import Vocabulary

from kdtaxonomy.recipe_schema import ComponentSpec as ComponentSpec
from kdtaxonomy.recipe_schema import DatasetRecipe as DatasetRecipe
from kdtaxonomy.recipe_schema import Implementation as Implementation
from kdtaxonomy.recipe_schema import KnowledgeSpec as KnowledgeSpec
from kdtaxonomy.schema_base import SLUG as SLUG
from kdtaxonomy.schema_base import UNKNOWN as UNKNOWN
from kdtaxonomy.schema_base import Count, Node, ShortText, Slug, Text


def _term_checker(step: str) -> Callable[[list[str], ValidationInfo], list[str]]:
    def check(values: list[str], info: ValidationInfo) -> list[str]:
        """Validate terms against the vocabulary in the validation context (if any)."""
        if len(set(values)) != len(values):
            raise ValueError(f"duplicate terms in {values}")
        vocab: Vocabulary | None = (info.context or {}).get("vocabulary")
        reasons: list[str] = []
        for value in values:
            if value == UNKNOWN:
                if len(values) > 1:
                    reasons.append("'unknown' cannot be combined with other terms")
            elif vocab is not None:
                try:
                    vocab.require_canonical(step, value)
                except ValueError as exc:
                    reasons.append(str(exc))
        if reasons:
            raise ValueError("; ".join(reasons))
        return values

    return check


def _terms(step: str, description: str) -> Any:
    """A list-of-terms field bound to a vocabulary step (validated by an ``AfterValidator``)."""
    return Field(
        default_factory=list,
        description=description,
        json_schema_extra={"x-vocabulary-step": step},
    )


DatasetNames = Annotated[list[ShortText], AfterValidator(check_config_datasets)]
ResultDataset = Annotated[ShortText, AfterValidator(check_result_dataset)]
MetricId = Annotated[Slug, AfterValidator(check_metric_id)]

ObjectiveTerms = Annotated[list[str], AfterValidator(_term_checker("objective"))]
ModalityTerms = Annotated[list[str], AfterValidator(_term_checker("modality"))]
ModificationTerms = Annotated[list[str], AfterValidator(_term_checker("modification"))]
PartitioningTerms = Annotated[list[str], AfterValidator(_term_checker("partitioning"))]
TeacherSetupTerms = Annotated[list[str], AfterValidator(_term_checker("teacher-setup"))]
TeacherArchitectureTerms = Annotated[list[str], AfterValidator(_term_checker("teacher-architecture"))]
TeacherConstructionTerms = Annotated[list[str], AfterValidator(_term_checker("teacher-construction"))]
KnowledgeTerms = Annotated[list[str], AfterValidator(_term_checker("knowledge"))]
LocationTerms = Annotated[list[str], AfterValidator(_term_checker("location"))]
TransferTerms = Annotated[list[str], AfterValidator(_term_checker("transfer"))]
StudentSetupTerms = Annotated[list[str], AfterValidator(_term_checker("student-setup"))]
StudentArchitectureTerms = Annotated[list[str], AfterValidator(_term_checker("student-architecture"))]
StudentConstructionTerms = Annotated[list[str], AfterValidator(_term_checker("student-construction"))]


class Identifiers(Node):
    """Persistent identifiers of the published work."""

    arxiv: Annotated[str, Field(pattern=r"^\d{4}\.\d{4,5}(v\d+)?$")] | None = None
    """arXiv identifier without prefix, e.g. ``1503.02531``."""
    doi: Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    """Digital Object Identifier, e.g. ``10.1109/ICASSP.2019.8682450``."""
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    """Landing page of the paper (http or https only)."""


class SurveyRow(Node):
    """The row of the survey's Table I or II for this configuration, in the survey's exact wording."""

    table: Literal["I", "II"]
    """Which summary table of the survey (seed paper 000) holds the row."""
    row: Annotated[int, Field(ge=1, le=100)]
    """1-based position of the row in its table (orders ``kdtax table summary``)."""
    work: ShortText
    """The 'Work' cell, e.g. ``[1] (Ex.2)``."""
    objective: ShortText
    """The 'Objective' cell."""
    data_preparation: ShortText
    """The 'Data Modification' (Table I) / 'Data Preparation' (Table II) cell; ``-`` where empty."""
    teacher_model: ShortText
    """The 'Teacher Model' cell."""
    knowledge_type: ShortText
    """The 'Knowledge Type' cell."""
    kd_method: ShortText
    """The 'KD method' cell."""
    student_model: ShortText
    """The 'Student Model' cell."""
    dataset: ShortText
    """The 'Dataset' cell."""


class DataInput(Node):
    """The data input of the general model (survey Section II)."""

    description: Text
    """What the data are: task, size, inputs of teacher and student."""
    modalities: ModalityTerms = _terms("modality", "Modalities of the data (vocabulary step 'modality').")


class DataPreparation(Node):
    """Stage 1: data modification and partitioning (survey Section III, Fig. 3)."""

    modification: list[str] = _terms(
        "modification", "How the data are modified; empty when not modified (the survey's '-')."
    )
    partitioning: PartitioningTerms = _terms(
        "partitioning", "Who the prepared data are for; empty when not partitioned."
    )
    notes: Text | None = None
    """Details: parameters of the modification, sizes of partitions."""


class TeacherModeling(Node):
    """Stage 2: teacher setup, architecture selection, construction & training (survey Section IV)."""

    setup: TeacherSetupTerms = _terms("teacher-setup", "Number of teachers and how they communicate.")
    count: Count = "unknown"
    """How many teacher networks (assistants excluded), or ``unknown``."""
    architecture: TeacherArchitectureTerms = _terms(
        "teacher-architecture", "Complexity / family choice of the teacher(s)."
    )
    models: list[ShortText] = Field(default_factory=list)
    """Named teacher architectures as the paper gives them, e.g. ``ResNet-152``."""
    construction: TeacherConstructionTerms = _terms(
        "teacher-construction", "How the teacher(s) are built and trained."
    )
    assistants: list[ShortText] = Field(default_factory=list)
    """Named teacher-assistant architectures between teacher and student, in chain order."""
    notes: Text | None = None
    """Details not captured by the terms."""


class KnowledgeDistillation(Node):
    """Stage 3: knowledge type, location and transfer method (survey Section V, Fig. 5)."""

    knowledge: KnowledgeTerms = _terms("knowledge", "What is distilled.")
    location: LocationTerms = _terms("location", "Where the knowledge is read.")
    transfer: TransferTerms = _terms("transfer", "How the knowledge is transferred.")
    loss: Text | None = None
    """The distillation objective in words or as a formula, with the paper's equation number."""
    notes: Text | None = None
    """Details not captured by the terms."""


class StudentModeling(Node):
    """Stage 4: student setup, architecture selection, construction & training (survey Section VI)."""

    setup: StudentSetupTerms = _terms("student-setup", "Number of students and how they are organised.")
    count: Count = "unknown"
    """How many student networks, or ``unknown``."""
    architecture: StudentArchitectureTerms = _terms(
        "student-architecture", "The student's structure relative to the teacher."
    )
    models: list[ShortText] = Field(default_factory=list)
    """Named student architectures as the paper gives them."""
    construction: StudentConstructionTerms = _terms(
        "student-construction", "How the student is initialised, compressed, trained."
    )
    notes: Text | None = None
    """Details not captured by the terms."""


class Configuration(Node):
    """One experiment / variant of a work, described along the four-stage model."""

    name: Slug
    """Short name, unique within the entry, e.g. ``ex1`` or ``distribution-level``."""
    title: ShortText | None = None
    """Human-readable name of the configuration."""
    survey_row: SurveyRow | None = None
    """The survey's Table I/II row for this configuration, when the work is surveyed."""
    summary: Text
    """What this configuration does, in prose."""
    objective: ObjectiveTerms = _terms("objective", "The objective(s) of the design (survey Fig. 2).")
    data: DataInput
    """The data input."""
    data_preparation: DataPreparation = Field(default_factory=DataPreparation)
    """Stage 1."""
    teacher: TeacherModeling
    """Stage 2."""
    distillation: KnowledgeDistillation
    """Stage 3."""
    student: StudentModeling
    """Stage 4."""
    datasets: DatasetNames = Field(min_length=1)
    """Datasets used in the experiments: canonical labels of ``catalog/datasets.yaml`` (or ``unknown``)."""
    implementation: Implementation | None = None
    """The runnable recipe (see :class:`Implementation`)."""


class ReportedResult(Node):
    """A number reported by a paper, with its provenance."""

    configuration: Slug | None = None
    """Name of the configuration the number belongs to, if specific."""
    dataset: ResultDataset
    """Dataset the number is measured on: a canonical label, ``unknown`` or ``n/a`` (not measured on data)."""
    split: ShortText | None = None
    """Split, protocol or trial list of the dataset as the source gives it (e.g. ``test set``); for an
    ``unknown`` or ``n/a`` dataset, what the source says instead."""
    metric: ShortText
    """What is measured, in the source's words, e.g. ``top-1 accuracy``, ``EER``, ``error rate``."""
    metric_id: MetricId
    """The metric of the dataset vocabulary (e.g. ``accuracy``, ``eer``); its direction must agree with
    ``higher_is_better``."""
    value: float
    """The number exactly as printed in the source."""
    printed: Annotated[str, Field(pattern=r"^-?\d+(\.\d+)?[*†‡]*$", max_length=40)] | None = None
    """The value's text as printed where the number alone loses something: trailing zeros (``70.50``),
    footnote marks (``69.76*``). Its number must equal ``value``."""
    unit: Annotated[str, Field(max_length=40)] = ""
    """Unit as printed, e.g. ``%``; empty for unit-less numbers."""
    higher_is_better: bool
    """Direction of the metric."""
    method: ShortText
    """The row of the source table: which model or method produced the number."""
    role: Literal["teacher", "assistant", "student-baseline", "student-distilled", "other"]
    """Role of the model that produced the number."""
    teacher: ShortText | None = None
    """Teacher architecture of the setting, if given (as the source spells it)."""
    student: ShortText | None = None
    """Student architecture of the setting, if given (as the source spells it)."""
    teacher_model: Slug | None = None
    """Registry key (kind ``model``) of ``teacher`` where it names one, e.g. ``resnet32x4``."""
    student_model: Slug | None = None
    """Registry key (kind ``model``) of ``student`` where it names one, e.g. ``resnet8x4``."""
    setting: ShortText | None = None
    """Any other condition of the number (data fraction, resolution, bits, ...)."""
    source: Source
    """Paper and table, or repository file at a commit and table, the number is copied from."""

    @model_validator(mode="after")
    def _check_direction(self, info: ValidationInfo) -> ReportedResult:
        check_direction(self.metric_id, self.higher_is_better, info)
        if self.printed is not None and float(self.printed.rstrip("*†‡")) != self.value:
            raise ValueError(f"printed: {self.printed!r} is not the number {self.value!r}")
        return self

    @property
    def value_text(self) -> str:
        """The value as printed: ``printed`` when given, else the shortest form of the number."""
        return self.printed if self.printed is not None else f"{self.value:g}"

    @property
    def direction(self) -> Literal["higher", "lower"]:
        """``higher`` or ``lower``: which values are better."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def dataset_text(self) -> str:
        """The dataset with its split, as printed in tables: ``CIFAR-100 (test set)``."""
        return f"{self.dataset} ({self.split})" if self.split else self.dataset


class Entry(Node):
    """One published work with its configurations and reported results."""

    id: Slug
    """Catalog id; equals the file name without ``.yaml``, e.g. ``ahn2019-vid``."""
    title: ShortText
    """Title of the paper."""
    authors: list[ShortText] = Field(min_length=1)
    """Authors in publication order."""
    year: Annotated[int, Field(ge=1950, le=2100)]
    """Year of publication."""
    venue: ShortText
    """Journal, conference or preprint server."""
    venue_type: Literal["conference", "journal", "preprint", "workshop"]
    """Kind of venue (drives the BibTeX entry type)."""
    pages: Annotated[str, Field(pattern=r"^\d+(-\d+)?$")] | None = None
    """Page range, e.g. ``9163-9171``."""
    identifiers: Identifiers = Field(default_factory=Identifiers)
    """arXiv id, DOI, URL."""
    survey_label: Annotated[str, Field(pattern=r"^\[\d+\]$")] | None = None
    """The survey's citation label where the work is surveyed (e.g. ``[9]``)."""
    seed: Annotated[str, Field(pattern=r"^\d{3}$")] | None = None
    """Number of the seed paper (``001``...) when the entry is one of the project's seeds."""
    description: Text
    """What the work did, in prose (drawing on the survey's Sections II-VII where surveyed)."""
    related: list[Slug] = Field(default_factory=list)
    """Ids of catalogued works this one builds on or compares with."""
    configurations: list[Configuration] = Field(min_length=1)
    """The experiments/variants of the work."""
    results: list[ReportedResult] = Field(default_factory=list)
    """Numbers reported by the paper (or about it in the survey), each with its source."""

    @model_validator(mode="after")
    def _check_references(self) -> Entry:
        names = [c.name for c in self.configurations]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"configuration names must be unique within the entry; repeated: {dupes}")
        for i, result in enumerate(self.results):
            if result.configuration is not None and result.configuration not in names:
                raise ValueError(
                    f"results.{i}.configuration: {result.configuration!r} is not a configuration of this "
                    f"entry (has {names})"
                )
        if self.survey_label is None and any(c.survey_row for c in self.configurations):
            raise ValueError("a configuration has a survey_row but the entry has no survey_label")
        for config in self.configurations:
            row = config.survey_row
            if row is not None and self.survey_label and not row.work.startswith(self.survey_label):
                raise ValueError(
                    f"configuration {config.name!r}: survey_row.work {row.work!r} does not start with the "
                    f"entry's survey_label {self.survey_label!r}"
                )
        return self

    def configuration(self, name: str | None = None) -> Configuration:
        """The named configuration, or the first one."""
        if name is None:
            return self.configurations[0]
        for config in self.configurations:
            if config.name == name:
                return config
        known = ", ".join(c.name for c in self.configurations)
        raise KeyError(f"entry {self.id!r} has no configuration {name!r} (has: {known})")


STEP_FIELDS: dict[str, tuple[str, str]] = {
    "objective": ("", "objective"),
    "modality": ("data", "modalities"),
    "modification": ("data_preparation", "modification"),
    "partitioning": ("data_preparation", "partitioning"),
    "teacher-setup": ("teacher", "setup"),
    "teacher-architecture": ("teacher", "architecture"),
    "teacher-construction": ("teacher", "construction"),
    "knowledge": ("distillation", "knowledge"),
    "location": ("distillation", "location"),
    "transfer": ("distillation", "transfer"),
    "student-setup": ("student", "setup"),
    "student-architecture": ("student", "architecture"),
    "student-construction": ("student", "construction"),
}
"""Where each vocabulary step lives in a :class:`Configuration`: (stage attribute, field)."""


def step_terms(config: Configuration, step: str) -> list[str]:
    """The terms a configuration uses for a vocabulary step."""
    stage, field = STEP_FIELDS[step]
    holder: Any = getattr(config, stage) if stage else config
    terms: list[str] = getattr(holder, field)
    return terms


def entry_json_schema(vocabulary: Vocabulary | None = None) -> dict[str, Any]:
    """JSON Schema of an entry; with a vocabulary, term fields list their allowed terms as ``enum``."""
    schema = Entry.model_json_schema()
    schema["$id"] = "https://kdtaxonomy.invalid/schema/entry.json"
    schema["title"] = "kdtaxonomy catalog entry"
    if vocabulary is not None:
        for definition in schema.get("$defs", {}).values():
            for prop in definition.get("properties", {}).values():
                step = prop.get("x-vocabulary-step")
                if step:
                    prop["items"] = {"enum": [*vocabulary.terms(step), UNKNOWN], "type": "string"}
        props = schema.get("properties", {})
        for prop in props.values():
            step = prop.get("x-vocabulary-step")
            if step:
                prop["items"] = {"enum": [*vocabulary.terms(step), UNKNOWN], "type": "string"}
    return schema


def is_slug(value: str) -> bool:
    """Whether ``value`` is a valid catalog id."""
    return re.fullmatch(SLUG, value) is not None
