"""The comparisons of ``peer_torchdistill.py``: one ``Case`` per loss (inputs, both sides, the note on
why the values agree or differ, the predicted torchdistill value and the timing notes)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmarks.peer_inputs import (
    AB_MARGIN,
    DIST_BETA,
    DIST_GAMMA,
    PAD_EPS,
    RKD_ANGLE_MAX_B_THEIRS,
    SRD_EPS,
    SRD_EXPONENT,
    TAU,
    Case,
    Inputs,
    ab_inputs,
    at_maps,
    at_maps_mismatch,
    crd_inputs,
    crd_inputs_eps0,
    embeddings,
    fsp_inputs,
    ft_factors,
    hint_maps,
    logits,
    pad_inputs,
    srd_inputs,
    sskd_head_inputs,
    sskd_inputs,
    unit_embeddings,
    vid_inputs,
)
from benchmarks.peer_wrappers import (
    crd_eps_shift,
    dist_eps0,
    fsp_col_norms,
    ours_crd,
    ours_sskd,
    ours_sskd_head,
    td_ab,
    td_at,
    td_cc,
    td_crd,
    td_dist,
    td_fsp,
    td_ft,
    td_hcl,
    td_kd,
    td_mse,
    td_pad,
    td_pkt,
    td_rkd,
    td_sp,
    td_srd,
    td_sskd,
    td_sskd_head,
    td_vid,
)
from kdtaxonomy.losses import (
    activation_boundary,
    assistant_distillation_loss,
    attention_map,
    attention_transfer,
    correlation_congruence,
    factor_transfer,
    feature_l2,
    fitnets,
    fsp,
    hcl,
    pad_l2,
    pkt,
    rkd_angle,
    rkd_distance,
    similarity_preserving,
    soft_label_kd,
    srd,
    vid,
)
from kdtaxonomy.losses.dist import dist as dist_loss

# ------------------------------------------------------------------------------------------------ cases


def cases() -> list[Case]:
    def rows_norm_mean(x: Inputs, _: float) -> float:
        d = attention_map(x["s"]) - attention_map(x["t"])
        return float(d.norm(dim=1).mean())

    def sp_l1_rows(x: Inputs, _: float) -> float:
        def gram(f: Tensor) -> Tensor:
            f = f.flatten(1)
            return F.normalize(f @ f.T, p=1, dim=1)

        return float((gram(x["t"]) - gram(x["s"])).pow(2).sum() / x["s"].shape[0] ** 2)

    return [
        Case(
            "Hinton KD (soft only)",
            logits,
            lambda x: soft_label_kd(x["s"], x["t"], TAU),
            lambda x: td_kd(x, alpha=0.0),
            "torchdistill KDLoss(T=4, alpha=0): with alpha 0 or None, or without targets, it returns the bare "
            "KLDivLoss(batchmean) and applies neither beta nor T^2 (T^2 appears only in its "
            "alpha*CE + beta*T^2*KL branch). kdtaxonomy's soft_label_kd always includes T^2: ratio = T^2 = 16. "
            "(KDLoss's default alpha=None without an explicit beta fails in __init__: 1 - None.)",
            predict=lambda x, v: v / TAU**2,
            time_note="kdtaxonomy: log_softmax of both sides and sum p*(log p - log q); torchdistill: log_softmax + "
            "softmax and nn.KLDivLoss (xlogy). Similar work; no structural difference.",
        ),
        Case(
            "Hinton KD + CE (alpha 0.6/0.4)",
            logits,
            lambda x: assistant_distillation_loss(x["s"], x["t"], x["y"], alpha=0.4, temperature=TAU),
            lambda x: td_kd(x, alpha=0.6, beta=0.4, targets=True),
            "Full objective: torchdistill alpha*CE + beta*T^2*KL (alpha=0.6, beta=0.4) vs kdtaxonomy "
            "assistant_distillation_loss (1-alpha)*CE + alpha*T^2*KL (alpha=0.4, no features): same formula.",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "attention transfer (mode=code)",
            at_maps,
            lambda x: attention_transfer(x["s"], x["t"], 2.0),
            lambda x: td_at(x, "code"),
            "Same formula: normalize(mean_c F^2) per sample, squared difference averaged over B*H*W "
            "(kdtaxonomy uses |F|^p with p=2, identical for p=2). torchdistill sums weight*loss over pairs; "
            "one pair with weight 1 here.",
            predict=lambda x, v: v,
            time_note="kdtaxonomy computes |F|^p for a general p (abs + float pow, and their backward) and checks "
            "spatial sizes; torchdistill squares (pow 2). One extra elementwise pass over the feature maps.",
        ),
        Case(
            "attention transfer (mode=paper)",
            at_maps,
            lambda x: attention_transfer(x["s"], x["t"], 2.0),
            lambda x: td_at(x, "paper"),
            "torchdistill mode='paper' (Eq. 2): normalize(sum_c F^2) and (1/B) sum_i ||Q_s,i - Q_t,i||_2 (norm, "
            "not squared, not divided by H*W). kdtaxonomy follows the authors' code (= mode 'code'). "
            "Predicted: mean_i ||d_i|| from kdtaxonomy's attention_map (sum vs mean over channels is removed "
            "by the normalisation).",
            predict=rows_norm_mean,
            timed=False,
        ),
        Case(
            "attention transfer (s 8x8, t 16x16)",
            at_maps_mismatch,
            lambda x: attention_transfer(x["s"], x["t"], 2.0),
            lambda x: td_at(x, "code"),
            "Different spatial sizes: kdtaxonomy adaptive-average-pools the larger map to the smaller size; "
            "torchdistill's ATLoss subtracts the maps as they are and fails on the shape mismatch "
            "(torchdistill expects the pairs to be chosen with equal H*W).",
            timed=False,
        ),
        Case(
            "FitNets hint (regressed features)",
            hint_maps,
            lambda x: fitnets(x["s"], x["t"]),
            td_mse,
            "torchdistill has no FitNets loss class: its FitNets configs use SimpleLossWrapper(nn.MSELoss()) "
            "on the regressor output vs the hint. Both are mean((r(s)-t)^2) over all elements.",
            predict=lambda x, v: v,
            time_note="Both are F.mse_loss; any gap is wrapper overhead/noise.",
        ),
        Case(
            "similarity-preserving",
            at_maps,
            lambda x: similarity_preserving(x["s"], x["t"]),
            td_sp,
            "Both: G = F F^T, each row normalised, ||G_t - G_s||_F^2 / B^2 (SPKDLoss reduction batchmean). "
            "But torchdistill calls normalize(G, 1): the positional 1 is F.normalize's p, not dim, so its rows "
            "are L1-normalised (p=1, dim=1 by default); the paper and kdtaxonomy L2-normalise the rows. "
            "Predicted: the same loss with L1-normalised rows. Not a constant factor (depends on the data).",
            predict=sp_l1_rows,
            time_note="Same work (two B x B Gram matmuls dominate); p=1 vs p=2 row normalisation costs the same.",
        ),
        Case(
            "PKT",
            embeddings,
            lambda x: pkt(x["s"], x["t"]),
            td_pkt,
            "Same formula (both refactor the authors' code): x/(||x||+eps), (K+1)/2, row-normalised, "
            "mean over B^2 of p_t log((p_t+eps)/(p_s+eps)), eps 1e-7. The float32 gap (~1e-6 relative) is "
            "rounding: the loss is a mean of p_t * log(ratio ~ 1) terms (heavy cancellation); float64 agrees.",
            predict=lambda x, v: v,
            time_note="Same operations; torchdistill also does two NaN-masking index assignments.",
        ),
        Case(
            "RKD distance",
            embeddings,
            lambda x: rkd_distance(x["s"], x["t"]),
            lambda x: td_rkd(x, 1.0, 0.0),
            "Same formula: pairwise distances over the off-diagonal mean, smooth-L1 (beta 1) averaged over "
            "B^2. torchdistill clamps squared distances at 1e-12 and computes the teacher side under no_grad "
            "(kdtaxonomy's functional form does not detach; the teacher carries no grad here).",
            predict=lambda x, v: v,
            time_note="torchdistill: clamp + sqrt, clone, diagonal index assignment and d[d > 0] boolean-mask "
            "gathers for the means; kdtaxonomy: masked_fill of the diagonal and a sum-based off-diagonal mean.",
        ),
        Case(
            "RKD angle",
            embeddings,
            lambda x: rkd_angle(x["s"], x["t"]),
            lambda x: td_rkd(x, 0.0, 1.0),
            "Same formula: cos angle(e_j-e_i, e_k-e_i) for all B^3 triples, smooth-L1 averaged over B^3. "
            "torchdistill materialises (B,B,D) differences and the (B,B,B) angle tensors at once; kdtaxonomy "
            "chunks anchors and checkpoints (recomputes) each chunk in backward when B is large.",
            predict=lambda x, v: v,
            max_b_theirs=RKD_ANGLE_MAX_B_THEIRS,
            time_note="B=64: one chunk, same work. B=256 (D=256): kdtaxonomy splits into 4 chunks of 64 anchors "
            "and checkpoints them (forward recomputed in backward) yet stays close. B=1024: only kdtaxonomy runs "
            "(B^3 ~ 1.07e9 triples in chunks of 4 anchors).",
            skip_note="torchdistill RKD angle skipped above B=256: it is unchunked; at B=1024 each of its (B,B,B) "
            "float32 tensors (student and teacher angles, smooth-L1 intermediates, saved for backward) is 4 GiB.",
        ),
        Case(
            "RKD distance + 2 * angle",
            embeddings,
            lambda x: rkd_distance(x["s"], x["t"]) + 2.0 * rkd_angle(x["s"], x["t"]),
            lambda x: td_rkd(x, 1.0, 2.0),
            "torchdistill's RKDLoss sample config (dist_factor 1, angle_factor 2, the paper's weights) vs the "
            "sum of kdtaxonomy's two functional losses with the same weights.",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "correlation congruence (raw emb)",
            embeddings,
            lambda x: correlation_congruence(x["s"], x["t"], 0.4, 2),
            td_cc,
            "Raw (unnormalised) embeddings: kdtaxonomy L2-normalises them before the Gaussian-RBF Taylor "
            "kernel (the expansion exp(-2g) sum (2g)^p/p! (x.y)^p equals the RBF only for unit vectors); "
            "torchdistill applies the kernel to the raw tensor, so x.y ~ +-sqrt(D) and the values differ "
            "by orders of magnitude. Also a different reduction (next row).",
            timed=False,
        ),
        Case(
            "correlation congruence (unit emb)",
            unit_embeddings,
            lambda x: correlation_congruence(x["s"], x["t"], 0.4, 2),
            td_cc,
            "Unit-norm inputs (kdtaxonomy's normalisation is then a no-op): the kernels agree; torchdistill "
            "returns torch.dist(C_s, C_t, 2) / B^2 = ||dC||_F / B^2 (norm, not squared), kdtaxonomy "
            "||dC||_F^2 / B^2 (the paper's squared Frobenius norm). Predicted theirs = sqrt(ours) / B.",
            predict=lambda x, v: math.sqrt(v) / x["s"].shape[0],
            time_note="torchdistill builds the Gaussian-kernel matrix row by row in a Python loop (B matvecs + "
            "stack); kdtaxonomy computes one B x B Gram matrix and a vectorised polynomial.",
        ),
        Case(
            "VID (same mean and variance)",
            vid_inputs,
            lambda x: vid(x["s"], x["t"], x["alpha"]),
            td_vid,
            "Both: 0.5*log(var) + (t-mu)^2/(2 var) with the same mu and per-channel var = softplus(alpha)+1e-5 "
            "(torchdistill takes (pred_mean, pred_var) from the student; RepDistiller's VID computes "
            "var the same way). torchdistill averages over all B*C*H*W elements, kdtaxonomy sums over channels "
            "and averages over B*H*W (the paper's per-position sum over channels): ratio = C = 64.",
            predict=lambda x, v: v / x["t"].shape[1],
            grad_keys=("s", "alpha"),
            time_note="Same elementwise work (torchdistill receives var from the timed closure, as kdtaxonomy "
            "computes it inside vid()).",
        ),
        Case(
            "CRD (fixed contrast_idx, eps 1e-7)",
            crd_inputs,
            ours_crd,
            td_crd,
            "Aligned deterministically by passing torchdistill the same (B, K+1) contrast_idx, memory banks and "
            "(first-batch) Z = N*mean(exp(score/T)); the same NCE objective on both sides. torchdistill adds "
            "eps=1e-7 to every denominator P + K/N (log_d1, log_d0); kdtaxonomy has no eps (log space). "
            "Predicted: ours + (1/B) sum_{sides,i,k} eps/(P_ik + K/N) (first order in eps; ~ 2(K+1) eps N/K). "
            "The next row (eps 0) removes the difference.",
            predict=crd_eps_shift,
            grad_keys=("s", "t"),
            time_note="Both gather (B, K+1, d) memory rows and do one bmm per side; kdtaxonomy works in log space "
            "(logaddexp), torchdistill with exp/div/log and updates the memory banks in the same call.",
        ),
        Case(
            "CRD (fixed contrast_idx, eps 0)",
            crd_inputs_eps0,
            ours_crd,
            td_crd,
            "As above with torchdistill eps=0: the values agree to rounding. In both rows kdtaxonomy gets "
            "torchdistill's effective temperature: its float32 params buffer holds T=0.07 as 0.0700000003 "
            "(visible only in float64, ~1e-8 relative).",
            predict=lambda x, v: v,
            grad_keys=("s", "t"),
            timed=False,
        ),
        Case(
            "CRD (torchdistill draws negatives)",
            crd_inputs,
            None,
            lambda x: td_crd(x, with_contrast=False),
            "Without contrast_idx torchdistill 1.1.5 samples negatives itself with draw(), which reads "
            "self.prob (the attribute is self.probs): AttributeError, so its own sampling path cannot run; "
            "the alias table's init_prob_alias has the same typo (not reached with uniform unigrams).",
            timed=False,
        ),
        Case(
            "DIST (tau 4, beta 1, gamma 2)",
            logits,
            lambda x: dist_loss(x["s"], x["t"], DIST_BETA, DIST_GAMMA, TAU),
            td_dist,
            "Same formula: tau^2 * (beta * (1 - mean_i rho(Y_s,i:, Y_t,i:)) + gamma * (1 - mean_j rho(Y_s,:j, "
            "Y_t,:j))) on Y = softmax(Z / tau). Only the Pearson eps differs: kdtaxonomy divides by "
            "||u_c|| ||v_c|| + 1e-8 (the authors' code), torchdistill calls F.cosine_similarity(eps=1e-8), which "
            "only clamps the norm product at 1e-8 (no shift here); the column norms of the probabilities are "
            "small, so the shift is visible in float64 (~1e-8 relative). Predicted: kdtaxonomy's dist_parts "
            "with eps 0.",
            predict=dist_eps0,
            timed=False,
        ),
        Case(
            "SRD (alpha 4, + KL at T 1)",
            srd_inputs,
            lambda x: (
                2.0 * srd(x["s"], x["t"], SRD_EXPONENT, SRD_EPS)
                + soft_label_kd(x["s_logits"], x["t_logits"], 1.0)
            ),
            td_srd,
            "torchdistill's SRDLoss returns 2 * log sum |z_s - z_t|^alpha + KL(batchmean, T=1) on the features "
            "after SRDModelWrapper's norm layer (here nn.BatchNorm1d(D, affine=False, eps=1e-4) in training mode "
            "on each side); kdtaxonomy's srd() batch-standardises inside (F.batch_norm, same eps) and the KD term "
            "is soft_label_kd at T=1 (T^2 = 1), so ours = 2*srd + soft_label_kd: the same value.",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "PAD-L2 (learned log-variance)",
            pad_inputs,
            lambda x: pad_l2(x["s"], x["t"], x["log_var"], PAD_EPS),
            td_pad,
            "Same formula: mean over B*D of (t - s)^2 / (eps + exp(v)) + v with eps 1e-6 (torchdistill averages "
            "over D, then over B: the same mean for flattened (B, D) features).",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "PAD plain L2 (vs PADL2Loss, v = 0)",
            pad_inputs,
            lambda x: feature_l2(x["s"], x["t"]),
            lambda x: td_pad(x, torch.zeros_like(x["log_var"])),
            "kdtaxonomy's feature_l2 (PAD's L2 baseline, the mean squared error) against torchdistill's PADL2Loss "
            "with log-variance 0 (torchdistill 1.1.5 has no separate plain-L2 PAD module; its configs use "
            "nn.MSELoss through SimpleLossWrapper, compared in the FitNets row): theirs divides by eps + exp(0), "
            "so predicted theirs = ours / (1 + 1e-6).",
            predict=lambda x, v: v / (1.0 + PAD_EPS),
            timed=False,
        ),
        Case(
            "FSP (one pair of 8x8 maps per side)",
            fsp_inputs,
            lambda x: fsp(x["s"], x["s2"], x["t"], x["t2"]),
            td_fsp,
            "Same FSP matrices G = F1 F2^T / (H*W) (equal spatial sizes, so neither library pools; on unequal "
            "sizes torchdistill max-pools, kdtaxonomy average-pools). kdtaxonomy takes the paper's squared L2 "
            "norm, (1/B) sum_b ||G^S_b - G^T_b||_F^2; torchdistill (G^S - G^T).norm(dim=1).sum() / B, the sum of "
            "the (unsquared) column norms over the n columns. Predicted: that sum from kdtaxonomy's fsp_matrix.",
            predict=fsp_col_norms,
            grad_keys=("s", "s2"),
            timed=False,
        ),
        Case(
            "FT factor loss (p=1)",
            ft_factors,
            lambda x: factor_transfer(x["s"], x["t"], 1.0),
            td_ft,
            "Both L2-normalise each flattened factor (torchdistill without an eps). torchdistill with p=1 returns "
            "F.l1_loss(reduction='mean'), the mean over B*D elements; kdtaxonomy the batch mean of the per-sample "
            "L1 norm (the paper's ||.||_1): ratio = D = C*H*W = 2048. Predicted theirs = ours / D.",
            predict=lambda x, v: v / x["s"][0].numel(),
            timed=False,
        ),
        Case(
            "AB alternative loss (margin 1)",
            ab_inputs,
            lambda x: activation_boundary(x["s"], x["t"], AB_MARGIN),
            td_ab,
            "Same loss: torchdistill's AltActTransferLoss sums (s + m)^2 [s > -m, t <= 0] + (s - m)^2 [s <= m, "
            "t > 0] and divides by B (reduction 'mean'); kdtaxonomy's hinges relu(m -+ s)^2 select the same "
            "elements (at s = +-m both give 0).",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "ReviewKD HCL (8x8, sizes 4/2/1)",
            hint_maps,
            lambda x: hcl(x["s"], x["t"], (4, 2, 1)),
            td_hcl,
            "Same hierarchical context loss: MSE of the maps plus the MSEs of both adaptive-average-pooled to "
            "4x4, 2x2, 1x1 weighted 1/2, 1/4, 1/8, divided by the weight sum 1.875 (torchdistill's "
            "HierarchicalContextLoss for one level, as the authors' hcl).",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "SSKD (10 L_ss + 2.7 L_T)",
            sskd_inputs,
            ours_sskd,
            td_sskd,
            "torchdistill's SSKDLoss (ss_temp 0.5, tf_temp 4, ss_ratio 0.75, tf_ratio 1, loss_weights [0, 0, 10, "
            "2.7], batchmean) on its stacked io_dict (row 4i sample i, rows 4i+1..4i+3 its transformed copies) vs "
            "10 sskd_similarity + 2.7 sskd_transform on the same tensors in kdtaxonomy's layout (normal rows, "
            "transformed rows transformation-major, A = ss_similarity; its CE and KD terms are separate terms in "
            "kdtaxonomy and weighted 0 here). Same forms: cosine matrix A[r, j], T^2 * batchmean KL over the "
            "selected rows, positives and labels per transformed row, the same selection (rank 0 rows kept, then "
            "int(ratio * wrong) of the smallest rank; tf_ratio 1 keeps all rows). Only the tie-break differs by "
            "design: at equal ranks on the cut kdtaxonomy keeps rows in its transformation-major order, "
            "torchdistill by argsort of its sample-major ranks, so the kept rows (and values) can differ; these "
            "inputs have no tie on the cut (B=64: 127 of 192 rows wrong, 160 kept, ranks 13 | 14), and "
            "F.normalize's eps 1e-12 vs cosine_similarity's 1e-8 clamp do not act: the same value to rounding "
            "(each term alone also agrees, float64: L_ss 0.00804904858, L_T 6.50474916). "
            "The teacher head's contrastive_prediction (torchdistill's AuxSSKDLoss) is not part of this loss.",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "SSKD head stage (vs AuxSSKDLoss)",
            sskd_head_inputs,
            ours_sskd_head,
            td_sskd_head,
            "SSKD's first stage, the teacher's self-supervision head trained by contrastive prediction: "
            "torchdistill's AuxSSKDLoss (reduction mean) on the teacher's stacked head outputs (4B rows: row 4i "
            "sample i, rows 4i+1..4i+3 its transformed copies; the class fixes 3 copies) vs what kdtaxonomy's "
            "SSKD returns in its head phase, contrastive_prediction(ss_similarity(transformed, normal), "
            "head_temperature 1) on the same rows gathered into its layout (normal rows 4i, transformed row "
            "m B + i = stacked row 4i+1+m). Same form: A[r, j] = cos(transformed_r, normal_j), (3B, B), no "
            "temperature (AuxSSKDLoss has none; kdtaxonomy's default 1), each row's positive the sample it was "
            "made from (torchdistill: r // 3 in its sample-major rows, kdtaxonomy: r mod B in its "
            "transformation-major rows, the same pairs), the cross-entropy averaged over all 3B rows (no "
            "selection), so the two row orders give the same mean; the per-row matrices and losses also agree "
            "after the row permutation (checked separately, float64: max 2.8e-16 and 8.9e-16). F.normalize's "
            "eps 1e-12 vs cosine_similarity's clamp of each norm at 1e-8 do not act (every norm >= 9.7). B=64: "
            "124 of 192 positives ranked first. Agreement holds only at head_temperature 1 (torchdistill has no "
            "temperature to match another value).",
            predict=lambda x, v: v,
            timed=False,
        ),
    ]
