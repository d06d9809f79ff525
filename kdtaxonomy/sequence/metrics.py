"""Translation metrics over token-id (or word) sequences, all in percent.

* exact match: the share of hypotheses identical to their reference;
* token accuracy: position-wise over each reference and its end: position ``j < len(ref)`` is right when
  ``hyp[j] == ref[j]``, and the end position when ``len(hyp) == len(ref)``; micro-averaged over the corpus
  (``sum of right positions / sum of (len(ref) + 1)``). A hypothesis scores 100 exactly when it matches;
  a shorter one loses the missing positions, a longer one the end position;
* corpus BLEU (Papineni et al. 2002) and chrF (Popovic 2015) by sacrebleu on space-joined words, with
  ``tokenize="none"`` (the words are already tokens); sentence BLEU is sacrebleu's smoothed
  ``sentence_bleu`` (``exp`` smoothing, Chen & Cherry 2014), the similarity of Kim & Rush's Seq-Inter.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any


def exact_match(hyps: Sequence[Sequence[Hashable]], refs: Sequence[Sequence[Hashable]]) -> float:
    _check(hyps, refs)
    return 100.0 * sum(list(h) == list(r) for h, r in zip(hyps, refs, strict=True)) / max(len(refs), 1)


def token_accuracy(hyps: Sequence[Sequence[Hashable]], refs: Sequence[Sequence[Hashable]]) -> float:
    _check(hyps, refs)
    right = total = 0
    for h, r in zip(hyps, refs, strict=True):
        right += sum(j < len(h) and h[j] == r[j] for j in range(len(r))) + (len(h) == len(r))
        total += len(r) + 1
    return 100.0 * right / max(total, 1)


def _sacrebleu() -> Any:
    try:
        import sacrebleu
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("BLEU and chrF need sacrebleu: pip install 'kdtaxonomy[sequence]'") from exc
    return sacrebleu


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """sacrebleu corpus BLEU of space-joined hypotheses against one reference each."""
    _check(hyps, refs)
    return float(_sacrebleu().corpus_bleu(list(hyps), [list(refs)], tokenize="none").score)


def corpus_chrf(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """sacrebleu chrF (character 6-grams, beta 2) against one reference each."""
    _check(hyps, refs)
    return float(_sacrebleu().corpus_chrf(list(hyps), [list(refs)]).score)


def sentence_bleu(hyp: str, ref: str) -> float:
    """Smoothed sentence-level BLEU (sacrebleu ``sentence_bleu``: ``exp`` smoothing)."""
    return float(_sacrebleu().sentence_bleu(hyp, [ref], tokenize="none").score)


def translation_scores(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Exact match (``accuracy``), ``token_accuracy``, ``bleu`` and ``chrf`` of space-joined sentences."""
    h, r = [s.split() for s in hyps], [s.split() for s in refs]
    return {
        "accuracy": exact_match(h, r),
        "token_accuracy": token_accuracy(h, r),
        "bleu": corpus_bleu(hyps, refs),
        "chrf": corpus_chrf(hyps, refs),
    }


def _check(hyps: Sequence[Any], refs: Sequence[Any]) -> None:
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
