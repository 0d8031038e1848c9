"""Every recipe as an AOTInductor package, verified at its shape plan (slow: one C++ compile per recipe, 8-30 s).
Timings are in benchmarks/aoti_recipes.py, not asserted here."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.artifacts.formats import FORMATS
from edgekit.export.driver import export_all
from edgekit.intake.load import load_model
from edgekit.training.recipe import recipe_names


@pytest.mark.slow
@pytest.mark.parametrize("recipe", recipe_names())
def test_every_recipe_compiles_to_a_verified_package(recipe: str, tmp_path: Path) -> None:
    reason = FORMATS["aoti"].unavailable_reason()
    if reason is not None:
        pytest.skip(f"aoti: {reason}")
    [result] = export_all(load_model(recipe), [FORMATS["aoti"]], tmp_path)
    assert result.error is None, result.error
    v = result.verification
    assert v.passed or v.nondeterministic, v.failures()  # the vae samples in forward: not comparable
    assert result.details["compile_seconds"] > 0
    assert len({c.label for c in v.checks}) >= 3  # the example and two other sizes of every dimension
