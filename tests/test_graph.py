"""The taxonomy graph, similarity, gaps, composition, topology and views (kdtaxonomy.graph, .similarity, .gaps, .compose, .topology, .views) and their CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml
from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog, load_catalog, read_vocabulary, validate_paths
from kdtaxonomy.cli import app
from kdtaxonomy.compose import RULES, ComposeError, compose
from kdtaxonomy.gaps import gaps
from kdtaxonomy.graph import config_node, taxonomy_graph, term_node, write_graph
from kdtaxonomy.recipe import resolve
from kdtaxonomy.schema import UNKNOWN, ComponentSpec, step_terms
from kdtaxonomy.similarity import FACET_WEIGHTS, similar
from kdtaxonomy.topology import check_topology, topology
from kdtaxonomy.views import views

from .conftest import CATALOG, FIXTURES, make_catalog

EXAMPLE = FIXTURES / "valid" / "example-kd.yaml"


class _NoAliases(yaml.SafeDumper):
    """Writes shared sub-objects out in full: catalog files may not use anchors or aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_entry(root: Path, data: dict[str, Any]) -> None:
    text = yaml.dump(data, Dumper=_NoAliases, sort_keys=False)
    (root / "methods" / f"{data['id']}.yaml").write_text(text)


def example(entry_id: str, **distillation: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["id"] = entry_id
    config = data["configurations"][0]
    config["distillation"] = {**config["distillation"], **distillation}
    return data


# -- the taxonomy graph ------------------------------------------------------------------------------------
def test_graph_has_every_term_and_links_each_configuration_to_exactly_its_terms(catalog: Catalog) -> None:
    graph = taxonomy_graph(catalog)
    vocab = catalog.vocabulary
    kinds = nx.get_node_attributes(graph, "kind")
    n_terms = sum(len(vocab.terms(s)) for s in vocab.steps)
    assert sum(1 for k in kinds.values() if k == "term") == n_terms
    assert sum(1 for k in kinds.values() if k == "step") == len(vocab.steps)
    assert sum(1 for k in kinds.values() if k == "stage") == len(vocab.data.stages)
    pairs = list(catalog.configurations())
    assert sum(1 for k in kinds.values() if k == "configuration") == len(pairs)
    for step in vocab.steps:
        stage = vocab.step_stage[step]
        assert graph.has_edge(f"stage:{stage}", f"step:{step}")
        for term in vocab.terms(step):
            node = graph.nodes[term_node(step, term)]
            assert node["label"] == vocab.term(step, term).label
            assert node["gou"] == vocab.gou(step, term)
            assert graph.has_edge(f"step:{step}", term_node(step, term))
    for entry, config in pairs:
        expected = {term_node(s, t) for s in vocab.steps for t in step_terms(config, s) if t != UNKNOWN}
        node = config_node(entry.id, config.name)
        assert set(graph.successors(node)) == expected
        assert graph.nodes[node]["year"] == entry.year
        assert all(graph.edges[node, t]["kind"] == "uses" for t in expected)


def test_write_graph_formats(catalog: Catalog, tmp_path: Path) -> None:
    graph = taxonomy_graph(catalog)
    write_graph(graph, "graphml", tmp_path / "g.graphml")
    back = nx.read_graphml(tmp_path / "g.graphml")
    assert back.number_of_nodes() == graph.number_of_nodes()
    assert back.number_of_edges() == graph.number_of_edges()
    data = json.loads(write_graph(graph, "json"))
    assert len(data["nodes"]) == graph.number_of_nodes() and len(data["edges"]) == graph.number_of_edges()
    svg = ET.fromstring(write_graph(graph, "svg"))
    assert svg.tag.endswith("svg")
    small = nx.DiGraph()
    small.add_edge('a "quoted"', "b", kind="uses")
    dot = write_graph(small, "dot")
    assert dot.startswith("digraph") and '"a \\"quoted\\"" -> "b"' in dot
    with pytest.raises(ValueError, match="unknown graph format"):
        write_graph(small, "png")


# -- similarity --------------------------------------------------------------------------------------------
@pytest.fixture()
def tiny(tmp_path: Path) -> Catalog:
    root = make_catalog(tmp_path)
    first = example("example-kd")
    first["configurations"].append({**first["configurations"][0], "name": "alt"})
    write_entry(root, first)
    write_entry(root, example("twin-kd"))
    write_entry(root, example("feature-kd", knowledge=["deep-features"], location=["intermediate-layers"]))
    return load_catalog(root, use_cache=False)


def test_similar_scores_identical_one_disjoint_knowledge_lower(tiny: Catalog) -> None:
    found = similar(tiny, "example-kd", k=10)
    assert [(s.id, s.configuration) for s in found] == [
        ("example-kd", "alt"),
        ("twin-kd", "main"),
        ("feature-kd", "main"),
    ]
    assert found[0].score == pytest.approx(1.0) and found[1].score == pytest.approx(1.0)
    # knowledge (2), location (1) and the recipes' loss components (1) disjoint; data-prep unused by both
    # and left out of the weights
    used = sum(FACET_WEIGHTS.values()) - FACET_WEIGHTS["data-prep"]
    assert found[2].score == pytest.approx((used - 4) / used)
    assert found[2].different["knowledge"] == {"query": ["soft-labels"], "other": ["deep-features"]}
    assert found[2].different["loss"] == {"query": ["soft-label-kd"], "other": ["fitnets"]}
    assert "knowledge" not in found[2].shared and found[2].shared["transfer"] == ["permuted"]
    assert len(similar(tiny, "example-kd", k=1)) == 1
    with pytest.raises(KeyError):
        similar(tiny, "no-such-entry")


# -- gaps --------------------------------------------------------------------------------------------------
KEEP = {
    "knowledge": ["soft-labels", "deep-features", "attention-maps"],
    "transfer": ["permuted", "intermediate-layer"],
    "student-construction": ["from-scratch", "teacher-initialized"],
}


@pytest.fixture()
def small_vocab_catalog(tmp_path: Path) -> Catalog:
    root = make_catalog(tmp_path)
    vocab = yaml.safe_load((root / "vocabulary.yaml").read_text())
    for stage in vocab["stages"].values():
        for step_key, step in stage["steps"].items():
            if step_key in KEEP:
                step["terms"] = {k: v for k, v in step["terms"].items() if k in KEEP[step_key]}
    (root / "vocabulary.yaml").write_text(yaml.safe_dump(vocab, sort_keys=False))
    write_entry(root, example("example-kd"))
    second = example("hint-kd", knowledge=["soft-labels", "deep-features"], transfer=["intermediate-layer"])
    second["configurations"][0]["student"].update(
        architecture=["teacher-like"], construction=["teacher-initialized"]
    )
    write_entry(root, second)
    return load_catalog(root, use_cache=False)


def test_gaps_lists_every_uncovered_combination_and_no_covered_one(small_vocab_catalog: Catalog) -> None:
    found = gaps(small_vocab_catalog, top=None)
    listed = {(g.terms["knowledge"], g.terms["transfer"], g.terms["student"]) for g in found}
    covered = {
        ("soft-labels", "permuted", "from-scratch"),
        ("soft-labels", "intermediate-layer", "teacher-initialized"),
        ("deep-features", "intermediate-layer", "teacher-initialized"),
    }
    every = {
        (k, t, s) for k in KEEP["knowledge"] for t in KEEP["transfer"] for s in KEEP["student-construction"]
    }
    assert listed == every - covered and len(found) == 9
    supports = [g.support for g in found]
    assert supports == sorted(supports, reverse=True)
    assert found[0].terms == {
        "knowledge": "soft-labels",
        "transfer": "permuted",
        "student": "teacher-initialized",
    }
    assert found[0].counts == {"knowledge": 2, "transfer": 1, "student": 1} and found[0].support == 2
    assert all(g.support == 0 for g in found if g.terms["knowledge"] == "attention-maps")
    assert len(gaps(small_vocab_catalog, top=2)) == 2
    with pytest.raises(ValueError, match="unknown gap facets"):
        gaps(small_vocab_catalog, ["modality"])


def test_gaps_on_the_catalog_are_uncovered_and_compose(catalog: Catalog) -> None:
    found = gaps(catalog, ("knowledge", "transfer", "student"), top=20)
    assert len(found) == 20
    for gap in found:
        compose(**gap.terms, vocabulary=catalog.vocabulary)
        for _, config in catalog.configurations():
            assert not (
                gap.terms["knowledge"] in config.distillation.knowledge
                and gap.terms["transfer"] in config.distillation.transfer
                and gap.terms["student"] in config.student.construction
            )


# -- compose -----------------------------------------------------------------------------------------------
def test_compose_resolves_synonyms_and_labels(catalog: Catalog) -> None:
    config = compose("MI", "intermediate layers", vocabulary=catalog.vocabulary)
    assert config.name == "composed"
    assert config.distillation.knowledge == ["mutual-information"]
    assert config.distillation.transfer == ["intermediate-layer"]
    assert "mutual-information" in config.summary
    config = compose(["Feature maps"], "vanilla", student="svm on features", teacher="Teacher assistant")
    assert config.distillation.knowledge == ["deep-features"] and config.distillation.transfer == ["permuted"]
    assert config.teacher.setup == ["assistant-chain"]
    assert config.student.construction == ["trained-on-features"]


INCOMPATIBLE = [
    ({"knowledge": "mutual-infomation", "transfer": "permuted"}, "unknown --knowledge value"),
    ({"knowledge": "soft-labels", "transfer": "mutual", "teacher": "single"}, "transfer 'mutual' needs"),
    ({"knowledge": "soft-labels", "transfer": "permuted", "teacher": "peers"}, "teacher-setup 'peers' needs"),
    ({"knowledge": "deep-features", "transfer": "fusion"}, "'fusion' needs only knowledge 'tag-vectors'"),
    (
        {"knowledge": "tag-vectors", "transfer": "fusion", "teacher": "single"},
        "'fusion' needs teacher-setup 'auxiliary-model'",
    ),
    ({"knowledge": "tag-vectors", "transfer": "permuted"}, "knowledge 'tag-vectors' needs transfer 'fusion'"),
    ({"knowledge": "soft-labels", "transfer": "aggregated", "teacher": "single"}, "multi-teacher"),
    ({"knowledge": "soft-labels", "transfer": "dense-guidance", "teacher": "single"}, "'assistant-chain'"),
    (
        {"knowledge": "soft-labels", "transfer": "permuted", "student": "trained-on-features"},
        "'trained-on-features' needs only knowledge 'deep-features'",
    ),
    (
        {
            "knowledge": "soft-labels",
            "transfer": "permuted",
            "teacher": "ensemble",
            "student": "teacher-initialized",
        },
        "'teacher-initialized' needs only teacher-setup",
    ),
]


@pytest.mark.parametrize(("choices", "message"), INCOMPATIBLE, ids=[m for _, m in INCOMPATIBLE])
def test_compose_explains_incompatible_choices(
    catalog: Catalog, choices: dict[str, str], message: str
) -> None:
    with pytest.raises(ComposeError, match=message.replace("(", r"\(")):
        compose(**choices, vocabulary=catalog.vocabulary)


def test_every_rule_has_a_reason() -> None:
    assert all(rule.reason and rule.needs for rule in RULES)


def test_composed_recipe_trains_a_few_steps(catalog: Catalog) -> None:
    from kdtaxonomy.runner import Runner, RunOptions

    config = compose("relations", "sequential", vocabulary=catalog.vocabulary)
    options = RunOptions(
        seed=0,
        epochs=1,
        teacher_epochs=1,
        max_steps=2,
        batch_size=32,
        cache=False,
        dataset_params={"train_limit": 192, "test_limit": 96},
    )
    result = Runner(resolve(config, "composed"), options).run()
    for key in ("teacher_accuracy", "student_baseline_accuracy", "student_accuracy"):
        assert math.isfinite(result[key]) and 0.0 <= result[key] <= 100.0


# -- topology ----------------------------------------------------------------------------------------------
def test_topology_assistant_chain_in_order(catalog: Catalog) -> None:
    chain = ComponentSpec(
        component="assistant-chain",
        params={"model": "cnn1d", "size": "large", "assistants": ["cnn1d:medium", "cnn1d:small"]},
    )
    recipe = resolve(
        compose("soft-labels", "permuted", vocabulary=catalog.vocabulary), "composed", teacher=chain
    )
    graph = topology(recipe)
    check_topology(graph)
    assert list(nx.topological_sort(graph)) == ["teacher", "assistant-1", "assistant-2", "student"]
    assert graph.nodes["assistant-1"]["role"] == "assistant"
    assert graph.edges["assistant-2", "student"]["knowledge"] == ["soft-label-kd@output"]


def test_topology_mutual_peers_cycle_allowed_and_fusion(catalog: Catalog) -> None:
    graph = topology(resolve(compose("soft-labels", "mutual", vocabulary=catalog.vocabulary), "composed"))
    assert graph.has_edge("peer-1", "student") and graph.has_edge("student", "peer-1")
    assert not nx.is_directed_acyclic_graph(graph)
    check_topology(graph)
    fused = topology(resolve(compose("tag-vectors", "fusion", vocabulary=catalog.vocabulary), "composed"))
    check_topology(fused)
    assert fused.edges["auxiliary", "student"]["kind"] == "fusion"


def test_check_topology_rejects_unreachable_student_and_teacher_cycles() -> None:
    graph = nx.DiGraph()
    graph.add_node("teacher", role="teacher")
    graph.add_node("assistant-1", role="assistant")
    graph.add_node("student", role="student")
    graph.add_edge("teacher", "assistant-1")
    with pytest.raises(ValueError, match="unreachable from every teacher"):
        check_topology(graph)
    graph.add_edge("assistant-1", "student")
    check_topology(graph)
    graph.add_edge("assistant-1", "teacher")
    with pytest.raises(ValueError, match="cycle"):
        check_topology(graph)


# -- views -------------------------------------------------------------------------------------------------
def test_views_four_stage_and_gou(catalog: Catalog) -> None:
    data = views(catalog, "zhang-multimodal-kd", "distribution-level")
    steps = data["four_stage"]["distillation"]["steps"]
    assert steps["knowledge"]["terms"] == ["Distributions"]
    knowledge = {c["category"]: c["from"] for c in data["gou"]["knowledge"]}
    assert "knowledge/distributions" in knowledge["relation-based"]
    assert {c["category"] for c in data["gou"]["algorithm"]} == {"cross-modal"}
    assert set(data["gou"]) == {"knowledge", "scheme", "algorithm"}


# -- CLI ---------------------------------------------------------------------------------------------------
def invoke(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["--catalog", str(CATALOG), *args])
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def test_cli_graph_similar_gaps_views(runner: CliRunner, tmp_path: Path) -> None:
    invoke(runner, "graph", "--format", "json", "-o", str(tmp_path / "g.json"))
    assert json.loads((tmp_path / "g.json").read_text())["nodes"]
    assert invoke(runner, "graph", "--format", "dot").stdout.startswith("digraph")
    out = invoke(runner, "similar", "ahn2019-vid", "-k", "3").stdout
    assert "Score" in out and "Shared" in out
    data = json.loads(invoke(runner, "similar", "ahn2019-vid", "-k", "3", "--format", "json").stdout)
    assert len(data) == 3 and data[0]["score"] >= data[-1]["score"]
    assert "no catalog entry" in invoke(runner, "similar", "ahn2019-vidd", code=1).stderr
    assert "uncovered combination" in invoke(runner, "gaps", "--top", "3").stdout
    data = json.loads(
        invoke(runner, "gaps", "--stages", "knowledge,teacher", "--top", "4", "--format", "json").stdout
    )
    assert len(data) == 4 and set(data[0]["terms"]) == {"knowledge", "teacher"}
    assert "unknown gap facets" in invoke(runner, "gaps", "--stages", "colour", code=1).stderr
    assert "Gou et al." in invoke(runner, "views", "ahn2019-vid").stdout
    data = json.loads(invoke(runner, "views", "ahn2019-vid", "--format", "json").stdout)
    assert data["id"] == "ahn2019-vid"


def test_cli_compose_then_train_recipe(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KDTAX_CACHE_DIR", str(tmp_path / "cache"))
    err = invoke(runner, "compose", "--knowledge", "MI", "--transfer", "mutual", code=1).stderr
    assert err.count("\n") == 1 and "needs only knowledge 'soft-labels'" in err
    assert (
        "name: composed"
        in invoke(runner, "compose", "--knowledge", "hints", "--transfer", "hint-based").stdout
    )
    recipe = tmp_path / "f.yaml"
    invoke(runner, "compose", "--knowledge", "relations", "--transfer", "sequential", "-o", str(recipe))
    assert yaml.safe_load(recipe.read_text())["distillation"]["knowledge"] == ["relations"]
    args = [
        "--epochs",
        "1",
        "--teacher-epochs",
        "1",
        "--max-steps",
        "2",
        "--batch-size",
        "64",
        "--format",
        "json",
    ]
    result = json.loads(invoke(runner, "train", "--recipe", str(recipe), *args).stdout)
    assert result["id"] == "composed" and result["configuration"] == "composed"
    assert all(math.isfinite(result[k]) for k in ("teacher_accuracy", "student_accuracy"))
    assert "not both" in invoke(runner, "train", "ahn2019-vid", "--recipe", str(recipe), code=1).stderr
    assert "not both" in invoke(runner, "train", code=1).stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(recipe.read_text().replace("- relations", "- relashuns"))
    err = invoke(runner, "train", "--recipe", str(bad), code=1).stderr
    assert str(bad) in err and "distillation.knowledge" in err and "relashuns" in err


def test_new_query_commands_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from kdtaxonomy.cli import app\n"
        "for args in (['graph', '--format', 'svg'], ['similar', 'ahn2019-vid'], ['gaps'], ['views', 'ahn2019-vid'],"
        " ['compose', '--knowledge', 'MI', '--transfer', 'permuted']):\n"
        f"    r = CliRunner().invoke(app, ['--catalog', {str(CATALOG)!r}, *args])\n"
        "    assert r.exit_code == 0, (args, r.output)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_topology_needs_no_torch_and_validation_checks_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code = (
        "import sys\n"
        "from kdtaxonomy.catalog import load_catalog\n"
        "from kdtaxonomy.topology import check_topology, topology\n"
        "from kdtaxonomy.recipe import resolve\n"
        "c = load_catalog(use_cache=False)\n"
        "for e, cfg in c.configurations():\n"
        "    check_topology(topology(resolve(cfg, e.id)))\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    # a recipe whose topology cannot run is a validation problem with file, line and field
    import kdtaxonomy.topology as topology_module

    def refuse(graph: nx.DiGraph) -> None:
        if graph.graph.get("transfer") == "sequential":
            raise ValueError("the student is unreachable from every teacher (teacher)")

    monkeypatch.setattr(topology_module, "check_topology", refuse)
    root = make_catalog(
        tmp_path, CATALOG / "methods" / "mirzadeh2020-takd.yaml", CATALOG / "methods" / "ahn2019-vid.yaml"
    )
    _, found = validate_paths([root / "methods"], read_vocabulary(root / "vocabulary.yaml"))
    problems = [p for p in found if p.field != "related.0"]  # TAKD cites an entry this small catalog lacks
    assert [p.field for p in problems] == ["configurations.0.teacher"]
    assert problems[0].file.endswith("mirzadeh2020-takd.yaml") and problems[0].line
    assert problems[0].reason.startswith("topology: the student is unreachable")
