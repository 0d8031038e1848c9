"""Loading checkpoints safely (``torch.load(weights_only=True)``) and fitting them to a model with a full report."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgekit.artifacts.archive import refused_global
from edgekit.core.errors import BadInput

STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights", "params", "ema")


def read_checkpoint(path: str | Path, trust: bool = False) -> dict[str, torch.Tensor]:
    """The state_dict in ``path``: a bare state_dict, or a dict holding one under a usual key.

    Args:
        path: the checkpoint file.
        trust: allow arbitrary pickles (``weights_only=False``); only for files you trust.

    Raises:
        BadInput: missing file, a pickle that needs ``--trust-files``, or no state_dict inside.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"checkpoint '{path}' does not exist; pass an existing file to --checkpoint")
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol and legacy-format warnings: not the user's news
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # not a refused class: the file itself is unreadable
            raise BadInput(
                f"cannot read checkpoint '{path}': {_reason(exc)}; expected a file written by torch.save"
            ) from exc
        name = refused_global(exc)
        what = f"the Python global {name}" if name else _reason(exc)
        raise BadInput(
            f"checkpoint '{path}' needs {what}, which a weights-only load refuses (it could run code); "
            f"pass --trust-files only if you trust this file, or re-save its state_dict with torch.save"
        ) from exc
    except Exception as exc:  # torch.load raises many types for a corrupt file
        raise BadInput(
            f"cannot read checkpoint '{path}': {type(exc).__name__}: {str(exc)[:200]}; "
            f"expected a file written by torch.save"
        ) from exc
    return _state_dict_of(obj, path)


def _reason(exc: Exception) -> str:
    """The informative line of a torch.load error (its first line is a long generic preamble)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if ln.startswith(("WeightsUnpickler error", "Unsupported", "invalid", "_pickle"))]
    return (useful or lines or [type(exc).__name__])[0][:200]


def _state_dict_of(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        for key in STATE_KEYS:
            if key in obj:
                return _state_dict_of(obj[key], path)
        keys = ", ".join(map(str, list(obj)[:8]))
        raise BadInput(
            f"checkpoint '{path}' is a dict without a state_dict (keys: {keys}); expected tensors "
            f"or one of the keys {', '.join(STATE_KEYS)}"
        )
    raise BadInput(f"checkpoint '{path}' holds a {type(obj).__name__}; expected a state_dict or a dict holding one")


def apply_checkpoint(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load ``state`` into ``module`` strictly.

    Raises:
        BadInput: listing every missing, unexpected and mis-shaped key.
    """
    own = module.state_dict()
    if state and not (set(state) & set(own)) and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel/DDP
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshaped = [
        f"{k} (model {tuple(own[k].shape)}, checkpoint {tuple(state[k].shape)})"
        for k in own
        if k in state and own[k].shape != state[k].shape
    ]
    if missing or unexpected or misshaped:
        parts = [
            f"{label}: {', '.join(items[:10])}{' ...' if len(items) > 10 else ''}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if items
        ]
        raise BadInput(
            f"checkpoint '{path}' does not fit the model; "
            + "; ".join(parts)
            + "; check that the checkpoint was saved from this architecture"
        )
    module.load_state_dict(state)
