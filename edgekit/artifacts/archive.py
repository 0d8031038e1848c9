"""The one gate for files from elsewhere: look inside a ``.pt2`` / TorchScript archive before torch loads it.

``torch.export.load`` (torch 2.13) unpickles with ``weights_only=False`` every weight or tensor constant whose
archive config marks it ``use_pickle``, ``pickle.loads`` every opaque constant, falls back to ``weights_only=False``
for sample inputs and legacy state-dict files that a weights-only load refuses, and loads any AOTInductor package
(native code) it finds in the archive (TRAPS.md, "Untrusted files"). Any of these runs code from the file. This
module reads the zip with :mod:`zipfile` and the configs as JSON, probes each pickled entry with
``torch.load(weights_only=True)`` (which refuses every global outside torch's allow-list and names the one it met),
and reports what torch would run; :func:`check_file` raises unless the user passed ``--trust-files``.

What is *not* refused, and why:
  - entries a weights-only load accepts (plain tensors, containers of them): torch's fallback never triggers;
  - TorchBind custom objects (``custom_obj_*``): torch reads them with its C++ unpickler, which builds only
    registered TorchBind classes, no Python global;
  - an AOTInductor package (``.aoti.pt2``) IS native code: it is refused unless trusted (``--trust-files``), or
    loaded by the same edgekit run that compiled it (``export``, ``pipeline``, ``bench MODEL``);
  - TorchScript files: ``torch.jit.load`` reads ``data.pkl`` / ``constants.pkl`` with the same C++ unpickler (no
    Python global is resolved, so no ``os.system``), but the file's *code* is TorchScript from the file and runs when
    the model runs: it can compute anything torch ops compute. Trust a TorchScript file as you trust its source.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import warnings
import zipfile
from pathlib import Path

from edgekit.core.errors import BadInput

_GLOBAL = re.compile(r"GLOBAL (\S+) whose")
_PICKLE_OPS = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD", "EXT1", "EXT2"}
AOTI_SUFFIX = ".aoti.pt2"
"""An AOTInductor package (:mod:`edgekit.export.aoti`): a shared library, trusted only when asked to."""
_LEGACY_PT2 = ("serialized_state_dict.pt", "serialized_constants.pt", "serialized_example_inputs.pt")


def refused_global(exc: BaseException) -> str | None:
    """The global a weights-only ``torch.load`` refused (``posix.system``), from torch's message, else None."""
    found = _GLOBAL.search(str(exc))
    if found:
        return found.group(1)
    unsupported = re.search(r"Unsupported (?:global|class):? (?:GLOBAL )?([\w.]+)", str(exc))
    return unsupported.group(1) if unsupported else None


def weights_only_probe(data: bytes) -> str | None:
    """None when ``torch.load(weights_only=True)`` accepts ``data``; else what it refused (the global's name, or
    the first line of torch's reason). torch's own warnings (pickle protocol, legacy format) stay silent."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # any refusal or unreadable payload: torch would then retry without weights_only
        name = refused_global(exc)
        if name:
            return f"needs the Python global {name}"
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        return f"is not a plain tensor pickle ({type(exc).__name__}: {(lines or [''])[-1][:120]})"
    return None


def _plain_pickle_globals(data: bytes) -> str | None:
    """None when a plain pickle builds only literals; else the first object-building opcode it holds."""
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in _PICKLE_OPS:
                return f"{op.name} {arg}" if arg is not None else op.name
    except Exception as exc:  # a malformed pickle: pickle.loads would still try it
        return f"an unreadable pickle ({type(exc).__name__})"
    return None


def _strip_root(name: str) -> str:
    """``good/data/weights/x`` -> ``data/weights/x``: torch.export.save puts every entry under one folder, and
    torch's reader drops the first path component of each entry, whatever it is called."""
    return name.partition("/")[2] or name


def _readings(name: str) -> list[str]:
    """Both ways an entry may be read: as named, and without its first component (what torch does). Checking
    both means a root folder called ``data`` or ``models`` hides nothing."""
    return list(dict.fromkeys([name, _strip_root(name)]))


def _config_findings(zf: zipfile.ZipFile, name: str, kind: str) -> list[str]:
    folder = name.rsplit("/", 1)[0]
    try:
        config = json.loads(zf.read(name)).get("config", {})
        items = list(config.items())
    except (ValueError, AttributeError, KeyError) as exc:
        return [f"{kind} config {_strip_root(name)} is not valid JSON ({type(exc).__name__})"]
    found = []
    for fqn, meta in items:
        if not isinstance(meta, dict) or not meta.get("use_pickle"):
            continue
        path_name = str(meta.get("path_name", ""))
        entry = f"{folder}/{path_name}"
        what = f"{kind} '{fqn}' is a pickle ({_strip_root(entry)})"
        if path_name.startswith("custom_obj_"):
            continue  # TorchBind objects: C++ unpickler, registered classes only (see the module doc)
        try:
            data = zf.read(entry)
        except KeyError:
            found.append(f"{what} that the archive lacks")
            continue
        if path_name.startswith("opaque_obj_"):
            op = _plain_pickle_globals(data)
            if op:
                found.append(f"{what} holding {op}, which torch.export.load would run through pickle.loads")
            continue
        reason = weights_only_probe(data)
        if reason:
            found.append(f"{what} that {reason}, which torch.export.load would unpickle with weights_only=False")
    return found


def pt2_findings(path: Path) -> list[str]:
    """What in the ``.pt2`` at ``path`` would run code under ``torch.export.load``; empty when nothing would.

    Raises:
        BadInput: the file is not a zip archive (truncated, or not a .pt2).
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadInput(
            f"cannot load ExportedProgram '{path}': not a .pt2 archive ({exc}); expected a complete file written "
            f"by torch.export.save (edgekit export --format pt2); a truncated copy reads like this"
        ) from None
    found: list[str] = []
    with zf:
        for name in zf.namelist():
            for rel in _readings(name):
                found += _entry_findings(zf, name, rel)
    return list(dict.fromkeys(found))


def _entry_findings(zf: zipfile.ZipFile, name: str, rel: str) -> list[str]:
    """What entry ``name``, read as ``rel``, would run under torch.export.load."""
    if rel.startswith("data/weights/") and rel.endswith("_weights_config.json"):
        return _config_findings(zf, name, "weight")
    if rel.startswith("data/constants/") and rel.endswith("_constants_config.json"):
        return _config_findings(zf, name, "constant")
    if rel.startswith("data/aotinductor/") and not rel.endswith("/"):
        return [f"{rel} belongs to an AOTInductor package, which torch.export.load would load as native code"]
    if _is_probed_pickle(rel):
        reason = weights_only_probe(zf.read(name))
        if reason:
            return [f"{rel} {reason}, which torch.export.load would unpickle with weights_only=False"]
    return []


def _is_probed_pickle(rel: str) -> bool:
    """Entries torch.export.load reads through ``deserialize_torch_artifact`` (weights-only, then without)."""
    if rel in _LEGACY_PT2 or rel.startswith("data/sample_inputs/"):
        return True
    return rel.count("/") == 2 and rel.startswith(("data/weights/", "data/constants/")) and rel.endswith(".pt")


def torchscript_kind(path: Path) -> str:
    """``torchscript`` for a TorchScript archive, ``state_dict`` for a ``torch.save`` file of tensors, ``pickle``
    for another ``torch.save`` file, ``unknown`` otherwise (torch.jit.load then says why)."""
    try:
        with zipfile.ZipFile(path) as zf:
            rels = {_strip_root(n) for n in zf.namelist()}
            data = next((zf.read(n) for n in zf.namelist() if _strip_root(n) == "data.pkl"), None)
    except (zipfile.BadZipFile, OSError):  # a legacy (non-zip) torch.save file, or not torch's at all
        return (
            "state_dict" if path.stat().st_size < 2**31 and weights_only_probe(path.read_bytes()) is None else "unknown"
        )
    if "constants.pkl" in rels or any(r.startswith("code/") for r in rels):
        return "torchscript"
    if data is None:
        return "unknown"
    return "state_dict" if weights_only_probe(path.read_bytes()) is None else "pickle"


def check_file(path: str | Path, trust: bool = False) -> list[str]:
    """The gate every ``.pt2`` / TorchScript file passes before torch loads it.

    Args:
        path: the file (other suffixes pass through unchecked: ONNX and engines carry no pickle).
        trust: ``--trust-files``: report, but do not refuse.

    Returns:
        What was found (empty for a clean file); with ``trust`` the caller may say what it allowed.

    Raises:
        BadInput: an untrusted pickled payload, naming the first thing found; a state_dict or other ``torch.save``
            file given where a TorchScript model was expected.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        return []
    if path.name.lower().endswith(AOTI_SUFFIX):
        if not trust:
            raise BadInput(
                f"refusing '{path}': an AOTInductor package is compiled native code, and loading it runs that code; "
                f"pass --trust-files if it was compiled by you (edgekit export --format aoti on a machine you "
                f"trust), or re-export it here"
            )
        return ["an AOTInductor package (native code)"]
    if suffix == ".pt2":
        found = pt2_findings(path)
        if found and not trust:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise BadInput(
                f"refusing '{path}': {found[0]}{more}; this file can run code when loaded. Pass --trust-files "
                f"only if you trust where it came from, or re-export it with edgekit export --format pt2"
            )
        return found
    if suffix in (".ts", ".pt"):
        kind = torchscript_kind(path)
        if kind == "state_dict":
            raise BadInput(
                f"'{path}' is a state_dict, not a model: pass the architecture as MODEL (a recipe or "
                f"file.py:factory) and this file as --checkpoint"
            )
        if kind == "pickle":
            raise BadInput(
                f"'{path}' is a torch.save file, not a TorchScript model; expected a file written by torch.jit.save "
                f"(edgekit export --format torchscript); a checkpoint goes to --checkpoint beside its MODEL"
            )
    return []
