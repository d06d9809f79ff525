"""``kdtaxonomy.instantiate``: one entry point for classification models and Hugging Face models.

Given ``transformers`` ``PreTrainedModel``s it returns an :class:`~kdtaxonomy.hf.HFDistiller`
(:func:`kdtaxonomy.hf.instantiate_hf`), otherwise a :class:`~kdtaxonomy.pipeline.Distiller`
(:func:`kdtaxonomy.pipeline.instantiate`). The overloads type each case: a model with a ``config``, a
``main_input_name`` and input/output embeddings (:class:`~kdtaxonomy.hf.inputs.HFModel`) is a Hugging Face
model, without ``transformers`` having to be imported to type-check.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack, overload

from torch import nn

from kdtaxonomy.hf.inputs import HFModel, is_hf_model

if TYPE_CHECKING:
    from kdtaxonomy.hf.distiller import HFDistiller, HFOptions
    from kdtaxonomy.pipeline import Distiller


@overload
def instantiate(
    entry_id: str, *, teacher: HFModel | Sequence[HFModel], student: HFModel, **options: Unpack[HFOptions]
) -> HFDistiller: ...


@overload
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
) -> Distiller: ...


def instantiate(
    entry_id: str, *, teacher: Any, student: Any, layers: Mapping[str, Any] | None = None, **options: Any
) -> Distiller | HFDistiller:
    """A distiller of ``entry_id`` for the user's teacher(s) and student.

    Classification models (any ``nn.Module``): a catalogued method, see :func:`kdtaxonomy.pipeline.instantiate`
    (``layers``, ``config``, ``catalog``, ``device``, ``amp``). Hugging Face models: a token loss or a
    catalogued method on their logits, see :func:`kdtaxonomy.hf.instantiate_hf` (also ``params``,
    ``ce_weight``, ``tokenizers``, ``task``).
    """
    teachers = list(teacher) if isinstance(teacher, Sequence) else [teacher]
    if is_hf_model(student) or any(is_hf_model(t) for t in teachers):
        if layers is not None:
            raise ValueError(
                "layers= maps feature locations of classification models; Hugging Face models are read "
                "at their logits"
            )
        from kdtaxonomy.hf.distiller import instantiate_hf

        return instantiate_hf(entry_id, teacher=teacher, student=student, **options)
    from kdtaxonomy.hf.distiller import HFOptions
    from kdtaxonomy.pipeline import instantiate as classification

    hf_only = set(HFOptions.__optional_keys__) - set(inspect.signature(classification).parameters)
    if hf_only & set(options):
        raise TypeError(
            f"instantiate() got {', '.join(sorted(hf_only & set(options)))}: options of Hugging Face models "
            "(transformers PreTrainedModels), and these models are not"
        )
    return classification(entry_id, teacher=teacher, student=student, layers=layers, **options)
