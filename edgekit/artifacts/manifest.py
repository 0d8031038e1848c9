"""``manifest.json``, the one record of an export folder: written, merged, read, discovered and checked here only.

Every export into a folder *merges* its entries into the folder's manifest under a file lock
(``.manifest.json.lock``, :mod:`filelock`), and the result is written atomically, so successive and concurrent
exports (``--format onnx`` then ``--format torchscript``) all stay listed. Each entry carries the model and input
specs it was exported from (a folder may hold exports of two models), the sha256 and size of its file and of every
companion file (``details["companions"]``), and its verification. Readers (compare, bench, intake, the pipeline's
INT8 entries) go through :func:`read`, :func:`entry_for`, :func:`listed` and :func:`integrity`; nobody else parses
the JSON. While the lock is held, edgekit's own stale ``.partial`` files in the folder (left by a killed run: their
writer's process is gone) are removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from edgekit.core.errors import BadInput
from edgekit.core.io import sha256, write_json

MANIFEST = "manifest.json"
SCHEMA = 1
LOCK_TIMEOUT_S = 120.0
_PARTIAL = re.compile(r"^\..+\.(?P<pid>\d+)\.[^.]+\.partial(\.[^/]*)?$")
_OLD_PARTIAL = re.compile(r"^\..+\.partial(\.[^/]*)?$")
OLD_PARTIAL_AGE_S = 3600.0
"""A ``.partial`` file without a writer's pid (edgekit before pids were recorded) is stale after this long."""


def manifest_path(directory: Path) -> Path:
    return Path(directory) / MANIFEST


def versions() -> dict[str, str]:
    """Versions of edgekit, Python and the libraries that produced or checked the artifacts."""
    import importlib.metadata as md

    import edgekit

    out = {"edgekit": edgekit.__version__, "python": platform.python_version()}
    for dist in ("torch", "onnx", "onnxruntime", "onnxruntime-gpu", "onnxscript", "torchao", "tensorrt"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return out


# -- reading ---------------------------------------------------------------------------------------------------


def read(directory: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when there is none.

    Raises:
        BadInput: a manifest that is not valid JSON or has no ``artifacts`` list (the fix: re-export, or
            ``--no-manifest`` to use the files bare).
    """
    path = manifest_path(directory)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("artifacts", []), list):
            raise ValueError("not an object with an artifacts list")
    except (ValueError, OSError) as exc:
        raise BadInput(
            f"cannot read {path}: {exc}; expected the manifest.json edgekit export writes; re-export into this "
            f"folder, or pass --no-manifest to use its files without it"
        ) from None
    return data


def entry_for(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(manifest, entry)`` for the artifact at ``path`` from the manifest beside it; None without a manifest or
    without an entry for this file. An entry's own ``model``/``inputs``/``outputs`` (when recorded) override the
    manifest's top-level ones in the returned manifest view."""
    data = read(Path(path).parent)
    if data is None:
        return None
    entry = next((a for a in data["artifacts"] if isinstance(a, dict) and a.get("file") == Path(path).name), None)
    if entry is None:
        return None
    view = dict(data)
    for key in ("model", "inputs", "outputs", "tolerances", "binding"):
        if key in entry:
            view[key] = entry[key]
    return view, entry


def listed(directory: Path) -> list[Path] | None:
    """The artifacts the folder's manifest lists (existing or not: a listed file that is gone is an integrity
    failure, not a file to skip), in manifest order; None without a manifest."""
    data = read(directory)
    if data is None:
        return None
    names = [str(a["file"]) for a in data["artifacts"] if isinstance(a, dict) and a.get("file")]
    return [Path(directory) / n for n in dict.fromkeys(names)]


def integrity(path: Path, entry: dict[str, Any]) -> str | None:
    """None when ``path`` and its companions exist with the sha256 the entry records; else one line saying which
    file is missing or changed."""
    for rel, want in _hashes(entry):
        f = Path(path).parent / rel
        if not f.exists():
            return f"{f} is listed in {manifest_path(f.parent)} but missing; re-export, or remove it from the folder"
        got = sha256(f) if f.is_file() else None
        if want and got != want:
            return (
                f"{f} changed since export: sha256 {str(got)[:12]}... but the manifest records {want[:12]}...; "
                f"re-export it, or pass --no-manifest to check the bare file"
            )
    return None


def _hashes(entry: dict[str, Any]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = [(str(entry["file"]), entry.get("sha256"))]
    hashed = entry.get("companion_sha256") or {}
    out += [(str(c), hashed.get(str(c))) for c in (entry.get("details") or {}).get("companions", []) or []]
    return out


# -- writing ---------------------------------------------------------------------------------------------------


def file_entry(path: Path, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """``file``, ``sha256``, ``bytes`` of an artifact, and ``companion_sha256`` for every companion file that
    ``details["companions"]`` lists (relative to the artifact's folder)."""
    path = Path(path)
    out: dict[str, Any] = {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size}
    companions = [str(c) for c in (details or {}).get("companions", []) or []]
    if companions:
        out["companion_sha256"] = {c: sha256(path.parent / c) for c in companions if (path.parent / c).is_file()}
    return out


def merge(directory: Path, header: dict[str, Any], entries: Sequence[dict[str, Any]]) -> Path:
    """Merge ``entries`` into ``directory``'s manifest under its lock, atomically: an entry replaces the one for
    the same file, every other entry stays; ``header`` (model, inputs, outputs, tolerances, binding) becomes the
    top level and is also stamped on each new entry. Stale ``.partial`` files of killed runs are removed.

    Raises:
        BadInput: the lock cannot be taken within :data:`LOCK_TIMEOUT_S` (another export holds it).
    """
    directory = Path(directory)
    with locked(directory):
        remove_stale_partials(directory)
        try:
            old = read(directory) or {}
        except BadInput:  # an unreadable manifest is replaced: its entries cannot be trusted anyway
            old = {}
        new_files = {e.get("file") for e in entries if e.get("file")}
        kept = [a for a in old.get("artifacts", []) if isinstance(a, dict) and a.get("file") not in new_files]
        stamped = [{**e, **{k: header[k] for k in ("model", "inputs", "outputs") if k in header}} for e in entries]
        data = {
            "schema": SCHEMA,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
            **header,
            "artifacts": kept + stamped,
        }
        write_json(manifest_path(directory), data)
    return manifest_path(directory)


def update_entries(directory: Path, new: Iterable[dict[str, Any]]) -> Path:
    """Add or replace entries in an existing manifest (the pipeline's INT8 files) under the lock, keeping its
    header.

    Raises:
        BadInput: the folder has no manifest.
    """
    directory = Path(directory)
    with locked(directory):
        data = read(directory)
        if data is None:
            raise BadInput(f"no {manifest_path(directory)} to add entries to; run edgekit export into it first")
        entries = list(new)
        files = {e.get("file") for e in entries}
        data["artifacts"] = [a for a in data["artifacts"] if a.get("file") not in files] + entries
        write_json(manifest_path(directory), data)
    return manifest_path(directory)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold ``directory``'s manifest lock (an exclusive :class:`filelock.FileLock` on ``.manifest.json.lock``).

    Raises:
        BadInput: another run has held it for :data:`LOCK_TIMEOUT_S`.
    """
    from filelock import FileLock, Timeout

    Path(directory).mkdir(parents=True, exist_ok=True)
    path = Path(directory) / f".{MANIFEST}.lock"
    lock = FileLock(str(path), timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise BadInput(
            f"another edgekit run has held {path} for {LOCK_TIMEOUT_S:.0f} s; wait for it, or export into another "
            f"folder"
        ) from None
    try:
        yield
    finally:
        lock.release()


def remove_stale_partials(directory: Path) -> list[Path]:
    """Remove edgekit's own ``.NAME.PID.XXXX.partial`` files whose writer process is gone (and pid-less ones older
    than :data:`OLD_PARTIAL_AGE_S`); returns what was removed. Files of a live writer are left alone."""
    removed = []
    for f in Path(directory).iterdir():
        m = _PARTIAL.match(f.name)
        if m:
            stale = not _alive(int(m.group("pid")))
        elif _OLD_PARTIAL.match(f.name):
            stale = time.time() - f.stat().st_mtime > OLD_PARTIAL_AGE_S
        else:
            continue
        if stale and f.is_file():
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True
