"""Gradient-norm ratio of each suite method's distillation term to the cross-entropy, at initialisation.

For every method of the standard suite (kdtaxonomy.suite) and every regime: the student at its seeded
initialisation, a trained teacher (the suite's, cached), and the mean over a few training batches of

    || d(sum_k w_k L_k) / d theta_student ||  /  || d(ce_weight * CE) / d theta_student ||

with the cited weights w_k (multiplier 1); a method whose CE weight is 0 is compared with CE at weight 1. A ratio near 1 means the term and the label loss pull with
similar strength; 10^-3 means the term is inactive, 10^2 that it swamps the labels.

    python benchmarks/grad_ratios.py [--batches 5] [--seed 1000]
"""

from __future__ import annotations

import argparse
import math

import torch

from kdtaxonomy import suite as S
from kdtaxonomy.data import model_input
from kdtaxonomy.hooks import OUTPUT
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.recipe import Recipe
from kdtaxonomy.runner import Runner, RunOptions, build_model
from kdtaxonomy.train import loader
from kdtaxonomy.transfer import read


def grad_norm(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return math.sqrt(sum(float(g.pow(2).sum()) for g in grads if g is not None))


def ratios(regime: S.Regime, seed: int, batches: int) -> dict[str, float]:
    base = Recipe.model_validate(S.recipe_data(S.method("kd"), regime))
    runner = Runner(base, RunOptions(seed=seed))
    bundle = runner.load_data()
    train, val, _, _ = runner.prepare(bundle)
    from kdtaxonomy.pipeline import build_component

    runner.plan = build_component("teacher", base.teacher).plan(bundle.num_classes)
    node = runner.plan.nodes[0]
    teacher = runner.train_node(node, bundle, train["teacher"], val["teacher"])
    out: dict[str, float] = {}
    for m in S.METHODS:
        if not any(t.weight for t in m.terms):
            continue
        recipe = Recipe.model_validate(S.recipe_data(m, regime))
        torch.manual_seed(seed * 131 + 4242)
        student = build_model(recipe.student_model.component, dict(recipe.student_model.params), bundle)
        distiller = Distiller(student, [teacher], knowledge=recipe.knowledge, num_classes=bundle.num_classes)
        data = train["student"]
        values = []
        for i, batch in enumerate(loader(data, min(128, len(data)), shuffle=True, seed=seed, epoch=0)):
            if i >= batches:
                break
            distiller._build_terms(batch, len(data))
            params = [p for p in distiller.student.parameters() if p.requires_grad]
            s = distiller.features(distiller.student, model_input(batch, "x"), distiller.student_locations)
            # a method without a label term (CE weight 0) is compared with the plain CE at weight 1
            ce = (m.ce_weight or 1.0) * torch.nn.functional.cross_entropy(s[OUTPUT], batch["y"])
            t = distiller.teacher_features(batch)[0]
            batch = {**batch, "index": batch["row"]}
            kd = sum(
                (term(s, read(t, term.source_location), batch) for term in distiller.terms), torch.zeros(())
            )
            values.append(grad_norm(kd, params) / max(grad_norm(ce, params), 1e-30))
        out[m.id] = sum(values) / len(values)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--seed", type=int, default=S.GRID_SEEDS[0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = {r.id: ratios(r, args.seed, args.batches) for r in S.REGIMES}
    methods = [m.id for m in S.METHODS if any(t.weight for t in m.terms)]
    print("| method | cited weights | " + " | ".join(r.id for r in S.REGIMES) + " |")
    print("|---|---|" + "---|" * len(S.REGIMES))
    for mid in methods:
        m = S.method(mid)
        weights = ", ".join(f"{t.component} {t.weight:g}" for t in m.terms) + f"; CE {m.ce_weight:g}"
        weights += " (ratio to CE at weight 1)" if not m.ce_weight else ""
        cells = " | ".join(f"{table[r.id][mid]:.3g}" for r in S.REGIMES)
        print(f"| {mid} | {weights} | {cells} |")


if __name__ == "__main__":
    main()
