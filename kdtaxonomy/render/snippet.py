"""The "run it" Python snippet of a configuration, shown by ``kdtax show`` and the site (torch-free).

It runs as printed (tested for every catalogued configuration): registry stand-ins for the user's trained
teacher(s), student and data, then ``kdtaxonomy.instantiate`` with the configuration, ``describe``, ``fit``,
``evaluate`` and ``save``; the locations a user must map on their own models are named in a comment.
"""

from __future__ import annotations

from typing import Any

from kdtaxonomy.location_names import names
from kdtaxonomy.schema import Configuration, Entry

FOUND_BY_DEFAULT = {"output", "embedding"}
"""Locations :func:`kdtaxonomy.instantiate` finds on any model (its output; the input of its last nn.Linear)."""


def _named_locations(entry: Entry, config: Configuration) -> tuple[list[str], list[str]]:
    """The locations a configuration's knowledge terms read on the student and on the teacher that must be
    named in ``layers=`` (torch-free: read from the resolved recipe)."""
    from kdtaxonomy.recipe import RecipeError, resolve

    try:
        knowledge = resolve(config, entry.id).knowledge
    except RecipeError:
        return [], []
    sides: tuple[set[str], set[str]] = (set(), set())
    for spec in knowledge:
        sides[0].update(names(spec.location, 0))  # each name of a multi-map location a&b
        sides[1].update(names(spec.location, 1))
    return sorted(sides[0] - FOUND_BY_DEFAULT), sorted(sides[1] - FOUND_BY_DEFAULT)


def _snippet_models(entry: Entry, config: Configuration) -> tuple[list[tuple[str, str]], str]:
    """The trained models ``instantiate`` takes for this configuration, in order, as ``(name, build_model
    arguments)``, and the student's arguments: the recipe's own registry architectures (torch-free)."""
    from kdtaxonomy.recipe import RecipeError, resolve
    from kdtaxonomy.specs import get_spec

    default = [("teacher", "'cnn1d', {'size': 'large'}")], "'cnn1d', {'size': 'small'}"
    try:
        recipe = resolve(config, entry.id)
        spec: Any = get_spec("teacher", recipe.teacher.component).model_validate(recipe.teacher.params)
    except (RecipeError, KeyError, ValueError):
        return default
    plan = spec.plan(10)
    nodes = plan.peers or plan.nodes
    teachers = [(n.name.replace("-", "_"), f"{n.model!r}, {{'size': {n.size!r}}}") for n in nodes]
    student = f"{recipe.student_model.component!r}, {dict(recipe.student_model.params)!r}"
    return teachers or default[0], student


SNIPPET_STEPS = 2000
"""The optimizer steps the "run it" snippet asks for."""


def python_snippet(entry: Entry, config: Configuration) -> str:
    """The "run it" Python snippet of a configuration (site and ``kdtax show``): it runs as printed on
    registry stand-ins for the user's teacher(s), student and data, and says where the user's own go."""
    task = task_dataset(config, entry.id)
    if task is not None:
        return task_snippet(entry, config, task)
    student, teacher = _named_locations(entry, config)
    teachers, student_model = _snippet_models(entry, config)
    names = [name for name, _ in teachers]
    models = "".join(
        f"{name} = build_model({arch}, input_shape=shape, num_classes=classes)\n" for name, arch in teachers
    )
    given = names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"
    if student or teacher:

        def mapping(locations: list[str]) -> str:
            return "{" + ", ".join(f"{n!r}: 'MODULE'" for n in locations) + "}"

        layers = (
            "    # registry models name their locations; for your own models map each one to a name from\n"
            "    # model.named_modules() ('output' and 'embedding' are found on any model):\n"
            f"    # layers={{'student': {mapping(student)}, 'teacher': {mapping(teacher)}}},\n"
        )
    else:
        layers = "    # the locations it reads (output, embedding) are found on any model\n"
    return (
        "import kdtaxonomy\n"
        "from kdtaxonomy.datasets import build_dataset\n"
        "from kdtaxonomy.models import build_model\n\n"
        "# Stand-ins so that this runs as printed: put your trained teacher(s), your student and your data\n"
        "# (a DataLoader or any iterable of (x, y) batches) in their place.\n"
        "data = build_dataset('mnist1d')\n"
        "shape, classes = tuple(data.train.x.shape[1:]), data.num_classes\n"
        f"{models}"
        f"student = build_model({student_model}, input_shape=shape, num_classes=classes)\n\n"
        "distiller = kdtaxonomy.instantiate(\n"
        f"    {entry.id!r}, config={config.name!r},\n"
        f"    teacher={given}, student=student,\n" + layers + ")\n"
        "print(distiller.describe())  # teachers, the module each location reads, losses and weights\n"
        f"distiller.fit(data.train, steps={SNIPPET_STEPS})\n"
        "print(distiller.evaluate(data.test))\n"
        "distiller.save('student.safetensors')\n"
    )


TASK_OPTIONS = "RunOptions(seed=0)"
"""The run options of a task snippet (the test replaces them with CI-sized budgets and data)."""


def task_dataset(config: Configuration, entry_id: str) -> str | None:
    """The dataset key of the configuration's recipe when it is a task with its own runner, else None."""
    from kdtaxonomy.recipe import RecipeError, resolve
    from kdtaxonomy.specs import get_spec

    try:
        key = resolve(config, entry_id).dataset.component
    except RecipeError:
        return None
    return key if getattr(get_spec("dataset", key), "runner", "") else None


def task_snippet(entry: Entry, config: Configuration, dataset: str) -> str:
    """The snippet of a configuration on a task (the sequence benchmark, the catalog's sentences): its recipe
    trains the teacher, the student alone and the distilled student there, as ``kdtax train`` does."""
    return (
        "from kdtaxonomy.catalog import load_catalog\n"
        "from kdtaxonomy.recipe import resolve\n"
        "from kdtaxonomy.runner import RunOptions, run_recipe\n\n"
        f"# {dataset} is a task with its own runner: the recipe trains the teacher, the student alone and\n"
        "# the distilled student on it (as kdtax train does); budgets and dataset_params go in RunOptions.\n"
        f"entry = load_catalog().get({entry.id!r})\n"
        f"recipe = resolve(entry.configuration({config.name!r}), entry.id)\n"
        f"result = run_recipe(recipe, {TASK_OPTIONS})\n"
        "print({k: v for k, v in result.items() if k.endswith('_accuracy')})\n"
    )
