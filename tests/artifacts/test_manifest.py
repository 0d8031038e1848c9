"""The manifest module: merge keeps other entries, replaces the same file's, stamps each entry with its model;
readers refuse an unreadable manifest with the fix; update_entries needs a manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.artifacts import manifest as mf
from edgekit.core.errors import BadInput


def _entry(folder: Path, name: str, data: bytes = b"x") -> dict[str, object]:
    (folder / name).write_bytes(data)
    return {"format": "onnx", "status": "pass", "details": {}, **mf.file_entry(folder / name)}


def test_merge_keeps_replaces_and_stamps(tmp_path: Path) -> None:
    mf.merge(tmp_path, {"model": {"source": "a"}, "inputs": [{"name": "x"}]}, [_entry(tmp_path, "a.onnx")])
    mf.merge(tmp_path, {"model": {"source": "b"}, "inputs": [{"name": "y"}]}, [_entry(tmp_path, "b.ts")])
    mf.merge(tmp_path, {"model": {"source": "b"}, "inputs": [{"name": "y"}]}, [_entry(tmp_path, "a.onnx", b"yy")])
    data = mf.read(tmp_path)
    assert data is not None and [a["file"] for a in data["artifacts"]] == ["b.ts", "a.onnx"]
    view, entry = mf.entry_for(tmp_path / "b.ts")  # type: ignore[misc]
    assert view["model"]["source"] == "b" and entry["bytes"] == 1
    assert mf.integrity(tmp_path / "a.onnx", mf.entry_for(tmp_path / "a.onnx")[1]) is None  # type: ignore[index]
    assert mf.listed(tmp_path) == [tmp_path / "b.ts", tmp_path / "a.onnx"]


def test_unreadable_manifest_is_refused_with_the_fix_and_replaced_on_merge(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("[1, 2")
    with pytest.raises(BadInput, match="--no-manifest"):
        mf.read(tmp_path)
    mf.merge(tmp_path, {}, [_entry(tmp_path, "a.onnx")])
    assert mf.listed(tmp_path) == [tmp_path / "a.onnx"]


def test_update_entries_needs_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="run edgekit export"):
        mf.update_entries(tmp_path, [_entry(tmp_path, "q.onnx")])
    mf.merge(tmp_path, {"model": {"source": "m"}}, [_entry(tmp_path, "a.onnx")])
    mf.update_entries(tmp_path, [_entry(tmp_path, "q.onnx")])
    assert [p.name for p in mf.listed(tmp_path) or []] == ["a.onnx", "q.onnx"]


def test_no_manifest_and_missing_entry(tmp_path: Path) -> None:
    assert mf.read(tmp_path) is None and mf.listed(tmp_path) is None and mf.entry_for(tmp_path / "a.onnx") is None
    mf.merge(tmp_path, {}, [_entry(tmp_path, "a.onnx")])
    assert mf.entry_for(tmp_path / "other.onnx") is None


def test_a_held_lock_is_waited_for_then_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from filelock import FileLock

    monkeypatch.setattr(mf, "LOCK_TIMEOUT_S", 0.2)
    holder = FileLock(str(tmp_path / ".manifest.json.lock"))
    with holder, pytest.raises(BadInput, match="another edgekit run has held"):
        mf.merge(tmp_path, {}, [_entry(tmp_path, "a.onnx")])
    assert mf.read(tmp_path) is None  # nothing was written while the lock was held elsewhere
    mf.merge(tmp_path, {}, [_entry(tmp_path, "a.onnx")])
    assert mf.listed(tmp_path) == [tmp_path / "a.onnx"]
