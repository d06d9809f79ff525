"""The syntax of a knowledge term's ``location``: which feature maps it reads on each model (torch-free).

* ``output``, ``embedding``, ``block2``: one map, read under the same name on the student and the sources;
* ``student:teacher`` when the two sides' names differ (``embedding:lstm``);
* ``a&b`` for a term that reads several maps of each model, in order (``block1&block2``; with different
  names per side, ``block1&block2:block2&block3``). Its loss module gets a tuple of tensors per side, and
  tuples of per-sample shapes as ``s_shape``/``t_shape``. Only losses whose spec allows several maps
  (:attr:`kdtaxonomy.specs.losses.LossSpec.maps`) take such a location; both sides name as many maps.

``+`` is not used here: it joins input views (``x+spectral``).
"""

from __future__ import annotations

OUTPUT = "output"
"""The location of a model's logits (its forward output), the default."""
SEPARATOR = "&"
"""Joins the maps of one side of a multi-map location."""


def split_location(location: str | None) -> tuple[str, str]:
    """``"embedding"`` -> (embedding, embedding); ``"embedding:lstm"`` -> student and teacher sides."""
    student, _, teacher = (location or OUTPUT).partition(":")
    return student, teacher or student


def side_names(side: str) -> tuple[str, ...]:
    """The location names of one side: ``"block1&block2"`` -> (block1, block2); ``"block2"`` -> (block2,)."""
    return tuple(side.split(SEPARATOR))


def names(location: str | None, side: int) -> tuple[str, ...]:
    """The names read on the student (``side=0``) or on the sources (``side=1``)."""
    return side_names(split_location(location)[side])


def map_pairs(location: str | None) -> list[str]:
    """One label per map read: ``name`` where both sides read the same, else ``student:teacher``
    (``"block1&block2:block2&block3"`` -> ``["block1:block2", "block2:block3"]``)."""
    student, teacher = (side_names(s) for s in split_location(location))
    if len(student) != len(teacher):
        return [str(location)]
    return [s if s == t else f"{s}:{t}" for s, t in zip(student, teacher, strict=True)]


def location_problem(location: str | None, maps: tuple[int, int | None] = (1, 1)) -> str | None:
    """Why ``location`` cannot be read by a loss taking ``maps = (fewest, most)`` maps per side (most None:
    no limit); None when it can."""
    text = location or OUTPUT
    if text.count(":") > 1:
        return f"location {text!r}: at most one ':' (student:teacher)"
    sides = [side_names(s) for s in split_location(text)]
    for side in sides:
        bad = [n for n in side if not n or n != n.strip()]
        if bad:
            return f"location {text!r}: an empty or padded name around {SEPARATOR!r} or ':'"
        if len(set(side)) != len(side):
            return f"location {text!r}: a name is read twice on one side"
    if len(sides[0]) != len(sides[1]):
        return (
            f"location {text!r}: the student side names {len(sides[0])} map(s), the teacher side "
            f"{len(sides[1])}; both name as many, in order"
        )
    fewest, most = maps
    count = len(sides[0])
    if count < fewest or (most is not None and count > most):
        allowed = str(fewest) if fewest == most else f"{fewest} to {most}" if most else f"{fewest} or more"
        return (
            f"location {text!r} reads {count} map(s) per model; this loss takes {allowed} "
            f"(several maps are joined with {SEPARATOR!r}, e.g. 'block1{SEPARATOR}block2')"
        )
    return None
