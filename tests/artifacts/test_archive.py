"""The archive gate on crafted zips: what torch.export.load would run is found and named; clean entries pass."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from edgekit.artifacts.archive import check_file, pt2_findings, refused_global, torchscript_kind
from edgekit.core.errors import BadInput


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(f"m/{name}", data)
    return path


def _saved(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _config(**entries: dict[str, object]) -> bytes:
    return json.dumps({"config": entries}).encode()


def test_opaque_constant_with_a_global_is_found(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "o.pt2",
        {
            "data/constants/model_constants_config.json": _config(c={"path_name": "opaque_obj_0", "use_pickle": True}),
            "data/constants/opaque_obj_0": pickle.dumps(_Payload()),
        },
    )
    found = pt2_findings(path)
    assert len(found) == 1 and "constant 'c'" in found[0] and "pickle.loads" in found[0]


def test_plain_opaque_constant_and_torchbind_objects_pass(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "p.pt2",
        {
            "data/constants/model_constants_config.json": _config(
                c={"path_name": "opaque_obj_0", "use_pickle": True}, t={"path_name": "custom_obj_0", "use_pickle": True}
            ),
            "data/constants/opaque_obj_0": pickle.dumps({"k": [1, 2.0, "s"]}),
            "data/constants/custom_obj_0": b"ignored: read by torch's C++ unpickler",
        },
    )
    assert pt2_findings(path) == []


def test_tensor_pickle_that_weights_only_accepts_passes(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "t.pt2",
        {
            "data/weights/model_weights_config.json": _config(w={"path_name": "weight_0", "use_pickle": True}),
            "data/weights/weight_0": _saved(torch.ones(3)),
        },
    )
    assert pt2_findings(path) == []


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("data/aotinductor/model/model.so", "AOTInductor package"),
        ("data/weights/model.pt", "posix.system"),
        ("serialized_example_inputs.pt", "posix.system"),
    ],
)
def test_libraries_and_legacy_pickles_are_found(tmp_path: Path, entry: str, fragment: str) -> None:
    path = _zip(tmp_path / "l.pt2", {entry: _saved(_Payload()) if entry.endswith(".pt") else b"\x7fELF"})
    found = pt2_findings(path)
    assert len(found) == 1 and fragment in found[0], found
    with pytest.raises(BadInput, match="--trust-files"):
        check_file(path)


def test_missing_pickled_entry_is_reported(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "m.pt2",
        {"data/weights/model_weights_config.json": _config(w={"path_name": "weight_9", "use_pickle": True})},
    )
    assert "that the archive lacks" in pt2_findings(path)[0]


def test_refused_global_from_torch_message() -> None:
    msg = "Weights only load failed...\n\nTrying to load unsupported GLOBAL posix.system whose module posix is blocked."
    assert refused_global(Exception(msg)) == "posix.system"
    assert refused_global(Exception("something else")) is None


def test_torchscript_kinds(tmp_path: Path) -> None:
    ts = tmp_path / "m.ts"
    torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.ones(1, 2)), str(ts))
    sd = tmp_path / "sd.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), sd)
    other = tmp_path / "obj.pt"
    torch.save({"net": _Payload()}, other)
    assert [torchscript_kind(p) for p in (ts, sd, other)] == ["torchscript", "state_dict", "pickle"]
    assert check_file(ts) == []
    with pytest.raises(BadInput, match="not a TorchScript model"):
        check_file(other)
    assert check_file(tmp_path / "model.onnx") == []  # other formats carry no pickle; missing files pass through


def test_a_root_folder_named_data_hides_nothing(tmp_path: Path) -> None:
    """torch drops the first component of every entry, whatever its name: ``data/data/weights/...`` is read as
    ``data/weights/...``."""
    path = tmp_path / "rooted.pt2"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "data/data/weights/model_weights_config.json", _config(w={"path_name": "weight_0", "use_pickle": True})
        )
        zf.writestr("data/data/weights/weight_0", _saved(_Payload()))
    found = pt2_findings(path)
    assert len(found) == 1 and "weight 'w'" in found[0] and "posix.system" in found[0]
