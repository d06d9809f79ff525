"""The controlled dataset vocabulary (``catalog/datasets.yaml``): datasets and the metrics reported on them.

Every configuration's ``datasets`` and every result's ``dataset`` is a dataset's canonical label (or
``unknown``; a result not measured on data says ``n/a``); every result's ``metric_id`` is a metric of this
file, whose direction (higher or lower is better) tables sort by. Queries resolve ids, labels and synonyms
with :func:`kdtaxonomy.lookup.dataset_key` (case, spaces and punctuation ignored).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from kdtaxonomy.lookup import DatasetLookup, VocabularyError, dataset_key

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, Field(pattern=SLUG, min_length=1, max_length=80)]
Name = Annotated[str, Field(min_length=1, max_length=120)]
UNKNOWN = "unknown"
NOT_APPLICABLE = "n/a"
"""A result's dataset when the number is not measured on data (e.g. a parameter count)."""


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        frozen=True,
        str_strip_whitespace=True,
        defer_build=True,
    )


class Metric(_Strict):
    """A metric results are reported in."""

    label: Name
    """Display name, e.g. ``Accuracy``, ``EER``."""
    direction: Literal["higher", "lower"]
    """Which values are better: ``higher`` (accuracy) or ``lower`` (EER, error rate)."""
    description: Annotated[str, Field(min_length=1, max_length=400)]
    """What the metric measures."""


class Dataset(_Strict):
    """A dataset of the catalog."""

    label: Name
    """Canonical name, written in catalog entries (e.g. ``CIFAR-100``)."""
    synonyms: list[Name] = Field(default_factory=list)
    """Other spellings a query may use (matched ignoring case, spaces and punctuation)."""
    task: Name
    """What the catalogued works use it for, e.g. ``image classification``; ``unknown`` if not known."""
    modality: list[Slug] = Field(min_length=1)
    """Terms of the vocabulary step ``modality`` (checked when the catalog is loaded)."""
    metrics: list[Slug] = Field(default_factory=list)
    """Ids of the metrics the catalog's results report on it."""
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    """The dataset's official page, where confirmed; absent otherwise."""


class DatasetFile(_Strict):
    """Top level of ``catalog/datasets.yaml``."""

    metrics: dict[Slug, Metric]
    """Metrics by id."""
    datasets: dict[Slug, Dataset]
    """Datasets by id."""

    @model_validator(mode="after")
    def _check(self) -> DatasetFile:
        owners: dict[str, str] = {}
        for key, dataset in self.datasets.items():
            unknown = [m for m in dataset.metrics if m not in self.metrics]
            if unknown:
                raise ValueError(f"dataset {key!r}: unknown metrics {unknown}")
            for name in (key, dataset.label, *dataset.synonyms):
                norm = dataset_key(name)
                if norm in {UNKNOWN, "na"}:
                    raise ValueError(f"dataset {key!r}: {name!r} is reserved")
                if owners.get(norm, key) != key:
                    raise ValueError(f"dataset {key!r}: name {name!r} also names {owners[norm]!r}")
                owners[norm] = key
        labels = [d.label for d in self.datasets.values()]
        if len(set(labels)) != len(labels):
            raise ValueError("dataset labels must be unique")
        return self


class DatasetVocabulary:
    """Lookup over a validated dataset file."""

    def __init__(self, data: DatasetFile) -> None:
        self.data = data
        self._by_label = {d.label: key for key, d in data.datasets.items()}
        names: dict[str, str] = {}
        for key, dataset in data.datasets.items():
            for name in (key, dataset.label, *dataset.synonyms):
                names[dataset_key(name)] = dataset.label
        self.lookup = DatasetLookup(names, sorted(self._by_label))

    @classmethod
    def from_mapping(cls, raw: Any) -> DatasetVocabulary:
        """Validate a parsed ``datasets.yaml``."""
        return cls(DatasetFile.model_validate(raw))

    @property
    def labels(self) -> list[str]:
        """Canonical labels of all datasets."""
        return list(self._by_label)

    def dataset(self, label: str) -> Dataset:
        """The dataset whose canonical label is ``label``."""
        return self.data.datasets[self._by_label[label]]

    def id_of(self, label: str) -> str:
        """The id of the dataset labelled ``label``."""
        return self._by_label[label]

    def metric(self, metric_id: str) -> Metric:
        """The metric ``metric_id``."""
        return self.data.metrics[metric_id]

    def require_canonical(self, value: str, *, allow_na: bool = False) -> None:
        """Raise :class:`VocabularyError` unless ``value`` is a canonical label (or ``unknown``/``n/a``)."""
        if value in self._by_label or value == UNKNOWN or (allow_na and value == NOT_APPLICABLE):
            return
        label = self.lookup.resolve(value)
        if label is not None:
            raise VocabularyError(f"{value!r} is a synonym: write the dataset as {label!r}")
        raise VocabularyError(f"unknown dataset {value!r}.{self.lookup.suggest(value)}")

    def require_metric(self, metric_id: str) -> Metric:
        """The metric ``metric_id``; unknown ids raise :class:`VocabularyError` with close matches."""
        if metric_id in self.data.metrics:
            return self.data.metrics[metric_id]
        from kdtaxonomy.lookup import close_matches

        raise VocabularyError(
            f"unknown metric {metric_id!r}.{close_matches(metric_id, list(self.data.metrics))}"
        )

    def check_modalities(self, modalities: list[str]) -> list[str]:
        """Problems of datasets whose modality is not among ``modalities`` (the vocabulary's terms)."""
        return [
            f"dataset {key!r}: unknown modality {m!r}"
            for key, d in self.data.datasets.items()
            for m in d.modality
            if m not in modalities
        ]


# -- validators of catalog entries (the vocabulary comes in the validation context, key "datasets") ----------
def _context(info: ValidationInfo) -> DatasetVocabulary | None:
    found: DatasetVocabulary | None = (info.context or {}).get("datasets")
    return found


def check_config_datasets(values: list[str], info: ValidationInfo) -> list[str]:
    """A configuration's datasets: canonical labels (or ``unknown``), no repeats."""
    if len(set(values)) != len(values):
        raise ValueError(f"duplicate datasets in {values}")
    vocab = _context(info)
    if vocab is not None:
        reasons = []
        for value in values:
            try:
                vocab.require_canonical(value)
            except ValueError as exc:
                reasons.append(str(exc))
        if reasons:
            raise ValueError("; ".join(reasons))
    return values


def check_result_dataset(value: str, info: ValidationInfo) -> str:
    """A result's dataset: a canonical label, ``unknown`` or ``n/a`` (not measured on data)."""
    vocab = _context(info)
    if vocab is not None:
        vocab.require_canonical(value, allow_na=True)
    return value


def check_metric_id(value: str, info: ValidationInfo) -> str:
    """A result's metric: an id of the metric vocabulary."""
    vocab = _context(info)
    if vocab is not None:
        vocab.require_metric(value)
    return value


def check_direction(metric_id: str, higher_is_better: bool, info: ValidationInfo) -> None:
    """Raise ``ValueError`` when ``higher_is_better`` contradicts the metric's direction."""
    vocab = _context(info)
    if vocab is None or metric_id not in vocab.data.metrics:
        return
    direction = vocab.metric(metric_id).direction
    if (direction == "higher") != higher_is_better:
        raise ValueError(
            f"higher_is_better: {higher_is_better} contradicts metric {metric_id!r}, for which {direction} is "
            "better"
        )
