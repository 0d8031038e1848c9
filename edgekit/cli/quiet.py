"""Keep library chatter (torch's loggers, warnings raised while files load, onnxscript's notices) off the CLI's
output, so that every command prints its own lines and nothing else; ``--verbose`` lets it all through.

torch configures its loggers when it is imported, undoing any level set before (TRAPS.md): levels are therefore
set once edgekit is running a command (torch already imported) and again right after ``import torch`` completes,
through a one-shot import hook. Everything is restored when the command ends (tests run many commands in one
process).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

QUIET_LOGGERS = (
    "torch",
    "torch._dynamo",
    "torch.export",
    "torch.fx.experimental.symbolic_shapes",
    "torch.onnx",
    "torch.utils._pytree",
    "torchao",
    "onnxscript",
    "onnx_ir",
)
"""Loggers silenced during a command (their children follow unless they set their own level)."""

OFF = logging.CRITICAL + 1


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``callback`` right after one of ``names`` has been imported (its module body has run)."""

    def __init__(self, names: Sequence[str], callback: Callable[[str], None]) -> None:
        self.names = set(names)
        self.callback = callback
        self._busy = False

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names or self._busy:
            return None
        self._busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy = False
        loader: Any = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return None
        run, callback = loader.exec_module, self.callback

        def exec_module(module: ModuleType) -> None:
            run(module)
            callback(fullname)

        loader.exec_module = exec_module
        return spec


def _silence(saved: dict[str, tuple[int, bool]], imported: str = "") -> None:
    """Turn :data:`QUIET_LOGGERS` off, remembering their levels; those of the package just ``imported`` are
    remembered as its import left them (torch's own defaults), not as they were before."""
    for name in QUIET_LOGGERS:
        log = logging.getLogger(name)
        if imported and (name == imported or name.startswith(imported + ".")):
            saved[name] = (log.level, log.disabled)
        saved.setdefault(name, (log.level, log.disabled))
        log.setLevel(OFF)


@contextlib.contextmanager
def quiet_libraries(enabled: bool = True) -> Iterator[None]:
    """Inside the block: no warnings, no records from :data:`QUIET_LOGGERS`, and no records of any unconfigured
    logger (Python's last-resort handler); restored afterwards. ``enabled=False`` (``--verbose``) changes nothing."""
    if not enabled:
        yield
        return
    saved: dict[str, tuple[int, bool]] = {}
    hook = _AfterImport(("torch", "torchao", "onnxscript"), lambda name: _silence(saved, name))
    last_resort = logging.lastResort
    sys.meta_path.insert(0, hook)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _silence(saved)
            logging.lastResort = logging.NullHandler()
            yield
    finally:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
        logging.lastResort = last_resort
        for name, (level, disabled) in saved.items():
            log = logging.getLogger(name)
            log.setLevel(level)
            log.disabled = disabled
