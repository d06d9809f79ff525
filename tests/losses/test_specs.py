"""The torch-free loss specs (``kdtaxonomy.specs.losses``) match the registered loss modules one to one."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kdtaxonomy.losses  # noqa: F401  (registers the losses)
import kdtaxonomy.specs.losses as loss_specs
from kdtaxonomy.registry import REGISTRY
from kdtaxonomy.specs import SPECS

REGISTERED = sorted(c.key for c in REGISTRY.list("loss"))


@pytest.mark.parametrize("key", REGISTERED)
def test_registered_loss_uses_its_spec(key: str) -> None:
    comp = REGISTRY.get("loss", key)
    assert key in SPECS["loss"], f"loss {key!r} has no spec in kdtaxonomy.specs.losses"
    spec = SPECS["loss"][key]
    assert comp.params is spec
    assert comp.obj.params_model is spec
    assert comp.term == spec.term
    assert issubclass(spec, loss_specs.LossSpec)


def test_every_spec_has_a_registered_loss() -> None:
    assert sorted(SPECS["loss"]) == REGISTERED


def test_specs_import_without_torch() -> None:
    code = "import sys, kdtaxonomy.specs.losses; assert 'torch' not in sys.modules, 'torch was imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
