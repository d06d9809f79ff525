"""Distilling Hugging Face ``transformers`` models (the ``hf`` extra): causal, seq2seq and masked language
models, token losses of :mod:`kdtaxonomy.losses.sequence` between their logits.

``kdtaxonomy.instantiate(name, teacher=..., student=...)`` with ``PreTrainedModel``s returns an
:class:`HFDistiller` (:func:`instantiate_hf`): ``name`` is a token loss (``forward-kl``,
``generalized-jsd``, ...) or a catalogued method whose knowledge is soft or hard labels at the output.
Batches are Hugging Face batches (``input_ids``, ``attention_mask``, ``labels`` with ``-100``; for
seq2seq optionally ``decoder_input_ids``). This package imports ``transformers`` nowhere: it reads the
models it is given. :func:`model_outputs` also serves encoder-only models (``hidden_states=True``).
"""

from kdtaxonomy.hf.distiller import (
    TOKEN_LOSSES,
    HFDistiller,
    TokenTerm,
    instantiate_hf,
    method_terms,
    token_loss,
)
from kdtaxonomy.hf.inputs import Aligned, aligned, is_hf_model, model_outputs, model_task, positions
from kdtaxonomy.hf.vocab import check_models, check_tokenizers, output_size

__all__ = [
    "TOKEN_LOSSES",
    "Aligned",
    "HFDistiller",
    "TokenTerm",
    "aligned",
    "check_models",
    "check_tokenizers",
    "instantiate_hf",
    "is_hf_model",
    "method_terms",
    "model_outputs",
    "model_task",
    "output_size",
    "positions",
    "token_loss",
]
