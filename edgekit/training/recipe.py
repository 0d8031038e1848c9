"""Recipes: small declarative descriptions of one model family.

A recipe module in ``recipes/`` defines ``RECIPE = Recipe(...)``: how to build the model, its example inputs and
dynamic axes, its output names, its data, how to train it quickly and how to score it, and the tolerances its
exports are verified with. Everything generic (training loops, metrics) lives in :mod:`edgekit.training.tasks`.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgekit.core.errors import BadInput, suggest
from edgekit.core.spec import InputSpec

if TYPE_CHECKING:
    import torch

Arrays = dict[str, np.ndarray]
Predict = Callable[[Arrays], Arrays]
"""A function from named input arrays to named output arrays: any runner's ``infer``."""


@dataclasses.dataclass(frozen=True)
class Data:
    """A recipe's data as numpy arrays. Keys are the model's input names plus task keys
    (``labels`` for classifiers, ``anomaly`` for anomaly detection, ``real`` for generators' training images)."""

    train: Arrays
    val: Arrays


class Task(Protocol):
    """How a family is trained and scored. ``metric`` names the headline number of :meth:`evaluate`."""

    metric: str
    higher_is_better: bool

    def train(
        self, model: torch.nn.Module, data: Data, recipe: Recipe, *, epochs: int | None = None, seed: int = 0
    ) -> None:
        """Train ``model`` in place on ``data.train``."""

    def evaluate(
        self, predict: Predict, data: Data, recipe: Recipe, reference: Predict | None = None
    ) -> dict[str, float]:
        """Score ``predict`` on ``data.val``; the dict holds ``metric`` and may hold more numbers.
        ``reference`` is eager PyTorch, for metrics measured against it (PSNR of a generator)."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One model family, declared.

    Args:
        name: the recipe's CLI name (``cnn``).
        description: one line for listings.
        build: returns a fresh, untrained ``nn.Module``.
        inputs: example inputs; dimension 0 is the batch, dynamic.
        outputs: names of the model's outputs, in order.
        data: returns the :class:`Data` splits (shipped with a package or generated; never downloaded).
        task: training loop and metric (see :mod:`edgekit.training.tasks`).
        atol, rtol: export verification tolerances against eager fp32.
        notes: what a user should know (e.g. which path of a VAE is deployed).
    """

    name: str
    description: str
    build: Callable[[], torch.nn.Module]
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    data: Callable[[], Data]
    task: Task
    atol: float = 1e-4
    rtol: float = 1e-3
    notes: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def recipes_dir() -> Path:
    import recipes

    return Path(recipes.__file__).parent


def recipe_names() -> list[str]:
    """Names of the recipes shipped in ``recipes/``."""
    return sorted(m.name for m in pkgutil.iter_modules([str(recipes_dir())]) if not m.name.startswith("_"))


def get_recipe(ref: str) -> Recipe:
    """A recipe by name (``cnn``) or by path to its module (``recipes/cnn.py``).

    Raises:
        BadInput: no such recipe, or the module defines no ``RECIPE``.
    """
    if ref.endswith(".py"):
        path = Path(ref)
        if not path.is_file():
            raise BadInput(
                f"recipe file '{ref}' does not exist; give a recipe name "
                f"({', '.join(recipe_names())}) or an existing .py path"
            )
        module = _import_path(path)
    else:
        names = recipe_names()
        if ref not in names:
            raise BadInput(f"unknown recipe '{ref}'; expected one of {', '.join(names)}.{suggest(ref, names)}")
        module = importlib.import_module(f"recipes.{ref}")
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe):
        raise BadInput(f"'{ref}' defines no RECIPE = edgekit.training.recipe.Recipe(...); got {type(recipe).__name__}")
    return recipe


def is_recipe_ref(ref: str) -> bool:
    """True when ``ref`` names a shipped recipe or a recipe file (a .py defining RECIPE, no ':factory')."""
    if ref in recipe_names():
        return True
    return ref.endswith(".py") and ":" not in Path(ref).name and Path(ref).is_file()


def _import_path(path: Path) -> Any:
    name = f"_edgekit_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BadInput(f"cannot import '{path}' as a Python module; expected a .py file")
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: report any failure as bad input
        del sys.modules[name]
        raise BadInput(f"importing '{path}' failed: {type(exc).__name__}: {exc}") from exc
    return module
