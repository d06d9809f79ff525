"""The standard benchmark suite (protocol ``kdtax-bench/2``), torch-free: regimes, methods and their defaults.

Every method here distils one teacher into one student with the registry's loss components; each runs in
every regime beside the matched student alone (the same pipeline with ``knowledge=[]``, paired by seed).
Defaults are the reference libraries' CIFAR-100 settings, each with its source; where a scale does not
transfer to this benchmark, a validation grid that includes the cited default chooses the weight
(:func:`grid`), on seeds that are never reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROTOCOL = "kdtax-bench/2"
"""Name and version of the benchmark protocol recorded in every results file."""

MDISTILLER = "megvii-research/mdistiller@a08d46f mdistiller/engine/cfg.py"
REPDISTILLER = "HobbitLong/RepDistiller@b0722bc scripts/run_cifar_distill.sh"
CATALOG_DEFAULT = "kdtaxonomy recipe default (no published default for this loss)"


Variant = tuple[tuple[str, float], ...]
"""Hyperparameters of one grid point, e.g. ``(("scale", 10.0),)`` or ``(("scale", 1.0), ("temperature", 2.0))``."""

DEFAULT: Variant = (("scale", 1.0),)
"""The cited defaults."""


@dataclass(frozen=True)
class Share:
    """A stage length as a fraction of the student's step budget, written into the recipe in epochs of the
    regime (``whole``: rounded to whole epochs, at least 1, as the transfer's ``hint_epochs`` takes)."""

    fraction: float
    whole: bool = False

    def epochs(self, steps: int, steps_per_epoch: int) -> float:
        value = self.fraction * steps / steps_per_epoch
        return max(1, round(value)) if self.whole else round(value, 3)


@dataclass(frozen=True)
class Term:
    """One loss term of a method: registry loss ``component`` read at ``location`` with ``weight``."""

    component: str
    location: str
    weight: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """A single-teacher method of the suite with its cited defaults."""

    id: str
    label: str
    terms: tuple[Term, ...]
    ce_weight: float
    source: str
    """Where the weights, CE weight and parameters come from."""
    configuration: str | None
    """The catalog configuration (``id#name``) whose knowledge term this is."""
    published: str | None = None
    """The method's row label in the reference libraries' CIFAR-100 tables (``published_results.tsv``)."""
    grid: tuple[Variant, ...] = (
        (("scale", 0.1),), (("scale", 1.0),), (("scale", 10.0),),
    )  # fmt: skip
    """Variants tried on validation: ``scale`` multiplies every cited weight, ``temperature`` replaces the
    terms' temperature. One variant: nothing to choose (the null control)."""
    transfer: dict[str, Any] | None = None
    """The transfer component (``{"component": ..., "params": {...}}``; None: ``permuted``), e.g. a hint stage."""
    training: dict[str, Any] = field(default_factory=dict)
    """Training fields the method sets (its optimizer), over the regime's budget."""


@dataclass(frozen=True)
class Regime:
    """Where a method has (or has not) something to transfer."""

    id: str
    label: str
    student: dict[str, Any]
    """``{"component": ..., "params": {...}}`` of the student architecture."""
    fraction: float | None
    """Stratified fraction of the training rows the student sees (None: all of them)."""
    steps: int
    batch_size: int
    description: str


TEACHER = {"component": "single", "params": {"model": "cnn1d", "size": "large"}}
"""Every regime's teacher: the 135k-parameter cnn1d, trained on all training rows (shared across regimes)."""

TEACHER_STEPS = 2000
EVAL_EVERY = 50

LOGIT_GRID = (
    (("scale", 0.1),), (("scale", 1.0),), (("scale", 10.0),), (("scale", 1.0), ("temperature", 2.0)),
)  # fmt: skip
"""Grid of the temperature-scaled logit losses: the weight, and T = 2 beside the cited T = 4."""

HINT = Share(1 / 8, whole=True)
"""An initialisation stage (AB, FT, FSP): about an eighth of the budget, the catalog configurations' 8 epochs of
the stand-in's 2000 steps for RepDistiller's 30 initialisation epochs before its 240."""
HINT_STAGE = {"component": "intermediate-layer", "params": {"hint_epochs": HINT}}
HEAD = Share(3 / 69, whole=True)
"""SSKD's head stage: the catalog configuration's 3 epochs of the stand-in's 69 (2000 steps of 29)."""
HEAD_STAGE = {"component": "intermediate-layer", "params": {"hint_epochs": HEAD}}
PAD_SWITCH = Share(3 / 4)
"""PAD-L2 takes over from L2 after three quarters of the budget (torchdistill: 90 of 120 epochs)."""


def _catalog(configuration: str) -> str:
    return f"the catalog configuration {configuration} (whose implementation notes source each value)"


METHODS: tuple[Method, ...] = (
    Method("null-kd", "null control (KD term at weight 0)",
           (Term("soft-label-kd", "output", 0.0, {"temperature": 4.0}),), 1.0,
           "the distilled pipeline with its KD term at weight 0: must equal the student alone",
           None, None, grid=(DEFAULT,)),
    Method("kd", "KD (Hinton et al. 2015)", (Term("soft-label-kd", "output", 0.9, {"temperature": 4.0}),),
           0.1, f"{MDISTILLER} (KD: CE 0.1, KD 0.9, T 4)", "hinton2015-distilling#ex2", "KD", grid=LOGIT_GRID),
    Method("hard-kd", "teacher's hard labels", (Term("hard-label-kd", "output", 1.0),), 1.0,
           CATALOG_DEFAULT, "lu2019-breast-mri#main"),
    Method("fitnets", "FitNets (Romero et al. 2015)", (Term("fitnets", "block2", 100.0),), 1.0,
           f"{MDISTILLER} (FITNET: feat 100, CE 1)", "romero2015-fitnets#main", "FitNet"),
    Method("at", "AT (Zagoruyko & Komodakis 2017)", (Term("attention-transfer", "block2", 1000.0, {"p": 2.0}),),
           1.0, f"{MDISTILLER} (AT: feat 1000, p 2, CE 1)", "zagoruyko2017-attention-transfer#activation-based",
           "AT"),
    Method("sp", "SP (Tung & Mori 2019)", (Term("similarity-preserving", "block2", 3000.0),), 1.0,
           f"{MDISTILLER} (SP: feat 3000, CE 1)", "tung2019-similarity-preserving#main", "SP"),
    Method("cc", "CC (Peng et al. 2019)", (Term("correlation-congruence", "embedding", 0.02),), 1.0,
           f"{REPDISTILLER} (correlation: -r 1 -a 0 -b 0.02)", "peng2019-correlation-congruence#main", "CC",
           grid=((("scale", 1.0),), (("scale", 100.0),), (("scale", 1000.0),))),
    Method("vid", "VID (Ahn et al. 2019)", (Term("vid", "block2", 1.0),), 1.0,
           f"{MDISTILLER} (VID: feat 1, CE 1, init variance 5)", "ahn2019-vid#main", "VID"),
    Method("rkd", "RKD (Park et al. 2019)",
           (Term("rkd-distance", "embedding", 25.0), Term("rkd-angle", "embedding", 50.0)), 1.0,
           f"{MDISTILLER} (RKD: distance 25, angle 50, CE 1)", "park2019-rkd#main", "RKD"),
    Method("pkt", "PKT (Passalis & Tefas 2018)", (Term("pkt", "embedding", 30000.0),), 1.0,
           f"{MDISTILLER} (PKT: feat 30000, CE 1)", "passalis2018-pkt#network-to-network", "PKT"),
    Method("nst", "NST (Huang & Wang 2017)", (Term("nst", "block2", 50.0),), 1.0,
           f"{MDISTILLER} (NST: feat 50, CE 1)", "huang2017-nst#main", "NST"),
    Method("crd", "CRD (Tian et al. 2020)",
           (Term("crd", "embedding", 0.8,
                 {"feat_dim": 128, "num_negatives": 128, "temperature": 0.07, "momentum": 0.5}),), 1.0,
           f"{MDISTILLER} (CRD: feat 0.8, dim 128, T 0.07, momentum 0.5, CE 1; 512 negatives instead of "
           "16384: the memory-bank gather dominates a CPU step)", "tian2020-crd#compression", "CRD"),
    Method("dkd", "DKD (Zhao et al. 2022)",
           (Term("dkd", "output", 1.0, {"alpha": 1.0, "beta": 8.0, "temperature": 4.0,
                                        "warmup_epochs": Share(20 / 240)}),), 1.0,
           f"{MDISTILLER} (DKD: CE 1, alpha 1, beta 8, T 4, warm-up 20 of 240 epochs, kept as that fraction "
           "of the budget)", "zhao2022-dkd#classification", "DKD", grid=LOGIT_GRID),
    Method("cosine", "cosine embedding matching", (Term("cosine-embedding", "embedding", 1.0),), 1.0,
           CATALOG_DEFAULT, "zhang-multimodal-kd#embedding-level"),
    Method("mmd", "MMD of embeddings", (Term("mmd", "embedding", 1.0),), 1.0,
           CATALOG_DEFAULT, "zhang-multimodal-kd#distribution-level"),
    Method("area-rkd", "area-wise RKD (Cho et al. 2023, seed paper 002)",
           (Term("rkd-angle", "embedding", 40.0), Term("rkd-area", "embedding", 20.0)), 1.0,
           "seed paper 002, Table 3 row 'CNN+angle+area (40, 20)' (angle 40, area 20)",
           "cho2023-area-rkd#audio-angle-area"),
    Method("weighted-kd", "confidence-weighted KD", (Term("weighted-kd", "output", 1.0, {"temperature": 4.0}),),
           1.0, CATALOG_DEFAULT, "furlanello2018-born-again#confidence-weighted", grid=LOGIT_GRID),
    Method("conditional-kd", "conditional teacher-student learning (Meng et al. 2019)",
           (Term("conditional-kd", "output", 1.0, {"temperature": 1.0}),), 0.0,
           "Meng et al. 2019 via the catalog's spec (T = 1; the conditional loss holds the label term, so CE "
           "weight 0)", "meng2019-conditional-ts#main"),
    # -- the reference libraries' methods of the knowledge-base issue (settings from their catalog entries) --
    Method("ab", "AB (Heo et al. 2019)",
           (Term("activation-boundary", "block1", 0.0015, {"margin": 1.0, "until_epochs": HINT}),
            Term("activation-boundary", "block2", 0.003, {"margin": 1.0, "until_epochs": HINT})), 1.0,
           f"{REPDISTILLER} via {_catalog('heo2019-activation-boundaries#main')} (margin 1, stage weights "
           "2^(i-n+1) x 3/1000 over the two blocks every student has; the AB terms alone for an eighth of the "
           "budget, as RepDistiller's 30 initialisation epochs before 240, then CE alone)",
           "heo2019-activation-boundaries#main", "AB", transfer=HINT_STAGE),
    Method("ft", "FT (Kim et al. 2018)",
           (Term("factor-transfer", "block2", 3.0,
                 {"p": 1.0, "factor_rate": 0.5, "paraphraser_epochs": HINT}),), 1.0,
           f"{REPDISTILLER} via {_catalog('kim2018-factor-transfer#main')} (paraphrase rate 0.5, p 1, weight "
           "3 for RepDistiller's 200 on its mean over positions; the paraphraser alone for an eighth of the "
           "budget; block2, the suite's feature location)", "kim2018-factor-transfer#main", "FT",
           transfer=HINT_STAGE),
    Method("fsp", "FSP (Yim et al. 2017)", (Term("fsp", "block1&block2", 1.0, {"until_epochs": HINT}),), 1.0,
           f"{REPDISTILLER} via {_catalog('yim2017-fsp#main')} (FSP alone for an eighth of the budget, then "
           "CE alone; the one pair of blocks every student has)", "yim2017-fsp#main", "FSP",
           transfer=HINT_STAGE),
    Method("kdsvd", "KDSVD (Lee et al. 2018)",
           (Term("kdsvd", "block1&block2", 1.0, {"k": 1, "candidates": 1}),), 1.0,
           f"{_catalog('lee2018-kdsvd#main')} (k 1, one candidate; the blocks every student has)",
           "lee2018-kdsvd#main"),
    Method("ofd", "OFD (Heo et al. 2019)",
           (Term("ofd", "preact1", 0.0005), Term("ofd", "preact2", 0.001)), 1.0,
           f"{_catalog('heo2019-ofd#main')} (pre-ReLU features, stage weights halving away from the "
           "deepest of the two stages every student has)", "heo2019-ofd#main"),
    Method("kr", "knowledge review (Chen et al. 2021)",
           (Term("knowledge-review", "block1&block2&embedding", 1.0),), 1.0,
           f"{_catalog('chen2021-knowledge-review#classification')} (weight 1; the blocks every student has "
           "and the embedding)", "chen2021-knowledge-review#classification"),
    Method("dot", "KD + DOT (Zhao et al. 2023)", (Term("soft-label-kd", "output", 0.9, {"temperature": 4.0}),),
           0.1, f"{MDISTILLER} via {_catalog('zhao2023-dot#kd-dot')} (KD: CE 0.1, KD 0.9, T 4; DOT: "
           "momentum 0.9, delta 0.075, lr 0.05, weight decay 5e-4; the seed's teacher is trained by the same "
           "optimizer)", "zhao2023-dot#kd-dot", "KD+DOT", grid=LOGIT_GRID,
           training={"optimizer": "dot", "momentum_delta": 0.075, "lr": 0.05, "weight_decay": 0.0005}),
    Method("tf-kd", "Tf-KD regularisation (Yuan et al. 2020)",
           (Term("tfkd-reg", "output", 0.1, {"correct_prob": 0.99, "temperature": 20.0}),), 0.9,
           f"{_catalog('yuan2020-tf-kd#regularization')} (a virtual teacher: the trained teacher is unused)",
           "yuan2020-tf-kd#regularization"),
    Method("sskd", "SSKD (Xu et al. 2020)",
           (Term("sskd", "embedding&output", 1.0,
                 {"transforms": ["reverse", "negate", "reverse-negate"], "head_epochs": HEAD}),
            Term("soft-label-kd", "output", 0.9, {"temperature": 4.0})), 1.0,
           f"{_catalog('xu2020-sskd#classification')} (torchdistill's weights; the head alone for the "
           "catalog's 3 of 69 epochs)", "xu2020-sskd#classification", transfer=HEAD_STAGE),
    Method("l2", "feature L2 (PAD's baseline)", (Term("feature-l2", "embedding", 15.0),), 1.0,
           f"{_catalog('zhang2020-pad#l2')} (torchdistill's weight 15)", "zhang2020-pad#l2"),
    Method("pad-l2", "PAD-L2 (Zhang et al. 2020)",
           (Term("feature-l2", "embedding", 15.0, {"until_epochs": PAD_SWITCH}),
            Term("pad-l2", "embedding", 1.0, {"from_epochs": PAD_SWITCH})), 1.0,
           f"{_catalog('zhang2020-pad#pad-l2')} (L2 15 for three quarters of the budget, as torchdistill's "
           "90 of 120 epochs, then PAD-L2 1)", "zhang2020-pad#pad-l2"),
    Method("ickd", "ICKD (Liu et al. 2021)",
           (Term("ickd", "block2", 2.0), Term("soft-label-kd", "output", 0.5, {"temperature": 1.0})), 1.0,
           f"{_catalog('liu2021-ickd#classification')}", "liu2021-ickd#classification"),
    Method("dist", "DIST (Huang et al. 2022)",
           (Term("dist", "output", 2.0, {"beta": 1.0, "gamma": 1.0, "temperature": 1.0}),), 1.0,
           f"{_catalog('huang2022-dist#classification')}", "huang2022-dist#classification", grid=LOGIT_GRID),
    Method("srd", "SRD (Miles & Mikolajczyk 2024)",
           (Term("srd", "embedding", 2.0, {"exponent": 4.0}),
            Term("soft-label-kd", "output", 1.0, {"temperature": 1.0})), 1.0,
           f"{_catalog('miles2024-srd#classification')}", "miles2024-srd#classification"),
)  # fmt: skip

TRAIN_ROWS = 3600
"""MNIST-1D's training rows after the validation split (4000 minus 10%): the epoch length of a regime."""

SMALL = {"component": "cnn1d", "params": {"size": "small"}}

REGIMES: tuple[Regime, ...] = (
    Regime("limited-3", "3% of the training rows", SMALL, 0.03, 600, 128,
           "cnn1d-small student on a stratified 3% of the training rows (108; Hinton et al. 2015's "
           "limited-data experiment), full-batch steps; the teacher saw all rows"),
    Regime("limited-10", "10% of the training rows", SMALL, 0.10, 600, 128,
           "cnn1d-small student on a stratified 10% of the training rows (360), batches of 128; the "
           "teacher saw all rows"),
    Regime("capacity", "narrow student, all rows", {"component": "cnn1d", "params": {"size": "tiny", "width": 8}},
           None, 2000, 128,
           "an 8-channel two-block cnn1d (about 1k parameters) on all training rows: about 6 points below the "
           "teacher although it sees every row"),
    Regime("full", "all rows", SMALL, None, 2000, 128,
           "cnn1d-small student on all training rows: within about a point of the teacher, little to transfer"),
)  # fmt: skip


QUICK_DIVISOR = 10
"""``--quick`` divides every step budget by this and skips the grid (cited defaults, 3 seeds)."""

GRID_SEEDS = (1000, 1001)
"""Seeds of the grid search: never among the reported seeds 0..N-1."""


def method(method_id: str) -> Method:
    """The suite method ``method_id`` (KeyError naming the known ones)."""
    for m in METHODS:
        if m.id == method_id:
            return m
    raise KeyError(f"unknown suite method {method_id!r}; known: {', '.join(m.id for m in METHODS)}")


def regime(regime_id: str) -> Regime:
    """The regime ``regime_id`` (KeyError naming the known ones)."""
    for r in REGIMES:
        if r.id == regime_id:
            return r
    raise KeyError(f"unknown regime {regime_id!r}; known: {', '.join(r.id for r in REGIMES)}")


def variant_key(variant: Variant) -> str:
    """Stable text form of a variant: ``scale=10`` or ``scale=1,temperature=2``."""
    return ",".join(f"{k}={v:g}" for k, v in variant)


def recipe_data(
    m: Method, r: Regime, *, variant: Variant = DEFAULT, quick: bool = False, dataset: str = "mnist1d"
) -> dict[str, Any]:
    """The recipe (as plain data for :class:`kdtaxonomy.recipe.Recipe`) of ``m`` in ``r`` at ``variant``
    (weights times its ``scale``, its ``temperature`` if given); ``quick`` divides every budget by
    :data:`QUICK_DIVISOR` (same code path, for CI-sized checks)."""
    chosen = dict(variant)
    scale = chosen.get("scale", 1.0)
    steps = r.steps // QUICK_DIVISOR if quick else r.steps
    teacher_steps = TEACHER_STEPS // QUICK_DIVISOR if quick else TEACHER_STEPS
    rows = round(TRAIN_ROWS * (r.fraction or 1.0))
    per_epoch = max(1, -(-rows // r.batch_size))
    knowledge = []
    for term in m.terms:
        params = dict(term.params)
        if "temperature" in chosen and "temperature" in params:
            params["temperature"] = chosen["temperature"]
        params = _epochs(params, steps, per_epoch)
        knowledge.append(
            {"component": term.component, "location": term.location, "weight": term.weight * scale,
             "params": params}
        )  # fmt: skip
    prep = []
    if r.fraction is not None:
        prep.append({"component": "decrease-data", "params": {"fraction": r.fraction, "target": "student"}})
    return {
        "entry": f"suite:{m.id}",
        "configuration": r.id,
        "dataset": {"component": dataset},
        "data_preparation": prep,
        "teacher": TEACHER,
        "knowledge": knowledge,
        "transfer": _transfer(m, steps, per_epoch),
        "student_model": r.student,
        "student": {"component": "from-scratch"},
        "training": {
            "steps": steps,
            "teacher_steps": teacher_steps,
            "batch_size": r.batch_size,
            "teacher_batch_size": 128,
            "ce_weight": m.ce_weight,
            "eval_every": EVAL_EVERY if not quick else EVAL_EVERY // 2,
            **m.training,
        },
    }


def _epochs(params: dict[str, Any], steps: int, per_epoch: int) -> dict[str, Any]:
    """``params`` with every :class:`Share` written as epochs of the regime."""
    return {k: v.epochs(steps, per_epoch) if isinstance(v, Share) else v for k, v in params.items()}


def _transfer(m: Method, steps: int, per_epoch: int) -> dict[str, Any]:
    if m.transfer is None:
        return {"component": "permuted"}
    return {
        "component": m.transfer["component"],
        "params": _epochs(m.transfer.get("params", {}), steps, per_epoch),
    }
