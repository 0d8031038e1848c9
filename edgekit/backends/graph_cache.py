"""The bookkeeping of :mod:`edgekit.backends.cuda_graph`, free of CUDA so that it is unit-tested on any machine:
input-shape keys and an LRU cache of captured graphs sharing one memory pool."""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from edgekit.core.errors import BadInput

ShapeKey = tuple[tuple[str, tuple[int, ...], str], ...]
"""One entry per input, in input order: (name, shape, dtype name)."""


def dtype_name(dtype: Any) -> str:
    """``float32`` for ``torch.float32`` and ``np.dtype('float32')`` alike."""
    return str(dtype).removeprefix("torch.")


def shape_key(names: Sequence[str], feed: Mapping[str, Any]) -> ShapeKey:
    """The cache key of ``feed`` (numpy arrays or tensors): names, shapes and dtypes in input order."""
    return tuple((n, tuple(int(d) for d in feed[n].shape), dtype_name(feed[n].dtype)) for n in names)


def describe_key(key: ShapeKey) -> str:
    """``x:1x3x32x32:float32`` for reports."""
    return ",".join(f"{n}:{'x'.join(map(str, s)) or 'scalar'}:{d}" for n, s, d in key)


class CaptureRefused(Exception):
    """A forward cannot be captured at one shape key; ``reason`` says why (shown in ``details["fallback"]``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


G = TypeVar("G")


class GraphCache(Generic[G]):
    """Captured graphs by shape key, least recently used evicted beyond ``max_size``; refusals remembered so a
    shape is never re-captured after it failed; one memory pool, created on first capture, shared by all graphs.

    GPU-free: the capture function is passed to :meth:`get`, so tests inject a fake one.

    Args:
        max_size: graphs kept (each holds its static buffers and its share of the pool).
        pool_factory: returns the shared pool token (``torch.cuda.graph_pool_handle``); called at most once.
        release: called on an evicted graph (default: drop it).
    """

    def __init__(
        self,
        max_size: int = 8,
        pool_factory: Callable[[], Any] | None = None,
        release: Callable[[G], None] | None = None,
    ) -> None:
        if max_size < 1:
            raise BadInput(f"the CUDA-graph cache must hold at least 1 graph, got max_graphs={max_size}")
        self.max_size = max_size
        self._pool_factory = pool_factory
        self._release = release
        self._pool: Any = None
        self._pool_made = False
        self._graphs: collections.OrderedDict[ShapeKey, G] = collections.OrderedDict()
        self.refused: dict[ShapeKey, str] = {}
        self.hits = self.misses = self.captures = self.evictions = 0

    @property
    def pool(self) -> Any:
        """The shared pool token (created on first use)."""
        if not self._pool_made:
            self._pool = self._pool_factory() if self._pool_factory else None
            self._pool_made = True
        return self._pool

    def get(self, key: ShapeKey, capture: Callable[[Any], G]) -> G | None:
        """The graph for ``key``, capturing it with ``capture(pool)`` on a miss; None when ``key`` cannot be
        captured (``capture`` raised :class:`CaptureRefused`, now or earlier: see :attr:`refused`)."""
        if key in self._graphs:
            self.hits += 1
            self._graphs.move_to_end(key)
            return self._graphs[key]
        if key in self.refused:
            self.hits += 1
            return None
        self.misses += 1
        try:
            graph = capture(self.pool)
        except CaptureRefused as exc:
            self.refused[key] = exc.reason
            return None
        self.captures += 1
        self._graphs[key] = graph
        while len(self._graphs) > self.max_size:
            _, old = self._graphs.popitem(last=False)
            self.evictions += 1
            if self._release is not None:
                self._release(old)
        return graph

    def keys(self) -> list[ShapeKey]:
        """Cached keys, least recently used first."""
        return list(self._graphs)

    def __len__(self) -> int:
        return len(self._graphs)

    def __contains__(self, key: object) -> bool:
        return key in self._graphs

    def clear(self) -> None:
        for graph in self._graphs.values():
            if self._release is not None:
                self._release(graph)
        self._graphs.clear()

    def stats(self) -> dict[str, int]:
        return {
            "graphs": len(self._graphs),
            "max_graphs": self.max_size,
            "captures": self.captures,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "refused": len(self.refused),
        }
