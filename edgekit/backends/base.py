"""The one runner interface every backend implements (after Polygraphy's runners), and the one constructor.

A runner is given a *loader* -- a zero-argument callable returning the loaded object (an ONNX Runtime session, a
torch module, a TensorRT engine) -- and never loads, builds or creates another runner itself:

    runner = OnnxRuntimeRunner(SessionFromOnnx("m.onnx", threads=2), device="cpu", threads=2)
    with runner:                     # activate(): runner.loaded = loader(); activate_impl()
        out = runner.infer({"x": x})

Backends fill in the ``*_impl`` methods; this base class checks the inputs, so a backend module stays small. Heavy
imports (torch, onnxruntime, tensorrt) happen inside the backend modules, which the registry imports on first use.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from edgekit.core.errors import BadInput, EdgekitError

Arrays = dict[str, np.ndarray]
Loader = Callable[[], Any]
"""A callable that loads (and, for TensorRT, may build) the object a runner runs, on each call."""
R = TypeVar("R", bound="Runner")


class Runner(abc.ABC):
    """Base class of all backends.

    Args:
        loader: returns the loaded object; called by :meth:`activate`. A loader may carry ``details`` (a dict merged
            into the runner's after loading) and ``inputs`` / ``outputs`` (names it knows, used when the caller
            gives none).
        device: ``cpu`` or ``cuda``.
        threads: CPU threads the runtime may use (None: its default).
        inputs, outputs: the model's input and output names, where the loaded object does not know them.

    Subclasses set ``backend`` (the registry name) and implement :meth:`infer_impl` (and :meth:`activate_impl`
    for what they derive from the loaded object); :meth:`timed_call` may be overridden to give the benchmark the
    leanest possible call (e.g. ``session.run`` with a prepared feed, CUDA-synchronized on GPU).
    """

    backend = "base"

    def __init__(
        self,
        loader: Loader,
        *,
        device: str = "cpu",
        threads: int | None = None,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
    ) -> None:
        self.loader = loader
        self.device = device
        self.threads = threads
        names_in = inputs if inputs is not None else getattr(loader, "inputs", None)
        names_out = outputs if outputs is not None else getattr(loader, "outputs", None)
        self.inputs: list[str] | None = list(names_in) if names_in is not None else None
        self.outputs: list[str] | None = list(names_out) if names_out is not None else None
        self.loaded: Any = None
        self.active = False
        self.details: dict[str, Any] = {}
        """What actually ran (provider list, exporter, precision, fallbacks): shown in reports."""

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def activate(self: R) -> R:
        """Refuse early (:meth:`preflight`), load (``loader()``), then :meth:`activate_impl`.

        Raises:
            BackendUnavailable: the backend cannot run here (exit 3).
            BadInput: the artifact does not load.
        """
        if not self.active:
            self.preflight()
            self.loaded = self.loader()
            self.details.update(getattr(self.loader, "details", None) or {})
            self.activate_impl()
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self.deactivate_impl()
            self.loaded = None
            self.active = False

    def __enter__(self: R) -> R:
        return self.activate()

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    # -- inference ---------------------------------------------------------------------------------------------
    def infer(self, feed: Arrays) -> Arrays:
        """Run once on named numpy inputs; returns named numpy outputs.

        Raises:
            BadInput: a missing or unexpected input name.
            EdgekitError: the runner is not active.
        """
        if not self.active:
            raise EdgekitError(f"{self.backend} runner used before activate(); use it as a context manager")
        expected = list(self.input_names())
        missing = [n for n in expected if n not in feed]
        extra = [n for n in feed if n not in expected]
        if missing or extra:
            raise BadInput(
                f"{self.backend}: inputs do not match the model: expected {expected}, got "
                f"{list(feed)} (missing {missing}, unexpected {extra})"
            )
        return self.infer_impl(feed)

    def timed_call(self, feed: Arrays) -> Callable[[], Any]:
        """A zero-argument callable running one inference on ``feed`` with as little harness work as the backend
        allows; the benchmark times calls of it, inside :meth:`timing_context`. It must block until the result is
        ready (synchronize on GPU)."""
        self.infer(feed)
        return lambda: self.infer_impl(feed)

    def timing_context(self) -> contextlib.AbstractContextManager[Any]:
        """Entered around each block of timed calls (not each call): state the backend wants while it is timed,
        such as PyTorch's inference mode, whose per-call entry would otherwise cost the row a few microseconds."""
        return contextlib.nullcontext()

    def input_names(self) -> Sequence[str]:
        """The model's input names: from the loaded object where it knows them (override), else ``inputs``.

        Raises:
            BadInput: no names known.
        """
        if self.inputs is None:
            raise BadInput(
                f"{self.backend}: input names are unknown; pass the model's input specs (a manifest.json beside "
                f"the artifact, a recipe, or --input)"
            )
        return self.inputs

    def output_names(self) -> Sequence[str]:
        """The model's output names (empty when unknown: outputs are then called ``output_0`` ...)."""
        return self.outputs or []

    # -- to implement ------------------------------------------------------------------------------------------
    def preflight(self) -> None:
        """Called before loading: raise BackendUnavailable when the device or library cannot work, without
        touching the artifact. Default: nothing to check."""

    def activate_impl(self) -> None:
        """Derive what inference needs from :attr:`loaded`; default: nothing."""

    def deactivate_impl(self) -> None:
        """Release what activate_impl derived; default: nothing to release."""

    @abc.abstractmethod
    def infer_impl(self, feed: Arrays) -> Arrays: ...
