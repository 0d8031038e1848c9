"""The one runner interface every backend implements (after Polygraphy's runners).

A runner is activated (loads its model or engine), infers a dict of named numpy arrays into a dict of named numpy
arrays, and is deactivated. Backends fill in the ``*_impl`` methods; this base class checks the inputs, so a
backend module stays small. Heavy imports (torch, onnxruntime, tensorrt) happen inside the backend modules, which
the registry in :mod:`edgekit.backends` imports on first use.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from edgekit.core.errors import BadInput, EdgekitError

Arrays = dict[str, np.ndarray]
R = TypeVar("R", bound="Runner")


class Runner(abc.ABC):
    """Base class of all backends.

    Subclasses set ``backend`` (the registry name) and implement :meth:`activate_impl`, :meth:`infer_impl`,
    :meth:`input_names`, :meth:`output_names`; :meth:`timed_call` may be overridden to give the benchmark the
    leanest possible call (e.g. ``session.run`` with a prepared feed, CUDA-synchronized on GPU).
    """

    backend = "base"

    def __init__(self, device: str = "cpu", threads: int | None = None) -> None:
        self.device = device
        self.threads = threads
        self.active = False
        self.details: dict[str, Any] = {}
        """What actually ran (provider list, exporter, precision, fallbacks): shown in reports."""

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def activate(self: R) -> R:
        if not self.active:
            self.activate_impl()
            self.active = True
        return self

    def deactivate(self) -> None:
        if self.active:
            self.deactivate_impl()
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

    # -- to implement ------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def activate_impl(self) -> None: ...

    def deactivate_impl(self) -> None:
        """Release what activate_impl loaded; default: nothing to release."""

    @abc.abstractmethod
    def infer_impl(self, feed: Arrays) -> Arrays: ...

    @abc.abstractmethod
    def input_names(self) -> Sequence[str]: ...

    @abc.abstractmethod
    def output_names(self) -> Sequence[str]: ...
