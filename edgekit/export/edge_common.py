"""What the edge exporters (OpenVINO, ExecuTorch, NCNN) share: an atomic write of a main file plus companion
files, and the one-line "unsupported operator, used by module M" message built from an ExportedProgram."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

_OP = re.compile(r"(aten(?:::|\.)[A-Za-z_0-9]+)")


@contextlib.contextmanager
def atomic_files(path: Path, companions: Sequence[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; the writer puts ``path.name`` and each companion (names
    relative to ``path.parent``) there. On success the companions are moved into place first and the main file
    last (a reader that finds the main file finds its companions); on failure nothing is left behind.

    Raises:
        FileNotFoundError: the writer did not produce one of the files.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        for name in [*companions, path.name]:
            if not (tmp / name).is_file():
                raise FileNotFoundError(f"the exporter wrote no '{name}' (wrote {sorted(os.listdir(tmp))})")
        for name in companions:
            os.replace(tmp / name, path.parent / name)
        os.replace(tmp / path.name, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def op_in_message(text: str) -> str | None:
    """The first ``aten::op`` / ``aten.op`` named in a converter's error message, as ``aten.op``."""
    found = _OP.search(text)
    return found.group(1).replace("::", ".") if found else None


def module_using(program: Any, op: str) -> str | None:
    """``path (Class)`` of the innermost module whose forward calls ``op`` (``aten.lstm``) in ``program`` (an
    ExportedProgram), from the ``nn_module_stack`` torch.export records; None when no node calls it."""
    name = op.split(".", 1)[-1]
    for node in program.graph.nodes:
        if node.op != "call_function" or not str(node.target).startswith(f"aten.{name}"):
            continue
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return "the top-level forward"
        path, cls = list(stack.values())[-1]
        cls_name = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
        return f"'{path or 'forward'}' ({cls_name.rsplit('.', 1)[-1]})"
    return None


def unsupported_line(target: str, program: Any, message: str) -> str | None:
    """``"<target> has no kernel for aten.x, used by module 'm.lstm' (LSTM)"`` when ``message`` names an aten op
    that ``program`` calls; else None (the caller reports the converter's own first line)."""
    op = op_in_message(message)
    if op is None:
        return None
    where = module_using(program, op)
    return f"{target} does not support {op}" + (f", used by module {where}" if where else "")
