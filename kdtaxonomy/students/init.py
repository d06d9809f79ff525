"""Initialisation of the student: from scratch, or from the teacher's parameters (survey Section VI).

* ``from-scratch`` — every submodule that has ``reset_parameters()`` is re-initialised (with a forked RNG
  seeded by ``seed`` when given, so that the global RNG is left alone), except pre-trained parts a module
  names in ``pretrained_parts`` (a fused auxiliary tagger); nothing else changes.
* ``teacher-init`` — Hinton et al. 2015 (survey [1]): "by initializing the student with teacher
  parameters, better training is possible". The teacher's ``state_dict`` (parameters and buffers) is
  copied into the student, which must have exactly the same names and shapes; otherwise the error lists
  the first mismatches. The student's tensors stay its own (values are copied, not shared).
"""

from __future__ import annotations

import torch
from torch import nn

from kdtaxonomy.registry import register
from kdtaxonomy.specs.students import FromScratchSpec, TeacherInitSpec
from kdtaxonomy.students.base import Construction

MAX_LISTED = 5
"""Mismatches listed in the error of :func:`copy_teacher_state`."""


PRETRAINED_PARTS = "pretrained_parts"
"""Attribute of a module naming its submodules that are pre-trained and must never be re-initialised (e.g.
the fused auxiliary tagger of :class:`~kdtaxonomy.teachers.fusion.FusionStudent`)."""


def reset_parameters(module: nn.Module) -> int:
    """Call ``reset_parameters()`` on every submodule that has it, except inside the pre-trained parts a
    module names in ``pretrained_parts``; returns how many did."""
    kept = {
        id(inner)
        for sub in module.modules()
        for name in getattr(sub, PRETRAINED_PARTS, ())
        for inner in getattr(sub, name).modules()
    }
    count = 0
    for sub in module.modules():
        if id(sub) in kept:
            continue
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
            count += 1
    return count


def state_mismatches(student: nn.Module, teacher: nn.Module) -> list[str]:
    """Human-readable differences of the two ``state_dict``s (names and shapes)."""
    s_state, t_state = student.state_dict(), teacher.state_dict()
    problems = [f"{k}: missing in the teacher" for k in s_state if k not in t_state]
    problems += [f"{k}: not in the student" for k in t_state if k not in s_state]
    problems += [
        f"{k}: student {tuple(s_state[k].shape)} vs teacher {tuple(t_state[k].shape)}"
        for k in s_state
        if k in t_state and s_state[k].shape != t_state[k].shape
    ]
    return problems


def copy_teacher_state(student: nn.Module, teacher: nn.Module | None) -> None:
    """Copy the teacher's ``state_dict`` into the student; a ``ValueError`` lists the first mismatches."""
    if teacher is None:
        raise ValueError("initialising the student from the teacher needs a teacher")
    problems = state_mismatches(student, teacher)
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise ValueError(
            f"cannot initialise the student from the teacher: parameter names/shapes differ "
            f"({len(problems)} mismatches): {listed}{more}"
        )
    with torch.no_grad():
        student.load_state_dict(teacher.state_dict(), strict=True)


@register(spec=FromScratchSpec)
class FromScratch(Construction[FromScratchSpec]):
    """The student is randomly (re-)initialised and trained with the distillation objective."""

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        if self.spec.seed is None:
            self._reset = reset_parameters(student)
        else:
            with torch.random.fork_rng():
                torch.manual_seed(self.spec.seed)
                self._reset = reset_parameters(student)
        return student

    def describe(self, student: nn.Module) -> dict[str, float]:
        return {"reinitialised_modules": float(getattr(self, "_reset", 0))}


@register(spec=TeacherInitSpec)
class TeacherInit(Construction[TeacherInitSpec]):
    """Hinton et al. 2015 (survey [1]): the student starts from the teacher's parameters (with several
    teachers, the first one's: the generalist of a generalist + specialists setup)."""

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        if isinstance(teacher, nn.ModuleList) and len(teacher):
            teacher = getattr(teacher[0], "generalist", teacher[0])
        copy_teacher_state(student, teacher)
        return student
