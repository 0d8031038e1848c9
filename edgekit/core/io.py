"""Atomic file writing and hashing: a failed run leaves no half-written artifact behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

WRITTEN: list[Path] = []
"""Every file :func:`atomic_path` completed in this process, in order (the CLI's Ctrl-C line says which)."""


@contextlib.contextmanager
def temp_path(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path`` (same file system, so a rename is atomic); whatever is left
    there at exit is removed (its name, ``.NAME.PID.XXXX.partial.SUFFIX``, records the writer's pid so a later run
    can tell a killed run's leftover from a live one's: :func:`edgekit.artifacts.manifest.remove_stale_partials`).
    Move it onto ``path`` with ``os.replace`` to keep it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".partial" + path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; artifacts get the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on failure removed.

    For writers that want a file name rather than a file object (exporters, ``torch.save``).
    """
    with temp_path(path) as tmp:
        yield tmp
        os.replace(tmp, path)
        WRITTEN.append(Path(path))


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
