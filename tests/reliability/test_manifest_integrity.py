"""Bug class: the manifest as the truth. A listed artifact whose bytes changed, or that is gone, fails ``compare``
and ``bench`` (exit 1, one line naming it); successive and concurrent exports into one folder are all listed; a
verdict from the manifest never outweighs the agreement measured in this run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest
from files_support import cli, leftovers, popen, write_models
from onnx import numpy_helper

from edgekit.artifacts import manifest as mf


def perturb(path: Path) -> None:
    model = onnx.load(str(path))
    init = next(i for i in model.graph.initializer if len(i.dims) > 1)
    arr = numpy_helper.to_array(init).copy()
    arr.flat[:] += 0.5
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("manifest cases")
    models = write_models(root)
    out = root / "export [dir]"  # a '[' in the path: rich markup must not eat it
    done = cli("export", f"{models}:tiny", "-i", "x:2x4", "-f", "onnx,torchscript", "-o", out)
    assert done.rc == 0, done.stderr
    return {"root": root, "models": models, "out": out}


def _copy(exported: dict[str, Path], tmp_path: Path) -> Path:
    folder = tmp_path / "copy"
    shutil.copytree(exported["out"], folder)
    return folder


def _tamper(folder: Path) -> str:
    perturb(folder / "model.onnx")
    return "model.onnx changed since export"


def _delete(folder: Path) -> str:
    (folder / "model.ts").unlink()
    return "model.ts is listed in"


def _corrupt(folder: Path) -> str:
    (folder / "manifest.json").write_text('{"artifacts": [')
    return "cannot read"


# (case id, how the folder is damaged, command, exit code)
DAMAGED = [
    ("compare-tampered", _tamper, "compare", 1),
    ("bench-tampered", _tamper, "bench", 1),
    ("compare-deleted", _delete, "compare", 1),
    ("bench-deleted", _delete, "bench", 1),
    ("compare-corrupt-manifest", _corrupt, "compare", 2),
]


@pytest.mark.parametrize(("case", "damage", "command", "code"), DAMAGED, ids=[c[0] for c in DAMAGED])
def test_damaged_folder_fails_with_one_line(
    exported: dict[str, Path], tmp_path: Path, case: str, damage: object, command: str, code: int
) -> None:
    folder = _copy(exported, tmp_path)
    fragment = damage(folder)  # type: ignore[operator]
    model = f"{exported['models']}:tiny"
    extra = ["-i", "x:2x4"] if command == "compare" else ["--iters", "2", "--warmup", "0"]
    done = cli(command, model, folder, *extra, cwd=tmp_path)
    assert done.rc == code, done.stderr
    assert len(done.lines) == 1 and fragment in done.lines[0], done.stderr
    assert "--no-manifest" in done.lines[0] or "re-export" in done.lines[0]
    assert not leftovers(folder)


def test_no_manifest_checks_the_bare_file_against_eager(exported: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(exported, tmp_path)
    _tamper(folder)
    done = cli("compare", f"{exported['models']}:tiny", folder / "model.onnx", "--no-manifest", "-i", "x:2x4")
    assert done.rc == 1 and "mismatch" in done.stderr, done.stderr  # the perturbed weights are caught by value


def test_clean_folder_passes_with_brackets_in_its_path(exported: dict[str, Path]) -> None:
    done = cli("compare", f"{exported['models']}:tiny", exported["out"], "-i", "x:2x4")
    assert done.rc == 0, done.stderr
    assert "2 artifacts match eager" in done.stdout


def test_successive_exports_are_merged(exported: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "merged"
    model = f"{exported['models']}:tiny"
    assert cli("export", model, "-i", "x:2x4", "-f", "onnx", "-o", out).rc == 0
    assert cli("export", model, "-i", "x:2x4", "-f", "torchscript", "-o", out).rc == 0
    files = sorted(a["file"] for a in json.loads((out / "manifest.json").read_text())["artifacts"])
    assert files == ["model.onnx", "model.ts"]
    done = cli("compare", model, out, "-i", "x:2x4")
    assert done.rc == 0 and "2 artifacts match eager" in done.stdout, done.stderr


def test_concurrent_exports_are_merged(exported: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "concurrent"
    model = f"{exported['models']}:tiny"
    procs = [popen("export", model, "-i", "x:2x4", "-f", fmt, "-o", out) for fmt in ("onnx", "torchscript")]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    data = json.loads((out / "manifest.json").read_text())
    assert sorted(a["file"] for a in data["artifacts"]) == ["model.onnx", "model.ts"]
    for a in data["artifacts"]:
        assert mf.integrity(out / a["file"], a) is None
    assert not leftovers(out)


def test_companion_files_are_hashed_and_checked(tmp_path: Path) -> None:
    (tmp_path / "m.xml").write_text("<net/>")
    (tmp_path / "m.bin").write_bytes(b"\0" * 16)
    entry = {
        "format": "openvino",
        "details": {"companions": ["m.bin"]},
        **mf.file_entry(tmp_path / "m.xml", {"companions": ["m.bin"]}),
    }
    mf.merge(tmp_path, {"model": {"source": "test"}}, [entry])
    _, got = mf.entry_for(tmp_path / "m.xml")  # type: ignore[misc]
    assert mf.integrity(tmp_path / "m.xml", got) is None
    (tmp_path / "m.bin").write_bytes(b"\1" * 16)
    problem = mf.integrity(tmp_path / "m.xml", got)
    assert problem is not None and "m.bin changed since export" in problem


def test_auto_takes_the_measured_agreement_over_the_manifest_verdict() -> None:
    from edgekit.bench.run import picks
    from edgekit.bench.subjects import BenchRow
    from edgekit.bench.timing import LatencyStats

    def row(name: str, fmt: str, backend: str, ms: float, **kw: object) -> BenchRow:
        return BenchRow(
            name, None, fmt, backend, "fp32", 1, "ok", latency=LatencyStats.from_ns([int(ms * 1e6)] * 3), **kw
        )  # type: ignore[arg-type]

    eager = row("eager", "eager", "torch", 2.0)
    fast = row("model.onnx", "onnx", "onnxruntime", 0.5, verification="pass")
    fast.agreement = {"within_tolerance": False, "max_abs_diff": 6.4, "atol": 1e-4}
    chosen = picks([eager, fast])[0]
    assert chosen["name"] == "eager"
    why = next(c["why"] for c in chosen["candidates"] if c["row"] == fast.id)
    assert "measured in this run" in why and "not taken over it" in why
