"""``python -m kdtaxonomy.launch ID [options]`` / ``torchrun --nproc_per_node=N -m kdtaxonomy.launch ID``:
the data-parallel entry point of ``kdtax train`` (same options); each process runs the training command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run ``kdtax train`` with ``argv`` (``sys.argv[1:]`` by default); ``train`` is prepended if missing."""
    from kdtaxonomy.cli import app

    args = list(sys.argv[1:] if argv is None else argv)
    app(args if "train" in args else ["train", *args], prog_name="kdtaxonomy.launch")


if __name__ == "__main__":
    main()
