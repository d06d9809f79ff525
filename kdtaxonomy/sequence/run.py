"""One run of the sequence benchmark: teacher, student alone and distilled student (Kim & Rush 2016).

``run_sequence(method, seed, teacher_steps=..., steps=..., params=...)`` generates the task, trains (or loads
from the cache) the teacher and the student alone, trains the student by ``method`` from the same
initialisation, with the same batch order and number of steps as the student alone (the matched baseline,
paired by seed), selects every model on the validation split and reads the test split once, at the end.

The teacher, the student alone and the teacher's K-best lists of the training sources are cached under
``cache_dir()/models`` and ``cache_dir()/sequence``, keyed by what determines them (task digest, model and
training settings, seed, torch version and thread count; :func:`kdtaxonomy.model_cache.model_key`).

Command line: ``python -m kdtaxonomy.sequence.run --method seq-kd --seed 0`` prints the result as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields, replace
from typing import Any

import torch

from kdtaxonomy.folders import cache_dir
from kdtaxonomy.model_cache import model_key, model_lock, write_provenance
from kdtaxonomy.sequence.decode import Hypothesis, beam_search, greedy
from kdtaxonomy.sequence.kd import (
    METHODS,
    method_params,
    seq_inter_targets,
    seq_kd_targets,
    teacher_distributions,
    teacher_kbest,
    word_kd_batch_loss,
)
from kdtaxonomy.sequence.metrics import exact_match, translation_scores
from kdtaxonomy.sequence.models import STUDENT, TEACHER, ModelConfig, Seq2SeqTransformer, parameter_count
from kdtaxonomy.sequence.onpolicy import ON_POLICY, onpolicy_step_loss
from kdtaxonomy.sequence.task import SequenceTask, TaskConfig, make_task
from kdtaxonomy.sequence.training import BatchLoss, FitConfig, FitResult, StepLoss, fit, nll_batch_loss
from kdtaxonomy.yamlio import atomic_writer

TEACHER_STEPS, STUDENT_STEPS = 600, 2000
"""Default budgets: about 3 minutes (teacher) and 1.5 minutes (student) on one CPU thread."""


def _config(cls: Any, value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, cls):
        return value
    unknown = sorted(set(value) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"{cls.__name__} has no setting {', '.join(unknown)}")
    return replace(default, **dict(value))


def _train_cached(
    role: str,
    key: str,
    model: Seq2SeqTransformer,
    train: Callable[[], FitResult],
    about: dict[str, Any],
    cache: bool,
) -> tuple[FitResult, bool]:
    """Load ``model`` and its fit record cached under ``key``, or train and cache them; (record, hit)."""
    if not cache:
        return train(), False
    path = cache_dir() / "models" / f"{key}.pt"
    with model_lock(path):
        record = path.with_suffix(".json")
        if path.is_file() and record.is_file():
            try:
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
                found = FitResult.from_json(json.loads(record.read_text(encoding="utf-8"))["fit"])
                model.eval()
                return found, True
            except (RuntimeError, OSError, EOFError, ValueError, KeyError, TypeError):
                pass
        result = train()
        with atomic_writer(path, "wb") as handle:
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, handle)
        write_provenance(path, key, {"model": f"sequence {role}", **about, "fit": result.to_json()})
    return result, False


def _kbest_cached(
    key: str, compute: Callable[[], list[list[Hypothesis]]], cache: bool
) -> tuple[list[list[Hypothesis]], bool]:
    if not cache:
        return compute(), False
    path = cache_dir() / "sequence" / f"{key}.json"
    with model_lock(path):
        if path.is_file():
            try:
                rows = json.loads(path.read_text(encoding="utf-8"))
                return [[Hypothesis(list(t), float(lp), float(s)) for t, lp, s in row] for row in rows], True
            except (OSError, ValueError, TypeError):
                pass
        kbest = compute()
        with atomic_writer(path) as handle:
            json.dump([[[h.tokens, h.log_prob, h.score] for h in row] for row in kbest], handle)
    return kbest, False


def _scores(task: SequenceTask, model: Seq2SeqTransformer, beam: int, max_len: int) -> dict[str, float]:
    """Test metrics: beam search with ``beam`` (the names without a prefix) and greedy (``greedy_*``);
    ``mode_accuracy`` is the exact match against the mode translation (``canonical_test``), a diagnostic."""
    refs = [task.target_text(t) for t in task.test.tgt]
    out: dict[str, float] = {}
    for prefix, hyps in (
        ("", [h[0].tokens for h in beam_search(model, task.test.src, beam, max_len=max_len)]),
        ("greedy_", greedy(model, task.test.src, max_len)),
    ):
        scores = translation_scores([task.target_text(h) for h in hyps], refs)
        scores["mode_accuracy"] = exact_match(hyps, task.canonical_test)
        out |= {f"{prefix}{k}": v for k, v in scores.items()}
    return out


def run_sequence(
    method: str,
    seed: int = 0,
    *,
    teacher_steps: int = TEACHER_STEPS,
    steps: int = STUDENT_STEPS,
    params: Mapping[str, float | int] | None = None,
    task: TaskConfig | Mapping[str, Any] | None = None,
    teacher: ModelConfig | Mapping[str, Any] | None = None,
    student: ModelConfig | Mapping[str, Any] | None = None,
    batch_size: int = 64,
    teacher_lr: float = 1e-3,
    lr: float = 2e-3,
    eval_every: int = 100,
    eval_beam: int = 5,
    max_len: int = 40,
    cache: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate teacher, student alone and the student distilled by ``method`` (one of
    ``METHODS``: student-alone, word-kd, seq-kd, seq-inter, and the on-policy gkd, minillm, distillm of
    :mod:`kdtaxonomy.sequence.onpolicy`) with ``params`` over the method's defaults.

    Metrics are on the test split, in percent: ``*_accuracy`` exact match, ``*_token_accuracy``,
    ``*_bleu``, ``*_chrf`` with beam search (``eval_beam``), and the same with greedy decoding
    (``*_greedy_*``), for ``teacher``, ``student_baseline`` (the student alone) and ``student``.
    """
    start = time.perf_counter()
    say = log or (lambda _msg: None)
    mparams = method_params(method, dict(params or {}))
    task_cfg: TaskConfig = _config(TaskConfig, task, TaskConfig())
    t_cfg: ModelConfig = _config(ModelConfig, teacher, TEACHER)
    s_cfg: ModelConfig = _config(ModelConfig, student, STUDENT)
    data = make_task(task_cfg)
    digest = data.digest()
    n_src, n_tgt = len(data.src_vocab), len(data.tgt_vocab)
    valid = (data.valid.src, data.valid.tgt)
    t_fit = FitConfig(teacher_steps, batch_size, teacher_lr, eval_every=eval_every, max_len=max_len)
    s_fit = FitConfig(steps, batch_size, lr, eval_every=eval_every, max_len=max_len)

    torch.manual_seed(seed * 131 + 1)
    teacher_model = Seq2SeqTransformer(n_src, n_tgt, t_cfg)
    t_key = model_key("sequence-teacher/1", digest, asdict(t_cfg), asdict(t_fit), seed)
    say(f"teacher {t_key}")
    t_result, t_hit = _train_cached(
        "teacher", t_key, teacher_model,
        lambda: fit(teacher_model, data.train.src, data.train.tgt, t_fit, seed=seed * 131 + 1, valid=valid, log=log),
        {"data_digest": digest}, cache,
    )  # fmt: skip

    def new_student() -> Seq2SeqTransformer:
        torch.manual_seed(seed * 131 + 2)  # the same initialisation for the student alone and distilled
        return Seq2SeqTransformer(n_src, n_tgt, s_cfg)

    baseline = new_student()
    b_key = model_key("sequence-student-alone/1", digest, asdict(s_cfg), asdict(s_fit), seed)
    say(f"student alone {b_key}")
    b_result, b_hit = _train_cached(
        "student alone", b_key, baseline,
        lambda: fit(baseline, data.train.src, data.train.tgt, s_fit, seed=seed * 131 + 2, valid=valid, log=log),
        {"data_digest": digest}, cache,
    )  # fmt: skip

    extra: dict[str, Any] = {}
    targets = data.train.tgt
    loss: BatchLoss = nll_batch_loss
    step_loss: StepLoss | None = None
    if method == "word-kd":
        dists = teacher_distributions(teacher_model, data.train.src, data.train.tgt)
        loss = word_kd_batch_loss(dists, float(mparams["alpha"]), float(mparams["temperature"]))
    elif method in ("seq-kd", "seq-inter"):
        beam, lp = int(mparams["beam"]), float(mparams["length_penalty"])
        k_key = model_key("sequence-kbest/1", t_key, beam, lp, max_len)
        say(f"teacher {beam}-best lists of the training sources {k_key}")
        kbest, k_hit = _kbest_cached(
            k_key, lambda: teacher_kbest(teacher_model, data.train.src, beam, lp, max_len), cache
        )
        if method == "seq-kd":
            targets = seq_kd_targets(kbest)
        else:
            targets, ranks = seq_inter_targets(kbest, data.train.tgt, data.target_text)
            extra["inter_rank_mean"] = sum(ranks) / len(ranks)
            extra["inter_not_top_share"] = 100.0 * sum(r > 0 for r in ranks) / len(ranks)
        same = sum(a == b for a, b in zip(targets, data.train.tgt, strict=True))
        extra["targets_equal_reference"] = 100.0 * same / len(targets)
        extra["kbest_cached"] = k_hit
    elif method in ON_POLICY:
        step_loss, extra["on_policy"] = onpolicy_step_loss(
            method, mparams, teacher_model, data.train.src, data.train.tgt, valid=valid, steps=steps,
            batch_size=batch_size, max_len=max_len, seed=seed * 131 + 3,
        )  # fmt: skip

    if method == "student-alone":
        student_model, s_result = baseline, b_result
    else:
        student_model = new_student()
        say(f"student by {method}")
        s_result = fit(
            student_model,
            data.train.src,
            targets,
            s_fit,
            seed=seed * 131 + 2,
            valid=valid,
            loss=loss,
            step_loss=step_loss,
            log=log,
        )

    say("test split")
    scores = {
        "teacher": _scores(data, teacher_model, eval_beam, max_len),
        "student_baseline": _scores(data, baseline, eval_beam, max_len),
    }
    scores["student"] = (
        scores["student_baseline"]
        if method == "student-alone"
        else _scores(data, student_model, eval_beam, max_len)
    )
    canonical = translation_scores(
        [data.target_text(t) for t in data.canonical_test], [data.target_text(t) for t in data.test.tgt]
    )
    result: dict[str, Any] = {"method": method, "seed": seed, "params": mparams}
    for role, values in scores.items():
        result |= {f"{role}_{k}": round(v, 3) for k, v in values.items()}
    result |= {f"oracle_{k}": round(v, 3) for k, v in canonical.items()}
    result |= {
        "seconds": round(time.perf_counter() - start, 2),
        "teacher_seconds": t_result.seconds,
        "student_baseline_seconds": b_result.seconds,
        "student_seconds": s_result.seconds,
        "teacher_cached": t_hit,
        "student_baseline_cached": b_hit,
        "best_steps": {"teacher": t_result.best_step, "student_baseline": b_result.best_step, "student": s_result.best_step},
        "curves": {"teacher": t_result.curve, "student_baseline": b_result.curve, "student": s_result.curve},
        "budget": {"teacher_steps": teacher_steps, "steps": steps, "batch_size": batch_size, "teacher_lr": teacher_lr,
                   "lr": lr, "eval_every": eval_every, "eval_beam": eval_beam, "max_len": max_len,
                   "threads": torch.get_num_threads()},
        "models": {"teacher": asdict(t_cfg), "student": asdict(s_cfg),
                   "teacher_parameters": parameter_count(teacher_model),
                   "student_parameters": parameter_count(student_model)},
        "task": {**asdict(task_cfg), "digest": digest, "src_vocab": n_src, "tgt_vocab": n_tgt},
        **extra,
    }  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kdtaxonomy.sequence.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--method", choices=list(METHODS), required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher-steps", type=int, default=TEACHER_STEPS)
    parser.add_argument("--steps", type=int, default=STUDENT_STEPS)
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a method parameter"
    )
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    params: dict[str, float | int] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--param {item!r}: expected NAME=VALUE")
        params[name] = json.loads(value)
    torch.set_num_threads(args.threads)
    log = (lambda msg: print(msg, file=sys.stderr, flush=True)) if args.verbose else None
    try:
        result = run_sequence(
            args.method, args.seed, teacher_steps=args.teacher_steps, steps=args.steps, params=params,
            eval_every=args.eval_every, cache=not args.no_cache, log=log,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
