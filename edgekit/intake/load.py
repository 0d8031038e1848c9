"""Model intake: turn the one ``MODEL`` argument every command takes into a :class:`~edgekit.core.model.LoadedModel`.

``MODEL`` may be
  - a recipe by name (``cnn``) or path (``recipes/cnn.py``);
  - ``path/to/file.py:factory`` or ``package.module:factory``: a callable returning an ``nn.Module``;
  - a saved ExportedProgram (``.pt2``) or TorchScript file (``.ts`` / ``.pt``).
Inputs come from ``--input NAME:DIMS[:DTYPE]``, else the recipe, else the factory module's ``example_inputs()``,
else a ``manifest.json`` beside a saved file.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from edgekit.core.errors import BadInput
from edgekit.core.model import DEFAULT_ATOL, DEFAULT_RTOL, FlatOutputs, LoadedModel, probe_outputs
from edgekit.core.spec import DTYPES, InputSpec, apply_dynamic, freeze_axes, parse_input
from edgekit.intake.checkpoint import apply_checkpoint, read_checkpoint
from edgekit.training.recipe import _import_path, get_recipe, is_recipe_ref

# Models built without a checkpoint get this seed's initialisation, so that `export` and a later `compare` of the
# same MODEL see the same weights.
INIT_SEED = 0
SAVED_SUFFIXES = {".pt2": "pt2", ".ts": "torchscript", ".pt": "torchscript"}


def load_model(
    ref: str,
    *,
    checkpoint: str | Path | None = None,
    inputs: Sequence[str] = (),
    dynamic: Sequence[str] = (),
    static: bool = False,
    trust_checkpoint: bool = False,
    atol: float | None = None,
    rtol: float | None = None,
) -> LoadedModel:
    """Load ``ref`` (see the module doc) as an eval-mode model with named inputs and outputs.

    Args:
        ref: the MODEL argument.
        checkpoint: a state_dict file for a recipe or factory model.
        inputs: ``--input`` values; they override the model's own example inputs.
        dynamic: ``--dynamic NAME:AXIS`` values.
        static: no dynamic axes at all (``--static``).
        trust_checkpoint: allow checkpoints that need full unpickling.
        atol, rtol: override the verification tolerances.

    Raises:
        BadInput: anything about ``ref``, the checkpoint or the inputs that does not fit.
    """
    specs = [parse_input(t, static) for t in inputs]
    suffix = Path(ref).suffix.lower()
    if is_recipe_ref(ref):
        loaded = _from_recipe(ref, specs)
    elif suffix in SAVED_SUFFIXES and ":" not in Path(ref).name:
        if checkpoint is not None:
            raise BadInput(
                f"--checkpoint applies to recipes and factories, not to a saved {suffix} file ('{ref}'); "
                f"drop --checkpoint"
            )
        loaded = _from_saved(Path(ref), specs)
    elif ":" in ref:
        loaded = _from_factory(ref, specs)
    else:
        raise BadInput(_unknown_ref_message(ref))
    if checkpoint is not None:
        state = read_checkpoint(checkpoint, trust_checkpoint)
        apply_checkpoint(cast(nn.Module, loaded.module.module), state, checkpoint)
        loaded.checkpoint = str(Path(checkpoint).resolve())
    loaded.module.eval()
    loaded.inputs = apply_dynamic(loaded.inputs, dynamic, static)
    if atol is not None:
        loaded.atol = atol
    if rtol is not None:
        loaded.rtol = rtol
    return loaded


def _unknown_ref_message(ref: str) -> str:
    from edgekit.training.recipe import recipe_names

    path = Path(ref)
    if path.suffix == ".py" or path.exists():
        what = f"'{ref}' " + ("exists but is not a recipe" if path.exists() else "does not exist")
    else:
        what = f"'{ref}' is not a recipe, a file.py:factory or a saved model"
    from edgekit.core.errors import suggest

    return (
        f"{what}; expected a recipe name ({', '.join(recipe_names())}), a recipe path, path/file.py:factory, "
        f"package.module:factory, or a .pt2/.ts/.pt file.{suggest(ref, recipe_names())}"
    )


def _from_recipe(ref: str, specs: list[InputSpec]) -> LoadedModel:
    recipe = get_recipe(ref)
    torch.manual_seed(INIT_SEED)
    module = recipe.build()
    inputs = specs or list(recipe.inputs)
    outputs = probe_outputs(module.eval(), inputs, recipe.outputs)
    return LoadedModel(FlatOutputs(module), inputs, outputs, f"recipe:{recipe.name}", recipe, recipe.atol, recipe.rtol)


def _from_factory(ref: str, specs: list[InputSpec]) -> LoadedModel:
    target, _, name = ref.rpartition(":")
    if not target or not name:
        raise BadInput(f"bad model reference '{ref}': expected path/file.py:factory or package.module:factory")
    module_obj = _import_target(target, ref)
    factory = getattr(module_obj, name, None)
    if factory is None or not callable(factory):
        found = [n for n, v in vars(module_obj).items() if callable(v) and not n.startswith("_")]
        from edgekit.core.errors import suggest

        raise BadInput(
            f"'{target}' has no callable '{name}'; callables there: {', '.join(found[:12])}.{suggest(name, found)}"
        )
    torch.manual_seed(INIT_SEED)
    try:
        model = factory()
    except Exception as exc:  # the user's factory
        raise BadInput(f"factory '{ref}' raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise BadInput(f"factory '{ref}' returned a {type(model).__name__}; expected a torch.nn.Module")
    model.eval()
    if not specs:
        specs = _example_inputs(module_obj, model, ref)
    outputs = probe_outputs(model, specs, getattr(module_obj, "OUTPUT_NAMES", None))
    atol = getattr(module_obj, "ATOL", DEFAULT_ATOL)
    rtol = getattr(module_obj, "RTOL", DEFAULT_RTOL)
    return LoadedModel(FlatOutputs(model), specs, outputs, f"factory:{ref}", None, atol, rtol)


def _import_target(target: str, ref: str) -> Any:
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise BadInput(f"model file '{target}' (from '{ref}') does not exist; check the path")
        return _import_path(path)
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise BadInput(
            f"cannot import module '{target}' (from '{ref}'): {exc}; check it is on PYTHONPATH, "
            f"or give a file path like path/to/file.py:factory"
        ) from exc
    except Exception as exc:  # the user's module failed while importing
        raise BadInput(f"importing module '{target}' (from '{ref}') failed: {type(exc).__name__}: {exc}") from exc


def _example_inputs(module_obj: Any, model: nn.Module, ref: str) -> list[InputSpec]:
    """Specs from the factory module's ``example_inputs()``: a list of InputSpec, a dict of tensors, or a tuple
    of tensors named after ``forward``'s parameters."""
    fn = getattr(module_obj, "example_inputs", None)
    if fn is None:
        raise BadInput(
            f"no inputs known for '{ref}': pass --input NAME:DIMS[:DTYPE] for each forward() argument "
            f"(e.g. --input x:1x3x32x32), or define example_inputs() in the factory's module"
        )
    try:
        value = fn()
    except Exception as exc:  # the user's function
        raise BadInput(f"example_inputs() in '{ref}' raised {type(exc).__name__}: {exc}") from exc
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, InputSpec) for v in value):
        return list(value)
    if isinstance(value, torch.Tensor):
        value = (value,)
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        names = _forward_arg_names(model, len(value))
        items = list(zip(names, value, strict=True))
    else:
        raise BadInput(
            f"example_inputs() in '{ref}' returned a {type(value).__name__}; expected tensors "
            f"(tuple or dict) or a list of edgekit.core.spec.InputSpec"
        )
    specs = []
    for name, t in items:
        dtype = str(getattr(t, "dtype", "")).removeprefix("torch.")
        if not isinstance(t, torch.Tensor) or dtype not in DTYPES:
            raise BadInput(
                f"example_inputs() in '{ref}': input '{name}' is a {type(t).__name__} of dtype "
                f"'{dtype}'; expected tensors of {', '.join(DTYPES)} (cast it, e.g. x.float())"
            )
        specs.append(InputSpec(name, tuple(t.shape), dtype, dynamic=(0,) if t.dim() else ()))
    return specs


def _forward_arg_names(model: nn.Module, count: int) -> list[str]:
    params = [
        p
        for p in inspect.signature(model.forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    names = [p.name for p in params][:count]
    return names + [f"input_{i}" for i in range(len(names), count)]


def _from_saved(path: Path, specs: list[InputSpec]) -> LoadedModel:
    if not path.is_file():
        raise BadInput(f"model file '{path}' does not exist; check the path")
    kind = SAVED_SUFFIXES[path.suffix.lower()]
    manifest = _manifest_entry(path)
    if not specs and manifest:
        specs = manifest["inputs"]
    if kind == "pt2":
        from edgekit.backends.torch_runner import ProgramFromFile

        program_module = ProgramFromFile(path)()
        if not specs:
            specs = _specs_from_program(path)
        module: nn.Module = program_module
    else:
        from edgekit.backends.torch_runner import ScriptFromFile

        module = ScriptFromFile(path)()
        if not specs:
            raise BadInput(
                f"no inputs known for TorchScript file '{path}': pass --input NAME:DIMS[:DTYPE] for "
                f"each input, or keep the manifest.json written beside it by edgekit export"
            )
    outputs = probe_outputs(module, specs, manifest["outputs"] if manifest else None)
    return LoadedModel(FlatOutputs(module), specs, outputs, f"{kind}:{path}")


def _specs_from_program(path: Path) -> list[InputSpec]:
    program = torch.export.load(str(path))
    specs = []
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in program.graph_signature.user_inputs:
            continue
        val = node.meta.get("val")
        if val is None:
            continue
        dims, dynamic = [], []
        for i, d in enumerate(val.shape):
            if isinstance(d, int):
                dims.append(d)
            else:
                dims.append(2)
                dynamic.append(i)
        specs.append(InputSpec(node.name, tuple(dims), str(val.dtype).removeprefix("torch."), tuple(dynamic)))
    return specs


def _manifest_entry(path: Path) -> dict[str, Any] | None:
    """What the manifest.json beside ``path`` records for it: ``inputs`` (InputSpecs, with the axes this file's
    exporter froze made static), ``outputs`` (names); None without a readable manifest."""
    manifest = path.parent / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text())
        specs = [InputSpec.from_json(i) for i in data["inputs"]]
        outputs = [str(o["name"]) for o in data["outputs"]]
        entry: dict[str, Any] = next((a for a in data.get("artifacts", []) if a.get("file") == path.name), {})
        frozen = list((entry.get("details") or {}).get("frozen_axes", []))
    except (ValueError, KeyError, TypeError, AttributeError):
        print(f"edgekit: ignoring unreadable {manifest}", file=sys.stderr)
        return None
    return {"inputs": freeze_axes(specs, frozen), "outputs": outputs}
