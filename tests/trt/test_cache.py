"""Engine cache keys and the atomic engine + sidecar writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from edgekit.backends.trt import cache
from edgekit.backends.trt.profiles import ShapeRange

PROFILE = {"x": ShapeRange((1, 3), (2, 3), (8, 3)), "ids": ShapeRange((1, 4), (1, 4), (4, 16))}
BASE: dict[str, Any] = dict(
    gpu_name="Orin",
    compute_capability="8.7",
    trt_version="10.3.0",
    precision="fp16",
    profile=PROFILE,
    onnx_sha256="ab" * 32,
    extra={"dla_core": None, "plan": "builder-flags"},
)


def key(**changes: Any) -> cache.EngineKey:
    return cache.EngineKey.create(**{**BASE, **changes})


def test_key_is_stable_under_ordering() -> None:
    reordered = {"ids": PROFILE["ids"], "x": PROFILE["x"]}
    assert key().digest == key(profile=reordered, extra={"plan": "builder-flags"}).digest
    assert len(key().digest) == 24


@pytest.mark.parametrize(
    "change",
    [
        {"gpu_name": "RTX 4090"},
        {"compute_capability": "8.9"},
        {"trt_version": "10.3.1"},
        {"precision": "int8"},
        {"onnx_sha256": "cd" * 32},
        {"extra": {"dla_core": 0, "plan": "builder-flags"}},
        {"profile": {**PROFILE, "x": ShapeRange((1, 3), (4, 3), (8, 3))}},
    ],
)
def test_every_field_changes_the_key(change: dict[str, Any]) -> None:
    assert key(**change).digest != key().digest


def test_fields_record_everything_the_issue_names() -> None:
    f = key().fields()
    assert {"gpu_name", "compute_capability", "trt_version", "precision", "profiles", "onnx_sha256"} <= set(f)
    assert f["profiles"]["x"] == {"min": [1, 3], "opt": [2, 3], "max": [8, 3]}


def test_write_engine_writes_engine_and_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "sub dir" / "model.engine"
    cache.write_engine(path, b"ENGINE", {"precision": "fp16"})
    side = json.loads((tmp_path / "sub dir" / "model.engine.json").read_text())
    assert path.read_bytes() == b"ENGINE"
    assert side == {"precision": "fp16", "engine_bytes": 6, "engine_sha256": hashlib.sha256(b"ENGINE").hexdigest()}
    assert cache.read_sidecar(path) == side
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.engine", "model.engine.json"]


def test_failed_write_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.engine"
    cache.write_engine(path, b"OLD", {"v": 1})

    def broken(self: Path, data: bytes) -> int:
        self.write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", broken)
    with pytest.raises(OSError):
        cache.write_engine(path, b"NEW ENGINE", {"v": 2})
    monkeypatch.undo()
    # the old engine is intact, no temp file is left, and no sidecar describes an engine that is not there
    assert path.read_bytes() == b"OLD"
    assert not cache.sidecar_path(path).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model.engine"]


def test_store_and_lookup(tmp_path: Path) -> None:
    k = key()
    assert cache.lookup(tmp_path, k) is None
    entry = cache.store(tmp_path, k, b"ENGINE BYTES", {"note": "x"})
    assert entry == tmp_path / f"{k.digest}.engine"
    assert cache.lookup(tmp_path, k) == entry
    assert cache.lookup(tmp_path, key(precision="fp32")) is None


def test_lookup_rejects_damaged_entries(tmp_path: Path) -> None:
    k = key()
    entry = cache.store(tmp_path, k, b"ENGINE BYTES", {})
    entry.write_bytes(b"ENGINE")  # truncated
    assert cache.lookup(tmp_path, k) is None
    cache.store(tmp_path, k, b"ENGINE BYTES", {})
    cache.sidecar_path(entry).write_text("{not json")
    assert cache.lookup(tmp_path, k) is None
    cache.store(tmp_path, k, b"ENGINE BYTES", {})
    side = json.loads(cache.sidecar_path(entry).read_text())
    side["key"]["trt_version"] = "9.0"
    cache.sidecar_path(entry).write_text(json.dumps(side))
    assert cache.lookup(tmp_path, k) is None


def test_copy_engine_and_default_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = cache.store(tmp_path / "c", key(), b"E" * 100, {})
    out = tmp_path / "out" / "m.engine"
    out.parent.mkdir()
    cache.copy_engine(entry, out, {"cache": {"hit": True}})
    assert out.read_bytes() == b"E" * 100 and cache.read_sidecar(out)["engine_bytes"] == 100  # type: ignore[index]
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "root"))
    assert cache.default_cache_dir() == tmp_path / "root" / "engines"
    monkeypatch.delenv("EDGEKIT_CACHE")
    assert cache.default_cache_dir() == Path.home() / ".cache" / "edgekit" / "engines"
