"""Specs of the distillation losses (kind ``loss``), importable without torch.

Each spec is the parameter model of one registered loss module (``kdtaxonomy.losses``), which registers
itself with ``@register(spec=TheSpec, needs=..., inputs=...)``. The field docstrings are the parameter
documentation shown by the catalog.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from kdtaxonomy.specs import Spec

DEFAULT_BANDWIDTHS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Default standard deviations of the summed Gaussian kernels of the MMD loss."""


class LossSpec(Spec):
    """Base of the loss specs."""

    kind: ClassVar[str] = "loss"
    maps: ClassVar[tuple[int, int | None]] = (1, 1)
    """Fewest and most feature maps the loss reads per model (most None: no limit); several maps are a
    location ``a&b`` (:mod:`kdtaxonomy.location_names`)."""


# --- logits ------------------------------------------------------------------------------------------------


class SoftLabelKDSpec(LossSpec):
    """Soft-label KD: Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"."""

    key: ClassVar[str] = "soft-label-kd"
    term: ClassVar[str | None] = "soft-labels"

    temperature: float = Field(default=4.0, gt=0)
    """Softmax temperature T (also scales the loss by T^2)."""


class HardLabelKDSpec(LossSpec):
    """Hard-label KD: cross-entropy against the teacher's argmax (Hinton et al. 2015, "Distilling the
    Knowledge in a Neural Network", hard targets)."""

    key: ClassVar[str] = "hard-label-kd"
    term: ClassVar[str | None] = "hard-labels"


class ConditionalKDSpec(LossSpec):
    """Conditional teacher-student learning: Meng et al. 2019, "Conditional Teacher-Student Learning"
    (ICASSP)."""

    key: ClassVar[str] = "conditional-kd"
    term: ClassVar[str | None] = "soft-labels"

    temperature: float = Field(default=1.0, gt=0)
    """Temperature of the soft branch (Meng et al.: 1)."""


class WeightedKDSpec(LossSpec):
    """Teacher-confidence-weighted soft-label KD (Hinton et al. 2015, "Distilling the Knowledge in a Neural
    Network", with per-sample weights from the teacher's confidence in the true class)."""

    key: ClassVar[str] = "weighted-kd"
    term: ClassVar[str | None] = "soft-labels"

    temperature: float = Field(default=4.0, gt=0)
    """Softmax temperature T (also scales the loss by T^2)."""


class MultiTeacherKDSpec(LossSpec):
    """Multi-teacher KD with a weighted ensemble of soft targets: You et al. 2017, "Learning from Multiple
    Teacher Networks" (KDD)."""

    key: ClassVar[str] = "multi-teacher-kd"
    term: ClassVar[str | None] = "soft-labels"

    temperature: float = Field(default=4.0, gt=0)
    """Softmax temperature T (also scales the loss by T^2)."""
    weights: list[float] | None = None
    """Non-negative teacher weights (normalised to sum 1); None = uniform."""


class DKDSpec(LossSpec):
    """Decoupled KD: Zhao et al. 2022, "Decoupled Knowledge Distillation" (CVPR); paper defaults for
    CIFAR-100."""

    key: ClassVar[str] = "dkd"
    term: ClassVar[str | None] = "soft-labels"

    alpha: float = Field(default=1.0, ge=0)
    """Weight of target-class KD (TCKD)."""
    beta: float = Field(default=8.0, ge=0)
    """Weight of non-target-class KD (NCKD)."""
    temperature: float = Field(default=4.0, gt=0)
    """Softmax temperature T (each part is scaled by T^2)."""
    warmup_epochs: float = Field(default=20, ge=0)
    """Linear warm-up length in epochs (mdistiller's CIFAR-100 default: 20 of 240 epochs): the loss is
    multiplied by ``min(epochs elapsed / warmup_epochs, 1)``, the epochs elapsed being reported by the
    distiller at every step (DKD.set_progress). 0 disables the warm-up."""


class DISTSpec(LossSpec):
    """DIST: Huang et al. 2022, "Knowledge Distillation from A Stronger Teacher" (NeurIPS); defaults of the
    authors' ImageNet setting (beta = gamma = 1, tau = 1)."""

    key: ClassVar[str] = "dist"
    term: ClassVar[str | None] = "relations"

    beta: float = Field(default=1.0, ge=0)
    """Weight of the inter-class relation loss (per-sample Pearson distance of the class probabilities)."""
    gamma: float = Field(default=1.0, ge=0)
    """Weight of the intra-class relation loss (per-class Pearson distance across the batch)."""
    temperature: float = Field(default=1.0, gt=0)
    """Softmax temperature tau (each part is scaled by tau^2)."""


class TfKDRegSpec(LossSpec):
    """Tf-KD_reg: Yuan et al. 2020, "Revisiting Knowledge Distillation via Label Smoothing Regularization"
    (CVPR); defaults of the authors' CIFAR-100 ResNet-18 setting."""

    key: ClassVar[str] = "tfkd-reg"
    term: ClassVar[str | None] = "soft-labels"

    correct_prob: float = Field(default=0.99, gt=0, lt=1)
    """Probability a of the correct class in the virtual teacher (the others share 1 - a equally)."""
    temperature: float = Field(default=20.0, gt=0)
    """Temperature tau softening the virtual teacher (softmax(p^d / tau), as the authors' code)."""


class DMLSpec(LossSpec):
    """Deep mutual learning: Zhang et al. 2018, "Deep Mutual Learning" (CVPR)."""

    key: ClassVar[str] = "dml"
    term: ClassVar[str | None] = "soft-labels"

    temperature: float = Field(default=1.0, gt=0)
    """Softmax temperature (DML uses plain softmax, T=1)."""


# --- features ----------------------------------------------------------------------------------------------


class FitNetsSpec(LossSpec):
    """FitNets hint loss: Romero et al. 2015, "FitNets: Hints for Thin Deep Nets" (ICLR)."""

    key: ClassVar[str] = "fitnets"
    term: ClassVar[str | None] = "deep-features"


class ICKDSpec(LossSpec):
    """ICKD: Liu et al. 2021, "Exploring Inter-Channel Correlation for Diversity-Preserved Knowledge
    Distillation" (ICCV); the inter-channel correlation matrices of the (embedded) student and the teacher."""

    key: ClassVar[str] = "ickd"
    term: ClassVar[str | None] = "similarity-matrix"


class FSPSpec(LossSpec):
    """FSP: Yim et al. 2017, "A Gift from Knowledge Distillation: Fast Optimization, Network Minimization and
    Transfer Learning" (CVPR); the flow-of-solution-procedure matrices between the two maps of a location
    ``a&b`` (Eq. 1) of the student and the teacher, matched by Eq. (2). A single map ``a`` gives the map's
    matrix with itself (not the paper's; kept for earlier recipes)."""

    key: ClassVar[str] = "fsp"
    term: ClassVar[str | None] = "similarity-matrix"
    maps: ClassVar[tuple[int, int | None]] = (1, 2)

    until_epochs: float | None = Field(default=None, gt=0)
    """Epochs after which the term is switched off (the paper's two stages: with the transfer's
    ``hint_epochs`` equal to it, stage 1 trains on the FSP loss alone and stage 2 on the cross-entropy
    alone); None: the term stays on. Needs the distiller's progress; without it the term is always on."""


class KDSVDSpec(LossSpec):
    """KD-SVD: Lee, Kim & Song 2018, "Self-supervised Knowledge Distillation Using Singular Value
    Decomposition" (ECCV); the leading right singular vectors of each map, the student's sign-aligned to
    the teacher's, and the radial-basis-function correlation between those of consecutive maps of a
    location ``a&b`` (``a&b&c``: each consecutive pair)."""

    key: ClassVar[str] = "kdsvd"
    term: ClassVar[str | None] = "similarity-matrix"
    maps: ClassVar[tuple[int, int | None]] = (2, None)

    k: int = Field(default=1, ge=1)
    """Singular vectors kept per map (the authors' ECCV code and mdistiller: 1)."""
    candidates: int = Field(default=1, ge=0)
    """Extra leading student singular vectors among which each teacher vector's match is searched (the
    authors' ECCV code: 1; mdistiller: 3)."""
    sigma: float = Field(default=8.0, gt=0)
    """Denominator of the radial basis function exp(-(a - b)^2 / sigma) (the authors' code: 8)."""


class ActivationBoundarySpec(LossSpec):
    """AB: Heo et al. 2019, "Knowledge Transfer via Distillation of Activation Boundaries Formed by Hidden
    Neurons" (AAAI); the alternative (margin, squared hinge) activation-transfer loss through a connector."""

    key: ClassVar[str] = "activation-boundary"
    term: ClassVar[str | None] = "deep-features"

    margin: float = Field(default=1.0, gt=0)
    """Margin mu of the alternative loss (RepDistiller's default: 1)."""
    until_epochs: float | None = Field(default=None, gt=0)
    """Epochs after which the term is switched off (AB as initialisation: with the transfer's
    ``hint_epochs`` equal to it, stage 1 trains on the AB loss alone and stage 2 on the cross-entropy
    alone); None: the term stays on. Needs the distiller's progress; without it the term is always on."""


class OFDSpec(LossSpec):
    """OFD: Heo et al. 2019, "A Comprehensive Overhaul of Feature Distillation" (ICCV); the partial L2
    distance between the connected student's pre-ReLU features and the teacher's through the margin ReLU."""

    key: ClassVar[str] = "ofd"
    term: ClassVar[str | None] = "deep-features"

    margin_estimate: Literal["gaussian", "empirical"] = "gaussian"
    """How the per-channel margin m = E(x | x < 0) of the teacher's responses is estimated from the
    responses the term sees: ``gaussian``, the paper's closed form under a Gaussian assumption with their
    running mean and standard deviation (the paper takes these from the teacher's batch normalisation
    before the location); ``empirical``, the running mean of the negative responses."""


class FactorTransferSpec(LossSpec):
    """FT: Kim, Park & Kwak 2018, "Paraphrasing Complex Network: Network Compression via Factor Transfer"
    (NeurIPS); a teacher-side paraphraser (autoencoder) gives factors that a student-side translator matches."""

    key: ClassVar[str] = "factor-transfer"
    term: ClassVar[str | None] = "deep-features"

    p: float = Field(default=1.0, ge=1)
    """Order p of the norm of the difference of the L2-normalised factors (paper: 1)."""
    factor_rate: float = Field(default=0.5, gt=0)
    """Paraphrase rate k: the factors have ``max(1, int(k * C_teacher))`` channels (RepDistiller: 0.5)."""
    paraphraser_epochs: float = Field(default=0.0, ge=0)
    """Epochs of paraphraser training first: the term returns only the paraphraser's reconstruction loss
    until then, and afterwards only the FT loss, with the paraphraser frozen (with the transfer's
    ``hint_epochs`` equal to it, the student is not trained in that phase, as in the paper's separate
    pre-training). 0: no phase; the reconstruction loss trains the paraphraser beside the FT loss throughout."""


class FeatureL2Spec(LossSpec):
    """Feature L2: the plain L2 feature-distillation baseline of Zhang et al. 2020, "Prime-Aware Adaptive
    Distillation" (ECCV), torchdistill's ``L2``: the mean squared error between the student's and the
    teacher's feature vectors."""

    key: ClassVar[str] = "feature-l2"
    term: ClassVar[str | None] = "deep-features"

    until_epochs: float | None = Field(default=None, gt=0)
    """Epochs after which the term is switched off (the first of PAD-L2's two stages, with ``pad-l2``'s
    ``from_epochs`` equal to it); None: the term stays on. Needs the distiller's progress; without it the
    term is always on."""


class PADL2Spec(LossSpec):
    """PAD-L2: Zhang et al. 2020, "Prime-Aware Adaptive Distillation" (ECCV); the feature L2 term weighted
    by a learned per-sample, per-feature uncertainty of the student, with its log-variance regulariser."""

    key: ClassVar[str] = "pad-l2"
    term: ClassVar[str | None] = "deep-features"

    eps: float = Field(default=1e-6, gt=0)
    """Added to the variance in the denominator (torchdistill's ``eps``)."""
    from_epochs: float | None = Field(default=None, gt=0)
    """Epochs before which the term is off (0), then on: PAD-L2's second stage, after a ``feature-l2``
    stage with ``until_epochs`` equal to it (torchdistill trains L2 first, then PAD-L2 from that student);
    None: on throughout. Needs the distiller's progress; without it the term is always on."""


class SRDSpec(LossSpec):
    """SRD: Miles & Mikolajczyk 2024, "Understanding the Role of the Projector in Knowledge Distillation"
    (AAAI); the student's feature through a linear projector, both sides batch-normalised, compared by the
    log of the summed powers of their differences."""

    key: ClassVar[str] = "srd"
    term: ClassVar[str | None] = "deep-features"

    exponent: float = Field(default=4.0, gt=0)
    """Power alpha of the absolute differences under the log (the authors' and torchdistill's ImageNet: 4)."""
    eps: float = Field(default=1e-4, gt=0)
    """Added to the batch variance of the normalisation (the authors' batch norm: 1e-4)."""


class KnowledgeReviewSpec(LossSpec):
    """KR: Chen et al. 2021, "Distilling Knowledge via Knowledge Review" (CVPR); the student's features of
    several levels (a location ``a&b&...``, shallowest first) fused from the deepest by attention-based
    fusion, each fused level matched to the teacher's by the hierarchical context loss."""

    key: ClassVar[str] = "knowledge-review"
    term: ClassVar[str | None] = "deep-features"
    maps: ClassVar[tuple[int, int | None]] = (2, None)

    mid_channels: int | None = Field(default=None, ge=1)
    """Channels of the fused maps; None: the deepest student level's channels, at most 512 (the authors'
    CIFAR rule; their ImageNet ResNet-18 student uses 512)."""
    pool_sizes: tuple[int, ...] = Field(default=(4, 2, 1), min_length=0)
    """Sizes the hierarchical context loss also average-pools both maps to (those below the map's size),
    weighted 1/2, 1/4, ... after the full-size term (the authors' 4, 2, 1)."""
    warmup_epochs: float = Field(default=0.0, ge=0)
    """Linear warm-up of the loss over this many epochs (the authors' CIFAR-100 code: 20 of 240); 0: none,
    as in torchdistill's ImageNet setting. Needs the distiller's progress; without it there is none."""


class AssistantFeatureMatchingSpec(LossSpec):
    """Assistant feature matching: the feature term of Eq. (5) of seed paper 004 (Ghosh Dastidar et al.,
    teacher -> Conv-LSTM assistant -> CNN student)."""

    key: ClassVar[str] = "assistant-feature-matching"
    term: ClassVar[str | None] = "deep-features"

    lam: float = Field(default=0.4, ge=0)
    """Weight lambda of the feature KL term (paper: 0.4)."""


class AttentionTransferSpec(LossSpec):
    """Attention transfer: Zagoruyko & Komodakis 2017, "Paying More Attention to Attention" (ICLR)."""

    key: ClassVar[str] = "attention-transfer"
    term: ClassVar[str | None] = "attention-maps"

    p: float = Field(default=2.0, gt=0)
    """Exponent of the activation-based attention map (paper: 2)."""


class SimilarityPreservingSpec(LossSpec):
    """Similarity-preserving KD: Tung & Mori 2019, "Similarity-Preserving Knowledge Distillation" (ICCV)."""

    key: ClassVar[str] = "similarity-preserving"
    term: ClassVar[str | None] = "similarity-matrix"


class VIDSpec(LossSpec):
    """Variational information distillation: Ahn et al. 2019, "Variational Information Distillation for
    Knowledge Transfer" (CVPR)."""

    key: ClassVar[str] = "vid"
    term: ClassVar[str | None] = "mutual-information"

    init_variance: float = Field(default=5.0, gt=0)
    """Initial per-channel variance sigma_c^2 (alpha initialised to match)."""
    eps: float = Field(default=1e-5, gt=0)
    """Variance floor eps in sigma_c^2 = softplus(alpha_c) + eps."""
    hidden: int | None = Field(default=None, ge=1)
    """Hidden width of the mean regressor (None = teacher channels/size)."""


class NSTSpec(LossSpec):
    """Neuron selectivity transfer: Huang & Wang 2017, "Like What You Like: Knowledge Distill via Neuron
    Selectivity Transfer"."""

    key: ClassVar[str] = "nst"
    term: ClassVar[str | None] = "distributions"


# --- embeddings --------------------------------------------------------------------------------------------


class CorrelationCongruenceSpec(LossSpec):
    """Correlation congruence: Peng et al. 2019, "Correlation Congruence for Knowledge Distillation"
    (ICCV)."""

    key: ClassVar[str] = "correlation-congruence"
    term: ClassVar[str | None] = "relations"

    gamma: float = Field(default=0.4, gt=0)
    """RBF kernel width gamma in exp(-gamma ||x-y||^2) (paper: 0.4)."""
    order: int | None = Field(default=2, ge=0)
    """Taylor expansion order P of the kernel (paper: 2); None = exact Gaussian kernel."""


class PKTSpec(LossSpec):
    """Probabilistic knowledge transfer: Passalis & Tefas 2018, "Learning Deep Representations with
    Probabilistic Knowledge Transfer" (ECCV)."""

    key: ClassVar[str] = "pkt"
    term: ClassVar[str | None] = "distributions"

    eps: float = Field(default=1e-7, gt=0)
    """Numerical epsilon in the normalisation and the logarithm."""


class RKDDistanceSpec(LossSpec):
    """Distance-wise RKD: Park et al. 2019, "Relational Knowledge Distillation" (CVPR)."""

    key: ClassVar[str] = "rkd-distance"
    term: ClassVar[str | None] = "relations"


class RKDAngleSpec(LossSpec):
    """Angle-wise RKD: Park et al. 2019, "Relational Knowledge Distillation" (CVPR)."""

    key: ClassVar[str] = "rkd-angle"
    term: ClassVar[str | None] = "relations"

    chunk_size: int | None = Field(default=None, ge=1)
    """Anchors per chunk (memory bound); None = chosen from B and D."""


class RKDAreaSpec(LossSpec):
    """Area-wise RKD: seed paper 002, Cho, Park & Lim 2023, "Area-wise relational knowledge distillation"."""

    key: ClassVar[str] = "rkd-area"
    term: ClassVar[str | None] = "relations"


class MMDSpec(LossSpec):
    """Maximum mean discrepancy of the embeddings: seed paper 003, Zhang, Chen & Qian, "Knowledge Distillation from
    Multi-Modality to Single-Modality for Person Verification", Eq. (5)-(6)."""

    key: ClassVar[str] = "mmd"
    term: ClassVar[str | None] = "distributions"

    bandwidths: tuple[float, ...] = Field(default=DEFAULT_BANDWIDTHS, min_length=1)
    """Standard deviations sigma of the summed Gaussian kernels (seed paper 003 uses 5 kernels; their widths are
    not reported)."""


class CosineEmbeddingSpec(LossSpec):
    """Cosine embedding distillation: seed paper 003, Zhang, Chen & Qian, "Knowledge Distillation from
    Multi-Modality to Single-Modality for Person Verification", Eq. (4)."""

    key: ClassVar[str] = "cosine-embedding"
    term: ClassVar[str | None] = "embeddings"


class CRDSpec(LossSpec):
    """Contrastive representation distillation: Tian, Krishnan & Isola 2020, "Contrastive Representation
    Distillation" (ICLR); paper defaults."""

    key: ClassVar[str] = "crd"
    term: ClassVar[str | None] = "contrastive-representations"

    feat_dim: int = Field(default=128, ge=1)
    """Dimension of the L2-normalised embedding heads."""
    num_negatives: int = Field(default=4096, ge=1)
    """Negatives K per positive (capped at num_samples - 1)."""
    temperature: float = Field(default=0.07, gt=0)
    """NCE temperature tau."""
    momentum: float = Field(default=0.5, ge=0, le=1)
    """Momentum of the memory-bank update."""


SSKDTransform = Literal["reverse", "negate", "reverse-negate", "rotate90", "rotate180", "rotate270"]
"""A transformation of SSKD's inputs: the last axis reversed (time reversal of a 1-D signal, a horizontal flip
of an image), the sign flipped, both, or an image rotated by 90, 180 or 270 degrees (the paper's)."""


class SSKDSpec(LossSpec):
    """SSKD: Xu, Liu, Li & Loy 2020, "Knowledge Distillation Meets Self-Supervision" (ECCV). Each input is
    transformed; the student mimics the similarities between transformed and normal samples of the teacher's
    self-supervision head (pre-trained by contrastive prediction) and the teacher's soft labels on the
    transformed samples, each on the rows the teacher ranks best (selective transfer). Reads
    ``embedding&output`` and forwards both models on the transformed inputs through the distiller."""

    key: ClassVar[str] = "sskd"
    term: ClassVar[str | None] = "similarity-matrix"
    maps: ClassVar[tuple[int, int | None]] = (2, 2)

    transforms: tuple[SSKDTransform, ...] = Field(
        default=("rotate90", "rotate180", "rotate270"), min_length=1
    )
    """The transformations, each giving one transformed copy of every sample (paper: the three rotations)."""
    ss_temperature: float = Field(default=0.5, gt=0)
    """Temperature of the similarity distributions (the authors' code: 0.5; the term is scaled by its
    square)."""
    transform_temperature: float = Field(default=4.0, gt=0)
    """Temperature of the soft labels on the transformed samples (the authors' code: 4; the term is scaled by
    its square)."""
    ss_ratio: float = Field(default=0.75, ge=0, le=1)
    """Fraction of the rows whose positive the teacher's head ranks below the top that are kept, the best
    ranked first (the authors' code: 0.75)."""
    transform_ratio: float = Field(default=1.0, ge=0, le=1)
    """Fraction of the transformed samples the teacher classifies wrong that are kept (authors: 1.0)."""
    ss_weight: float = Field(default=10.0, ge=0)
    """Weight of the similarity term inside the loss (the authors' code and torchdistill: 10)."""
    transform_weight: float = Field(default=2.7, ge=0)
    """Weight of the soft-label term on the transformed samples inside the loss (the authors' code and
    torchdistill: 2.7)."""
    head_epochs: float = Field(default=0.0, ge=0)
    """Epochs of training the teacher's head first: the term returns only its contrastive loss until then,
    and afterwards only the student's terms with the head frozen (with the transfer's ``hint_epochs`` equal,
    the student is not trained in that phase). 0: the head is trained beside the student throughout."""
    head_temperature: float = Field(default=1.0, gt=0)
    """Temperature of the head's contrastive prediction (the authors' code: none, i.e. 1)."""
