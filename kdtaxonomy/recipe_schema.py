"""Strict pydantic models of a configuration's runnable recipe (``implementation``): registry components
per stage, knowledge terms at locations, and the configuration's recipes on other datasets."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from kdtaxonomy.schema_base import Node, ParamValue, Slug, Text


class ComponentSpec(Node):
    """A registry component and its parameters."""

    component: Slug
    """Registry key of the component."""
    params: dict[str, ParamValue] = Field(default_factory=dict)
    """Parameters overriding the component's defaults; checked against the component's parameter model."""


class KnowledgeSpec(ComponentSpec):
    """A knowledge term (loss) read at a location and weighted in the total objective."""

    location: str | None = None
    """Where the term reads (default ``output``): ``output`` (the logits), ``embedding`` (the input of the
    classifier head) or a named block (``block1``, ``block2``, ... of registry models; on your own models
    mapped by ``instantiate(layers=...)``); ``student:teacher`` when the two sides differ; ``a&b`` (per
    side) for a loss that reads several maps of each model, e.g. FSP's ``block1&block2``."""
    weight: Annotated[float, Field(ge=0)] = 1.0
    """Weight of this term in the total loss."""


class DatasetRecipe(Node):
    """The recipe of a configuration on another dataset (``--dataset KEY``), e.g. recorded speech (``fsdd``)
    next to the embedded MNIST-1D stand-in: every field given here replaces the base recipe's (a component
    named as in the base keeps the base's parameters under its own); the rest is inherited."""

    dataset_params: dict[str, ParamValue] = Field(default_factory=dict)
    """Parameters of the dataset (e.g. ``target``, ``n_mels``); a user's ``--dataset-param`` and
    ``--data-root`` go over them. The data's location (``root``) is the user's, so it is never given here."""
    data_preparation: list[ComponentSpec] | None = None
    """Data-preparation transforms, applied in order."""
    teacher: ComponentSpec | None = None
    """Teacher setup component."""
    knowledge: list[KnowledgeSpec] | None = None
    """Knowledge terms (losses), summed with their weights."""
    transfer: ComponentSpec | None = None
    """Transfer method combining teachers and knowledge terms."""
    student: ComponentSpec | None = None
    """Student construction component."""
    student_model: ComponentSpec | None = None
    """Student architecture."""
    training: dict[str, ParamValue] | None = None
    """Training hyper-parameters (replace the base recipe's ``training`` whole)."""
    notes: Text
    """How this recipe relates to the paper's setup on this dataset."""

    @model_validator(mode="after")
    def _no_root(self) -> DatasetRecipe:
        if "root" in self.dataset_params:
            raise ValueError(
                "dataset_params.root: the data's folder is the user's (--data-root); leave it out"
            )
        return self


class Implementation(Node):
    """The runnable recipe of a configuration: registry components per stage.

    Every field is optional: what is missing follows from the configuration's stage terms.
    """

    dataset: Slug | None = None
    """Registry key of the dataset used by ``kdtax train`` by default (e.g. ``mnist1d``)."""
    data_preparation: list[ComponentSpec] = Field(default_factory=list)
    """Data-preparation transforms, applied in order."""
    teacher: ComponentSpec | None = None
    """Teacher setup component."""
    knowledge: list[KnowledgeSpec] = Field(default_factory=list)
    """Knowledge terms (losses), summed with their weights."""
    transfer: ComponentSpec | None = None
    """Transfer method combining teachers and knowledge terms."""
    student: ComponentSpec | None = None
    """Student construction component."""
    student_model: ComponentSpec | None = None
    """Student architecture: a model key with its parameters (e.g. ``{component: cnn1d, params: {size: small}}``)."""
    training: dict[str, ParamValue] = Field(default_factory=dict)
    """Training hyper-parameters overriding the defaults (epochs, lr, ce_weight, ...)."""
    notes: Text | None = None
    """How the recipe relates to the paper's setup (what was scaled down or substituted)."""
    recipes: dict[Slug, DatasetRecipe] = Field(default_factory=dict)
    """Recipes of the configuration on other datasets, by dataset registry key (``fsdd``, ``av-digits``):
    ``--dataset KEY`` runs that recipe (see :class:`DatasetRecipe`) instead of swapping the dataset alone."""
