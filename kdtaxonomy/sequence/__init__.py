"""An embedded sequence benchmark for Kim & Rush 2016, "Sequence-Level Knowledge Distillation" (EMNLP):
a generated translation task between two synthetic languages (:mod:`.task`), a small transformer
encoder-decoder (:mod:`.models`), greedy and beam-search decoding (:mod:`.decode`), translation metrics
(:mod:`.metrics`), word-level KD, sequence-level KD and sequence-level interpolation (:mod:`.kd`) and a
runner that trains teacher, student alone and distilled student (:mod:`.run`). Needs torch and sacrebleu
(``pip install 'kdtaxonomy[train,sequence]'``)."""
