"""Engine cache: a built engine is reusable only on the same GPU architecture, with the same TensorRT version, for the
same ONNX bytes, precision and profile shapes (TRAPS.md). The key hashes exactly those; the engine and a sidecar
JSON recording them are written atomically, so a crash never leaves an engine without its description or a
half-written one that a later run would trust.

Layout: ``<cache_dir>/<key>.engine`` and ``<cache_dir>/<key>.engine.json``; the default cache dir is
``$EDGEKIT_CACHE/engines`` or ``~/.cache/edgekit/engines``. Any engine written elsewhere (``-o model.engine``) gets
the same sidecar beside it: ``model.engine.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgekit.backends.trt.profiles import ShapeRange, profile_to_json
from edgekit.core.io import atomic_path, write_json

SIDECAR_SUFFIX = ".json"
KEY_VERSION = 1  # bump when the key's fields change, so old entries stop matching


@dataclasses.dataclass(frozen=True)
class EngineKey:
    """What an engine depends on. ``extra`` holds build options that change the engine (DLA core, fp16 path)."""

    gpu_name: str
    compute_capability: str
    trt_version: str
    precision: str
    profiles: tuple[tuple[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]], ...]
    onnx_sha256: str
    extra: tuple[tuple[str, str], ...] = ()

    @classmethod
    def create(
        cls,
        *,
        gpu_name: str,
        compute_capability: str,
        trt_version: str,
        precision: str,
        profile: Mapping[str, ShapeRange],
        onnx_sha256: str,
        extra: Mapping[str, Any] | None = None,
    ) -> EngineKey:
        """Build a key; profile order and ``extra`` values are normalized so equal builds give equal keys."""
        prof = tuple(sorted((n, (tuple(r.min), tuple(r.opt), tuple(r.max))) for n, r in profile.items()))
        ext = tuple(sorted((k, str(v)) for k, v in (extra or {}).items() if v is not None))
        return cls(gpu_name, compute_capability, trt_version, precision, prof, onnx_sha256, ext)

    def fields(self) -> dict[str, Any]:
        """The key as JSON: what the sidecar records and :func:`lookup` compares."""
        return {
            "key_version": KEY_VERSION,
            "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability,
            "trt_version": self.trt_version,
            "precision": self.precision,
            "profiles": profile_to_json({n: ShapeRange(*r) for n, r in self.profiles}),
            "onnx_sha256": self.onnx_sha256,
            "extra": dict(self.extra),
        }

    @property
    def digest(self) -> str:
        """24 hex digits of SHA-256 over the canonical JSON of :meth:`fields`."""
        text = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def default_cache_dir() -> Path:
    """``$EDGEKIT_CACHE/engines``, else ``~/.cache/edgekit/engines``."""
    root = os.environ.get("EDGEKIT_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "edgekit") / "engines"


def sidecar_path(engine_path: Path) -> Path:
    """``model.engine`` -> ``model.engine.json``."""
    return engine_path.with_name(engine_path.name + SIDECAR_SUFFIX)


def cache_path(cache_dir: Path, key: EngineKey) -> Path:
    return cache_dir / f"{key.digest}.engine"


def write_engine(engine_path: Path, engine: bytes, sidecar: Mapping[str, Any]) -> None:
    """Write ``engine`` and its sidecar, each atomically; the sidecar goes second and is removed first, so a
    sidecar never describes an engine that is not completely there."""
    side = sidecar_path(engine_path)
    side.unlink(missing_ok=True)
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(engine)
    write_json(side, {**sidecar, "engine_bytes": len(engine), "engine_sha256": hashlib.sha256(engine).hexdigest()})


def read_sidecar(engine_path: Path) -> dict[str, Any] | None:
    """The sidecar of ``engine_path``, or None when missing or unreadable."""
    try:
        data = json.loads(sidecar_path(engine_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def lookup(cache_dir: Path, key: EngineKey) -> Path | None:
    """The cached engine for ``key``, or None. An entry counts only when its sidecar records exactly ``key``'s
    fields and the engine's size and hash match what the sidecar says (a truncated file is a miss)."""
    path = cache_path(cache_dir, key)
    side = read_sidecar(path)
    if side is None or side.get("key") != key.fields() or not path.is_file():
        return None
    data = path.read_bytes()
    if len(data) != side.get("engine_bytes") or hashlib.sha256(data).hexdigest() != side.get("engine_sha256"):
        return None
    return path


def store(cache_dir: Path, key: EngineKey, engine: bytes, sidecar: Mapping[str, Any]) -> Path:
    """Put ``engine`` in the cache under ``key``; returns its path."""
    path = cache_path(cache_dir, key)
    write_engine(path, engine, {**sidecar, "key": key.fields()})
    return path


def copy_engine(src: Path, dest: Path, sidecar: Mapping[str, Any]) -> None:
    """Copy a cached engine to ``dest`` with a sidecar (both atomic)."""
    side = sidecar_path(dest)
    side.unlink(missing_ok=True)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    data = dest.read_bytes()
    write_json(side, {**sidecar, "engine_bytes": len(data), "engine_sha256": hashlib.sha256(data).hexdigest()})
