"""How a run splits and aligns its data: the validation hold-out and the teachers' own views of each sample."""

from __future__ import annotations

import torch

from kdtaxonomy.data import ArrayData


def validation_split(data: ArrayData, fraction: float, seed: int) -> tuple[ArrayData, ArrayData | None]:
    """``(train, validation)``: a seeded stratified ``fraction`` of each class held out for model selection."""
    if fraction <= 0:
        return data, None
    from kdtaxonomy.prep.subsets import stratified_rows

    held = stratified_rows(data.y, fraction, torch.Generator().manual_seed(seed * 7 + 12_345))
    keep = torch.ones(len(data), dtype=torch.bool)
    keep[held] = False
    return data.subset(keep), data.subset(held)


def teacher_inputs(student: ArrayData, teacher: ArrayData, views: list[str]) -> tuple[ArrayData, list[str]]:
    """The student's data with each teacher's own input view of the same samples added as ``teacher.<v>``.

    Data preparation may change what the student sees (lower resolution, truncation) but never what a
    teacher sees: a teacher is fed its own view of each sample, matched by sample index. Views the two roles
    share are left as they are; synthetic rows (no index in the teacher's data) keep the student's input.
    """
    position = {int(i): p for p, i in enumerate(teacher.index.tolist())}
    rows = [position.get(int(i), -1) for i in student.index.tolist()]
    if not rows or min(rows) < 0:
        return student, views
    take = torch.tensor(rows, dtype=torch.long)
    added: dict[str, torch.Tensor] = {}
    mapped = []
    for view in views:
        parts = []
        for part in view.split("+"):
            own = teacher.view(part)[take]
            theirs = student.view(part) if part == "x" or part in student.views else None
            if theirs is not None and theirs.shape == own.shape and torch.equal(theirs, own):
                parts.append(part)
            else:
                added[f"teacher.{part}"] = own
                parts.append(f"teacher.{part}")
        mapped.append("+".join(parts))
    return (student.with_views(**added) if added else student), mapped
